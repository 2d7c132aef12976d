//! grpc-web and CORS over real sockets: a browser's preflight from an allowed origin is
//! answered, one from another origin is not, and a grpc-web POST over HTTP/1.1 gets its
//! message and its status in a trailers frame.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use fog_host::{BoxFuture, Observation, Observe, Readiness, Serve};
use prost::Message;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

struct NotReady;

impl Observe for NotReady {
    fn observe(&self) -> BoxFuture<'_, Observation> {
        Box::pin(async { Observation::new(Readiness::not_ready("loading")) })
    }
}

const PAGE: &str = "http://page.example:8080";

/// Sends one HTTP/1.1 request (`Connection: close`) and returns the head (lower-cased) and
/// the de-chunked body.
async fn http(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec())
        .unwrap()
        .to_ascii_lowercase();
    let mut rest = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (head, rest.to_vec());
    }
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16).unwrap();
        rest = &rest[eol + 2..];
        if size == 0 {
            return (head, body);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[tokio::test]
async fn grpc_web_and_cors_for_allowed_origins() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut spec = Serve::new("toy", listener);
    spec.web_origins = vec![PAGE.to_string()];
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fog_host::serve(
        spec,
        fog_host::Routes::default(),
        Arc::new(NotReady),
        async {
            let _ = stopped.await;
        },
    ));
    let path = "/grpc.health.v1.Health/Check";

    // Preflight from the allowed origin.
    let preflight = |origin: &str| {
        format!(
            "OPTIONS {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: content-type,x-grpc-web\r\nConnection: close\r\n\r\n"
        )
    };
    let (head, _) = http(addr, &preflight(PAGE), &[]).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("access-control-allow-origin: {PAGE}")),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-methods: post"),
        "{head}"
    );
    assert!(head.contains("x-grpc-web"), "{head}");

    // Another origin gets no permission.
    let (head, _) = http(addr, &preflight("http://evil.example"), &[]).await;
    assert!(head.starts_with("http/1.1 403"), "{head}");
    assert!(!head.contains("access-control-allow-origin"), "{head}");

    // A grpc-web call over HTTP/1.1: one data frame, then the trailers frame.
    let message = HealthCheckRequest {
        service: String::new(),
    }
    .encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(&message);
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: {PAGE}\r\n\
         Content-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (head, answer) = http(addr, &request, &body).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: application/grpc-web+proto"),
        "{head}"
    );
    assert!(
        head.contains(&format!("access-control-allow-origin: {PAGE}")),
        "{head}"
    );
    assert!(head.contains("access-control-expose-headers"), "{head}");
    assert_eq!(answer[0], 0x00, "a data frame first");
    let len = u32::from_be_bytes(answer[1..5].try_into().unwrap()) as usize;
    let reply = HealthCheckResponse::decode(&answer[5..5 + len]).unwrap();
    // Not ready: the server as a whole is NOT_SERVING.
    assert_eq!(
        reply.status(),
        tonic_health::pb::health_check_response::ServingStatus::NotServing
    );
    let trailers = &answer[5 + len..];
    assert_eq!(trailers[0], 0x80, "then the trailers frame");
    let text = std::str::from_utf8(&trailers[5..]).unwrap();
    assert!(text.contains("grpc-status:0"), "{text}");

    // The same call from another origin (a rebound name is one) is refused before it runs;
    // without an Origin (not a browser) it is answered.
    let call_from = |origin: Option<&str>| {
        let origin = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{origin}\
             Content-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
    };
    let (head, answer) = http(addr, &call_from(Some("http://evil.example:8080")), &body).await;
    assert!(head.starts_with("http/1.1 403"), "{head}");
    assert!(answer.is_empty(), "nothing of the call comes back");
    let (head, answer) = http(addr, &call_from(None), &body).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(answer[0], 0x00, "a data frame");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
