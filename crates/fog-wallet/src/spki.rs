//! Reading the fog operator's authority key: a DER SubjectPublicKeyInfo, or the same bytes in
//! a PEM `PUBLIC KEY` block.
//!
//! The address signs these exact DER bytes, so they are checked only for shape (one DER
//! SEQUENCE spanning the whole input), not for the algorithm inside.

use std::path::Path;

use crate::WalletError;

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";

/// Reads a DER or PEM SubjectPublicKeyInfo file and returns the DER bytes.
pub fn read_spki_file(path: &Path) -> Result<Vec<u8>, WalletError> {
    let bytes = std::fs::read(path).map_err(|source| WalletError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_spki(&bytes).map_err(|reason| WalletError::Spki {
        path: path.to_owned(),
        reason,
    })
}

/// DER bytes as they are, or the body of a PEM `PUBLIC KEY` block decoded.
pub fn parse_spki(bytes: &[u8]) -> Result<Vec<u8>, &'static str> {
    let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN ") {
        let text = std::str::from_utf8(bytes).map_err(|_| "the PEM file is not valid text")?;
        pem_public_key_body(text)?
    } else {
        bytes.to_vec()
    };
    check_der_sequence(&der)?;
    Ok(der)
}

fn pem_public_key_body(text: &str) -> Result<Vec<u8>, &'static str> {
    let Some(start) = text.find(PEM_BEGIN) else {
        return Err(if text.contains("-----BEGIN CERTIFICATE-----") {
            "this is a certificate, not a public key: extract the key with `openssl x509 -pubkey -noout`"
        } else {
            "expected a PEM block labelled PUBLIC KEY"
        });
    };
    let body_start = start + PEM_BEGIN.len();
    let Some(len) = text[body_start..].find(PEM_END) else {
        return Err("the PEM PUBLIC KEY block has no END line");
    };
    base64_decode(&text[body_start..body_start + len])
        .ok_or("the PEM PUBLIC KEY block is not valid base64")
}

/// Checks that `der` is exactly one DER SEQUENCE (tag 0x30, definite length, nothing after).
fn check_der_sequence(der: &[u8]) -> Result<(), &'static str> {
    const NOT_DER: &str = "not a DER SubjectPublicKeyInfo (expected one ASN.1 SEQUENCE)";
    let (&tag, rest) = der.split_first().ok_or("the key file is empty")?;
    if tag != 0x30 {
        return Err(NOT_DER);
    }
    let (&first, rest) = rest.split_first().ok_or(NOT_DER)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(NOT_DER);
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if len == 0 || len != rest.len() {
        return Err(NOT_DER);
    }
    Ok(())
}

/// Standard base64 (RFC 4648 §4) with `=` padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (RFC 4648 §4) with `=` padding; ASCII whitespace is skipped. `None` on any
/// other character, data after padding, wrong padding or non-zero trailing bits.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut symbols = 0usize;
    let mut pad = 0usize;
    for c in text.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            pad += 1;
            continue;
        }
        if pad > 0 {
            return None;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        symbols += 1;
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    let expected_pad = (4 - symbols % 4) % 4;
    if symbols % 4 == 1 || pad != expected_pad || acc != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        for (text, plain) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9v\nYmFy\n", "foobar"),
        ] {
            assert_eq!(base64_decode(text).unwrap(), plain.as_bytes(), "{text:?}");
        }
    }

    #[test]
    fn base64_encode_round_trips() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), coded);
        }
        let bytes: Vec<u8> = (0..=255u8).chain(0..=100).collect();
        assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
    }

    #[test]
    fn base64_rejects_malformed() {
        for text in [
            "Zg", "Zg=", "Zg===", "Z", "Zm9v!", "Zg==Zg==", "Zh==", "Zm9=v",
        ] {
            assert!(base64_decode(text).is_none(), "{text:?}");
        }
    }

    fn ed25519_spki() -> Vec<u8> {
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(&[7u8; 32]);
        der
    }

    #[test]
    fn der_and_pem_give_the_same_bytes() {
        let der = ed25519_spki();
        assert_eq!(parse_spki(&der).unwrap(), der);
        let pem = "-----BEGIN PUBLIC KEY-----\n\
                   MCowBQYDK2VwAyEABwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\
                   -----END PUBLIC KEY-----\n";
        assert_eq!(parse_spki(pem.as_bytes()).unwrap(), der);
    }

    #[test]
    fn long_form_length_is_accepted() {
        let mut der = vec![0x30, 0x81, 0x80];
        der.extend_from_slice(&[0u8; 0x80]);
        assert!(parse_spki(&der).is_ok());
    }

    #[test]
    fn rejects_non_der_and_wrong_pem() {
        let mut der = ed25519_spki();
        der.push(0);
        assert!(parse_spki(&der).is_err());
        assert!(parse_spki(b"").is_err());
        assert!(parse_spki(b"hello").is_err());
        assert!(parse_spki(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_err());
        let cert = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert!(parse_spki(cert.as_bytes())
            .unwrap_err()
            .contains("certificate"));
        let unterminated = "-----BEGIN PUBLIC KEY-----\nMAA=\n";
        assert!(parse_spki(unterminated.as_bytes()).is_err());
    }
}
