//! `fogd node`: the ledger node on an existing ledger DB.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use clap::Args;
use fog_ledger_db::{LedgerDb, LedgerError};
use fog_node::{Node, NodeConfig, NodeError};

use crate::{failed, host::ServeArgs, input, CliError, LedgerPath};

/// `fogd node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    ledger: LedgerPath,
    /// The address to serve gRPC on, e.g. 127.0.0.1:3223 (port 0 picks a free port; the
    /// address is logged).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Cut a block this often (milliseconds) when transactions are pending.
    #[arg(long = "block-interval-ms", value_name = "N", default_value_t = 1000)]
    block_interval_ms: u64,
    /// Take whole blocks from `fogd ledger-tool add-block --node` and `append-block --node`
    /// (scripted credits and spends, for tests and acceptance runs). Never on a node real
    /// users pay through: it lets whoever reaches the port write the ledger.
    #[arg(long = "allow-test-blocks")]
    allow_test_blocks: bool,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Opens the ledger (it must exist), serves until Ctrl-C or SIGTERM, cuts what is pending,
/// and returns.
pub fn run(args: NodeArgs) -> Result<(), CliError> {
    crate::init_tracing();
    args.serve.check()?;
    if args.block_interval_ms == 0 {
        return Err(input("--block-interval-ms must be at least 1"));
    }
    let path = &args.ledger.ledger_db;
    let ledger = LedgerDb::open(path).map_err(|e| match e {
        LedgerError::NotFound(_) => input(format!(
            "no ledger DB at {}: create one with `fogd ledger-tool init` or `fogd generate-ledger`",
            path.display()
        )),
        e => failed(format!("cannot open the ledger DB {}: {e}", path.display())),
    })?;
    let config = NodeConfig::default()
        .with_block_interval(Duration::from_millis(args.block_interval_ms))
        .with_test_blocks(args.allow_test_blocks);
    if args.allow_test_blocks {
        tracing::warn!("this node takes test blocks from anybody who reaches its port");
    }
    let node = Node::new(ledger, config).map_err(|e| match e {
        NodeError::EmptyLedger => input(format!(
            "{} has no origin block: use `fogd ledger-tool init`",
            path.display()
        )),
        e => failed(e.to_string()),
    })?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| input(format!("cannot listen on {}: {e}", args.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| failed(format!("no local address: {e}")))?;
        let shutdown = crate::shutdown_signal();
        let spec = args
            .serve
            .spec("node", fog_node::METRICS_PREFIX, listener)
            .await?;
        tracing::info!(%addr, "fogd node listening");
        fog_system::inproc::node_with(Arc::new(node), spec)
            .run_until(shutdown)
            .await
            .map_err(|e| failed(format!("the node failed: {e}")))?;
        tracing::info!("fogd node stopped");
        Ok(())
    })
}
