//! `fogd local-network` run as a binary: the scripted demo passes on a new network and again
//! after a restart of the whole network from its directory; without `--demo` the network
//! serves the demo wallets as they are (checked with the wallet library, the code behind
//! `fog-wallet`), pinned by the attestation policy it writes, until SIGTERM; a directory that
//! is not a network is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use fog_wallet::{NetworkOverrides, Session, WalletFile};

use common::fogd;

fn demo(dir: &std::path::Path) -> Output {
    demo_with(dir, &[])
}

fn demo_with(dir: &std::path::Path, extra: &[&str]) -> Output {
    let started = Instant::now();
    let out = fogd()
        .args(["local-network", "--demo", "--base-port", "0"])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    println!(
        "demo in {:.1} s: {}\nstdout:\n{}\nstderr:\n{}",
        started.elapsed().as_secs_f64(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The balance lines of the demo's output, each as its words.
fn balance_lines(stdout: &str) -> Vec<Vec<&str>> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 10 && w[6] == "block" && w[7] == "count")
        .collect()
}

fn check_demo(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "the demo failed");
    assert!(stdout.contains("demo passed: 21 balances checked, every one exact"));
    assert!(!stdout.contains("WRONG") && !stdout.contains("not exact"));
    // Three wallets after the initial state and each of the six steps (five in MOB, one in
    // token 1, whose fee is paid in token 1).
    assert_eq!(stdout.matches(" exact\n").count(), 21, "{stdout}");
    assert_eq!(stdout.matches(": landed in block ").count(), 6);
    assert!(
        stdout.contains("carol pays bob 400000 (token 1) (fee 1024 (token 1)): landed in block"),
        "{stdout}"
    );
    assert!(stdout.contains("received from carol (authenticated)"));
    stdout
}

#[test]
fn the_demo_passes_and_passes_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let first = check_demo(&demo(&net));
    assert!(first.contains("Fog local network created in"));
    let lines = balance_lines(&first);
    assert_eq!(lines.len(), 21, "{first}");
    for line in &lines[..3] {
        assert_eq!(
            line[1..],
            ["100", "MOB", "3000000", "(token", "1)", "block", "count", "1", "exact"]
        );
    }
    // After the last step: carol paid 400000 and the fee 1024 in token 1, bob got 400000.
    let last: Vec<&[&str]> = lines[18..].iter().map(|l| &l[..6]).collect();
    assert_eq!(last[1][3], "3400000", "{first}");
    assert_eq!(last[2][3], "2598976", "{first}");

    // The same directory again: the services resume, the wallets keep their state, and the
    // script starts from the balances the ledger holds now.
    let second = check_demo(&demo(&net));
    assert!(second.contains("Fog local network started again in"));
    assert!(second.contains("(7 blocks)"), "{second}");
    let lines = balance_lines(&second);
    assert_eq!(lines[0][8], "7", "{second}");
    assert_ne!(
        lines[0][1], "100",
        "alice's balance is what the first demo left"
    );

    for name in ["alice", "bob", "carol"] {
        let w = WalletFile::load(&net.join("wallets").join(format!("{name}.json"))).unwrap();
        assert!(w.client_state.is_some(), "{name} has no client state");
        assert_eq!(w.contacts.len(), 2);
        assert!(w.network.is_some());
    }
}

