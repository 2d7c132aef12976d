//! `fogd local-network`: the whole system in one process, for people trying Fog and for
//! tests. The ledger node, ingest (with its admin API), view, fog ledger and the report
//! server run as tokio tasks on 127.0.0.1, over an embedded ledger DB and a SQLite recovery
//! DB in one directory, with the fog authority, one simulated quoting key for every enclave,
//! and three funded demo wallets that `fog-wallet` uses as they are.
//!
//! The directory, once made, is a network: `fogd local-network --dir DIR` starts it again
//! where it stopped (same ports, same keys, the ingest service resuming after its last
//! block). `--demo` runs a scripted series of payments between the demo wallets through the
//! wallet library (the code behind `fog-wallet`), in MOB and in token 1, checks every balance
//! a wallet reports, in both tokens, against a view-key scan of the ledger at the block count
//! it names, prints the balances after each step, stops the network and exits 0 only if every
//! balance was exact.

use std::{
    fmt::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Args;
use fog_account::AccountKey;
use fog_attest::{policy_file::PolicyFile, FogEnclave, SimProvider};
use fog_client::history::{EntryKind, Sender};
use fog_crypto::RistrettoPublic;
use fog_ingest_server::{IngestConfig, IngestServer, StateDir};
use fog_ledger_db::LedgerDb;
use fog_ledger_server::{LedgerServer, LedgerServerConfig};
use fog_node::{Node, NodeConfig};
use fog_recovery_db::{RecoveryDb, SqliteRecoveryDb};
use fog_report_server::SigningConfig;
use fog_transaction::{Amount, TokenId};
use fog_view_server::{ViewConfig, ViewServer};
use fog_wallet::{amount::format_amount, NetworkOverrides, NetworkSettings, Session};
use serde::{Deserialize, Serialize};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{failed, input, CliError};

mod processes;

/// The file that makes a directory a local network.
const LAYOUT_FILE: &str = "local-network.json";

/// The demo wallets.
const WALLETS: [&str; 3] = ["alice", "bob", "carol"];

/// picoMOB per MOB.
const MOB: u64 = 1_000_000_000_000;

/// Each demo wallet's funding: this many TxOuts of [`FUNDING_VALUE`].
const FUNDING_TXOUTS: usize = 5;
const FUNDING_VALUE: u64 = 20 * MOB;

/// Each demo wallet's funding in token 1 ([`fog_system::network::TOKEN_1`]): this many TxOuts
/// of [`TOKEN_1_FUNDING_VALUE`] (smallest units).
const TOKEN_1_FUNDING_TXOUTS: usize = 3;
const TOKEN_1_FUNDING_VALUE: u64 = 1_000_000;

/// TxOuts to accounts nobody holds, so rings have members from the first payment on.
const STRANGERS: usize = 20;

/// The default first port: node, ingest admin, view, fog ledger, report follow.
const DEFAULT_BASE_PORT: u16 = 3223;

/// How long the services may take to catch up with the ledger at start.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// How long a wallet may take to see a block in the demo.
const DEMO_STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// Arguments of `fogd local-network`.
#[derive(Debug, Args)]
pub struct LocalNetworkArgs {
    /// The network's directory: ledger DB, recovery DB, keys and demo wallets. Default: a new
    /// directory under the system's temporary directory (printed). A directory that already
    /// holds a local network is started again where it stopped.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Run the scripted demo (payments between the demo wallets, balances after each step),
    /// then stop; the exit code is 0 only if every balance was exact.
    #[arg(long)]
    demo: bool,
    /// The first of five consecutive ports on 127.0.0.1 (node, ingest admin, view, fog
    /// ledger, report); 0 picks free ports. Default 3223 for a new network; a network started
    /// again keeps its ports.
    #[arg(long, value_name = "PORT")]
    base_port: Option<u16>,
    /// Run each service as its own `fogd` child process (node, ingest, view, fog ledger,
    /// report), as on separate hosts: ingest and fog ledger follow the node into ledger copies
    /// of their own. Logs go to `DIR/logs/`.
    #[arg(long)]
    processes: bool,
    /// The recovery DB for `--processes` (`postgres://…`; a new network needs an empty
    /// database). Default: `recovery.db` (SQLite) in the directory.
    #[arg(long = "recovery-db", value_name = "URL", requires = "processes")]
    recovery_db: Option<String>,
    /// Serve the web wallet (`web/`, built by `scripts/web.sh build`) on this loopback
    /// address, e.g. 127.0.0.1:8080; every service allows its origin (CORS, grpc-web).
    #[arg(long, value_name = "ADDR", conflicts_with = "processes")]
    web: Option<SocketAddr>,
    /// The web wallet's directory (default: `web/` of this source tree).
    #[arg(long = "web-root", value_name = "DIR", requires = "web")]
    web_root: Option<PathBuf>,
}

/// `local-network.json`: where the services listen and which wallets exist.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Layout {
    version: u32,
    node: SocketAddr,
    ingest_admin: SocketAddr,
    view: SocketAddr,
    ledger: SocketAddr,
    report: SocketAddr,
    wallets: Vec<String>,
    /// The recovery DB is Postgres (its URL is given again at each start, never stored).
    #[serde(default)]
    postgres: bool,
}

