//! [`LedgerDb`]: opening, appending, and the read snapshot.

use std::{cell::RefCell, collections::BTreeMap, fs::OpenOptions, io, path::Path, sync::Arc};

use fog_transaction::{
    block::{Block, BlockContents},
    membership::{self, NodeStore, Range, TxOutMembershipElement, TxOutMembershipProof},
    BlockVersion, KeyImage, TxOut,
};
use prost::Message;
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, Table, WriteTransaction};

use crate::{
    error::LedgerError,
    tables::{self, be, range_key},
};

/// When a committed append reaches the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// Each append is on disk (fsync'd) when it returns. A crash of the process or of the
    /// machine leaves every returned append in place.
    #[default]
    Immediate,
    /// Appends are committed (readers see them, a killed process keeps them) but flushed to
    /// disk later; an OS crash or power loss may lose the latest ones, never half of one.
    /// For bulk generation: finish with [`LedgerDb::sync`].
    Eventual,
}

impl Durability {
    fn to_redb(self) -> redb::Durability {
        match self {
            Self::Immediate => redb::Durability::Immediate,
            Self::Eventual => redb::Durability::Eventual,
        }
    }
}

struct Inner {
    db: redb::Database,
}

/// The ledger store. Cheap to clone (an `Arc` inside); `Send + Sync`. Any number of threads
/// may read while one appends: each reader sees the ledger as of its last committed append.
#[derive(Clone)]
pub struct LedgerDb {
    inner: Arc<Inner>,
    durability: Durability,
}

impl std::fmt::Debug for LedgerDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerDb")
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

fn builder() -> redb::Builder {
    let mut b = redb::Database::builder();
    // The v3 file format is the one redb 3 and later read natively.
    b.create_with_file_format_v3(true);
    b
}

