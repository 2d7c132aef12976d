//! The real services in-process, for the end-to-end tests: attestation providers, port-0
//! listeners (and binding an address again after a restart), ingest, view, fog ledger and
//! report servers that can be stopped, the true balance by a view-key scan of the ledger,
//! and a client whose every balance is checked against it.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use fog_account::AccountKey;
use fog_api::fog_node::{LedgerInfo, SubmitTxResponse};
use fog_attest::wire::ReportResponse;
use fog_attest::{
    BoundEvidence, ChannelKeypair, EnclaveResponder, FogEnclave, IdentityRule, Policy, Report,
    SimProvider, Verifier,
};
use fog_client::{
    AccountState, Balance, ClientConfig, FogClient, GrpcConfig, GrpcTransport, Transport,
};
use fog_crypto::RistrettoPublic;
use fog_enclave::{boundary::ingest::IngestBoundary, sealing::SealingKeyProvider};
use fog_ingest_server::{IngestConfig, IngestServer, NoEvidence, StateDir};
use fog_ledger_db::LedgerDb;
use fog_ledger_server::{LedgerServer, LedgerServerConfig};
use fog_node::{write_origin_block, BlockCutter, Node, NodeConfig};
use fog_recovery_db::SqliteRecoveryDb;
use fog_report_server::{authority::AuthorityFiles, InMemoryReportSource, SigningConfig};
use fog_transaction::{validation::MOB_MINIMUM_FEE, Amount, TokenId};
use fog_types::{
    ledger::{
        BlockIdsRequest, BlockIdsResponse, BlockRequest, BlockResponse, CheckKeyImagesRequest,
        CheckKeyImagesResponse, GetOutputsRequest, GetOutputsResponse,
    },
    view::{QueryRequest, QueryRequestAad, QueryResponse},
};
use fog_view_server::{ViewConfig, ViewServer};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::net::TcpListener;

pub const MOB: u64 = 1_000_000_000_000;
pub const FEE: u64 = MOB_MINIMUM_FEE;

/// A test's fog authority (written under `dir`), the report server's listener, and three
/// accounts whose fog addresses point at it.
pub struct FogUsers {
    pub files: AuthorityFiles,
    pub report_listener: TcpListener,
    pub alice: AccountKey,
    pub bob: AccountKey,
    pub carol: AccountKey,
}

pub async fn fog_users(dir: &Path, rng: &mut ChaCha20Rng) -> FogUsers {
    let files = fog_report_server::authority::new_authority(&dir.join("authority"), "Test fog", 30)
        .unwrap();
    let (report_listener, report_addr) = listener().await;
    let url = format!("insecure-fog://{report_addr}");
    let mut account = || AccountKey::random(rng).with_fog(&url, "", &files.root_spki_der);
    let (alice, bob, carol) = (account(), account(), account());
    FogUsers {
        files,
        report_listener,
        alice,
        bob,
        carol,
    }
}

/// Writes the origin block: four 10-MOB TxOuts to `to` among 30 strangers' 1-MOB TxOuts, all
/// with fog hints to `ingress`.
pub fn write_funded_origin(
    ledger: &LedgerDb,
    to: &AccountKey,
    ingress: &RistrettoPublic,
    rng: &mut ChaCha20Rng,
) {
    let mut funding: Vec<_> = (0..4)
        .map(|_| (to.default_subaddress(), Amount::new(10 * MOB, TokenId::MOB)))
        .collect();
    for _ in 0..30 {
        let stranger = AccountKey::random(rng).default_subaddress();
        funding.push((stranger, Amount::new(MOB, TokenId::MOB)));
    }
    write_origin_block(ledger, &funding, Some(ingress), rng).unwrap();
}

/// The ledger node on a port-0 listener, cutting a block every 100 ms until the returned
/// cutter is dropped.
pub async fn start_node(ledger: &LedgerDb) -> (Arc<Node>, SocketAddr, BlockCutter) {
    let node = Arc::new(
        Node::new(
            ledger.clone(),
            NodeConfig::default().with_block_interval(Duration::from_millis(100)),
        )
        .unwrap(),
    );
    let (node_listener, node_addr) = listener().await;
    tokio::spawn(fog_node::serve(node_listener, Arc::clone(&node)));
    let cutter = node.start_block_cutter();
    (node, node_addr, cutter)
}

