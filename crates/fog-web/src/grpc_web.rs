//! grpc-web framing (unary calls, binary `application/grpc-web+proto`), with no I/O.
//!
//! A request body is one data frame: a flag byte `0x00`, the message length as a big-endian
//! `u32`, the message. An answer body is data frames followed by one trailers frame (flag
//! `0x80`) whose payload is HTTP/1-style header lines (`grpc-status:0\r\n`,
//! `grpc-message:…`). A call that fails before any message (a trailers-only answer) may
//! carry `grpc-status` in the HTTP headers instead, with an empty body. A unary call succeeds
//! with exactly one data frame and status 0.

use core::fmt;

/// The request content type.
pub const CONTENT_TYPE: &str = "application/grpc-web+proto";

/// The flag of a data frame.
const DATA: u8 = 0x00;
/// The flag bit of the trailers frame.
const TRAILERS: u8 = 0x80;
/// The flag bit of a compressed frame (never asked for, so refused).
const COMPRESSED: u8 = 0x01;

/// A gRPC status: its code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The numeric code (`0` OK, `14` UNAVAILABLE, `16` UNAUTHENTICATED, …).
    pub code: u32,
    /// The message, percent-decoded.
    pub message: String,
}

/// `UNAVAILABLE`.
pub const UNAVAILABLE: u32 = 14;
/// `UNAUTHENTICATED`.
pub const UNAUTHENTICATED: u32 = 16;
/// `DEADLINE_EXCEEDED`.
pub const DEADLINE_EXCEEDED: u32 = 4;
/// `CANCELLED`.
pub const CANCELLED: u32 = 1;

impl Status {
    /// The code's name as tonic writes it (`Unavailable`, `InvalidArgument`, …).
    pub fn code_name(&self) -> String {
        const NAMES: [&str; 17] = [
            "Ok",
            "Cancelled",
            "Unknown",
            "InvalidArgument",
            "DeadlineExceeded",
            "NotFound",
            "AlreadyExists",
            "PermissionDenied",
            "ResourceExhausted",
            "FailedPrecondition",
            "Aborted",
            "OutOfRange",
            "Unimplemented",
            "Internal",
            "Unavailable",
            "DataLoss",
            "Unauthenticated",
        ];
        NAMES
            .get(self.code as usize)
            .map_or_else(|| format!("code {}", self.code), |n| (*n).to_owned())
    }

    /// Whether the service could not be reached or gave up (retrying later may help).
    pub fn is_unavailable(&self) -> bool {
        matches!(self.code, UNAVAILABLE | DEADLINE_EXCEEDED | CANCELLED)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code_name(), self.message)
    }
}

/// Why an answer is not a successful unary answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The service answered with a non-OK status.
    Status(Status),
    /// The body is not well-formed grpc-web.
    Malformed(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(s) => write!(f, "{s}"),
            Self::Malformed(w) => write!(f, "malformed grpc-web answer: {w}"),
        }
    }
}

/// The body of a unary request carrying `message` (its protobuf encoding).
pub fn encode_request(message: &[u8]) -> Result<Vec<u8>, CallError> {
    let len = u32::try_from(message.len())
        .map_err(|_| CallError::Malformed("the request is over 4 GiB".into()))?;
    let mut body = Vec::with_capacity(5 + message.len());
    body.push(DATA);
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(message);
    Ok(body)
}

/// Percent-decodes a `grpc-message` value (invalid escapes are kept as they are).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = core::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status in header lines (a trailers frame's payload), if they hold `grpc-status`.
pub fn status_from_lines(text: &str) -> Result<Option<Status>, CallError> {
    let mut code = None;
    let mut message = String::new();
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(CallError::Malformed(format!(
                "trailer line without a colon: {line:?}"
            )));
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "grpc-status" => {
                code = Some(value.trim().parse::<u32>().map_err(|_| {
                    CallError::Malformed(format!("grpc-status {:?} is not a number", value.trim()))
                })?);
            }
            "grpc-message" => message = percent_decode(value.trim()),
            _ => {}
        }
    }
    Ok(code.map(|code| Status { code, message }))
}