impl LedgerDb {
    /// Creates a new, empty ledger file at `path`. Fails with [`LedgerError::AlreadyExists`]
    /// if anything is at the path.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(LedgerError::AlreadyExists(path.to_owned()))
            }
            Err(e) => return Err(redb::Error::Io(e).into()),
        };
        Self::init(builder().create_file(file)?)
    }

    /// A new ledger that lives in memory only, for tests and tools; same code, same rules.
    pub fn create_in_memory() -> Result<Self, LedgerError> {
        let db = builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Self::init(db)
    }

    fn init(db: redb::Database) -> Result<Self, LedgerError> {
        let mut txn = db.begin_write()?;
        txn.set_durability(redb::Durability::Immediate);
        {
            let mut meta = txn.open_table(tables::META)?;
            meta.insert(tables::META_FORMAT, tables::FORMAT_VERSION)?;
            let mut counts = txn.open_table(tables::COUNTS)?;
            counts.insert(tables::COUNT_BLOCKS, 0)?;
            counts.insert(tables::COUNT_TXOS, 0)?;
            // Create every table, so readers of an empty ledger find them.
            txn.open_table(tables::BLOCKS)?;
            txn.open_table(tables::BLOCK_TIMESTAMPS)?;
            txn.open_table(tables::KEY_IMAGES_BY_BLOCK)?;
            txn.open_table(tables::TX_OUTS_BY_BLOCK)?;
            txn.open_table(tables::BLOCK_BY_FIRST_TX_OUT)?;
            txn.open_table(tables::TX_OUTS)?;
            txn.open_table(tables::TX_OUT_INDEX_BY_PUBLIC_KEY)?;
            txn.open_table(tables::KEY_IMAGES)?;
            txn.open_table(tables::MERKLE_NODES)?;
        }
        txn.commit()?;
        Ok(Self {
            inner: Arc::new(Inner { db }),
            durability: Durability::default(),
        })
    }

    /// Opens an existing ledger file. Fails with [`LedgerError::NotFound`] if there is none, and
    /// [`LedgerError::Corrupt`] if the file is not a Fog ledger this version can read. After a
    /// crash, redb recovers the last committed state here (it may take a while on a large
    /// file). One process at a time may hold the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(LedgerError::NotFound(path.to_owned()));
        }
        let db = match builder().open(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(msg))) => {
                return Err(LedgerError::Corrupt(msg))
            }
            // redb's answer to a file that does not start with its header.
            Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))
                if e.kind() == io::ErrorKind::InvalidData =>
            {
                return Err(LedgerError::Corrupt(format!("not a redb database ({e})")))
            }
            Err(e) => return Err(e.into()),
        };
        {
            let txn = db.begin_read()?;
            let missing = |e: redb::TableError| match e {
                redb::TableError::TableDoesNotExist(t) => {
                    LedgerError::Corrupt(format!("no table {t}"))
                }
                e => e.into(),
            };
            let meta = txn.open_table(tables::META).map_err(missing)?;
            let format = meta.get(tables::META_FORMAT)?.map(|g| g.value());
            if format != Some(tables::FORMAT_VERSION) {
                return Err(LedgerError::Corrupt(format!(
                    "layout version {format:?}, expected {}",
                    tables::FORMAT_VERSION
                )));
            }
            // Every table must be there.
            txn.open_table(tables::COUNTS).map_err(missing)?;
            txn.open_table(tables::BLOCKS).map_err(missing)?;
            txn.open_table(tables::BLOCK_TIMESTAMPS).map_err(missing)?;
            txn.open_table(tables::KEY_IMAGES_BY_BLOCK)
                .map_err(missing)?;
            txn.open_table(tables::TX_OUTS_BY_BLOCK).map_err(missing)?;
            txn.open_table(tables::BLOCK_BY_FIRST_TX_OUT)
                .map_err(missing)?;
            txn.open_table(tables::TX_OUTS).map_err(missing)?;
            txn.open_table(tables::TX_OUT_INDEX_BY_PUBLIC_KEY)
                .map_err(missing)?;
            txn.open_table(tables::KEY_IMAGES).map_err(missing)?;
            txn.open_table(tables::MERKLE_NODES).map_err(missing)?;
        }
        Ok(Self {
            inner: Arc::new(Inner { db }),
            durability: Durability::default(),
        })
    }

    /// A handle on the same ledger whose appends commit with `durability`.
    pub fn with_durability(&self, durability: Durability) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            durability,
        }
    }

    /// Flushes every committed append to disk (after [`Durability::Eventual`] appends).
    pub fn sync(&self) -> Result<(), LedgerError> {
        let mut txn = self.inner.db.begin_write()?;
        txn.set_durability(redb::Durability::Immediate);
        txn.commit()?;
        Ok(())
    }

    /// Validates `block` against the ledger and appends it with its contents and timestamp
    /// (seconds since the Unix epoch, Fog's own metadata), in one write transaction.
    ///
    /// The checks are MobileCoin's `validate_append_block` (spec 4.6) plus the root element
    /// (see the crate doc) and the cumulative TxOut count; each failure is its own
    /// [`LedgerError`] variant. On any error nothing is written: the ledger is as before.
    /// Costs about `log2(num_txos)` tree reads per output plus `2 × outputs` node writes.
    pub fn append_block(
        &self,
        block: &Block,
        contents: &BlockContents,
        timestamp: u64,
    ) -> Result<(), LedgerError> {
        self.write(|w| w.append(block, contents, timestamp))
    }

    /// Appends several blocks in one write transaction: all of them or, on the first error
    /// ([`LedgerError::InBatch`] names which), none. One commit (and one fsync) for the
    /// batch, which is what bulk generation wants.
    pub fn append_blocks<'a, I>(&self, blocks: I) -> Result<(), LedgerError>
    where
        I: IntoIterator<Item = (&'a Block, &'a BlockContents, u64)>,
    {
        self.write(|w| {
            for (position, (block, contents, timestamp)) in blocks.into_iter().enumerate() {
                w.append(block, contents, timestamp)
                    .map_err(|e| LedgerError::InBatch {
                        position,
                        source: Box::new(e),
                    })?;
            }
            Ok(())
        })
    }

    fn write(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let mut txn = self.inner.db.begin_write()?;
        txn.set_durability(self.durability.to_redb());
        let result = Writer::new(&txn).and_then(|mut w| {
            f(&mut w)?;
            w.finish()
        });
        match result {
            Ok(()) => {
                txn.commit()?;
                Ok(())
            }
            Err(e) => {
                // Dropping would abort too; the validation error matters more than an abort
                // error, and either way nothing of this transaction is kept.
                let _ = txn.abort();
                Err(e)
            }
        }
    }

    /// A consistent read view of the ledger as of the last commit. Every read through it sees
    /// the same ledger, whatever appends happen meanwhile. Holding one keeps the pages it
    /// sees alive, so do not keep it for long.
    pub fn snapshot(&self) -> Result<LedgerSnapshot, LedgerError> {
        Ok(LedgerSnapshot {
            txn: self.inner.db.begin_read()?,
        })
    }

    /// Number of blocks.
    pub fn num_blocks(&self) -> Result<u64, LedgerError> {
        self.snapshot()?.num_blocks()
    }

    /// Number of TxOuts.
    pub fn num_txos(&self) -> Result<u64, LedgerError> {
        self.snapshot()?.num_txos()
    }

    /// The block at `index`.
    pub fn get_block(&self, index: u64) -> Result<Option<Block>, LedgerError> {
        self.snapshot()?.block(index)
    }

    /// The contents of the block at `index`.
    pub fn get_block_contents(&self, index: u64) -> Result<Option<BlockContents>, LedgerError> {
        self.snapshot()?.block_contents(index)
    }

    /// The timestamp (seconds) recorded with the block at `index`.
    pub fn get_block_timestamp(&self, index: u64) -> Result<Option<u64>, LedgerError> {
        self.snapshot()?.block_timestamp(index)
    }

    /// The last block, if any.
    pub fn last_block(&self) -> Result<Option<Block>, LedgerError> {
        self.snapshot()?.last_block()
    }

    /// The TxOut at a global index.
    pub fn get_tx_out(&self, global_index: u64) -> Result<Option<TxOut>, LedgerError> {
        self.snapshot()?.tx_out(global_index)
    }

    /// The TxOuts in a range of global indices, in order, from one snapshot.
    pub fn get_tx_outs(&self, range: std::ops::Range<u64>) -> Result<Vec<TxOut>, LedgerError> {
        self.snapshot()?.tx_outs(range)
    }

    /// The global index of the TxOut with this public key.
    pub fn get_tx_out_index_by_public_key(
        &self,
        public_key: &[u8; 32],
    ) -> Result<Option<u64>, LedgerError> {
        self.snapshot()?.tx_out_index_by_public_key(public_key)
    }

    /// The index of the block that holds the TxOut at `global_index`.
    pub fn block_index_of_tx_out(&self, global_index: u64) -> Result<Option<u64>, LedgerError> {
        self.snapshot()?.block_index_of_tx_out(global_index)
    }

    /// The index of the block that spent `key_image`, or `None` if it is unspent.
    pub fn check_key_image(&self, key_image: &KeyImage) -> Result<Option<u64>, LedgerError> {
        self.snapshot()?.check_key_image(key_image)
    }

    /// The current root element of the TxOut tree.
    pub fn root_element(&self) -> Result<TxOutMembershipElement, LedgerError> {
        self.snapshot()?.root_element()
    }

    /// The membership proof of the TxOut at `global_index` against the current root.
    pub fn membership_proof(&self, global_index: u64) -> Result<TxOutMembershipProof, LedgerError> {
        self.snapshot()?.membership_proof(global_index)
    }

    /// A proof and the root it proves against, from one snapshot.
    pub fn membership_proof_with_root(
        &self,
        global_index: u64,
    ) -> Result<(TxOutMembershipProof, TxOutMembershipElement), LedgerError> {
        self.snapshot()?.membership_proof_with_root(global_index)
    }

    /// Proofs for several TxOuts against the same root, in one read transaction.
    pub fn membership_proofs(
        &self,
        global_indices: &[u64],
    ) -> Result<Vec<TxOutMembershipProof>, LedgerError> {
        self.snapshot()?.membership_proofs(global_indices)
    }
}

