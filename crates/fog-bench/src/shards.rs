//! The shard workloads:
//!
//! - `view-router`: search keys per second through a view router over 1, 2, 4… view store
//!   processes holding the same records split by block range (each store a child process of
//!   this program, `view-store`), with real gRPC and attested channels on loopback; and the
//!   router's own cost per query (time in its enclave, bytes to and from the stores).
//! - `shard-model`: from measured per-store figures, the stores, memory, cores and machines a
//!   chain of N TxOuts and U users needs for a rate of balance checks.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fog_api::fog_view::fog_view_api_client::FogViewApiClient;
use fog_attest::{
    ClientHandshake, FogEnclave, IdentityRule, Policy, SessionLimits, SimProvider, UnixSeconds,
    Verifier,
};
use fog_enclave::boundary::view::ViewBoundary;
use fog_enclave::boundary::view_router::ViewRouterBoundary;
use fog_enclave_api::view::{BlockMark, UserEvent, ViewClient};
use fog_transaction::wire::ETxOutRecord;
use fog_types::common::BlockRange;
use fog_types::view::{QueryRequest, QueryRequestAad, QueryResponse, RngRecord};
use fog_view_server::{ViewConfig, ViewServer};
use prost::Message as _;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::{emit, get, round2, Args};

/// Records per block in the synthetic chain.
const PER_BLOCK: u64 = 1000;

fn provider(seed: u64) -> SimProvider {
    SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(seed),
        fog_attest::fog_identity(FogEnclave::View),
    )
}

fn verifier(p: &SimProvider) -> Verifier {
    Verifier::new(
        p.trust_anchor(),
        Policy::new(
            vec![IdentityRule::Measurement(
                fog_attest::fog_identity(FogEnclave::View).measurement,
            )],
            3600,
        ),
    )
}

/// The search key of record `j` of block `b`: the same in every process.
fn key_of(seed: u64, b: u64, j: u64) -> [u8; 16] {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ (b << 20) ^ j);
    let mut k = [0u8; 16];
    rng.fill_bytes(&mut k);
    k
}

/// The records of block `b`.
fn block_records(seed: u64, b: u64, per_block: u64) -> Vec<ETxOutRecord> {
    (0..per_block)
        .map(|j| ETxOutRecord {
            search_key: key_of(seed, b, j).to_vec(),
            payload: vec![(b % 251) as u8 + 1; 130],
        })
        .collect()
}

/// The block range of store `index` of `stores` over `blocks` blocks (the last open-ended).
fn range_of(index: u64, stores: u64, blocks: u64) -> BlockRange {
    let start = blocks * index / stores;
    let end = if index + 1 == stores {
        u64::MAX
    } else {
        blocks * (index + 1) / stores
    };
    BlockRange::new(start, end)
}

