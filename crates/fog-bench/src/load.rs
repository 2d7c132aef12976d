//! The load workload: many wallets at once against the real services over loopback.
//!
//! `fog-bench load` starts `fogd local-network` as a child process (in one process, or with
//! `--mode processes` as five), makes `--wallets` fog accounts from `--seed` (empty: nobody
//! has paid them, yet their checks ask view for their search keys as any wallet's do), funds
//! `--funded` of them from the network's demo wallets when payments are in the mix, gives every
//! wallet its first (from scratch) balance check, then runs the mix for `--seconds`:
//!
//! - `incremental`: a wallet's next balance check, from its saved state, over its session;
//! - `fresh`: a wallet starts over (new state, new sessions: a restore on a new device) and
//!   checks from scratch;
//! - `reconnect`: a wallet drops its sessions (an app started again) and checks incrementally:
//!   the check's cost with the attested session opens in it;
//! - `pay`: a funded wallet pays another one (`FogClient::submit_payment`: balance check, fog
//!   reports, ring members, proofs, submit; not the wait for the block).
//!
//! Every check and payment is `fog-client`'s, over `GrpcTransport`, as a wallet does it. The
//! wallets of one source address (127.0.x.y, at most `--per-source` wallets each, since an
//! enclave keeps at most 1,000 sessions per client address) share that address's HTTP/2
//! connections ([`fog_client::GrpcTransport::share_connections`]) and hold sessions of their
//! own.
//!
//! Payments run on a runtime of their own (`--pay-threads`, default 1; 0: with the checks),
//! so that one wallet's proof building does not hold up another wallet's check, as on
//! separate devices; `--threads` (default 2) runs the checks.
//!
//! Closed loop by default (`--concurrency` operations in flight, each worker starting the next
//! one as its last ends); `--rate R` is an open loop: operations start R times a second (at
//! most `--concurrency` in flight) and latency counts from the scheduled start, so a queue
//! shows in it. The JSON line has, per kind, operations per second, p50/p99/p99.9 latency and
//! errors; and the CPU time of the services (the fogd processes, from /proc/PID/stat, by
//! thread name too) and of this program, in total and per check, over the measured window.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use fog_account::{AccountKey, PublicAddress, RootEntropy};
use fog_client::{
    AccountState, ClientConfig, ClientError, FogClient, GrpcConfig, GrpcTransport, SendReceipt,
};
use fog_transaction::{Amount, TokenId};
use fog_wallet::{NetworkOverrides, Session, WalletError, WalletFile};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::latency::{fogd_path, start_local_network};
use crate::{get, round2, Args};

/// picoMOB per MOB.
const MOB: u64 = 1_000_000_000_000;

/// What each funded wallet receives.
const FUNDING: u64 = 2 * MOB;

/// What a load payment sends.
const PAYMENT: u64 = MOB / 100;

/// The operations of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Incremental,
    Fresh,
    Reconnect,
    Pay,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Incremental, Kind::Fresh, Kind::Reconnect, Kind::Pay];

    fn name(self) -> &'static str {
        match self {
            Kind::Incremental => "incremental",
            Kind::Fresh => "fresh",
            Kind::Reconnect => "reconnect",
            Kind::Pay => "pay",
        }
    }

    fn is_check(self) -> bool {
        self != Kind::Pay
    }
}

fn parse_mix(s: &str) -> Result<Vec<(Kind, u32)>, String> {
    let mut mix = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .ok_or_else(|| format!("--mix: {part} is not KIND=WEIGHT"))?;
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.name() == name.trim())
            .ok_or_else(|| {
                format!("--mix: unknown kind {name} (incremental, fresh, reconnect, pay)")
            })?;
        let weight: u32 = weight
            .trim()
            .parse()
            .map_err(|_| format!("--mix: bad weight in {part}"))?;
        if weight > 0 {
            mix.push((kind, weight));
        }
    }
    if mix.is_empty() {
        return Err("--mix needs a kind with a positive weight".into());
    }
    Ok(mix)
}

fn pick(mix: &[(Kind, u32)], rng: &mut impl Rng) -> Kind {
    let total: u32 = mix.iter().map(|m| m.1).sum();
    let mut x = rng.gen_range(0..total);
    for (kind, w) in mix {
        if x < *w {
            return *kind;
        }
        x -= w;
    }
    mix[0].0
}