/// Checks that `tx_out` is in the ledger whose root hash is `root_hash` (the leaf, the shape of
/// the proof and the implied root, compared in constant time).
pub fn verify_membership_proof(
    tx_out: &TxOut,
    proof: &TxOutMembershipProof,
    root_hash: &[u8; 32],
) -> Result<(), membership::MembershipProofError> {
    membership::verify_membership_proof(tx_out, proof, root_hash)
}

// --- reading ----------------------------------------------------------------------------

/// A read transaction over the ledger: every method sees the same committed state. Get one
/// from [`LedgerDb::snapshot`].
pub struct LedgerSnapshot {
    txn: ReadTransaction,
}

impl std::fmt::Debug for LedgerSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerSnapshot").finish_non_exhaustive()
    }
}

/// What the `blocks` table stores for a block: its protobuf.
fn encode_block(block: &Block) -> Vec<u8> {
    block.to_wire().encode_to_vec()
}

fn decode_block(bytes: &[u8], index: u64) -> Result<Block, LedgerError> {
    Block::decode(bytes).map_err(|source| LedgerError::Decode {
        what: "block",
        key: index,
        source,
    })
}

fn decode_tx_out(bytes: &[u8], index: u64) -> Result<TxOut, LedgerError> {
    TxOut::decode(bytes).map_err(|source| LedgerError::Decode {
        what: "TxOut",
        key: index,
        source,
    })
}

