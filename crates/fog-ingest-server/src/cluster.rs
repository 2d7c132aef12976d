//! Ingest peers: the `IngestPeer` gRPC service, the calls one server makes to another, and
//! the duties an ingest server runs between blocks (heartbeats, key sharing, failover).
//!
//! Untrusted side. No call to a peer is made while the server's lock is held: each step
//! locks the server briefly (to pass a handshake message or a frame through the enclave),
//! so two servers pushing to each other at once cannot deadlock, and the admin API and the
//! block loop are never stuck behind a slow peer. Every peer call has a deadline
//! ([`PEER_TIMEOUT`]).
//!
//! The ingress key itself moves only between enclaves: the host carries an IX handshake whose
//! both ends present attestation evidence, then one frame of the channel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fog_api::fog_ingest::{
    ingest_peer_client::IngestPeerClient,
    ingest_peer_server::{IngestPeer, IngestPeerServer},
    GetStatusRequest, IngressKeyFrame, Mode as WireMode, PeerHandshakeRequest,
    PeerHandshakeResponse, PeerStatus, SendIngressKeyRequest,
};
use fog_enclave_api::errors::{IngestError as EnclaveError, PeerError};
use fog_recovery_db::RecoveryDb;
use tokio::sync::Mutex;
use tonic::{Request, Response, Status};

use crate::server::Mode;
use crate::{IngestError, IngestServer};

/// The deadline of each call to a peer (connect and answer).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(3);

type Shared<D> = Arc<Mutex<IngestServer<D>>>;

/// Checks a peer URI: `http://host:port` (or `https://`).
pub fn check_peer_uri(uri: &str) -> Result<(), IngestError> {
    let parsed: tonic::transport::Uri = uri
        .parse()
        .map_err(|_| IngestError::BadPeerUri(uri.to_owned()))?;
    match (parsed.scheme_str(), parsed.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err(IngestError::BadPeerUri(uri.to_owned())),
    }
}

fn unreachable(uri: &str, reason: impl std::fmt::Display) -> IngestError {
    IngestError::PeerUnreachable {
        uri: uri.to_owned(),
        reason: reason.to_string(),
    }
}

async fn client(uri: &str) -> Result<IngestPeerClient<tonic::transport::Channel>, IngestError> {
    check_peer_uri(uri)?;
    let endpoint = tonic::transport::Endpoint::from_shared(uri.to_owned())
        .map_err(|_| IngestError::BadPeerUri(uri.to_owned()))?
        .connect_timeout(PEER_TIMEOUT)
        .timeout(PEER_TIMEOUT);
    let channel = tokio::time::timeout(PEER_TIMEOUT, endpoint.connect())
        .await
        .map_err(|_| unreachable(uri, "connect timed out"))?
        .map_err(|e| unreachable(uri, e))?;
    Ok(IngestPeerClient::new(channel))
}

fn call_failed(uri: &str, status: Status) -> IngestError {
    unreachable(uri, format!("{:?}: {}", status.code(), status.message()))
}

/// A peer's mode, key and progress.
pub async fn peer_status(uri: &str) -> Result<PeerStatus, IngestError> {
    let mut c = client(uri).await?;
    Ok(c.get_peer_status(GetStatusRequest {})
        .await
        .map_err(|s| call_failed(uri, s))?
        .into_inner())
}

/// The first peer that says it is active, if any. Peers that cannot be reached are logged
/// and skipped: a peer that is down scans nothing, and one that is cut off from us but not
/// from the recovery DB is fenced there.
pub async fn active_peer(peers: &[String]) -> Option<String> {
    for uri in peers {
        match peer_status(uri).await {
            Ok(s) if s.mode == WireMode::Active as i32 => return Some(uri.clone()),
            Ok(_) => {}
            Err(e) => tracing::debug!("peer status: {e}"),
        }
    }
    None
}

/// Opens an attested channel to `uri`'s enclave; returns the channel id.
async fn open_channel<D: RecoveryDb>(
    server: &Shared<D>,
    uri: &str,
) -> Result<Vec<u8>, IngestError> {
    let (token, hello) = server.lock().await.peer_initiate()?;
    let mut c = client(uri).await?;
    let answer = c
        .peer_handshake(PeerHandshakeRequest { message: hello })
        .await
        .map_err(|s| call_failed(uri, s))?
        .into_inner();
    let id = server.lock().await.peer_finish(token, &answer.message)?;
    if id != answer.channel_id {
        return Err(unreachable(uri, "the peer named another channel"));
    }
    Ok(id)
}

