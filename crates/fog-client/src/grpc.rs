//! [`GrpcTransport`]: the [`Transport`] over tonic.
//!
//! - **View** (`FogViewAPI`) and **fog ledger** (`FogKeyImageAPI` + `FogMerkleProofAPI`) are
//!   attested through [`crate::session`], which holds the rules every transport shares: the
//!   first call makes an NX handshake (`Auth`), verifies the enclave's evidence with the
//!   configured [`Verifier`] *before* any request is sent, and keeps the session; each
//!   request is sealed into a `NonceMessage`, each answer opened; an UNAUTHENTICATED answer,
//!   or one whose counter is out of step, drops the session, authenticates again and retries
//!   once; any other failure drops it, and so does a call abandoned before its answer was
//!   read. One ledger session serves key-image checks, `GetOutputs` and `GetBlockIds`
//!   (authenticated through `FogKeyImageAPI.Auth`). Every attested method is
//!   [`crate::session::attested_call`]; this file only moves its messages (one unary call by gRPC
//!   path, [`AttestedTransport`]).
//! - Sessions live across calls and balance checks: a transport authenticates with each
//!   service once and reuses that session until it expires ([`GrpcConfig::session_limits`] on
//!   this side, the enclave's own limits and table on the other) or fails.
//!   [`TransportStats::sessions_opened`] counts the handshakes.
//! - **Blocks**, **reports** and the **ledger node** are plain gRPC.
//! - Every error names the service and its URI: [`ClientError::Unavailable`] (connection
//!   refused, timeout, UNAVAILABLE), [`ClientError::Attestation`] (evidence refused),
//!   [`ClientError::Refused`] (another status), [`ClientError::BadResponse`] (an answer that
//!   does not open or decode).
//!
//! Report servers are found from an address's fog report URL: `insecure-fog://host:port` is
//! `http://host:port`; `fog://host[:port]` is `https://host[:port]` (port 443 by default),
//! which needs a TLS-enabled tonic build; [`GrpcConfig::report_uris`] overrides either.

use std::{collections::BTreeMap, net::IpAddr, time::Duration};

use fog_api::{
    fog_ledger::fog_block_api_client::FogBlockApiClient,
    fog_node::{
        ledger_node_client::LedgerNodeClient, GetLedgerInfoRequest, LedgerInfo, SubmitTxRequest,
        SubmitTxResponse,
    },
    report::report_api_client::ReportApiClient,
};
use fog_attest::{
    wire::{AuthMessage, NonceMessage, ReportRequest, ReportResponse},
    SessionLimits, Verifier,
};
use fog_types::{
    ledger::{
        BlockIdsRequest, BlockIdsResponse, BlockRequest, BlockResponse, CheckKeyImagesRequest,
        CheckKeyImagesResponse, GetOutputsRequest, GetOutputsResponse, BLOCK_IDS_AAD,
    },
    view::{QueryRequest, QueryRequestAad, QueryResponse},
};
use prost::Message;
use tonic::{
    codegen::http::uri::PathAndQuery,
    transport::{Channel, Endpoint},
    Code, Status,
};

use crate::{
    error::{ClientError, Result, Service},
    session::{attested_call, AttestedTransport, SendFailure, Session, Sessions},
    transport::Transport,
};

/// The largest answer accepted (a big missed-range block batch, a full search batch).
const MAX_MESSAGE: usize = 64 << 20;

/// Where the services are and whom to trust.
#[derive(Clone, Debug)]
pub struct GrpcConfig {
    /// The view service, e.g. `http://127.0.0.1:3225`.
    pub view_uri: String,
    /// The fog ledger service (key images, outputs, blocks).
    pub ledger_uri: String,
    /// The ledger node (submit, ledger info).
    pub node_uri: String,
    /// The verifier of the view enclave's evidence.
    pub view_verifier: Verifier,
    /// The verifier of the fog ledger enclave's evidence.
    pub ledger_verifier: Verifier,
    /// Fog report URL → gRPC URI, overriding the default mapping.
    pub report_uris: BTreeMap<String, String>,
    /// The `chain-id` header to send, if the services check one.
    pub chain_id: Option<String>,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Session lifetime on the client side.
    pub session_limits: SessionLimits,
    /// The local address connections are made from (default: the system's choice). A load
    /// generator spreads its wallets over several loopback addresses with it, as clients on
    /// several hosts (the enclaves bound the sessions one client address may hold).
    pub local_address: Option<IpAddr>,
}

