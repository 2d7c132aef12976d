//! [`WebTransport`]: fog-client's [`Transport`] over grpc-web with the browser's `fetch`.
//!
//! A thin layer, like the tonic transport: the balance, history and send logic are
//! fog-client's sans-IO core; this file only moves its messages. View and fog ledger calls
//! are [`fog_client::session::attested_call`] over attested sessions (the NX handshake
//! through the service's `Auth`, the enclave's evidence verified before any request, every
//! request sealed and every answer opened here, in the page; an UNAUTHENTICATED answer, or
//! one whose counter is out of step, renews the session and retries once; any other failure
//! drops it, and so does a call abandoned before its answer was read); this file gives it
//! the two moves ([`AttestedTransport`]). Blocks, reports and the node are plain unary
//! calls. Each call is one `fetch` POST of a grpc-web body ([`crate::grpc_web`]).
//!
//! The [`Transport`] trait wants `Send` futures (tonic's run on a multi-threaded runtime); a
//! browser's hold JavaScript values, which are not. wasm32-unknown-unknown has one thread,
//! so each future is wrapped in a [`SendWrapper`], which would panic if it were ever polled
//! or dropped on another thread, rather than changing the core's trait per target.

use std::future::Future;

use fog_api::fog_node::{GetLedgerInfoRequest, LedgerInfo, SubmitTxRequest, SubmitTxResponse};
use fog_attest::{
    wire::{AuthMessage, NonceMessage, ReportRequest, ReportResponse},
    SessionLimits,
};
use fog_client::{
    session::{attested_call, AttestedTransport, SendFailure, Session, Sessions},
    ClientError, Result, Service, Transport,
};
use fog_types::{
    ledger::{
        BlockIdsRequest, BlockIdsResponse, BlockRequest, BlockResponse, CheckKeyImagesRequest,
        CheckKeyImagesResponse, GetOutputsRequest, GetOutputsResponse, BLOCK_IDS_AAD,
    },
    view::{QueryRequest, QueryRequestAad, QueryResponse},
};
use prost::Message;
use send_wrapper::SendWrapper;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, RequestMode, Response};

use crate::{
    grpc_web::{self, CallError, Status, UNAUTHENTICATED},
    network::{report_url, Checked},
};

/// Requests made and bytes moved (protobuf message sizes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls made (handshakes and refused calls included).
    pub round_trips: u64,
    /// Request bytes.
    pub bytes_sent: u64,
    /// Answer bytes.
    pub bytes_received: u64,
    /// Attested sessions opened.
    pub sessions_opened: u64,
}

/// The grpc-web transport.
pub struct WebTransport {
    net: Checked,
    sessions: Sessions,
    stats: Stats,
}

impl core::fmt::Debug for WebTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebTransport")
            .field("view_url", &self.net.view_url)
            .field("ledger_url", &self.net.ledger_url)
            .field("node_url", &self.net.node_url)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// A JavaScript error as text.
pub fn js_text(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        return s;
    }
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    format!("{v:?}")
}

/// What a failed call was.
enum Fail {
    /// No answer (the network, CORS, a proxy): the reason.
    Unreachable(String),
    /// A gRPC status.
    Status(Status),
    /// An answer that is not grpc-web.
    Malformed(String),
}

/// One grpc-web POST: the HTTP status, the `grpc-status` of the headers if any, the body.
async fn post(
    url: &str,
    body: &[u8],
) -> core::result::Result<(u16, Option<Status>, Vec<u8>), String> {
    let headers = Headers::new().map_err(|e| js_text(&e))?;
    for (name, value) in [
        ("content-type", grpc_web::CONTENT_TYPE),
        ("accept", grpc_web::CONTENT_TYPE),
        ("x-grpc-web", "1"),
    ] {
        headers.set(name, value).map_err(|e| js_text(&e))?;
    }
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_mode(RequestMode::Cors);
    init.set_headers(&headers);
    let bytes = js_sys::Uint8Array::from(body);
    init.set_body(&bytes);
    let request = Request::new_with_str_and_init(url, &init).map_err(|e| js_text(&e))?;
    let global = js_sys::global();
    let promise = if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        window.fetch_with_request(&request)
    } else if let Some(worker) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        worker.fetch_with_request(&request)
    } else {
        return Err("no fetch in this JavaScript context".into());
    };
    let answer: Response = JsFuture::from(promise)
        .await
        .map_err(|e| js_text(&e))?
        .dyn_into()
        .map_err(|_| "fetch did not give a Response".to_string())?;
    let status = answer.status();
    let h = answer.headers();
    let header_status = match h.get("grpc-status").map_err(|e| js_text(&e))? {
        None => None,
        Some(code) => Some(Status {
            code: code
                .trim()
                .parse()
                .map_err(|_| format!("grpc-status header {code:?} is not a number"))?,
            message: grpc_web::percent_decode(
                &h.get("grpc-message")
                    .map_err(|e| js_text(&e))?
                    .unwrap_or_default(),
            ),
        }),
    };
    let buffer = JsFuture::from(answer.array_buffer().map_err(|e| js_text(&e))?)
        .await
        .map_err(|e| js_text(&e))?;
    Ok((
        status,
        header_status,
        js_sys::Uint8Array::new(&buffer).to_vec(),
    ))
}

