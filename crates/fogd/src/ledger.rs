//! `fogd ledger`: the fog ledger service (key-image checks, outputs with membership proofs,
//! blocks and TxOut lookups) over a ledger DB; a key-image store of a block range behind
//! `fogd ledger-router` with `--key-image-blocks`. What `fogd ledger-router` shares with it:
//! its own copy of the ledger, the enclave's keys and evidence, the serving.

use std::{net::SocketAddr, path::Path, path::PathBuf, sync::Arc, time::Duration};

use clap::Args;
use fog_attest::{BoundEvidence, FogEnclave, Provider};
use fog_enclave::boundary::ledger::{LedgerBoundary, LedgerConfig, PeerLinks};
use fog_ledger_db::LedgerDb;
use fog_ledger_server::{LedgerServer, LedgerServerConfig, ALL_BLOCKS};

use crate::{
    failed,
    follow::{self, FollowArgs},
    host::ServeArgs,
    input, CliError,
};

/// Where a fog ledger or a ledger router gets its ledger.
#[derive(Debug, Args)]
pub struct LedgerSource {
    /// The ledger DB to serve: this service's own copy with `--node`, else a file no other
    /// process holds open.
    #[arg(long = "ledger-db", value_name = "PATH")]
    ledger_db: PathBuf,
    #[command(flatten)]
    follow: FollowArgs,
}

/// Arguments of `fogd ledger`.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    #[command(flatten)]
    source: LedgerSource,
    /// Where the simulated quoting key lives (shared with the other services of one
    /// deployment; created if absent). Its public half is written to `sim-quoting.pub`.
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: PathBuf,
    #[command(flatten)]
    attestation: crate::attestation::EvidenceArgs,
    /// Address of the gRPC services (`FogKeyImageAPI`, `FogMerkleProofAPI`, `FogBlockAPI`,
    /// `FogUntrustedTxOutApi`, and `fog_router.StoreAPI` for ledger routers).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Key images the store has room for (a power of two; plan for about 85 % of it).
    #[arg(long = "key-image-capacity", default_value_t = 1 << 20)]
    key_image_capacity: u64,
    /// The blocks whose key images this store keeps, `START..END` or `START..` (open-ended,
    /// for the newest shard): a key-image store behind `fogd ledger-router`. Every block by
    /// default. A store whose range starts after block 0 tells clients that ask it directly
    /// that it holds no block; plan `--key-image-capacity` for its range's key images.
    #[arg(
        long = "key-image-blocks",
        value_name = "START..[END]",
        value_parser = crate::router::parse_blocks
    )]
    key_image_blocks: Option<fog_types::common::BlockRange>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// What a fog ledger or a ledger router is built from.
pub(crate) struct Parts {
    /// Its copy of the ledger.
    pub ledger: LedgerDb,
    /// Makes its enclave's evidence (fog ledger evidence), for the keys the enclave makes.
    pub provider: Arc<dyn Provider>,
    /// The enclaves at the other end of the router–store channels (fog ledger enclaves).
    pub peers: PeerLinks,
    /// The configuration, polling often when following nodes.
    pub config: LedgerServerConfig,
}

/// What it needs to serve: the follower's ledger and nodes, the provider of its evidence.
pub(crate) struct Host {
    ledger: LedgerDb,
    follow: FollowArgs,
    provider: Arc<dyn Provider>,
}

/// Opens (or, following nodes, creates) the ledger DB and sets up the evidence `attestation`
/// configures (a simulated quoting key in `state_dir`) for the fog ledger enclave's keys.
pub(crate) fn prepare(
    source: &LedgerSource,
    state_dir: &Path,
    attestation: &crate::attestation::EvidenceArgs,
) -> Result<(Parts, Host), CliError> {
    crate::init_tracing();
    follow::check(&source.follow)?;
    let ledger = follow::open_ledger(&source.ledger_db, &source.follow)?;
    std::fs::create_dir_all(state_dir).map_err(|e| input(format!("state directory: {e}")))?;
    let attestation =
        crate::attestation::Attestation::new(attestation, state_dir, FogEnclave::Ledger)?;
    let provider = attestation.provider();
    eprintln!(
        "fogd: fog ledger enclave with {} evidence",
        attestation.source()
    );
    // The channels live as long as the router's pools expect.
    let peers = PeerLinks::new(
        attestation.peer_verifier(FogEnclave::Ledger)?,
        fog_router::STORE_SESSION_LIMITS,
    );
    let mut config = LedgerServerConfig::default();
    if source.follow.following() {
        // The follower appends as blocks come: look often (a read of the block count).
        config.poll_interval = Duration::from_millis(50);
    }
    Ok((
        Parts {
            ledger: ledger.clone(),
            provider: provider.clone(),
            peers,
            config,
        },
        Host {
            ledger,
            follow: source.follow.clone(),
            provider,
        },
    ))
}

