//! The node: validation against the ledger and the pending set, and block cutting.

use std::{
    cell::RefCell,
    collections::{BTreeSet, HashSet, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use fog_ledger_db::{LedgerDb, LedgerError, LedgerSnapshot};
use fog_transaction::{
    block::{Block, BlockContents},
    tx::Tx,
    validation::{
        validate, validate_against_ledger, TransactionValidationError, ValidationContext,
    },
    KeyImage, TxOut,
};
use tokio::{
    sync::{watch, Notify},
    task::JoinHandle,
};

use crate::{config::NodeConfig, error::NodeError};

/// The rule that refuses a transaction spending a key image that a pending transaction
/// already spends.
pub const RULE_KEY_IMAGE_ALREADY_PENDING: &str = "KeyImageAlreadyPending";
/// The rule that refuses a transaction creating an output public key that a pending
/// transaction already creates.
pub const RULE_OUTPUT_PUBLIC_KEY_ALREADY_PENDING: &str = "OutputPublicKeyAlreadyPending";
/// The name given with [`Verdict::Busy`].
pub const RULE_PENDING_SET_FULL: &str = "PendingSetFull";

/// What the node decided about a submitted transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Valid; queued for the next block.
    Accepted,
    /// Refused by a validation rule, named by `rule` (see [`rule_name`]).
    Invalid {
        /// The rule's name.
        rule: String,
    },
    /// A key image already spent in the ledger (`ContainsSpentKeyImage`) or by a pending
    /// transaction ([`RULE_KEY_IMAGE_ALREADY_PENDING`]).
    DoubleSpend {
        /// The rule's name.
        rule: String,
    },
    /// The pending set is full; the transaction was not checked. Retry later.
    Busy,
}

/// A verdict with the ledger's block count when the transaction was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// The decision.
    pub verdict: Verdict,
    /// Blocks in the ledger when it was checked.
    pub block_count: u64,
}

/// The name of the rule behind a validation error: the chain of its `Debug` variant names
/// with any data left out, e.g. `TombstoneBlockExceeded`,
/// `InvalidTransactionSignature(ValueNotConserved)` or
/// `InvalidTransactionSignature(MissingRangeProofs)` (whose counts are dropped). Safe to send
/// to a client: it names a rule, never the values that broke it.
pub fn rule_name(error: &TransactionValidationError) -> String {
    variant_chain(&format!("{error:?}"))
}

fn variant_chain(debug: &str) -> String {
    let mut names = Vec::new();
    let mut rest = debug;
    loop {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
            break;
        }
        names.push(name);
        match rest[end..].strip_prefix('(') {
            Some(inner) => rest = inner,
            None => break,
        }
    }
    let mut out = names.join("(");
    out.push_str(&")".repeat(names.len().saturating_sub(1)));
    out
}

#[derive(Default)]
struct Pending {
    txs: VecDeque<Tx>,
    /// Key images of the queued transactions and of the batch being cut.
    key_images: HashSet<KeyImage>,
    /// Output public keys of the queued transactions and of the batch being cut.
    output_keys: HashSet<[u8; 32]>,
}

impl Pending {
    fn forget(&mut self, tx: &Tx) {
        for k in tx.key_images() {
            self.key_images.remove(&k);
        }
        for k in tx.output_public_keys() {
            self.output_keys.remove(&k);
        }
    }
}

/// The ledger node: owns the ledger DB, the pending transactions and the config.
///
/// [`Node::submit_tx`] validates a transaction (MobileCoin's rules against the ledger's
/// current roots, then the ledger's spent key images and output public keys, then the
/// pending set) and queues it; [`Node::cut_block`] turns the pending set into a block. Both
/// are synchronous and CPU- or disk-bound: from async code run them on a blocking thread
/// (the gRPC service and [`BlockCutter`] do). Share a node as `Arc<Node>`.
///
/// The node is the ledger's only writer. Pending transactions live in memory: a node that
/// stops without cutting them ([`BlockCutter::stop`] cuts once more) loses them, and their
/// senders resubmit.
pub struct Node {
    ledger: LedgerDb,
    config: NodeConfig,
    pending: Mutex<Pending>,
    batch_ready: Notify,
    cutting: Mutex<()>,
    counters: NodeCounters,
}