impl Layout {
    fn addrs(&self) -> [(&'static str, SocketAddr); 5] {
        [
            ("ledger node", self.node),
            ("ingest admin", self.ingest_admin),
            ("fog view", self.view),
            ("fog ledger", self.ledger),
            ("fog report", self.report),
        ]
    }

    fn report_url(&self) -> String {
        format!("insecure-fog://{}", self.report)
    }

    /// The wallets' settings: the services' URLs, pinned by the network's attestation policy.
    fn network(&self, attestation_policy: &str) -> NetworkSettings {
        NetworkSettings {
            node_url: format!("http://{}", self.node),
            view_url: format!("http://{}", self.view),
            ledger_url: format!("http://{}", self.ledger),
            attestation_key: String::new(),
            attestation_policy: Some(attestation_policy.to_owned()),
        }
    }
}

/// The directory's files.
struct Paths {
    dir: PathBuf,
}

impl Paths {
    fn layout(&self) -> PathBuf {
        self.dir.join(LAYOUT_FILE)
    }
    fn ledger(&self) -> PathBuf {
        self.dir.join("ledger.redb")
    }
    fn recovery(&self) -> PathBuf {
        self.dir.join("recovery.db")
    }
    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
    /// What wallets of this network trust (`fog-wallet --attestation-policy`).
    fn attestation_policy(&self) -> PathBuf {
        self.state().join("attestation-policy.toml")
    }
    fn authority(&self) -> PathBuf {
        self.files().authority()
    }
    fn root_spki(&self) -> PathBuf {
        self.files().root_spki()
    }
    fn wallet(&self, name: &str) -> PathBuf {
        self.files().wallet(name)
    }
    fn files(&self) -> fog_system::network::Files {
        fog_system::network::Files {
            dir: self.dir.clone(),
        }
    }
}

/// Runs the local network until Ctrl-C or SIGTERM, or through the demo.
pub fn run(args: LocalNetworkArgs) -> Result<(), CliError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .init();
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(run_async(args))
}

/// Picks the directory: the given one (new, empty, or an existing network) or a fresh one.
fn choose_dir(dir: Option<PathBuf>) -> Result<(PathBuf, bool), CliError> {
    let dir = match dir {
        Some(d) => d,
        None => {
            let secs = crate::accounts::now_secs();
            std::env::temp_dir().join(format!("fog-local-network-{secs}-{}", std::process::id()))
        }
    };
    if dir.join(LAYOUT_FILE).exists() {
        return Ok((dir, true));
    }
    match std::fs::read_dir(&dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(input(format!(
                    "{} is not empty and holds no local network ({LAYOUT_FILE}): give a new or \
                     empty directory",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| input(format!("cannot create {}: {e}", dir.display())))?;
        }
        Err(e) => return Err(input(format!("cannot read {}: {e}", dir.display()))),
    }
    Ok((dir, false))
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, CliError> {
    TcpListener::bind(addr).await.map_err(|e| {
        input(format!(
            "cannot listen on {addr} for the {what}: {e} (is another local network running? \
             --base-port picks other ports for a new network)"
        ))
    })
}

/// Binds the five listeners: at the layout's addresses, or from `base` (0: free ports).
async fn bind_all(
    layout: Option<&Layout>,
    base: u16,
) -> Result<(Vec<TcpListener>, Layout), CliError> {
    let wanted: Vec<SocketAddr> = match layout {
        Some(l) => l.addrs().iter().map(|(_, a)| *a).collect(),
        None => {
            if base != 0 && base > u16::MAX - 4 {
                return Err(input(
                    "--base-port must leave room for five ports (at most 65531)",
                ));
            }
            (0..5u16)
                .map(|i| {
                    let port = if base == 0 { 0 } else { base + i };
                    SocketAddr::from(([127, 0, 0, 1], port))
                })
                .collect()
        }
    };
    let names = [
        "ledger node",
        "ingest admin API",
        "view service",
        "fog ledger",
        "report server",
    ];
    let mut listeners = Vec::with_capacity(5);
    let mut bound = Vec::with_capacity(5);
    for (addr, what) in wanted.iter().zip(names) {
        let l = bind(*addr, what).await?;
        bound.push(
            l.local_addr()
                .map_err(|e| failed(format!("no local address: {e}")))?,
        );
        listeners.push(l);
    }
    let layout = Layout {
        version: 1,
        node: bound[0],
        ingest_admin: bound[1],
        view: bound[2],
        ledger: bound[3],
        report: bound[4],
        wallets: layout.map_or_else(
            || WALLETS.iter().map(|s| s.to_string()).collect(),
            |l| l.wallets.clone(),
        ),
        postgres: layout.is_some_and(|l| l.postgres),
    };
    Ok((listeners, layout))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))
}