/// The message of a unary answer: `header_status` is the `grpc-status`/`grpc-message` pair
/// of the HTTP headers, if present (a trailers-only answer); `body` the answer's body.
pub fn decode_response(header_status: Option<Status>, body: &[u8]) -> Result<Vec<u8>, CallError> {
    let mut message: Option<Vec<u8>> = None;
    let mut trailer_status: Option<Status> = None;
    let mut rest = body;
    while !rest.is_empty() {
        if rest.len() < 5 {
            return Err(CallError::Malformed(format!(
                "{} trailing bytes, not a frame header",
                rest.len()
            )));
        }
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let payload = rest
            .get(5..5 + len)
            .ok_or_else(|| CallError::Malformed(format!("a frame of {len} bytes is cut short")))?;
        rest = &rest[5 + len..];
        if trailer_status.is_some() {
            return Err(CallError::Malformed("a frame after the trailers".into()));
        }
        if flag & TRAILERS != 0 {
            let text = core::str::from_utf8(payload)
                .map_err(|_| CallError::Malformed("trailers are not text".into()))?;
            trailer_status = Some(
                status_from_lines(text)?
                    .ok_or_else(|| CallError::Malformed("trailers without grpc-status".into()))?,
            );
        } else if flag & COMPRESSED != 0 {
            return Err(CallError::Malformed(
                "a compressed frame (none was asked for)".into(),
            ));
        } else if flag != DATA {
            return Err(CallError::Malformed(format!(
                "unknown frame flag {flag:#04x}"
            )));
        } else if message.is_some() {
            return Err(CallError::Malformed(
                "two messages in a unary answer".into(),
            ));
        } else {
            message = Some(payload.to_vec());
        }
    }
    let status = match (trailer_status, header_status) {
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => {
            return Err(CallError::Malformed(
                "no grpc-status in the trailers or the headers".into(),
            ))
        }
    };
    if status.code != 0 {
        return Err(CallError::Status(status));
    }
    message.ok_or_else(|| CallError::Malformed("status OK without a message".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![flag];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn a_request_is_one_data_frame() {
        let body = encode_request(b"abc").unwrap();
        assert_eq!(body, [0, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(encode_request(b"").unwrap(), [0, 0, 0, 0, 0]);
    }

    #[test]
    fn an_ok_answer_gives_its_message() {
        let mut body = frame(0x00, b"hello");
        body.extend(frame(0x80, b"grpc-status:0\r\ngrpc-message:\r\n"));
        assert_eq!(decode_response(None, &body).unwrap(), b"hello");
        // An empty message is a message.
        let mut body = frame(0x00, b"");
        body.extend(frame(0x80, b"grpc-status: 0\r\n"));
        assert_eq!(decode_response(None, &body).unwrap(), b"");
    }

    #[test]
    fn statuses_come_from_trailers_or_headers() {
        let body = frame(
            0x80,
            b"grpc-status:16\r\ngrpc-message:unknown%20session\r\n",
        );
        let err = decode_response(None, &body).unwrap_err();
        assert_eq!(
            err,
            CallError::Status(Status {
                code: UNAUTHENTICATED,
                message: "unknown session".into()
            })
        );
        // Trailers-only: the status is in the headers and the body is empty.
        let header = Status {
            code: 3,
            message: "bad".into(),
        };
        match decode_response(Some(header), &[]) {
            Err(CallError::Status(s)) => {
                assert_eq!(s.code_name(), "InvalidArgument");
                assert_eq!(s.message, "bad");
                assert!(!s.is_unavailable());
            }
            other => panic!("{other:?}"),
        }
        let ok = Status {
            code: 0,
            message: String::new(),
        };
        assert!(matches!(
            decode_response(Some(ok), &[]),
            Err(CallError::Malformed(_))
        ));
    }

    #[test]
    fn malformed_answers_are_refused() {
        let ok_trailers = frame(0x80, b"grpc-status:0\r\n");
        let cases: Vec<Vec<u8>> = vec![
            vec![],                                                         // no status at all
            vec![0, 0, 0],                                                  // a cut header
            [&[0u8, 0, 0, 0, 9, 1, 2][..]].concat(),                        // a cut frame
            [frame(0, b"a"), frame(0, b"b"), ok_trailers.clone()].concat(), // two messages
            [frame(1, b"a"), ok_trailers.clone()].concat(),                 // compressed
            [frame(0x40, b"a"), ok_trailers.clone()].concat(),              // unknown flag
            [frame(0, b"a"), ok_trailers.clone(), frame(0, b"b")].concat(), // after trailers
            [frame(0, b"a"), frame(0x80, b"grpc-message:x\r\n")].concat(),  // no status
            [frame(0, b"a"), frame(0x80, b"grpc-status:x\r\n")].concat(),   // not a number
            [frame(0, b"a"), frame(0x80, b"nonsense\r\n")].concat(),        // no colon
            ok_trailers,                                                    // OK without a message
        ];
        for (i, body) in cases.iter().enumerate() {
            assert!(
                matches!(decode_response(None, body), Err(CallError::Malformed(_))),
                "case {i}"
            );
        }
    }

    #[test]
    fn messages_are_percent_decoded() {
        assert_eq!(percent_decode("a%20b%25c"), "a b%c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%e2%9c%93"), "\u{2713}");
    }

    #[test]
    fn codes_have_names() {
        let s = |code| Status {
            code,
            message: String::new(),
        };
        assert_eq!(s(14).code_name(), "Unavailable");
        assert!(s(14).is_unavailable());
        assert_eq!(s(16).code_name(), "Unauthenticated");
        assert_eq!(s(99).code_name(), "code 99");
    }
}
