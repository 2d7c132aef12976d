//! `fogd view`: the view service over the recovery DB.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use clap::Args;
use fog_attest::{BoundEvidence, FogEnclave, Provider};
use fog_enclave::boundary::view::ViewBoundary;
use fog_enclave_api::view::ViewClient;
use fog_view_server::{ViewConfig, ViewServer};

use crate::{failed, host::ServeArgs, input, CliError};

/// Arguments of `fogd view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// The recovery DB to read records from (`sqlite:///path`, a path, `postgres://...`).
    #[arg(long = "recovery-db", value_name = "URL")]
    recovery_db: String,
    /// Where the simulated quoting key lives (shared with the other services of one
    /// deployment; created if absent).
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: PathBuf,
    #[command(flatten)]
    attestation: crate::attestation::EvidenceArgs,
    /// Address of the gRPC API (`fog_view.FogViewAPI`).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Store partitions (threads that search at once); default: one per core.
    #[arg(long)]
    partitions: Option<usize>,
    /// Slots of each partition (a power of two); plan for records to fill about 85 % of them.
    #[arg(long = "capacity-per-partition", default_value_t = 1 << 20)]
    capacity_per_partition: u64,
    /// The blocks this store loads, `START..END` or `START..` (open-ended, for the newest
    /// shard): a view store behind `fogd view-router`. Every block by default. A store whose
    /// range starts after block 0 refuses clients that ask it directly (routers only).
    #[arg(long, value_name = "START..[END]", value_parser = crate::router::parse_blocks)]
    blocks: Option<fog_types::common::BlockRange>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Evidence binding `channel_key` (and no custom identity), from `provider`.
pub(crate) fn bound_evidence(
    provider: &impl Provider,
    channel_key: &[u8; 32],
) -> Result<BoundEvidence, CliError> {
    BoundEvidence::bind(provider, channel_key, None)
        .map_err(|e| failed(format!("no evidence: {e}")))
}

/// Runs the view service until Ctrl-C or SIGTERM.
pub fn run(args: ViewArgs) -> Result<(), CliError> {
    crate::init_tracing();
    args.serve.check()?;
    if args.capacity_per_partition == 0
        || !args.capacity_per_partition.is_power_of_two()
        || args.capacity_per_partition > 1 << 28
    {
        return Err(input(
            "--capacity-per-partition must be a power of two up to 2^28",
        ));
    }
    let mut config = ViewConfig {
        capacity_per_partition: args.capacity_per_partition,
        blocks: args.blocks.unwrap_or(fog_types::view::ALL_BLOCKS),
        ..ViewConfig::default()
    };
    if let Some(p) = args.partitions {
        if p == 0 || p > 256 {
            return Err(input("--partitions must be between 1 and 256"));
        }
        config.partitions = p;
    }
    std::fs::create_dir_all(&args.state_dir).map_err(|e| input(format!("state directory: {e}")))?;
    let attestation =
        crate::attestation::Attestation::new(&args.attestation, &args.state_dir, FogEnclave::View)?;
    let provider = attestation.provider();
    eprintln!("fogd view: {} evidence", attestation.source());
    eprintln!(
        "fogd view: building {} partition(s) of {} records",
        config.partitions, config.capacity_per_partition
    );
    // The enclave makes its channel keys inside; routers reach this store over attested
    // channels of their own (view evidence both ways).
    let enclave = ViewBoundary::simulated(
        &config.enclave(),
        Some(attestation.peer_verifier(FogEnclave::View)?),
    )
    .map_err(|e| failed(format!("view enclave: {e}")))?;
    let client = ViewClient::new(enclave.clone());
    client
        .attest(&provider)
        .map_err(|e| failed(format!("view enclave evidence: {e}")))?;
    let keys = client
        .channel_keys()
        .map_err(|e| failed(format!("view enclave: {e}")))?;
    let (channel_key, link_key) = (
        keys.client,
        keys.peers
            .ok_or_else(|| failed("view enclave: no router channel key"))?,
    );
    if config.blocks != fog_types::view::ALL_BLOCKS {
        eprintln!(
            "fogd view: a store of blocks {}",
            crate::router::show_blocks(config.blocks)
        );
    }
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let shutdown = crate::shutdown_signal();
        let db = fog_recovery_db::open(&args.recovery_db)
            .await
            .map_err(|e| input(format!("cannot open the recovery DB: {e}")))?;
        let server = Arc::new(ViewServer::new(Arc::new(db), enclave, config));
        // Reload what the recovery DB already holds before answering, with progress.
        let started = std::time::Instant::now();
        let loaded = server
            .poll_with_progress(|n| eprintln!("fogd view: loaded {n} records"))
            .await
            .map_err(|e| failed(format!("loading the store: {e}")))?;
        let processed = server.status().highest_processed_block_count;
        let blocks = server.blocks();
        if blocks == fog_types::view::ALL_BLOCKS {
            eprintln!(
                "fogd view: {loaded} records loaded in {:.1} s; {processed} blocks processed",
                started.elapsed().as_secs_f64(),
            );
        } else {
            eprintln!(
                "fogd view: {loaded} records loaded in {:.1} s; blocks {}..{processed} of the \
                 store's range {} processed",
                started.elapsed().as_secs_f64(),
                blocks.start_block,
                crate::router::show_blocks(blocks),
            );
        }
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| input(format!("cannot listen on {}: {e}", args.listen)))?;
        eprintln!(
            "fogd view: FogViewAPI on {}",
            listener.local_addr().map_err(|e| failed(e.to_string()))?
        );
        let spec = args
            .serve
            .spec("view", fog_view_server::metrics::PREFIX, listener)
            .await?;
        let refresher = {
            let server = server.clone();
            crate::host::refresh_evidence(
                "view evidence",
                crate::host::maker(provider.clone(), channel_key),
                move |e| server.enclave().set_evidence(&e).is_ok(),
            )
        };
        let link_refresher = {
            let server = server.clone();
            crate::host::refresh_evidence(
                "view store evidence",
                crate::host::maker(provider, link_key),
                move |e| server.enclave().set_router_evidence(&e).is_ok(),
            )
        };
        let served = fog_system::inproc::view_with(server, spec)
            .run_until(shutdown)
            .await;
        refresher.abort();
        link_refresher.abort();
        eprintln!("fogd view stopped");
        served.map_err(|e| failed(format!("the view service failed: {e}")))
    })
}
