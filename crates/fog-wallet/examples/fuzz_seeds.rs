//! Writes the seed corpus of the `wallet_file` fuzz target: wallet files of both versions,
//! authority keys in DER and PEM, and base64 text, each behind the target's selector byte.
//!
//! `cargo run -p fog-wallet --example fuzz_seeds -- fuzz/seeds` (from the workspace root)
//! writes `fuzz/seeds/wallet_file/*.bin`.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use fog_account::b58_encode_public_address;
use fog_client::AccountState;
use fog_wallet::spki::base64_encode;
use fog_wallet::{FogSettings, NetworkSettings, WalletFile};
use zeroize::Zeroizing;

/// The target's selectors.
const WALLET: u8 = 0;
const SPKI: u8 = 1;
const BASE64: u8 = 2;

/// The BIP39 test phrase (all-zero entropy).
const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                      abandon abandon about";

fn write(dir: &Path, name: &str, selector: u8, body: &[u8]) {
    let mut bytes = vec![selector];
    bytes.extend_from_slice(body);
    std::fs::write(dir.join(format!("{name}.bin")), bytes).expect("write a seed");
}

/// An Ed25519 SubjectPublicKeyInfo, DER.
fn ed25519_spki(key: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(key);
    der
}

fn main() {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| "fuzz/seeds".into(), Into::into);
    let dir = root.join("wallet_file");
    std::fs::create_dir_all(&dir).expect("create the seed directory");

    let v1 = format!("{{\"version\": 1, \"mnemonic\": \"{PHRASE}\", \"account_index\": 0}}");
    write(&dir, "wallet-v1", WALLET, v1.as_bytes());

    let spki = ed25519_spki(&[7; 32]);
    let fog = FogSettings {
        report_url: "fog://fog.example.com".into(),
        report_id: String::new(),
        authority_spki: spki.clone(),
    };
    let with_fog = WalletFile::new(Zeroizing::new(PHRASE.into()), 3, Some(fog.clone()));
    write(
        &dir,
        "wallet-v2-fog",
        WALLET,
        &serde_json::to_vec(&with_fog).expect("json"),
    );

    let mut full = WalletFile::new(Zeroizing::new(PHRASE.into()), 0, Some(fog));
    let contact = full
        .fog_account_key()
        .expect("the test phrase is valid")
        .default_subaddress();
    full.contacts
        .insert("me".into(), b58_encode_public_address(&contact));
    let attestation = fog_attest::ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    full.network = Some(NetworkSettings {
        node_url: "http://127.0.0.1:3223".into(),
        view_url: "http://127.0.0.1:3225".into(),
        ledger_url: "https://ledger.example.com".into(),
        attestation_key: hex::encode(attestation.verifying_key().as_bytes()),
        attestation_policy: None,
    });
    let mut state = AccountState::new();
    state.view_block_count = 12;
    state.last_seen_view_block_count = 12;
    state.next_user_event_id = 3;
    full.client_state = Some(state.to_bytes());
    write(
        &dir,
        "wallet-v2-full",
        WALLET,
        &serde_json::to_vec_pretty(&full).expect("json"),
    );

    write(&dir, "spki-der", SPKI, &spki);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64_encode(&spki)
    );
    write(&dir, "spki-pem", SPKI, pem.as_bytes());

    write(
        &dir,
        "base64",
        BASE64,
        base64_encode(b"fog wallet").as_bytes(),
    );
    write(&dir, "base64-lines", BASE64, b"Zm9v\nYmFy\n");
}
