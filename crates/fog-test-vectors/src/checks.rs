//! The checks, one function per vector file.

use std::collections::BTreeMap;

use fog_account::{AccountKey, PublicAddress, RootEntropy, ViewAccountKey};
use fog_crypto::{
    crypto_box::{self, CryptoBoxError},
    kex_rng::{KexRng, KexRngPubkey, StoredRng},
    RistrettoPrivate, RistrettoPublic,
};
use prost::Message;

use crate::{ensure, ensure_eq_bytes, Case, CheckResult, Owner};

mod ledger;
mod transaction;

pub(crate) fn registry() -> BTreeMap<&'static str, Owner> {
    let mut r: BTreeMap<&'static str, Owner> = BTreeMap::new();
    r.insert(
        "account_keys/acct_priv_keys_from_root_entropy.jsonl",
        Owner::Checked(acct_from_root_entropy),
    );
    r.insert(
        "account_keys/acct_priv_keys_from_bip39.jsonl",
        Owner::Checked(acct_from_bip39),
    );
    r.insert(
        "account_keys/default_subaddr_keys_from_acct_priv_keys.jsonl",
        Owner::Checked(default_subaddress),
    );
    r.insert(
        "account_keys/subaddr_keys_from_acct_priv_keys.jsonl",
        Owner::Checked(indexed_subaddress),
    );
    r.insert(
        "b58_encodings/b58_encode_public_address_without_fog.jsonl",
        Owner::Checked(b58_without_fog),
    );
    r.insert(
        "b58_encodings/b58_encode_public_address_with_fog.jsonl",
        Owner::Checked(b58_with_fog),
    );
    r.insert(
        "crypto_box/decrypt.jsonl",
        Owner::Checked(crypto_box_decrypt),
    );
    r.insert(
        "crypto_box/decrypt_fail.jsonl",
        Owner::Checked(crypto_box_decrypt_fail),
    );
    r.insert("kex_rng/outputs.jsonl", Owner::Checked(kex_rng_outputs));
    r.insert(
        "digest/public_address_short_hash.jsonl",
        Owner::Checked(short_address_hash),
    );
    transaction::register(&mut r);
    ledger::register(&mut r);
    r
}

pub(crate) fn private(bytes: &[u8]) -> Result<RistrettoPrivate, String> {
    RistrettoPrivate::from_bytes(bytes).map_err(|e| format!("private key: {e}"))
}

pub(crate) fn public(bytes: &[u8]) -> Result<RistrettoPublic, String> {
    RistrettoPublic::from_bytes(bytes).map_err(|e| format!("public key: {e}"))
}

/// An account given as `{view_private_hex, spend_private_hex, fog_report_url, fog_report_id,
/// fog_authority_spki_hex}`.
pub(crate) fn account(c: &Case<'_>) -> Result<AccountKey, String> {
    Ok(AccountKey::new(
        private(&c.hex("spend_private_hex")?)?,
        private(&c.hex("view_private_hex")?)?,
    )
    .with_fog(
        c.str("fog_report_url")?,
        c.str("fog_report_id")?,
        &c.hex("fog_authority_spki_hex")?,
    ))
}

pub(crate) fn address_from_proto(bytes: &[u8]) -> Result<PublicAddress, String> {
    PublicAddress::decode(bytes).map_err(|e| format!("address protobuf: {e}"))
}

fn compare_keys(c: &Case<'_>, account: &AccountKey) -> CheckResult {
    ensure_eq_bytes(
        "view private key",
        &account.view_private_key().to_bytes()[..],
        &c.bytes("view_private_key")?,
    )?;
    ensure_eq_bytes(
        "spend private key",
        &account.spend_private_key().to_bytes()[..],
        &c.bytes("spend_private_key")?,
    )
}

fn acct_from_root_entropy(c: &Case<'_>) -> CheckResult {
    let entropy = RootEntropy::from_bytes(&c.bytes("root_entropy")?).map_err(|e| e.to_string())?;
    compare_keys(c, &AccountKey::from_root_entropy(&entropy))
}

fn acct_from_bip39(c: &Case<'_>) -> CheckResult {
    let phrase = c.str("mnemonic")?;
    let index = u32::try_from(c.u64("account_index")?).map_err(|e| e.to_string())?;
    // The wordlist decoder must agree with the recorded entropy.
    ensure_eq_bytes(
        "mnemonic entropy",
        &bip39_entropy(phrase)?,
        &c.bytes("entropy")?,
    )?;
    let account = AccountKey::from_mnemonic(phrase, index).map_err(|e| e.to_string())?;
    compare_keys(c, &account)
}

