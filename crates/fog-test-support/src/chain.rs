//! Synthetic ledgers: valid chains of blocks of synthetic TxOuts, built in memory.

use fog_api::fog_node::BlockData;
use fog_crypto::CompressedRistrettoPublic;
use fog_ledger_db::LedgerDb;
use fog_transaction::{
    amount::{MaskedAmount, MaskedAmountVersion},
    block::{Block, BlockContents},
    EncryptedFogHint, EncryptedMemo, KeyImage, TxOut,
};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// The version of synthetic blocks after the origin.
pub const BLOCK_VERSION: u32 = 3;

/// A ledger TxOut whose fields are random bytes of the right sizes: the ledger store hashes
/// and indexes it exactly like a real one, without the cost of real key exchanges.
pub fn synthetic_tx_out(rng: &mut impl RngCore) -> TxOut {
    let mut b = || {
        let mut x = [0u8; 32];
        rng.fill_bytes(&mut x);
        x
    };
    let (commitment, target, public) = (b(), b(), b());
    let mut hint = [0u8; 84];
    let mut memo = [0u8; 66];
    rng.fill_bytes(&mut hint);
    rng.fill_bytes(&mut memo);
    TxOut {
        masked_amount: Some(MaskedAmount {
            version: MaskedAmountVersion::V2,
            commitment,
            masked_value: rng.gen(),
            masked_token_id: rng.gen::<u64>().to_le_bytes().to_vec(),
        }),
        target_key: CompressedRistrettoPublic(target),
        public_key: CompressedRistrettoPublic(public),
        e_fog_hint: EncryptedFogHint(hint),
        e_memo: Some(EncryptedMemo(memo)),
    }
}

/// Appends the next valid block to `db`: `outputs` (sorted here by public key) spending
/// `key_images` (ignored for the origin block, which spends none), version
/// [`BLOCK_VERSION`] after the origin, with `timestamp`. Returns it with its contents.
pub fn append_next_block(
    db: &LedgerDb,
    mut outputs: Vec<TxOut>,
    key_images: Vec<KeyImage>,
    timestamp: u64,
) -> Result<(Block, BlockContents), fog_ledger_db::LedgerError> {
    outputs.sort_by_key(|o| o.public_key);
    let (block, contents) = match db.last_block()? {
        None => {
            let contents = BlockContents {
                key_images: vec![],
                outputs,
            };
            (Block::new_origin(&contents), contents)
        }
        Some(last) => {
            let contents = BlockContents {
                key_images,
                outputs,
            };
            let block = Block::new(
                BLOCK_VERSION.max(last.version),
                last.id,
                last.index + 1,
                last.cumulative_txo_count + contents.outputs.len() as u64,
                db.root_element()?,
                &contents,
            );
            (block, contents)
        }
    };
    db.append_block(&block, &contents, timestamp)?;
    Ok((block, contents))
}

/// The next valid block on `db` with `outputs` synthetic TxOuts (and one random key image
/// after the origin), appended to `db` with `timestamp`; returns it with its contents.
pub fn append_synthetic_block(
    db: &LedgerDb,
    outputs: usize,
    timestamp: u64,
    rng: &mut impl RngCore,
) -> Result<(Block, BlockContents), fog_ledger_db::LedgerError> {
    let outs: Vec<TxOut> = (0..outputs.max(1)).map(|_| synthetic_tx_out(rng)).collect();
    let mut ki = [0u8; 32];
    rng.fill_bytes(&mut ki);
    append_next_block(db, outs, vec![KeyImage(ki)], timestamp)
}

/// A valid chain built in memory, with every block kept in its wire form.
#[derive(Debug)]
pub struct SyntheticChain {
    db: LedgerDb,
    rng: ChaCha20Rng,
    blocks: Vec<BlockData>,
}

impl SyntheticChain {
    /// An empty chain; `seed` fixes every block it makes.
    pub fn new(seed: u64) -> Self {
        Self {
            db: LedgerDb::create_in_memory().expect("an in-memory ledger"),
            rng: ChaCha20Rng::seed_from_u64(seed),
            blocks: Vec::new(),
        }
    }

    /// A chain holding the first `n` blocks of `other`, which then goes its own way (a fork
    /// after block `n - 1`): the blocks it makes from here come from `seed`.
    pub fn fork_of(other: &SyntheticChain, n: usize, seed: u64) -> Self {
        let mut chain = Self::new(seed);
        for data in &other.blocks[..n] {
            chain.push_wire(data.clone());
        }
        chain
    }

    /// Appends `count` blocks of `outputs` TxOuts each.
    pub fn grow(&mut self, count: usize, outputs: usize) -> &mut Self {
        for _ in 0..count {
            let timestamp = 1_700_000_000 + self.blocks.len() as u64;
            let (block, contents) =
                append_synthetic_block(&self.db, outputs, timestamp, &mut self.rng)
                    .expect("a synthetic block is valid");
            self.blocks.push(encode(&block, &contents, timestamp));
        }
        self
    }

    fn push_wire(&mut self, data: BlockData) {
        let (block, contents) = decode(&data);
        self.db
            .append_block(&block, &contents, data.timestamp)
            .expect("a block of the chain being forked");
        self.blocks.push(data);
    }

    /// The blocks, in order, as a node sends them.
    pub fn blocks(&self) -> &[BlockData] {
        &self.blocks
    }

    /// Block `index` decoded.
    pub fn block(&self, index: usize) -> (Block, BlockContents) {
        decode(&self.blocks[index])
    }

    /// The in-memory ledger holding the chain.
    pub fn ledger(&self) -> &LedgerDb {
        &self.db
    }
}

/// A wire block decoded; panics on a malformed one (tests build them).
pub fn decode(data: &BlockData) -> (Block, BlockContents) {
    data.decode_block().expect("a well-formed block")
}

/// The wire form of a block.
pub fn encode(block: &Block, contents: &BlockContents, timestamp: u64) -> BlockData {
    BlockData::encode_block(block, contents, timestamp)
}