/// What the `key_images_by_block` table stores for a block: its key images, 32 bytes each.
fn key_images_to_bytes(key_images: &[KeyImage]) -> Vec<u8> {
    key_images.iter().flat_map(|k| *k.as_bytes()).collect()
}

fn key_images_from_bytes(bytes: &[u8], index: u64) -> Result<Vec<KeyImage>, LedgerError> {
    if bytes.len() % 32 != 0 {
        return Err(LedgerError::Corrupt(format!(
            "key images of block {index} are {} bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut k = [0u8; 32];
            k.copy_from_slice(c);
            KeyImage(k)
        })
        .collect())
}

// --- fuzz entry points ----------------------------------------------------------------
//
// The value codecs above are private; these hidden functions exist only so that the fuzz
// targets (`fuzz/fuzz_targets/ledger_db_stored.rs`) can feed them arbitrary bytes. They are
// not part of the crate's API.

/// Decodes a value of the `blocks` table exactly as a read does. Exists for the fuzz targets.
#[doc(hidden)]
pub fn fuzz_decode_stored_block(bytes: &[u8]) -> Result<Block, LedgerError> {
    decode_block(bytes, 0)
}

/// Encodes a block exactly as an append stores it. Exists for the fuzz targets.
#[doc(hidden)]
pub fn fuzz_encode_stored_block(block: &Block) -> Vec<u8> {
    encode_block(block)
}

/// Decodes a value of the `tx_outs` table exactly as a read does. Exists for the fuzz
/// targets.
#[doc(hidden)]
pub fn fuzz_decode_stored_tx_out(bytes: &[u8]) -> Result<TxOut, LedgerError> {
    decode_tx_out(bytes, 0)
}

/// Decodes a value of the `key_images_by_block` table exactly as a read does. Exists for the
/// fuzz targets.
#[doc(hidden)]
pub fn fuzz_decode_stored_key_images(bytes: &[u8]) -> Result<Vec<KeyImage>, LedgerError> {
    key_images_from_bytes(bytes, 0)
}

/// Encodes a block's key images exactly as an append stores them. Exists for the fuzz
/// targets.
#[doc(hidden)]
pub fn fuzz_encode_stored_key_images(key_images: &[KeyImage]) -> Vec<u8> {
    key_images_to_bytes(key_images)
}

fn count<T: ReadableTable<&'static str, u64>>(t: &T, name: &str) -> Result<u64, LedgerError> {
    t.get(name)?
        .map(|g| g.value())
        .ok_or_else(|| LedgerError::Corrupt(format!("no count {name}")))
}

/// The tree's nodes, read from a table; a storage error is kept and reported after the
/// membership function returns (its `NodeStore` is infallible).
struct ReadNodes<'a, T> {
    table: &'a T,
    error: RefCell<Option<redb::StorageError>>,
}

impl<'a, T: ReadableTable<&'static [u8; 16], &'static [u8; 32]>> ReadNodes<'a, T> {
    fn new(table: &'a T) -> Self {
        Self {
            table,
            error: RefCell::new(None),
        }
    }

    /// The result of a tree function, with a storage error taking precedence over the
    /// "missing node" it caused.
    fn check<R>(&self, r: Result<R, membership::MembershipProofError>) -> Result<R, LedgerError> {
        if let Some(e) = self.error.borrow_mut().take() {
            return Err(e.into());
        }
        r.map_err(LedgerError::Tree)
    }
}

impl<T: ReadableTable<&'static [u8; 16], &'static [u8; 32]>> NodeStore for ReadNodes<'_, T> {
    fn get(&self, range: Range) -> Option<[u8; 32]> {
        match self.table.get(&range_key(range)) {
            Ok(v) => v.map(|g| *g.value()),
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                None
            }
        }
    }

    fn put(&mut self, _range: Range, _hash: [u8; 32]) {
        // Never called: readers only use `root_element` and `membership_proof`, which do not
        // store nodes.
    }
}

