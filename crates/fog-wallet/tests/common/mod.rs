//! A local network for the wallet's end-to-end tests: the real services started in the test
//! process on port-0 listeners, the one way `fogd local-network` starts them
//! (`fog_system::inproc`), all trusting one simulated quoting key; and two wallets made by the
//! `fog-wallet` binary, Alice funded with 4 × 10 MOB in the origin block (and, with
//! [`start_funded`], with other tokens). The node accepts MOB and token 1 at a local
//! network's minimum fees (`fog_system::network::node_config`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::Arc,
    time::Duration,
};

use fog_account::AccountKey;
use fog_attest::{ed25519_dalek::SigningKey, FogEnclave, SimProvider};
use fog_ingest_server::{IngestConfig, IngestServer, StateDir};
use fog_ledger_db::LedgerDb;
use fog_ledger_server::{LedgerServer, LedgerServerConfig};
use fog_node::{write_origin_block, Node, NodeConfig};
use fog_recovery_db::SqliteRecoveryDb;
use fog_report_server::{authority::new_authority, SigningConfig};
use fog_system::{inproc::Running, network::TokenFunding};
use fog_transaction::{Amount, TokenId};
use fog_view_server::{ViewConfig, ViewServer};
use fog_wallet::WalletFile;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// One MOB in picoMOB.
pub const MOB: u64 = 1_000_000_000_000;

/// The running network and its two wallets.
pub struct Net {
    /// Holds every file; removed when the test ends.
    pub dir: tempfile::TempDir,
    /// Alice's wallet file (funded).
    pub alice: PathBuf,
    /// Bob's wallet file (empty).
    pub bob: PathBuf,
    /// Alice's account, with fog.
    pub alice_key: AccountKey,
    /// Bob's account, with fog.
    pub bob_key: AccountKey,
    running: Vec<Running>,
}

impl Net {
    /// Stops every service cleanly.
    pub async fn stop(self) {
        for r in self.running.into_iter().rev() {
            r.stop().await.unwrap();
        }
    }
}

/// A loopback listener on a free port, and its address.
pub async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

pub fn run_wallet(args: Vec<String>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fog-wallet"))
        .args(&args)
        .env_remove("FOG_WALLET")
        .output()
        .expect("start fog-wallet")
}

/// Runs the wallet binary off the runtime's worker threads, so the services keep running.
pub async fn wallet(file: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--wallet".to_string(), file.display().to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || run_wallet(all))
        .await
        .unwrap()
}

