#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod stats;

use std::{
    future::Future,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use fog_api::fog_node::{
    ledger_node_client::LedgerNodeClient, BlockData, GetBlocksRequest, GetBlocksResponse,
};
use fog_ledger_db::{Durability, LedgerDb, LedgerError};
use fog_transaction::block::{Block, BlockContents};
use thiserror::Error;
use tokio::{sync::watch, task::JoinHandle};
use tonic::transport::{Channel, Endpoint};

pub use stats::FollowerStats;

/// The largest `GetBlocks` answer the follower decodes: the node's own answer limit
/// (`fog_node::MAX_RESPONSE_BYTES`, 4 MiB).
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// How the follower reaches its nodes and paces itself. [`FollowerConfig::new`] gives the
/// defaults below.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FollowerConfig {
    /// The ledger nodes' gRPC URLs (`http://host:port`), tried in this order.
    pub nodes: Vec<String>,
    /// How long to wait, once caught up, before asking again. Default 100 ms, so that a block
    /// a node cuts is here well within the 250 ms the services poll at.
    pub poll_interval: Duration,
    /// The longest a connection attempt may take. Default 2 s.
    pub connect_timeout: Duration,
    /// The longest one `GetBlocks` call may take. Default 10 s.
    pub request_timeout: Duration,
    /// Blocks asked for per call (1..=1000; the node caps it too, at 100). Default 100.
    pub batch_blocks: u32,
    /// The first wait after a round in which no node answered. Default 100 ms.
    pub min_backoff: Duration,
    /// The longest wait between such rounds. Default 5 s.
    pub max_backoff: Duration,
    /// How long a node that contradicted the chain (a fork, a block that fails verification)
    /// is left alone. Default 10 minutes.
    pub refuse_for: Duration,
    /// The id the origin block must have, when the ledger is synced from empty. `None`
    /// trusts the first node's origin block.
    pub origin_block_id: Option<[u8; 32]>,
}

impl FollowerConfig {
    /// The defaults, following `nodes`.
    pub fn new(nodes: Vec<String>) -> Self {
        Self {
            nodes,
            poll_interval: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            batch_blocks: 100,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            refuse_for: Duration::from_secs(600),
            origin_block_id: None,
        }
    }

    /// This config with another poll interval.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// This config with other backoff bounds.
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max;
        self
    }

    /// This config with another batch size.
    pub fn with_batch_blocks(mut self, blocks: u32) -> Self {
        self.batch_blocks = blocks;
        self
    }

    /// This config with a pinned origin block id.
    pub fn with_origin_block_id(mut self, id: [u8; 32]) -> Self {
        self.origin_block_id = Some(id);
        self
    }

    fn check(&self) -> Result<(), FollowerError> {
        if self.nodes.is_empty() {
            return Err(FollowerError::NoNodes);
        }
        if self.batch_blocks == 0 || self.batch_blocks > 1000 {
            return Err(FollowerError::Config("batch_blocks must be in 1..=1000"));
        }
        if self.poll_interval.is_zero() || self.min_backoff.is_zero() {
            return Err(FollowerError::Config(
                "the poll interval and the backoff must not be zero",
            ));
        }
        if self.max_backoff < self.min_backoff {
            return Err(FollowerError::Config(
                "max_backoff must not be below min_backoff",
            ));
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(FollowerError::Config("timeouts must not be zero"));
        }
        Ok(())
    }
}

/// Why the follower cannot go on. A node that is down or lies is not an error of the
/// follower: it is logged, counted in [`FollowerStats`], and another node is tried.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FollowerError {
    /// The config names no node.
    #[error("no ledger node to follow")]
    NoNodes,
    /// A node URL that is not a valid URI.
    #[error("bad ledger node URL {url:?}: {why}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        why: String,
    },
    /// A config value out of range.
    #[error("bad follower config: {0}")]
    Config(&'static str),
    /// The local ledger DB failed (not a bad block: those are the node's fault).
    #[error("the local ledger DB failed: {0}")]
    Ledger(#[from] LedgerError),
    /// [`Follower::catch_up`] found no node that answered; the text says what each did.
    #[error("no ledger node answered: {0}")]
    NoNodeAnswered(String),
    /// A blocking task panicked.
    #[error("a worker task failed")]
    Task,
}

/// What one round over the nodes came to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Round {
    /// A node answered and the local ledger holds every block it has (or more).
    Synced {
        /// The local block count after the round.
        block_count: u64,
    },
    /// No node answered in full; the text says what each did.
    NoNodeAnswered(String),
}