impl LedgerSnapshot {
    fn counts(&self) -> Result<ReadOnlyTable<&'static str, u64>, LedgerError> {
        Ok(self.txn.open_table(tables::COUNTS)?)
    }

    /// Number of blocks.
    pub fn num_blocks(&self) -> Result<u64, LedgerError> {
        count(&self.counts()?, tables::COUNT_BLOCKS)
    }

    /// Number of TxOuts.
    pub fn num_txos(&self) -> Result<u64, LedgerError> {
        count(&self.counts()?, tables::COUNT_TXOS)
    }

    /// The block at `index`.
    pub fn block(&self, index: u64) -> Result<Option<Block>, LedgerError> {
        let t = self.txn.open_table(tables::BLOCKS)?;
        let g = t.get(&be(index))?;
        g.map(|g| decode_block(g.value(), index)).transpose()
    }

    /// The last block, if any.
    pub fn last_block(&self) -> Result<Option<Block>, LedgerError> {
        match self.num_blocks()? {
            0 => Ok(None),
            n => self.block(n - 1)?.map(Some).ok_or_else(|| {
                LedgerError::Corrupt(format!("block {} is counted but absent", n - 1))
            }),
        }
    }

    /// The timestamp (seconds) recorded with the block at `index`.
    pub fn block_timestamp(&self, index: u64) -> Result<Option<u64>, LedgerError> {
        let t = self.txn.open_table(tables::BLOCK_TIMESTAMPS)?;
        let v = t.get(&be(index))?.map(|g| g.value());
        Ok(v)
    }

    /// The contents of the block at `index`: its key images and its TxOuts, in order.
    pub fn block_contents(&self, index: u64) -> Result<Option<BlockContents>, LedgerError> {
        let by_block = self.txn.open_table(tables::TX_OUTS_BY_BLOCK)?;
        let Some((first, n)) = by_block.get(&be(index))?.map(|g| g.value()) else {
            return Ok(None);
        };
        let ki = self.txn.open_table(tables::KEY_IMAGES_BY_BLOCK)?;
        let key_images = match ki.get(&be(index))? {
            Some(g) => key_images_from_bytes(g.value(), index)?,
            None => {
                return Err(LedgerError::Corrupt(format!(
                    "block {index} has no key image list"
                )))
            }
        };
        let outputs = self.read_tx_outs(first, first.saturating_add(n))?;
        Ok(Some(BlockContents {
            key_images,
            outputs,
        }))
    }

    fn read_tx_outs(&self, start: u64, end: u64) -> Result<Vec<TxOut>, LedgerError> {
        let t = self.txn.open_table(tables::TX_OUTS)?;
        let mut out = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        let (from, to) = (be(start), be(end));
        for (expected, entry) in (start..end).zip(t.range::<&[u8; 8]>(&from..&to)?) {
            let (k, v) = entry?;
            let index = u64::from_be_bytes(*k.value());
            if index != expected {
                return Err(LedgerError::Corrupt(format!("TxOut {expected} is absent")));
            }
            out.push(decode_tx_out(v.value(), index)?);
        }
        if out.len() as u64 != end - start {
            return Err(LedgerError::Corrupt(format!(
                "TxOuts {start}..{end}: only {} stored",
                out.len()
            )));
        }
        Ok(out)
    }

    /// The TxOut at a global index.
    pub fn tx_out(&self, global_index: u64) -> Result<Option<TxOut>, LedgerError> {
        let t = self.txn.open_table(tables::TX_OUTS)?;
        let g = t.get(&be(global_index))?;
        g.map(|g| decode_tx_out(g.value(), global_index))
            .transpose()
    }

    /// The TxOuts in `range`, in order. A range reaching past the ledger is
    /// [`LedgerError::TxOutIndexOutOfRange`]; an empty range gives no TxOuts.
    pub fn tx_outs(&self, range: std::ops::Range<u64>) -> Result<Vec<TxOut>, LedgerError> {
        if range.start >= range.end {
            return Ok(Vec::new());
        }
        let num_txos = self.num_txos()?;
        if range.end > num_txos {
            return Err(LedgerError::TxOutIndexOutOfRange {
                index: range.end - 1,
                num_txos,
            });
        }
        self.read_tx_outs(range.start, range.end)
    }

    /// The global index of the TxOut with this public key.
    pub fn tx_out_index_by_public_key(
        &self,
        public_key: &[u8; 32],
    ) -> Result<Option<u64>, LedgerError> {
        let t = self.txn.open_table(tables::TX_OUT_INDEX_BY_PUBLIC_KEY)?;
        let v = t.get(public_key)?.map(|g| g.value());
        Ok(v)
    }

    /// The index of the block that holds the TxOut at `global_index`.
    pub fn block_index_of_tx_out(&self, global_index: u64) -> Result<Option<u64>, LedgerError> {
        if global_index >= self.num_txos()? {
            return Ok(None);
        }
        let t = self.txn.open_table(tables::BLOCK_BY_FIRST_TX_OUT)?;
        let key = be(global_index);
        let mut it = t.range::<&[u8; 8]>(..=&key)?;
        match it.next_back() {
            Some(entry) => Ok(Some(entry?.1.value())),
            None => Err(LedgerError::Corrupt(format!(
                "no block holds TxOut {global_index}"
            ))),
        }
    }

    /// The index of the block that spent `key_image`, or `None` if it is unspent.
    pub fn check_key_image(&self, key_image: &KeyImage) -> Result<Option<u64>, LedgerError> {
        let t = self.txn.open_table(tables::KEY_IMAGES)?;
        let v = t.get(key_image.as_bytes())?.map(|g| g.value());
        Ok(v)
    }

    /// The root element of the TxOut tree.
    pub fn root_element(&self) -> Result<TxOutMembershipElement, LedgerError> {
        let n = self.num_txos()?;
        let t = self.txn.open_table(tables::MERKLE_NODES)?;
        let nodes = ReadNodes::new(&t);
        nodes.check(membership::root_element(&nodes, n))
    }

    /// The membership proof of the TxOut at `global_index` against this snapshot's root:
    /// MobileCoin's shape (index, highest index, the leaf then one sibling per level). Reads
    /// `log2(num_txos) + 1` nodes.
    pub fn membership_proof(&self, global_index: u64) -> Result<TxOutMembershipProof, LedgerError> {
        let mut v = self.membership_proofs(&[global_index])?;
        v.pop()
            .ok_or_else(|| LedgerError::Corrupt("no proof made".into()))
    }

    /// A proof and the root it proves against.
    pub fn membership_proof_with_root(
        &self,
        global_index: u64,
    ) -> Result<(TxOutMembershipProof, TxOutMembershipElement), LedgerError> {
        let n = self.num_txos()?;
        let t = self.txn.open_table(tables::MERKLE_NODES)?;
        let nodes = ReadNodes::new(&t);
        let proof = Self::proof(&nodes, n, global_index)?;
        let root = nodes.check(membership::root_element(&nodes, n))?;
        Ok((proof, root))
    }

    fn proof<T: ReadableTable<&'static [u8; 16], &'static [u8; 32]>>(
        nodes: &ReadNodes<'_, T>,
        num_txos: u64,
        index: u64,
    ) -> Result<TxOutMembershipProof, LedgerError> {
        if index >= num_txos {
            return Err(LedgerError::TxOutIndexOutOfRange { index, num_txos });
        }
        nodes.check(membership::membership_proof(nodes, num_txos, index))
    }

    /// Proofs for several TxOuts, all against this snapshot's root.
    pub fn membership_proofs(
        &self,
        global_indices: &[u64],
    ) -> Result<Vec<TxOutMembershipProof>, LedgerError> {
        let n = self.num_txos()?;
        let t = self.txn.open_table(tables::MERKLE_NODES)?;
        let nodes = ReadNodes::new(&t);
        global_indices
            .iter()
            .map(|&i| Self::proof(&nodes, n, i))
            .collect()
    }
}