/// Gives this server's ingress key to the peer at `uri`, enclave to enclave. Returns the
/// peer's status after it took the key.
pub async fn push_key<D: RecoveryDb>(
    server: &Shared<D>,
    uri: &str,
) -> Result<PeerStatus, IngestError> {
    let channel_id = open_channel(server, uri).await?;
    let frame = server.lock().await.send_ingress_key(&channel_id)?;
    let mut c = client(uri).await?;
    let status = c
        .receive_ingress_key(IngressKeyFrame { channel_id, frame })
        .await
        .map_err(|s| call_failed(uri, s))?
        .into_inner();
    tracing::info!(peer = uri, "ingress key shared with a peer enclave");
    Ok(status)
}

/// Copies the ingress key of the peer at `uri` into this idle server, enclave to enclave
/// (the operator's `sync-keys-from`).
pub async fn pull_key<D: RecoveryDb>(server: &Shared<D>, uri: &str) -> Result<(), IngestError> {
    if server.lock().await.mode() == Mode::Active {
        return Err(IngestError::Active);
    }
    let channel_id = open_channel(server, uri).await?;
    let mut c = client(uri).await?;
    let frame = c
        .send_ingress_key(SendIngressKeyRequest {
            channel_id: channel_id.clone(),
        })
        .await
        .map_err(|s| call_failed(uri, s))?
        .into_inner();
    server
        .lock()
        .await
        .receive_ingress_key(&channel_id, &frame.frame)
        .await?;
    tracing::info!(peer = uri, "ingress key copied from a peer enclave");
    Ok(())
}

/// The operator's `activate`: refused if a peer is active (naming it), else the server
/// takes its key ([`IngestServer::activate`]) and gives it to every peer.
pub async fn activate<D: RecoveryDb>(server: &Shared<D>) -> Result<(), IngestError> {
    let peers = {
        let s = server.lock().await;
        if s.mode() == Mode::Active {
            return Ok(());
        }
        s.peers().to_vec()
    };
    if let Some(uri) = active_peer(&peers).await {
        return Err(IngestError::PeerActive(uri));
    }
    server.lock().await.activate().await?;
    share_key(server, &peers, true).await;
    Ok(())
}

/// Gives this server's key to each peer whose key differs (every peer when `all`); failures
/// are logged, and retried at the next sync.
async fn share_key<D: RecoveryDb>(server: &Shared<D>, peers: &[String], all: bool) {
    let key = server.lock().await.ingress_key().0;
    for uri in peers {
        if !all {
            match peer_status(uri).await {
                Ok(s) if s.ingress_public_key == key => continue,
                Ok(s) if s.mode == WireMode::Active as i32 => {
                    tracing::warn!(peer = %uri, "a peer is active with another key");
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!("peer sync: {e}");
                    continue;
                }
            }
        }
        if let Err(e) = push_key(server, uri).await {
            tracing::warn!(peer = %uri, "could not share the ingress key: {e}");
        }
    }
}

/// When each duty last ran.
#[derive(Debug, Default)]
pub struct Duties {
    last_sync: Option<Instant>,
    last_failover_check: Option<Instant>,
}

