//! Fog's benchmark program. Each result is printed as one JSON object on its own line.
//!
//! ```text
//! fog-bench oram --log2-n 20 --value-bytes 1024 [--ops 2000] [--storage heap|encrypted]
//!                [--trusted-levels 10] [--seed 1]
//! fog-bench map --log2-capacity 20 --key-bytes 16 --value-bytes 240 --load 0.9
//!               [--ops 2000] [--max-load] [--seed 1]
//! fog-bench stash-sim --log2-n 20 [--accesses 10000000] [--blocks-per-op 1] [--seed 1]
//! fog-bench map-load-sim --log2-capacity 24 [--trials 3] [--stash 128] [--seed 1]
//! fog-bench ct-timing [--samples 200000] [--seed 1]
//! fog-bench ingest --users 1048576 --txouts 20000 [--block 1000] [--fog-fraction 0.5] [--backend none]
//!                  [--via enclave|boundary] [--workers W] [--rounds R] [--alternate]
//! fog-bench ingest-breakdown --users 1048576 [--samples 20000] [--fog-fraction 0.5]
//! fog-bench tx-validate --inputs 1 [--ops 50]
//! fog-bench ledger-append --txouts 100000 [--per-block 1000] [--durability immediate|eventual]
//! fog-bench membership-proof --txouts 1000000 [--ops 20000]
//! fog-bench view-query --records 16777216 --batch 256 [--threads 2] [--partitions T] [--queries 40]
//! fog-bench view-load --records 1000000 [--partitions P] [--per-block 1000]
//! fog-bench balance-check --ledger-txouts 1000000 --wallet-txouts 100 [--seed 1]
//! fog-bench view-key-scan --ledger-txouts 1000000 [--wallet-txouts 100] [--seed 1]
//! fog-bench key-image-check --key-images 1048576 [--batch 100] [--checks 20000] [--capacity C]
//! fog-bench load [--wallets 10000] [--seconds 30] [--mix incremental=98,fresh=1,pay=1]
//!                [--concurrency 32] [--rate R] [--funded F] [--mode in-process|processes]
//! ```
//!
//! Timings are wall-clock per operation; `median_us` and `p99_us` are over the measured
//! operations. `peak_rss_mib` is the process's VmHWM from /proc/self/status (Linux only).

mod attest;
mod balance;
mod follower;
mod ingest;
mod key_image;
mod latency;
mod ledger;
mod load;
mod shards;
mod view;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use fog_oram::{
    EncryptedFactory, HeapFactory, ObliviousMap, Oram, OramParams, StoreFactory, GROUP_BUCKETS,
    SLOTS_PER_BUCKET, STASH_ENTRIES, TABLES,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

type Args = HashMap<String, String>;

fn parse_args(rest: &[String]) -> Result<Args, String> {
    let mut out = HashMap::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let name = a
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {a}"))?;
        // Flags without a value.
        if name == "max-load" || name == "no-workers" || name == "alternate" {
            out.insert(name.to_string(), "true".to_string());
            continue;
        }
        let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        out.insert(name.to_string(), v.clone());
    }
    Ok(out)
}

