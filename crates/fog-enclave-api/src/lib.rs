#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod errors;
pub mod ingest;
pub mod ledger;
pub mod ledger_router;
pub mod messages;
pub mod view;
pub mod view_router;

pub use errors::{Refusal, Refused};
pub use ingest::{IngestRequest, IngestResponse};
pub use ledger::{LedgerRequest, LedgerResponse};
pub use messages::{ChannelFrame, ChannelHello, EnclaveError};
pub use view::{ViewRequest, ViewResponse};
pub use view_router::{ViewRouterRequest, ViewRouterResponse};

use prost::Message as _;

/// An enclave, reached only through bytes, as across an ECALL: the request is a serialized
/// request message of this enclave's kind, the answer a serialized response message or a
/// payload-free [`EnclaveError`]. Implementations must not panic on any input.
pub trait Enclave: Send + Sync {
    /// Handles one serialized request.
    fn call(&self, request_bytes: &[u8]) -> Result<Vec<u8>, EnclaveError>;
}

impl<T: Enclave + ?Sized> Enclave for std::sync::Arc<T> {
    fn call(&self, request_bytes: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        (**self).call(request_bytes)
    }
}

impl<T: Enclave + ?Sized> Enclave for Box<T> {
    fn call(&self, request_bytes: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        (**self).call(request_bytes)
    }
}

/// An enclave as the servers hold it: whichever implementation the process loaded (the
/// simulated one in-process, injected by `fogd`).
pub type SharedEnclave = std::sync::Arc<dyn Enclave>;

/// A request type and its response type, for the typed helpers of [`Host`].
pub trait EnclaveApi {
    /// The request message.
    type Request: prost::Message + Default;
    /// The response message.
    type Response: prost::Message + Default;
}

/// The ingest enclave's API.
#[derive(Debug, Clone, Copy)]
pub struct IngestApi;
impl EnclaveApi for IngestApi {
    type Request = IngestRequest;
    type Response = IngestResponse;
}

/// The view enclave's API.
#[derive(Debug, Clone, Copy)]
pub struct ViewApi;
impl EnclaveApi for ViewApi {
    type Request = ViewRequest;
    type Response = ViewResponse;
}

/// The view router enclave's API.
#[derive(Debug, Clone, Copy)]
pub struct ViewRouterApi;
impl EnclaveApi for ViewRouterApi {
    type Request = ViewRouterRequest;
    type Response = ViewRouterResponse;
}

/// The ledger enclave's API.
#[derive(Debug, Clone, Copy)]
pub struct LedgerApi;
impl EnclaveApi for LedgerApi {
    type Request = LedgerRequest;
    type Response = LedgerResponse;
}

/// The untrusted host's handle on an in-process enclave ("simulation mode"): it serializes
/// each request, calls [`Enclave::call`] and parses the answer, so the host holds nothing
/// but bytes the enclave chose to return.
pub struct Host<E, A> {
    enclave: E,
    api: core::marker::PhantomData<A>,
}

impl<E, A> core::fmt::Debug for Host<E, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

impl<E: Enclave, A: EnclaveApi> Host<E, A> {
    /// A host around an enclave.
    pub fn new(enclave: E) -> Self {
        Self {
            enclave,
            api: core::marker::PhantomData,
        }
    }

    /// Sends a typed request and parses the typed response. A response that does not parse
    /// is [`EnclaveError::Malformed`].
    pub fn call(&self, request: &A::Request) -> Result<A::Response, EnclaveError> {
        let bytes = self.enclave.call(&request.encode_to_vec())?;
        A::Response::decode(bytes.as_slice()).map_err(|_| EnclaveError::Malformed)
    }

    /// Sends raw bytes (tests of the boundary itself).
    pub fn call_raw(&self, request: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        self.enclave.call(request)
    }
}

/// Parses a request inside the enclave: bytes from the host are untrusted.
pub fn decode_request<A: EnclaveApi>(bytes: &[u8]) -> Result<A::Request, EnclaveError> {
    A::Request::decode(bytes).map_err(|_| EnclaveError::Malformed)
}

/// Serializes a response inside the enclave.
pub fn encode_response<A: EnclaveApi>(response: &A::Response) -> Vec<u8> {
    response.encode_to_vec()
}

/// Runs one call inside the enclave: decodes the request (untrusted bytes from the host),
/// hands it to `handle` and encodes the answer. A request that does not decode is
/// [`EnclaveError::Malformed`] and reaches no handler.
pub fn serve<A: EnclaveApi>(
    request_bytes: &[u8],
    handle: impl FnOnce(A::Request) -> Result<A::Response, EnclaveError>,
) -> Result<Vec<u8>, EnclaveError> {
    let request = decode_request::<A>(request_bytes)?;
    handle(request).map(|response| encode_response::<A>(&response))
}