/// What a node counts: submissions by verdict, and blocks.
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Transactions accepted into the pending set.
    pub accepted: AtomicU64,
    /// Transactions refused by a validation rule.
    pub invalid: AtomicU64,
    /// Transactions refused as double spends.
    pub double_spend: AtomicU64,
    /// Transactions turned away because the pending set was full.
    pub busy: AtomicU64,
    /// Blocks the node cut.
    pub blocks_cut: AtomicU64,
    /// Test blocks appended from outside.
    pub test_blocks: AtomicU64,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("config", &self.config)
            .field("pending", &self.pending_count())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the pending set half-updated in a way
    // that matters: at worst a transaction is missing or its keys linger until restart.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Node {
    /// A node over `ledger`, which must hold an origin block ([`NodeError::EmptyLedger`]
    /// otherwise) whose last block version is not above `config.block_version`, with a fee
    /// map that keeps MobileCoin's rules ([`NodeError::BadFeeMap`] otherwise).
    pub fn new(ledger: LedgerDb, config: NodeConfig) -> Result<Self, NodeError> {
        crate::check_fee_map(&config.fee_map)?;
        let last = ledger.last_block()?.ok_or(NodeError::EmptyLedger)?;
        if last.version > config.block_version.get() {
            return Err(NodeError::BlockVersionBehindLedger {
                configured: config.block_version.get(),
                ledger: last.version,
            });
        }
        Ok(Self {
            ledger,
            config,
            pending: Mutex::new(Pending::default()),
            batch_ready: Notify::new(),
            cutting: Mutex::new(()),
            counters: NodeCounters::default(),
        })
    }

    /// Creates a ledger file at `path` holding only an origin block that pays `funding`
    /// (see [`crate::init_ledger`]).
    pub fn init_ledger<R: rand::RngCore + rand::CryptoRng>(
        path: &std::path::Path,
        funding: &[(fog_account::PublicAddress, fog_transaction::Amount)],
        ingest_public_key: Option<&fog_crypto::RistrettoPublic>,
        rng: &mut R,
    ) -> Result<LedgerDb, NodeError> {
        crate::origin::init_ledger(path, funding, ingest_public_key, rng)
    }

    /// The ledger (a cheap clone shares it). Read from it freely; never append to it while
    /// the node runs.
    pub fn ledger(&self) -> &LedgerDb {
        &self.ledger
    }

    /// The config.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Transactions waiting for a block.
    pub fn pending_count(&self) -> usize {
        lock(&self.pending).txs.len()
    }

    /// Validates `tx` and, if valid, queues it for the next block.
    ///
    /// In order: [`validate`] with the block version, fee map and ring size of the config,
    /// `current_block_index` = the ledger's block count, and root proofs for every proof's
    /// highest index read from **one** ledger snapshot (a proof whose highest index is beyond
    /// the ledger gets no root proof, so the transaction is refused as
    /// `MissingTxOutMembershipProof`); then [`validate_against_ledger`] on the same snapshot
    /// (`ContainsSpentKeyImage`, `ContainsExistingOutputPublicKey`); then the pending set
    /// ([`RULE_KEY_IMAGE_ALREADY_PENDING`], [`RULE_OUTPUT_PUBLIC_KEY_ALREADY_PENDING`]),
    /// checked and updated under one lock so two conflicting transactions can never both be
    /// queued. Costs one signature and range proof verification (milliseconds).
    ///
    /// `Err` only for storage trouble; every refusal is a [`Verdict`].
    pub fn submit_tx(&self, tx: Tx) -> Result<SubmitOutcome, NodeError> {
        let outcome = self.decide(tx)?;
        let counter = match outcome.verdict {
            Verdict::Accepted => &self.counters.accepted,
            Verdict::Invalid { .. } => &self.counters.invalid,
            Verdict::DoubleSpend { .. } => &self.counters.double_spend,
            Verdict::Busy => &self.counters.busy,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(outcome)
    }

    /// What the node counted since it started.
    pub fn counters(&self) -> &NodeCounters {
        &self.counters
    }

    fn decide(&self, tx: Tx) -> Result<SubmitOutcome, NodeError> {
        let snapshot = self.ledger.snapshot()?;
        let block_count = snapshot.num_blocks()?;
        let outcome = |verdict| {
            Ok(SubmitOutcome {
                verdict,
                block_count,
            })
        };
        if self.pending_count() >= self.config.max_pending {
            return outcome(Verdict::Busy);
        }
        if let Some(verdict) = self.check_against_ledger(&tx, &snapshot, block_count)? {
            return outcome(verdict);
        }
        drop(snapshot);

        let mut pending = lock(&self.pending);
        if pending.txs.len() >= self.config.max_pending {
            return outcome(Verdict::Busy);
        }
        let key_images = tx.key_images();
        if key_images.iter().any(|k| pending.key_images.contains(k)) {
            return outcome(Verdict::DoubleSpend {
                rule: RULE_KEY_IMAGE_ALREADY_PENDING.into(),
            });
        }
        let output_keys = tx.output_public_keys();
        if output_keys.iter().any(|k| pending.output_keys.contains(k)) {
            return outcome(Verdict::Invalid {
                rule: RULE_OUTPUT_PUBLIC_KEY_ALREADY_PENDING.into(),
            });
        }
        pending.key_images.extend(key_images);
        pending.output_keys.extend(output_keys);
        pending.txs.push_back(tx);
        if pending.txs.len() >= self.config.max_txs_per_block {
            self.batch_ready.notify_one();
        }
        outcome(Verdict::Accepted)
    }

    /// The stateless rules and the ledger's state, all from one snapshot; `None` if valid.
    fn check_against_ledger(
        &self,
        tx: &Tx,
        snapshot: &LedgerSnapshot,
        block_count: u64,
    ) -> Result<Option<Verdict>, NodeError> {
        let num_txos = snapshot.num_txos()?;
        let in_ledger: Vec<u64> = tx
            .prefix
            .membership_proof_highest_indices()
            .into_iter()
            .filter(|h| *h < num_txos)
            .collect();
        let root_proofs = snapshot.membership_proofs(&in_ledger)?;
        let ctx = ValidationContext {
            block_version: self.config.block_version,
            current_block_index: block_count,
            fee_map: &self.config.fee_map,
            root_proofs: &root_proofs,
            ring_size: self.config.ring_size,
        };
        if let Err(e) = validate(tx, &ctx, &mut rand::rngs::OsRng) {
            return Ok(Some(Verdict::Invalid {
                rule: rule_name(&e),
            }));
        }
        match ledger_rules(tx, snapshot)? {
            Ok(()) => Ok(None),
            Err(e @ TransactionValidationError::ContainsSpentKeyImage) => {
                Ok(Some(Verdict::DoubleSpend {
                    rule: rule_name(&e),
                }))
            }
            Err(e) => Ok(Some(Verdict::Invalid {
                rule: rule_name(&e),
            })),
        }
    }

    /// Cuts one block from the pending transactions, if any is still valid, and appends it.
    ///
    /// Takes up to `max_txs_per_block` transactions in arrival order and re-checks each
    /// against the current ledger (tombstone against the block being cut, spent key images,
    /// existing output public keys) and against the transactions chosen before it; those
    /// that fail are dropped (logged). The block spends the chosen key images (sorted) and
    /// holds their outputs (sorted by public key); its root element is the ledger's root
    /// before it, which every chosen transaction's proofs imply; its timestamp is now.
    /// Fees are not paid out to anybody (no fee output): they are burned.
    ///
    /// Returns the new block, or `None` when nothing was pending or nothing survived. Calls
    /// are serialized; on a storage error the batch is lost (logged) and the error returned.
    pub fn cut_block(&self) -> Result<Option<Block>, NodeError> {
        let _cutting = lock(&self.cutting);
        let batch: Vec<Tx> = {
            let mut pending = lock(&self.pending);
            let n = pending.txs.len().min(self.config.max_txs_per_block);
            pending.txs.drain(..n).collect()
        };
        if batch.is_empty() {
            return Ok(None);
        }
        let result = self.append_batch(&batch);
        let mut pending = lock(&self.pending);
        for tx in &batch {
            pending.forget(tx);
        }
        if pending.txs.len() >= self.config.max_txs_per_block {
            self.batch_ready.notify_one();
        }
        drop(pending);
        if let Err(e) = &result {
            tracing::error!(error = %e, txs = batch.len(), "cutting a block failed; its transactions are dropped");
        }
        result
    }

    fn append_batch(&self, batch: &[Tx]) -> Result<Option<Block>, NodeError> {
        let snapshot = self.ledger.snapshot()?;
        let num_blocks = snapshot.num_blocks()?;
        let num_txos = snapshot.num_txos()?;
        let last = snapshot.last_block()?.ok_or(NodeError::EmptyLedger)?;
        let root_element = snapshot.root_element()?;

        let mut key_images = BTreeSet::new();
        let mut output_keys = HashSet::new();
        let mut outputs: Vec<TxOut> = Vec::new();
        let mut dropped = 0usize;
        for tx in batch {
            let why = if tx.prefix.tombstone_block <= num_blocks {
                Some("TombstoneBlockExceeded".to_string())
            } else if let Err(e) = ledger_rules(tx, &snapshot)? {
                Some(rule_name(&e))
            } else if tx.key_images().iter().any(|k| key_images.contains(k))
                || tx
                    .output_public_keys()
                    .iter()
                    .any(|k| output_keys.contains(k))
            {
                Some("ConflictsWithBatch".to_string())
            } else {
                None
            };
            if let Some(rule) = why {
                dropped += 1;
                tracing::info!(rule, tx = %hex_prefix(&tx.hash()), "dropping a pending transaction");
                continue;
            }
            key_images.extend(tx.key_images());
            output_keys.extend(tx.output_public_keys());
            outputs.extend(tx.prefix.outputs.iter().cloned());
        }
        drop(snapshot);
        if key_images.is_empty() {
            return Ok(None);
        }
        outputs.sort_by_key(|o| o.public_key);
        let contents = BlockContents {
            key_images: key_images.into_iter().collect(),
            outputs,
        };
        let block = Block::new(
            self.config.block_version.get(),
            last.id,
            num_blocks,
            num_txos + contents.outputs.len() as u64,
            root_element,
            &contents,
        );
        self.ledger
            .append_block(&block, &contents, now_secs())
            .map_err(NodeError::from)?;
        tracing::info!(
            index = block.index,
            txs = batch.len() - dropped,
            dropped,
            outputs = contents.outputs.len(),
            "cut a block"
        );
        self.counters.blocks_cut.fetch_add(1, Ordering::Relaxed);
        Ok(Some(block))
    }

    /// Appends a whole block made elsewhere (`fogd ledger-tool add-block --node`), when the
    /// config allows test blocks ([`NodeError::TestBlocksNotAllowed`] otherwise). The
    /// ledger's rules check it exactly as they check a block this node cuts; a refused block
    /// is [`NodeError::Ledger`] with the rule, and the ledger is unchanged. Serialized with
    /// the block cutter; pending transactions that the block invalidates are dropped at the
    /// next cut. Returns the ledger's block count after the append.
    pub fn append_test_block(
        &self,
        block: &Block,
        contents: &BlockContents,
        timestamp: u64,
    ) -> Result<u64, NodeError> {
        if !self.config.allow_test_blocks {
            return Err(NodeError::TestBlocksNotAllowed);
        }
        let _cutting = lock(&self.cutting);
        self.ledger.append_block(block, contents, timestamp)?;
        self.counters.test_blocks.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            index = block.index,
            outputs = contents.outputs.len(),
            key_images = contents.key_images.len(),
            "appended a test block"
        );
        Ok(block.index + 1)
    }

    /// Starts the block cutter on the current tokio runtime: a task that cuts a block every
    /// `block_interval`, and at once when `max_txs_per_block` transactions are pending.
    pub fn start_block_cutter(self: &Arc<Self>) -> BlockCutter {
        let (stop, stopped) = watch::channel(false);
        let node = Arc::clone(self);
        let handle = tokio::spawn(cutter_loop(node, stopped));
        BlockCutter { stop, handle }
    }
}