fn get<T: std::str::FromStr>(args: &Args, name: &str, default: Option<T>) -> Result<T, String> {
    match args.get(name) {
        Some(v) => v
            .parse()
            .map_err(|_| format!("bad value for --{name}: {v}")),
        None => default.ok_or_else(|| format!("missing --{name}")),
    }
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// On-CPU time of this thread in nanoseconds (first field of /proc/thread-self/schedstat), so
/// that a mean per operation can be reported that excludes time spent preempted.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// On-CPU nanoseconds of this process's live threads whose name starts with `prefix`
/// (e.g. the view enclave's partition workers), from `/proc/self/task/*/schedstat`.
fn named_threads_cpu_ns(prefix: &str) -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if name.trim_end().starts_with(prefix) {
            let s = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            total += s.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

fn cpu_mean_us(start: Option<u64>, ops: usize) -> Value {
    match (start, thread_cpu_ns()) {
        (Some(a), Some(b)) if ops > 0 => Value::from(round2((b - a) as f64 / 1e3 / ops as f64)),
        _ => Value::Null,
    }
}

/// Median and 99th percentile, in microseconds.
fn stats(samples: &mut [f64]) -> (f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Rounds to five decimals (seconds to 10 µs), dividing an integer-valued float so that the
/// JSON shows the short decimal.
fn round5(x: f64) -> f64 {
    (x * 1e5).round() / 1e5
}

fn emit(mut v: Value) {
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "peak_rss_mib".into(),
            peak_rss_mib().map(round2).map_or(Value::Null, Value::from),
        );
        // Whether the ORAM's path passes ran four words wide (AVX2) or at the baseline width.
        m.insert("wide_moves".into(), Value::from(fog_oram::wide_moves()));
    }
    println!("{v}");
}

fn seeded(args: &Args) -> Result<(u64, ChaCha20Rng), String> {
    let seed: u64 = get(args, "seed", Some(1))?;
    eprintln!("seed {seed}");
    Ok((seed, ChaCha20Rng::seed_from_u64(seed)))
}

fn bench_oram_with<F: StoreFactory>(args: &Args, factory: F, storage: &str) -> Result<(), String> {
    let log2_n: u32 = get(args, "log2-n", None)?;
    let value_bytes: usize = get(args, "value-bytes", None)?;
    let ops: usize = get(args, "ops", Some(2000))?;
    let warmup: usize = get(args, "warmup", Some(ops / 4))?;
    let (seed, mut rng) = seeded(args)?;
    let n = 1u64 << log2_n;
    let t0 = Instant::now();
    let params = params_from(args)?;
    let mut oram = Oram::with_params(
        n,
        value_bytes,
        params,
        factory,
        ChaCha20Rng::seed_from_u64(seed ^ 0xa5),
    )
    .map_err(|e| e.to_string())?;
    let build_s = t0.elapsed().as_secs_f64();
    let mut samples = Vec::with_capacity(ops);
    let mut cpu0 = None;
    for k in 0..warmup + ops {
        if k == warmup {
            cpu0 = thread_cpu_ns();
        }
        let i = rng.gen_range(0..n);
        let t = Instant::now();
        oram.access(i, |v| v[0] = v[0].wrapping_add(1))
            .map_err(|e| e.to_string())?;
        if k >= warmup {
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let cpu = cpu_mean_us(cpu0, ops);
    let (median, p99) = stats(&mut samples);
    let mem = oram.memory_bytes();
    let payload = n as f64 * value_bytes as f64;
    emit(json!({
        "workload": "oram",
        "log2_n": log2_n,
        "value_bytes": value_bytes,
        "storage": storage,
        "seed": seed,
        "ops": ops,
        "median_us": round2(median),
        "p99_us": round2(p99),
        "cpu_mean_us": cpu,
        "trees": oram.num_trees(),
        "bucket_slots": params.bucket_slots,
        "stash_slots": params.stash_slots,
        "extra_evictions": params.extra_evictions,
        "stash_peak": oram.stash_peak(),
        "build_s": round2(build_s),
        "mem_trusted_mib": round2(mem.trusted as f64 / 1048576.0),
        "mem_untrusted_mib": round2(mem.untrusted as f64 / 1048576.0),
        "mem_over_payload": round2((mem.trusted + mem.untrusted) as f64 / payload),
    }));
    Ok(())
}

fn bench_oram(args: &Args) -> Result<(), String> {
    let storage: String = get(args, "storage", Some("heap".to_string()))?;
    match storage.as_str() {
        "heap" => bench_oram_with(args, HeapFactory, "heap"),
        "encrypted" => {
            let trusted_levels: u32 = get(args, "trusted-levels", Some(10))?;
            let label = format!("encrypted(top {trusted_levels} levels trusted)");
            bench_oram_with(args, EncryptedFactory { trusted_levels }, &label)
        }
        other => Err(format!("unknown storage {other}")),
    }
}

fn key_for(i: u64, key_bytes: usize) -> Vec<u8> {
    // Distinct keys from a counter, spread by a fixed odd multiplier.
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
    let mut k = vec![0u8; key_bytes];
    for (j, b) in k.iter_mut().enumerate() {
        *b = (x >> ((j % 8) * 8)) as u8 ^ (j / 8) as u8;
    }
    k[..8.min(key_bytes)].copy_from_slice(&x.to_le_bytes()[..8.min(key_bytes)]);
    k
}

fn bench_map(args: &Args) -> Result<(), String> {
    let log2_cap: u32 = get(args, "log2-capacity", None)?;
    let key_bytes: usize = get(args, "key-bytes", None)?;
    let value_bytes: usize = get(args, "value-bytes", None)?;
    let load: f64 = get(args, "load", Some(0.9))?;
    let ops: usize = get(args, "ops", Some(2000))?;
    let find_max = args.contains_key("max-load");
    if key_bytes < 8 {
        return Err("--key-bytes must be at least 8".into());
    }
    let (seed, mut rng) = seeded(args)?;
    let t0 = Instant::now();
    let mut map = ObliviousMap::new(
        1u64 << log2_cap,
        key_bytes,
        value_bytes,
        HeapFactory,
        ChaCha20Rng::seed_from_u64(seed ^ 0x5a),
    )
    .map_err(|e| e.to_string())?;
    let build_s = t0.elapsed().as_secs_f64();
    let cap = map.capacity();
    let fill_to = ((cap as f64) * load) as u64;
    let value = vec![7u8; value_bytes];
    let mut inserted = 0u64;
    let mut insert_samples = Vec::new();
    let mut first_failure: Option<u64> = None;
    let t_fill = Instant::now();
    // Fill; the last `ops` inserts before the target load are the insert sample.
    while inserted < fill_to {
        let k = key_for(inserted, key_bytes);
        let t = Instant::now();
        let r = map.insert(&k, &value);
        let dt = t.elapsed().as_secs_f64() * 1e6;
        match r {
            Ok(_) => {
                inserted += 1;
                if fill_to - inserted < ops as u64 {
                    insert_samples.push(dt);
                }
            }
            Err(fog_oram::OramError::MapFull) => {
                first_failure = Some(inserted);
                break;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let fill_s = t_fill.elapsed().as_secs_f64();
    let mut lookup_samples = Vec::with_capacity(ops);
    let mut upsert_samples = Vec::with_capacity(ops);
    let mut miss_samples = Vec::with_capacity(ops);
    let mut out = vec![0u8; value_bytes];
    let cpu0 = thread_cpu_ns();
    for _ in 0..ops {
        // Half hits, half misses for lookups; upserts on present keys (ingest's case).
        let k = key_for(rng.gen_range(0..inserted.max(1)), key_bytes);
        let t = Instant::now();
        map.get(&k, &mut out).map_err(|e| e.to_string())?;
        lookup_samples.push(t.elapsed().as_secs_f64() * 1e6);
        let miss = key_for(u64::MAX - rng.gen_range(0..1u64 << 40), key_bytes);
        let t = Instant::now();
        map.get(&miss, &mut out).map_err(|e| e.to_string())?;
        miss_samples.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        map.upsert(&k, |v, _| v[0] = v[0].wrapping_add(1))
            .map_err(|e| e.to_string())?;
        upsert_samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let cpu = cpu_mean_us(cpu0, 3 * ops);
    if find_max && first_failure.is_none() {
        loop {
            let k = key_for(inserted, key_bytes);
            match map.insert(&k, &value) {
                Ok(_) => inserted += 1,
                Err(fog_oram::OramError::MapFull) => {
                    first_failure = Some(inserted);
                    break;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    let (lookup_med, lookup_p99) = stats(&mut lookup_samples);
    let (miss_med, miss_p99) = stats(&mut miss_samples);
    let (upsert_med, upsert_p99) = stats(&mut upsert_samples);
    let (insert_med, insert_p99) = stats(&mut insert_samples);
    let mem = map.memory_bytes();
    let payload = cap as f64 * value_bytes as f64;
    emit(json!({
        "workload": "map",
        "log2_capacity": log2_cap,
        "key_bytes": key_bytes,
        "value_bytes": value_bytes,
        "load": load,
        "seed": seed,
        "capacity": cap,
        "items": inserted,
        "ops": ops,
        "median_us": round2(lookup_med),
        "p99_us": round2(lookup_p99),
        "cpu_mean_us_all_ops": cpu,
        "lookup_median_us": round2(lookup_med),
        "lookup_p99_us": round2(lookup_p99),
        "miss_median_us": round2(miss_med),
        "miss_p99_us": round2(miss_p99),
        "insert_median_us": round2(insert_med),
        "insert_p99_us": round2(insert_p99),
        "insert_ops": insert_samples.len(),
        "upsert_median_us": round2(upsert_med),
        "upsert_p99_us": round2(upsert_p99),
        "max_load": first_failure.map_or(Value::Null, |f| Value::from(round4(f as f64 / cap as f64))),
        "stash_peak": map.stash_peak(),
        "build_s": round2(build_s),
        "fill_s": round2(fill_s),
        "mem_trusted_mib": round2(mem.trusted as f64 / 1048576.0),
        "mem_over_payload": round2(mem.trusted as f64 / payload),
    }));
    Ok(())
}

fn round4(x: f64) -> f64 {
    (x * 10000.0).round() / 10000.0
}

/// ORAM parameters: the defaults, overridden by `--z`, `--stash` and `--extra-evictions`.
fn params_from(args: &Args) -> Result<OramParams, String> {
    let mut p = OramParams::default();
    p.bucket_slots = get(args, "z", Some(p.bucket_slots))?;
    p.stash_slots = get(args, "stash", Some(p.stash_slots))?;
    p.extra_evictions = get(args, "extra-evictions", Some(p.extra_evictions))?;
    Ok(p)
}

/// Runs the real ORAM with 8-byte blocks on uniformly random indices and reports the largest
/// stash occupancy seen (right after each accessed block is put back).
fn stash_sim(args: &Args) -> Result<(), String> {
    let log2_n: u32 = get(args, "log2-n", None)?;
    let accesses: u64 = get(args, "accesses", Some(10_000_000))?;
    let per_op: usize = get(args, "blocks-per-op", Some(1))?;
    let (seed, mut rng) = seeded(args)?;
    let n = 1u64 << log2_n;
    let params = params_from(args)?;
    let mut oram = Oram::with_params(
        n,
        8,
        params,
        HeapFactory,
        ChaCha20Rng::seed_from_u64(seed ^ 0x77),
    )
    .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut done = 0u64;
    let mut idx = vec![0u64; per_op];
    while done < accesses {
        // Distinct indices, as the map's tables guarantee.
        let part = n / per_op as u64;
        for (j, slot) in idx.iter_mut().enumerate() {
            *slot = j as u64 * part + rng.gen_range(0..part.max(1));
        }
        oram.access_many(&idx, |w| w[0] = w[0].wrapping_add(1))
            .map_err(|e| e.to_string())?;
        done += per_op as u64;
    }
    emit(json!({
        "workload": "stash-sim",
        "log2_n": log2_n,
        "bucket_slots": params.bucket_slots,
        "stash_slots": params.stash_slots,
        "extra_evictions": params.extra_evictions,
        "blocks_per_op": per_op,
        "seed": seed,
        "ops": done,
        "stash_peak": oram.stash_peak(),
        "data_tree_stash_histogram": oram.stash_histogram(),
        "seconds": round2(t0.elapsed().as_secs_f64()),
    }));
    Ok(())
}

/// Simulates the map's placement rule with uniformly random hashes: `TABLES` tables of buckets
/// of 16 in groups of `GROUP_BUCKETS` buckets per table (both buckets of a key in one group),
/// the less loaded bucket (the left one on ties), the overflow stash of `--stash` entries
/// (`STASH_ENTRIES` by default) when both are full. Reports the load (items over bucket slots)
/// at the first failed insert and how many items the stash held at given loads.
fn map_load_sim(args: &Args) -> Result<(), String> {
    let log2_cap: u32 = get(args, "log2-capacity", None)?;
    let trials: u32 = get(args, "trials", Some(3))?;
    let stash: u64 = get(args, "stash", Some(STASH_ENTRIES as u64))?;
    let (seed, mut rng) = seeded(args)?;
    let buckets = ((1u64 << log2_cap) / SLOTS_PER_BUCKET as u64)
        .next_power_of_two()
        .max(TABLES as u64);
    let group_size = (TABLES as u64 * GROUP_BUCKETS).min(buckets);
    let groups = buckets / group_size;
    let per_group = group_size / TABLES as u64;
    let cap = buckets * SLOTS_PER_BUCKET as u64;
    let marks = [0.80, 0.85, 0.88, 0.90];
    let mut loads = Vec::new();
    let mut stashed_at = vec![Vec::new(); marks.len()];
    for _ in 0..trials {
        let mut fill = vec![0u8; buckets as usize];
        let mut n = 0u64;
        let mut stashed = 0u64;
        let mut mark = 0;
        loop {
            while mark < marks.len() && n as f64 >= marks[mark] * cap as f64 {
                stashed_at[mark].push(stashed);
                mark += 1;
            }
            let base = rng.gen_range(0..groups) * group_size;
            let mut best = usize::MAX;
            let mut best_load = u8::MAX;
            for t in 0..TABLES as u64 {
                let b = (base + t * per_group + rng.gen_range(0..per_group)) as usize;
                if fill[b] < best_load {
                    best_load = fill[b];
                    best = b;
                }
            }
            if (best_load as usize) < SLOTS_PER_BUCKET {
                fill[best] += 1;
            } else if stashed < stash {
                stashed += 1;
            } else {
                break;
            }
            n += 1;
        }
        while mark < marks.len() {
            stashed_at[mark].push(stash);
            mark += 1;
        }
        loads.push(n as f64 / cap as f64);
    }
    let min = loads.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = loads.iter().sum::<f64>() / loads.len() as f64;
    let stashed: serde_json::Map<String, serde_json::Value> = marks
        .iter()
        .zip(&stashed_at)
        .map(|(m, v)| (format!("{m:.2}"), json!(v)))
        .collect();
    emit(json!({
        "workload": "map-load-sim",
        "log2_capacity": log2_cap,
        "tables": TABLES,
        "slots_per_bucket": SLOTS_PER_BUCKET,
        "group_buckets": GROUP_BUCKETS,
        "stash_entries": stash,
        "seed": seed,
        "ops": trials,
        "max_load_min": round4(min),
        "max_load_mean": round4(mean),
        "stashed_items_at_load": stashed,
    }));
    Ok(())
}

/// dudect-style test (Reparaz, Balasch, Verbauwhede 2017): time a helper on two classes of
/// secret inputs in random interleaving and compare the distributions with Welch's t-test.
/// |t| below 4.5 means no timing difference was detected.
fn ct_timing(args: &Args) -> Result<(), String> {
    let samples: usize = get(args, "samples", Some(200_000))?;
    let (seed, mut rng) = seeded(args)?;
    let src = vec![0x1234_5678u64; 128];
    let mut dst = vec![0u64; 128];
    let other: Vec<u64> = (0..128).collect();
    type Case = (&'static str, Box<dyn FnMut(bool) -> u64>);
    let cases: Vec<Case> = vec![
        (
            "cmov_words_1KiB",
            Box::new(move |c: bool| {
                let _ = fog_oram::ct::cmov_words(subtle::Choice::from(c as u8), &src, &mut dst);
                dst[0]
            }),
        ),
        (
            "ct_eq_words_1KiB",
            Box::new({
                let a: Vec<u64> = (0..128).collect();
                let b2: Vec<u64> = (0..128).map(|i| i ^ 1).collect();
                move |c: bool| {
                    let b = if c { &other } else { &b2 };
                    u64::from(fog_oram::ct::ct_eq_words(&a, std::hint::black_box(b)).unwrap_u8())
                }
            }),
        ),
        (
            "ct_lt_u64",
            Box::new(|c: bool| {
                let (a, b) = if c { (1u64, 2u64) } else { (u64::MAX, 0) };
                u64::from(
                    fog_oram::ct::ct_lt_u64(std::hint::black_box(a), std::hint::black_box(b))
                        .unwrap_u8(),
                )
            }),
        ),
    ];
    for (name, mut f) in cases {
        let mut sums = [(0f64, 0f64, 0f64); 2];
        let mut sink = 0u64;
        for _ in 0..samples {
            let class = rng.gen::<bool>();
            let t = Instant::now();
            for _ in 0..8 {
                sink = sink.wrapping_add(f(class));
            }
            let dt = t.elapsed().as_nanos() as f64;
            let s = &mut sums[class as usize];
            s.0 += 1.0;
            s.1 += dt;
            s.2 += dt * dt;
        }
        std::hint::black_box(sink);
        let m = |s: (f64, f64, f64)| (s.1 / s.0, (s.2 / s.0 - (s.1 / s.0).powi(2)) / s.0);
        let (m0, v0) = m(sums[0]);
        let (m1, v1) = m(sums[1]);
        let t = (m0 - m1) / (v0 + v1).sqrt();
        emit(json!({
            "workload": "ct-timing",
            "function": name,
            "seed": seed,
            "ops": samples,
            "mean_ns_class0": round2(m0 / 8.0),
            "mean_ns_class1": round2(m1 / 8.0),
            "welch_t": round2(t),
            "leak_detected": t.abs() > 4.5,
        }));
    }
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let usage = "usage: fog-bench <oram|map|stash-sim|map-load-sim|ct-timing|ingest|ingest-breakdown|tx-validate|ledger-append|follower-catch-up|block-to-wallet|membership-proof|view-query|view-load|balance-check|view-key-scan|key-image-check|view-router|view-store|shard-model|attest|load> [--option value ...] (every workload also takes --moves wide|narrow)";
    let Some(workload) = argv.get(1) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let args = match parse_args(&argv[2..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{usage}");
            return ExitCode::from(2);
        }
    };
    // `--moves narrow` runs the ORAM's path passes at the baseline vector width even where the
    // processor has AVX2 (for comparing the two in one run); `wide`, the default, uses AVX2
    // where there is one.
    match args.get("moves").map(String::as_str) {
        None | Some("wide") => {}
        Some("narrow") => fog_oram::use_wide_moves(false),
        Some(other) => {
            eprintln!("bad value for --moves: {other} (wide or narrow)\n{usage}");
            return ExitCode::from(2);
        }
    }
    let r = match workload.as_str() {
        "oram" => bench_oram(&args),
        "map" => bench_map(&args),
        "stash-sim" => stash_sim(&args),
        "map-load-sim" => map_load_sim(&args),
        "ct-timing" => ct_timing(&args),
        "ingest" => ingest::ingest(&args),
        "ingest-breakdown" => ingest::ingest_breakdown(&args),
        "tx-validate" => ledger::tx_validate(&args),
        "ledger-append" => ledger::ledger_append(&args),
        "follower-catch-up" => follower::follower_catch_up(&args),
        "block-to-wallet" => latency::block_to_wallet(&args),
        "membership-proof" => ledger::membership_proof(&args),
        "view-query" => view::view_query(&args),
        "view-load" => view::view_load(&args),
        "balance-check" => balance::balance_check(&args),
        "view-key-scan" => balance::view_key_scan(&args),
        "key-image-check" => key_image::key_image_check(&args),
        "view-store" => shards::view_store(&args),
        "view-router" => shards::view_router(&args),
        "shard-model" => shards::shard_model(&args),
        "attest" => attest::attest(&args),
        "load" => load::load(&args),
        _ => Err(format!("unknown workload {workload}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