fn bip39_entropy(phrase: &str) -> Result<Vec<u8>, String> {
    bip39::Mnemonic::parse_in(bip39::Language::English, phrase)
        .map(|m| m.to_entropy())
        .map_err(|e| format!("mnemonic: {e}"))
}

fn subaddress_checks(c: &Case<'_>, index: u64) -> CheckResult {
    let account = AccountKey::new(
        private(&c.bytes("spend_private_key")?)?,
        private(&c.bytes("view_private_key")?)?,
    );
    ensure_eq_bytes(
        "subaddress view private",
        &account.subaddress_view_private(index).to_bytes()[..],
        &c.bytes("subaddress_view_private_key")?,
    )?;
    ensure_eq_bytes(
        "subaddress spend private",
        &account.subaddress_spend_private(index).to_bytes()[..],
        &c.bytes("subaddress_spend_private_key")?,
    )?;
    let addr = account.subaddress(index);
    ensure_eq_bytes(
        "subaddress view public",
        addr.view_public_key().as_bytes(),
        &c.bytes("subaddress_view_public_key")?,
    )?;
    ensure_eq_bytes(
        "subaddress spend public",
        addr.spend_public_key().as_bytes(),
        &c.bytes("subaddress_spend_public_key")?,
    )?;
    // The public-only path gives the same address.
    let view_only = ViewAccountKey::new(
        private(&c.bytes("view_private_key")?)?,
        account.spend_private_key().public_key(),
    );
    ensure(view_only.subaddress(index) == addr, || {
        "view-only subaddress differs".into()
    })
}

fn default_subaddress(c: &Case<'_>) -> CheckResult {
    subaddress_checks(c, 0)
}

fn indexed_subaddress(c: &Case<'_>) -> CheckResult {
    subaddress_checks(c, c.u64("subaddress_index")?)
}

fn b58_check(c: &Case<'_>, addr: &PublicAddress) -> CheckResult {
    let expected = c.str("b58_encoded")?;
    let ours = fog_account::b58_encode_public_address(addr);
    ensure(ours == expected, || {
        format!("b58: got {ours}, expected {expected}")
    })?;
    let decoded =
        fog_account::b58_decode_public_address(expected).map_err(|e| format!("decode: {e}"))?;
    ensure(&decoded == addr, || "decoded address differs".into())
}

fn b58_without_fog(c: &Case<'_>) -> CheckResult {
    let addr = PublicAddress::new(
        &public(&c.bytes("spend_public_key")?)?,
        &public(&c.bytes("view_public_key")?)?,
    );
    b58_check(c, &addr)
}

fn b58_with_fog(c: &Case<'_>) -> CheckResult {
    let sig = c.bytes("fog_authority_sig")?;
    let addr = PublicAddress::new_with_fog(
        &public(&c.bytes("spend_public_key")?)?,
        &public(&c.bytes("view_public_key")?)?,
        c.str("fog_report_url")?,
        c.str("fog_report_id")?,
        sig.clone(),
    );
    b58_check(c, &addr)?;
    // The generator signed an empty SPKI with c_0 of the account from root entropy [n; 32];
    // the signature verifies under the view key.
    addr.verify_fog_authority_sig(b"")
        .map_err(|e| format!("fog authority signature: {e}"))?;
    // And re-signing reproduces it byte for byte: find n from the address.
    let n = (0u8..=255)
        .find(|n| {
            let entropy = RootEntropy::from_bytes(&[*n; 32]).expect("32 bytes");
            AccountKey::from_root_entropy(&entropy)
                .default_subaddress()
                .view_public_key()
                == addr.view_public_key()
        })
        .ok_or("no root entropy [n; 32] gives this address")?;
    let account = AccountKey::from_root_entropy(&RootEntropy::from_bytes(&[n; 32]).expect("32"))
        .with_fog(c.str("fog_report_url")?, c.str("fog_report_id")?, b"");
    let resigned = account.default_subaddress();
    ensure_eq_bytes("re-made signature", resigned.fog_authority_sig(), &sig)
}

fn crypto_box_decrypt(c: &Case<'_>) -> CheckResult {
    let key = private(&c.hex("recipient_private_hex")?)?;
    ensure_eq_bytes(
        "recipient public",
        key.public_key().as_bytes(),
        &c.hex("recipient_public_hex")?,
    )?;
    let ct = c.hex("ciphertext_hex")?;
    let pt = crypto_box::decrypt(&key, &ct).map_err(|e| format!("decrypt: {e}"))?;
    ensure_eq_bytes("plaintext", &pt, &c.hex("plaintext_hex")?)
}