/// Standard output or error as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts success and returns standard output.
pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `balance --json` until its block count reaches `blocks`: (block count, MOB balance).
pub async fn balance_at_least(file: &Path, blocks: u64) -> (u64, u128) {
    for _ in 0..300 {
        let out = wallet(file, &["balance", "--json", "-q"]).await;
        let stdout = ok(&out, "balance --json");
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        let count = v["block_count"].as_u64().unwrap();
        let mob = v["balances"]["0"].as_u64().unwrap();
        if count >= blocks {
            return (count, u128::from(mob));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the balance of {} never reached block count {blocks}",
        file.display()
    );
}

/// `balance --json` until its block count reaches `blocks`: (block count, balance of each
/// token by id, token 0 always present).
pub async fn balances_at_least(file: &Path, blocks: u64) -> (u64, BTreeMap<u64, u128>) {
    for _ in 0..300 {
        let out = wallet(file, &["balance", "--json", "-q"]).await;
        let stdout = ok(&out, "balance --json");
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        let count = v["block_count"].as_u64().unwrap();
        if count >= blocks {
            let balances = v["balances"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(t, b)| (t.parse().unwrap(), u128::from(b.as_u64().unwrap())))
                .collect();
            return (count, balances);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the balance of {} never reached block count {blocks}",
        file.display()
    );
}

/// Starts the services and makes the two wallets (`keys new` with fog and the network).
pub async fn start(seed: u64) -> Net {
    start_funded(seed, &[]).await
}

/// [`start`], Alice also funded in the origin block with `other_tokens`.
pub async fn start_funded(seed: u64, other_tokens: &[TokenFunding]) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let quoting = SigningKey::from_bytes(&[3u8; 32]);
    let key_hex = hex::encode(quoting.verifying_key().as_bytes());

    let files = new_authority(&dir.path().join("authority"), "Wallet test", 30).unwrap();
    let spki = dir.path().join("authority.der");
    std::fs::write(&spki, &files.root_spki_der).unwrap();
    let (report_listener, report_addr) = listener().await;
    let (node_listener, node_addr) = listener().await;
    let (view_listener, view_addr) = listener().await;
    let (ledger_listener, ledger_addr) = listener().await;

    let wallets = dir.path().join("wallets");
    std::fs::create_dir(&wallets).unwrap();
    let (alice, bob) = (wallets.join("alice.json"), wallets.join("bob.json"));
    let node_url = format!("http://{node_addr}");
    let view_url = format!("http://{view_addr}");
    let ledger_url = format!("http://{ledger_addr}");
    let report_url = format!("insecure-fog://{report_addr}");
    for w in [&alice, &bob] {
        let out = wallet(
            w,
            &[
                "keys",
                "new",
                "--fog-report-url",
                &report_url,
                "--fog-authority-spki",
                spki.to_str().unwrap(),
                "--node-url",
                &node_url,
                "--view-url",
                &view_url,
                "--ledger-url",
                &ledger_url,
                "--attestation-key",
                &key_hex,
            ],
        )
        .await;
        ok(&out, "keys new");
    }
    let account = |w: &Path| WalletFile::load(w).unwrap().fog_account_key().unwrap();
    let (alice_key, bob_key) = (account(&alice), account(&bob));

    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let db = SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap();
    let ingest_provider = SimProvider::from_quoting_key(
        quoting.clone(),
        fog_attest::fog_identity(FogEnclave::Ingest),
    );
    let (sealing, _) = fog_enclave::sealing::SealingKeyProvider::simulated_generate(
        &mut ChaCha20Rng::seed_from_u64(seed + 1),
    );
    let ingest = IngestServer::open(
        ledger.clone(),
        db.clone(),
        StateDir::new(dir.path().join("ingest")).unwrap(),
        IngestConfig {
            user_capacity: 1 << 10,
            poll_interval: Duration::from_millis(20),
            ..IngestConfig::default()
        },
        Box::new(fog_ingest_server::ProviderEvidence::sim(ingest_provider)),
        fog_enclave::boundary::ingest::IngestBoundary::simulated(sealing, None).unwrap(),
    )
    .await
    .unwrap();
    let ingress = ingest.ingress_public_key();
    let mut funding: Vec<_> = (0..4)
        .map(|_| {
            (
                alice_key.default_subaddress(),
                Amount::new(10 * MOB, TokenId::MOB),
            )
        })
        .collect();
    for t in other_tokens {
        for _ in 0..t.txouts {
            funding.push((
                alice_key.default_subaddress(),
                Amount::new(t.value, t.token_id),
            ));
        }
    }
    for _ in 0..20 {
        let stranger = AccountKey::random(&mut rng).default_subaddress();
        funding.push((stranger, Amount::new(MOB, TokenId::MOB)));
    }
    write_origin_block(&ledger, &funding, Some(&ingress), &mut rng).unwrap();
    let mut running =
        vec![fog_system::inproc::ingest(Arc::new(tokio::sync::Mutex::new(ingest)), None).unwrap()];

    let node = Arc::new(
        Node::new(
            ledger.clone(),
            fog_system::network::node_config(
                NodeConfig::default().with_block_interval(Duration::from_millis(100)),
            ),
        )
        .unwrap(),
    );
    running.push(fog_system::inproc::node(node, node_listener));

    let view_config = ViewConfig {
        partitions: 2,
        capacity_per_partition: 1 << 10,
        poll_interval: Duration::from_millis(20),
        ..ViewConfig::default()
    };
    let enclave =
        fog_enclave::boundary::view::ViewBoundary::simulated(&view_config.enclave(), None).unwrap();
    fog_enclave_api::view::ViewClient::new(enclave.clone())
        .attest(&SimProvider::from_quoting_key(
            quoting.clone(),
            fog_attest::fog_identity(FogEnclave::View),
        ))
        .unwrap();
    let view = Arc::new(ViewServer::new(Arc::new(db.clone()), enclave, view_config));
    running.push(fog_system::inproc::view(view, view_listener));

    let ledger_enclave = fog_enclave::boundary::ledger::LedgerBoundary::simulated(
        fog_enclave::boundary::ledger::LedgerConfig {
            key_image_capacity: 1 << 12,
            ..Default::default()
        },
    )
    .unwrap();
    let ledger_server = LedgerServer::new(
        ledger.clone(),
        ledger_enclave,
        &SimProvider::from_quoting_key(
            quoting.clone(),
            fog_attest::fog_identity(FogEnclave::Ledger),
        ),
        LedgerServerConfig {
            poll_interval: Duration::from_millis(20),
            ..LedgerServerConfig::default()
        },
    )
    .unwrap();
    running.push(fog_system::inproc::fog_ledger(
        Arc::new(ledger_server),
        ledger_listener,
    ));

    let signing = SigningConfig::load(&files.chain_pem, &files.leaf_key).unwrap();
    running.push(fog_system::inproc::report(
        report_listener,
        Arc::new(fog_report_server::RecoveryDbReports::new(
            db.clone(),
            tokio::runtime::Handle::current(),
        )),
        signing,
    ));

    Net {
        dir,
        alice,
        bob,
        alice_key,
        bob_key,
        running,
    }
}
