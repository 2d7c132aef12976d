//! The view workloads: `view-query` (search keys per second over a filled partitioned store,
//! with T client threads) and `view-load` (records per second reloading the store from a
//! SQLite recovery DB, as `fogd view` does at start).

use std::sync::Arc;
use std::time::Instant;

use fog_attest::{EnclaveResponder, FogEnclave, SimProvider};
use fog_enclave::view_enclave::{padded_batch, partition_quota, ViewEnclave};
use fog_transaction::wire::ETxOutRecord;
use fog_view_server::{ViewConfig, ViewServer};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::{emit, get, round2, stats, thread_cpu_ns, Args};

/// The trusted view logic `view-query` measures directly (its search, without the client
/// session around it).
type Enclave = ViewEnclave<fog_oram::HeapFactory, ChaCha20Rng>;

fn sim(seed: u64) -> SimProvider {
    SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(seed),
        fog_attest::fog_identity(FogEnclave::View),
    )
}

/// The trusted view enclave of `cfg`, randomness from the OS.
fn trusted_enclave(seed: u64, cfg: &ViewConfig) -> Result<Enclave, String> {
    use rand::rngs::OsRng;
    let responder = EnclaveResponder::from_provider(&sim(seed)).map_err(|e| e.to_string())?;
    let parts = (0..cfg.partitions)
        .map(|_| {
            let rng = ChaCha20Rng::from_rng(OsRng).map_err(|e| e.to_string())?;
            fog_enclave::view::ViewStore::new(
                cfg.capacity_per_partition,
                fog_oram::HeapFactory,
                rng,
            )
            .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    ViewEnclave::new(
        responder,
        cfg.session_capacity,
        fog_attest::SessionLimits::default(),
        parts,
        &mut OsRng,
    )
    .map_err(|e| e.to_string())
}

/// Lends `enclave` one thread per partition worker (as `fog_view_server::lend_worker_threads`
/// does through the boundary) and waits until they run; they return when it is dropped.
fn lend_threads(enclave: &Arc<Enclave>) -> Result<(), String> {
    for pi in 0..enclave.worker_partitions() {
        let e = Arc::clone(enclave);
        std::thread::Builder::new()
            .name(format!("view-partition-{pi}"))
            .spawn(move || {
                let _ = e.run_worker(pi);
            })
            .map_err(|e| e.to_string())?;
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while enclave.worker_partitions() > 0 && !enclave.workers_ready() {
        if Instant::now() > deadline {
            return Err("the partition workers did not start".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

/// A record as ingest writes it: 16-byte key, a crypto-box-sized payload (~130 bytes).
fn record(rng: &mut ChaCha20Rng) -> ETxOutRecord {
    let mut key = vec![0u8; 16];
    rng.fill_bytes(&mut key);
    let mut payload = vec![0u8; 130];
    rng.fill_bytes(&mut payload);
    ETxOutRecord {
        search_key: key,
        payload,
    }
}

/// Slots per view partition for `records` records over `partitions` partitions.
pub(crate) fn capacity_for(records: u64, partitions: usize) -> u64 {
    // The map holds ~86 % of its capacity (2^24 slots) before the first insert failure: leave
    // room.
    (records.div_ceil(partitions as u64) * 5 / 4)
        .max(1024)
        .next_power_of_two()
}

fn config(records: u64, partitions: usize) -> ViewConfig {
    ViewConfig {
        partitions,
        capacity_per_partition: capacity_for(records, partitions),
        ..ViewConfig::default()
    }
}

/// `view-query --records N --batch K[,K2...] [--threads T[,T2...]] [--partitions P]
/// [--queries Q] [--capacity C] [--no-workers] [--seed S]`: fills a view store of P partitions (default the
/// largest T) with N records (C slots per partition; default 1.25·N/P rounded up to a power of
/// two), then for each batch size K and thread count T (one JSON line each, all over the same
/// filled store), T threads each send Q batches of K keys (half stored, half absent). `keys_per_s` counts the client's keys (not
/// padding); `keys_per_s_per_core` divides by min(T, cores); `keys_per_cpu_s` divides by the
/// query threads' on-CPU time.
pub fn view_query(args: &Args) -> Result<(), String> {
    let records: u64 = get(args, "records", Some(1 << 20))?;
    let batches: Vec<usize> = get::<String>(args, "batch", Some("256".into()))?
        .split(',')
        .map(|b| b.trim().parse().map_err(|_| format!("bad --batch {b}")))
        .collect::<Result<_, String>>()?;
    // `--threads 1,2` measures each count over the same filled store.
    let thread_counts: Vec<usize> = get::<String>(args, "threads", Some("1".into()))?
        .split(',')
        .map(|t| t.trim().parse().map_err(|_| format!("bad --threads {t}")))
        .collect::<Result<_, String>>()?;
    let threads = thread_counts.iter().copied().max().unwrap_or(1);
    let partitions: usize = get(args, "partitions", Some(threads))?;
    let queries: usize = get(args, "queries", Some(40))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    if batches
        .iter()
        .any(|&b| b == 0 || b > fog_enclave::view_enclave::MAX_SEARCH_KEYS)
    {
        return Err("--batch must be between 1 and 4096".into());
    }
    if thread_counts.contains(&0) || partitions == 0 {
        return Err("--threads and --partitions must be at least 1".into());
    }
    let mut cfg = config(records, partitions);
    if let Some(c) = args.get("capacity") {
        cfg.capacity_per_partition = c.parse().map_err(|_| format!("bad --capacity {c}"))?;
    }
    let enclave: Arc<Enclave> = Arc::new(trusted_enclave(seed, &cfg)?);
    // As `fogd view` runs it: one worker thread per partition (`--no-workers`: the client
    // threads search every partition themselves, taking turns on the partition locks).
    if !args.contains_key("no-workers") {
        lend_threads(&enclave)?;
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let fill = Instant::now();
    let mut stored: Vec<[u8; 16]> = Vec::new();
    let mut done = 0u64;
    let chunk = 65_536u64;
    while done < records {
        let n = chunk.min(records - done);
        let recs: Vec<ETxOutRecord> = (0..n).map(|_| record(&mut rng)).collect();
        // Keep a sample of stored keys for the queries.
        for r in recs.iter().step_by(((records / 200_000).max(1)) as usize) {
            stored.push(r.search_key.clone().try_into().map_err(|_| "key")?);
        }
        enclave.load_records(&recs).map_err(|e| e.to_string())?;
        done += n;
        if done % (1 << 20) == 0 || done == records {
            eprintln!("view-query: {done}/{records} records loaded");
        }
    }
    let fill_s = fill.elapsed().as_secs_f64();
    for &batch in &batches {
        for &threads in &thread_counts {
            query_round(
                &enclave,
                &stored,
                threads,
                partitions,
                batch,
                queries,
                seed,
                records,
                fill_s,
                cfg.capacity_per_partition,
                partitions > 1 && !args.contains_key("no-workers"),
            )?;
        }
    }
    Ok(())
}

/// T threads each search Q batches of K keys; one JSON line.
#[allow(clippy::too_many_arguments)]
fn query_round(
    enclave: &Arc<Enclave>,
    stored: &[[u8; 16]],
    threads: usize,
    partitions: usize,
    batch: usize,
    queries: usize,
    seed: u64,
    records: u64,
    fill_s: f64,
    capacity_per_partition: u64,
    workers: bool,
) -> Result<(), String> {
    // Thread names are cut to 15 bytes in /proc: "view-partition-".
    let workers0 = crate::named_threads_cpu_ns("view-partition");
    let start = Instant::now();
    let latencies: Vec<(Vec<f64>, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let enclave = enclave.clone();
                scope.spawn(move || {
                    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ (t as u64 + 1) << 32);
                    let mut lat = Vec::with_capacity(queries);
                    let mut cpu_ns = 0u64;
                    for _ in 0..queries {
                        let keys: Vec<[u8; 16]> = (0..batch)
                            .map(|i| {
                                if i % 2 == 0 {
                                    stored[(rng.next_u64() % stored.len() as u64) as usize]
                                } else {
                                    let mut k = [0u8; 16];
                                    rng.fill_bytes(&mut k);
                                    k
                                }
                            })
                            .collect();
                        let c0 = thread_cpu_ns();
                        let t0 = Instant::now();
                        let r = enclave.search(&keys);
                        lat.push(t0.elapsed().as_secs_f64() * 1e3);
                        if let (Some(a), Some(b)) = (c0, thread_cpu_ns()) {
                            cpu_ns += b.saturating_sub(a);
                        }
                        if r.is_err() {
                            return Err("search failed".to_string());
                        }
                    }
                    Ok((lat, cpu_ns))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| "thread panicked".to_string())?)
            .collect::<Result<Vec<(Vec<f64>, u64)>, String>>()
    })?;
    let worker_ns = match (workers0, crate::named_threads_cpu_ns("view-partition")) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    };
    let cpu_s = (latencies.iter().map(|(_, c)| *c).sum::<u64>() + worker_ns) as f64 / 1e9;
    let latencies: Vec<f64> = latencies.into_iter().flat_map(|(l, _)| l).collect();
    let wall = start.elapsed().as_secs_f64();
    let keys = (threads * queries * batch) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let busy = if workers {
        threads.max(partitions)
    } else {
        threads
    };
    let mut lat = latencies;
    let (median, p99) = stats(&mut lat);
    let k = padded_batch(batch);
    emit(json!({
        "workload": "view-query",
        "records": records,
        "batch": batch,
        "padded_batch": k,
        "lookups_per_batch": partitions * partition_quota(k, partitions),
        "threads": threads,
        "partitions": partitions,
        "keys_per_s": round2(keys / wall),
        // Divided by the cores the search could use: the client threads, or the partition
        // workers when they run (the client threads then mostly wait for them).
        "keys_per_s_per_core": round2(keys / wall / busy.min(cores) as f64),
        // Keys per second of on-CPU time of the query threads and the partition workers: the
        // per-core rate with time spent preempted by other processes left out (use it on a
        // busy machine).
        "keys_per_cpu_s": if cpu_s > 0.0 { round2(keys / cpu_s) } else { 0.0 },
        "batch_median_ms": round2(median),
        "batch_p99_ms": round2(p99),
        "fill_s": round2(fill_s),
        "capacity_per_partition": capacity_per_partition,
        "partition_workers": workers,
    }));
    Ok(())
}

/// `view-load --records N [--partitions P] [--per-block B] [--seed S]`: writes N records to
/// a fresh SQLite recovery DB (blocks of B), then times a new view server loading them all
/// (`ViewServer::poll`, batches of 100,000 records). Prints `records_per_s`.
pub fn view_load(args: &Args) -> Result<(), String> {
    use fog_recovery_db::{BlockIndex, RecoveryDb};
    let records: u64 = get(args, "records", Some(1_000_000))?;
    let partitions: usize = get(
        args,
        "partitions",
        Some(std::thread::available_parallelism().map_or(1, |n| n.get())),
    )?;
    let per_block: u64 = get(args, "per-block", Some(1000))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    if per_block == 0 || partitions == 0 {
        return Err("--per-block and --partitions must be at least 1".into());
    }
    let dir = std::env::temp_dir().join(format!("fog-bench-view-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let result = rt.block_on(async {
        let db = fog_recovery_db::SqliteRecoveryDb::open(dir.join("recovery.db"))
            .map_err(|e| e.to_string())?;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let key = fog_crypto::CompressedRistrettoPublic::from(
            &fog_crypto::RistrettoPrivate::random(&mut rng).public_key(),
        );
        let egress = fog_crypto::kex_rng::KexRngPubkey {
            public_key: fog_crypto::RistrettoPrivate::random(&mut rng)
                .public_key()
                .to_bytes()
                .to_vec(),
            version: fog_crypto::kex_rng::VERSION_ID,
        };
        db.new_ingress_key(&key, BlockIndex(0))
            .await
            .map_err(|e| e.to_string())?;
        let inv = db
            .new_ingest_invocation(None, &key, &egress, BlockIndex(0))
            .await
            .map_err(|e| e.to_string())?;
        let write = Instant::now();
        let mut written = 0u64;
        let mut block = 0u64;
        while written < records {
            let n = per_block.min(records - written);
            let recs: Vec<ETxOutRecord> = (0..n).map(|_| record(&mut rng)).collect();
            written += n;
            db.add_block_data(inv, BlockIndex(block), written, 0, &recs)
                .await
                .map_err(|e| e.to_string())?;
            block += 1;
        }
        eprintln!(
            "view-load: wrote {records} records in {:.1} s",
            write.elapsed().as_secs_f64()
        );
        let cfg = config(records, partitions);
        let enclave = fog_enclave::boundary::view::ViewBoundary::simulated(&cfg.enclave(), None)
            .map_err(|e| e.to_string())?;
        fog_enclave_api::view::ViewClient::new(enclave.clone())
            .attest(&sim(seed))
            .map_err(|e| e.to_string())?;
        let server = ViewServer::new(Arc::new(db), enclave, cfg.clone());
        let start = Instant::now();
        let loaded = server
            .poll_with_progress(|n| {
                eprintln!(
                    "view-load: {n} records loaded ({:.1} s)",
                    start.elapsed().as_secs_f64()
                )
            })
            .await
            .map_err(|e| e.to_string())?;
        let secs = start.elapsed().as_secs_f64();
        if loaded != records {
            return Err(format!("loaded {loaded} of {records} records"));
        }
        emit(json!({
            "workload": "view-load",
            "backend": "sqlite",
            "records": records,
            "partitions": partitions,
            "seconds": round2(secs),
            "records_per_s": round2(records as f64 / secs),
            "processed_blocks": server.status().highest_processed_block_count,
        }));
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