// --- writing ----------------------------------------------------------------------------

/// The tree's nodes inside a write transaction: writes are buffered (an upper node is
/// rewritten once per output of a block, stored once) and flushed in key order after each
/// block; a storage error is kept and reported after the tree function returns.
struct WriteNodes<'a, 't> {
    table: &'a mut Table<'t, &'static [u8; 16], &'static [u8; 32]>,
    cache: BTreeMap<Range, [u8; 32]>,
    error: RefCell<Option<redb::StorageError>>,
}

impl WriteNodes<'_, '_> {
    fn check<R>(&self, r: Result<R, membership::MembershipProofError>) -> Result<R, LedgerError> {
        if let Some(e) = self.error.borrow_mut().take() {
            return Err(e.into());
        }
        r.map_err(LedgerError::Tree)
    }

    fn flush(&mut self) -> Result<(), LedgerError> {
        for (range, hash) in std::mem::take(&mut self.cache) {
            self.table.insert(&range_key(range), &hash)?;
        }
        Ok(())
    }
}

impl NodeStore for WriteNodes<'_, '_> {
    fn get(&self, range: Range) -> Option<[u8; 32]> {
        if let Some(h) = self.cache.get(&range) {
            return Some(*h);
        }
        match self.table.get(&range_key(range)) {
            Ok(v) => v.map(|g| *g.value()),
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                None
            }
        }
    }

    fn put(&mut self, range: Range, hash: [u8; 32]) {
        self.cache.insert(range, hash);
    }
}

