//! Ledger workloads: transaction validation, block appends and membership proofs.

use std::collections::BTreeMap;
use std::time::Instant;

use fog_account::AccountKey;
use fog_crypto::RistrettoPrivate;
use fog_ledger_db::{Durability, LedgerDb};
use fog_transaction::{
    builder::{InputCredentials, TransactionBuilder},
    membership::{self, Range, TxOutMembershipProof},
    tx::Tx,
    validation::{self, ValidationContext, MOB_MINIMUM_FEE, RING_SIZE},
    Amount, BlockVersion, EncryptedFogHint, TokenId, TxOut,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::{get, peak_rss_mib, round2, stats, Args};

const BV: BlockVersion = BlockVersion::THREE;

/// Appends `blocks` blocks of `per_block` synthetic TxOuts (and one key image each after the
/// origin) to `db`.
fn fill(db: &LedgerDb, blocks: u64, per_block: usize, rng: &mut ChaCha20Rng) -> Result<(), String> {
    for _ in 0..blocks {
        append_one(db, per_block, rng)?;
    }
    Ok(())
}

fn append_one(db: &LedgerDb, per_block: usize, rng: &mut ChaCha20Rng) -> Result<(), String> {
    fog_test_support::chain::append_synthetic_block(db, per_block, 0, rng)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `ledger-append --txouts N --per-block T [--durability immediate|eventual]`: TxOuts appended
/// per second into a fresh on-disk ledger.
pub fn ledger_append(args: &Args) -> Result<(), String> {
    let txouts: u64 = get(args, "txouts", Some(100_000))?;
    let per_block: usize = get(args, "per-block", Some(1000))?;
    let durability: String = get(args, "durability", Some("immediate".to_string()))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let dir = std::env::temp_dir().join(format!("fog-bench-ledger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("ledger.redb");
    let db = LedgerDb::create(&path).map_err(|e| e.to_string())?;
    let db = match durability.as_str() {
        "eventual" => db.with_durability(Durability::Eventual),
        "immediate" => db,
        other => return Err(format!("unknown --durability {other}")),
    };
    let blocks = txouts.div_ceil(per_block as u64);
    let mut samples = Vec::with_capacity(blocks as usize);
    let start = Instant::now();
    for _ in 0..blocks {
        let t = Instant::now();
        append_one(&db, per_block, &mut rng)?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    db.sync().map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    let (median, p99) = stats(&mut samples);
    println!(
        "{}",
        json!({
            "workload": "ledger-append",
            "txouts": blocks * per_block as u64,
            "per_block": per_block,
            "durability": durability,
            "txouts_per_s": round2((blocks * per_block as u64) as f64 / secs),
            "median_us": round2(median),
            "p99_us": round2(p99),
            "ops": blocks,
            "bytes_per_txout": round2(size as f64 / (blocks * per_block as u64) as f64),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}

/// `membership-proof --txouts N [--ops K]`: proofs per second (one read snapshot each) at a
/// ledger of N TxOuts.
pub fn membership_proof(args: &Args) -> Result<(), String> {
    let txouts: u64 = get(args, "txouts", Some(1_000_000))?;
    let ops: usize = get(args, "ops", Some(20_000))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let db = LedgerDb::create_in_memory()
        .map_err(|e| e.to_string())?
        .with_durability(Durability::Eventual);
    let per_block = 10_000usize;
    fill(&db, txouts.div_ceil(per_block as u64), per_block, &mut rng)?;
    let n = db.num_txos().map_err(|e| e.to_string())?;
    let root = db.root_element().map_err(|e| e.to_string())?;
    let mut samples = Vec::with_capacity(ops);
    let start = Instant::now();
    for _ in 0..ops {
        let i = rng.gen_range(0..n);
        let t = Instant::now();
        let proof = db.membership_proof(i).map_err(|e| e.to_string())?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        if proof.elements.len() < 2 && n > 1 {
            return Err("short proof".into());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    // Spot-check: proofs verify against the root.
    let i = rng.gen_range(0..n);
    let tx_out = db
        .get_tx_out(i)
        .map_err(|e| e.to_string())?
        .ok_or("missing TxOut")?;
    membership::verify_membership_proof(
        &tx_out,
        &db.membership_proof(i).map_err(|e| e.to_string())?,
        &root.hash,
    )
    .map_err(|e| e.to_string())?;
    let (median, p99) = stats(&mut samples);
    println!(
        "{}",
        json!({
            "workload": "membership-proof",
            "txouts": n,
            "proofs_per_s": round2(ops as f64 / secs),
            "median_us": round2(median),
            "p99_us": round2(p99),
            "ops": ops,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}

/// `tx-validate --inputs K [--ops N]`: full validation (membership proofs, range proofs,
/// balance, MLSAGs, every rule) of a real K-input transaction with rings of 11.
pub fn tx_validate(args: &Args) -> Result<(), String> {
    let inputs: usize = get(args, "inputs", Some(1))?;
    let ops: usize = get(args, "ops", Some(50))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    if !(1..=16).contains(&inputs) {
        return Err("--inputs must be 1..=16".into());
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let sender = AccountKey::random(&mut rng);
    let recipient = AccountKey::random(&mut rng).default_subaddress();
    // A ledger with 16 owned TxOuts among 11 × 16 others.
    let mut store: BTreeMap<Range, [u8; 32]> = BTreeMap::new();
    let mut ledger: Vec<TxOut> = Vec::new();
    let mut owned = Vec::new();
    let value = 1_000_000_000_000u64;
    for i in 0..(RING_SIZE * 16) {
        let to = if i % RING_SIZE == 0 {
            owned.push(i);
            sender.default_subaddress()
        } else {
            AccountKey::random(&mut rng).default_subaddress()
        };
        let r = RistrettoPrivate::random(&mut rng);
        let t = TxOut::new(
            BV,
            Amount::new(value, TokenId::MOB),
            &to,
            &r,
            EncryptedFogHint::fake_onetime_hint(&mut rng),
        )
        .map_err(|e| e.to_string())?;
        membership::append_leaf(&mut store, ledger.len() as u64, t.merkle_leaf_hash())
            .map_err(|e| e.to_string())?;
        ledger.push(t);
    }
    let n = ledger.len() as u64;
    let proof = |i: usize| -> Result<TxOutMembershipProof, String> {
        membership::membership_proof(&store, n, i as u64).map_err(|e| e.to_string())
    };
    let mut b = TransactionBuilder::new(BV, Amount::new(MOB_MINIMUM_FEE, TokenId::MOB));
    b.set_tombstone_block(100);
    for &idx in owned.iter().take(inputs) {
        let ring: Vec<TxOut> = (idx..idx + RING_SIZE).map(|j| ledger[j].clone()).collect();
        let proofs = (idx..idx + RING_SIZE)
            .map(proof)
            .collect::<Result<Vec<_>, _>>()?;
        let a = sender.view_private_key();
        b.add_input(InputCredentials {
            ring,
            membership_proofs: proofs,
            real_index: 0,
            onetime_private_key: ledger[idx]
                .onetime_private_key(a, &sender.subaddress_spend_private(0))
                .map_err(|e| e.to_string())?,
            view_private_key: RistrettoPrivate::from_bytes(&a.to_bytes()[..])
                .map_err(|e| e.to_string())?,
        });
    }
    let total = value * inputs as u64;
    b.add_output(Amount::new(total / 2, TokenId::MOB), &recipient, None);
    b.add_change_output(
        Amount::new(total - total / 2 - MOB_MINIMUM_FEE, TokenId::MOB),
        &sender,
        None,
    );
    let tx: Tx = b.build(&mut rng).map_err(|e| e.to_string())?;
    let root_proofs = tx
        .prefix
        .membership_proof_highest_indices()
        .iter()
        .map(|h| proof(*h as usize))
        .collect::<Result<Vec<_>, _>>()?;
    let fee_map = validation::default_fee_map();
    let ctx = ValidationContext {
        block_version: BV,
        current_block_index: 10,
        fee_map: &fee_map,
        root_proofs: &root_proofs,
        ring_size: RING_SIZE,
    };
    let bytes = tx.encode_to_vec().len();
    let mut samples = Vec::with_capacity(ops);
    let start = Instant::now();
    for _ in 0..ops {
        let t = Instant::now();
        validation::validate(&tx, &ctx, &mut rng).map_err(|e| format!("{e:?}"))?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let secs = start.elapsed().as_secs_f64();
    let (median, p99) = stats(&mut samples);
    println!(
        "{}",
        json!({
            "workload": "tx-validate",
            "inputs": inputs,
            "ring_size": RING_SIZE,
            "tx_bytes": bytes,
            "txs_per_s": round2(ops as f64 / secs),
            "median_us": round2(median),
            "p99_us": round2(p99),
            "ops": ops,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