impl GrpcConfig {
    /// A configuration with 5 s to connect and 60 s per request.
    pub fn new(
        view_uri: impl Into<String>,
        ledger_uri: impl Into<String>,
        node_uri: impl Into<String>,
        view_verifier: Verifier,
        ledger_verifier: Verifier,
    ) -> Self {
        Self {
            view_uri: view_uri.into(),
            ledger_uri: ledger_uri.into(),
            node_uri: node_uri.into(),
            view_verifier,
            ledger_verifier,
            report_uris: BTreeMap::new(),
            chain_id: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            session_limits: SessionLimits::default(),
            local_address: None,
        }
    }
}

/// Requests made and bytes moved (protobuf message sizes, without HTTP/2 framing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Calls made (handshakes and refused calls included).
    pub round_trips: u64,
    /// Request bytes.
    pub bytes_sent: u64,
    /// Answer bytes.
    pub bytes_received: u64,
    /// Attested sessions opened: handshakes whose evidence was verified (view and fog ledger
    /// together).
    pub sessions_opened: u64,
}

/// The gRPC transport.
pub struct GrpcTransport {
    config: GrpcConfig,
    view: Option<Channel>,
    ledger: Option<Channel>,
    sessions: Sessions,
    node: Option<LedgerNodeClient<Channel>>,
    reports: BTreeMap<String, ReportApiClient<Channel>>,
    stats: TransportStats,
}

impl core::fmt::Debug for GrpcTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GrpcTransport")
            .field("view_uri", &self.config.view_uri)
            .field("ledger_uri", &self.config.ledger_uri)
            .field("node_uri", &self.config.node_uri)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Maps a fog report URL to a gRPC URI (module docs).
pub fn report_uri(fog_report_url: &str) -> Result<String> {
    let bad = || {
        ClientError::InvalidRequest(format!(
            "fog report URL {fog_report_url:?} is not fog://host[:port] or insecure-fog://host:port"
        ))
    };
    if let Some(rest) = fog_report_url.strip_prefix("insecure-fog://") {
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(bad());
        }
        return Ok(format!("http://{host}"));
    }
    if let Some(rest) = fog_report_url.strip_prefix("fog://") {
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(bad());
        }
        let with_port = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_owned()
        } else {
            format!("{host}:443")
        };
        return Ok(format!("https://{with_port}"));
    }
    Err(bad())
}

fn code_name(code: Code) -> String {
    format!("{code:?}")
}

