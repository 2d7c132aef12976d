//! A scripted `fog_node.LedgerNode`: serves the blocks a test gives it, the way a test wants.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use fog_api::fog_node::{
    ledger_node_server::{LedgerNode, LedgerNodeServer},
    BlockData, GetBlocksRequest, GetBlocksResponse, GetLedgerInfoRequest, LedgerInfo,
    SubmitTxRequest, SubmitTxResponse,
};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

/// Blocks per answer, as the real node (`fog_node::MAX_BLOCKS_PER_CALL`).
const MAX_BLOCKS: u32 = 100;
/// TxOuts per answer before it stops adding blocks, as the real node.
const MAX_TXOUTS: usize = 10_000;

#[derive(Debug, Default)]
struct Script {
    blocks: Vec<BlockData>,
    /// `GetBlocks` calls whose `first` is at or past this wait until it is lifted.
    hang_from: Option<u64>,
    down: bool,
    calls: Vec<u64>,
}

/// A handle on a running scripted node: change what it serves while it runs.
#[derive(Clone, Debug)]
pub struct ScriptedNode {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    gate: watch::Sender<u64>,
}

fn lock(m: &Mutex<Script>) -> MutexGuard<'_, Script> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ScriptedNode {
    /// Starts a node serving `blocks` on a free loopback port, on the current runtime.
    pub async fn spawn(blocks: Vec<BlockData>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("a local address");
        let (gate, _) = watch::channel(0);
        let node = Self {
            addr,
            script: Arc::new(Mutex::new(Script {
                blocks,
                ..Script::default()
            })),
            gate,
        };
        let service = Service { node: node.clone() };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(LedgerNodeServer::new(service))
                .serve_with_incoming(fog_host::incoming(listener)),
        );
        node
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `blocks` from now on.
    pub fn set_blocks(&self, blocks: Vec<BlockData>) {
        lock(&self.script).blocks = blocks;
    }

    /// Replaces block `index` with `data` (a forged block, say).
    pub fn replace_block(&self, index: usize, data: BlockData) {
        lock(&self.script).blocks[index] = data;
    }

    /// Makes `GetBlocks` calls starting at or past `first` wait (until [`Self::release`]).
    pub fn hang_from(&self, first: u64) {
        lock(&self.script).hang_from = Some(first);
    }

    /// Lets waiting and later calls through.
    pub fn release(&self) {
        lock(&self.script).hang_from = None;
        self.gate.send_modify(|g| *g += 1);
    }

    /// Answers every call UNAVAILABLE while `down`.
    pub fn set_down(&self, down: bool) {
        lock(&self.script).down = down;
    }

    /// The `first` of every `GetBlocks` call so far, in order.
    pub fn calls(&self) -> Vec<u64> {
        lock(&self.script).calls.clone()
    }

    /// Waits until a `GetBlocks` call with `first` at or past `first` has come in.
    pub async fn wait_for_call_from(&self, first: u64) {
        loop {
            if self.calls().iter().any(|&f| f >= first) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

struct Service {
    node: ScriptedNode,
}

#[tonic::async_trait]
impl LedgerNode for Service {
    async fn submit_tx(
        &self,
        _request: Request<SubmitTxRequest>,
    ) -> Result<Response<SubmitTxResponse>, Status> {
        Err(Status::unimplemented(
            "a scripted node takes no transactions",
        ))
    }

    async fn get_ledger_info(
        &self,
        _request: Request<GetLedgerInfoRequest>,
    ) -> Result<Response<LedgerInfo>, Status> {
        let script = lock(&self.node.script);
        if script.down {
            return Err(Status::unavailable("scripted: down"));
        }
        Ok(Response::new(LedgerInfo {
            block_count: script.blocks.len() as u64,
            txo_count: 0,
            last_block: script.blocks.last().and_then(|b| b.block.clone()),
            root_element: None,
            minimum_fees: Default::default(),
        }))
    }

    async fn get_blocks(
        &self,
        request: Request<GetBlocksRequest>,
    ) -> Result<Response<GetBlocksResponse>, Status> {
        let GetBlocksRequest { first, limit } = request.into_inner();
        let mut gate = self.node.gate.subscribe();
        {
            let mut script = lock(&self.node.script);
            script.calls.push(first);
            if script.down {
                return Err(Status::unavailable("scripted: down"));
            }
        }
        loop {
            let hang = lock(&self.node.script)
                .hang_from
                .is_some_and(|h| first >= h);
            if !hang {
                break;
            }
            if gate.changed().await.is_err() {
                return Err(Status::unavailable("scripted: stopped"));
            }
        }
        let script = lock(&self.node.script);
        if script.down {
            return Err(Status::unavailable("scripted: down"));
        }
        let limit = match limit {
            0 => MAX_BLOCKS,
            n => n.min(MAX_BLOCKS),
        };
        let mut blocks = Vec::new();
        let mut tx_outs = 0;
        let start = usize::try_from(first).unwrap_or(usize::MAX);
        for data in script.blocks.iter().skip(start).take(limit as usize) {
            if tx_outs >= MAX_TXOUTS {
                break;
            }
            tx_outs += data.contents.as_ref().map_or(0, |c| c.outputs.len());
            blocks.push(data.clone());
        }
        Ok(Response::new(GetBlocksResponse {
            blocks,
            block_count: script.blocks.len() as u64,
        }))
    }
}