/// `validate_against_ledger` on a snapshot: the outer `Err` is storage trouble, the inner one
/// the rule.
fn ledger_rules(
    tx: &Tx,
    snapshot: &LedgerSnapshot,
) -> Result<Result<(), TransactionValidationError>, LedgerError> {
    let failure: RefCell<Option<LedgerError>> = RefCell::new(None);
    let keep = |e: LedgerError| {
        failure.borrow_mut().get_or_insert(e);
        true
    };
    let verdict = validate_against_ledger(
        tx,
        |k| {
            snapshot
                .check_key_image(k)
                .map_or_else(keep, |b| b.is_some())
        },
        |pk| {
            snapshot
                .tx_out_index_by_public_key(pk)
                .map_or_else(keep, |i| i.is_some())
        },
    );
    match failure.into_inner() {
        Some(e) => Err(e),
        None => Ok(verdict),
    }
}

fn hex_prefix(bytes: &[u8; 32]) -> String {
    bytes[..6].iter().map(|b| format!("{b:02x}")).collect()
}

async fn run_cut(node: &Arc<Node>) {
    let node = Arc::clone(node);
    match tokio::task::spawn_blocking(move || node.cut_block()).await {
        Ok(_) => {} // Outcomes and errors are logged by cut_block.
        Err(e) => tracing::error!(error = %e, "the block cutting task failed"),
    }
}