/// `view-store --records N --stores K --index I [--partitions P] [--seed S]` (a child of
/// `view-router`): loads its share of the synthetic chain, serves `FogViewAPI` and the store
/// API on 127.0.0.1, prints `LISTEN addr` and serves until its standard input closes.
pub fn view_store(args: &Args) -> Result<(), String> {
    let records: u64 = get(args, "records", Some(1 << 20))?;
    let stores: u64 = get(args, "stores", Some(1))?;
    let index: u64 = get(args, "index", Some(0))?;
    let partitions: usize = get(args, "partitions", Some(2))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    let blocks = records.div_ceil(PER_BLOCK);
    let range = range_of(index, stores, blocks);
    let mine = range.end_block.min(blocks) - range.start_block;
    let p = provider(seed);
    let config = ViewConfig {
        partitions,
        capacity_per_partition: crate::view::capacity_for(mine * PER_BLOCK, partitions),
        blocks: range,
        ..ViewConfig::default()
    };
    let enclave = ViewBoundary::simulated(&config.enclave(), Some(verifier(&p)))
        .map_err(|e| e.to_string())?;
    let client = ViewClient::new(enclave.clone());
    client.attest(&p).map_err(|e| e.to_string())?;
    client
        .add_user_events(vec![UserEvent::NewRng(RngRecord {
            ingest_invocation_id: 1,
            pubkey: Some(fog_crypto::kex_rng::KexRngPubkey {
                public_key: vec![7; 32],
                version: 1,
            }),
            start_block: 0,
        })])
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    for chunk_start in (range.start_block..range.start_block + mine).step_by(64) {
        let chunk_end = (chunk_start + 64).min(range.start_block + mine);
        let marks: Vec<BlockMark> = (chunk_start..chunk_end)
            .map(|b| BlockMark {
                invocation: 1,
                block_index: b,
                timestamp: 1_700_000_000 + b,
            })
            .collect();
        let recs: Vec<ETxOutRecord> = (chunk_start..chunk_end)
            .flat_map(|b| block_records(seed, b, PER_BLOCK))
            .collect();
        client.load_blocks(marks, recs).map_err(|e| e.to_string())?;
    }
    client.set_known_blocks(blocks).map_err(|e| e.to_string())?;
    eprintln!(
        "view-store {index}: blocks {}..{} ({} records) loaded in {:.1} s",
        range.start_block,
        range.start_block + mine,
        mine * PER_BLOCK,
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let db = Arc::new(fog_recovery_db::MemoryRecoveryDb::new());
        let server = Arc::new(ViewServer::new(db, enclave, config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "LISTEN {}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        let stdin_closed = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = String::new();
                while std::io::stdin()
                    .read_line(&mut sink)
                    .map(|n| n > 0)
                    .unwrap_or(false)
                {}
            })
            .await;
        };
        let routes = fog_host::Routes::new(
            fog_view_server::StoreService::new(Arc::clone(&server)).into_server(),
        );
        fog_host::serve(
            fog_host::Serve::new("fog_view", listener),
            routes,
            server,
            stdin_closed,
        )
        .await
        .map_err(|e| e.to_string())
    })
}

/// A child store process and its address.
struct StoreChild {
    child: Child,
    addr: String,
}