/// The duties between blocks. Active: a heartbeat (which also notices being fenced), and
/// every [`crate::IngestConfig::peer_sync_interval`] the key given to peers that hold
/// another. Idle with failover on: every heartbeat interval, if no peer is active, a
/// conditional take-over of the key. Errors are logged; the next tick tries again.
pub async fn tick<D: RecoveryDb>(server: &Shared<D>, duties: &mut Duties) {
    let (mode, peers, config) = {
        let s = server.lock().await;
        (s.mode(), s.peers().to_vec(), s.config().clone())
    };
    match mode {
        Mode::Active => {
            if let Err(e) = server.lock().await.heartbeat().await {
                tracing::warn!("heartbeat failed: {e}");
            }
            let due = duties
                .last_sync
                .is_none_or(|t| t.elapsed() >= config.peer_sync_interval);
            if due && !peers.is_empty() {
                duties.last_sync = Some(Instant::now());
                share_key(server, &peers, false).await;
            }
        }
        Mode::Idle => {
            if config.failover_timeout.is_none() {
                return;
            }
            let due = duties
                .last_failover_check
                .is_none_or(|t| t.elapsed() >= config.heartbeat_interval);
            if !due {
                return;
            }
            duties.last_failover_check = Some(Instant::now());
            if let Some(uri) = active_peer(&peers).await {
                tracing::trace!(peer = %uri, "a peer is active; staying idle");
                return;
            }
            match server.lock().await.try_fail_over().await {
                Ok(true) => {
                    duties.last_sync = None;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!("failover check failed: {e}"),
            }
        }
    }
}

/// How often [`run_duties`] looks at its duties (each is rate-limited on its own).
pub const DUTY_TICK: Duration = Duration::from_millis(50);

/// Runs [`tick`] every [`DUTY_TICK`], forever (the block loop aborts it).
pub async fn run_duties<D: RecoveryDb>(server: Shared<D>) {
    let mut duties = Duties::default();
    loop {
        tick(&server, &mut duties).await;
        tokio::time::sleep(DUTY_TICK).await;
    }
}

/// The mode as `fog_ingest.Mode` carries it.
pub(crate) fn wire_mode(mode: Mode) -> i32 {
    match mode {
        Mode::Idle => WireMode::Idle as i32,
        Mode::Active => WireMode::Active as i32,
    }
}

fn peer_status_of<D: RecoveryDb>(s: &IngestServer<D>) -> PeerStatus {
    let st = s.status();
    PeerStatus {
        mode: wire_mode(st.mode),
        ingress_public_key: st.ingress_public_key.to_vec(),
        next_block: st.next_block,
    }
}

/// The one place a peer-call error becomes a gRPC status: fixed messages, details logged.
fn to_status(e: &IngestError) -> Status {
    tracing::warn!("peer request failed: {e}");
    match e {
        IngestError::Active => {
            Status::failed_precondition("this server is active and keeps its ingress key")
        }
        IngestError::NoPeerLink => Status::failed_precondition("no attested peer channels here"),
        // A call that did not go through this server's enclave boundary is no fault of the
        // peer's: its detail stays in the log.
        IngestError::Peer(PeerError::Boundary(_))
        | IngestError::Enclave(EnclaveError::Boundary(_))
        | IngestError::PeerEvidence(_) => Status::internal("internal error"),
        IngestError::Peer(p) => Status::permission_denied(p.to_string()),
        IngestError::RecoveryDb(db) if db.should_retry() => {
            Status::unavailable("recovery DB unavailable")
        }
        _ => Status::internal("internal error"),
    }
}

/// The `IngestPeer` service over a shared server.
pub struct PeerService<D: RecoveryDb> {
    server: Shared<D>,
}

impl<D: RecoveryDb> PeerService<D> {
    /// Serves peer requests for `server`.
    pub fn new(server: Shared<D>) -> Self {
        Self { server }
    }

    /// The tonic service.
    pub fn into_server(self) -> IngestPeerServer<Self> {
        IngestPeerServer::new(self)
    }
}

#[tonic::async_trait]
impl<D: RecoveryDb> IngestPeer for PeerService<D> {
    async fn get_peer_status(
        &self,
        _: Request<GetStatusRequest>,
    ) -> Result<Response<PeerStatus>, Status> {
        Ok(Response::new(peer_status_of(&*self.server.lock().await)))
    }

    async fn peer_handshake(
        &self,
        request: Request<PeerHandshakeRequest>,
    ) -> Result<Response<PeerHandshakeResponse>, Status> {
        let hello = request.into_inner().message;
        let (channel_id, message) = self
            .server
            .lock()
            .await
            .peer_accept(&hello)
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(PeerHandshakeResponse {
            channel_id,
            message,
        }))
    }

    async fn receive_ingress_key(
        &self,
        request: Request<IngressKeyFrame>,
    ) -> Result<Response<PeerStatus>, Status> {
        let f = request.into_inner();
        let mut s = self.server.lock().await;
        s.receive_ingress_key(&f.channel_id, &f.frame)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(peer_status_of(&s)))
    }

    async fn send_ingress_key(
        &self,
        request: Request<SendIngressKeyRequest>,
    ) -> Result<Response<IngressKeyFrame>, Status> {
        let channel_id = request.into_inner().channel_id;
        let frame = self
            .server
            .lock()
            .await
            .send_ingress_key(&channel_id)
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(IngressKeyFrame { channel_id, frame }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fog_enclave_api::EnclaveError as Boundary;
    use tonic::Code;

    #[test]
    fn a_failed_enclave_call_is_internal_and_says_nothing_more() {
        for e in [
            IngestError::Peer(PeerError::Boundary(Boundary::Malformed)),
            IngestError::Peer(PeerError::Boundary(Boundary::NotInitialized)),
            IngestError::Enclave(EnclaveError::Boundary(Boundary::Internal)),
            IngestError::PeerEvidence(fog_attest::Error::KeyGeneration),
        ] {
            let status = to_status(&e);
            assert_eq!(status.code(), Code::Internal, "{e}");
            assert_eq!(status.message(), "internal error", "{e}");
        }
        // The peer's handshake or frame refused by this enclave is the peer's problem.
        for p in [
            PeerError::Handshake,
            PeerError::BadFrame,
            PeerError::UnknownChannel,
        ] {
            assert_eq!(
                to_status(&IngestError::Peer(p)).code(),
                Code::PermissionDenied
            );
        }
    }
}