/// One unary call of `path` (`/package.Service/Method`) at `base`.
async fn unary(base: &str, path: &str, message: &[u8]) -> core::result::Result<Vec<u8>, Fail> {
    let body = grpc_web::encode_request(message).map_err(|e| Fail::Malformed(e.to_string()))?;
    let (http, header_status, answer) = post(&format!("{base}{path}"), &body)
        .await
        .map_err(Fail::Unreachable)?;
    if http != 200 {
        return Err(match header_status {
            Some(s) => Fail::Status(s),
            None => Fail::Unreachable(format!("HTTP status {http}")),
        });
    }
    grpc_web::decode_response(header_status, &answer).map_err(|e| match e {
        CallError::Status(s) => Fail::Status(s),
        CallError::Malformed(w) => Fail::Malformed(w),
    })
}

fn client_error(service: Service, uri: &str, fail: Fail) -> ClientError {
    match fail {
        Fail::Unreachable(reason) => ClientError::Unavailable {
            service,
            uri: uri.to_owned(),
            reason,
        },
        Fail::Status(s) if s.is_unavailable() => ClientError::Unavailable {
            service,
            uri: uri.to_owned(),
            reason: if s.message.is_empty() {
                s.code_name()
            } else {
                s.message
            },
        },
        Fail::Status(s) => ClientError::Refused {
            service,
            code: s.code_name(),
            message: s.message,
        },
        Fail::Malformed(what) => ClientError::BadResponse { service, what },
    }
}

fn decode<M: Message + Default>(service: Service, bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|_| ClientError::BadResponse {
        service,
        what: "the answer does not decode".into(),
    })
}

impl WebTransport {
    /// A transport for the checked network; nothing is sent until the first call.
    pub fn new(net: Checked) -> Self {
        let sessions = Sessions::new(
            net.view_url.clone(),
            net.view_verifier.clone(),
            net.ledger_url.clone(),
            net.ledger_verifier.clone(),
            SessionLimits::default(),
        );
        Self {
            net,
            sessions,
            stats: Stats::default(),
        }
    }

    /// Requests and bytes so far.
    pub fn stats(&self) -> Stats {
        Stats {
            sessions_opened: self.sessions.opened(),
            ..self.stats
        }
    }

    /// Drops the attested sessions (the next call authenticates again).
    pub fn drop_sessions(&mut self) {
        self.sessions.close();
    }

    fn count(&mut self, sent: usize, received: usize) {
        self.stats.round_trips += 1;
        self.stats.bytes_sent += sent as u64;
        self.stats.bytes_received += received as u64;
    }

    /// One plain call.
    async fn plain<M: Message + Default>(
        &mut self,
        service: Service,
        uri: &str,
        path: &str,
        request: &[u8],
    ) -> Result<M> {
        let answer = unary(uri, path, request)
            .await
            .map_err(|f| client_error(service, uri, f));
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                self.count(request.len(), 0);
                return Err(e);
            }
        };
        self.count(request.len(), answer.len());
        decode(service, &answer)
    }

    async fn get_blocks_local(&mut self, request: BlockRequest) -> Result<BlockResponse> {
        let uri = self.net.ledger_url.clone();
        self.plain(
            Service::Blocks,
            &uri,
            "/fog_ledger.FogBlockAPI/GetBlocks",
            &request.encode_to_vec(),
        )
        .await
    }

    async fn get_reports_local(&mut self, fog_report_url: &str) -> Result<ReportResponse> {
        let uri = report_url(fog_report_url).map_err(ClientError::InvalidRequest)?;
        self.plain(
            Service::Report,
            &uri,
            "/report.ReportAPI/GetReports",
            &ReportRequest {}.encode_to_vec(),
        )
        .await
    }

    async fn submit_tx_local(&mut self, tx: fog_transaction::wire::Tx) -> Result<SubmitTxResponse> {
        let uri = self.net.node_url.clone();
        self.plain(
            Service::Node,
            &uri,
            "/fog_node.LedgerNode/SubmitTx",
            &SubmitTxRequest { tx: Some(tx) }.encode_to_vec(),
        )
        .await
    }

    async fn ledger_info_local(&mut self) -> Result<LedgerInfo> {
        let uri = self.net.node_url.clone();
        self.plain(
            Service::Node,
            &uri,
            "/fog_node.LedgerNode/GetLedgerInfo",
            &GetLedgerInfoRequest {}.encode_to_vec(),
        )
        .await
    }
}