/// What went wrong with one node.
enum NodeFailure {
    /// Down, slow, or answered with an error status: try another, come back later.
    Unreachable(String),
    /// Its chain contradicts ours, or its blocks fail verification: refuse it for a while.
    Contradicts(String),
}

enum PullError {
    Node(NodeFailure),
    Fatal(FollowerError),
}

impl From<NodeFailure> for PullError {
    fn from(f: NodeFailure) -> Self {
        Self::Node(f)
    }
}

fn contradicts(why: impl Into<String>) -> PullError {
    PullError::Node(NodeFailure::Contradicts(why.into()))
}

struct NodeHandle {
    url: String,
    client: LedgerNodeClient<Channel>,
    refused_until: Option<Instant>,
}

/// One decoded block of an answer.
type Fetched = (Block, BlockContents, u64);

/// Keeps a [`LedgerDb`] in step with ledger nodes. Make one inside a Tokio runtime, then
/// [`Follower::run`] it until shutdown, or call [`Follower::catch_up`] for one pass.
pub struct Follower {
    ledger: LedgerDb,
    config: FollowerConfig,
    nodes: Vec<NodeHandle>,
    current: usize,
    stats: Arc<FollowerStats>,
    block_count: watch::Sender<u64>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("nodes", &self.config.nodes)
            .field("current", &self.current)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn hex8(id: &[u8; 32]) -> String {
    id[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl Follower {
    /// A follower that appends to `ledger` what the nodes of `config` have. Checks the config
    /// and the URLs; connects lazily. Must be called inside a Tokio runtime.
    pub async fn new(ledger: LedgerDb, config: FollowerConfig) -> Result<Self, FollowerError> {
        config.check()?;
        let nodes = config
            .nodes
            .iter()
            .map(|url| {
                let endpoint =
                    Endpoint::from_shared(url.clone()).map_err(|e| FollowerError::BadUrl {
                        url: url.clone(),
                        why: e.to_string(),
                    })?;
                let channel = endpoint
                    .connect_timeout(config.connect_timeout)
                    .timeout(config.request_timeout)
                    .connect_lazy();
                Ok(NodeHandle {
                    url: url.clone(),
                    client: LedgerNodeClient::new(channel)
                        .max_decoding_message_size(MAX_ANSWER_BYTES),
                    refused_until: None,
                })
            })
            .collect::<Result<Vec<_>, FollowerError>>()?;
        let held = {
            let ledger = ledger.clone();
            tokio::task::spawn_blocking(move || ledger.num_blocks())
                .await
                .map_err(|_| FollowerError::Task)??
        };
        let stats = Arc::new(FollowerStats::default());
        stats.local_blocks.store(held, Ordering::Relaxed);
        let (block_count, _) = watch::channel(held);
        Ok(Self {
            ledger,
            config,
            nodes,
            current: 0,
            stats,
            block_count,
        })
    }

    /// The counters, shared: read them from a metrics endpoint or a readiness check.
    pub fn stats(&self) -> Arc<FollowerStats> {
        Arc::clone(&self.stats)
    }

    /// The local block count, updated after every committed batch.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.block_count.subscribe()
    }

    /// Follows the nodes until `shutdown` completes: a round over the nodes, then a wait of
    /// [`FollowerConfig::poll_interval`] (or of the backoff when no node answered), again and
    /// again. Returns early only when the local ledger DB fails.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), FollowerError> {
        tokio::pin!(shutdown);
        let mut backoff = self.config.min_backoff;
        tracing::info!(
            nodes = ?self.config.nodes,
            blocks = self.stats.local_blocks.load(Ordering::Relaxed),
            "following the ledger"
        );
        loop {
            let wait = tokio::select! {
                round = self.sync_round() => match round? {
                    Round::Synced { .. } => {
                        backoff = self.config.min_backoff;
                        self.config.poll_interval
                    }
                    Round::NoNodeAnswered(why) => {
                        let wait = backoff;
                        backoff = (backoff * 2).min(self.config.max_backoff);
                        tracing::warn!(%why, retry_in = ?wait, "no ledger node answered");
                        wait
                    }
                },
                () = &mut shutdown => return Ok(()),
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut shutdown => return Ok(()),
            }
        }
    }

    /// One round, then an error if no node answered: for tools and tests that want the
    /// ledger as one node has it now. Returns the local block count.
    pub async fn catch_up(&mut self) -> Result<u64, FollowerError> {
        match self.sync_round().await? {
            Round::Synced { block_count } => Ok(block_count),
            Round::NoNodeAnswered(why) => Err(FollowerError::NoNodeAnswered(why)),
        }
    }

    /// Tries the nodes in turn, from the one that answered last, until one answers in full:
    /// every block it has that the local ledger lacks is fetched, verified and appended.
    /// Nodes that are behind the local ledger are checked against it and passed over.
    pub async fn sync_round(&mut self) -> Result<Round, FollowerError> {
        let n = self.nodes.len();
        let now = Instant::now();
        let mut failures = Vec::new();
        let mut any_behind = false;
        for k in 0..n {
            let i = (self.current + k) % n;
            let url = self.nodes[i].url.clone();
            if self.nodes[i].refused_until.is_some_and(|t| t > now) {
                failures.push(format!("{url}: refused for contradicting the chain"));
                continue;
            }
            match self.pull(i).await {
                Ok(node_count) => {
                    let local = self.stats.local_blocks.load(Ordering::Relaxed);
                    self.nodes[i].refused_until = None;
                    if node_count >= local {
                        self.current = i;
                        self.stats.set_caught_up(true);
                        return Ok(Round::Synced { block_count: local });
                    }
                    tracing::debug!(node = %url, node_count, local, "node is behind");
                    any_behind = true;
                }
                Err(PullError::Fatal(e)) => return Err(e),
                Err(PullError::Node(NodeFailure::Unreachable(why))) => {
                    self.stats.node_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(node = %url, %why, "ledger node unavailable");
                    failures.push(format!("{url}: {why}"));
                }
                Err(PullError::Node(NodeFailure::Contradicts(why))) => {
                    self.stats.contradictions.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        node = %url,
                        %why,
                        refused_for = ?self.config.refuse_for,
                        "ledger node contradicts the verified chain; keeping ours"
                    );
                    self.nodes[i].refused_until = Some(Instant::now() + self.config.refuse_for);
                    failures.push(format!("{url}: {why}"));
                }
            }
        }
        if any_behind {
            // Every node that answered is behind the local ledger (and agrees with it).
            self.stats.set_caught_up(true);
            let block_count = self.stats.local_blocks.load(Ordering::Relaxed);
            return Ok(Round::Synced { block_count });
        }
        self.stats.set_caught_up(false);
        Ok(Round::NoNodeAnswered(failures.join("; ")))
    }

