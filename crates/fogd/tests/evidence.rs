//! `--evidence`: a service told to take its evidence from configfs-tsm needs a peer policy,
//! and outside a confidential VM stops at start with the reason; a bad policy file is named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_input_error, run};
use fog_attest::policy_file::PolicyFile;

fn policy_file(dir: &std::path::Path) -> std::path::PathBuf {
    let key = fog_attest::ed25519_dalek::SigningKey::from_bytes(&[4; 32]).verifying_key();
    let path = dir.join("peers.toml");
    std::fs::write(&path, PolicyFile::simulated(&key).to_toml()).unwrap();
    path
}

fn view_args<'a>(state: &'a str, db: &'a str) -> Vec<&'a str> {
    vec![
        "view",
        "--recovery-db",
        db,
        "--state-dir",
        state,
        "--listen",
        "127.0.0.1:0",
        "--evidence",
        "configfs-tsm",
    ]
}

#[test]
fn configfs_tsm_evidence_needs_a_peer_policy_and_a_confidential_vm() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let db = format!("sqlite://{}", dir.path().join("recovery.db").display());
    let state_s = state.to_str().unwrap();

    let line = assert_input_error(&view_args(state_s, &db));
    assert!(line.contains("--peer-policy"), "{line}");

    // With a policy, on a machine with no configfs-tsm: refused at start, saying why.
    let policy = policy_file(dir.path());
    let missing = dir.path().join("no-tsm");
    let mut args = view_args(state_s, &db);
    args.extend([
        "--peer-policy",
        policy.to_str().unwrap(),
        "--tsm-report-dir",
        missing.to_str().unwrap(),
    ]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("configfs-tsm") && stderr.contains("confidential VM"),
        "{stderr}"
    );

    // The same for a router.
    let out = run(&[
        "view-router",
        "--state-dir",
        state_s,
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--evidence",
        "configfs-tsm",
        "--peer-policy",
        policy.to_str().unwrap(),
        "--tsm-report-dir",
        missing.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1) && stderr.contains("confidential VM"),
        "{stderr}"
    );
}

#[test]
fn a_bad_peer_policy_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let db = format!("sqlite://{}", dir.path().join("recovery.db").display());
    let bad = dir.path().join("bad.toml");
    // No ingest rule.
    std::fs::write(
        &bad,
        format!(
            "[anchors]\nintel = true\n[[view]]\nplatform = \"sgx\"\nmrenclave = \"{0}\"\n\
             [[ledger]]\nplatform = \"sgx\"\nmrenclave = \"{0}\"\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let mut args = view_args(state.to_str().unwrap(), &db);
    args.extend(["--peer-policy", bad.to_str().unwrap()]);
    let line = assert_input_error(&args);
    assert!(
        line.contains("bad.toml") && line.contains("[[ingest]]"),
        "{line}"
    );
}