#[test]
fn the_network_serves_the_demo_wallets_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let mut child = fogd()
        .args(["local-network", "--base-port", "0", "--dir"])
        .arg(&net)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "fogd exited early:\n{printed}"
        );
        printed.push_str(&line);
        if line.starts_with("Ctrl-C stops the network") {
            break;
        }
    }
    println!("{printed}");
    let alice = net.join("wallets").join("alice.json");
    assert!(printed.contains(&format!(
        "cargo run -p fog-wallet -- --wallet {} balance",
        alice.display()
    )));
    assert!(printed.contains("send --to bob --amount 2.5"));
    assert!(printed.contains("send --to bob --amount 250000 --token 1"));
    assert!(
        printed.contains("each funded with 100 MOB and 3000000 (token 1) at creation"),
        "{printed}"
    );

    // The network writes its attestation policy, and its wallets are pinned by it.
    let policy_path = net.join("state").join("attestation-policy.toml");
    assert!(
        printed.contains(&format!("attestation policy {}", policy_path.display()))
            && printed.contains(&format!("--attestation-policy {}", policy_path.display())),
        "{printed}"
    );
    let policy = fog_attest::policy_file::PolicyFile::read(&policy_path).unwrap();
    let quoting = std::fs::read_to_string(net.join("state").join("sim-quoting.pub")).unwrap();
    assert_eq!(
        policy.anchors.simulation_key.as_deref(),
        Some(quoting.trim())
    );
    let stored = WalletFile::load(&alice).unwrap().network.unwrap();
    assert_eq!(stored.attestation_key, "");
    assert_eq!(
        fog_attest::policy_file::PolicyFile::parse(stored.attestation_policy.as_deref().unwrap())
            .unwrap(),
        policy
    );

    // The wallet file works as it is: the stored addresses and policy reach the services, and
    // the balance is the funding.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut session = Session::open(&alice, &NetworkOverrides::default(), false).unwrap();
    let balance = runtime.block_on(session.balance(|_| {})).unwrap();
    assert_eq!(balance.block_count, 1);
    assert_eq!(balance.of(0), 100 * 1_000_000_000_000);
    // Token 1 too, which the node takes at the local network's minimum fee.
    assert_eq!(balance.of(1), 3 * 1_000_000);
    let fee = runtime
        .block_on(session.minimum_fee(fog_transaction::TokenId(1)))
        .unwrap();
    assert_eq!(fee.value, 1024);
    drop(session);

    // The policy file given as `--attestation-policy` does too; one whose view rule names
    // another measurement is refused.
    let given = |path: &std::path::Path| NetworkOverrides {
        attestation_policy: Some(fog_wallet::network::read_attestation_policy(path).unwrap()),
        ..NetworkOverrides::default()
    };
    let bob = net.join("wallets").join("bob.json");
    let mut session = Session::open(&bob, &given(&policy_path), false).unwrap();
    let balance = runtime.block_on(session.balance(|_| {})).unwrap();
    assert_eq!(balance.of(0), 100 * 1_000_000_000_000);
    drop(session);
    let mut other = policy.clone();
    other.view = vec![fog_attest::policy_file::RuleEntry::Sim {
        measurement: "11".repeat(32),
    }];
    let other_path = dir.path().join("other-policy.toml");
    std::fs::write(&other_path, other.to_toml()).unwrap();
    let mut session = Session::open(&bob, &given(&other_path), false).unwrap();
    let err = runtime
        .block_on(session.balance(|_| {}))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fog view at ")
            && err.contains("failed attestation")
            && err.contains("enclave measurement not allowed by policy"),
        "{err}"
    );

    // SIGTERM stops it cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "fogd did not stop within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(exit.success(), "{exit}: {rest}");
    assert!(rest.contains("Stopped."), "{rest}");
}

#[test]
fn a_directory_that_is_not_a_network_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("something"), b"x").unwrap();
    let out = fogd()
        .args(["local-network", "--base-port", "0", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("holds no local network"));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// The services as separate processes, on the network's SQLite file and on Postgres, across a
/// restart; a Postgres network refuses to start in one process.
#[test]
fn the_demo_passes_with_every_service_a_process_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let first = check_demo(&demo_with(&net, &["--processes"]));
    assert!(first.contains("each service is a fogd process"), "{first}");
    for name in ["node", "ingest", "view", "ledger", "report"] {
        let log = std::fs::read_to_string(net.join("logs").join(format!("{name}.log"))).unwrap();
        assert!(
            log.contains("stopped"),
            "fogd {name} did not stop cleanly: {log}"
        );
    }
    // Ingest and fog ledger followed the node into copies of their own.
    assert!(net.join("ingest").join("ledger.redb").exists());
    assert!(net.join("fog-ledger").join("ledger.redb").exists());

    let Some(db) = fog_test_support::postgres::TempDatabase::create() else {
        return;
    };
    let pg = dir.path().join("pg");
    let args = ["--processes", "--recovery-db", db.url()];
    check_demo(&demo_with(&pg, &args));
    let again = check_demo(&demo_with(&pg, &args));
    assert!(again.contains("(7 blocks)"), "{again}");
    let one_process = demo(&pg);
    assert_eq!(one_process.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&one_process.stderr).contains("--processes --recovery-db"));
    // The password-free URL is never stored in the network's directory.
    let layout = std::fs::read_to_string(pg.join("local-network.json")).unwrap();
    assert!(!layout.contains("postgres://"), "{layout}");
}
