//! `fogd ingest`: the ingest service with its admin API and metrics.
//!
//! The admin API listens on loopback unless `--listen` says otherwise; any other address
//! needs a bearer token, read from `--admin-token-file` or the `FOG_INGEST_ADMIN_TOKEN`
//! environment variable (at least 16 visible ASCII characters; never logged), and fogd
//! refuses to start without one. The report is published again every
//! `--report-republish-secs` while the chain is idle, so its evidence stays fresh.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use clap::Args;
use fog_enclave::{boundary::ingest::IngestBoundary, sealing::SealingKeyProvider};
use fog_enclave_api::SharedEnclave;
use fog_ingest_server::{admin, IngestConfig, IngestServer, ProviderEvidence, StateDir};

use crate::{
    failed,
    follow::{self, FollowArgs},
    host::ServeArgs,
    input, CliError,
};

/// Arguments of `fogd ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The ledger DB to process: this service's own copy with `--node`, else a file no other
    /// process holds open.
    #[arg(long = "ledger-db", value_name = "PATH")]
    ledger_db: PathBuf,
    #[command(flatten)]
    follow: FollowArgs,
    /// Where the sealed ingress key and the simulation keys live (created).
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: PathBuf,
    #[command(flatten)]
    attestation: crate::attestation::EvidenceArgs,
    /// The recovery DB (`sqlite:///path`, a path, `postgres://...`); default: `recovery.db` in
    /// the state directory.
    #[arg(long = "recovery-db", value_name = "URL")]
    recovery_db: Option<String>,
    /// Address of the admin gRPC API (`fog_ingest.IngestAdmin`). Loopback by default; any
    /// other address needs an admin token.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADMIN_LISTEN)]
    listen: SocketAddr,
    /// File holding the admin API's bearer token (`authorization: Bearer <token>`); the
    /// `FOG_INGEST_ADMIN_TOKEN` environment variable is read when this is not given. Required
    /// when `--listen` is not loopback.
    #[arg(long = "admin-token-file", value_name = "PATH")]
    admin_token_file: Option<PathBuf>,
    /// Seconds between report publications while no block arrives (the evidence in it must
    /// stay younger than what senders accept, a day for Fog's wallet).
    #[arg(long = "report-republish-secs", default_value_t = fog_ingest_server::DEFAULT_REPORT_REPUBLISH_INTERVAL.as_secs())]
    report_republish_secs: u64,
    /// RNG-store capacity (a power of two).
    #[arg(long = "user-capacity", default_value_t = 1 << 18)]
    user_capacity: u64,
    /// Threads lent to the enclave for the per-TxOut public-key work, besides the ingesting
    /// thread (default: the machine's cores but one; 0: one thread for everything).
    #[arg(long = "worker-threads")]
    worker_threads: Option<usize>,
    /// Report id to publish under.
    #[arg(long = "report-id", default_value = "")]
    report_id: String,
    /// Blocks a published ingress key stays valid past the current block.
    #[arg(long = "pubkey-expiry-window", default_value_t = 10)]
    pubkey_expiry_window: u64,
    /// A peer ingest server's listener URI (`http://host:port`), repeatable. Peers share one
    /// ingress key enclave to enclave (their enclaves must trust each other's evidence: in
    /// simulation, copy one `sim-quoting.key` into every peer's state directory before its
    /// first start), and an idle peer takes over when the active one goes silent for
    /// `--failover-timeout-ms`. Peers on other hosts need `--listen` off loopback (and so
    /// an admin token; the peer calls themselves need none).
    #[arg(long = "peer", value_name = "URI")]
    peers: Vec<String>,
    /// Idle or active at start. Default: active on its own, idle with `--peer` (an operator
    /// then activates one server, `fogd ingest-admin activate`; the others follow it).
    #[arg(long, value_enum, value_name = "MODE")]
    start: Option<StartMode>,
    /// With `--peer`: how long the active server's invocation may go without a block or a
    /// heartbeat in the recovery DB before an idle peer takes its key over. Hosts' clocks
    /// must agree to well within it.
    #[arg(
        long = "failover-timeout-ms",
        value_name = "MS",
        default_value_t = 10_000
    )]
    failover_timeout_ms: u64,
    #[command(flatten)]
    serve: ServeArgs,
}

/// How `fogd ingest` starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StartMode {
    /// Waits for `activate` (or a failover).
    Idle,
    /// Takes its key and scans at once.
    Active,
}

/// Where the admin API listens unless told otherwise: loopback only.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:3226";

/// The environment variable read for the admin token when no `--admin-token-file` is given.
pub const ADMIN_TOKEN_ENV: &str = "FOG_INGEST_ADMIN_TOKEN";

/// The admin access policy for `listen`: the token from `file` or, failing that, the
/// environment; refused for a non-loopback address without a token. Errors never repeat the
/// token.
pub(crate) fn admin_access(
    listen: SocketAddr,
    file: Option<&std::path::Path>,
    env_name: &str,
) -> Result<admin::AdminAccess, CliError> {
    admin_access_with(listen, file, std::env::var(env_name).ok(), env_name)
}