async fn cutter_loop(node: Arc<Node>, mut stopped: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(node.config.block_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await; // The first tick is immediate.
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = node.batch_ready.notified() => {}
            _ = stopped.changed() => break,
        }
        run_cut(&node).await;
    }
    // What was accepted before the stop gets its block.
    run_cut(&node).await;
}

/// The running block cutter of a node ([`Node::start_block_cutter`]).
#[derive(Debug)]
pub struct BlockCutter {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl BlockCutter {
    /// Stops the cutter after one last cut of whatever is pending, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "the block cutter task failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fog_transaction::{membership::MembershipProofError, validation::RingCtError};

    #[test]
    fn rule_names_carry_no_data() {
        assert_eq!(
            rule_name(&TransactionValidationError::TombstoneBlockExceeded),
            "TombstoneBlockExceeded"
        );
        assert_eq!(
            rule_name(&TransactionValidationError::InvalidTransactionSignature(
                RingCtError::ValueNotConserved
            )),
            "InvalidTransactionSignature(ValueNotConserved)"
        );
        assert_eq!(
            rule_name(&TransactionValidationError::InvalidTransactionSignature(
                RingCtError::MissingRangeProofs {
                    expected: 2,
                    found: 7
                }
            )),
            "InvalidTransactionSignature(MissingRangeProofs)"
        );
        assert_eq!(
            rule_name(&TransactionValidationError::InvalidTransactionSignature(
                RingCtError::NoCommitmentsForTokenId(12345)
            )),
            "InvalidTransactionSignature(NoCommitmentsForTokenId)"
        );
        let e = TransactionValidationError::InvalidTxOutMembershipProof(
            MembershipProofError::RootMismatch,
        );
        assert_eq!(rule_name(&e), "InvalidTxOutMembershipProof(RootMismatch)");
    }

    #[test]
    fn variant_chain_stops_at_data() {
        assert_eq!(variant_chain("A(B { x: 1 })"), "A(B)");
        assert_eq!(variant_chain("A([1, 2])"), "A");
        assert_eq!(variant_chain("A(\"text\")"), "A");
        assert_eq!(variant_chain(""), "");
    }
}