impl Host {
    /// Serves `server` as `spec` says until Ctrl-C or SIGTERM, following the nodes into its
    /// ledger DB when any is named, renewing its evidence hourly (the store channels', bound
    /// to `link_key`, with `link_evidence`). `name` is the command's.
    pub(crate) async fn serve(
        self,
        name: &'static str,
        server: Arc<LedgerServer>,
        spec: fog_host::Serve,
        link_key: [u8; 32],
        link_evidence: fn(&LedgerServer, BoundEvidence) -> bool,
    ) -> Result<(), CliError> {
        let channel_key = server
            .channel_key()
            .map_err(|e| failed(format!("{name} enclave: {e}")))?;
        let shutdown = crate::shutdown_signal();
        let follower = follow::start(&self.ledger, &self.follow).await?;
        let refreshers = [
            {
                let server = server.clone();
                crate::host::refresh_evidence(
                    "fog ledger evidence",
                    crate::host::maker(self.provider.clone(), channel_key),
                    move |e| server.set_evidence(e).is_ok(),
                )
            },
            {
                let server = server.clone();
                crate::host::refresh_evidence(
                    "fog ledger store channel evidence",
                    crate::host::maker(self.provider.clone(), link_key),
                    move |e| link_evidence(&server, e),
                )
            },
        ];
        let extra: Vec<Arc<dyn fog_host::Observe>> = follower
            .as_ref()
            .map(|f| f.stats.clone() as Arc<dyn fog_host::Observe>)
            .into_iter()
            .collect();
        let result = fog_system::inproc::fog_ledger_with(server, spec, extra)
            .run_until(shutdown)
            .await;
        for r in refreshers {
            r.abort();
        }
        let followed = match follower {
            Some(f) => f.stop().await,
            None => Ok(()),
        };
        eprintln!("fogd {name} stopped");
        result.map_err(|e| failed(format!("the {name} service failed: {e}")))?;
        followed
    }
}

/// Binds `addr` for a service's listener.
pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, CliError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| input(format!("cannot listen on {addr}: {e}")))
}

/// Runs the ledger service until Ctrl-C or SIGTERM.
pub fn run(args: LedgerArgs) -> Result<(), CliError> {
    if args.key_image_capacity == 0
        || !args.key_image_capacity.is_power_of_two()
        || args.key_image_capacity > 1 << 28
    {
        return Err(input(
            "--key-image-capacity must be a power of two up to 2^28",
        ));
    }
    args.serve.check()?;
    let (parts, host) = prepare(&args.source, &args.state_dir, &args.attestation)?;
    let config = LedgerServerConfig {
        key_image_blocks: args.key_image_blocks.unwrap_or(ALL_BLOCKS),
        ..parts.config
    };
    eprintln!(
        "fogd ledger: building a key-image store for {} key images",
        args.key_image_capacity
    );
    if config.key_image_blocks != ALL_BLOCKS {
        eprintln!(
            "fogd ledger: a key-image store of blocks {}",
            crate::router::show_blocks(config.key_image_blocks)
        );
    }
    // The simulated fog ledger enclave, loaded here and handed to the server; ledger routers
    // reach it over attested channels of their own.
    let enclave = LedgerBoundary::simulated(LedgerConfig {
        key_image_capacity: args.key_image_capacity,
        routers: Some(parts.peers),
        ..LedgerConfig::default()
    })
    .map_err(|e| failed(format!("ledger enclave: {e}")))?;
    let server = Arc::new(
        LedgerServer::new(parts.ledger, enclave, &parts.provider, config)
            .map_err(|e| failed(format!("ledger enclave: {e}")))?,
    );
    let link_key = server
        .router_channel_key()
        .map_err(|e| failed(format!("ledger enclave: {e}")))?;
    server
        .set_router_evidence(crate::host::maker(parts.provider.clone(), link_key)()?)
        .map_err(|e| failed(format!("ledger enclave: {e}")))?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = bind(args.listen).await?;
        eprintln!(
            "fogd ledger: gRPC on {}",
            listener.local_addr().map_err(|e| failed(e.to_string()))?
        );
        let spec = args
            .serve
            .spec("ledger", fog_ledger_server::metrics::PREFIX, listener)
            .await?;
        host.serve("ledger", server, spec, link_key, |s, e| {
            s.set_router_evidence(e).is_ok()
        })
        .await
    })
}
