//! The `fog-wallet` binary against the real services, started in this process on port-0
//! listeners: the ledger node, ingest (publishing its report to a SQLite recovery DB), view,
//! fog ledger and the report server, all trusting one simulated quoting key. Alice pays Bob
//! with `send`, both see it with `balance --json` and `history --json`, the next check is
//! incremental, the wallet file is replaced atomically, and a service that is down or refuses
//! attestation (another key, or a policy with another view measurement) is named without the
//! wallet file changing; a wallet pinned by an attestation policy file works.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use fog_account::{b58_encode_public_address, AccountKey};
use fog_attest::{ed25519_dalek::SigningKey, FogEnclave, SimProvider};
use fog_ingest_server::{IngestConfig, IngestServer, StateDir};
use fog_ledger_db::LedgerDb;
use fog_ledger_server::{LedgerServer, LedgerServerConfig};
use fog_node::{write_origin_block, Node, NodeConfig};
use fog_recovery_db::SqliteRecoveryDb;
use fog_report_server::{authority::new_authority, SigningConfig};
use fog_transaction::{validation::MOB_MINIMUM_FEE, Amount, TokenId};
use fog_view_server::{ViewConfig, ViewServer};
use fog_wallet::WalletFile;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

mod common;

use common::{listener, ok, run_wallet, text, wallet, MOB};