fn status_error(service: Service, uri: &str, status: &Status) -> ClientError {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => ClientError::Unavailable {
            service,
            uri: uri.to_owned(),
            reason: if status.message().is_empty() {
                code_name(status.code())
            } else {
                status.message().to_owned()
            },
        },
        code => ClientError::Refused {
            service,
            code: code_name(code),
            message: status.message().to_owned(),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl GrpcTransport {
    /// A transport; nothing is connected until the first call.
    pub fn new(config: GrpcConfig) -> Self {
        let sessions = Sessions::new(
            config.view_uri.clone(),
            config.view_verifier.clone(),
            config.ledger_uri.clone(),
            config.ledger_verifier.clone(),
            config.session_limits,
        );
        Self {
            config,
            view: None,
            ledger: None,
            sessions,
            node: None,
            reports: BTreeMap::new(),
            stats: TransportStats::default(),
        }
    }

    /// A transport with this one's configuration over the same connections (HTTP/2
    /// multiplexes them), with no session of its own: it authenticates separately, as
    /// another client would. For many accounts in one process (a load generator, a
    /// multi-account app); its statistics start at zero.
    pub fn share_connections(&self) -> Self {
        Self {
            config: self.config.clone(),
            view: self.view.clone(),
            ledger: self.ledger.clone(),
            sessions: self.sessions.fresh(),
            node: self.node.clone(),
            reports: self.reports.clone(),
            stats: TransportStats::default(),
        }
    }

    /// Connects to view, the fog ledger and the node now (otherwise each connects at its
    /// first call), so that [`Self::share_connections`] shares them.
    pub async fn connect_all(&mut self) -> Result<()> {
        self.view_channel().await?;
        self.ledger_channel(Service::KeyImages).await?;
        self.node_client().await?;
        Ok(())
    }

    /// Requests and bytes so far.
    pub fn stats(&self) -> TransportStats {
        TransportStats {
            sessions_opened: self.sessions.opened(),
            ..self.stats
        }
    }

    /// What the verifier said of the enclaves this transport holds sessions with: the
    /// evidence kind and TCB status (a status the policy accepts although it is not up to
    /// date shows here, with Intel's advisories, so that a wallet can say so).
    pub fn verdicts(&self) -> Vec<(Service, fog_attest::Verdict)> {
        self.sessions
            .both()
            .into_iter()
            .filter_map(|s| s.verdict().map(|v| (s.service(), v.clone())))
            .collect()
    }

    /// Drops the attested sessions (the next call authenticates again).
    pub fn drop_sessions(&mut self) {
        self.sessions.close();
    }

    async fn connect(&self, service: Service, uri: &str) -> Result<Channel> {
        let unavailable = |reason: String| ClientError::Unavailable {
            service,
            uri: uri.to_owned(),
            reason,
        };
        Endpoint::from_shared(uri.to_owned())
            .map_err(|e| unavailable(format!("bad URI: {}", error_chain(&e))))?
            .connect_timeout(self.config.connect_timeout)
            .timeout(self.config.request_timeout)
            .local_address(self.config.local_address)
            .connect()
            .await
            .map_err(|e| unavailable(error_chain(&e)))
    }

    fn request<M>(&self, message: M) -> tonic::Request<M> {
        let mut r = tonic::Request::new(message);
        if let Some(id) = &self.config.chain_id {
            if let Ok(v) = id.parse() {
                r.metadata_mut().insert("chain-id", v);
            }
        }
        r
    }

    fn count(&mut self, sent: usize, received: usize) {
        self.stats.round_trips += 1;
        self.stats.bytes_sent += sent as u64;
        self.stats.bytes_received += received as u64;
    }

    async fn view_channel(&mut self) -> Result<Channel> {
        if let Some(c) = &self.view {
            return Ok(c.clone());
        }
        let channel = self.connect(Service::View, &self.config.view_uri).await?;
        self.view = Some(channel.clone());
        Ok(channel)
    }

    async fn ledger_channel(&mut self, service: Service) -> Result<Channel> {
        if let Some(c) = &self.ledger {
            return Ok(c.clone());
        }
        let channel = self.connect(service, &self.config.ledger_uri).await?;
        self.ledger = Some(channel.clone());
        Ok(channel)
    }

    /// One unary call of `path` on view's connection (`which` = View) or the fog ledger's
    /// (any ledger service): the answer or the status it was refused with (outside, a
    /// connection that could not be made).
    async fn unary<Req, Resp>(
        &mut self,
        which: Service,
        path: &'static str,
        message: Req,
    ) -> Result<core::result::Result<Resp, Status>>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        let channel = if which == Service::View {
            self.view_channel().await?
        } else {
            self.ledger_channel(which).await?
        };
        let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_MESSAGE);
        if let Err(e) = grpc.ready().await {
            return Ok(Err(Status::unknown(format!("Service was not ready: {e}"))));
        }
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let answer = grpc
            .unary(
                self.request(message),
                PathAndQuery::from_static(path),
                codec,
            )
            .await;
        Ok(answer.map(tonic::Response::into_inner))
    }

    async fn node_client(&mut self) -> Result<LedgerNodeClient<Channel>> {
        if let Some(c) = &self.node {
            return Ok(c.clone());
        }
        let channel = self.connect(Service::Node, &self.config.node_uri).await?;
        let c = LedgerNodeClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
        self.node = Some(c.clone());
        Ok(c)
    }
}

/// The moves of an attested call ([`crate::session`]): the handshake and the sealed request,
/// each one unary call; the session decides the rest.
impl AttestedTransport for GrpcTransport {
    fn session(&mut self, which: Service) -> &mut Session {
        self.sessions.get(which)
    }

    async fn auth(
        &mut self,
        which: Service,
        path: &'static str,
        hello: AuthMessage,
    ) -> Result<AuthMessage> {
        let service = self.session(which).service();
        let sent = hello.data.len();
        // Connection failures name the session's service, as refusals do.
        let answer: AuthMessage = self
            .unary(service, path, hello)
            .await?
            .map_err(|s| status_error(service, self.session(which).uri(), &s))?;
        self.count(sent, answer.data.len());
        Ok(answer)
    }