/// Makes a new network's keys, wallets and origin block.
fn create(
    paths: &Paths,
    layout: &Layout,
    attestation_policy: &str,
    ingress: &RistrettoPublic,
    ledger: &LedgerDb,
) -> Result<(), CliError> {
    let plan = fog_system::network::Plan {
        wallets: layout.wallets.clone(),
        report_url: layout.report_url(),
        network: layout.network(attestation_policy),
        funding_txouts: FUNDING_TXOUTS,
        funding_value: FUNDING_VALUE,
        other_tokens: vec![fog_system::network::TokenFunding {
            token_id: fog_system::network::TOKEN_1,
            txouts: TOKEN_1_FUNDING_TXOUTS,
            value: TOKEN_1_FUNDING_VALUE,
        }],
        strangers: STRANGERS,
    };
    fog_system::network::create(&paths.files(), &plan, ingress, ledger).map_err(failed)
}

/// The running services.
struct Services {
    running: Vec<fog_system::inproc::Running>,
    renewals: Vec<JoinHandle<()>>,
    view: Arc<ViewServer<SqliteRecoveryDb>>,
    ledger_server: Arc<LedgerServer>,
}

impl Services {
    /// Whether view and fog ledger have every block of the ledger.
    fn caught_up(&self, ledger: &LedgerDb) -> bool {
        let Ok(blocks) = ledger.num_blocks() else {
            return false;
        };
        let view = self.view.status().highest_processed_block_count >= blocks;
        let fog_ledger = self
            .ledger_server
            .status()
            .is_ok_and(|s| s.blocks_behind() == 0);
        view && fog_ledger
    }

    /// A service that stopped by itself.
    fn failure(&self) -> Option<String> {
        self.running
            .iter()
            .find(|r| r.is_finished())
            .map(|r| format!("the {} stopped unexpectedly", r.name()))
    }

    async fn shutdown(self) -> Vec<String> {
        for r in &self.renewals {
            r.abort();
        }
        let mut errors = Vec::new();
        for r in self.running {
            if let Err(e) = r.stop().await {
                errors.push(e);
            }
        }
        errors
    }
}