/// CPU ticks of a process and its descendants: in total (live and exited threads of each
/// process) and by thread name (live threads).
#[derive(Default)]
struct Cpu {
    total: u64,
    threads: BTreeMap<String, u64>,
}

/// `(comm, utime + stime)` of a `/proc/…/stat` file.
fn stat_ticks(path: &Path) -> Option<(String, u64)> {
    let s = std::fs::read_to_string(path).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    // After ") ": state is field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = s[close + 2..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// Adds the CPU of process `pid` to `into`, and with `descendants` that of its descendants.
fn tree_cpu(pid: u32, descendants: bool, into: &mut Cpu) {
    if let Some((_, t)) = stat_ticks(&PathBuf::from(format!("/proc/{pid}/stat"))) {
        into.total += t;
    }
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    // The process's role: fogd's subcommand (`local-network`, or `view`, `ledger`, … for the
    // children of `--processes`).
    let role = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|c| {
            c.split(|b| *b == 0)
                .nth(1)
                .map(|a| String::from_utf8_lossy(a).into_owned())
        })
        .unwrap_or_default();
    for task in tasks.flatten() {
        let dir = task.path();
        if let Some((comm, t)) = stat_ticks(&dir.join("stat")) {
            // Numbered threads of one pool count as one name.
            let name = comm.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
            *into.threads.entry(format!("{role}/{name}")).or_default() += t;
        }
        if !descendants {
            continue;
        }
        if let Ok(children) = std::fs::read_to_string(dir.join("children")) {
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                tree_cpu(child, true, into);
            }
        }
    }
}

fn ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

/// One wallet of the load.
struct Wallet {
    /// `None` only while a fresh check replaces the client.
    client: Option<FogClient<GrpcTransport>>,
    source: usize,
}

/// What the measured operations did.
#[derive(Default)]
struct Tally {
    latencies_ms: BTreeMap<Kind, Vec<f64>>,
    errors: BTreeMap<Kind, u64>,
    first_error: BTreeMap<Kind, String>,
    /// Payments not made: no funded wallet with a spendable output was free.
    pay_unavailable: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (k, mut v) in other.latencies_ms {
            self.latencies_ms.entry(k).or_default().append(&mut v);
        }
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        for (k, e) in other.first_error {
            self.first_error.entry(k).or_insert(e);
        }
        self.pay_unavailable += other.pay_unavailable;
    }
}

/// Everything the operations share.
struct Load {
    wallets: Vec<Mutex<Wallet>>,
    /// The first `funded` wallets are funded; their addresses.
    funded: Vec<PublicAddress>,
    /// One transport per source address, connected; wallets share its connections.
    sources: Vec<GrpcTransport>,
    config: ClientConfig,
    sessions_opened: AtomicU64,
    round_trips: AtomicU64,
    /// Where payments run (`--pay-threads`), if not with the checks.
    pay_runtime: Option<tokio::runtime::Handle>,
}

fn describe(e: &ClientError) -> String {
    let mut s = e.to_string();
    s.truncate(300);
    s
}

impl Load {
    fn new_client(&self, account: AccountKey, source: usize) -> FogClient<GrpcTransport> {
        FogClient::new(
            self.sources[source].share_connections(),
            account,
            AccountState::new(),
            self.config.clone(),
        )
    }

