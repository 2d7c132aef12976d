//! Fog on five hosts: node, ingest, view, fog ledger and report, each a `fogd` process in a
//! network namespace of its own (its own address on a bridge the test makes with `ip netns`
//! and veth pairs, removed afterwards), the recovery DB on Postgres (a fresh database,
//! reached through a forwarder on the bridge). Wallets (the `fog-wallet` library) pay each
//! other; every balance they report is compared with a view-key scan of the ledger at the
//! block count they name. Then each service in turn is killed with SIGKILL while the wallets
//! keep checking and paying, and started again; no balance may ever be wrong, every service
//! catches up, and the recovery DB holds each block's records exactly once.
//!
//! The test needs root and `ip` (iproute2); where namespaces cannot be made it fails, it does
//! not skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::Service;
use fog_ledger_db::LedgerDb;
use fog_ledger_follower::{Follower, FollowerConfig};
use fog_recovery_db::{BlockIndex, RecoveryDb};
use fog_system::network::{Files, Plan, MOB};
use fog_wallet::{NetworkOverrides, NetworkSettings, Session};
use tokio::net::{TcpListener, TcpStream};

const SERVICES: [&str; 5] = ["node", "ingest", "view", "ledger", "report"];
const PORT: u16 = 3223;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("this test makes network namespaces with `ip` (iproute2), which fails: {e}")
    });
    assert!(
        out.status.success(),
        "ip {args:?} failed (this test needs root and network namespaces): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The bridge and the namespaces; removed when dropped.
struct Hosts {
    tag: String,
    bridge_ip: Ipv4Addr,
    ips: Vec<Ipv4Addr>,
}

impl Hosts {
    fn new() -> Self {
        let pid = std::process::id();
        let tag = format!("f{}", pid % 100_000);
        let subnet = 20 + (pid % 200) as u8;
        let hosts = Self {
            tag: tag.clone(),
            bridge_ip: Ipv4Addr::new(10, 231, subnet, 1),
            ips: (0..SERVICES.len())
                .map(|i| Ipv4Addr::new(10, 231, subnet, 10 + i as u8))
                .collect(),
        };
        let br = hosts.bridge();
        ip(&["link", "add", &br, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", hosts.bridge_ip),
            "dev",
            &br,
        ]);
        ip(&["link", "set", &br, "up"]);
        for (i, addr) in hosts.ips.iter().enumerate() {
            let ns = hosts.ns(i);
            let (outer, inner) = (format!("{tag}h{i}"), format!("{tag}n{i}"));
            ip(&["netns", "add", &ns]);
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ]);
            ip(&["link", "set", &inner, "netns", &ns]);
            ip(&["link", "set", &outer, "master", &br, "up"]);
            ip(&[
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &inner,
            ]);
            ip(&["netns", "exec", &ns, "ip", "link", "set", &inner, "up"]);
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    fn ns(&self, i: usize) -> String {
        format!("{}-{}", self.tag, SERVICES[i])
    }

    fn addr(&self, service: &str) -> SocketAddr {
        let i = SERVICES.iter().position(|s| *s == service).unwrap();
        SocketAddr::from((self.ips[i], PORT))
    }

    fn url(&self, service: &str) -> String {
        format!("http://{}", self.addr(service))
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 0..SERVICES.len() {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .status();
    }
}

/// The network: where each service keeps its files, and how it is started.
struct Net {
    hosts: Hosts,
    dir: PathBuf,
    recovery_url: String,
}

impl Net {
    fn args(&self, service: &str) -> Vec<String> {
        let own = |p: &str| self.dir.join(service).join(p).display().to_string();
        let listen = self.hosts.addr(service).to_string();
        let node = self.hosts.url("node");
        let words: Vec<String> = match service {
            "node" => vec![
                "node",
                "--ledger-db",
                &own("ledger.redb"),
                "--listen",
                &listen,
                "--block-interval-ms",
                "250",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "ingest" => vec![
                "ingest",
                "--node",
                &node,
                "--ledger-db",
                &own("ledger.redb"),
                "--state-dir",
                &own("state"),
                "--listen",
                "127.0.0.1:3226",
                "--user-capacity",
                "4096",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "view" => vec![
                "view",
                "--state-dir",
                &own("state"),
                "--listen",
                &listen,
                "--partitions",
                "2",
                "--capacity-per-partition",
                "16384",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "ledger" => vec![
                "ledger",
                "--node",
                &node,
                "--ledger-db",
                &own("ledger.redb"),
                "--state-dir",
                &own("state"),
                "--listen",
                &listen,
                "--key-image-capacity",
                "16384",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "report" => {
                let authority = self.dir.join("authority");
                vec![
                    "report".to_string(),
                    "--chain".into(),
                    authority.join("chain.pem").display().to_string(),
                    "--key".into(),
                    authority.join("leaf.key").display().to_string(),
                    "--listen".into(),
                    listen,
                ]
            }
            _ => unreachable!(),
        };
        words
    }

    fn start(&self, service: &'static str) -> Service {
        let i = SERVICES.iter().position(|s| *s == service).unwrap();
        let mut command = Command::new("ip");
        command
            .args([
                "netns",
                "exec",
                &self.hosts.ns(i),
                env!("CARGO_BIN_EXE_fogd"),
            ])
            .args(self.args(service))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if matches!(service, "ingest" | "view" | "report") {
            command.env("FOG_RECOVERY_DB", &self.recovery_url);
        }
        Service::from_child(service, command.spawn().unwrap())
    }
}

/// Forwards connections to `listener` to `target` (Postgres, which listens on loopback).
async fn forward(listener: TcpListener, target: SocketAddr) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// A wallet whose every reported balance is checked against the oracle.
struct Wallet {
    name: String,
    session: Session,
    last: u64,
}

/// Checks `w`'s balance once: `Ok(Some(block_count))` when it answered (and was exact),
/// `Ok(None)` when a service did not answer (allowed while one is down).
async fn check(w: &mut Wallet, oracle: &LedgerDb, checked: &mut u32) -> Option<u64> {
    let b = match w.session.balance(|_| {}).await {
        Ok(b) => b,
        Err(e) => {
            println!("{}: no balance now ({e})", w.name);
            return None;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while oracle.num_blocks().unwrap() < b.block_count {
        assert!(
            Instant::now() < deadline,
            "the oracle's copy does not catch up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let truth = fog_system::oracle::balance(oracle, w.session.account(), b.block_count).unwrap();
    assert_eq!(
        b.of(0),
        truth,
        "{} reported a WRONG balance at block count {}",
        w.name,
        b.block_count
    );
    assert!(
        b.block_count >= w.last,
        "{}'s block count went back from {} to {}",
        w.name,
        w.last,
        b.block_count
    );
    w.last = b.block_count;
    *checked += 1;
    Some(b.block_count)
}

/// Every wallet checks until its balance covers `blocks` (within `limit`).
async fn all_cover(wallets: &mut [Wallet], blocks: u64, oracle: &LedgerDb, checked: &mut u32) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for w in wallets.iter_mut() {
        loop {
            if check(w, oracle, checked).await.is_some_and(|n| n >= blocks) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} never saw block count {blocks}",
                w.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `from` pays `to` 1 MOB, retrying while a service is down; returns the block it landed in.
async fn pay(wallets: &mut [Wallet], from: usize, to: usize) -> u64 {
    let to_address = wallets[to].session.address();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let sender = &mut wallets[from].session;
        let attempt = async {
            let mut receipt = sender
                .submit(
                    &to_address,
                    fog_transaction::Amount::new(MOB, fog_transaction::TokenId::MOB),
                    None,
                )
                .await?;
            sender.wait(&mut receipt).await?;
            Ok::<_, fog_wallet::WalletError>(receipt.block_index.unwrap_or(0))
        };
        match attempt.await {
            Ok(block) => return block,
            Err(e) => {
                println!("{} cannot pay now: {e}", wallets[from].name);
                assert!(Instant::now() < deadline, "payments never worked again");
                tokio::time::sleep(Duration::from_millis(500)).await;
                // A failed wait may leave inputs reserved; the next balance check frees
                // what did not land.
                let _ = wallets[from].session.balance(|_| {}).await;
            }
        }
    }
}

#[test]
fn five_hosts_pay_and_survive_each_service_killed() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = fog_test_support::postgres::TempDatabase::create() else {
        return;
    };
    let hosts = Hosts::new();
    let dir = tempfile::tempdir().unwrap();

    // Postgres, for the hosts: a forwarder on the bridge address.
    let pg: tokio_postgres::Config = db.url().parse().unwrap();
    let pg_host = match &pg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("FOG_TEST_POSTGRES_URL names a host this test cannot forward: {other:?}"),
    };
    let pg_target: SocketAddr = format!("{pg_host}:{}", pg.get_ports()[0]).parse().unwrap();
    let forwarder = runtime
        .block_on(TcpListener::bind((hosts.bridge_ip, 0)))
        .unwrap();
    let forwarded = forwarder.local_addr().unwrap();
    runtime.spawn(forward(forwarder, pg_target));
    let recovery_url = format!(
        "postgres://{}@{forwarded}/{}",
        pg.get_user().unwrap_or("postgres"),
        pg.get_dbname().unwrap()
    );
    let net = Net {
        hosts,
        dir: dir.path().to_path_buf(),
        recovery_url,
    };

    // One simulated quoting key for the three enclaves: the wallets' attestation key.
    let quoting = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    for service in ["ingest", "view", "ledger", "node", "report"] {
        let state = net.dir.join(service).join("state");
        std::fs::create_dir_all(&state).unwrap();
        if matches!(service, "ingest" | "view" | "ledger") {
            std::fs::write(state.join("sim-quoting.key"), quoting.as_bytes()).unwrap();
        }
    }
    let attestation_key = hex::encode(quoting.verifying_key().as_bytes());

    // Ingest first (it waits for the node): its key funds the wallets.
    let mut procs: Vec<Option<Service>> = (0..SERVICES.len()).map(|_| None).collect();
    let ingest = net.start("ingest");
    let key_line = ingest.wait_for("ingress key");
    let ingress: [u8; 32] = hex::decode(key_line.rsplit(' ').next().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    procs[1] = Some(ingest);
    {
        let ledger = LedgerDb::create(net.dir.join("node").join("ledger.redb")).unwrap();
        let plan = Plan {
            wallets: vec!["alice".into(), "bob".into(), "carol".into()],
            report_url: format!("insecure-fog://{}", net.hosts.addr("report")),
            network: NetworkSettings {
                node_url: net.hosts.url("node"),
                view_url: net.hosts.url("view"),
                ledger_url: net.hosts.url("ledger"),
                attestation_key,
            },
            funding_txouts: 3,
            funding_value: 20 * MOB,
            strangers: 20,
        };
        let key = fog_crypto::RistrettoPublic::from_bytes(&ingress).unwrap();
        fog_system::network::create(
            &Files {
                dir: net.dir.clone(),
            },
            &plan,
            &key,
            &ledger,
        )
        .unwrap();
    }
    for (i, service) in SERVICES.iter().enumerate() {
        if procs[i].is_none() {
            procs[i] = Some(net.start(service));
        }
    }

    runtime.block_on(async {
        // The test's own copy of the ledger, for the oracle, followed from the node host.
        let oracle = LedgerDb::create(net.dir.join("oracle.redb")).unwrap();
        let follower = Follower::new(
            oracle.clone(),
            FollowerConfig::new(vec![net.hosts.url("node")])
                .with_poll_interval(Duration::from_millis(50)),
        )
        .await
        .unwrap();
        tokio::spawn(follower.run(std::future::pending()));

        let files = Files {
            dir: net.dir.clone(),
        };
        let mut wallets: Vec<Wallet> = ["alice", "bob", "carol"]
            .iter()
            .map(|name| Wallet {
                name: name.to_string(),
                session: Session::open(&files.wallet(name), &NetworkOverrides::default(), false)
                    .unwrap(),
                last: 0,
            })
            .collect();
        let mut checked = 0u32;
        all_cover(&mut wallets, 1, &oracle, &mut checked).await;
        for w in &wallets {
            assert_eq!(
                w.session.last_balance().unwrap().of(0),
                u128::from(60 * MOB)
            );
        }

        // Payments among the hosts.
        let landed = pay(&mut wallets, 0, 1).await;
        all_cover(&mut wallets, landed + 1, &oracle, &mut checked).await;

        // Each service killed in turn, while the wallets check and pay; then started again.
        for (i, service) in SERVICES.iter().enumerate() {
            println!("=== kill -9 {service}");
            procs[i].as_mut().unwrap().kill9();
            // While it is down: balances may fail to come, never be wrong.
            for w in wallets.iter_mut() {
                let _ = check(w, &oracle, &mut checked).await;
            }
            procs[i] = Some(net.start(service));
            let from = i % 3;
            let landed = pay(&mut wallets, from, (from + 1) % 3).await;
            all_cover(&mut wallets, landed + 1, &oracle, &mut checked).await;
        }
        println!("{checked} balances checked, every one exact");
        assert!(checked >= 20, "too few balance checks: {checked}");

        // The recovery DB holds every block's records exactly once, under the one ingress
        // key (sealed in ingest's state directory, the same after each restart).
        let blocks = oracle.num_blocks().unwrap();
        let db = fog_recovery_db::open(&net.recovery_url).await.unwrap();
        let key = fog_crypto::CompressedRistrettoPublic(ingress);
        let deadline = Instant::now() + Duration::from_secs(60);
        for b in 0..blocks {
            let outputs = oracle.get_block_contents(b).unwrap().unwrap().outputs.len();
            let records = loop {
                match db
                    .get_tx_outs_by_block_and_key(&key, BlockIndex(b))
                    .await
                    .unwrap()
                {
                    Some(r) => break r,
                    None => {
                        assert!(Instant::now() < deadline, "block {b} was never ingested");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            };
            assert_eq!(
                records.len(),
                outputs,
                "block {b}: records lost or duplicated"
            );
        }
    });

    // Every service stops cleanly on SIGTERM.
    for p in procs.into_iter().rev().flatten() {
        p.stop();
    }
    drop(net);
}