/// `balance --json` until its block count reaches `blocks`: returns (block count, MOB).
async fn balance_at_least(file: &Path, blocks: u64) -> (u64, u128, String) {
    for _ in 0..300 {
        let out = wallet(file, &["balance", "--json"]).await;
        let stdout = ok(&out, "balance --json");
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        let count = v["block_count"].as_u64().unwrap();
        let mob = v["balances"]["0"].as_u64().unwrap();
        assert_eq!(
            v.as_object().unwrap().len(),
            2,
            "only block_count and balances: {stdout}"
        );
        if count >= blocks {
            return (count, u128::from(mob), text(&out.stderr));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the balance of {} never reached block count {blocks}",
        file.display()
    );
}

/// The number before " round trips" in the progress summary.
fn round_trips(stderr: &str) -> u64 {
    let at = stderr.find(" round trips").expect("a progress summary");
    let digits: String = stderr[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.chars().rev().collect::<String>().parse().unwrap()
}

fn no_temp_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().contains(".tmp-"),
            "a temporary file was left: {name:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallets_pay_each_other_through_the_real_services() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let quoting = SigningKey::from_bytes(&[3u8; 32]);
    let key_hex = hex::encode(quoting.verifying_key().as_bytes());

    // The authority, and the report server's address, which fog addresses carry.
    let files = new_authority(&dir.path().join("authority"), "Wallet test", 30).unwrap();
    let spki = dir.path().join("authority.der");
    std::fs::write(&spki, &files.root_spki_der).unwrap();
    let (report_listener, report_addr) = listener().await;
    let (node_listener, node_addr) = listener().await;
    let (view_listener, view_addr) = listener().await;
    let (ledger_listener, ledger_addr) = listener().await;

    // Two wallets made by the binary, with fog and the service addresses.
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
    let alice_address = b58_encode_public_address(&alice_key.default_subaddress());
    let bob_address = ok(&wallet(&bob, &["address"]).await, "address")
        .trim()
        .to_string();
    assert_eq!(
        bob_address,
        b58_encode_public_address(&bob_key.default_subaddress())
    );

    // Ledger, recovery DB and ingest; the origin block pays Alice 4 × 10 MOB among strangers.
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let db = SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap();
    let ingest_provider = SimProvider::from_quoting_key(
        quoting.clone(),
        fog_attest::fog_identity(FogEnclave::Ingest),
    );
    let (sealing, _) = fog_enclave::sealing::SealingKeyProvider::simulated_generate(
        &mut ChaCha20Rng::seed_from_u64(8),
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
    for _ in 0..20 {
        let stranger = AccountKey::random(&mut rng).default_subaddress();
        funding.push((stranger, Amount::new(MOB, TokenId::MOB)));
    }
    write_origin_block(&ledger, &funding, Some(&ingress), &mut rng).unwrap();
    // The services, started the one way fogd local-network starts them (`fog_system::inproc`);
    // they run until the test ends.
    let mut running =
        vec![fog_system::inproc::ingest(Arc::new(tokio::sync::Mutex::new(ingest)), None).unwrap()];

    let node = Arc::new(
        Node::new(
            ledger.clone(),
            NodeConfig::default().with_block_interval(Duration::from_millis(100)),
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

    // Alice's first check finds her funding; progress and a summary go to stderr.
    let (count, mob, stderr) = balance_at_least(&alice, 1).await;
    assert_eq!(mob, 40 * u128::from(MOB), "at block count {count}");
    assert!(stderr.contains("synced to block count"), "{stderr}");
    let fresh_round_trips = round_trips(&stderr);
    let human = ok(&wallet(&alice, &["balance", "-q"]).await, "balance");
    assert!(human.contains("40 MOB"), "{human}");

    // Contacts, then Alice pays Bob 3 MOB by name and waits for it to land.
    ok(
        &wallet(&alice, &["contact", "add", "bob", &bob_address]).await,
        "contact add",
    );
    ok(
        &wallet(&bob, &["contact", "add", "alice", &alice_address]).await,
        "contact add",
    );
    let listed = ok(&wallet(&bob, &["contact", "list"]).await, "contact list");
    assert_eq!(listed.trim(), format!("alice {alice_address}"));
    let out = wallet(&alice, &["send", "--to", "bob", "--amount", "3"]).await;
    let sent = ok(&out, "send");
    assert!(
        sent.contains("Sent 3 MOB to bob (fee 0.0004 MOB)"),
        "{sent}"
    );
    assert!(sent.contains("Landed in block 1."), "{sent}");
    let after = 37 * u128::from(MOB) - u128::from(MOB_MINIMUM_FEE);
    let (count, mob, _) = balance_at_least(&alice, 2).await;
    assert_eq!(mob, after, "alice at block count {count}");

    // Bob sees it, and his history names Alice as the authenticated sender.
    let (count, mob, _) = balance_at_least(&bob, 2).await;
    assert_eq!(mob, 3 * u128::from(MOB), "bob at block count {count}");
    let h = ok(
        &wallet(&bob, &["history", "--json", "--offline"]).await,
        "history",
    );
    let h: serde_json::Value = serde_json::from_str(h.trim()).unwrap();
    let entries = h["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{h}");
    assert_eq!(entries[0]["kind"], "received");
    assert_eq!(entries[0]["block_index"], 1);
    assert_eq!(entries[0]["amount"], 3 * MOB);
    assert_eq!(entries[0]["sender"], "alice");
    let h = ok(&wallet(&alice, &["history", "-q"]).await, "history");
    assert!(h.contains("spent") && h.contains("change"), "{h}");

    // The next check is incremental: the state came from the file.
    let (_, mob, stderr) = balance_at_least(&alice, 2).await;
    assert_eq!(mob, after);
    let incremental = round_trips(&stderr);
    println!("alice's fresh check: {fresh_round_trips} round trips; incremental: {incremental}");
    assert!(
        incremental <= 4,
        "an incremental check with nothing new: one handshake and one request for view and \
         fog ledger, got {incremental} round trips"
    );

    // The wallet file: private, replaced whole, holding the client state.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&alice).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    no_temp_files(&wallets);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&alice).unwrap()).unwrap();
    assert_eq!(stored["version"], 2);
    assert!(stored["client_state"].as_str().unwrap().len() > 100);
    assert_eq!(stored["network"]["view_url"], view_url.as_str());

    // Refusals change nothing and say why.
    let before = std::fs::read(&bob).unwrap();
    let out = wallet(&bob, &["send", "--to", "alice", "--amount", "100"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("insufficient funds"));
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let down = format!("http://{closed}");
    let out = wallet(&bob, &["balance", "--view-url", &down]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: fog view at ") && err.contains(&down),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let stranger = hex::encode(
        SigningKey::from_bytes(&[4u8; 32])
            .verifying_key()
            .as_bytes(),
    );
    let out = wallet(&bob, &["balance", "--attestation-key", &stranger]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("fog view at {view_url} failed attestation")),
        "{err}"
    );
    // A policy whose view rule names another measurement refuses the view enclave.
    let good = fog_attest::policy_file::PolicyFile::simulated(&quoting.verifying_key());
    let mut other = good.clone();
    other.view = vec![fog_attest::policy_file::RuleEntry::Sim {
        measurement: "11".repeat(32),
    }];
    let other_file = dir.path().join("other-policy.toml");
    std::fs::write(&other_file, other.to_toml()).unwrap();
    let out = wallet(
        &bob,
        &[
            "balance",
            "--attestation-policy",
            other_file.to_str().unwrap(),
        ],
    )
    .await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("fog view at {view_url} failed attestation"))
            && err.contains("enclave measurement not allowed by policy"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&bob).unwrap(),
        before,
        "a refusal changed the wallet"
    );
    no_temp_files(&wallets);

    // The network's own policy works, replaces the key in the wallet and stays pinned after
    // its file is gone; a key given again drops it.
    let good_file = dir.path().join("attestation-policy.toml");
    std::fs::write(&good_file, good.to_toml()).unwrap();
    let out = wallet(
        &bob,
        &[
            "balance",
            "-q",
            "--attestation-policy",
            good_file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok(&out, "balance with a policy").contains("3 MOB"));
    std::fs::remove_file(&good_file).unwrap();
    let stored = &WalletFile::load(&bob).unwrap().network.unwrap();
    assert_eq!(stored.attestation_key, "");
    assert_eq!(
        fog_attest::policy_file::PolicyFile::parse(stored.attestation_policy.as_deref().unwrap())
            .unwrap(),
        good
    );
    let (_, mob, _) = balance_at_least(&bob, 2).await;
    assert_eq!(mob, 3 * u128::from(MOB), "bob with the stored policy");
    ok(
        &wallet(&bob, &["balance", "-q", "--attestation-key", &key_hex]).await,
        "balance with the key again",
    );
    let stored = WalletFile::load(&bob).unwrap().network.unwrap();
    assert_eq!(
        (stored.attestation_key.as_str(), stored.attestation_policy),
        (key_hex.as_str(), None)
    );

    // Every service stops cleanly.
    for r in running.into_iter().rev() {
        r.stop().await.unwrap();
    }
}

#[test]
fn balance_without_service_addresses_names_the_missing_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("w.json");
    ok(
        &run_wallet(vec![
            "--wallet".into(),
            file.display().to_string(),
            "keys".into(),
            "new".into(),
        ]),
        "keys new",
    );
    let out = run_wallet(vec![
        "--wallet".into(),
        file.display().to_string(),
        "balance".into(),
        "--view-url".into(),
        "http://127.0.0.1:1".into(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--node-url, --ledger-url, --attestation-key or --attestation-policy")
            && !err.contains("--view-url,"),
        "{err}"
    );
}
