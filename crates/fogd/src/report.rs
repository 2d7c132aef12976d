//! `fogd report`: serves the signed ingest reports that senders need for fog hints.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use clap::Args;
use fog_report_server::{RecoveryDbReports, SigningConfig};

use crate::{failed, host::ServeArgs, input, CliError};

/// Arguments of `fogd report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Address to serve gRPC on.
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// The authority chain (PEM, root first), from `fogd authority new`.
    #[arg(long, value_name = "FILE")]
    chain: PathBuf,
    /// The leaf's private key (PKCS#8 PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The recovery DB ingest publishes its reports to (`sqlite:///path`, a path, or
    /// `postgres://...`).
    #[arg(long = "recovery-db", value_name = "URL")]
    recovery_db: String,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Runs the report service until Ctrl-C or SIGTERM.
pub fn run(args: ReportArgs) -> Result<(), CliError> {
    crate::init_tracing();
    args.serve.check()?;
    let signing = SigningConfig::load(&args.chain, &args.key)
        .map_err(|e| input(format!("cannot load the signing chain and key: {e}")))?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let shutdown = crate::shutdown_signal();
        let db = fog_recovery_db::open(&args.recovery_db)
            .await
            .map_err(|e| input(format!("cannot open the recovery DB: {e}")))?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| input(format!("cannot listen on {}: {e}", args.listen)))?;
        eprintln!(
            "fogd report: serving on {}",
            listener.local_addr().map_err(|e| failed(e.to_string()))?
        );
        let spec = args
            .serve
            .spec("report", fog_report_server::METRICS_PREFIX, listener)
            .await?;
        let source = Arc::new(RecoveryDbReports::new(
            db,
            tokio::runtime::Handle::current(),
        ));
        let served = fog_system::inproc::report_with(spec, source, signing)
            .run_until(shutdown)
            .await;
        eprintln!("fogd report stopped");
        served.map_err(|e| failed(format!("report service stopped: {e}")))
    })
}
