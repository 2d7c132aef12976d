//! Browsers: every service answers grpc-web (`application/grpc-web+proto` over HTTP/1.1 or
//! HTTP/2) beside gRPC, and CORS lets pages from the origins an operator allows call it.
//!
//! An origin is `http://host[:port]` or `https://host[:port]`, exactly as a browser sends it
//! in its `Origin` header (no path, no trailing slash). A service allows the origins of its
//! [`crate::Serve::web_origins`]; [`Serve::new`](crate::Serve::new) starts that list from the
//! process-wide one ([`allow_web_origin`]), which is how a process that starts services it
//! does not configure one by one (`fogd local-network --web`) allows its page. With no
//! origin allowed, grpc-web still answers clients that send no `Origin` (non-browser
//! clients), and browsers refuse the answers.

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use tonic::codegen::http::{
    header::{HeaderName, ORIGIN},
    HeaderValue, Method, Request, Response, StatusCode,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    validate_request::{ValidateRequest, ValidateRequestHeaderLayer},
};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(3600);

/// Request headers a grpc-web client sends beside the CORS-safelisted ones.
const ALLOWED_HEADERS: [&str; 5] = [
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "chain-id",
];

/// Answer headers a page may read: the call's status (in the headers of a trailers-only
/// answer).
const EXPOSED_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

static PROCESS_ORIGINS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Checks an origin: `http(s)://host[:port]`, no path, no user info, no whitespace.
pub fn check_web_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .ok_or_else(|| format!("web origin {origin:?} must start with http:// or https://"))?;
    if rest.is_empty()
        || rest.contains(['/', '@', '?', '#'])
        || rest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "web origin {origin:?} is not scheme://host[:port] (no path, no trailing slash)"
        ));
    }
    if let Some((_, port)) = rest.rsplit_once(':') {
        if !rest.ends_with(']') && port.parse::<u16>().is_err() {
            return Err(format!("web origin {origin:?} has a bad port"));
        }
    }
    HeaderValue::from_str(origin)
        .map_err(|_| format!("web origin {origin:?} is not a header value"))?;
    Ok(())
}

/// Allows `origin` in every service this process serves from now on (each
/// [`Serve::new`](crate::Serve::new) copies the list). Refuses a malformed origin.
pub fn allow_web_origin(origin: &str) -> Result<(), String> {
    check_web_origin(origin)?;
    let mut list = PROCESS_ORIGINS
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if !list.iter().any(|o| o == origin) {
        list.push(origin.to_owned());
    }
    Ok(())
}

/// The origins allowed process-wide so far.
pub fn process_web_origins() -> Vec<String> {
    PROCESS_ORIGINS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The CORS layer for `origins` (malformed ones are refused by [`check_web_origin`] before
/// they get here; any that slips through is skipped).
pub fn cors_layer(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| check_web_origin(o).is_ok())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST])
        .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(PREFLIGHT_MAX_AGE)
}

/// Refuses (403) every request whose `Origin` header names an origin not allowed; requests
/// without one (gRPC clients, grpc-web clients outside a browser) pass. CORS alone only
/// withholds the allow header, so the browser hides the answer, but the call has run; and a
/// page whose name an attacker re-resolves to the service's address (DNS rebinding) is
/// same-origin for the browser, which then needs no CORS at all. Its requests still carry its
/// own origin, which this refuses.
#[derive(Clone, Debug)]
pub struct OriginGuard {
    allowed: std::sync::Arc<[HeaderValue]>,
}

impl<B> ValidateRequest<B> for OriginGuard {
    type ResponseBody = tonic::body::Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<Self::ResponseBody>> {
        match request.headers().get(ORIGIN) {
            None => Ok(()),
            Some(origin) if self.allowed.iter().any(|a| a == origin) => Ok(()),
            Some(_) => {
                let mut refused = Response::new(tonic::body::Body::default());
                *refused.status_mut() = StatusCode::FORBIDDEN;
                Err(refused)
            }
        }
    }
}

/// The layer of [`OriginGuard`] for `origins` (malformed ones are skipped, as in
/// [`cors_layer`]).
pub fn origin_guard_layer(origins: &[String]) -> ValidateRequestHeaderLayer<OriginGuard> {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| check_web_origin(o).is_ok())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    ValidateRequestHeaderLayer::custom(OriginGuard {
        allowed: allowed.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        for good in [
            "http://127.0.0.1:8080",
            "https://wallet.example.com",
            "http://localhost:3000",
            "http://[::1]:8080",
        ] {
            assert!(check_web_origin(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "127.0.0.1:8080",
            "http://",
            "http://a.example/",
            "http://a.example/path",
            "http://user@a.example",
            "http://a.example:port",
            "http://a .example",
            "ftp://a.example",
        ] {
            assert!(check_web_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn process_origins_are_kept_once() {
        allow_web_origin("http://127.0.0.1:1").expect("a good origin");
        allow_web_origin("http://127.0.0.1:1").expect("a good origin");
        assert!(allow_web_origin("nonsense").is_err());
        let list = process_web_origins();
        assert_eq!(
            list.iter().filter(|o| *o == "http://127.0.0.1:1").count(),
            1
        );
        assert!(!list.iter().any(|o| o == "nonsense"));
    }
}
