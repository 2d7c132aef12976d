//! `fogd ledger`: the fog ledger service (key-image checks, outputs with membership proofs,
//! blocks and TxOut lookups) over a ledger DB.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use clap::Args;
use fog_attest::{EnclaveResponder, FogEnclave, SimProvider};
use fog_ledger_server::{LedgerServer, LedgerServerConfig};

use crate::{
    failed,
    follow::{self, FollowArgs},
    host::ServeArgs,
    input, CliError,
};

/// Arguments of `fogd ledger`.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// The ledger DB to serve: this service's own copy with `--node`, else a file no other
    /// process holds open.
    #[arg(long = "ledger-db", value_name = "PATH")]
    ledger_db: PathBuf,
    #[command(flatten)]
    follow: FollowArgs,
    /// Where the simulated quoting key lives (shared with the other services of one
    /// deployment; created if absent). Its public half is written to `sim-quoting.pub`.
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: PathBuf,
    /// Address of the gRPC services (`FogKeyImageAPI`, `FogMerkleProofAPI`, `FogBlockAPI`,
    /// `FogUntrustedTxOutApi`).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Key images the store has room for (a power of two; plan for about 85 % of it).
    #[arg(long = "key-image-capacity", default_value_t = 1 << 20)]
    key_image_capacity: u64,
    #[command(flatten)]
    serve: ServeArgs,
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
    crate::init_tracing();
    args.serve.check()?;
    follow::check(&args.follow)?;
    let ledger = follow::open_ledger(&args.ledger_db, &args.follow)?;
    std::fs::create_dir_all(&args.state_dir).map_err(|e| input(format!("state directory: {e}")))?;
    let quoting = crate::ingest::sim_quoting_key(&args.state_dir)?;
    let provider =
        SimProvider::from_quoting_key(quoting, fog_attest::fog_identity(FogEnclave::Ledger));
    let responder = EnclaveResponder::from_provider(&provider)
        .map_err(|e| failed(format!("ledger enclave: {e}")))?;
    let channel_key = *responder.channel_key();
    let mut config = LedgerServerConfig {
        key_image_capacity: args.key_image_capacity,
        ..LedgerServerConfig::default()
    };
    if args.follow.following() {
        // The follower appends as blocks come: look often (a read of the block count).
        config.poll_interval = Duration::from_millis(50);
    }
    eprintln!(
        "fogd ledger: building a key-image store for {} key images",
        args.key_image_capacity
    );
    let ledger_for_follower = ledger.clone();
    let server = Arc::new(
        LedgerServer::new(ledger, responder, config)
            .map_err(|e| failed(format!("ledger enclave: {e}")))?,
    );
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let shutdown = crate::shutdown_signal();
        let follower = follow::start(&ledger_for_follower, &args.follow).await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| input(format!("cannot listen on {}: {e}", args.listen)))?;
        eprintln!(
            "fogd ledger: gRPC on {}",
            listener.local_addr().map_err(|e| failed(e.to_string()))?
        );
        let spec = args
            .serve
            .spec("ledger", fog_ledger_server::metrics::PREFIX, listener)
            .await?;
        let refresher = {
            let server = server.clone();
            crate::host::refresh_evidence(
                "fog ledger evidence",
                crate::host::sim_maker(provider, channel_key),
                move |e| server.set_evidence(e).is_ok(),
            )
        };
        let extra: Vec<Arc<dyn fog_host::Observe>> = follower
            .as_ref()
            .map(|f| f.stats.clone() as Arc<dyn fog_host::Observe>)
            .into_iter()
            .collect();
        let result = fog_system::inproc::fog_ledger_with(server, spec, extra)
            .run_until(shutdown)
            .await;
        refresher.abort();
        let followed = match follower {
            Some(f) => f.stop().await,
            None => Ok(()),
        };
        eprintln!("fogd ledger stopped");
        result.map_err(|e| failed(format!("the ledger service failed: {e}")))?;
        followed
    })
}
