//! Who may call a service's admin API (ingest's, a router's): a tonic interceptor.
//!
//! An admin API changes what the service does, so it is not open to whoever reaches the port.
//! By default it listens on loopback only and the interceptor also refuses peers that are not
//! loopback. On any other address a bearer token is required (`authorization: Bearer <token>`
//! in the gRPC metadata), compared in constant time; [`AdminAccess::for_address`] refuses to
//! build an access policy for a non-loopback address without one, so the server cannot start
//! that way. The token is never logged and never in `Debug`. (mTLS would also do; a token
//! keeps the deployment to one secret file.)

use std::net::SocketAddr;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::{service::Interceptor, Request, Status};
use zeroize::Zeroizing;

/// Why an admin access policy could not be made. Never repeats the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminError {
    /// The token is shorter than [`AdminToken::MIN_LEN`].
    #[error("the admin token is shorter than 16 bytes")]
    TokenTooShort,
    /// The token holds a character that is not printable ASCII.
    #[error("the admin token must be visible ASCII without spaces")]
    TokenNotAscii,
    /// A non-loopback address without a token.
    #[error("an admin API on {0} (not loopback) needs a token")]
    TokenRequired(SocketAddr),
}

/// The admin API's bearer token: at least [`AdminToken::MIN_LEN`] bytes, zeroized on drop,
/// never printed.
pub struct AdminToken(Zeroizing<Vec<u8>>);

impl core::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// The shortest token accepted: 16 bytes (of a random hex or base64 string, say).
    pub const MIN_LEN: usize = 16;

    /// A token from its text (e.g. a file's content); surrounding whitespace is trimmed.
    pub fn new(text: &str) -> Result<Self, AdminError> {
        let t = text.trim();
        if t.len() < Self::MIN_LEN {
            return Err(AdminError::TokenTooShort);
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AdminError::TokenNotAscii);
        }
        Ok(Self(Zeroizing::new(t.as_bytes().to_vec())))
    }

    fn matches(&self, presented: &[u8]) -> bool {
        // `ct_eq` on slices of different lengths is false without comparing; the length of
        // the token is not the secret.
        bool::from(self.0.as_slice().ct_eq(presented))
    }
}

/// Who may call the admin API: a tonic interceptor.
#[derive(Clone, Debug)]
pub struct AdminAccess(Option<Arc<AdminToken>>);

impl AdminAccess {
    /// The policy for an admin API listening on `addr`: with a token, calls must carry it;
    /// without one, `addr` must be loopback and so must each caller.
    pub fn for_address(addr: SocketAddr, token: Option<AdminToken>) -> Result<Self, AdminError> {
        match token {
            Some(t) => Ok(Self(Some(Arc::new(t)))),
            None if addr.ip().is_loopback() => Ok(Self(None)),
            None => Err(AdminError::TokenRequired(addr)),
        }
    }
}

impl Interceptor for AdminAccess {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        match &self.0 {
            None => match request.remote_addr() {
                Some(peer) if peer.ip().is_loopback() => Ok(request),
                _ => Err(Status::permission_denied("admin API: loopback only")),
            },
            Some(token) => {
                let presented = request
                    .metadata()
                    .get("authorization")
                    .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
                match presented {
                    Some(p) if token.matches(p) => Ok(request),
                    _ => Err(Status::unauthenticated("admin API: bad or missing token")),
                }
            }
        }
    }
}