async fn start_services(
    paths: &Paths,
    listeners: Vec<TcpListener>,
    ledger: &LedgerDb,
    db: &SqliteRecoveryDb,
    ingest: IngestServer<SqliteRecoveryDb>,
    quoting: &fog_attest::ed25519_dalek::SigningKey,
) -> Result<Services, CliError> {
    use fog_system::inproc;
    let mut listeners = listeners.into_iter();
    let mut next = || {
        listeners
            .next()
            .ok_or_else(|| failed("a listener is missing"))
    };
    let (node_l, ingest_l, view_l, ledger_l, report_l) =
        (next()?, next()?, next()?, next()?, next()?);
    let mut running = Vec::new();

    // The ledger node, cutting a block every 250 ms while transactions are pending, taking
    // MOB and token 1.
    let node = Node::new(
        ledger.clone(),
        fog_system::network::node_config(
            NodeConfig::default().with_block_interval(Duration::from_millis(250)),
        ),
    )
    .map_err(|e| failed(format!("ledger node: {e}")))?;
    running.push(inproc::node(Arc::new(node), node_l));

    // Ingest and its admin API (loopback only, no token).
    let shared = Arc::new(tokio::sync::Mutex::new(ingest));
    running.push(
        inproc::ingest(shared, Some(ingest_l))
            .map_err(|e| failed(format!("ingest admin API: {e}")))?,
    );

    // View.
    let view_provider =
        SimProvider::from_quoting_key(quoting.clone(), fog_attest::fog_identity(FogEnclave::View));
    let view_config = ViewConfig {
        partitions: 2,
        capacity_per_partition: 1 << 14,
        poll_interval: Duration::from_millis(50),
        ..ViewConfig::default()
    };
    let enclave =
        fog_enclave::boundary::view::ViewBoundary::simulated(&view_config.enclave(), None)
            .map_err(|e| failed(format!("view enclave: {e}")))?;
    let view_client = fog_enclave_api::view::ViewClient::new(enclave.clone());
    view_client
        .attest(&view_provider)
        .map_err(|e| failed(format!("view enclave evidence: {e}")))?;
    let view_channel_key = view_client
        .channel_keys()
        .map_err(|e| failed(format!("view enclave: {e}")))?
        .client;
    let view = Arc::new(ViewServer::new(Arc::new(db.clone()), enclave, view_config));
    running.push(inproc::view(Arc::clone(&view), view_l));

    // Fog ledger.
    let ledger_provider = SimProvider::from_quoting_key(
        quoting.clone(),
        fog_attest::fog_identity(FogEnclave::Ledger),
    );
    let ledger_enclave = fog_enclave::boundary::ledger::LedgerBoundary::simulated(
        fog_enclave::boundary::ledger::LedgerConfig {
            key_image_capacity: 1 << 14,
            ..Default::default()
        },
    )
    .map_err(|e| failed(format!("ledger enclave: {e}")))?;
    let ledger_server = Arc::new(
        LedgerServer::new(
            ledger.clone(),
            ledger_enclave,
            &ledger_provider,
            LedgerServerConfig {
                poll_interval: Duration::from_millis(50),
                ..LedgerServerConfig::default()
            },
        )
        .map_err(|e| failed(format!("ledger enclave: {e}")))?,
    );
    let ledger_channel_key = ledger_server
        .channel_key()
        .map_err(|e| failed(format!("ledger enclave: {e}")))?;
    running.push(inproc::fog_ledger(Arc::clone(&ledger_server), ledger_l));

    // Evidence renewal for view and fog ledger (clients refuse evidence older than a day).
    let renewals = vec![
        crate::host::refresh_evidence(
            "view evidence",
            crate::host::maker(Arc::new(view_provider), view_channel_key),
            {
                let view = Arc::clone(&view);
                move |e| view.enclave().set_evidence(&e).is_ok()
            },
        ),
        crate::host::refresh_evidence(
            "fog ledger evidence",
            crate::host::maker(Arc::new(ledger_provider), ledger_channel_key),
            {
                let ledger_server = Arc::clone(&ledger_server);
                move |e| ledger_server.set_evidence(e).is_ok()
            },
        ),
    ];

    // Report.
    let authority = paths.authority();
    let signing = SigningConfig::load(&authority.join("chain.pem"), &authority.join("leaf.key"))
        .map_err(|e| {
            input(format!(
                "cannot load the authority's chain and leaf key: {e}"
            ))
        })?;
    let source = Arc::new(fog_report_server::RecoveryDbReports::new(
        db.clone(),
        tokio::runtime::Handle::current(),
    ));
    running.push(inproc::report(report_l, source, signing));

    Ok(Services {
        running,
        renewals,
        view,
        ledger_server,
    })
}

/// The stores and keys of a network, made or opened.
struct Prepared<D: RecoveryDb> {
    ledger: LedgerDb,
    ingest: IngestServer<D>,
    quoting: fog_attest::ed25519_dalek::SigningKey,
    attestation_key: String,
}

