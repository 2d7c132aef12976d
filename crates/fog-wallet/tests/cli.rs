//! Drives the built `fog-wallet` binary in a fresh temporary directory per test.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
};

use fog_account::{b58_decode_public_address, AccountKey, PublicAddress};

const BIP39_PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                            abandon abandon abandon about";

/// An Ed25519 SubjectPublicKeyInfo (44 bytes, key bytes all 7), and the same as PEM.
fn spki_der() -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(&[7u8; 32]);
    der
}
const SPKI_PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
                        MCowBQYDK2VwAyEABwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\
                        -----END PUBLIC KEY-----\n";

/// A unique empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "fog-wallet-test-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create the test directory");
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn wallet(&self) -> PathBuf {
        self.0.join("fog-wallet.json")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the wallet in `dir` with `$FOG_WALLET` unset and `stdin` as standard input.
fn run(dir: &TempDir, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fog-wallet"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("FOG_WALLET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fog-wallet");
    // The wallet may exit without reading its input (e.g. when it refuses to overwrite), so a
    // closed pipe is not an error of the test.
    let written = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes());
    if let Err(e) = written {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "write to stdin: {e}"
        );
    }
    child.wait_with_output().expect("wait for fog-wallet")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}, stderr: {}",
        out.status,
        stderr(out)
    );
}

/// Exit code 2 and exactly one stderr line starting with `error: `.
fn assert_one_line_error(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(out));
    assert!(err.starts_with("error: "), "{err:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.ends_with('\n'));
    err
}

/// The b58 address on the last line of stdout, decoded.
fn last_line_address(out: &Output) -> PublicAddress {
    let text = stdout(out);
    let line = text.lines().last().expect("stdout has a line");
    b58_decode_public_address(line).expect("the last line is a b58 address")
}

fn wallet_json(dir: &TempDir) -> serde_json::Value {
    let bytes = std::fs::read(dir.wallet()).expect("read the wallet file");
    serde_json::from_slice(&bytes).expect("the wallet file is JSON")
}

#[test]
fn keys_new_then_address_round_trips() {
    let dir = TempDir::new();
    let out = run(&dir, &["keys", "new"], "");
    assert_ok(&out);
    let printed = last_line_address(&out);
    let text = stdout(&out);
    assert!(
        text.contains("Write down this 24-word recovery phrase"),
        "{text}"
    );

    let json = wallet_json(&dir);
    assert_eq!(json["version"], 2);
    assert_eq!(json["account_index"], 0);
    let phrase = json["mnemonic"].as_str().unwrap();
    assert_eq!(phrase.split(' ').count(), 24);
    assert!(text.contains(phrase), "the phrase is printed once");
    let expected = AccountKey::from_mnemonic(phrase, 0)
        .unwrap()
        .default_subaddress();
    assert_eq!(printed, expected);

    let out = run(&dir, &["address"], "");
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 1);
    assert_eq!(last_line_address(&out), expected);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn wallet_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    assert_ok(&run(&dir, &["keys", "new"], ""));
    let mode = std::fs::metadata(dir.wallet())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn from_mnemonic_restores_the_bip39_account() {
    let dir = TempDir::new();
    let out = run(
        &dir,
        &["keys", "from-mnemonic", "--account-index", "0"],
        &format!("{BIP39_PHRASE}\n"),
    );
    assert_ok(&out);
    let expected = AccountKey::from_mnemonic(BIP39_PHRASE, 0)
        .unwrap()
        .default_subaddress();
    let printed = last_line_address(&out);
    assert_eq!(printed.view_public_key(), expected.view_public_key());
    assert_eq!(printed.spend_public_key(), expected.spend_public_key());
    assert_eq!(printed, expected);
    assert!(
        !stdout(&out).contains("abandon"),
        "the phrase is not echoed"
    );

    let out = run(&dir, &["address"], "");
    assert_ok(&out);
    assert_eq!(last_line_address(&out), expected);
}