/// The moves of an attested call ([`fog_client::session`]): the handshake and the sealed
/// request, each one grpc-web POST to the session's URI; the session decides the rest.
impl AttestedTransport for WebTransport {
    fn session(&mut self, which: Service) -> &mut Session {
        self.sessions.get(which)
    }

    async fn auth(
        &mut self,
        which: Service,
        path: &'static str,
        hello: AuthMessage,
    ) -> Result<AuthMessage> {
        let (service, uri) = {
            let s = self.session(which);
            (s.service(), s.uri().to_owned())
        };
        let request = hello.encode_to_vec();
        let answer = unary(&uri, path, &request)
            .await
            .map_err(|f| client_error(service, &uri, f))?;
        self.count(request.len(), answer.len());
        decode(service, &answer)
    }

    async fn send(
        &mut self,
        which: Service,
        path: &'static str,
        frame: NonceMessage,
    ) -> core::result::Result<NonceMessage, SendFailure> {
        let uri = self.session(which).uri().to_owned();
        let request = frame.encode_to_vec();
        let answer = unary(&uri, path, &request).await;
        self.count(request.len(), answer.as_ref().map_or(0, Vec::len));
        match answer {
            Ok(answer) => decode(which, &answer).map_err(|error| SendFailure {
                error,
                unauthenticated: false,
            }),
            Err(fail) => Err(SendFailure {
                unauthenticated: matches!(&fail, Fail::Status(s) if s.code == UNAUTHENTICATED),
                error: client_error(which, &uri, fail),
            }),
        }
    }
}

impl Transport for WebTransport {
    fn view_query(
        &mut self,
        aad: QueryRequestAad,
        request: QueryRequest,
    ) -> impl Future<Output = Result<QueryResponse>> + Send {
        SendWrapper::new(async move { attested_call(self, &aad.encode_to_vec(), &request).await })
    }

    fn check_key_images(
        &mut self,
        request: CheckKeyImagesRequest,
    ) -> impl Future<Output = Result<CheckKeyImagesResponse>> + Send {
        SendWrapper::new(async move { attested_call(self, &[], &request).await })
    }

    fn get_outputs(
        &mut self,
        request: GetOutputsRequest,
    ) -> impl Future<Output = Result<GetOutputsResponse>> + Send {
        SendWrapper::new(async move { attested_call(self, &[], &request).await })
    }

    fn block_ids(
        &mut self,
        request: BlockIdsRequest,
    ) -> impl Future<Output = Result<BlockIdsResponse>> + Send {
        SendWrapper::new(async move { attested_call(self, BLOCK_IDS_AAD, &request).await })
    }

    fn get_blocks(
        &mut self,
        request: BlockRequest,
    ) -> impl Future<Output = Result<BlockResponse>> + Send {
        SendWrapper::new(self.get_blocks_local(request))
    }

    fn get_reports(
        &mut self,
        fog_report_url: &str,
    ) -> impl Future<Output = Result<ReportResponse>> + Send {
        let url = fog_report_url.to_owned();
        SendWrapper::new(async move { self.get_reports_local(&url).await })
    }

    fn submit_tx(
        &mut self,
        tx: fog_transaction::wire::Tx,
    ) -> impl Future<Output = Result<SubmitTxResponse>> + Send {
        SendWrapper::new(self.submit_tx_local(tx))
    }

    fn ledger_info(&mut self) -> impl Future<Output = Result<LedgerInfo>> + Send {
        SendWrapper::new(self.ledger_info_local())
    }
}
