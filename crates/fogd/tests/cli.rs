//! `fogd` run as a binary: the ledger tools' JSON, the generator's accounts against a scan of
//! its ledger, the node's start and clean stop, and one-line errors with exit code 2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use fog_account::AccountKey;
use fog_crypto::RistrettoPrivate;
use fog_ledger_db::LedgerDb;
use fog_transaction::{FogHint, KeyImage};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;

use common::*;

fn account_from_json(v: &Value) -> AccountKey {
    let key = |f: &str| {
        RistrettoPrivate::from_bytes(&hex::decode(v[f].as_str().unwrap()).unwrap()).unwrap()
    };
    let account = AccountKey::new(key("spend_private_hex"), key("view_private_hex"));
    let url = v["fog_report_url"].as_str().unwrap();
    if url.is_empty() {
        account
    } else {
        account.with_fog(
            url,
            v["fog_report_id"].as_str().unwrap(),
            &hex::decode(v["fog_authority_spki_hex"].as_str().unwrap()).unwrap(),
        )
    }
}

/// Checks each printed entry against the ledger: the TxOut at its index is the account's,
/// with that key image and value.
fn check_credits(ledger: &LedgerDb, printed: &Value, expected: &[(&AccountKey, u64)]) {
    let entries = printed.as_array().unwrap();
    assert_eq!(entries.len(), expected.len());
    for (entry, (account, value)) in entries.iter().zip(expected) {
        let index = entry["global_index"].as_u64().unwrap();
        let block = entry["block_index"].as_u64().unwrap();
        assert_eq!(ledger.block_index_of_tx_out(index).unwrap(), Some(block));
        let t = ledger.get_tx_out(index).unwrap().unwrap();
        let (amount, _) = t.view_key_match(account.view_private_key()).unwrap();
        assert_eq!(amount.value, *value);
        let ki = t
            .key_image(
                account.view_private_key(),
                &account.subaddress_spend_private(0),
            )
            .unwrap();
        assert_eq!(entry["key_image"].as_str().unwrap(), hex::encode(ki.0));
    }
}

