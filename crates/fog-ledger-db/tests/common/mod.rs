//! Helpers shared by the integration tests: seeded test data, block building, and a full
//! consistency check of a ledger against a recomputation.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};

use fog_account::{AccountKey, PublicAddress};
use fog_crypto::RistrettoPrivate;
use fog_ledger_db::LedgerDb;
use fog_transaction::{
    block::{Block, BlockContents},
    membership::{self, Range, TxOutMembershipElement},
    Amount, BlockVersion, EncryptedFogHint, KeyImage, TokenId, TxOut,
};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A seeded RNG; the seed comes from `FOG_TEST_SEED` or the given default, and is printed.
pub fn rng(test: &str, default_seed: u64) -> ChaCha20Rng {
    let seed = std::env::var("FOG_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seed);
    eprintln!("{test}: seed {seed} (set FOG_TEST_SEED to change)");
    ChaCha20Rng::seed_from_u64(seed)
}

/// A few recipients.
pub fn addresses(rng: &mut ChaCha20Rng, n: usize) -> Vec<PublicAddress> {
    (0..n)
        .map(|_| AccountKey::random(rng).default_subaddress())
        .collect()
}

/// A real TxOut to `addr`.
pub fn tx_out(rng: &mut ChaCha20Rng, addr: &PublicAddress) -> TxOut {
    let value = rng.gen_range(1..1_000_000_000u64);
    let r = RistrettoPrivate::random(rng);
    let hint = EncryptedFogHint::fake_onetime_hint(rng);
    TxOut::new(
        BlockVersion::THREE,
        Amount::new(value, TokenId::MOB),
        addr,
        &r,
        hint,
    )
    .unwrap()
}

/// `n` real TxOuts to random recipients among `addrs`.
pub fn tx_outs(rng: &mut ChaCha20Rng, addrs: &[PublicAddress], n: usize) -> Vec<TxOut> {
    (0..n)
        .map(|_| {
            let a = &addrs[rng.gen_range(0..addrs.len())];
            tx_out(rng, a)
        })
        .collect()
}

/// A random key image.
pub fn key_image(rng: &mut ChaCha20Rng) -> KeyImage {
    let mut k = [0u8; 32];
    rng.fill_bytes(&mut k);
    KeyImage(k)
}

/// What the next block needs from the ledger.
#[derive(Clone, Debug)]
pub struct Tip {
    pub last: Option<Block>,
    pub num_txos: u64,
    /// The root before the next block.
    pub root: TxOutMembershipElement,
}

impl Tip {
    pub fn of(ledger: &LedgerDb) -> Self {
        let s = ledger.snapshot().unwrap();
        Self {
            last: s.last_block().unwrap(),
            num_txos: s.num_txos().unwrap(),
            root: s.root_element().unwrap(),
        }
    }
}

/// A valid next block (root-before rule) with these contents.
pub fn next_block(tip: &Tip, version: u32, contents: &BlockContents) -> Block {
    match &tip.last {
        None => Block::new_origin(contents),
        Some(last) => Block::new(
            version,
            last.id,
            last.index + 1,
            tip.num_txos + contents.outputs.len() as u64,
            tip.root,
            contents,
        ),
    }
}

/// Random contents: `outputs` TxOuts and `key_images` key images (none for the origin).
pub fn contents(
    rng: &mut ChaCha20Rng,
    addrs: &[PublicAddress],
    outputs: usize,
    key_images: usize,
) -> BlockContents {
    let mut key_images: Vec<KeyImage> = (0..key_images).map(|_| key_image(rng)).collect();
    key_images.sort();
    let mut outputs = tx_outs(rng, addrs, outputs);
    outputs.sort_by(|a, b| a.public_key.as_bytes().cmp(b.public_key.as_bytes()));
    BlockContents {
        key_images,
        outputs,
    }
}

/// Appends a valid block of `outputs` TxOuts (and 1–2 key images after the origin).
pub fn append_random_block(
    rng: &mut ChaCha20Rng,
    ledger: &LedgerDb,
    addrs: &[PublicAddress],
    outputs: usize,
) -> (Block, BlockContents) {
    let tip = Tip::of(ledger);
    let kis = if tip.last.is_none() {
        0
    } else {
        rng.gen_range(1..=2)
    };
    let c = contents(rng, addrs, outputs, kis);
    let b = next_block(&tip, 3, &c);
    ledger
        .append_block(&b, &c, 1_700_000_000 + b.index)
        .unwrap();
    (b, c)
}

/// Everything the ledger stores agrees with a recomputation from its blocks and TxOuts:
/// ids, parent links, indices, counts, contents hashes, the root element rule at every
/// block, the final root and a proof per TxOut, the key image and public key indices.
/// Returns the number of blocks.
pub fn check_consistent(ledger: &LedgerDb) -> u64 {
    let s = ledger.snapshot().unwrap();
    let num_blocks = s.num_blocks().unwrap();
    let num_txos = s.num_txos().unwrap();
    let mut tree: BTreeMap<Range, [u8; 32]> = BTreeMap::new();
    let mut txos = 0u64;
    let mut parent = [0u8; 32];
    let mut all_txos = Vec::new();
    let mut seen_kis = HashSet::new();
    for i in 0..num_blocks {
        let b = s.block(i).unwrap().expect("every counted block is stored");
        assert!(b.is_id_valid(), "block {i} id");
        assert_eq!(b.index, i);
        assert_eq!(b.parent_id, parent, "block {i} parent link");
        let c = s.block_contents(i).unwrap().expect("contents");
        assert_eq!(b.contents_hash, c.hash(), "block {i} contents hash");
        assert!(s.block_timestamp(i).unwrap().is_some());
        let before = membership::root_element(&tree, txos).unwrap();
        for o in &c.outputs {
            membership::append_leaf(&mut tree, txos, o.merkle_leaf_hash()).unwrap();
            assert_eq!(
                s.tx_out_index_by_public_key(o.public_key.as_bytes())
                    .unwrap(),
                Some(txos)
            );
            assert_eq!(s.block_index_of_tx_out(txos).unwrap(), Some(i));
            txos += 1;
            all_txos.push(o.clone());
        }
        assert_eq!(b.cumulative_txo_count, txos, "block {i} cumulative count");
        if i > 0 {
            assert_eq!(b.root_element, before, "block {i} root element");
        }
        for ki in &c.key_images {
            assert!(seen_kis.insert(*ki), "key image spent twice");
            assert_eq!(s.check_key_image(ki).unwrap(), Some(i), "key image block");
        }
        parent = b.id;
    }
    assert_eq!(num_txos, txos, "num_txos is the sum of the outputs");
    assert_eq!(s.tx_outs(0..num_txos).unwrap(), all_txos);
    let root = s.root_element().unwrap();
    assert_eq!(root, membership::root_element(&tree, txos).unwrap());
    let indices: Vec<u64> = (0..num_txos).collect();
    for (i, p) in s.membership_proofs(&indices).unwrap().iter().enumerate() {
        fog_ledger_db::verify_membership_proof(&all_txos[i], p, &root.hash).unwrap();
    }
    assert!(s.block(num_blocks).unwrap().is_none());
    assert!(s.tx_out(num_txos).unwrap().is_none());
    num_blocks
}