    /// The local block count and the last block's id, from one snapshot.
    async fn tip(&self) -> Result<(u64, Option<[u8; 32]>), PullError> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || {
            let s = ledger.snapshot()?;
            Ok::<_, LedgerError>((s.num_blocks()?, s.last_block()?.map(|b| b.id)))
        })
        .await
        .map_err(|_| PullError::Fatal(FollowerError::Task))?
        .map_err(|e| PullError::Fatal(e.into()))
    }

    /// Fetches and appends from node `i` until it has nothing the local ledger lacks.
    /// Returns the node's block count.
    async fn pull(&mut self, i: usize) -> Result<u64, PullError> {
        let client = self.nodes[i].client.clone();
        let limit = self.config.batch_blocks;
        let (mut local, mut last_id) = self.tip().await?;
        let mut in_flight: Option<JoinHandle<Result<GetBlocksResponse, String>>> = None;
        loop {
            let first = local.saturating_sub(1);
            let answer = match in_flight.take() {
                Some(handle) => handle
                    .await
                    .map_err(|_| PullError::Fatal(FollowerError::Task))?,
                None => fetch(client.clone(), first, limit).await,
            }
            .map_err(NodeFailure::Unreachable)?;
            let node_count = answer.block_count;
            self.stats
                .node_blocks
                .fetch_max(node_count, Ordering::Relaxed);
            let batch = self.check_answer(answer, first, limit, local, last_id)?;
            if batch.is_empty() {
                if node_count < local {
                    self.check_behind_node(&client, node_count).await?;
                }
                return Ok(node_count);
            }
            let new_local = local + batch.len() as u64;
            if node_count > new_local {
                // Fetch the next batch while this one is verified and written.
                in_flight = Some(tokio::spawn(fetch(client.clone(), new_local - 1, limit)));
            }
            let tip = batch.last().map(|(b, _, _)| b.id);
            // While more blocks are coming, commit without waiting for the disk: a killed
            // process keeps every commit, and what a power loss takes (never half a block)
            // is fetched again. The batch that reaches the node's tip is made durable.
            let durability = if node_count > new_local {
                Durability::Eventual
            } else {
                Durability::Immediate
            };
            self.append(batch, durability).await?;
            local = new_local;
            last_id = tip;
        }
    }

    /// Decodes an answer to `GetBlocks(first, limit)` and checks that it continues the local
    /// chain (`local` blocks, the last with id `last_id`); returns the blocks after it.
    fn check_answer(
        &self,
        answer: GetBlocksResponse,
        first: u64,
        limit: u32,
        local: u64,
        last_id: Option<[u8; 32]>,
    ) -> Result<Vec<Fetched>, PullError> {
        let node_count = answer.block_count;
        if answer.blocks.len() > limit as usize {
            return Err(contradicts(format!(
                "answered {} blocks to a request for {limit}",
                answer.blocks.len()
            )));
        }
        let mut blocks = Vec::with_capacity(answer.blocks.len());
        for (k, data) in answer.blocks.into_iter().enumerate() {
            let index = first + k as u64;
            let fetched =
                decode(data).map_err(|why| contradicts(format!("block {index}: {why}")))?;
            if fetched.0.index != index {
                return Err(contradicts(format!(
                    "sent block {} where block {index} belongs",
                    fetched.0.index
                )));
            }
            blocks.push(fetched);
        }
        let expected_overlap = u64::from(local > 0);
        if (blocks.len() as u64) < expected_overlap {
            if node_count >= local {
                return Err(contradicts(format!(
                    "claims {node_count} blocks but did not send block {first}"
                )));
            }
            return Ok(Vec::new());
        }
        if let (Some(ours), Some((theirs, _, _))) = (last_id, blocks.first()) {
            if theirs.id != ours {
                return Err(contradicts(format!(
                    "fork at block {first}: the node's id {}, ours {}",
                    hex8(&theirs.id),
                    hex8(&ours)
                )));
            }
        }
        if local == 0 {
            if let (Some(pinned), Some((origin, _, _))) =
                (self.config.origin_block_id, blocks.first())
            {
                if origin.id != pinned {
                    return Err(contradicts(format!(
                        "origin block id {}, the pinned one is {}",
                        hex8(&origin.id),
                        hex8(&pinned)
                    )));
                }
            }
        }
        blocks.drain(..expected_overlap as usize);
        Ok(blocks)
    }

    /// A node with fewer blocks than the local ledger must agree with it at its own tip.
    async fn check_behind_node(
        &self,
        client: &LedgerNodeClient<Channel>,
        node_count: u64,
    ) -> Result<(), PullError> {
        let Some(index) = node_count.checked_sub(1) else {
            return Ok(());
        };
        let answer = fetch(client.clone(), index, 1)
            .await
            .map_err(NodeFailure::Unreachable)?;
        let theirs = match answer.blocks.into_iter().next() {
            Some(data) => {
                decode(data).map_err(|why| contradicts(format!("block {index}: {why}")))?
            }
            None => {
                return Err(contradicts(format!(
                    "claims {node_count} blocks but did not send block {index}"
                )))
            }
        };
        let ledger = self.ledger.clone();
        let ours = tokio::task::spawn_blocking(move || ledger.get_block(index))
            .await
            .map_err(|_| PullError::Fatal(FollowerError::Task))?
            .map_err(|e| PullError::Fatal(e.into()))?;
        match ours {
            Some(ours) if ours.id == theirs.0.id => Ok(()),
            _ => Err(contradicts(format!(
                "fork at block {index}: the node (at {node_count} blocks) has another block there"
            ))),
        }
    }

    /// Verifies and appends `batch` in one transaction. When a block fails verification, the
    /// blocks before it are appended (they are valid) and the node is refused.
    async fn append(&self, batch: Vec<Fetched>, durability: Durability) -> Result<(), PullError> {
        let ledger = self.ledger.with_durability(durability);
        let (outcome, batch) = tokio::task::spawn_blocking(move || {
            let blocks = |n: usize| batch[..n].iter().map(|(b, c, t)| (b, c, *t));
            let outcome = match ledger.append_blocks(blocks(batch.len())) {
                Ok(()) => Appended::All,
                Err(LedgerError::InBatch { position, source }) if source.is_invalid_block() => {
                    match ledger.append_blocks(blocks(position)) {
                        Ok(()) => Appended::Prefix {
                            kept: position,
                            refused: source,
                        },
                        Err(e) => Appended::Failed(e),
                    }
                }
                Err(e) => Appended::Failed(e),
            };
            (outcome, batch)
        })
        .await
        .map_err(|_| PullError::Fatal(FollowerError::Task))?;
        let kept = match &outcome {
            Appended::All => batch.len(),
            Appended::Prefix { kept, .. } => *kept,
            Appended::Failed(_) => 0,
        };
        if let Some((last, _, _)) = kept.checked_sub(1).map(|k| &batch[k]) {
            let tx_outs: usize = batch[..kept].iter().map(|(_, c, _)| c.outputs.len()).sum();
            let local = last.index + 1;
            self.stats.record_batch(kept as u64, tx_outs as u64, local);
            self.block_count.send_replace(local);
        }
        match outcome {
            Appended::All => Ok(()),
            Appended::Prefix { kept, refused } => Err(contradicts(format!(
                "block {} fails verification: {refused}",
                batch[kept].0.index
            ))),
            Appended::Failed(e) => Err(PullError::Fatal(e.into())),
        }
    }
}

/// What became of a batch.
enum Appended {
    /// Every block is in the ledger.
    All,
    /// The first `kept` are; the next one broke a rule.
    Prefix {
        kept: usize,
        refused: Box<LedgerError>,
    },
    /// The local ledger DB failed; nothing of the batch is in it.
    Failed(LedgerError),
}

/// One `GetBlocks` call; any failure as text.
async fn fetch(
    mut client: LedgerNodeClient<Channel>,
    first: u64,
    limit: u32,
) -> Result<GetBlocksResponse, String> {
    client
        .get_blocks(GetBlocksRequest { first, limit })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| match status.code() {
            tonic::Code::Unavailable | tonic::Code::Unknown if status.message().is_empty() => {
                "unreachable".to_string()
            }
            code => format!("{code:?}: {}", status.message()),
        })
}

fn decode(data: BlockData) -> Result<Fetched, String> {
    let (block, contents) = data.decode_block()?;
    Ok((block, contents, data.timestamp))
}
