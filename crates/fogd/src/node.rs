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
    /// Accept TOKEN with a minimum fee of FEE (in the token's smallest unit), or change MOB's
    /// (token 0, default 400000000 picoMOB); repeatable. Tokens not named, other than MOB,
    /// are refused. Each fee must be a non-zero multiple of 128, MOB's within 10000 to
    /// 999999999999 picoMOB (MobileCoin's rules). The node publishes them in GetLedgerInfo.
    #[arg(long = "minimum-fee", value_name = "TOKEN=FEE", value_parser = parse_minimum_fee)]
    minimum_fee: Vec<(u64, u64)>,
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
    let mut config = NodeConfig::default()
        .with_block_interval(Duration::from_millis(args.block_interval_ms))
        .with_test_blocks(args.allow_test_blocks);
    let mut named = std::collections::BTreeSet::new();
    for (token, fee) in &args.minimum_fee {
        if !named.insert(*token) {
            return Err(input(format!(
                "--minimum-fee names token {token} twice: give each token once"
            )));
        }
        config = config.with_minimum_fee(*token, *fee);
    }
    fog_node::check_fee_map(&config.fee_map).map_err(|e| input(format!("--minimum-fee: {e}")))?;
    let path = &args.ledger.ledger_db;
    let ledger = LedgerDb::open(path).map_err(|e| match e {
        LedgerError::NotFound(_) => input(format!(
            "no ledger DB at {}: create one with `fogd ledger-tool init` or `fogd generate-ledger`",
            path.display()
        )),
        e => failed(format!("cannot open the ledger DB {}: {e}", path.display())),
    })?;
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

/// `TOKEN=FEE`: two whole numbers (the token id and its minimum fee in the token's smallest
/// unit). The fee map's rules are checked once all are read.
fn parse_minimum_fee(text: &str) -> Result<(u64, u64), String> {
    let (token, fee) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not TOKEN=FEE (such as 1=1024)"))?;
    let token = token
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("{text:?}: the token id {token:?} is not a whole number"))?;
    let fee = fee.trim().parse::<u64>().map_err(|_| {
        format!("{text:?}: the fee {fee:?} is not a whole number of the token's smallest unit")
    })?;
    Ok((token, fee))
}

#[cfg(test)]
mod tests {
    use super::parse_minimum_fee;

    #[test]
    fn minimum_fee_arguments() {
        assert_eq!(parse_minimum_fee("1=1024"), Ok((1, 1024)));
        assert_eq!(parse_minimum_fee(" 0 = 400000000 "), Ok((0, 400_000_000)));
        for bad in [
            "1", "=5", "1=", "a=128", "1=1.5", "1=-128", "1=128=2", "-1=128",
        ] {
            assert!(parse_minimum_fee(bad).is_err(), "{bad:?}");
        }
    }
}