fn crypto_box_decrypt_fail(c: &Case<'_>) -> CheckResult {
    let key = private(&c.hex("recipient_private_hex")?)?;
    // The original opens; the altered one fails with the recorded error.
    let original = c.hex("original_ciphertext_hex")?;
    let pt = crypto_box::decrypt(&key, &original).map_err(|e| format!("original: {e}"))?;
    ensure(pt.len() as u64 == c.u64("plaintext_len")?, || {
        "plaintext length differs".into()
    })?;
    let got = match crypto_box::decrypt(&key, &c.hex("ciphertext_hex")?) {
        Ok(_) => "ok",
        Err(CryptoBoxError::MacFailed) => "mac_failed",
        Err(CryptoBoxError::Key(_)) => "invalid_key",
        Err(CryptoBoxError::TooShort { .. }) => "too_short",
        Err(CryptoBoxError::UnknownAlgorithm(_)) => "unknown_algorithm",
        Err(CryptoBoxError::WrongMagicBytes) => "wrong_magic",
        Err(e) => return Err(format!("unexpected error {e}")),
    };
    let want = c.str("expected_error")?;
    ensure(got == want, || format!("got {got}, expected {want}"))
}

fn kex_rng_outputs(c: &Case<'_>) -> CheckResult {
    let account = AccountKey::new(
        private(&c.hex("account_spend_private_hex")?)?,
        private(&c.hex("account_view_private_hex")?)?,
    );
    let c0 = account.default_subaddress_view_private();
    ensure_eq_bytes("c0", &c0.to_bytes()[..], &c.hex("user_view_private_hex")?)?;
    ensure_eq_bytes(
        "C0",
        c0.public_key().as_bytes(),
        &c.hex("user_view_public_hex")?,
    )?;
    let egress = private(&c.hex("egress_private_hex")?)?;
    ensure_eq_bytes(
        "egress public",
        egress.public_key().as_bytes(),
        &c.hex("egress_public_hex")?,
    )?;
    let pubkey = KexRngPubkey::decode(c.hex("kex_rng_pubkey_proto_hex")?.as_slice())
        .map_err(|e| format!("KexRngPubkey: {e}"))?;
    ensure(pubkey.version as u64 == c.u64("version")?, || {
        "version".into()
    })?;
    let ours = KexRngPubkey {
        public_key: egress.public_key().to_bytes().to_vec(),
        version: 0,
    };
    ensure_eq_bytes(
        "KexRngPubkey protobuf",
        &ours.encode_to_vec(),
        &c.hex("kex_rng_pubkey_proto_hex")?,
    )?;
    let mut user = KexRng::from_kex_pubkey(&pubkey, &c0).map_err(|e| e.to_string())?;
    let mut ingest = KexRng::from_static_static(&egress, &c0.public_key());
    let outputs = c.hex_list("outputs_hex")?;
    for (i, want) in outputs.iter().enumerate() {
        ensure_eq_bytes(&format!("output {i} (user side)"), user.peek(), want)?;
        ensure_eq_bytes(&format!("output {i} (ingest side)"), ingest.peek(), want)?;
        user.advance();
        ingest.advance();
    }
    let mut rng = KexRng::from_kex_pubkey(&pubkey, &c0).map_err(|e| e.to_string())?;
    for _ in 0..c.u64("stored_rng_advances")? {
        rng.advance();
    }
    ensure(rng.index() == c.u64("stored_rng_index")?, || "index".into())?;
    ensure_eq_bytes("peek", rng.peek(), &c.hex("stored_rng_peek_hex")?)?;
    let stored_bytes = c.hex("stored_rng_proto_hex")?;
    ensure_eq_bytes(
        "StoredRng protobuf",
        &rng.to_stored().encode_to_vec(),
        &stored_bytes,
    )?;
    let stored = StoredRng::decode(stored_bytes.as_slice()).map_err(|e| e.to_string())?;
    let restored = KexRng::from_stored(&stored).map_err(|e| e.to_string())?;
    ensure_eq_bytes("restored peek", restored.peek(), rng.peek())
}

fn short_address_hash(c: &Case<'_>) -> CheckResult {
    let addr = address_from_proto(&c.hex("address_proto_hex")?)?;
    ensure(
        addr.fog_report_url().is_some() == c.bool("has_fog")?,
        || "has_fog differs".into(),
    )?;
    ensure_eq_bytes(
        "address protobuf re-encoding",
        &addr.encode_to_vec(),
        &c.hex("address_proto_hex")?,
    )?;
    ensure_eq_bytes(
        "short address hash",
        &addr.short_address_hash().0,
        &c.hex("short_hash_hex")?,
    )
}