#[test]
fn from_mnemonic_normalizes_whitespace_and_case_and_honours_account_index() {
    let dir = TempDir::new();
    let messy = format!("  {}  \n", BIP39_PHRASE.to_uppercase().replace(' ', " \t "));
    let wallet = dir.path().join("other.json");
    let wallet = wallet.to_str().unwrap();
    let out = run(
        &dir,
        &[
            "keys",
            "from-mnemonic",
            "--account-index",
            "5",
            "--wallet",
            wallet,
        ],
        &messy,
    );
    assert_ok(&out);
    let expected = AccountKey::from_mnemonic(BIP39_PHRASE, 5).unwrap();
    assert_eq!(last_line_address(&out), expected.default_subaddress());
    assert_ne!(
        expected.default_subaddress(),
        AccountKey::from_mnemonic(BIP39_PHRASE, 0)
            .unwrap()
            .default_subaddress()
    );

    // The wallet named in $FOG_WALLET is used when --wallet is absent.
    let out = Command::new(env!("CARGO_BIN_EXE_fog-wallet"))
        .args(["address", "--subaddress", "change"])
        .current_dir(dir.path())
        .env("FOG_WALLET", wallet)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(last_line_address(&out), expected.change_subaddress());
}

#[test]
fn subaddress_words_and_numbers() {
    let dir = TempDir::new();
    assert_ok(&run(&dir, &["keys", "from-mnemonic"], BIP39_PHRASE));
    let account = AccountKey::from_mnemonic(BIP39_PHRASE, 0).unwrap();
    for (arg, expected) in [
        ("default", account.default_subaddress()),
        ("0", account.default_subaddress()),
        ("7", account.subaddress(7)),
        ("change", account.change_subaddress()),
        ("gift-code", account.gift_code_subaddress()),
    ] {
        let out = run(&dir, &["address", "--subaddress", arg], "");
        assert_ok(&out);
        assert_eq!(last_line_address(&out), expected, "--subaddress {arg}");
    }
    let err = assert_one_line_error(&run(&dir, &["address", "--subaddress", "savings"], ""));
    assert!(err.contains("--subaddress"), "{err}");
}

#[test]
fn invalid_mnemonics_give_one_line_and_code_2() {
    let dir = TempDir::new();
    let eleven = BIP39_PHRASE.rsplit_once(' ').unwrap().0.to_owned();
    let bad_checksum = "abandon ".repeat(11) + "abandon";
    let unknown_word = "abandon ".repeat(11) + "zyzzyva";
    for (input, hint) in [
        (eleven.as_str(), "word count"),
        (bad_checksum.as_str(), "checksum"),
        (unknown_word.as_str(), "not in the English BIP39 list"),
        ("", "no mnemonic"),
    ] {
        let out = run(&dir, &["keys", "from-mnemonic"], &format!("{input}\n"));
        let err = assert_one_line_error(&out);
        assert!(err.contains(hint), "{err}");
        assert!(
            !err.contains("abandon") && !err.contains("zyzzyva"),
            "{err}"
        );
        assert!(!dir.wallet().exists(), "nothing written for {input:?}");
    }
}

#[test]
fn fog_address_verifies_with_der_and_pem_keys() {
    let dir = TempDir::new();
    let der = spki_der();
    std::fs::write(dir.path().join("authority.der"), &der).unwrap();
    std::fs::write(dir.path().join("authority.pem"), SPKI_PEM).unwrap();
    assert_ok(&run(&dir, &["keys", "from-mnemonic"], BIP39_PHRASE));
    let account = AccountKey::from_mnemonic(BIP39_PHRASE, 0).unwrap();

    let mut addresses = Vec::new();
    for file in ["authority.der", "authority.pem"] {
        let out = run(
            &dir,
            &[
                "address",
                "--fog-report-url",
                "fog://fog.example.com",
                "--fog-authority-spki",
                file,
                "--fog-report-id",
                "7",
            ],
            "",
        );
        assert_ok(&out);
        let addr = last_line_address(&out);
        assert_eq!(addr.fog_report_url(), Some("fog://fog.example.com"));
        assert_eq!(addr.fog_report_id(), "7");
        addr.verify_fog_authority_sig(&der).unwrap();
        assert!(addr.verify_fog_authority_sig(b"another key").is_err());
        assert_eq!(
            addr.view_public_key(),
            account.default_subaddress().view_public_key()
        );
        addresses.push(addr);
    }
    assert_eq!(addresses[0], addresses[1]);
    assert_eq!(
        addresses[0],
        AccountKey::from_mnemonic(BIP39_PHRASE, 0)
            .unwrap()
            .with_fog("fog://fog.example.com", "7", &der)
            .default_subaddress()
    );
}

