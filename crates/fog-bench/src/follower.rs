//! The ledger follower catching up from a real node over loopback.

use std::{sync::Arc, time::Instant};

use fog_ledger_db::{Durability, LedgerDb};
use fog_ledger_follower::{Follower, FollowerConfig};
use fog_node::{Node, NodeConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::{get, peak_rss_mib, round2, Args};

/// `follower-catch-up --blocks N --txouts-per-block T [--batch B] [--seed S]`: a node serves
/// a ledger of N blocks of T synthetic TxOuts (one key image each after the origin; T = 1 is
/// the smallest valid block, an "empty" one) from an on-disk ledger over loopback gRPC; a
/// fresh follower syncs all of it into a ledger of its own, verifying each block and
/// committing each batch durably. Blocks and TxOuts per second, wall clock, from the first
/// call to the last commit.
pub fn follower_catch_up(args: &Args) -> Result<(), String> {
    let blocks: u64 = get(args, "blocks", Some(20_000))?;
    let per_block: usize = get(args, "txouts-per-block", Some(1))?;
    let batch: u32 = get(args, "batch", Some(100))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    if blocks == 0 || per_block == 0 {
        return Err("--blocks and --txouts-per-block must be at least 1".into());
    }
    let dir = std::env::temp_dir().join(format!("fog-bench-follower-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run(&dir, blocks, per_block, batch, seed);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(
    dir: &std::path::Path,
    blocks: u64,
    per_block: usize,
    batch: u32,
    seed: u64,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let source = LedgerDb::create(dir.join("node.redb")).map_err(|e| err(&e))?;
    let filling = source.with_durability(Durability::Eventual);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    for i in 0..blocks {
        fog_test_support::chain::append_synthetic_block(&filling, per_block, i, &mut rng)
            .map_err(|e| err(&e))?;
    }
    source.sync().map_err(|e| err(&e))?;
    let node = Arc::new(Node::new(source.clone(), NodeConfig::default()).map_err(|e| err(&e))?);
    let runtime = tokio::runtime::Runtime::new().map_err(|e| err(&e))?;
    let (secs, stats, local) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| err(&e))?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| err(&e))?);
        tokio::spawn(fog_node::serve(listener, node));
        let local = LedgerDb::create(dir.join("follower.redb")).map_err(|e| err(&e))?;
        let mut follower = Follower::new(
            local.clone(),
            FollowerConfig::new(vec![url]).with_batch_blocks(batch),
        )
        .await
        .map_err(|e| err(&e))?;
        let start = Instant::now();
        let held = follower.catch_up().await.map_err(|e| err(&e))?;
        let secs = start.elapsed().as_secs_f64();
        if held != blocks {
            return Err(format!("the follower holds {held} blocks of {blocks}"));
        }
        Ok::<_, String>((secs, follower.stats(), local))
    })?;
    let ours = local.last_block().map_err(|e| err(&e))?.map(|b| b.id);
    let theirs = source.last_block().map_err(|e| err(&e))?.map(|b| b.id);
    if ours != theirs {
        return Err("the follower's last block differs from the node's".into());
    }
    let txouts = blocks * per_block as u64;
    println!(
        "{}",
        json!({
            "workload": "follower-catch-up",
            "blocks": blocks,
            "txouts_per_block": per_block,
            "batch": batch,
            "seed": seed,
            "secs": round2(secs),
            "blocks_per_s": round2(blocks as f64 / secs),
            "txouts_per_s": round2(txouts as f64 / secs),
            "batches": stats.batches.load(std::sync::atomic::Ordering::Relaxed),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