/// A simulated attestation provider for `enclave`, and the verifier that trusts it.
pub fn provider(seed: u64, enclave: FogEnclave) -> (SimProvider, Verifier) {
    let identity = fog_attest::fog_identity(enclave);
    let p = SimProvider::generate(&mut ChaCha20Rng::seed_from_u64(seed), identity);
    let v = Verifier::new(
        p.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    (p, v)
}

/// A fresh enclave identity on `p`'s platform: new channel keys, new evidence.
pub fn responder(p: &SimProvider) -> EnclaveResponder {
    EnclaveResponder::from_provider(p).unwrap()
}

/// A port-0 listener on the loopback interface, and its address.
pub async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A listener on `addr` again, after the service that held it stopped: retried for up to
/// 5 s in case the port is not free yet.
pub async fn rebind(addr: SocketAddr) -> TcpListener {
    let mut last = None;
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} could not be bound again within 5 s: {last:?}");
}

/// Polls `done` every 20 ms for up to `seconds`; panics naming `what` if it never holds.
pub async fn wait_until(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    for _ in 0..seconds * 50 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not happen within {seconds} s");
}

/// A service running on the test's runtime (`fog_system::inproc`). [`Running::stop`] shuts
/// it down and waits for its tasks; dropping it also shuts it down, without waiting.
pub struct Running(fog_system::inproc::Running);