/// Opens (or, for a new network, creates) the ledger, the shared simulated quoting key and
/// ingest over `db`, and writes the attestation policy of the key (each service's simulated
/// identity at this version); a new network also gets its authority, wallets (pinned by that
/// policy) and origin block (funded with fog hints to this ingest's key) and its layout file.
async fn prepare<D: RecoveryDb>(
    paths: &Paths,
    layout: &Layout,
    existing: bool,
    db: D,
) -> Result<Prepared<D>, CliError> {
    // Storage, the shared simulated quoting key, ingest (its ingress key funds the demo).
    std::fs::create_dir_all(paths.state())
        .map_err(|e| failed(format!("cannot create the state directory: {e}")))?;
    let quoting = crate::ingest::sim_quoting_key(&paths.state())?;
    let attestation_key = hex::encode(quoting.verifying_key().as_bytes());
    let attestation_policy = PolicyFile::simulated(&quoting.verifying_key()).to_toml();
    write_file(
        &paths.attestation_policy(),
        format!(
            "# What wallets of this Fog local network trust (`fog-wallet --attestation-policy \
             FILE`):\n# its simulated quoting key, and each service's simulated measurement at \
             this version of Fog.\n{attestation_policy}"
        )
        .as_bytes(),
    )?;
    let ledger = if existing {
        LedgerDb::open(paths.ledger())
    } else {
        LedgerDb::create(paths.ledger())
    }
    .map_err(|e| failed(format!("ledger DB {}: {e}", paths.ledger().display())))?;
    let ingest_state =
        StateDir::new(paths.state()).map_err(|e| failed(format!("ingest state directory: {e}")))?;
    let ingest_provider = SimProvider::from_quoting_key(
        quoting.clone(),
        fog_attest::fog_identity(FogEnclave::Ingest),
    );
    let ingest_enclave = crate::ingest::load_enclave(
        &ingest_state,
        fog_ingest_server::ProviderEvidence::sim_peer_verifier(&ingest_provider),
    )?;
    let ingest = IngestServer::open(
        ledger.clone(),
        db,
        ingest_state,
        IngestConfig {
            user_capacity: 1 << 12,
            poll_interval: Duration::from_millis(50),
            ..IngestConfig::default()
        },
        Box::new(fog_ingest_server::ProviderEvidence::sim(ingest_provider)),
        ingest_enclave,
    )
    .await
    .map_err(|e| failed(format!("cannot start ingest: {e}")))?;

    if !existing {
        create(
            paths,
            layout,
            &attestation_policy,
            &ingest.ingress_public_key(),
            &ledger,
        )?;
        let text =
            serde_json::to_string_pretty(layout).map_err(|e| failed(format!("layout: {e}")))?;
        write_file(&paths.layout(), format!("{text}\n").as_bytes())?;
    }

    Ok(Prepared {
        ledger,
        ingest,
        quoting,
        attestation_key,
    })
}