/// [`admin_access`] with the environment variable's value passed in.
fn admin_access_with(
    listen: SocketAddr,
    file: Option<&std::path::Path>,
    env: Option<String>,
    env_name: &str,
) -> Result<admin::AdminAccess, CliError> {
    let text = match file {
        Some(path) => Some(zeroize::Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| {
                input(format!(
                    "cannot read the admin token file {}: {e}",
                    path.display()
                ))
            })?,
        )),
        None => env
            .filter(|t| !t.trim().is_empty())
            .map(zeroize::Zeroizing::new),
    };
    let token = text
        .map(|t| admin::AdminToken::new(&t))
        .transpose()
        .map_err(|e| input(format!("admin token: {e}")))?;
    admin::AdminAccess::for_address(listen, token).map_err(|e| {
        input(format!(
            "{e}: give --admin-token-file or {env_name}, or listen on loopback"
        ))
    })
}

/// The simulated quoting key: kept in the state directory (mode 0600); its public half is
/// written beside it for the verifiers (senders) to trust.
pub(crate) fn sim_quoting_key(
    state_dir: &std::path::Path,
) -> Result<ed25519_dalek::SigningKey, CliError> {
    let path = state_dir.join("sim-quoting.key");
    let key = match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes = zeroize::Zeroizing::new(bytes);
            let arr: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| input(format!("{} is not a 32-byte key", path.display())))?;
            ed25519_dalek::SigningKey::from_bytes(&arr)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            write_private(&path, key.as_bytes())
                .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))?;
            key
        }
        Err(e) => return Err(failed(format!("cannot read {}: {e}", path.display()))),
    };
    std::fs::write(
        state_dir.join("sim-quoting.pub"),
        format!("{}\n", hex::encode(key.verifying_key().as_bytes())),
    )
    .map_err(|e| failed(format!("cannot write the quoting public key: {e}")))?;
    Ok(key)
}

/// Loads the simulated ingest enclave for `state`, as a TEE's loader would: with this
/// platform's sealing key and the verifier of its peers. In simulation the sealing key is the
/// Ristretto key in the state directory's `platform.key` (mode 0600, made on first use), read
/// here and handed to the enclave, never to the ingest server; a memory-only state directory
/// (a confidential VM, whose disk is the host's) gets a key for this run only, kept nowhere.
pub(crate) fn load_enclave(
    state: &StateDir,
    peers: fog_attest::Verifier,
) -> Result<SharedEnclave, CliError> {
    let sealing = if state.is_memory_only() {
        SealingKeyProvider::simulated_generate(&mut rand::rngs::OsRng).0
    } else {
        let path = state.path().join("platform.key");
        match std::fs::read(&path) {
            Ok(bytes) => SealingKeyProvider::simulated_from_bytes(&zeroize::Zeroizing::new(bytes))
                .map_err(|_| failed(format!("{} is not a platform key", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (provider, bytes) =
                    SealingKeyProvider::simulated_generate(&mut rand::rngs::OsRng);
                write_private(&path, &bytes[..])
                    .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))?;
                provider
            }
            Err(e) => return Err(failed(format!("cannot read {}: {e}", path.display()))),
        }
    };
    IngestBoundary::simulated(sealing, Some(peers))
        .map_err(|e| failed(format!("cannot load the ingest enclave: {e}")))
}