/// The tables of one write transaction and the ledger's state within it.
struct Writer<'t> {
    counts: Table<'t, &'static str, u64>,
    blocks: Table<'t, &'static [u8; 8], &'static [u8]>,
    timestamps: Table<'t, &'static [u8; 8], u64>,
    key_images_by_block: Table<'t, &'static [u8; 8], &'static [u8]>,
    tx_outs_by_block: Table<'t, &'static [u8; 8], (u64, u64)>,
    block_by_first_tx_out: Table<'t, &'static [u8; 8], u64>,
    tx_outs: Table<'t, &'static [u8; 8], &'static [u8]>,
    index_by_public_key: Table<'t, &'static [u8; 32], u64>,
    key_images: Table<'t, &'static [u8; 32], u64>,
    nodes: Table<'t, &'static [u8; 16], &'static [u8; 32]>,
    num_blocks: u64,
    num_txos: u64,
    last_block: Option<Block>,
}

/// The default root element the origin block records.
fn origin_root_element() -> TxOutMembershipElement {
    TxOutMembershipElement {
        range: Range { from: 0, to: 0 },
        hash: [0; 32],
    }
}

impl<'t> Writer<'t> {
    fn new(txn: &'t WriteTransaction) -> Result<Self, LedgerError> {
        let counts = txn.open_table(tables::COUNTS)?;
        let num_blocks = count(&counts, tables::COUNT_BLOCKS)?;
        let num_txos = count(&counts, tables::COUNT_TXOS)?;
        let blocks = txn.open_table(tables::BLOCKS)?;
        let last_block = match num_blocks {
            0 => None,
            n => {
                let g = blocks.get(&be(n - 1))?.ok_or_else(|| {
                    LedgerError::Corrupt(format!("block {} is counted but absent", n - 1))
                })?;
                Some(decode_block(g.value(), n - 1)?)
            }
        };
        Ok(Self {
            counts,
            blocks,
            timestamps: txn.open_table(tables::BLOCK_TIMESTAMPS)?,
            key_images_by_block: txn.open_table(tables::KEY_IMAGES_BY_BLOCK)?,
            tx_outs_by_block: txn.open_table(tables::TX_OUTS_BY_BLOCK)?,
            block_by_first_tx_out: txn.open_table(tables::BLOCK_BY_FIRST_TX_OUT)?,
            tx_outs: txn.open_table(tables::TX_OUTS)?,
            index_by_public_key: txn.open_table(tables::TX_OUT_INDEX_BY_PUBLIC_KEY)?,
            key_images: txn.open_table(tables::KEY_IMAGES)?,
            nodes: txn.open_table(tables::MERKLE_NODES)?,
            num_blocks,
            num_txos,
            last_block,
        })
    }

    fn node_store(&mut self) -> WriteNodes<'_, 't> {
        WriteNodes {
            table: &mut self.nodes,
            cache: BTreeMap::new(),
            error: RefCell::new(None),
        }
    }

    fn current_root(&mut self) -> Result<TxOutMembershipElement, LedgerError> {
        let n = self.num_txos;
        let nodes = self.node_store();
        nodes.check(membership::root_element(&nodes, n))
    }

    /// The checks that need no writes, in MobileCoin's order, then the cumulative count and
    /// the root element: the default one for the origin, the ledger's current root (before
    /// this block's outputs) for later blocks.
    fn validate(&mut self, block: &Block, contents: &BlockContents) -> Result<(), LedgerError> {
        let max = BlockVersion::MAX.get();
        match &self.last_block {
            None => {
                if block.version != 0 {
                    return Err(LedgerError::InvalidBlockVersion {
                        found: block.version,
                        min: 0,
                        max: 0,
                    });
                }
                if block.index != 0 {
                    return Err(LedgerError::IndexMismatch {
                        expected: 0,
                        found: block.index,
                    });
                }
                if block.parent_id != [0; 32] {
                    return Err(LedgerError::ParentIdMismatch);
                }
            }
            Some(last) => {
                if block.version < last.version || block.version > max {
                    return Err(LedgerError::InvalidBlockVersion {
                        found: block.version,
                        min: last.version,
                        max,
                    });
                }
                if block.index != self.num_blocks {
                    return Err(LedgerError::IndexMismatch {
                        expected: self.num_blocks,
                        found: block.index,
                    });
                }
                if block.parent_id != last.id {
                    return Err(LedgerError::ParentIdMismatch);
                }
            }
        }
        if contents.outputs.is_empty() {
            return Err(LedgerError::NoOutputs);
        }
        if block.index != 0 && contents.key_images.is_empty() {
            return Err(LedgerError::NoKeyImages);
        }
        if block.contents_hash != contents.hash() {
            return Err(LedgerError::ContentsHashMismatch);
        }
        if let Some(output) = contents
            .outputs
            .iter()
            .position(|o| o.masked_amount.is_none())
        {
            return Err(LedgerError::MissingMaskedAmount { output });
        }
        let expected = self.num_txos + contents.outputs.len() as u64;
        if block.cumulative_txo_count != expected {
            return Err(LedgerError::CumulativeTxoCountMismatch {
                expected,
                found: block.cumulative_txo_count,
            });
        }
        if !block.is_id_valid() {
            return Err(LedgerError::InvalidBlockId);
        }
        if block.index == 0 {
            let expected = origin_root_element();
            if block.root_element != expected {
                return Err(LedgerError::RootElementMismatch {
                    expected,
                    found: block.root_element,
                });
            }
        } else {
            let expected = self.current_root()?;
            if block.root_element != expected {
                return Err(LedgerError::RootElementMismatch {
                    expected,
                    found: block.root_element,
                });
            }
        }
        Ok(())
    }