#[test]
fn fog_settings_stored_by_keys_are_used_by_address() {
    let dir = TempDir::new();
    let der = spki_der();
    std::fs::write(dir.path().join("authority.pem"), SPKI_PEM).unwrap();
    let out = run(
        &dir,
        &[
            "keys",
            "from-mnemonic",
            "--fog-report-url",
            "fog://fog.example.com",
            "--fog-authority-spki",
            "authority.pem",
        ],
        BIP39_PHRASE,
    );
    assert_ok(&out);
    let account = AccountKey::from_mnemonic(BIP39_PHRASE, 0)
        .unwrap()
        .with_fog("fog://fog.example.com", "", &der);
    assert_eq!(last_line_address(&out), account.default_subaddress());
    assert_eq!(
        wallet_json(&dir)["fog"]["authority_spki"],
        hex::encode(&der)
    );

    let out = run(&dir, &["address", "--subaddress", "3"], "");
    assert_ok(&out);
    let addr = last_line_address(&out);
    assert_eq!(addr, account.subaddress(3));
    addr.verify_fog_authority_sig(&der).unwrap();

    let out = run(&dir, &["address", "--no-fog"], "");
    assert_ok(&out);
    assert_eq!(last_line_address(&out).fog_report_url(), None);

    let out = run(&dir, &["address", "--fog-report-id", "2"], "");
    assert_ok(&out);
    assert_eq!(last_line_address(&out).fog_report_id(), "2");
}

#[test]
fn fog_flags_must_come_in_pairs_and_be_valid() {
    let dir = TempDir::new();
    std::fs::write(dir.path().join("authority.der"), spki_der()).unwrap();
    std::fs::write(dir.path().join("not-a-key"), "hello").unwrap();
    assert_ok(&run(&dir, &["keys", "from-mnemonic"], BIP39_PHRASE));
    for args in [
        &["address", "--fog-report-url", "fog://fog.example.com"][..],
        &["address", "--fog-authority-spki", "authority.der"][..],
        &["address", "--fog-report-id", "1"][..],
        &["address", "--no-fog", "--fog-report-id", "1"][..],
        &[
            "address",
            "--fog-report-url",
            "https://fog.example.com",
            "--fog-authority-spki",
            "authority.der",
        ][..],
        &[
            "address",
            "--fog-report-url",
            "fog://fog.example.com",
            "--fog-authority-spki",
            "not-a-key",
        ][..],
        &[
            "address",
            "--fog-report-url",
            "fog://fog.example.com",
            "--fog-authority-spki",
            "missing.der",
        ][..],
    ] {
        let out = run(&dir, args, "");
        assert_one_line_error(&out);
    }
}

#[test]
fn overwrite_is_refused_without_force() {
    let dir = TempDir::new();
    assert_ok(&run(&dir, &["keys", "new"], ""));
    let before = std::fs::read(dir.wallet()).unwrap();

    let err = assert_one_line_error(&run(&dir, &["keys", "new"], ""));
    assert!(err.contains("--force"), "{err}");
    let err = assert_one_line_error(&run(&dir, &["keys", "from-mnemonic"], BIP39_PHRASE));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(dir.wallet()).unwrap(), before);

    assert_ok(&run(
        &dir,
        &["keys", "from-mnemonic", "--force"],
        BIP39_PHRASE,
    ));
    assert_ne!(std::fs::read(dir.wallet()).unwrap(), before);
    assert_eq!(wallet_json(&dir)["mnemonic"], BIP39_PHRASE);
}

