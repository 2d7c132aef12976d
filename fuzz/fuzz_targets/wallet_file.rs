//! fog-wallet's inputs from files: the wallet file (JSON, `WalletFile::from_bytes`, with what
//! opening a session does next: network settings, stored client state, contacts), the fog
//! authority's SubjectPublicKeyInfo (DER or PEM) and the base64 inside both. The first byte
//! picks the decoder; a wallet written back reads back the same, and DER, PEM and base64
//! round-trip.
#![no_main]

use std::path::Path;

use fog_client::AccountState;
use fog_wallet::spki::{base64_decode, base64_encode, parse_spki};
use fog_wallet::WalletFile;
use libfuzzer_sys::fuzz_target;

fn wallet(bytes: &[u8]) {
    let path = Path::new("fuzz-wallet.json");
    let Ok(w) = WalletFile::from_bytes(bytes, path) else {
        return;
    };
    let written = serde_json::to_vec(&w).expect("a wallet serializes");
    let back = WalletFile::from_bytes(&written, path).expect("a wallet written back reads");
    assert_eq!(
        serde_json::to_vec(&back).expect("a wallet serializes"),
        written
    );
    // What `Session::open` does with the file once it has read it (no connection is made).
    if let Some(network) = &w.network {
        network
            .grpc_config()
            .expect("checked settings give a transport");
        network
            .client_config()
            .expect("checked settings give a client");
    }
    if let Some(state) = &w.client_state {
        let _ = AccountState::from_bytes(state);
    }
    assert_eq!(w.contact_addresses().len(), w.contacts.len());
}

fn spki(bytes: &[u8]) {
    let Ok(der) = parse_spki(bytes) else {
        return;
    };
    assert_eq!(parse_spki(&der).as_ref(), Ok(&der));
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64_encode(&der)
    );
    assert_eq!(parse_spki(pem.as_bytes()).as_ref(), Ok(&der));
}

fn base64(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Some(decoded) = base64_decode(text) else {
        return;
    };
    let encoded = base64_encode(&decoded);
    assert_eq!(base64_decode(&encoded).as_ref(), Some(&decoded));
    // Padding and trailing bits are checked, so without whitespace the text is the one
    // encoding of its bytes.
    if !text.bytes().any(|b| b.is_ascii_whitespace()) {
        assert_eq!(encoded, text);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => wallet(rest),
        1 => spki(rest),
        _ => base64(rest),
    }
});