    async fn send(
        &mut self,
        which: Service,
        path: &'static str,
        frame: NonceMessage,
    ) -> core::result::Result<NonceMessage, SendFailure> {
        let sent = frame.encoded_len();
        let answer = self
            .unary::<_, NonceMessage>(which, path, frame)
            .await
            .map_err(|error| SendFailure {
                error,
                unauthenticated: false,
            })?;
        self.count(sent, answer.as_ref().map_or(0, Message::encoded_len));
        answer.map_err(|status| SendFailure {
            error: status_error(which, self.session(which).uri(), &status),
            unauthenticated: status.code() == Code::Unauthenticated,
        })
    }
}

impl Transport for GrpcTransport {
    async fn view_query(
        &mut self,
        aad: QueryRequestAad,
        request: QueryRequest,
    ) -> Result<QueryResponse> {
        attested_call(self, &aad.encode_to_vec(), &request).await
    }

    async fn check_key_images(
        &mut self,
        request: CheckKeyImagesRequest,
    ) -> Result<CheckKeyImagesResponse> {
        attested_call(self, &[], &request).await
    }

    async fn block_ids(&mut self, request: BlockIdsRequest) -> Result<BlockIdsResponse> {
        attested_call(self, BLOCK_IDS_AAD, &request).await
    }

    async fn get_outputs(&mut self, request: GetOutputsRequest) -> Result<GetOutputsResponse> {
        attested_call(self, &[], &request).await
    }

    async fn get_blocks(&mut self, request: BlockRequest) -> Result<BlockResponse> {
        let channel = self.ledger_channel(Service::Blocks).await?;
        let mut c = FogBlockApiClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
        let sent = request.encoded_len();
        let answer = c
            .get_blocks(self.request(request))
            .await
            .map_err(|s| status_error(Service::Blocks, &self.config.ledger_uri, &s))?
            .into_inner();
        self.count(sent, answer.encoded_len());
        Ok(answer)
    }

    async fn get_reports(&mut self, fog_report_url: &str) -> Result<ReportResponse> {
        let uri = match self.config.report_uris.get(fog_report_url) {
            Some(u) => u.clone(),
            None => report_uri(fog_report_url)?,
        };
        let mut c = match self.reports.get(&uri) {
            Some(c) => c.clone(),
            None => {
                let channel = self.connect(Service::Report, &uri).await?;
                let c = ReportApiClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
                self.reports.insert(uri.clone(), c.clone());
                c
            }
        };
        let answer = c
            .get_reports(self.request(ReportRequest {}))
            .await
            .map_err(|s| status_error(Service::Report, &uri, &s))?
            .into_inner();
        self.count(0, answer.encoded_len());
        Ok(answer)
    }

    async fn submit_tx(&mut self, tx: fog_transaction::wire::Tx) -> Result<SubmitTxResponse> {
        let mut c = self.node_client().await?;
        let request = SubmitTxRequest { tx: Some(tx) };
        let sent = request.encoded_len();
        let answer = c
            .submit_tx(self.request(request))
            .await
            .map_err(|s| status_error(Service::Node, &self.config.node_uri, &s))?
            .into_inner();
        self.count(sent, answer.encoded_len());
        Ok(answer)
    }

    async fn ledger_info(&mut self) -> Result<LedgerInfo> {
        let mut c = self.node_client().await?;
        let answer = c
            .get_ledger_info(self.request(GetLedgerInfoRequest {}))
            .await
            .map_err(|s| status_error(Service::Node, &self.config.node_uri, &s))?
            .into_inner();
        self.count(0, answer.encoded_len());
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_urls_map_to_grpc_uris() {
        assert_eq!(
            report_uri("insecure-fog://127.0.0.1:3222").unwrap(),
            "http://127.0.0.1:3222"
        );
        assert_eq!(
            report_uri("fog://fog.example.com").unwrap(),
            "https://fog.example.com:443"
        );
        assert_eq!(
            report_uri("fog://fog.example.com:8443/").unwrap(),
            "https://fog.example.com:8443"
        );
        for bad in ["http://x", "fog://", "insecure-fog://a/b", ""] {
            assert!(report_uri(bad).is_err(), "{bad}");
        }
    }
}
