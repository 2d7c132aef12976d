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
    path::PathBuf,
    time::{Duration, Instant},
};

use common::{
    netns::Hosts,
    wallets::{all_cover, check, open_all, pay},
    Service,
};
use fog_ledger_db::LedgerDb;
use fog_ledger_follower::{Follower, FollowerConfig};
use fog_recovery_db::{BlockIndex, RecoveryDb};
use fog_system::network::{Files, Plan, MOB};
use fog_wallet::NetworkSettings;

const SERVICES: [&str; 5] = ["node", "ingest", "view", "ledger", "report"];
const PORT: u16 = 3223;

/// The network: where each service keeps its files, and how it is started.
struct Net {
    hosts: Hosts,
    dir: PathBuf,
    recovery_url: String,
}

impl Net {
    fn args(&self, service: &str) -> Vec<String> {
        let own = |p: &str| self.dir.join(service).join(p).display().to_string();
        let listen = self.hosts.addr(service, PORT).to_string();
        let node = self.hosts.url("node", PORT);
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
        let env: &[(&str, &str)] = if matches!(service, "ingest" | "view" | "report") {
            &[("FOG_RECOVERY_DB", &self.recovery_url)]
        } else {
            &[]
        };
        self.hosts.start(service, service, &self.args(service), env)
    }
}

#[test]
fn five_hosts_pay_and_survive_each_service_killed() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = fog_test_support::postgres::TempDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    let hosts = Hosts::new(&SERVICES);
    // Postgres, for the hosts: a forwarder on the bridge address.
    let recovery_url = hosts.forward_postgres(&runtime, db.url());
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
            report_url: format!("insecure-fog://{}", net.hosts.addr("report", PORT)),
            network: NetworkSettings {
                node_url: net.hosts.url("node", PORT),
                view_url: net.hosts.url("view", PORT),
                ledger_url: net.hosts.url("ledger", PORT),
                attestation_key,
                attestation_policy: None,
            },
            funding_txouts: 3,
            funding_value: 20 * MOB,
            other_tokens: Vec::new(),
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
            FollowerConfig::new(vec![net.hosts.url("node", PORT)])
                .with_poll_interval(Duration::from_millis(50)),
        )
        .await
        .unwrap();
        tokio::spawn(follower.run(std::future::pending()));

        let files = Files {
            dir: net.dir.clone(),
        };
        let mut wallets = open_all(&files, &["alice", "bob", "carol"]);
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