#[test]
fn ledger_tool_init_and_add_block() {
    let seed = 11;
    println!("seed {seed}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let alice = AccountKey::random(&mut rng);
    let bob = AccountKey::random(&mut rng).with_fog("fog://fog.example.com", "", &[7; 44]);
    let ingest = RistrettoPrivate::random(&mut rng);
    let ingest_hex = hex::encode(ingest.public_key().as_bytes());
    let a = keyfile(dir.path(), "alice.json", &alice);
    let b = keyfile(dir.path(), "bob.json", &bob);
    let db = dir.path().join("ledger.redb");
    let db_s = db.to_str().unwrap();

    let printed = ok_json(&[
        "ledger-tool",
        "init",
        "--ledger-db",
        db_s,
        "--fund",
        &format!("{}:1000", a.display()),
        "--fund",
        &format!("{}:500:1", b.display()),
        "--fund",
        &format!("{}:300", a.display()),
        "--ingest-pubkey",
        &ingest_hex,
    ]);
    {
        let ledger = LedgerDb::open(&db).unwrap();
        check_credits(
            &ledger,
            &printed,
            &[(&alice, 1000), (&bob, 500), (&alice, 300)],
        );
    }
    let alice_first = printed[0]["key_image"].as_str().unwrap().to_string();

    let added = ok_json(&[
        "ledger-tool",
        "add-block",
        "--ledger-db",
        db_s,
        "--credit",
        &format!("{}:7", b.display()),
        "--credit",
        &format!("{}:9", a.display()),
        "--spend",
        &alice_first,
        "--ingest-pubkey",
        &ingest_hex,
    ]);
    {
        let ledger = LedgerDb::open(&db).unwrap();
        check_credits(&ledger, &added, &[(&bob, 7), (&alice, 9)]);
        let mut ki = [0u8; 32];
        ki.copy_from_slice(&hex::decode(&alice_first).unwrap());
        assert_eq!(ledger.check_key_image(&KeyImage(ki)).unwrap(), Some(1));
        // Bob's new TxOut carries a fog hint to the ingest key naming him.
        let t = ledger
            .get_tx_out(added[0]["global_index"].as_u64().unwrap())
            .unwrap()
            .unwrap();
        let mut hinted = [0u8; 32];
        assert!(bool::from(FogHint::ct_decrypt(
            &ingest,
            &t.e_fog_hint,
            &mut hinted
        )));
        assert_eq!(
            &hinted,
            bob.default_subaddress().view_public_key().as_bytes()
        );
    }

    // Without --spend, the block spends a fresh random key image.
    let more = ok_json(&[
        "ledger-tool",
        "add-block",
        "--ledger-db",
        db_s,
        "--credit",
        &format!("{}:1", a.display()),
    ]);
    assert_eq!(more[0]["block_index"], 2);

    // Spending the same key image again is refused, and nothing is written.
    let line = assert_input_error(&[
        "ledger-tool",
        "add-block",
        "--ledger-db",
        db_s,
        "--credit",
        &format!("{}:7", a.display()),
        "--spend",
        &alice_first,
    ]);
    assert!(line.contains("already spent"), "{line}");
    assert_eq!(LedgerDb::open(&db).unwrap().num_blocks().unwrap(), 3);
    // init never overwrites.
    assert_input_error(&[
        "ledger-tool",
        "init",
        "--ledger-db",
        db_s,
        "--fund",
        &format!("{}:1", a.display()),
    ]);
}

#[test]
fn generated_balances_match_a_scan_of_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    let out_s = out.to_str().unwrap();
    let args = [
        "generate-ledger",
        "--users",
        "20",
        "--fog-users",
        "8",
        "--blocks",
        "10",
        "--txouts-per-block",
        "20",
        "--seed",
        "7",
        "--out",
        out_s,
    ];
    println!("seed 7");
    let summary = ok_json(&args);
    assert_eq!(summary["tx_outs"], 200);

    let ingest_hex = std::fs::read_to_string(out.join("ingest-private.hex")).unwrap();
    let ingest = RistrettoPrivate::from_bytes(&hex::decode(ingest_hex.trim()).unwrap()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("ingest-private.hex"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let accounts: Vec<Value> = std::fs::read_to_string(out.join("accounts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(accounts.len(), 20);

    let ledger = LedgerDb::open(out.join("ledger.redb")).unwrap();
    assert_eq!(ledger.num_blocks().unwrap(), 10);
    let tx_outs = ledger.get_tx_outs(0..200).unwrap();
    let mut total = 0;
    for v in &accounts {
        let account = account_from_json(v);
        let is_fog = v["is_fog"].as_bool().unwrap();
        assert_eq!(is_fog, !account.fog_report_url().is_empty());
        let mut found: BTreeMap<String, u64> = BTreeMap::new();
        let mut count = 0;
        for t in &tx_outs {
            let Ok((amount, _)) = t.view_key_match(account.view_private_key()) else {
                continue;
            };
            *found.entry(amount.token_id.0.to_string()).or_default() += amount.value;
            count += 1;
            let mut hinted = [0u8; 32];
            let decrypted = bool::from(FogHint::ct_decrypt(&ingest, &t.e_fog_hint, &mut hinted));
            assert_eq!(decrypted, is_fog);
            if is_fog {
                assert_eq!(
                    &hinted,
                    account.default_subaddress().view_public_key().as_bytes()
                );
            }
        }
        let expected: BTreeMap<String, u64> =
            serde_json::from_value(v["expected_balance"].clone()).unwrap();
        assert_eq!(found, expected);
        assert_eq!(count, v["tx_out_count"].as_u64().unwrap());
        total += count;
    }
    assert_eq!(total, 200);
    let last_id = ledger.last_block().unwrap().unwrap().id;
    drop(ledger);

    // The same seed gives the same ledger and accounts.
    let again = dir.path().join("again");
    let mut args2 = args;
    args2[12] = again.to_str().unwrap();
    ok_json(&args2);
    assert_eq!(
        std::fs::read(out.join("accounts.jsonl")).unwrap(),
        std::fs::read(again.join("accounts.jsonl")).unwrap()
    );
    let ledger2 = LedgerDb::open(again.join("ledger.redb")).unwrap();
    assert_eq!(ledger2.last_block().unwrap().unwrap().id, last_id);

    // An existing ledger is never overwritten.
    assert_input_error(&args);
}

#[test]
fn node_starts_on_a_ledger_and_stops_on_ctrl_c() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let dir = tempfile::tempdir().unwrap();
    let alice = keyfile(dir.path(), "alice.json", &AccountKey::random(&mut rng));
    let db = dir.path().join("ledger.redb");
    let db_s = db.to_str().unwrap();
    ok_json(&[
        "ledger-tool",
        "init",
        "--ledger-db",
        db_s,
        "--fund",
        &format!("{}:5", alice.display()),
    ]);
    let mut child = fogd()
        .args(["node", "--ledger-db", db_s, "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.contains("fogd node listening"))
        .expect("the node logs its address");
    println!("{listening}");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    println!("{rest:?}");
    assert!(child.wait().unwrap().success());
    assert!(rest.iter().any(|l| l.contains("fogd node stopped")));
    // The ledger is closed and reopens.
    assert_eq!(LedgerDb::open(&db).unwrap().num_blocks().unwrap(), 1);
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.redb");
    let missing = missing.to_str().unwrap();
    let line = assert_input_error(&["node", "--ledger-db", missing, "--listen", "127.0.0.1:0"]);
    assert!(line.contains("ledger-tool init"), "{line}");
    assert_input_error(&["node", "--ledger-db", missing]);
    assert_input_error(&["no-such-command"]);
    assert_input_error(&[
        "ledger-tool",
        "init",
        "--ledger-db",
        missing,
        "--fund",
        "nowhere.json:5",
    ]);
    assert_input_error(&[
        "ledger-tool",
        "init",
        "--ledger-db",
        missing,
        "--fund",
        "no-amount",
    ]);
    assert_input_error(&[
        "ledger-tool",
        "add-block",
        "--ledger-db",
        missing,
        "--credit",
        "x.json:1",
        "--spend",
        "zz",
    ]);
    let out = dir.path().join("gen");
    for (users, fog) in [("0", "0"), ("3", "4")] {
        assert_input_error(&[
            "generate-ledger",
            "--users",
            users,
            "--fog-users",
            fog,
            "--blocks",
            "1",
            "--txouts-per-block",
            "1",
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
    }
    assert!(!Path::new(missing).exists());
}

#[test]
fn authority_new_writes_a_chain_whose_root_addresses_sign() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("authority");
    let o = run(&[
        "authority",
        "new",
        "--out",
        out.to_str().unwrap(),
        "--days",
        "30",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let spki = hex::decode(String::from_utf8(o.stdout).unwrap().trim()).unwrap();
    for f in [
        "root.pem",
        "intermediate.pem",
        "leaf.pem",
        "chain.pem",
        "leaf.key",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    // An address signed over this SPKI verifies against it; the signing config loads.
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([21; 32]);
    let account = AccountKey::random(&mut rng).with_fog("fog://fog.example", "", &spki);
    account
        .default_subaddress()
        .verify_fog_authority_sig(&spki)
        .unwrap();
    fog_report_server::SigningConfig::load(&out.join("chain.pem"), &out.join("leaf.key")).unwrap();
    // A second run never overwrites the keys.
    let again = run(&["authority", "new", "--out", out.to_str().unwrap()]);
    assert!(!again.status.success());
    let err = String::from_utf8(again.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn report_refuses_a_missing_chain_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let err = assert_input_error(&[
        "report",
        "--listen",
        "127.0.0.1:0",
        "--chain",
        missing.to_str().unwrap(),
        "--key",
        missing.to_str().unwrap(),
        "--recovery-db",
        "memory:",
    ]);
    assert!(err.contains("signing chain"), "{err}");
}

#[test]
fn ingest_processes_blocks_and_publishes_an_attested_report() {
    use fog_attest::{BoundEvidence, IdentityRule, Policy, TrustAnchor, UnixSeconds, Verifier};
    use fog_recovery_db::{BlockIndex, RecoveryDb, ReportDb, SqliteRecoveryDb};

    let mut rng = ChaCha20Rng::seed_from_u64(31);
    let dir = tempfile::tempdir().unwrap();
    let alice = keyfile(dir.path(), "alice.json", &AccountKey::random(&mut rng));
    let db = dir.path().join("ledger.redb");
    let db_s = db.to_str().unwrap();
    ok_json(&[
        "ledger-tool",
        "init",
        "--ledger-db",
        db_s,
        "--fund",
        &format!("{}:5", alice.display()),
    ]);
    let state = dir.path().join("state");
    // Read the ledger before ingest opens it (redb allows one process at a time).
    let outputs = LedgerDb::open(&db)
        .unwrap()
        .get_block_contents(0)
        .unwrap()
        .unwrap()
        .outputs
        .len();
    let mut child = fogd()
        .args([
            "ingest",
            "--ledger-db",
            db_s,
            "--state-dir",
            state.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let key_line = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.contains("ingress key"))
        .expect("ingest prints its ingress key");
    let ingress: [u8; 32] = hex::decode(key_line.rsplit(' ').next().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    // Wait until block 0 is in the recovery DB.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let recovery = SqliteRecoveryDb::open(state.join("recovery.db")).unwrap();
    let key = fog_crypto::CompressedRistrettoPublic(ingress);
    let mut records = None;
    for _ in 0..300 {
        records = rt
            .block_on(recovery.get_tx_outs_by_block_and_key(&key, BlockIndex(0)))
            .unwrap();
        if records.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if records.is_none() {
        let _ = child.kill();
    }
    assert_eq!(records.expect("ingest wrote block 0").len(), outputs);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    // The published report's evidence verifies under the simulated quoting key and binds the
    // ingress key.
    let reports = rt.block_on(recovery.get_all_reports()).unwrap();
    assert_eq!(reports.len(), 1);
    let bound = BoundEvidence::decode(&reports[0].1.evidence).unwrap();
    assert_eq!(bound.custom_identity, Some(ingress));
    let quoting: [u8; 32] = hex::decode(
        std::fs::read_to_string(state.join("sim-quoting.pub"))
            .unwrap()
            .trim(),
    )
    .unwrap()
    .try_into()
    .unwrap();
    let anchor =
        TrustAnchor::Simulation(ed25519_dalek::VerifyingKey::from_bytes(&quoting).unwrap());
    let fog_attest::Evidence::Simulation(sim) = &bound.evidence else {
        panic!("the ingest report's evidence is not simulated");
    };
    let identity = sim.identity;
    let verifier = Verifier::new(
        anchor,
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 600),
    );
    verifier.verify_bound(&bound, UnixSeconds::now()).unwrap();
}

#[test]
fn ingest_admin_api_off_loopback_without_a_token_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ledger = dir.path().join("ledger.redb");
    let line = assert_input_error(&[
        "ingest",
        "--ledger-db",
        ledger.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
    ]);
    assert!(line.contains("needs a token"), "{line}");
    assert!(!state.exists(), "nothing was created: {line}");
}
