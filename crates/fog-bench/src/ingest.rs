//! The ingest workloads: `ingest`, the enclave logic alone (`--backend none`) or end to end
//! through a recovery DB (`sqlite`, `postgres`); and `ingest-breakdown`, the cost of each
//! step the enclave takes per TxOut, next to the primitives that set its floor.

use std::time::Instant;

use fog_account::AccountKey;
use fog_crypto::RistrettoPrivate;
use fog_enclave::boundary::ingest::IngestBoundary;
use fog_enclave::ingest::IngestEnclave;
use fog_enclave::sealing::SealingKeyProvider;
use fog_enclave::workers::WorkerPool;
use fog_enclave_api::ingest::IngestClient;
use fog_oram::HeapFactory;
use fog_transaction::{Amount, BlockVersion, EncryptedFogHint, FogHint, TokenId, TxOut};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

use crate::{cpu_mean_us, get, peak_rss_mib, round2, stats, thread_cpu_ns, Args};

/// The RNG map size for `users` users: room for a quarter more, at least 2^10 slots.
fn default_map_log2(users: u64) -> u32 {
    (users + users / 4)
        .max(1024)
        .next_power_of_two()
        .trailing_zeros()
}

/// `ingest --users U --txouts N [--map-log2 L] [--block T] [--fog-fraction F] [--backend none]
/// [--via enclave|boundary] [--workers W] [--rounds R] [--alternate]`: TxOuts ingested per
/// second with U distinct recipients already in the RNG store (a map of 2^L entries, default
/// the next power of two ≥ 1.25·U), blocks of T TxOuts, a fraction F of valid fog hints (the
/// rest fake), written to a recovery DB (`sqlite`, `postgres`) one transaction per block
/// after each block as the ingest server does, or nowhere (`none`).
///
/// `--via enclave` calls the trusted logic directly; `--via boundary` goes through the
/// enclave's byte boundary as the ingest server does (requests and answers encoded, the
/// enclave's own randomness). W threads are lent to the enclave's public-key work (default:
/// the cores but one). Each of R rounds ingests N TxOuts and prints one JSON line; with
/// `--alternate` (`--via enclave` only) the rounds alternate between W lent threads and none,
/// so that the two are compared in one run on the same RNG store.
pub fn ingest(args: &Args) -> Result<(), String> {
    let users: u64 = get(args, "users", Some(1 << 20))?;
    let txouts: usize = get(args, "txouts", Some(20_000))?;
    let block: usize = get(args, "block", Some(1000))?;
    let fog_fraction: f64 = get(args, "fog-fraction", Some(0.5))?;
    let backend: String = get(args, "backend", Some("none".to_string()))?;
    let via: String = get(args, "via", Some("enclave".to_string()))?;
    let rounds: usize = get(args, "rounds", Some(1))?;
    let alternate = args.contains_key("alternate");
    let seed: u64 = get(args, "seed", Some(1))?;
    if !matches!(backend.as_str(), "none" | "sqlite" | "postgres") {
        return Err(format!(
            "unknown backend {backend}: use none, sqlite or postgres"
        ));
    }
    if alternate && via != "enclave" {
        return Err("--alternate needs --via enclave".into());
    }
    if block == 0 || txouts == 0 || rounds == 0 {
        return Err("--block, --txouts and --rounds must be at least 1".into());
    }
    let lent: usize = get(
        args,
        "workers",
        Some(
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .saturating_sub(1),
        ),
    )?;
    let map_log2: u32 = get(args, "map-log2", Some(default_map_log2(users)))?;
    let capacity = 1u64 << map_log2;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let build = Instant::now();
    let mut engine = Engine::new(&via, capacity, seed)?;
    // Lend the enclave worker threads for its public-key work (the caller's thread runs the
    // map step and helps between map steps); the preload below uses them too.
    let mut lent_threads = engine.lend(lent)?;
    let ingest_key = engine.ingress_public_key()?;
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
    // Stop short of the rotation threshold so that the measured TxOuts fit too (when they
    // cannot, the run rotates and says so in `rotations`).
    let measured = (txouts * rounds) as u64;
    let target = users.min((capacity - capacity / 10).saturating_sub(measured));
    while preloaded < target {
        let n = (target - preloaded).min(block as u64) as usize;
        engine.ingest_block(block_index, global, &filler[..n])?;
        preloaded += n as u64;
        global += n as u64;
        block_index += 1;
    }
    let build_s = build.elapsed().as_secs_f64();
    let sink = Sink::open(&backend, &engine)?;
    for round in 0..rounds {
        let threads_now = if alternate && round % 2 == 1 { 0 } else { lent };
        if alternate {
            engine.use_threads(threads_now > 0);
        }
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
            .collect::<Result<Vec<Vec<TxOut>>, String>>()?;
        let load_before = engine.load();
        let mut per_txout_us = Vec::with_capacity(work.len());
        let cpu0 = thread_cpu_ns();
        let worker_cpu0 = crate::named_threads_cpu_ns("ingest-worker");
        let tasks0 = engine.worker_tasks();
        let start = Instant::now();
        let mut rotations = 0;
        let mut write_s = 0.0;
        for b in &work {
            let t = Instant::now();
            let (records, rotated) = engine.ingest_block(block_index, global, b)?;
            global += b.len() as u64;
            let w = Instant::now();
            sink.write(block_index, global, &records)?;
            write_s += w.elapsed().as_secs_f64();
            per_txout_us.push(t.elapsed().as_secs_f64() * 1e6 / b.len() as f64);
            rotations += usize::from(rotated);
            block_index += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu_us = cpu_mean_us(cpu0, txouts);
        let worker_cpu_us = match (worker_cpu0, crate::named_threads_cpu_ns("ingest-worker")) {
            (Some(a), Some(b)) => Some(round2(b.saturating_sub(a) as f64 / 1e3 / txouts as f64)),
            _ => None,
        };
        let total_cpu_us = match (cpu_us.as_f64(), worker_cpu_us) {
            (Some(a), Some(b)) => Some(round2(a + b)),
            _ => None,
        };
        let (median, p99) = stats(&mut per_txout_us);
        println!(
            "{}",
            json!({
                "workload": "ingest",
                "via": via,
                "backend": backend,
                "round": round,
                "users": users,
                "map_capacity": capacity,
                "map_load_before": load_before,
                "map_load_after": engine.load(),
                "txouts": txouts,
                "block": block,
                "fog_fraction": fog_fraction,
                "lent_workers": threads_now,
                "txouts_per_s": round2(txouts as f64 / secs),
                "db_write_ms_per_block": round2(write_s * 1e3 / work.len() as f64),
                "median_us": round2(median),
                "p99_us": round2(p99),
                "cpu_us_per_txout": cpu_us,
                "worker_cpu_us_per_txout": worker_cpu_us,
                "total_cpu_us_per_txout": total_cpu_us,
                "txouts_per_cpu_s": total_cpu_us.map(|c| round2(1e6 / c)),
                "worker_tasks": engine.worker_tasks().saturating_sub(tasks0),
                "ops": txouts,
                "rotations": rotations,
                "build_s": round2(build_s),
                "peak_rss_mib": peak_rss_mib(),
            })
        );
    }
    lent_threads.stop(&engine);
    sink.close();
    Ok(())
}

type MakeMap = Box<dyn FnMut() -> (HeapFactory, ChaCha20Rng)>;

/// The ingest enclave the benchmark drives: its trusted logic called directly, or through its
/// byte boundary as the ingest server calls it.
enum Engine {
    Direct {
        enclave: Box<IngestEnclave<HeapFactory, ChaCha20Rng, ChaCha20Rng, MakeMap>>,
        /// The pool the threads are lent to, and an empty one (`--alternate`).
        lent: std::sync::Arc<WorkerPool>,
        idle: std::sync::Arc<WorkerPool>,
    },
    Boundary(IngestClient),
}

/// Threads lent to the engine.
struct Lent(Vec<std::thread::JoinHandle<()>>);

impl Lent {
    fn stop(&mut self, engine: &Engine) {
        match engine {
            Engine::Direct { lent, .. } => lent.stop(),
            Engine::Boundary(client) => {
                let _ = client.stop_workers();
            }
        }
        for t in self.0.drain(..) {
            let _ = t.join();
        }
    }
}

impl Engine {
    fn new(via: &str, capacity: u64, seed: u64) -> Result<Self, String> {
        match via {
            "enclave" => {
                let mut map_seed = seed;
                let make: MakeMap = Box::new(move || {
                    map_seed += 1;
                    (HeapFactory, ChaCha20Rng::seed_from_u64(map_seed))
                });
                let enclave =
                    IngestEnclave::new(capacity, ChaCha20Rng::seed_from_u64(seed ^ 0xabc), make)
                        .map_err(|e| e.to_string())?;
                let lent = enclave.workers().clone();
                Ok(Self::Direct {
                    enclave: Box::new(enclave),
                    lent,
                    idle: WorkerPool::new(),
                })
            }
            "boundary" => {
                let (sealing, _platform_key) = SealingKeyProvider::simulated_generate(
                    &mut ChaCha20Rng::seed_from_u64(seed ^ 0x5ea1),
                );
                let enclave =
                    IngestBoundary::simulated(sealing, None).map_err(|e| e.to_string())?;
                let client = IngestClient::new(enclave);
                client.create(capacity).map_err(|e| e.to_string())?;
                Ok(Self::Boundary(client))
            }
            other => Err(format!("unknown --via {other}: use enclave or boundary")),
        }
    }

    fn lend(&self, n: usize) -> Result<Lent, String> {
        let threads = (0..n)
            .map(|i| {
                let run: Box<dyn FnOnce() + Send> = match self {
                    Self::Direct { lent, .. } => {
                        let pool = lent.clone();
                        Box::new(move || pool.run_worker())
                    }
                    Self::Boundary(client) => {
                        let client = client.clone();
                        Box::new(move || {
                            let _ = client.run_worker();
                        })
                    }
                };
                std::thread::Builder::new()
                    .name(format!("ingest-worker-{i}"))
                    .spawn(run)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        while self.lent_now() < n {
            std::thread::yield_now();
        }
        Ok(Lent(threads))
    }

    fn lent_now(&self) -> usize {
        match self {
            Self::Direct { lent, .. } => lent.workers(),
            Self::Boundary(client) => client.workers().map_or(0, |w| w.lent as usize),
        }
    }

    fn worker_tasks(&self) -> u64 {
        match self {
            Self::Direct { lent, .. } => lent.worker_tasks(),
            Self::Boundary(client) => client.workers().map_or(0, |w| w.tasks),
        }
    }

    /// `--alternate`: the lent threads serve the next blocks, or none does.
    fn use_threads(&mut self, on: bool) {
        if let Self::Direct {
            enclave,
            lent,
            idle,
            ..
        } = self
        {
            enclave.set_workers(if on { lent.clone() } else { idle.clone() });
        }
    }

    fn ingress_public_key(&self) -> Result<fog_crypto::RistrettoPublic, String> {
        match self {
            Self::Direct { enclave, .. } => Ok(enclave.ingress_public_key()),
            Self::Boundary(client) => client.ingress_public_key().map_err(|e| e.to_string()),
        }
    }

    fn kex_rng_pubkey(&self) -> Result<fog_crypto::kex_rng::KexRngPubkey, String> {
        match self {
            Self::Direct { enclave, .. } => Ok(enclave.kex_rng_pubkey()),
            Self::Boundary(client) => client.kex_rng_pubkey().map_err(|e| e.to_string()),
        }
    }

    /// The RNG store's load: exact through the trusted logic, in steps of 10 % through the
    /// boundary (all it answers).
    fn load(&self) -> Value {
        match self {
            Self::Direct { enclave, .. } => {
                json!(round2(
                    enclave.map_len() as f64 / enclave.map_capacity() as f64
                ))
            }
            Self::Boundary(client) => client
                .map_load()
                .map_or(Value::Null, |l| json!(f64::from(l.percent) / 100.0)),
        }
    }

    fn ingest_block(
        &mut self,
        block_index: u64,
        first: u64,
        tx_outs: &[TxOut],
    ) -> Result<(Vec<fog_transaction::wire::ETxOutRecord>, bool), String> {
        match self {
            Self::Direct { enclave, .. } => enclave
                .ingest_block(block_index, first, 0, tx_outs)
                .map(|o| (o.records, o.rotated_to.is_some()))
                .map_err(|e| e.to_string()),
            Self::Boundary(client) => client
                .ingest_block(block_index, first, 0, tx_outs)
                .map(|o| (o.records, o.rotated_to.is_some()))
                .map_err(|e| e.to_string()),
        }
    }
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
    fn open(backend: &str, engine: &Engine) -> Result<Self, String> {
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
        let key = fog_crypto::CompressedRistrettoPublic::from(&engine.ingress_public_key()?);
        let egress = engine.kex_rng_pubkey()?;
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

/// `ingest-breakdown [--users U] [--samples N] [--fog-fraction F] [--map-log2 L] [--seed S]`:
/// the cost per TxOut of each step of `IngestEnclave::ingest_block`, each run N times on its
/// own (one JSON line per step), with the map step on an RNG store holding U entries (a map of
/// 2^L, as `ingest` sizes it); then the primitives (variable- and fixed-base scalar
/// multiplication, point encoding and decoding, the Elligator random point), and a summary
/// line: the sum of the steps and the floor that the three variable-base multiplications set.
///
/// `us` is the mean wall time per operation, `cpu_us` the mean on-CPU time of this thread
/// (which leaves out time spent preempted by other processes; prefer it on a busy machine),
/// `null` for steps whose loop ran under 0.4 s, too short for the scheduler's counter. The
/// summary's sums take `cpu_us` where there is one and `us` otherwise.
pub fn ingest_breakdown(args: &Args) -> Result<(), String> {
    use curve25519_dalek::{
        constants::RISTRETTO_BASEPOINT_TABLE,
        ristretto::{CompressedRistretto, RistrettoPoint},
        scalar::Scalar,
    };
    use fog_crypto::{crypto_box, kex_rng};
    use fog_oram::ObliviousMap;
    use fog_transaction::TxOutRecord;
    use std::hint::black_box;

    let users: u64 = get(args, "users", Some(1 << 20))?;
    let samples: usize = get(args, "samples", Some(20_000))?;
    let fog_fraction: f64 = get(args, "fog-fraction", Some(0.5))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    let map_log2: u32 = get(args, "map-log2", Some(default_map_log2(users)))?;
    if samples == 0 {
        return Err("--samples must be at least 1".into());
    }
    let capacity = 1u64 << map_log2;
    if users > capacity - capacity / 10 {
        return Err(format!(
            "--users {users} does not fit a map of 2^{map_log2} below the rotation threshold"
        ));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let ingress = RistrettoPrivate::random(&mut rng);
    let egress = RistrettoPrivate::random(&mut rng);
    let ingress_public = ingress.public_key();
    let recipients: Vec<_> = (0..16)
        .map(|_| {
            AccountKey::random(&mut rng)
                .with_fog("fog://bench", "", b"spki")
                .default_subaddress()
        })
        .collect();
    let tx_outs: Vec<TxOut> = (0..samples)
        .map(|_| {
            let to = &recipients[rng.gen_range(0..recipients.len())];
            let hint = if rng.gen_bool(fog_fraction) {
                FogHint::from_address(to).encrypt(&ingress_public, &mut rng)
            } else {
                EncryptedFogHint::fake_onetime_hint(&mut rng)
            };
            let r = RistrettoPrivate::random(&mut rng);
            TxOut::new(
                BlockVersion::THREE,
                Amount::new(rng.gen(), TokenId::MOB),
                to,
                &r,
                hint,
            )
            .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;

    // The RNG store, preloaded as `ingest` does (one entry per distinct recipient).
    let build = Instant::now();
    let mut map = ObliviousMap::new(
        capacity,
        fog_enclave::ingest::RNG_KEY_BYTES,
        fog_enclave::ingest::RNG_VALUE_BYTES,
        HeapFactory,
        ChaCha20Rng::seed_from_u64(seed ^ 0x5eed),
    )
    .map_err(|e| e.to_string())?;
    let mut key = [0u8; 32];
    for _ in 0..users {
        rng.fill(&mut key);
        map.upsert(&key, |v, _| v.copy_from_slice(&1u64.to_le_bytes()))
            .map_err(|e| e.to_string())?;
    }
    let build_s = build.elapsed().as_secs_f64();

    let mut results: Vec<(&str, f64, Value)> = Vec::new();
    let mut step = |name: &'static str, what: &str, f: &mut dyn FnMut(usize)| {
        let cpu0 = thread_cpu_ns();
        let t = Instant::now();
        for i in 0..samples {
            f(i);
        }
        let wall = t.elapsed().as_secs_f64();
        let us = wall * 1e6 / samples as f64;
        // The scheduler's on-CPU counter advances in ticks (a few ms): a shorter loop would
        // read as 0 or double.
        let cpu = if wall >= 0.4 {
            cpu_mean_us(cpu0, samples)
        } else {
            Value::Null
        };
        println!(
            "{}",
            json!({
                "workload": "ingest-breakdown",
                "step": name,
                "what": what,
                "us": round2(us),
                "cpu_us": cpu,
                "ops": samples,
            })
        );
        results.push((name, us, cpu));
    };

    // The steps, in the enclave's order, on the enclave's own functions.
    let mut records = Vec::with_capacity(samples);
    step(
        "record_build",
        "TxOutRecord from the TxOut's public fields",
        &mut |i| records.push(black_box(TxOutRecord::new(&tx_outs[i], i as u64, 1, 0))),
    );
    let records: Vec<TxOutRecord> = records
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut step_rng = ChaCha20Rng::seed_from_u64(seed ^ 0x57e9);
    let mut recipients_out = Vec::with_capacity(samples);
    step(
        "hint_recipient",
        "step 1: random point, hint decryption, key decoding, constant-time select, encoding",
        &mut |i| {
            recipients_out.push(fog_enclave::ingest::hint_recipient(
                &ingress,
                &tx_outs[i].e_fog_hint,
                &mut step_rng,
            ))
        },
    );
    let mut secrets = Vec::with_capacity(samples);
    step(
        "egress_key_exchange",
        "egress private key times the recipient, encoded: the RNG store key",
        &mut |i| secrets.push(egress.key_exchange(&recipients_out[i])),
    );
    let mut search_keys = Vec::with_capacity(samples);
    let mut failed = None;
    step(
        "map_upsert",
        "one oblivious-map upsert of the recipient's counter, with the KexRng PRF inside",
        &mut |i| {
            let mut k = *secrets[i].as_bytes();
            k[0] = !k[0];
            let mut search_key = [0u8; 16];
            let r = map.upsert(&k, |value, _| {
                let counter = u64::from_le_bytes(value[..8].try_into().unwrap_or([0; 8]));
                search_key = kex_rng::prf(secrets[i].as_bytes(), counter);
                value.copy_from_slice(&counter.wrapping_add(1).to_le_bytes());
            });
            if let Err(e) = r {
                failed = Some(e);
            }
            search_keys.push(search_key);
        },
    );
    if let Some(e) = failed {
        return Err(format!("map upsert failed: {e}"));
    }
    step(
        "kex_rng_prf",
        "the KexRng PRF alone (BLAKE2b-512), included in map_upsert",
        &mut |i| {
            black_box(kex_rng::prf(secrets[i].as_bytes(), i as u64));
        },
    );
    let mut plaintexts = Vec::with_capacity(samples);
    step("record_encode", "TxOutRecord protobuf encoding", &mut |i| {
        plaintexts.push(records[i].encode_to_vec())
    });
    step(
        "record_box",
        "crypto box of the record to the recipient: fixed-base + variable-base, HKDF, AES-GCM",
        &mut |i| {
            black_box(crypto_box::encrypt(
                &mut step_rng,
                &recipients_out[i],
                &plaintexts[i],
            ));
        },
    );
    // The same three steps as the enclave runs them: on chunks of CHUNK TxOuts, whose point
    // encodings share one field inversion (the per-TxOut mean over the whole sample).
    let chunk = fog_enclave::ingest::CHUNK;
    let hints: Vec<EncryptedFogHint> = tx_outs.iter().map(|t| t.e_fog_hint).collect();
    let mut points = Vec::with_capacity(samples);
    step(
        "hint_recipient_batched",
        "step 1 on a chunk: the hint decryptions' encodings batched",
        &mut |i| {
            if i % chunk == 0 {
                let end = (i + chunk).min(samples);
                points.extend(fog_enclave::ingest::hint_recipient_points(
                    &ingress,
                    &hints[i..end],
                    &mut step_rng,
                ));
            }
        },
    );
    step(
        "egress_key_exchange_batched",
        "the egress key exchanges of a chunk, their encodings batched",
        &mut |i| {
            if i % chunk == 0 {
                let end = (i + chunk).min(samples);
                black_box(egress.key_exchange_batch(&points[i..end]));
            }
        },
    );
    let mut boxed_ok = true;
    step(
        "record_box_batched",
        "the crypto boxes of a chunk's records, their encodings batched",
        &mut |i| {
            if i % chunk == 0 {
                let end = (i + chunk).min(samples);
                boxed_ok &= black_box(crypto_box::encrypt_batch(
                    &mut step_rng,
                    &points[i..end],
                    &plaintexts[i..end],
                ))
                .is_ok();
            }
        },
    );
    if !boxed_ok {
        return Err("a batched crypto box failed".into());
    }
    // Sub-steps of hint_recipient.
    step(
        "hint_decrypt",
        "part of hint_recipient: the constant-time fog hint decryption",
        &mut |i| {
            let mut out = [0u8; 32];
            black_box(FogHint::ct_decrypt(
                &ingress,
                &tx_outs[i].e_fog_hint,
                &mut out,
            ));
        },
    );

    // The primitives.
    let scalars: Vec<Scalar> = (0..samples).map(|_| Scalar::random(&mut rng)).collect();
    let points: Vec<RistrettoPoint> = (0..samples)
        .map(|_| RistrettoPoint::random(&mut rng))
        .collect();
    let compressed: Vec<CompressedRistretto> = points.iter().map(|p| p.compress()).collect();
    step(
        "prim_variable_base_mul",
        "primitive: scalar times an arbitrary point (no encoding)",
        &mut |i| {
            black_box(scalars[i] * points[i]);
        },
    );
    step(
        "prim_fixed_base_mul",
        "primitive: scalar times the basepoint (precomputed table)",
        &mut |i| {
            black_box(&scalars[i] * RISTRETTO_BASEPOINT_TABLE);
        },
    );
    step("prim_encode", "primitive: point compression", &mut |i| {
        black_box(points[i].compress());
    });
    step("prim_decode", "primitive: point decompression", &mut |i| {
        black_box(compressed[i].decompress());
    });
    step(
        "prim_elligator_random_point",
        "primitive: uniformly random point from 64 random bytes (two Elligator maps)",
        &mut |_| {
            black_box(RistrettoPoint::random(&mut step_rng));
        },
    );
    step(
        "prim_random_key_public",
        "primitive: random scalar, times the basepoint, encoded (the earlier fallback point)",
        &mut |_| {
            black_box(RistrettoPrivate::random(&mut step_rng).public_key());
        },
    );

    let get_step = |name: &str| -> (f64, Option<f64>) {
        results
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, us, cpu)| (*us, cpu.as_f64()))
            .unwrap_or((f64::NAN, None))
    };
    // The steps ingest_block runs once per TxOut (kex_rng_prf and hint_decrypt are parts of
    // others).
    let per_txout = [
        "record_build",
        "hint_recipient",
        "egress_key_exchange",
        "map_upsert",
        "record_encode",
        "record_box",
    ];
    let pick = |name: &str| {
        let (us, c) = get_step(name);
        c.unwrap_or(us)
    };
    let sum_wall: f64 = per_txout.iter().map(|n| get_step(n).0).sum();
    let sum_cpu: f64 = per_txout.iter().map(|n| pick(n)).sum();
    // What ingest_block runs: the batched forms of steps 1 and 3 and the key exchange.
    let batched = [
        "record_build",
        "hint_recipient_batched",
        "egress_key_exchange_batched",
        "map_upsert",
        "record_encode",
        "record_box_batched",
    ];
    let sum_batched: f64 = batched.iter().map(|n| pick(n)).sum();
    let map_step = pick("map_upsert");
    let varbase = pick("prim_variable_base_mul");
    let upsert = pick("map_upsert");
    println!(
        "{}",
        json!({
            "workload": "ingest-breakdown",
            "step": "summary",
            "users": users,
            "map_capacity": map.capacity(),
            "map_load": round2(map.len() as f64 / map.capacity() as f64),
            "fog_fraction": fog_fraction,
            "sum_us": round2(sum_wall),
            "sum_cpu_us": round2(sum_cpu),
            "predicted_txouts_per_s": round2(1e6 / sum_cpu),
            "sum_batched_cpu_us": round2(sum_batched),
            "predicted_batched_txouts_per_s_one_core": round2(1e6 / sum_batched),
            // Two cores: the map step stays on one thread, the rest is shared.
            "predicted_batched_txouts_per_s_two_cores": round2(
                1e6 / (sum_batched / 2.0).max(map_step)
            ),
            "three_variable_base_mul_us": round2(3.0 * varbase),
            "floor_txouts_per_s_crypto_only": round2(1e6 / (3.0 * varbase)),
            "floor_txouts_per_s_with_map": round2(1e6 / (3.0 * varbase + upsert)),
            "build_s": round2(build_s),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