    /// Locks a free wallet among `0..n`, starting at a random one.
    fn lock_free(
        &self,
        n: usize,
        rng: &mut impl Rng,
    ) -> Option<tokio::sync::MutexGuard<'_, Wallet>> {
        let start = rng.gen_range(0..n);
        (0..n.min(64))
            .map(|i| (start + i * 7919) % n)
            .find_map(|i| self.wallets[i].try_lock().ok())
    }

    /// Runs one operation; `Ok(None)` when it could not start (no free wallet).
    async fn run(&self, kind: Kind, rng: &mut ChaCha20Rng) -> Result<Option<()>, String> {
        let n = if kind == Kind::Pay {
            self.funded.len()
        } else {
            self.wallets.len()
        };
        if n == 0 {
            return Ok(None);
        }
        let Some(mut w) = self.lock_free(n, rng) else {
            return Ok(None);
        };
        if kind == Kind::Fresh {
            let old = w.client.take().ok_or("a wallet lost its client")?;
            let (account, _, _) = old.into_parts();
            let source = w.source;
            w.client = Some(self.new_client(account, source));
        }
        let client = w.client.as_mut().ok_or("a wallet lost its client")?;
        let before = client.transport().stats();
        if kind == Kind::Reconnect {
            client.transport_mut().drop_sessions();
        }
        let result = match kind {
            Kind::Pay => {
                let to = &self.funded[rng.gen_range(0..self.funded.len())];
                let mut os = rand::rngs::OsRng;
                client
                    .submit_payment(to, Amount::new(PAYMENT, TokenId::MOB), None, &mut os)
                    .await
                    .map(|_| ())
            }
            _ => client.check_balance().await.map(|_| ()),
        };
        let after = client.transport().stats();
        self.sessions_opened.fetch_add(
            after.sessions_opened - before.sessions_opened,
            Ordering::Relaxed,
        );
        self.round_trips
            .fetch_add(after.round_trips - before.round_trips, Ordering::Relaxed);
        match result {
            Ok(()) => Ok(Some(())),
            // Its outputs are still in flight (spent, change not back yet): not a failure.
            Err(ClientError::InsufficientFunds { .. }) if kind == Kind::Pay => Ok(None),
            Err(e) => Err(describe(&e)),
        }
    }
}