pub(crate) fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// Runs ingest until Ctrl-C or SIGTERM.
pub fn run(args: IngestArgs) -> Result<(), CliError> {
    crate::init_tracing();
    args.serve.check()?;
    follow::check(&args.follow)?;
    if args.user_capacity == 0
        || !args.user_capacity.is_power_of_two()
        || args.user_capacity > 1 << 28
    {
        return Err(input("--user-capacity must be a power of two up to 2^28"));
    }
    if args.report_id.len() > 64 {
        return Err(input("--report-id is at most 64 characters"));
    }
    if args.report_republish_secs == 0 {
        return Err(input("--report-republish-secs must be at least 1"));
    }
    for p in &args.peers {
        fog_ingest_server::cluster::check_peer_uri(p)
            .map_err(|_| input(format!("--peer {p}: expected http://host:port")))?;
    }
    if args.failover_timeout_ms < 100 {
        return Err(input("--failover-timeout-ms must be at least 100"));
    }
    let start = args.start.unwrap_or(if args.peers.is_empty() {
        StartMode::Active
    } else {
        StartMode::Idle
    });
    // Before anything is opened: a non-loopback admin API without a token does not start.
    let access = admin_access(
        args.listen,
        args.admin_token_file.as_deref(),
        ADMIN_TOKEN_ENV,
    )?;
    let ledger = follow::open_ledger(&args.ledger_db, &args.follow)?;
    // In a confidential VM the disk is the host's: the ingress key is never written there.
    let memory_only = args.attestation.evidence == crate::attestation::EvidenceSource::ConfigfsTsm;
    let state = if memory_only {
        StateDir::memory_only(&args.state_dir)
    } else {
        StateDir::new(&args.state_dir)
    }
    .map_err(|e| input(format!("state directory: {e}")))?;
    if memory_only {
        eprintln!(
            "fogd ingest: the ingress key lives in memory only (a confidential VM's disk is the \
             host's): a restart makes a new key unless an attested peer hands over the current \
             one; report a key that died with its server lost (`fogd ingest-admin \
             report-lost-key`)"
        );
    }
    let attestation = crate::attestation::Attestation::new(
        &args.attestation,
        &args.state_dir,
        fog_attest::FogEnclave::Ingest,
    )?;
    eprintln!("fogd ingest: {} evidence", attestation.source());
    let evidence = ProviderEvidence::new(attestation.provider());
    let enclave = load_enclave(
        &state,
        attestation.peer_verifier(fog_attest::FogEnclave::Ingest)?,
    )?;
    let url = args
        .recovery_db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", args.state_dir.join("recovery.db").display()));
    let config = IngestConfig {
        user_capacity: args.user_capacity,
        pubkey_expiry_window: args.pubkey_expiry_window,
        fog_report_id: args.report_id.clone(),
        start_block: 0,
        // A followed ledger changes as soon as the follower appends: look often (a read of
        // the block count).
        poll_interval: Duration::from_millis(if args.follow.following() { 50 } else { 250 }),
        report_republish_interval: Duration::from_secs(args.report_republish_secs),
        failover_timeout: (!args.peers.is_empty())
            .then(|| Duration::from_millis(args.failover_timeout_ms)),
        // A quarter of the timeout: three heartbeats can be lost before peers take over.
        heartbeat_interval: Duration::from_millis((args.failover_timeout_ms / 4).clamp(25, 2000)),
        peer_sync_interval: Duration::from_secs(2),
        worker_threads: args
            .worker_threads
            .unwrap_or_else(fog_ingest_server::default_worker_threads),
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let shutdown = crate::shutdown_signal();
        let follower = follow::start(&ledger, &args.follow).await?;
        let db = fog_recovery_db::open(&url)
            .await
            .map_err(|e| input(format!("cannot open the recovery DB: {e}")))?;
        let evidence = Box::new(evidence);
        let mut server = match start {
            StartMode::Active => {
                IngestServer::open(ledger, db, state, config, evidence, enclave).await
            }
            StartMode::Idle => {
                IngestServer::open_idle(ledger, db, state, config, evidence, enclave).await
            }
        }
        .map_err(|e| failed(format!("cannot start ingest: {e}")))?;
        server.set_peers(args.peers.clone());
        eprintln!("fogd ingest: {}", server.mode().as_str());
        eprintln!(
            "fogd ingest: ingress key {}",
            hex::encode(server.ingress_public_key().as_bytes())
        );
        let shared = Arc::new(tokio::sync::Mutex::new(server));
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| input(format!("cannot listen on {}: {e}", args.listen)))?;
        eprintln!(
            "fogd ingest: admin API on {}",
            listener.local_addr().map_err(|e| failed(e.to_string()))?
        );
        let spec = args.serve.spec("ingest", admin::PREFIX, listener).await?;
        let observers: Vec<Arc<dyn fog_host::Observe>> = follower
            .as_ref()
            .map(|f| f.stats.clone() as Arc<dyn fog_host::Observe>)
            .into_iter()
            .collect();
        let result = fog_system::inproc::ingest_with(
            shared,
            Some(fog_system::inproc::Admin {
                spec,
                access,
                observers,
            }),
        )
        .run_until(shutdown)
        .await;
        let followed = match follower {
            Some(f) => f.stop().await,
            None => Ok(()),
        };
        eprintln!("fogd ingest stopped");
        result.map_err(|e| failed(format!("ingest stopped: {e}")))?;
        followed
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn non_loopback_admin_without_token_is_refused() {
        let open: SocketAddr = "0.0.0.0:3226".parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        // No file and no environment variable (a blank one counts as none).
        for env in [None, Some("  ".to_string())] {
            let err = admin_access_with(open, None, env, ADMIN_TOKEN_ENV).unwrap_err();
            assert!(matches!(err, CliError::Input(ref m) if m.contains("needs a token")));
        }
        // Loopback without a token is fine.
        admin_access_with(
            "127.0.0.1:3226".parse().unwrap(),
            None,
            None,
            ADMIN_TOKEN_ENV,
        )
        .unwrap();
        // A token file or the variable makes the open address acceptable; a short token is
        // refused, and its content never shows in errors.
        let short = dir.path().join("short");
        std::fs::write(&short, "s3cret").unwrap();
        let err = admin_access_with(open, Some(&short), None, ADMIN_TOKEN_ENV).unwrap_err();
        assert!(!format!("{err:?}").contains("s3cret"));
        let err =
            admin_access_with(open, None, Some("s3cret".into()), ADMIN_TOKEN_ENV).unwrap_err();
        assert!(!format!("{err:?}").contains("s3cret"));
        let good = dir.path().join("token");
        std::fs::write(&good, "0123456789abcdef0123\n").unwrap();
        admin_access_with(open, Some(&good), None, ADMIN_TOKEN_ENV).unwrap();
        admin_access_with(
            open,
            None,
            Some("0123456789abcdef0123".into()),
            ADMIN_TOKEN_ENV,
        )
        .unwrap();
    }
}