    /// Validates and writes one block. The checks against stored state (spent key images,
    /// existing public keys) happen as the entries are inserted; an error leaves partial
    /// writes in the transaction, which the caller then aborts.
    fn append(
        &mut self,
        block: &Block,
        contents: &BlockContents,
        timestamp: u64,
    ) -> Result<(), LedgerError> {
        self.validate(block, contents)?;
        let index = block.index;

        // Key images: an existing entry is a double spend, or a duplicate within this block
        // if this block (not yet stored) is the one that wrote it.
        for ki in &contents.key_images {
            if let Some(prev) = self.key_images.insert(ki.as_bytes(), index)? {
                let block_index = prev.value();
                return Err(if block_index == index {
                    LedgerError::DuplicateKeyImage(*ki)
                } else {
                    LedgerError::KeyImageAlreadySpent {
                        key_image: *ki,
                        block_index,
                    }
                });
            }
        }
        self.key_images_by_block.insert(
            &be(index),
            key_images_to_bytes(&contents.key_images).as_slice(),
        )?;

        // Outputs, in order, at the next global indices.
        let first = self.num_txos;
        for (i, out) in contents.outputs.iter().enumerate() {
            let global = first + i as u64;
            let pk = out.public_key.as_bytes();
            if let Some(prev) = self.index_by_public_key.insert(pk, global)? {
                let prev = prev.value();
                return Err(if prev >= first {
                    LedgerError::DuplicateOutputPublicKey(*pk)
                } else {
                    LedgerError::OutputPublicKeyAlreadyInLedger {
                        public_key: *pk,
                        global_index: prev,
                    }
                });
            }
            self.tx_outs
                .insert(&be(global), out.encode_to_vec().as_slice())?;
        }
        {
            let mut nodes = self.node_store();
            for (i, out) in contents.outputs.iter().enumerate() {
                let r =
                    membership::append_leaf(&mut nodes, first + i as u64, out.merkle_leaf_hash());
                nodes.check(r)?;
            }
            nodes.flush()?;
        }
        let n = contents.outputs.len() as u64;
        self.tx_outs_by_block.insert(&be(index), (first, n))?;
        self.block_by_first_tx_out.insert(&be(first), index)?;
        self.num_txos = first + n;

        self.blocks
            .insert(&be(index), encode_block(block).as_slice())?;
        self.timestamps.insert(&be(index), timestamp)?;
        self.num_blocks = index + 1;
        self.last_block = Some(block.clone());
        Ok(())
    }

    fn finish(mut self) -> Result<(), LedgerError> {
        self.counts.insert(tables::COUNT_BLOCKS, self.num_blocks)?;
        self.counts.insert(tables::COUNT_TXOS, self.num_txos)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip_and_bad_lengths_are_corrupt() {
        let images = vec![KeyImage([1; 32]), KeyImage([2; 32])];
        let bytes = fuzz_encode_stored_key_images(&images);
        assert_eq!(bytes.len(), 64);
        assert_eq!(fuzz_decode_stored_key_images(&bytes).unwrap(), images);
        assert_eq!(fuzz_decode_stored_key_images(&[]).unwrap(), vec![]);
        assert!(matches!(
            fuzz_decode_stored_key_images(&bytes[..63]),
            Err(LedgerError::Corrupt(_))
        ));
        let block = Block::new_origin(&BlockContents::default());
        let stored = fuzz_encode_stored_block(&block);
        assert_eq!(fuzz_decode_stored_block(&stored).unwrap(), block);
        assert!(matches!(
            fuzz_decode_stored_block(&stored[..stored.len() - 1]),
            Err(LedgerError::Decode { what: "block", .. })
        ));
        assert!(matches!(
            fuzz_decode_stored_tx_out(&[0xff]),
            Err(LedgerError::Decode { what: "TxOut", .. })
        ));
    }
}