/// Runs `kind` once and records it in `tally`; `started` is when it was due.
async fn record(
    load: &Arc<Load>,
    kind: Kind,
    started: Instant,
    rng: &mut ChaCha20Rng,
    tally: &mut Tally,
) {
    let result = match (&load.pay_runtime, kind) {
        // A payment's proofs take tens of milliseconds of CPU: on their own threads they do
        // not hold up other wallets' checks (which run on other devices in reality).
        (Some(runtime), Kind::Pay) => {
            let (load, mut rng) = (Arc::clone(load), ChaCha20Rng::seed_from_u64(rng.gen()));
            runtime
                .spawn(async move { load.run(Kind::Pay, &mut rng).await })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        }
        _ => load.run(kind, rng).await,
    };
    match result {
        Ok(Some(())) => tally
            .latencies_ms
            .entry(kind)
            .or_default()
            .push(started.elapsed().as_secs_f64() * 1e3),
        Ok(None) => {
            if kind == Kind::Pay {
                tally.pay_unavailable += 1;
            }
            // Every wallet it could use was busy: let the others finish.
            tokio::task::yield_now().await;
        }
        Err(e) => {
            *tally.errors.entry(kind).or_default() += 1;
            tally.first_error.entry(kind).or_insert(e);
        }
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// `load [--wallets 10000] [--seconds 30] [--mix incremental=98,fresh=1,pay=1]
/// [--concurrency 32] [--rate R] [--funded F] [--per-source 500] [--mode in-process|processes]
/// [--threads 2] [--pay-threads 1] [--seed 1] [--fogd PATH]`.
pub fn load(args: &Args) -> Result<(), String> {
    let wallets: usize = get(args, "wallets", Some(10_000))?;
    let seconds: f64 = get(args, "seconds", Some(30.0))?;
    let mix_text: String = get(args, "mix", Some("incremental=98,fresh=1,pay=1".into()))?;
    let mix = parse_mix(&mix_text)?;
    let concurrency: usize = get(args, "concurrency", Some(32))?;
    let rate: Option<f64> = args
        .get("rate")
        .map(|r| r.parse().map_err(|_| format!("bad value for --rate: {r}")))
        .transpose()?;
    let pays = mix.iter().any(|m| m.0 == Kind::Pay);
    let funded: usize = get(args, "funded", Some(if pays { 60 } else { 0 }))?;
    let per_source: usize = get(args, "per-source", Some(500))?;
    let mode: String = get(args, "mode", Some("in-process".to_string()))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    let threads: usize = get(args, "threads", Some(2))?;
    let pay_threads: usize = get(args, "pay-threads", Some(1))?;
    if wallets == 0 || concurrency == 0 || per_source == 0 || threads == 0 || seconds <= 0.0 {
        return Err(
            "--wallets, --concurrency, --per-source, --threads and --seconds must be positive"
                .into(),
        );
    }
    if funded > wallets || (pays && funded < 2) {
        return Err("--funded must be at most --wallets, and at least 2 with payments".into());
    }
    if rate.is_some_and(|r| r <= 0.0) {
        return Err("--rate must be positive".into());
    }

    let fogd = fogd_path(args)?;
    let dir = std::env::temp_dir().join(format!(
        "fog-bench-load-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let network = start_local_network(&fogd, &dir, &mode)?;
    let pid = network.0.id();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let settings = Settings {
        wallets,
        seconds,
        mix,
        mix_text,
        concurrency,
        rate,
        funded,
        per_source,
        mode,
        seed,
        threads,
        pay_threads,
    };
    let pay_runtime = match pay_threads {
        0 => None,
        n => Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .thread_name("load-pay")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?,
        ),
    };
    let result = runtime.block_on(run(&dir, pid, &settings, pay_runtime.as_ref()));
    drop(pay_runtime);
    drop(runtime);
    drop(network);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

struct Settings {
    wallets: usize,
    seconds: f64,
    mix: Vec<(Kind, u32)>,
    mix_text: String,
    concurrency: usize,
    rate: Option<f64>,
    funded: usize,
    per_source: usize,
    mode: String,
    seed: u64,
    threads: usize,
    pay_threads: usize,
}

/// The address of source `k`: 127.0.1.1, 127.0.1.2, … (all of 127/8 is loopback).
fn source_address(k: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        (1 + k / 250) as u8,
        0,
        (1 + k % 250) as u8,
    ))
}

/// Pays each address `FUNDING` from `funder`, waiting for change when its outputs run out.
async fn fund(funder: &mut Session, to: &[PublicAddress]) -> Result<(), String> {
    let mut pending: Vec<SendReceipt> = Vec::new();
    for (i, address) in to.iter().enumerate() {
        loop {
            match funder
                .submit(address, Amount::new(FUNDING, TokenId::MOB), None)
                .await
            {
                Ok(r) => {
                    pending.push(r);
                    break;
                }
                Err(WalletError::Client {
                    source: ClientError::InsufficientFunds { .. },
                    ..
                }) if !pending.is_empty() => {
                    for mut r in pending.drain(..) {
                        funder
                            .wait(&mut r)
                            .await
                            .map_err(|e| format!("funding payment: {e}"))?;
                    }
                }
                Err(e) => return Err(format!("funding wallet {i}: {e}")),
            }
        }
    }
    for mut r in pending {
        funder
            .wait(&mut r)
            .await
            .map_err(|e| format!("funding payment: {e}"))?;
    }
    Ok(())
}

async fn run(
    dir: &Path,
    pid: u32,
    s: &Settings,
    pay_runtime: Option<&tokio::runtime::Runtime>,
) -> Result<(), String> {
    let setup_started = Instant::now();
    let wallet_dir = dir.join("wallets");
    let alice = WalletFile::load(&wallet_dir.join("alice.json")).map_err(|e| e.to_string())?;
    let network = alice
        .network
        .clone()
        .ok_or("the demo wallet has no network")?;
    let fog = alice
        .fog
        .clone()
        .ok_or("the demo wallet has no fog settings")?;
    let grpc: GrpcConfig = network.grpc_config()?;
    let config = network.client_config()?;

    // One connected transport per source address.
    let n_sources = s.wallets.div_ceil(s.per_source);
    let mut sources = Vec::with_capacity(n_sources);
    for k in 0..n_sources {
        let mut c = grpc.clone();
        c.local_address = Some(source_address(k));
        let mut t = GrpcTransport::new(c);
        t.connect_all()
            .await
            .map_err(|e| format!("source {}: {e}", source_address(k)))?;
        sources.push(t);
    }

    // The accounts, from the seed.
    let mut rng = ChaCha20Rng::seed_from_u64(s.seed);
    let accounts: Vec<AccountKey> = (0..s.wallets)
        .map(|_| {
            AccountKey::from_root_entropy(&RootEntropy::random(&mut rng)).with_fog(
                &fog.report_url,
                &fog.report_id,
                &fog.authority_spki,
            )
        })
        .collect();
    let funded: Vec<PublicAddress> = accounts[..s.funded]
        .iter()
        .map(AccountKey::default_subaddress)
        .collect();

    // Funding, from the three demo wallets at once.
    if s.funded > 0 {
        let mut funders = Vec::new();
        for name in ["alice", "bob", "carol"] {
            funders.push(
                Session::open(
                    &wallet_dir.join(format!("{name}.json")),
                    &NetworkOverrides::default(),
                    false,
                )
                .map_err(|e| format!("wallet {name}: {e}"))?,
            );
        }
        let shares: Vec<Vec<PublicAddress>> = (0..3)
            .map(|j| funded.iter().skip(j).step_by(3).cloned().collect())
            .collect();
        let results =
            futures_join(funders.iter_mut().zip(&shares).map(|(f, to)| fund(f, to))).await;
        for r in results {
            r?;
        }
    }
    let funding_s = setup_started.elapsed().as_secs_f64();

    let mut load = Load {
        wallets: Vec::new(),
        funded,
        sources,
        config,
        sessions_opened: AtomicU64::new(0),
        round_trips: AtomicU64::new(0),
        pay_runtime: pay_runtime.map(|r| r.handle().clone()),
    };
    let wallets: Vec<Mutex<Wallet>> = accounts
        .into_iter()
        .enumerate()
        .map(|(i, account)| {
            let source = i / s.per_source;
            Mutex::new(Wallet {
                client: Some(load.new_client(account, source)),
                source,
            })
        })
        .collect();
    load.wallets = wallets;
    let load = Arc::new(load);

    // Every wallet's first check (from scratch), `concurrency` at a time; funded wallets
    // until they see their funding.
    let warm_started = Instant::now();
    {
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..s.concurrency {
            let (load, next) = (Arc::clone(&load), Arc::clone(&next));
            let funded = s.funded;
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= load.wallets.len() {
                        return Ok::<(), String>(());
                    }
                    let mut w = load.wallets[i].lock().await;
                    let client = w.client.as_mut().ok_or("a wallet lost its client")?;
                    let deadline = Instant::now() + Duration::from_secs(120);
                    loop {
                        let b = client
                            .check_balance()
                            .await
                            .map_err(|e| format!("first check of wallet {i}: {e}"))?;
                        if i >= funded || b.of(0) > 0 {
                            break;
                        }
                        if Instant::now() > deadline {
                            return Err(format!("wallet {i} never saw its funding"));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
    }
    let warmup_s = warm_started.elapsed().as_secs_f64();
    let warm_sessions: u64 = {
        let mut n = 0;
        for w in &load.wallets {
            if let Some(c) = &w.lock().await.client {
                n += c.transport().stats().sessions_opened;
            }
        }
        n
    };
    eprintln!(
        "setup: {} wallets ({} funded, {} sources) in {:.1} s (funding {:.1} s), first checks {:.1} s ({} sessions)",
        s.wallets,
        s.funded,
        n_sources,
        funding_s + warmup_s,
        funding_s,
        warmup_s,
        warm_sessions
    );

    // The measured window.
    let mut services0 = Cpu::default();
    tree_cpu(pid, true, &mut services0);
    let mut own0 = Cpu::default();
    tree_cpu(std::process::id(), false, &mut own0);
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(s.seconds);
    let mut tally = Tally::default();
    match s.rate {
        None => {
            let mut tasks = Vec::new();
            for t in 0..s.concurrency {
                let load = Arc::clone(&load);
                let mix = s.mix.clone();
                let mut rng = ChaCha20Rng::seed_from_u64(s.seed ^ (0x9e37 + t as u64));
                tasks.push(tokio::spawn(async move {
                    let mut tally = Tally::default();
                    while Instant::now() < end {
                        let kind = pick(&mix, &mut rng);
                        record(&load, kind, Instant::now(), &mut rng, &mut tally).await;
                    }
                    tally
                }));
            }
            for t in tasks {
                tally.merge(t.await.map_err(|e| e.to_string())?);
            }
        }
        Some(rate) => {
            let permits = Arc::new(tokio::sync::Semaphore::new(s.concurrency));
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Tally>();
            let mut rng = ChaCha20Rng::seed_from_u64(s.seed ^ 0x9e37);
            let period = Duration::from_secs_f64(1.0 / rate);
            let mut due = started;
            let mut dropped = 0u64;
            while due < end {
                tokio::time::sleep_until(due.into()).await;
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    // As many in flight as allowed: this one waits (its latency counts from
                    // when it was due).
                    dropped += 1;
                    let permit = Arc::clone(&permits)
                        .acquire_owned()
                        .await
                        .map_err(|e| e.to_string())?;
                    spawn_one(&load, &s.mix, &mut rng, due, permit, &tx);
                    due += period;
                    continue;
                };
                spawn_one(&load, &s.mix, &mut rng, due, permit, &tx);
                due += period;
            }
            drop(tx);
            while let Some(t) = rx.recv().await {
                tally.merge(t);
            }
            if dropped > 0 {
                eprintln!("{dropped} operations waited for a free slot");
            }
        }
    }
    let window = started.elapsed().as_secs_f64();
    let mut services1 = Cpu::default();
    tree_cpu(pid, true, &mut services1);
    let mut own1 = Cpu::default();
    tree_cpu(std::process::id(), false, &mut own1);

    let tick = ticks_per_second();
    let checks: usize = tally
        .latencies_ms
        .iter()
        .filter(|(k, _)| k.is_check())
        .map(|(_, v)| v.len())
        .sum();
    let services_cpu = services1.total.saturating_sub(services0.total) as f64 / tick;
    let own_cpu = own1.total.saturating_sub(own0.total) as f64 / tick;
    let per_check = |cpu: f64| {
        if checks == 0 {
            Value::Null
        } else {
            Value::from(round2(cpu * 1e3 / checks as f64))
        }
    };
    let mut kinds = serde_json::Map::new();
    for (kind, _) in &s.mix {
        let mut v = tally.latencies_ms.remove(kind).unwrap_or_default();
        v.sort_by(f64::total_cmp);
        kinds.insert(
            kind.name().into(),
            json!({
                "ops": v.len(),
                "per_s": round2(v.len() as f64 / window),
                "p50_ms": round2(percentile(&v, 0.5)),
                "p99_ms": round2(percentile(&v, 0.99)),
                "p999_ms": round2(percentile(&v, 0.999)),
                "max_ms": round2(v.last().copied().unwrap_or(f64::NAN)),
                "errors": tally.errors.get(kind).copied().unwrap_or(0),
                "first_error": tally.first_error.get(kind),
            }),
        );
    }
    let mut threads: Vec<(String, u64)> = services1
        .threads
        .iter()
        .map(|(name, t)| {
            (
                name.clone(),
                t.saturating_sub(services0.threads.get(name).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, t)| *t > 0)
        .collect();
    threads.sort_by_key(|t| std::cmp::Reverse(t.1));
    let threads: serde_json::Map<String, Value> = threads
        .into_iter()
        .map(|(n, t)| (n, Value::from(round2(t as f64 / tick))))
        .collect();
    crate::emit(json!({
        "workload": "load",
        "mode": s.mode,
        "wallets": s.wallets,
        "funded": s.funded,
        "sources": n_sources,
        "mix": s.mix_text,
        "concurrency": s.concurrency,
        "rate": s.rate,
        "client_threads": s.threads,
        "pay_threads": s.pay_threads,
        "seconds": round2(window),
        "setup_s": round2(funding_s + warmup_s),
        "checks_per_s": round2(checks as f64 / window),
        "kinds": kinds,
        "pay_unavailable": tally.pay_unavailable,
        "sessions_opened": load.sessions_opened.load(Ordering::Relaxed),
        "round_trips_per_op": round2(
            load.round_trips.load(Ordering::Relaxed) as f64
                / (checks + kinds.get("pay").and_then(|p| p["ops"].as_u64()).unwrap_or(0) as usize).max(1) as f64
        ),
        "services_cpu_s": round2(services_cpu),
        "services_cores": round2(services_cpu / window),
        "services_cpu_ms_per_check": per_check(services_cpu),
        "services_cpu_by_thread_s": threads,
        "loadgen_cpu_s": round2(own_cpu),
        "loadgen_cores": round2(own_cpu / window),
        "loadgen_cpu_ms_per_check": per_check(own_cpu),
    }));
    Ok(())
}

fn spawn_one(
    load: &Arc<Load>,
    mix: &[(Kind, u32)],
    rng: &mut ChaCha20Rng,
    due: Instant,
    permit: tokio::sync::OwnedSemaphorePermit,
    tx: &tokio::sync::mpsc::UnboundedSender<Tally>,
) {
    let kind = pick(mix, rng);
    let mut op_rng = ChaCha20Rng::seed_from_u64(rng.gen());
    let (load, tx) = (Arc::clone(load), tx.clone());
    tokio::spawn(async move {
        let mut tally = Tally::default();
        record(&load, kind, due, &mut op_rng, &mut tally).await;
        drop(permit);
        let _ = tx.send(tally);
    });
}

/// Awaits futures concurrently on this task (the funders borrow their sessions).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in pinned.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