#[test]
fn missing_or_broken_wallet_gives_one_line_and_code_2() {
    let dir = TempDir::new();
    let err = assert_one_line_error(&run(&dir, &["address"], ""));
    assert!(err.contains("no wallet at"), "{err}");

    // A wallet whose fields are mistyped: the error gives a position, never the values.
    let secret = "abandon ".repeat(11) + "about";
    std::fs::write(
        dir.wallet(),
        format!("{{\"version\": 1, \"mnemonic\": 3, \"account_index\": \"{secret}\"}}"),
    )
    .unwrap();
    let err = assert_one_line_error(&run(&dir, &["address"], ""));
    assert!(!err.contains("abandon"), "{err}");

    std::fs::write(dir.wallet(), "{\"version\": 9}").unwrap();
    let err = assert_one_line_error(&run(&dir, &["address"], ""));
    assert!(err.contains("version 9"), "{err}");

    let bad = format!(
        "{{\"version\": 1, \"mnemonic\": \"{bad}\", \"account_index\": 0}}",
        bad = "abandon ".repeat(12).trim_end()
    );
    std::fs::write(dir.wallet(), bad).unwrap();
    let err = assert_one_line_error(&run(&dir, &["address"], ""));
    assert!(!err.contains("abandon"), "{err}");
}

#[test]
fn usage_errors_are_one_line() {
    let dir = TempDir::new();
    for args in [
        &["address", "--bogus"][..],
        &["keys", "new", "--account-index", "2147483648"][..],
        &["keys", "frobnicate"][..],
    ] {
        assert_one_line_error(&run(&dir, args, ""));
    }
}

#[test]
fn attestation_policy_files_are_checked_and_kept_in_the_wallet() {
    use fog_attest::{ed25519_dalek::SigningKey, policy_file::PolicyFile};
    let dir = TempDir::new();
    let policy = PolicyFile::simulated(&SigningKey::from_bytes(&[5; 32]).verifying_key());
    let urls = [
        "--node-url",
        "http://127.0.0.1:1",
        "--view-url",
        "http://127.0.0.1:2",
        "--ledger-url",
        "http://127.0.0.1:3",
    ];
    let keys_new = |policy_file: &str, extra: &[&str]| {
        let mut args = vec!["keys", "new", "--force"];
        args.extend(urls);
        args.extend(["--attestation-policy", policy_file]);
        args.extend(extra);
        run(&dir, &args, "")
    };

    // Unreadable, not TOML, or without an ingest rule: one line naming the file, nothing
    // written.
    let mut no_ingest = policy.clone();
    no_ingest.ingest.clear();
    std::fs::write(dir.path().join("no-ingest.toml"), no_ingest.to_toml()).unwrap();
    std::fs::write(dir.path().join("garbage.toml"), "view = [").unwrap();
    for (file, says) in [
        ("missing.toml", "cannot read"),
        ("garbage.toml", "--attestation-policy"),
        ("no-ingest.toml", "[[ingest]]"),
    ] {
        let err = assert_one_line_error(&keys_new(file, &[]));
        assert!(err.contains(file) && err.contains(says), "{err}");
        assert!(!dir.wallet().exists());
    }

    // With a key as well: refused.
    std::fs::write(dir.path().join("policy.toml"), policy.to_toml()).unwrap();
    let key = "ab".repeat(32);
    let err = assert_one_line_error(&keys_new("policy.toml", &["--attestation-key", &key]));
    assert!(err.contains("--attestation-key"), "{err}");

    // A good policy is kept (its text), with no key.
    assert_ok(&keys_new("policy.toml", &[]));
    let network = &wallet_json(&dir)["network"];
    assert_eq!(network["attestation_key"], "");
    assert_eq!(
        PolicyFile::parse(network["attestation_policy"].as_str().unwrap()).unwrap(),
        policy
    );
}
