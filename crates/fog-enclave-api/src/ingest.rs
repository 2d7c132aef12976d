//! The ingest enclave's calls: its request and response messages, and the host's typed
//! handle on it.
//!
//! Trust side: both.

use crate::messages::{client, ChannelHello, ErrorCode, ReportDataRequest};
#[allow(unused_imports)]
#[allow(unused_imports)]
use crate::messages::{EvidenceBytes, GetEvidence, HostTime, SetEvidence};

/// A request to the ingest enclave: attestation, and the peer channel over which ingest
/// nodes share the ingress key (IX handshake, then frames).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IngestRequest {
    /// The call.
    #[prost(oneof = "ingest_request::Call", tags = "1, 2, 3, 4, 5, 6")]
    pub call: Option<ingest_request::Call>,
}

/// The calls of [`IngestRequest`].
pub mod ingest_request {
    /// One call.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Call {
        /// The report data the evidence must carry (binds the peer key and ingress key).
        #[prost(message, tag = "1")]
        GetReportData(super::ReportDataRequest),
        /// Installs evidence made by the host's provider.
        #[prost(message, tag = "2")]
        SetEvidence(super::SetEvidence),
        /// The enclave's bound evidence, for the report server.
        #[prost(message, tag = "3")]
        GetEvidence(super::GetEvidence),
        /// Starts an IX handshake to a peer: returns the first message.
        #[prost(message, tag = "4")]
        PeerInit(super::HostTime),
        /// Answers a peer's first IX message.
        #[prost(message, tag = "5")]
        PeerAccept(super::client::ClientAccept),
        /// Finishes the IX handshake this enclave started.
        #[prost(message, tag = "6")]
        PeerConnect(super::client::ClientAccept),
    }
}

/// A response of the ingest enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IngestResponse {
    /// The answer.
    #[prost(oneof = "ingest_response::Answer", tags = "1, 2, 3, 4")]
    pub answer: Option<ingest_response::Answer>,
}

/// The answers of [`IngestResponse`].
pub mod ingest_response {
    /// One answer.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Answer {
        /// Done.
        #[prost(message, tag = "1")]
        Empty(super::ReportDataRequest),
        /// Bytes: report data, a handshake message.
        #[prost(message, tag = "2")]
        Hello(super::ChannelHello),
        /// The enclave's bound evidence.
        #[prost(message, tag = "3")]
        Evidence(super::EvidenceBytes),
        /// The enclave refused.
        #[prost(message, tag = "4")]
        Error(super::ErrorCode),
    }
}