impl Running {
    /// Signals shutdown and waits until every task has returned: the service's listener is
    /// closed when this returns.
    pub async fn stop(self) {
        self.0.stop().await.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The ingest configuration every test opens ingest with.
pub fn ingest_config() -> IngestConfig {
    IngestConfig {
        user_capacity: 1 << 10,
        poll_interval: Duration::from_millis(20),
        ..IngestConfig::default()
    }
}

/// Opens ingest on `state` (creating or restoring its sealed ingress key) and `db`.
/// A test's ledger (`dir/ledger.redb`), recovery DB (`dir/recovery.db`) and ingest server on
/// them (state in `dir/ingest`).
pub async fn open_stores(
    dir: &Path,
) -> (LedgerDb, SqliteRecoveryDb, IngestServer<SqliteRecoveryDb>) {
    let ledger = LedgerDb::create(dir.join("ledger.redb")).unwrap();
    let db = SqliteRecoveryDb::open(dir.join("recovery.db")).unwrap();
    let ingest = open_ingest(&ledger, &db, &dir.join("ingest")).await;
    (ledger, db, ingest)
}

pub async fn open_ingest(
    ledger: &LedgerDb,
    db: &SqliteRecoveryDb,
    state: &Path,
) -> IngestServer<SqliteRecoveryDb> {
    let state = StateDir::new(PathBuf::from(state)).unwrap();
    // The simulated ingest enclave, loaded as `fogd ingest` loads it: sealing with the
    // platform key in the state directory (made on first use), so a restart restores the key.
    let platform = state.path().join("platform.key");
    let sealing = match std::fs::read(&platform) {
        Ok(bytes) => SealingKeyProvider::simulated_from_bytes(&bytes).unwrap(),
        Err(_) => {
            let (sealing, bytes) =
                SealingKeyProvider::simulated_generate(&mut ChaCha20Rng::from_entropy());
            std::fs::write(&platform, &bytes[..]).unwrap();
            sealing
        }
    };
    IngestServer::open(
        ledger.clone(),
        db.clone(),
        state,
        ingest_config(),
        Box::new(NoEvidence),
        IngestBoundary::simulated(sealing, None).unwrap(),
    )
    .await
    .unwrap()
}

/// Runs an opened ingest server: it follows the ledger until stopped.
pub fn run_ingest(server: IngestServer<SqliteRecoveryDb>) -> Running {
    Running(fog_system::inproc::ingest(Arc::new(tokio::sync::Mutex::new(server)), None).unwrap())
}

/// A new view server (a new enclave on `p`'s platform, loading the recovery DB from the
/// start) serving on `listener`.
pub fn start_view(db: &SqliteRecoveryDb, p: &SimProvider, listener: TcpListener) -> Running {
    let config = ViewConfig {
        partitions: 2,
        capacity_per_partition: 1 << 10,
        poll_interval: Duration::from_millis(20),
        ..ViewConfig::default()
    };
    let enclave =
        fog_enclave::boundary::view::ViewBoundary::simulated(&config.enclave(), None).unwrap();
    fog_enclave_api::view::ViewClient::new(enclave.clone())
        .attest(p)
        .unwrap();
    let view = Arc::new(ViewServer::new(Arc::new(db.clone()), enclave, config));
    Running(fog_system::inproc::view(view, listener))
}

/// A new fog ledger server (a new enclave on `p`'s platform, its key-image store filled from
/// the ledger DB) serving on `listener`.
pub fn start_fog_ledger(ledger: &LedgerDb, p: &SimProvider, listener: TcpListener) -> Running {
    let enclave = fog_enclave::boundary::ledger::LedgerBoundary::simulated(
        fog_enclave::boundary::ledger::LedgerConfig {
            key_image_capacity: 1 << 12,
            ..Default::default()
        },
    )
    .unwrap();
    let server = LedgerServer::new(
        ledger.clone(),
        enclave,
        p,
        LedgerServerConfig {
            poll_interval: Duration::from_millis(20),
            ..LedgerServerConfig::default()
        },
    )
    .unwrap();
    Running(fog_system::inproc::fog_ledger(Arc::new(server), listener))
}

/// A report server on `listener` publishing one report: `p`'s evidence for an ingest enclave
/// binding `ingress`, signed with `authority`'s chain and leaf key.
pub fn start_report(
    listener: TcpListener,
    p: &SimProvider,
    ingress: &RistrettoPublic,
    authority: &AuthorityFiles,
) -> Running {
    let channel = ChannelKeypair::generate().unwrap();
    let custom = ingress.to_bytes();
    let reports = Arc::new(InMemoryReportSource::new());
    reports.set(Report {
        fog_report_id: String::new(),
        evidence: BoundEvidence::bind(p, channel.public_key(), Some(&custom)).unwrap(),
        pubkey_expiry: 1_000_000,
    });
    let signing = SigningConfig::load(&authority.chain_pem, &authority.leaf_key).unwrap();
    Running(fog_system::inproc::report(listener, reports, signing))
}

/// The true balance of `account` (MOB; default and change subaddresses) for blocks below
/// `n`, by scanning the ledger with the view key: the one oracle, `fog_system::oracle`.
pub fn truth(ledger: &LedgerDb, account: &AccountKey, n: u64) -> u128 {
    fog_system::oracle::balance(ledger, account, n).unwrap()
}

/// One client with the invariant checked on every balance it reports: exact for its block
/// count, and the block count never goes back.
pub struct Checked<T = GrpcTransport> {
    pub client: FogClient<T>,
    pub ledger: LedgerDb,
    /// The block count of the last balance checked.
    pub last: u64,
    pub name: &'static str,
}

impl<T: Transport> Checked<T> {
    pub fn new(client: FogClient<T>, ledger: LedgerDb, name: &'static str) -> Self {
        Self {
            client,
            ledger,
            last: 0,
            name,
        }
    }

    pub async fn balance(&mut self) -> Balance {
        let b = self
            .client
            .check_balance()
            .await
            .unwrap_or_else(|e| panic!("{}: the balance check failed: {e}", self.name));
        assert!(
            b.block_count >= self.last,
            "{}: block count went back from {} to {}",
            self.name,
            self.last,
            b.block_count
        );
        assert!(b.block_count <= self.ledger.num_blocks().unwrap());
        assert_eq!(
            b.of(0),
            truth(&self.ledger, self.client.account(), b.block_count),
            "{}: balance at block count {} is not exact",
            self.name,
            b.block_count
        );
        self.last = b.block_count;
        b
    }

    /// Checks until the balance covers `blocks` blocks.
    pub async fn balance_at_least(&mut self, blocks: u64) -> Balance {
        for _ in 0..600 {
            let b = self.balance().await;
            if b.block_count >= blocks {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{}: the balance never reached block count {blocks}",
            self.name
        );
    }
}

/// View, fog ledger and report running for a test (each on a fresh enclave of its own
/// simulated platform), and the client settings that reach them and the node.
pub struct FogServices {
    pub running: Vec<Running>,
    pub grpc: GrpcConfig,
    pub config: ClientConfig,
}

impl FogServices {
    /// Starts view on `db`, fog ledger on `ledger` and the report server on
    /// `report_listener` (the ingest enclave's evidence binding `ingress`).
    pub async fn start(
        db: &SqliteRecoveryDb,
        ledger: &LedgerDb,
        node_addr: SocketAddr,
        report_listener: TcpListener,
        ingress: &RistrettoPublic,
        files: &AuthorityFiles,
    ) -> Self {
        let (view_provider, view_verifier) = provider(1, FogEnclave::View);
        let (view_listener, view_addr) = listener().await;
        let view = start_view(db, &view_provider, view_listener);
        let (ledger_provider, ledger_verifier) = provider(2, FogEnclave::Ledger);
        let (fog_ledger_listener, fog_ledger_addr) = listener().await;
        let fog_ledger = start_fog_ledger(ledger, &ledger_provider, fog_ledger_listener);
        let (ingest_provider, ingest_verifier) = provider(3, FogEnclave::Ingest);
        let report = start_report(report_listener, &ingest_provider, ingress, files);
        let grpc = GrpcConfig::new(
            format!("http://{view_addr}"),
            format!("http://{fog_ledger_addr}"),
            format!("http://{node_addr}"),
            view_verifier,
            ledger_verifier,
        );
        let mut config = ClientConfig::new(ingest_verifier);
        config.poll_interval = Duration::from_millis(100);
        config.confirm_timeout = Duration::from_secs(120);
        Self {
            running: vec![view, fog_ledger, report],
            grpc,
            config,
        }
    }

    /// A checked client of `account` with a fresh state, over gRPC.
    pub fn client(&self, account: AccountKey, ledger: &LedgerDb, name: &'static str) -> Checked {
        Checked::new(
            FogClient::new(
                GrpcTransport::new(self.grpc.clone()),
                account,
                AccountState::new(),
                self.config.clone(),
            ),
            ledger.clone(),
            name,
        )
    }
}

/// What a test changes in the traffic of an [`Intercepted`] transport; every call not named
/// here goes to the real services as it is.
pub trait Hooks: Send {
    /// Changes a `GetBlocks` answer (an operator's host, or anyone on the plain gRPC path).
    fn blocks(&mut self, _answer: &mut BlockResponse) {}

    /// Answers a submission instead of the node (`None`: the node gets it).
    fn submit(&mut self, _tx: &fog_transaction::wire::Tx) -> Option<SubmitTxResponse> {
        None
    }
}

/// The gRPC transport with a test's [`Hooks`] on its way.
pub struct Intercepted<H> {
    pub inner: GrpcTransport,
    pub hooks: H,
}

impl<H: Hooks> Transport for Intercepted<H> {
    async fn view_query(
        &mut self,
        aad: QueryRequestAad,
        request: QueryRequest,
    ) -> fog_client::Result<QueryResponse> {
        self.inner.view_query(aad, request).await
    }

    async fn check_key_images(
        &mut self,
        request: CheckKeyImagesRequest,
    ) -> fog_client::Result<CheckKeyImagesResponse> {
        self.inner.check_key_images(request).await
    }

    async fn get_outputs(
        &mut self,
        request: GetOutputsRequest,
    ) -> fog_client::Result<GetOutputsResponse> {
        self.inner.get_outputs(request).await
    }

    async fn block_ids(
        &mut self,
        request: BlockIdsRequest,
    ) -> fog_client::Result<BlockIdsResponse> {
        self.inner.block_ids(request).await
    }

    async fn get_blocks(&mut self, request: BlockRequest) -> fog_client::Result<BlockResponse> {
        let mut answer = self.inner.get_blocks(request).await?;
        self.hooks.blocks(&mut answer);
        Ok(answer)
    }

    async fn get_reports(&mut self, fog_report_url: &str) -> fog_client::Result<ReportResponse> {
        self.inner.get_reports(fog_report_url).await
    }

    async fn submit_tx(
        &mut self,
        tx: fog_transaction::wire::Tx,
    ) -> fog_client::Result<SubmitTxResponse> {
        match self.hooks.submit(&tx) {
            Some(answer) => Ok(answer),
            None => self.inner.submit_tx(tx).await,
        }
    }

    async fn ledger_info(&mut self) -> fog_client::Result<LedgerInfo> {
        self.inner.ledger_info().await
    }
}
