//! The gRPC service (`fog_node.LedgerNode`) and the server around it.

use std::{future::Future, sync::Arc};

use fog_api::fog_node::{
    ledger_node_server::{LedgerNode, LedgerNodeServer},
    ledger_node_test_blocks_server::{LedgerNodeTestBlocks, LedgerNodeTestBlocksServer},
    AppendBlockResponse, BlockData, GetBlocksRequest, GetBlocksResponse, GetLedgerInfoRequest,
    LedgerInfo, SubmitTxRequest, SubmitTxResponse, SubmitTxResult,
};
use fog_host::{BoxFuture, Observation, Observe, Readiness, Value};
use fog_transaction::tx::Tx;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use crate::{
    error::NodeError,
    node::{Node, Verdict},
    RULE_PENDING_SET_FULL,
};

/// Largest request the server decodes: 1 MiB. The largest valid transaction (16 inputs,
/// rings of 11 with proofs over a ledger of 2^32 TxOuts, 16 outputs) is about 400 KiB.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Largest response the server encodes: 4 MiB, tonic's default decoding limit for clients.
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;
/// `GetBlocks` returns at most this many blocks per call.
pub const MAX_BLOCKS_PER_CALL: u32 = 100;
/// `GetBlocks` stops adding blocks once this many TxOuts are in the answer (a single block
/// is always returned whole), keeping answers near 3 MB, under [`MAX_RESPONSE_BYTES`].
pub const MAX_TXOUTS_PER_CALL: usize = 10_000;

/// The `LedgerNode` gRPC service over a [`Node`].
#[derive(Clone, Debug)]
pub struct LedgerNodeService {
    node: Arc<Node>,
}

impl LedgerNodeService {
    /// The service of `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }

    /// The tonic server for this service, with the request and response size limits.
    pub fn into_server(self) -> LedgerNodeServer<Self> {
        LedgerNodeServer::new(self)
            .max_decoding_message_size(MAX_REQUEST_BYTES)
            .max_encoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// The tonic server of the `LedgerNodeTestBlocks` service over the same node. It is
    /// always served; a node whose config does not allow test blocks refuses every call with
    /// FAILED_PRECONDITION, so a tool pointed at the wrong node learns why.
    pub fn into_test_blocks_server(self) -> LedgerNodeTestBlocksServer<Self> {
        // A block's request is its TxOuts: up to the GetBlocks answer limit.
        LedgerNodeTestBlocksServer::new(self).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }
}

/// The one place a [`NodeError`] becomes a gRPC status: the detail goes to the log, the client
/// gets a fixed message.
fn to_status(error: NodeError) -> Status {
    match error {
        NodeError::MissingTx => Status::invalid_argument("the request carries no transaction"),
        NodeError::TestBlocksNotAllowed => Status::failed_precondition(
            "this node does not take test blocks: start it with --allow-test-blocks",
        ),
        NodeError::MalformedBlock(why) => {
            Status::invalid_argument(format!("malformed block: {why}"))
        }
        NodeError::Ledger(e) if e.is_invalid_block() => {
            Status::invalid_argument(format!("the ledger refused the block: {e}"))
        }
        NodeError::MalformedTx(e) => {
            tracing::debug!(error = %e, "refusing a malformed transaction");
            Status::invalid_argument("malformed transaction")
        }
        e => {
            tracing::error!(error = %e, "request failed");
            Status::internal("internal error")
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| NodeError::Task)
        .and_then(|r| r)
        .map_err(to_status)
}

#[tonic::async_trait]
impl LedgerNode for LedgerNodeService {
    async fn submit_tx(
        &self,
        request: Request<SubmitTxRequest>,
    ) -> Result<Response<SubmitTxResponse>, Status> {
        let wire = request.into_inner().tx.ok_or(NodeError::MissingTx);
        let tx = wire
            .and_then(|w| Tx::try_from_wire(&w).map_err(NodeError::from))
            .map_err(to_status)?;
        let node = Arc::clone(&self.node);
        let outcome = blocking(move || node.submit_tx(tx)).await?;
        let (result, rule) = match outcome.verdict {
            Verdict::Accepted => (SubmitTxResult::Accepted, String::new()),
            Verdict::Invalid { rule } => (SubmitTxResult::Invalid, rule),
            Verdict::DoubleSpend { rule } => (SubmitTxResult::DoubleSpend, rule),
            Verdict::Busy => (SubmitTxResult::Busy, RULE_PENDING_SET_FULL.into()),
        };
        Ok(Response::new(SubmitTxResponse {
            result: result.into(),
            rule,
            block_count: outcome.block_count,
        }))
    }

    async fn get_ledger_info(
        &self,
        _request: Request<GetLedgerInfoRequest>,
    ) -> Result<Response<LedgerInfo>, Status> {
        let ledger = self.node.ledger().clone();
        let minimum_fees = self.node.config().fee_map.clone().into_iter().collect();
        let info = blocking(move || {
            let s = ledger.snapshot()?;
            Ok(LedgerInfo {
                block_count: s.num_blocks()?,
                txo_count: s.num_txos()?,
                last_block: s.last_block()?.map(|b| b.to_wire()),
                root_element: Some(s.root_element()?.to_wire()),
                minimum_fees,
            })
        })
        .await?;
        Ok(Response::new(info))
    }

    async fn get_blocks(
        &self,
        request: Request<GetBlocksRequest>,
    ) -> Result<Response<GetBlocksResponse>, Status> {
        let GetBlocksRequest { first, limit } = request.into_inner();
        let limit = match limit {
            0 => MAX_BLOCKS_PER_CALL,
            n => n.min(MAX_BLOCKS_PER_CALL),
        };
        let ledger = self.node.ledger().clone();
        let answer = blocking(move || {
            let s = ledger.snapshot()?;
            let block_count = s.num_blocks()?;
            let end = first.saturating_add(u64::from(limit)).min(block_count);
            let mut blocks = Vec::new();
            let mut tx_outs = 0usize;
            for index in first..end {
                if tx_outs >= MAX_TXOUTS_PER_CALL {
                    break;
                }
                let (Some(block), Some(contents)) = (s.block(index)?, s.block_contents(index)?)
                else {
                    break;
                };
                tx_outs += contents.outputs.len();
                let timestamp = s.block_timestamp(index)?.unwrap_or(0);
                blocks.push(BlockData::encode_block(&block, &contents, timestamp));
            }
            Ok(GetBlocksResponse {
                blocks,
                block_count,
            })
        })
        .await?;
        Ok(Response::new(answer))
    }
}

#[tonic::async_trait]
impl LedgerNodeTestBlocks for LedgerNodeService {
    async fn append_block(
        &self,
        request: Request<BlockData>,
    ) -> Result<Response<AppendBlockResponse>, Status> {
        if !self.node.config().allow_test_blocks {
            return Err(to_status(NodeError::TestBlocksNotAllowed));
        }
        let data = request.into_inner();
        let (block, contents) = data
            .decode_block()
            .map_err(|why| to_status(NodeError::MalformedBlock(why)))?;
        let node = Arc::clone(&self.node);
        let block_count =
            blocking(move || node.append_test_block(&block, &contents, data.timestamp)).await?;
        Ok(Response::new(AppendBlockResponse { block_count }))
    }
}

/// The prefix of the node's metric names.
pub const METRICS_PREFIX: &str = "fog_node";

/// The node's metrics (names without the prefix); always ready.
pub fn observation(node: &Node) -> Result<Observation, NodeError> {
    let s = node.ledger().snapshot()?;
    let (blocks, txos) = (s.num_blocks()?, s.num_txos()?);
    drop(s);
    let c = node.counters();
    let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let mut o = Observation::new(Readiness::ready(format!(
        "the ledger holds {blocks} blocks"
    )));
    o.push(
        "submitted",
        "Transactions submitted, by verdict.",
        Value::Counters(
            "verdict",
            vec![
                ("accepted", get(&c.accepted)),
                ("invalid", get(&c.invalid)),
                ("double_spend", get(&c.double_spend)),
                ("busy", get(&c.busy)),
            ],
        ),
    )
    .counter("blocks_cut", "Blocks the node cut.", get(&c.blocks_cut))
    .counter(
        "test_blocks",
        "Test blocks appended from outside (--allow-test-blocks).",
        get(&c.test_blocks),
    )
    .gauge("ledger_blocks", "Blocks in the ledger.", blocks)
    .gauge("ledger_txos", "TxOuts in the ledger.", txos)
    .gauge(
        "pending_txs",
        "Transactions waiting for a block.",
        node.pending_count() as u64,
    );
    Ok(o)
}

impl Observe for Node {
    fn observe(&self) -> BoxFuture<'_, Observation> {
        Box::pin(async move {
            observation(self).unwrap_or_else(|e| {
                Observation::new(Readiness::not_ready(format!("the ledger DB failed: {e}")))
            })
        })
    }
}

/// Serves `node`'s gRPC API on `listener` until the server fails. Does not cut blocks: start
/// [`Node::start_block_cutter`] beside it, or use [`run`]. Bind the listener to port 0 in
/// tests.
pub async fn serve(listener: TcpListener, node: Arc<Node>) -> Result<(), NodeError> {
    serve_with_shutdown(listener, node, std::future::pending()).await
}

/// [`serve`] until `shutdown` completes; in-flight requests finish first.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    serve_spec(
        fog_host::Serve::new(METRICS_PREFIX, listener),
        node,
        shutdown,
    )
    .await
}

/// [`serve_with_shutdown`] as `spec` says: limits, an operations endpoint.
pub async fn serve_spec(
    mut spec: fog_host::Serve,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    let service = LedgerNodeService::new(Arc::clone(&node));
    let routes = fog_host::Routes::new(service.clone().into_server())
        .add_service(service.into_test_blocks_server());
    if spec.health_names.is_empty() {
        spec.health_names = vec!["fog_node.LedgerNode"];
    }
    fog_host::serve(spec, routes, node, shutdown).await?;
    Ok(())
}

/// The whole node: the block cutter and the gRPC server on `listener`, until `shutdown`
/// completes. Then the server stops taking requests, the cutter cuts what is pending one
/// last time, and `run` returns. This is `fogd node`.
pub async fn run(
    listener: TcpListener,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    run_spec(
        fog_host::Serve::new(METRICS_PREFIX, listener),
        node,
        shutdown,
    )
    .await
}

/// [`run`] as `spec` says: limits, an operations endpoint.
pub async fn run_spec(
    spec: fog_host::Serve,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    let cutter = node.start_block_cutter();
    let served = serve_spec(spec, Arc::clone(&node), shutdown).await;
    cutter.stop().await;
    served
}