impl StoreChild {
    fn start(
        records: u64,
        stores: u64,
        index: u64,
        partitions: usize,
        seed: u64,
    ) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["view-store", "--records", &records.to_string(), "--stores"])
            .arg(stores.to_string())
            .args(["--index", &index.to_string(), "--partitions"])
            .arg(partitions.to_string())
            .args(["--seed", &seed.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let addr = line
            .strip_prefix("LISTEN ")
            .ok_or_else(|| format!("store {index} did not start: {line:?}"))?
            .trim()
            .to_string();
        Ok(Self { child, addr })
    }

    /// User and system CPU seconds so far (`/proc/PID/stat`, USER_HZ = 100).
    fn cpu_s(&self) -> f64 {
        process_cpu_s(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for StoreChild {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn process_cpu_s(stat_path: &str) -> f64 {
    let s = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 14th field.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

/// `view-router --records N [--stores 1,2,4] [--batch K] [--clients C] [--queries Q]
/// [--partitions P] [--rounds R] [--seed S]`: for each round and store count K (interleaved:
/// 1 2 4 1 2 4 …) starts K store processes over the same N records cut by block range, a
/// router in this process, and C concurrent clients each sending Q queries of `batch` keys
/// (half stored, half absent) over gRPC. One JSON line per (round, stores): keys/s, keys per
/// CPU-second of the stores and of this process (router and clients), and the router's own
/// cost per query.
pub fn view_router(args: &Args) -> Result<(), String> {
    let records: u64 = get(args, "records", Some(1 << 18))?;
    let store_counts: Vec<u64> = get::<String>(args, "stores", Some("1,2,4".into()))?
        .split(',')
        .map(|s| s.trim().parse().map_err(|_| format!("bad --stores {s}")))
        .collect::<Result<_, String>>()?;
    let batch: usize = get(args, "batch", Some(64))?;
    let clients: usize = get(args, "clients", Some(4))?;
    let queries: usize = get(args, "queries", Some(100))?;
    let partitions: usize = get(args, "partitions", Some(2))?;
    let rounds: usize = get(args, "rounds", Some(2))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    if store_counts.iter().any(|&k| k == 0 || k > 16) || batch == 0 || batch > 4096 {
        return Err("--stores between 1 and 16, --batch between 1 and 4096".into());
    }
    let blocks = records.div_ceil(PER_BLOCK);
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    for round in 0..rounds {
        for &k in &store_counts {
            let children: Vec<StoreChild> = (0..k)
                .map(|i| StoreChild::start(records, k, i, partitions, seed))
                .collect::<Result<_, _>>()?;
            let r = runtime.block_on(measure(&children, blocks, batch, clients, queries, seed))?;
            emit(json!({
                "workload": "view-router",
                "round": round,
                "records": blocks * PER_BLOCK,
                "stores": k,
                "partitions_per_store": partitions,
                "batch": batch,
                "clients": clients,
                "queries": clients * queries,
                "keys_per_s": round2(r.keys as f64 / r.wall_s),
                "query_median_ms": round2(r.median_ms),
                "store_cpu_s": round2(r.store_cpu_s),
                "router_and_clients_cpu_s": round2(r.local_cpu_s),
                "keys_per_store_cpu_s": round2(r.keys as f64 / r.store_cpu_s.max(1e-9)),
                "keys_per_cpu_s": round2(r.keys as f64 / (r.store_cpu_s + r.local_cpu_s).max(1e-9)),
                "router_finish_us_per_query": round2(r.finish_us),
                "store_request_bytes_per_query": r.request_bytes,
                "store_answer_bytes_per_query": r.answer_bytes,
                "client_answer_bytes": r.client_answer_bytes,
            }));
        }
    }
    Ok(())
}

struct Measured {
    keys: u64,
    wall_s: f64,
    median_ms: f64,
    store_cpu_s: f64,
    local_cpu_s: f64,
    finish_us: f64,
    request_bytes: u64,
    answer_bytes: u64,
    client_answer_bytes: usize,
}

async fn measure(
    children: &[StoreChild],
    blocks: u64,
    batch: usize,
    clients: usize,
    queries: usize,
    seed: u64,
) -> Result<Measured, String> {
    let p = provider(seed);
    let enclave =
        ViewRouterBoundary::simulated(&fog_view_server::router::enclave_config(), verifier(&p))
            .map_err(|e| e.to_string())?;
    let server = Arc::new(fog_view_server::ViewRouterServer::new(
        enclave,
        fog_router::StoresConfig {
            timeout: Duration::from_secs(60),
            ..fog_router::StoresConfig::default()
        },
    ));
    server.enclave().attest(&p).map_err(|e| e.to_string())?;
    for c in children {
        server
            .stores()
            .add(&format!("http://{}", c.addr))
            .map_err(|e| e.to_string())?;
    }
    // Every store answers and the cover reaches the chain's end.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        server.probe().await;
        if server.stores().cover() >= blocks {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the stores cover {} of {blocks} blocks",
                server.stores().cover()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let service = fog_view_server::ViewRouterService::new(Arc::clone(&server)).into_server();
    let serving = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(fog_host::incoming(listener)),
    );
    let costs0 = server.stores().costs();
    let store_cpu0: f64 = children.iter().map(StoreChild::cpu_s).sum();
    let local_cpu0 = process_cpu_s("/proc/self/stat");
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let url = url.clone();
        let v = verifier(&p);
        tasks.spawn(client(url, v, blocks, batch, queries, seed, c as u64));
    }
    let mut samples = Vec::new();
    let mut keys = 0u64;
    let mut client_answer_bytes = 0;
    while let Some(done) = tasks.join_next().await {
        let (k, mut s, bytes) = done.map_err(|e| e.to_string())??;
        keys += k;
        samples.append(&mut s);
        client_answer_bytes = bytes;
    }
    let wall_s = started.elapsed().as_secs_f64();
    let store_cpu_s = children.iter().map(StoreChild::cpu_s).sum::<f64>() - store_cpu0;
    let local_cpu_s = process_cpu_s("/proc/self/stat") - local_cpu0;
    let costs = server.stores().costs();
    serving.abort();
    let routed = (costs.routed - costs0.routed).max(1);
    let (median, _) = crate::stats(&mut samples);
    Ok(Measured {
        keys,
        wall_s,
        median_ms: median / 1e3,
        store_cpu_s,
        local_cpu_s,
        finish_us: (costs.merge_ns - costs0.merge_ns) as f64 / 1e3 / routed as f64,
        request_bytes: (costs.request_bytes - costs0.request_bytes) / routed,
        answer_bytes: (costs.answer_bytes - costs0.answer_bytes) / routed,
        client_answer_bytes,
    })
}

/// One client: a session with the router, then `queries` queries of `batch` keys, half of
/// them stored. Returns the keys sent, each query's time in µs, and an answer's size.
async fn client(
    url: String,
    verifier: Verifier,
    blocks: u64,
    batch: usize,
    queries: usize,
    seed: u64,
    id: u64,
) -> Result<(u64, Vec<f64>, usize), String> {
    let mut grpc = FogViewApiClient::connect(url)
        .await
        .map_err(|e| e.to_string())?
        .max_decoding_message_size(64 << 20);
    let (hs, hello) = ClientHandshake::start(verifier).map_err(|e| e.to_string())?;
    let reply = grpc
        .auth(fog_attest::wire::AuthMessage { data: hello })
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let mut channel = hs
        .finish(&reply.data, UnixSeconds::now(), SessionLimits::default())
        .map_err(|e| e.to_string())?;
    let mut rng = ChaCha20Rng::seed_from_u64(seed * 1000 + id);
    let mut samples = Vec::with_capacity(queries);
    let mut answer_bytes = 0;
    for _ in 0..queries {
        // Distinct keys: a router answers a repeated key once.
        let mut seen = std::collections::BTreeSet::new();
        let keys: Vec<Vec<u8>> = (0..batch)
            .map(|i| loop {
                let k = if i % 2 == 0 {
                    let b = rng.next_u64() % blocks;
                    key_of(seed, b, rng.next_u64() % PER_BLOCK).to_vec()
                } else {
                    let mut k = vec![0u8; 16];
                    rng.fill_bytes(&mut k);
                    k
                };
                if seen.insert(k.clone()) {
                    break k;
                }
            })
            .collect();
        let aad = QueryRequestAad {
            start_from_user_event_id: i64::MAX,
            start_from_block_index: 0,
        };
        let frame = channel
            .seal(
                &aad.encode_to_vec(),
                &QueryRequest { get_txos: keys }.encode_to_vec(),
                UnixSeconds::now(),
            )
            .map_err(|e| e.to_string())?;
        let t = Instant::now();
        let answer = grpc
            .query(frame)
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        answer_bytes = answer.encoded_len();
        let r = QueryResponse::decode(
            channel
                .open(&answer, UnixSeconds::now())
                .map_err(|e| e.to_string())?
                .as_slice(),
        )
        .map_err(|e| e.to_string())?;
        let found = r
            .fixed_tx_out_search_results
            .iter()
            .filter(|x| x.result_code == fog_enclave::view::RESULT_FOUND)
            .count();
        if found != batch / 2 + batch % 2 {
            return Err(format!(
                "{found} of {} stored keys found",
                batch / 2 + batch % 2
            ));
        }
    }
    Ok(((queries * batch) as u64, samples, answer_bytes))
}

/// `shard-model [--txouts N] [--users U] [--checks-per-s R] [--key-images-per-check I] [--store-ram-gib G] [--cores-per-machine C] [--copies X]
/// [--view-bytes-per-slot B] [--key-image-bytes-per-slot B] [--fill F]
/// [--store-us-per-query T --measured-records M] [--router-us-per-query T]
/// [--key-image-us T --key-image-measured M]`: the stores, memory, cores and machines for a
/// chain of N TxOuts (one view record each, and at most one key image each) and U users doing
/// R balance checks a second.
///
/// Per-store CPU per query comes from `view-router` run at the batch of a balance check with
/// nothing new (one key per RNG: `--batch 2`; `store_cpu_s` over queries and stores, at
/// `--measured-records` records per store) and is scaled by the ORAM depth, log2 of the
/// records per store; the router's from `view-router` too; a key-image check's from
/// `key-image-check`. Every store answers every query (that is what hides which store held a
/// record), so the stores' CPU per check grows with the number of stores while their memory
/// divides by it.
pub fn shard_model(args: &Args) -> Result<(), String> {
    let txouts: f64 = get(args, "txouts", Some(1e8))?;
    let users: f64 = get(args, "users", Some(1e7))?;
    let rate: f64 = get(args, "checks-per-s", Some(1000.0))?;
    let key_images_per_check: f64 = get(args, "key-images-per-check", Some(4.0))?;
    let ram_gib: f64 = get(args, "store-ram-gib", Some(32.0))?;
    let cores: f64 = get(args, "cores-per-machine", Some(8.0))?;
    let copies: f64 = get(args, "copies", Some(2.0))?;
    let view_slot: f64 = get(args, "view-bytes-per-slot", Some(532.0))?;
    let ki_slot: f64 = get(args, "key-image-bytes-per-slot", Some(109.0))?;
    let fill: f64 = get(args, "fill", Some(0.8))?;
    let store_us: f64 = get(args, "store-us-per-query", Some(600.0))?;
    let measured_records: f64 = get(args, "measured-records", Some(262_144.0))?;
    let router_us: f64 = get(args, "router-us-per-query", Some(300.0))?;
    let ki_us: f64 = get(args, "key-image-us", Some(60.0))?;
    let ki_measured: f64 = get(args, "key-image-measured", Some(16_777_216.0))?;
    if [
        txouts,
        rate,
        ram_gib,
        cores,
        copies,
        view_slot,
        ki_slot,
        fill,
        measured_records,
        ki_measured,
    ]
    .iter()
    .any(|x| !x.is_finite() || *x <= 0.0)
        || fill > 0.9
    {
        return Err("every figure must be positive (and --fill at most 0.9)".into());
    }
    // Memory: a store machine holds what fits in its RAM at the planned fill.
    let ram = ram_gib * (1u64 << 30) as f64;
    let view_per_store = (ram / view_slot * fill).floor();
    let view_stores = (txouts / view_per_store).ceil();
    let ki_per_store = (ram / ki_slot * fill).floor();
    let ki_stores = (txouts / ki_per_store).ceil();
    // CPU: every store answers every query; the ORAM's cost grows with log2 of its records.
    let depth = |records: f64, measured: f64| records.max(2.0).log2() / measured.max(2.0).log2();
    let view_records = txouts / view_stores;
    let view_us_per_check =
        view_stores * store_us * depth(view_records, measured_records) + router_us;
    let ki_records = txouts / ki_stores;
    let ki_us_per_check =
        ki_stores * ki_us * key_images_per_check * depth(ki_records, ki_measured) + router_us;
    let view_cores = rate * view_us_per_check / 1e6;
    let ki_cores = rate * ki_us_per_check / 1e6;
    let view_machines = (view_stores.max((view_cores / cores).ceil())) * copies;
    let ki_machines = (ki_stores.max((ki_cores / cores).ceil())) * copies;
    emit(json!({
        "workload": "shard-model",
        "txouts": txouts,
        "users": users,
        "checks_per_s": rate,
        "copies": copies,
        "view": {
            "records_per_store": view_per_store,
            "stores": view_stores,
            "memory_gib_total": round2(txouts / fill * view_slot / (1u64 << 30) as f64 * copies),
            "cpu_us_per_check": round2(view_us_per_check),
            "cores_needed": round2(view_cores),
            "machines": view_machines,
        },
        "key_images": {
            "key_images_per_store": ki_per_store,
            "stores": ki_stores,
            "memory_gib_total": round2(txouts / fill * ki_slot / (1u64 << 30) as f64 * copies),
            "cpu_us_per_check": round2(ki_us_per_check),
            "cores_needed": round2(ki_cores),
            "machines": ki_machines,
        },
        "inputs": {
            "key_images_per_check": key_images_per_check,
            "store_ram_gib": ram_gib, "cores_per_machine": cores,
            "view_bytes_per_slot": view_slot, "key_image_bytes_per_slot": ki_slot, "fill": fill,
            "store_us_per_query": store_us, "measured_records": measured_records,
            "router_us_per_query": router_us, "key_image_us": ki_us,
            "key_image_measured": ki_measured,
        },
    }));
    Ok(())
}
