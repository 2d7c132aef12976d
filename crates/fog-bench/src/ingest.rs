//! The ingest workload: the enclave logic alone (`--backend none`), or end to end through a
//! recovery DB once one is wired in.

use std::time::Instant;

use fog_account::AccountKey;
use fog_crypto::RistrettoPrivate;
use fog_enclave::ingest::IngestEnclave;
use fog_oram::HeapFactory;
use fog_transaction::{Amount, BlockVersion, EncryptedFogHint, FogHint, TokenId, TxOut};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::{get, peak_rss_mib, round2, stats, Args};

/// `ingest --users U --txouts N [--map-log2 L] [--block T] [--fog-fraction F] [--backend none]`:
/// TxOuts ingested per second with U distinct recipients already in the RNG store (a map of
/// 2^L entries, default the next power of two ≥ 1.25·U), blocks of T TxOuts, a fraction F of
/// valid fog hints (the rest fake).
pub fn ingest(args: &Args) -> Result<(), String> {
    let users: u64 = get(args, "users", Some(1 << 20))?;
    let txouts: usize = get(args, "txouts", Some(20_000))?;
    let block: usize = get(args, "block", Some(1000))?;
    let fog_fraction: f64 = get(args, "fog-fraction", Some(0.5))?;
    let backend: String = get(args, "backend", Some("none".to_string()))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    if backend != "none" {
        return Err(format!(
            "backend {backend} is not wired into fog-bench yet (use none)"
        ));
    }
    let map_log2: u32 = get(
        args,
        "map-log2",
        Some(
            ((users + users / 4).max(1024))
                .next_power_of_two()
                .trailing_zeros(),
        ),
    )?;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut map_seed = seed;
    let make = move || {
        map_seed += 1;
        (HeapFactory, ChaCha20Rng::seed_from_u64(map_seed))
    };
    let build = Instant::now();
    let mut enclave = IngestEnclave::new(
        1 << map_log2,
        ChaCha20Rng::seed_from_u64(seed ^ 0xabc),
        make,
    )
    .map_err(|e| e.to_string())?;
    let ingest_key = enclave.ingress_public_key();
    // A few real fog recipients receive the valid hints; the RNG store is preloaded to `users`
    // entries with fake-hint TxOuts (each one a random "user"), which is what a real epoch
    // looks like to the map.
    let recipients: Vec<_> = (0..16)
        .map(|_| {
            AccountKey::random(&mut rng)
                .with_fog("fog://bench", "", b"spki")
                .default_subaddress()
        })
        .collect();
    let make_tx_out = |rng: &mut ChaCha20Rng, fog: bool| -> Result<TxOut, String> {
        let to = &recipients[rng.gen_range(0..recipients.len())];
        let hint = if fog {
            FogHint::from_address(to).encrypt(&ingest_key, rng)
        } else {
            EncryptedFogHint::fake_onetime_hint(rng)
        };
        let r = RistrettoPrivate::random(rng);
        TxOut::new(
            BlockVersion::THREE,
            Amount::new(rng.gen(), TokenId::MOB),
            to,
            &r,
            hint,
        )
        .map_err(|e| e.to_string())
    };
    // Preloading with real TxOuts would take minutes; the same few TxOuts with fake hints reach
    // the same map state (each ingest of a fake hint adds a random recipient).
    let filler: Vec<TxOut> = (0..block)
        .map(|_| make_tx_out(&mut rng, false))
        .collect::<Result<_, _>>()?;
    let mut preloaded = 0u64;
    let mut global = 0u64;
    let mut block_index = 0u64;
    let target = users.min(enclave.map_capacity() - enclave.map_capacity() / 10 - txouts as u64);
    while preloaded < target {
        let n = (target - preloaded).min(block as u64) as usize;
        enclave
            .ingest_block(block_index, global, 0, &filler[..n])
            .map_err(|e| e.to_string())?;
        preloaded += n as u64;
        global += n as u64;
        block_index += 1;
    }
    let build_s = build.elapsed().as_secs_f64();
    let load_before = enclave.map_len();
    let work: Vec<Vec<TxOut>> = (0..txouts.div_ceil(block))
        .map(|b| {
            let n = block.min(txouts - b * block);
            (0..n)
                .map(|_| {
                    let fog = rng.gen_bool(fog_fraction);
                    make_tx_out(&mut rng, fog)
                })
                .collect()
        })
        .collect::<Result<Vec<Vec<TxOut>>, String>>()
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    let sink = Sink::open(&backend, &enclave)?;
    let mut per_txout_us = Vec::with_capacity(work.len());
    let start = Instant::now();
    let mut rotations = 0;
    for b in &work {
        let t = Instant::now();
        let out = enclave
            .ingest_block(block_index, global, 0, b)
            .map_err(|e| e.to_string())?;
        global += b.len() as u64;
        sink.write(block_index, global, &out.records)?;
        per_txout_us.push(t.elapsed().as_secs_f64() * 1e6 / b.len() as f64);
        rotations += usize::from(out.rotated_to.is_some());
        block_index += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    sink.close();
    let (median, p99) = stats(&mut per_txout_us);
    println!(
        "{}",
        json!({
            "workload": "ingest",
            "backend": backend,
            "users": users,
            "map_capacity": enclave.map_capacity(),
            "map_load_before": round2(load_before as f64 / enclave.map_capacity() as f64),
            "map_load_after": round2(enclave.map_len() as f64 / enclave.map_capacity() as f64),
            "txouts": txouts,
            "block": block,
            "fog_fraction": fog_fraction,
            "txouts_per_s": round2(txouts as f64 / secs),
            "median_us": round2(median),
            "p99_us": round2(p99),
            "ops": txouts,
            "rotations": rotations,
            "build_s": round2(build_s),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}

/// Where ingested blocks go: nowhere (the enclave logic alone), or a recovery DB, one
/// `add_block_data` transaction per block as the ingest server does.
struct Sink {
    rt: Option<tokio::runtime::Runtime>,
    db: Option<fog_recovery_db::AnyRecoveryDb>,
    invocation: fog_recovery_db::IngestInvocationId,
    dir: Option<std::path::PathBuf>,
}

impl Sink {
    fn open<F, M, R, S>(backend: &str, enclave: &IngestEnclave<F, M, R, S>) -> Result<Self, String>
    where
        F: fog_oram::StoreFactory,
        M: rand::RngCore + rand::CryptoRng,
        R: rand::RngCore + rand::CryptoRng,
        S: FnMut() -> (F, M),
    {
        use fog_recovery_db::{BlockIndex, RecoveryDb};
        if backend == "none" {
            return Ok(Self {
                rt: None,
                db: None,
                invocation: fog_recovery_db::IngestInvocationId(0),
                dir: None,
            });
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let (url, dir) = if backend == "sqlite" {
            let dir = std::env::temp_dir().join(format!("fog-bench-ingest-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            (
                format!("sqlite://{}", dir.join("recovery.db").display()),
                Some(dir),
            )
        } else {
            let url = std::env::var("FOG_BENCH_POSTGRES_URL").map_err(|_| {
                "set FOG_BENCH_POSTGRES_URL to a database the benchmark may write".to_string()
            })?;
            (url, None)
        };
        let key = fog_crypto::CompressedRistrettoPublic::from(&enclave.ingress_public_key());
        let egress = enclave.kex_rng_pubkey();
        let (db, invocation) = rt.block_on(async {
            let db = fog_recovery_db::open(&url)
                .await
                .map_err(|e| e.to_string())?;
            db.new_ingress_key(&key, BlockIndex(0))
                .await
                .map_err(|e| e.to_string())?;
            let inv = db
                .new_ingest_invocation(None, &key, &egress, BlockIndex(0))
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((db, inv))
        })?;
        Ok(Self {
            rt: Some(rt),
            db: Some(db),
            invocation,
            dir,
        })
    }

    fn write(
        &self,
        block: u64,
        cumulative: u64,
        records: &[fog_transaction::wire::ETxOutRecord],
    ) -> Result<(), String> {
        use fog_recovery_db::{BlockIndex, RecoveryDb};
        let (Some(rt), Some(db)) = (&self.rt, &self.db) else {
            return Ok(());
        };
        rt.block_on(db.add_block_data(self.invocation, BlockIndex(block), cumulative, 0, records))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn close(self) {
        if let Some(dir) = self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