async fn run_async(args: LocalNetworkArgs) -> Result<(), CliError> {
    let (dir, existing) = choose_dir(args.dir.clone())?;
    let dir = std::path::absolute(&dir)
        .map_err(|e| input(format!("cannot resolve {}: {e}", dir.display())))?;
    let paths = Paths { dir };

    let recorded: Option<Layout> = if existing {
        let text = std::fs::read_to_string(paths.layout())
            .map_err(|e| input(format!("cannot read {}: {e}", paths.layout().display())))?;
        let layout: Layout = serde_json::from_str(&text)
            .map_err(|e| input(format!("{} is not valid: {e}", paths.layout().display())))?;
        if let Some(base) = args.base_port {
            if base != 0 && base != layout.node.port() {
                return Err(input(format!(
                    "the network in {} listens from port {}: leave out --base-port",
                    paths.dir.display(),
                    layout.node.port()
                )));
            }
        }
        Some(layout)
    } else {
        None
    };
    let (listeners, layout) = bind_all(
        recorded.as_ref(),
        args.base_port.unwrap_or(DEFAULT_BASE_PORT),
    )
    .await?;

    if layout.postgres && !args.processes {
        return Err(input(format!(
            "the network in {} keeps its recovery DB in Postgres: start it with --processes \
             --recovery-db URL",
            paths.dir.display()
        )));
    }
    if args.processes {
        // The children bind the addresses.
        drop(listeners);
        return processes::run(&args, &paths, layout, existing).await;
    }
    // The web wallet's origin must be allowed before the services start.
    let web = match args.web {
        Some(addr) => Some(crate::web::bind(addr, args.web_root.clone()).await?),
        None => None,
    };
    let db = SqliteRecoveryDb::open(paths.recovery())
        .map_err(|e| failed(format!("recovery DB {}: {e}", paths.recovery().display())))?;
    let Prepared {
        ledger,
        ingest,
        quoting,
        attestation_key,
    } = prepare(&paths, &layout, existing, db.clone()).await?;

    let services = start_services(&paths, listeners, &ledger, &db, ingest, &quoting).await?;
    let started = Instant::now();
    while !services.caught_up(&ledger) {
        if let Some(e) = services.failure() {
            services.shutdown().await;
            return Err(failed(e));
        }
        if started.elapsed() > READY_TIMEOUT {
            services.shutdown().await;
            return Err(failed(format!(
                "view and fog ledger did not catch up with the ledger within {} s",
                READY_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let blocks = ledger.num_blocks().unwrap_or(0);
    print_summary(
        &paths,
        &layout,
        &attestation_key,
        existing,
        blocks,
        args.demo,
    );
    let _web = match web {
        Some(server) => Some(crate::web::start(server, &layout.wallets, |n| {
            paths.wallet(n)
        })?),
        None => None,
    };

    let outcome = if args.demo {
        demo(&paths, &layout, &ledger, "").await
    } else {
        tokio::select! {
            _ = crate::shutdown_signal() => {}
            _ = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if services.failure().is_some() { break; }
                }
            } => {}
        }
        match services.failure() {
            Some(e) => Err(failed(e)),
            None => Ok(()),
        }
    };
    eprintln!("stopping the local network...");
    let errors = services.shutdown().await;
    for e in &errors {
        eprintln!("fogd local-network: {e}");
    }
    if !args.demo {
        println!(
            "Stopped. `fogd local-network --dir {}` starts it again.",
            paths.dir.display()
        );
    }
    outcome
}

fn print_summary(
    paths: &Paths,
    layout: &Layout,
    attestation_key: &str,
    existing: bool,
    blocks: u64,
    demo: bool,
) {
    let dir = paths.dir.display();
    let mut out = format!(
        "Fog local network {} in {dir} ({blocks} blocks)\n",
        if existing { "started again" } else { "created" }
    );
    for (name, addr) in layout.addrs() {
        let scheme = if name == "fog report" {
            "insecure-fog"
        } else {
            "http"
        };
        let _ = writeln!(out, "  {name:<14} {scheme}://{addr}");
    }
    let _ = writeln!(
        out,
        "  attestation key {attestation_key} (simulated; {})",
        paths.state().join("sim-quoting.pub").display()
    );
    let _ = writeln!(
        out,
        "  attestation policy {} (what the wallets trust)",
        paths.attestation_policy().display()
    );
    let _ = writeln!(
        out,
        "Demo wallets (each funded with {} and {} at creation; the others are its contacts):",
        format_amount(u128::from(FUNDING_VALUE) * FUNDING_TXOUTS as u128, 0),
        format_amount(
            u128::from(TOKEN_1_FUNDING_VALUE) * TOKEN_1_FUNDING_TXOUTS as u128,
            fog_system::network::TOKEN_1.0
        )
    );
    for name in &layout.wallets {
        let _ = writeln!(out, "  {}", paths.wallet(name).display());
    }
    if demo {
        print!("{out}");
        return;
    }
    let w = |name: &str| paths.wallet(name).display().to_string();
    let (a, b) = (w("alice"), w("bob"));
    let _ = write!(
        out,
        "\nUse them with fog-wallet, from this repository, in another terminal:\n\
         \x20 cargo run -p fog-wallet -- --wallet {a} balance\n\
         \x20 cargo run -p fog-wallet -- --wallet {a} send --to bob --amount 2.5\n\
         \x20 cargo run -p fog-wallet -- --wallet {a} send --to bob --amount 250000 --token 1\n\
         \x20 cargo run -p fog-wallet -- --wallet {b} balance --json\n\
         \x20 cargo run -p fog-wallet -- --wallet {b} history\n\
         \x20 cargo run -p fog-wallet -- --wallet {b} address\n\
         A wallet of your own on this network (then pay it from alice with --to ADDRESS):\n\
         \x20 cargo run -p fog-wallet -- --wallet my-wallet.json keys new \\\n\
         \x20     --fog-report-url {report} --fog-authority-spki {spki} \\\n\
         \x20     --node-url http://{node} --view-url http://{view} --ledger-url http://{ledger} \\\n\
         \x20     --attestation-policy {policy}\n\
         Ctrl-C stops the network; `fogd local-network --dir {dir}` starts it again where it \
         stopped.\n",
        report = layout.report_url(),
        spki = paths.root_spki().display(),
        policy = paths.attestation_policy().display(),
        node = layout.node,
        view = layout.view,
        ledger = layout.ledger,
    );
    print!("{out}");
}

/// The tokens the demo pays and checks: MOB and token 1.
const DEMO_TOKENS: [TokenId; 2] = [TokenId::MOB, fog_system::network::TOKEN_1];

/// The true balance of `account` in `token` at block count `n`
/// ([`fog_system::oracle::balance_of`]).
fn view_key_scan(
    ledger: &LedgerDb,
    account: &AccountKey,
    n: u64,
    token: TokenId,
) -> Result<u128, String> {
    // A followed copy (`--processes`) may be a poll behind the services: wait for it.
    let started = Instant::now();
    while ledger.num_blocks().map_err(|e| format!("ledger DB: {e}"))? < n {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("the ledger does not reach block count {n}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    fog_system::oracle::balance_of(ledger, account, n, token)
}

/// One demo wallet: its session and the checks of what it reported.
struct DemoWallet {
    name: String,
    session: Session,
    last_count: u64,
    /// What the script expects, one per [`DEMO_TOKENS`].
    expected: [u128; 2],
}

/// What the demo found.
#[derive(Default)]
struct Tally {
    checked: u64,
    wrong: Vec<String>,
}

impl DemoWallet {
    /// Checks the balance until it covers `blocks` blocks, verifying every reported pair
    /// against a view-key scan at its block count, in each of [`DEMO_TOKENS`] (and that the
    /// count never goes back).
    async fn balance_covering(
        &mut self,
        blocks: u64,
        ledger: &LedgerDb,
        tally: &mut Tally,
    ) -> Result<(u64, [u128; 2]), CliError> {
        let started = Instant::now();
        loop {
            let b = self
                .session
                .balance(|_| {})
                .await
                .map_err(|e| failed(format!("{}'s balance check failed: {e}", self.name)))?;
            let values = DEMO_TOKENS.map(|t| b.of(t.0));
            tally.checked += 1;
            for (token, value) in DEMO_TOKENS.iter().zip(values) {
                let truth = view_key_scan(ledger, self.session.account(), b.block_count, *token)
                    .map_err(|e| failed(format!("view-key scan: {e}")))?;
                if value != truth {
                    tally.wrong.push(format!(
                        "{} reported {} at block count {}, the ledger says {}",
                        self.name,
                        format_amount(value, token.0),
                        b.block_count,
                        format_amount(truth, token.0)
                    ));
                }
            }
            if b.block_count < self.last_count {
                tally.wrong.push(format!(
                    "{}'s block count went back from {} to {}",
                    self.name, self.last_count, b.block_count
                ));
            }
            self.last_count = b.block_count;
            if b.block_count >= blocks {
                return Ok((b.block_count, values));
            }
            if started.elapsed() > DEMO_STEP_TIMEOUT {
                return Err(failed(format!(
                    "{}'s balance did not reach block count {blocks} within {} s",
                    self.name,
                    DEMO_STEP_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn show_balances(
    wallets: &mut [DemoWallet],
    blocks: u64,
    ledger: &LedgerDb,
    tally: &mut Tally,
) -> Result<(), CliError> {
    for w in wallets.iter_mut() {
        let (count, values) = w.balance_covering(blocks, ledger, tally).await?;
        let verdict = if values == w.expected {
            "exact"
        } else {
            tally.wrong.push(format!(
                "{} has {} and {}, the script expects {} and {}",
                w.name,
                format_amount(values[0], DEMO_TOKENS[0].0),
                format_amount(values[1], DEMO_TOKENS[1].0),
                format_amount(w.expected[0], DEMO_TOKENS[0].0),
                format_amount(w.expected[1], DEMO_TOKENS[1].0)
            ));
            "WRONG"
        };
        println!(
            "  {:<6} {:>18} {:>18}   block count {count:<4} {verdict}",
            w.name,
            format_amount(values[0], DEMO_TOKENS[0].0),
            format_amount(values[1], DEMO_TOKENS[1].0)
        );
    }
    Ok(())
}

/// The scripted demo: payments between the demo wallets, balances after each.
/// `restart_flags`: what to add to `fogd local-network` to start this network again (`""`
/// or `"--processes … "`).
async fn demo(
    paths: &Paths,
    layout: &Layout,
    ledger: &LedgerDb,
    restart_flags: &str,
) -> Result<(), CliError> {
    let mut wallets = Vec::new();
    for name in &layout.wallets {
        let session = Session::open(&paths.wallet(name), &NetworkOverrides::default(), false)
            .map_err(|e| failed(format!("wallet {name}: {e}")))?;
        wallets.push(DemoWallet {
            name: name.clone(),
            session,
            last_count: 0,
            expected: [0; 2],
        });
    }
    let index = |name: &str| layout.wallets.iter().position(|n| n == name);
    let (Some(alice), Some(bob), Some(carol)) = (index("alice"), index("bob"), index("carol"))
    else {
        return Err(input("the demo needs the wallets alice, bob and carol"));
    };
    // (from, to, value, index in DEMO_TOKENS)
    let steps: [(usize, usize, u64, usize); 6] = [
        (alice, bob, 5 * MOB, 0),
        (bob, carol, 2 * MOB + MOB / 2, 0),
        (carol, alice, MOB + MOB / 4, 0),
        (alice, carol, 12 * MOB, 0),
        (bob, alice, MOB / 10, 0),
        (carol, bob, 400_000, 1),
    ];

    println!(
        "\nDemo: fog users pay each other. After each step every wallet checks its balance \
         with the fog services; each (block count, balance) it reports is compared with a \
         view-key scan of the ledger up to that block count."
    );
    let mut tally = Tally::default();
    let blocks = ledger
        .num_blocks()
        .map_err(|e| failed(format!("ledger DB: {e}")))?;
    println!("step 0: the wallets as they are");
    // The script's expectations start from what the ledger says now.
    for w in &mut wallets {
        for (i, token) in DEMO_TOKENS.iter().enumerate() {
            w.expected[i] = view_key_scan(ledger, w.session.account(), blocks, *token)
                .map_err(|e| failed(format!("view-key scan: {e}")))?;
        }
    }
    show_balances(&mut wallets, blocks, ledger, &mut tally).await?;

    for (n, (from, to, value, t)) in steps.into_iter().enumerate() {
        let to_address = wallets[to].session.address();
        let (from_name, to_name) = (wallets[from].name.clone(), wallets[to].name.clone());
        let token = DEMO_TOKENS[t];
        let amount = Amount::new(value, token);
        let sender = &mut wallets[from].session;
        // The fee is the node's minimum for the token, paid in the token.
        let fee = sender
            .minimum_fee(token)
            .await
            .map_err(|e| failed(format!("step {}: {e}", n + 1)))?;
        let mut receipt = sender
            .submit(&to_address, amount, Some(fee))
            .await
            .map_err(|e| failed(format!("step {}: {from_name} cannot pay: {e}", n + 1)))?;
        sender
            .wait(&mut receipt)
            .await
            .map_err(|e| failed(format!("step {}: {e}", n + 1)))?;
        let landed = receipt.block_index.unwrap_or(0);
        wallets[from].expected[t] -= u128::from(value) + u128::from(fee.value);
        wallets[to].expected[t] += u128::from(value);
        println!(
            "step {}: {from_name} pays {to_name} {} (fee {}): landed in block {landed}",
            n + 1,
            format_amount(u128::from(value), token.0),
            format_amount(u128::from(fee.value), token.0)
        );
        show_balances(&mut wallets, landed + 1, ledger, &mut tally).await?;
    }

    // History: what alice's wallet says, senders authenticated against her contacts.
    println!("alice's history:");
    let session = &wallets[alice].session;
    for e in session.history() {
        let what = match &e.kind {
            EntryKind::Received { change: true, .. } => "received (change)".to_string(),
            EntryKind::Received {
                sender: Sender::Authenticated(i),
                ..
            } => format!(
                "received from {} (authenticated)",
                session.contact_name(*i).unwrap_or("?")
            ),
            EntryKind::Received { .. } => "received".to_string(),
            _ => "spent".to_string(),
        };
        println!(
            "  block {:<4} {:>18}  {what}",
            e.block_index,
            format_amount(u128::from(e.amount.value), e.amount.token_id.0)
        );
    }

    if tally.wrong.is_empty() {
        println!(
            "\ndemo passed: {} balances checked, every one exact.\n\
             To keep the network running and use fog-wallet yourself: fogd local-network {}--dir {}",
            tally.checked,
            restart_flags,
            paths.dir.display()
        );
        Ok(())
    } else {
        for w in &tally.wrong {
            println!("  not exact: {w}");
        }
        Err(failed(format!(
            "demo failed: {} of {} balances were not exact",
            tally.wrong.len(),
            tally.checked
        )))
    }
}
