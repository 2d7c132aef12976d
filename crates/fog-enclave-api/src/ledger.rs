//! The ledger enclave's calls: its request and response messages, and the host's typed
//! handle on it.
//!
//! Trust side: both.

use crate::messages::{client, ChannelFrame, ChannelHello, ErrorCode, ReportDataRequest};
#[allow(unused_imports)]
use crate::messages::{EvidenceBytes, GetEvidence, HostTime, SetEvidence};

/// A request to the ledger enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LedgerRequest {
    /// The call.
    #[prost(oneof = "ledger_request::Call", tags = "1, 2, 3, 4, 5")]
    pub call: Option<ledger_request::Call>,
}

/// The calls of [`LedgerRequest`].
pub mod ledger_request {
    /// One call.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Call {
        /// The 64 bytes of report data the enclave's evidence must carry.
        #[prost(message, tag = "1")]
        GetReportData(super::ReportDataRequest),
        /// Installs evidence made by the host's provider.
        #[prost(message, tag = "2")]
        SetEvidence(super::SetEvidence),
        /// A client's NX handshake.
        #[prost(message, tag = "3")]
        ClientAccept(super::client::ClientAccept),
        /// A client's encrypted request.
        #[prost(message, tag = "4")]
        ClientRequest(super::client::ClientRequest),
        /// Drops a client session.
        #[prost(message, tag = "5")]
        ClientClose(super::client::ClientClose),
    }
}

/// A response of the ledger enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LedgerResponse {
    /// The answer.
    #[prost(oneof = "ledger_response::Answer", tags = "1, 2, 3, 4")]
    pub answer: Option<ledger_response::Answer>,
}

/// The answers of [`LedgerResponse`].
pub mod ledger_response {
    /// One answer.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Answer {
        /// Done, nothing to return.
        #[prost(message, tag = "1")]
        Empty(super::ReportDataRequest),
        /// Bytes: report data (64), or a handshake answer.
        #[prost(message, tag = "2")]
        Hello(super::ChannelHello),
        /// An encrypted response frame.
        #[prost(message, tag = "3")]
        Frame(super::ChannelFrame),
        /// The enclave refused.
        #[prost(message, tag = "4")]
        Error(super::ErrorCode),
    }
}
