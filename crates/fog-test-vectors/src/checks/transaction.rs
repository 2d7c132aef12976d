//! Checks of the files fog-transaction answers for: TxOuts, fog hints, memos, records and the
//! TxOut hash.

use std::collections::BTreeMap;

use fog_account::{wire, PublicAddress};
use fog_crypto::{crypto_box, RistrettoPrivate};
use fog_transaction::{
    memo::{self, AuthenticatedId, Memo, MemoPayload, SenderMemoCredential},
    onetime_keys, Amount, BlockVersion, EncryptedFogHint, FogHint, TokenId, TxOut, TxOutError,
    TxOutRecord,
};
use prost::Message;
use rand::SeedableRng;

use super::{account, address_from_proto, private, public};
use crate::{ensure, ensure_eq_bytes, Case, CheckResult, Owner};

pub(super) fn register(r: &mut BTreeMap<&'static str, Owner>) {
    r.insert(
        "tx_out_records/correct_tx_out_records.jsonl",
        Owner::Checked(correct_record),
    );
    r.insert(
        "tx_out_records/incorrect_tx_out_records.jsonl",
        Owner::Checked(incorrect_record),
    );
    r.insert("tx_outs/create.jsonl", Owner::Checked(tx_out_create));
    r.insert("digest/tx_out_hash.jsonl", Owner::Checked(tx_out_hash));
    r.insert("fog_hints/decrypt.jsonl", Owner::Checked(fog_hint_decrypt));
    r.insert(
        "memos/authenticated_sender_full.jsonl",
        Owner::Checked(authenticated_sender_full),
    );
    r.insert(
        "memos/correct_encrypted_sender_memos.jsonl",
        Owner::Checked(|c| sender_memo(c, true, None)),
    );
    r.insert(
        "memos/incorrect_encrypted_sender_memos.jsonl",
        Owner::Checked(|c| sender_memo(c, false, None)),
    );
    r.insert(
        "memos/correct_encrypted_sender_with_payment_request_id_memos.jsonl",
        Owner::Checked(|c| sender_memo(c, true, Some(c.u64("payment_request_id")?))),
    );
    r.insert(
        "memos/incorrect_encrypted_sender_with_payment_request_id_memos.jsonl",
        Owner::Checked(|c| sender_memo(c, false, Some(c.u64("payment_request_id")?))),
    );
    r.insert(
        "memos/correct_encrypted_destination_memos.jsonl",
        Owner::Checked(destination_memo),
    );
}

fn private_from_proto(bytes: &[u8]) -> Result<RistrettoPrivate, String> {
    let w = wire::RistrettoPrivate::decode(bytes).map_err(|e| format!("RistrettoPrivate: {e}"))?;
    private(&w.data)
}

fn record_from(c: &Case<'_>) -> Result<(TxOutRecord, Vec<u8>), String> {
    let bytes = c.hex("tx_out_record_hex_proto_bytes")?;
    let record = TxOutRecord::decode(&bytes).map_err(|e| format!("record: {e}"))?;
    ensure_eq_bytes("record re-encoding", &record.encode_to_vec(), &bytes)?;
    Ok((record, bytes))
}

fn correct_record(c: &Case<'_>) -> CheckResult {
    let a = private_from_proto(&c.hex("recipient_view_private_key_hex_proto_bytes")?)?;
    let (record, bytes) = record_from(c)?;
    let (tx_out, amount) = record
        .fog_tx_out
        .try_recover_tx_out(&a)
        .map_err(|e| format!("recover: {e}"))?;
    ensure(amount == Amount::new(10, TokenId::MOB), || {
        format!("amount {amount:?}, expected 10 MOB")
    })?;
    let (matched, shared) = tx_out.view_key_match(&a).map_err(|e| e.to_string())?;
    ensure(matched == amount, || "view key match differs".into())?;
    ensure(
        tx_out.decrypt_memo(&shared) == MemoPayload::default(),
        || "memo is not the default".into(),
    )?;
    // Ingest's side: the record of the recovered TxOut is the same record, byte for byte.
    let again = TxOutRecord::new(
        &tx_out,
        record.global_index,
        record.block_index,
        record.timestamp,
    )
    .map_err(|e| e.to_string())?;
    ensure_eq_bytes(
        "record rebuilt from the TxOut",
        &again.encode_to_vec(),
        &bytes,
    )?;
    ensure(
        (record.block_index, record.timestamp) == (1, 10)
            && (100..110).contains(&record.global_index),
        || "metadata differs from the generator's".into(),
    )
}

fn incorrect_record(c: &Case<'_>) -> CheckResult {
    let spurious = private_from_proto(&c.hex("spurious_view_private_key_hex_proto_bytes")?)?;
    let (record, _) = record_from(c)?;
    match record.fog_tx_out.try_recover_tx_out(&spurious) {
        Err(TxOutError::ChecksumMismatch) => Ok(()),
        Err(e) => Err(format!("expected ChecksumMismatch, got {e}")),
        Ok(_) => Err("a foreign view key recovered the TxOut".into()),
    }
}

fn tx_out_hash(c: &Case<'_>) -> CheckResult {
    let bytes = c.hex("tx_out_proto_hex")?;
    let tx_out = TxOut::decode(&bytes).map_err(|e| format!("TxOut: {e}"))?;
    ensure_eq_bytes("TxOut re-encoding", &tx_out.encode_to_vec(), &bytes)?;
    ensure_eq_bytes("TxOut hash", &tx_out.hash(), &c.hex("tx_out_hash_hex")?)?;
    ensure_eq_bytes(
        "Merkle leaf hash",
        &tx_out.merkle_leaf_hash(),
        &c.hex("merkle_leaf_hash_hex")?,
    )
}

fn fog_hint_decrypt(c: &Case<'_>) -> CheckResult {
    let ingest = private(&c.hex("ingest_private_hex")?)?;
    ensure_eq_bytes(
        "ingest public",
        ingest.public_key().as_bytes(),
        &c.hex("ingest_public_hex")?,
    )?;
    let hint =
        EncryptedFogHint::from_bytes(&c.hex("e_fog_hint_hex")?).map_err(|e| e.to_string())?;
    let mut out = [0xAA; 32];
    let ok = bool::from(FogHint::ct_decrypt(&ingest, &hint, &mut out));
    let expect = c.bool("expect_ok")?;
    ensure(ok == expect, || {
        format!("decryption ok = {ok}, expected {expect}")
    })?;
    if expect {
        ensure_eq_bytes(
            "view public key",
            &out,
            &c.hex("recipient_view_public_hex")?,
        )
    } else {
        ensure(out == [0xAA; 32], || {
            "failed decryption changed the output".into()
        })
    }
}

fn tx_out_create(c: &Case<'_>) -> CheckResult {
    let recipient = account(&c.object("recipient_account")?)?;
    let index = c.u64("subaddress_index")?;
    let addr = recipient.subaddress(index);
    ensure_eq_bytes(
        "recipient address protobuf",
        &addr.encode_to_vec(),
        &c.hex("recipient_address_proto_hex")?,
    )?;
    let r = private(&c.hex("tx_private_key_hex")?)?;
    let amount = Amount::new(c.u64("value")?, TokenId(c.u64("token_id")?));
    let bv = u32::try_from(c.u64("block_version")?)
        .ok()
        .and_then(BlockVersion::new)
        .ok_or("unknown block version")?;
    let hint =
        EncryptedFogHint::from_bytes(&c.hex("e_fog_hint_hex")?).map_err(|e| e.to_string())?;
    if c.is_null("fog_ingest_private_hex") {
        // A fake hint: a well-formed box that no key we hold opens.
        let nobody = RistrettoPrivate::random(&mut rand_chacha::ChaCha20Rng::from_seed([0; 32]));
        ensure(
            crypto_box::decrypt(&nobody, hint.as_bytes())
                == Err(crypto_box::CryptoBoxError::MacFailed),
            || "the fake hint is not a well-formed crypto box".into(),
        )?;
    } else {
        let ingest = private(&c.hex("fog_ingest_private_hex")?)?;
        let mut out = [0u8; 32];
        ensure(
            bool::from(FogHint::ct_decrypt(&ingest, &hint, &mut out)),
            || "the fog hint does not decrypt".into(),
        )?;
        ensure_eq_bytes("hint view key", &out, addr.view_public_key().as_bytes())?;
    }
    // Our own memo, made from the inputs.
    let memo_type = c.str("memo_type")?;
    let credential = if memo_type == "authenticated_sender" {
        Some(SenderMemoCredential::from_account(&account(
            &c.object("memo_sender_account")?,
        )?))
    } else {
        None
    };
    let tx_out = TxOut::new_with_memo(bv, amount, &addr, &r, hint, |ctx| match memo_type {
        "unused" => Ok(MemoPayload::default()),
        "authenticated_sender" => Ok(memo::authenticated_sender_memo(
            credential.as_ref().expect("made above"),
            addr.view_public_key(),
            ctx.tx_public_key.as_bytes(),
            AuthenticatedId::None,
        )),
        _ => Memo::destination(
            addr.short_address_hash(),
            amount.value.saturating_add(400_000_000),
            400_000_000,
        )
        .to_payload(),
    })
    .map_err(|e| format!("TxOut::new: {e}"))?;
    ensure(
        ["unused", "authenticated_sender", "destination"].contains(&memo_type),
        || format!("unknown memo type {memo_type}"),
    )?;
    let bytes = c.hex("tx_out_proto_hex")?;
    ensure_eq_bytes("TxOut protobuf", &tx_out.encode_to_vec(), &bytes)?;
    let decoded = TxOut::decode(&bytes).map_err(|e| e.to_string())?;
    ensure(decoded == tx_out, || "decoded TxOut differs".into())?;
    ensure_eq_bytes("TxOut hash", &tx_out.hash(), &c.hex("tx_out_hash_hex")?)?;
    ensure_eq_bytes(
        "Merkle leaf",
        &tx_out.merkle_leaf_hash(),
        &c.hex("merkle_leaf_hash_hex")?,
    )?;
    ensure_eq_bytes(
        "public key",
        tx_out.public_key.as_bytes(),
        &c.hex("tx_public_key_hex")?,
    )?;
    ensure_eq_bytes(
        "target key",
        tx_out.target_key.as_bytes(),
        &c.hex("target_key_hex")?,
    )?;
    let shared = onetime_keys::create_shared_secret(addr.view_public_key(), &r);
    ensure_eq_bytes(
        "shared secret",
        shared.as_bytes(),
        &c.hex("shared_secret_hex")?,
    )?;
    let e_memo = tx_out.e_memo.ok_or("no memo")?;
    ensure_eq_bytes("encrypted memo", &e_memo.0, &c.hex("e_memo_hex")?)?;
    // The recipient's side.
    let a = recipient.view_private_key();
    let (found, recipient_shared) = tx_out.view_key_match(a).map_err(|e| e.to_string())?;
    ensure(found == amount, || format!("view key match gave {found:?}"))?;
    ensure(recipient_shared == shared, || {
        "recipient shared secret differs".into()
    })?;
    let payload = tx_out.decrypt_memo(&recipient_shared);
    ensure_eq_bytes("memo payload", &payload.0, &c.hex("memo_payload_hex")?)?;
    ensure(
        tx_out
            .subaddress_spend_public_key(a)
            .map_err(|e| e.to_string())?
            == *addr.spend_public_key(),
        || "subaddress spend key does not match".into(),
    )?;
    let d = recipient.subaddress_spend_private(index);
    let x = tx_out
        .onetime_private_key(a, &d)
        .map_err(|e| e.to_string())?;
    ensure_eq_bytes(
        "one-time private key",
        &x.to_bytes()[..],
        &c.hex("onetime_private_key_hex")?,
    )?;
    let ki = tx_out.key_image(a, &d).map_err(|e| e.to_string())?;
    ensure_eq_bytes("key image", ki.as_bytes(), &c.hex("key_image_hex")?)
}

fn authenticated_sender_full(c: &Case<'_>) -> CheckResult {
    let sender = account(&c.object("sender_account")?)?;
    let sender_addr = sender.default_subaddress();
    ensure_eq_bytes(
        "sender address",
        &sender_addr.encode_to_vec(),
        &c.hex("sender_address_proto_hex")?,
    )?;
    ensure_eq_bytes(
        "sender short hash",
        &sender_addr.short_address_hash().0,
        &c.hex("sender_address_short_hash_hex")?,
    )?;
    ensure_eq_bytes(
        "sender subaddress spend private",
        &sender.subaddress_spend_private(0).to_bytes()[..],
        &c.hex("sender_default_subaddress_spend_private_hex")?,
    )?;
    let recipient = account(&c.object("recipient_account")?)?;
    let index = c.u64("recipient_subaddress_index")?;
    let to = recipient.subaddress(index);
    ensure_eq_bytes(
        "recipient address",
        &to.encode_to_vec(),
        &c.hex("recipient_address_proto_hex")?,
    )?;
    let c_r = recipient.subaddress_view_private(index);
    ensure_eq_bytes(
        "recipient subaddress view private",
        &c_r.to_bytes()[..],
        &c.hex("recipient_subaddress_view_private_hex")?,
    )?;
    ensure_eq_bytes(
        "recipient view public",
        to.view_public_key().as_bytes(),
        &c.hex("recipient_view_public_hex")?,
    )?;
    let r = private(&c.hex("tx_private_key_hex")?)?;
    let big_r = onetime_keys::create_tx_out_public_key(&r, to.spend_public_key());
    ensure_eq_bytes("R", big_r.as_bytes(), &c.hex("tx_out_public_key_hex")?)?;
    let shared = onetime_keys::create_shared_secret(to.view_public_key(), &r);
    ensure_eq_bytes(
        "shared secret",
        shared.as_bytes(),
        &c.hex("shared_secret_hex")?,
    )?;
    let payload = memo::authenticated_sender_memo(
        &SenderMemoCredential::from_account(&sender),
        to.view_public_key(),
        big_r.as_bytes(),
        AuthenticatedId::None,
    );
    ensure_eq_bytes("memo payload", &payload.0, &c.hex("memo_payload_hex")?)?;
    let e_memo = payload.encrypt(&shared);
    ensure_eq_bytes("encrypted memo", &e_memo.0, &c.hex("e_memo_hex")?)?;
    let valid = bool::from(memo::validate_authenticated_sender(
        &payload,
        &sender_addr,
        &c_r,
        big_r.as_bytes(),
    ));
    let expect = c.bool("expect_valid_for_sender")?;
    ensure(valid == expect, || {
        format!("valid = {valid}, expected {expect}")
    })?;
    ensure(
        !bool::from(memo::validate_authenticated_sender(
            &payload,
            &to,
            &c_r,
            big_r.as_bytes(),
        )),
        || "validates for an address that did not send it".into(),
    )?;
    let tx_out = TxOut::decode(&c.hex("tx_out_proto_hex")?).map_err(|e| e.to_string())?;
    ensure(tx_out.e_memo == Some(e_memo), || {
        "TxOut memo differs".into()
    })?;
    ensure_eq_bytes(
        "TxOut public key",
        tx_out.public_key.as_bytes(),
        big_r.as_bytes(),
    )?;
    let (_, found_shared) = tx_out
        .view_key_match(recipient.view_private_key())
        .map_err(|e| e.to_string())?;
    ensure(tx_out.decrypt_memo(&found_shared) == payload, || {
        "recipient decrypts another memo".into()
    })
}

/// MobileCoin's sender memo files hold the 64 data bytes (no type, not encrypted); the TxOut
/// public key the HMAC binds is not recorded, so the checks are the address hash and layout.
fn sender_memo(c: &Case<'_>, correct: bool, request_id: Option<u64>) -> CheckResult {
    let (addr_field, memo_field) = match (correct, request_id.is_some()) {
        (true, false) => (
            "sender_public_address_hex_proto_bytes",
            "encrypted_sender_memo_hex_raw_bytes",
        ),
        (false, false) => (
            "incorrect_sender_public_address_hex_proto_bytes",
            "encrypted_sender_memo_hex_raw_bytes",
        ),
        (true, true) => (
            "sender_public_address_hex_proto_bytes",
            "encrypted_sender_with_payment_request_id_memo_hex_raw_bytes",
        ),
        (false, true) => (
            "incorrect_sender_public_address_hex_proto_bytes",
            "encrypted_sender_with_payment_request_id_memo_hex_raw_bytes",
        ),
    };
    let addr = address_from_proto(&c.hex(addr_field)?)?;
    let view_field = if correct {
        "recipient_view_public_key_hex_raw_bytes"
    } else {
        "incorrect_recipient_view_public_key_hex_raw_bytes"
    };
    public(&c.hex(view_field)?)?;
    let data: [u8; 64] = c.hex_n(memo_field)?;
    let memo_type = match request_id {
        None => memo::types::AUTHENTICATED_SENDER,
        Some(_) => memo::types::AUTHENTICATED_SENDER_WITH_PAYMENT_REQUEST_ID,
    };
    let parsed = Memo::parse(&MemoPayload::new(memo_type, data)).map_err(|e| e.to_string())?;
    let Memo::AuthenticatedSender {
        address_hash, id, ..
    } = parsed
    else {
        return Err("not parsed as an authenticated sender memo".into());
    };
    let matches = address_hash == addr.short_address_hash();
    ensure(matches == correct, || {
        format!("address hash match = {matches}, expected {correct}")
    })?;
    let zero_from = if request_id.is_some() { 24 } else { 16 };
    ensure(data[zero_from..48].iter().all(|&b| b == 0), || {
        "reserved bytes are not zero".into()
    })?;
    let want = match request_id {
        None => AuthenticatedId::None,
        Some(id) => AuthenticatedId::PaymentRequest(id),
    };
    ensure(id == want, || format!("id {id:?}, expected {want:?}"))
}

/// The destination file holds swapped data (a bug in MobileCoin's generator, see SPEC.md):
/// the memo names the hash of `sender_public_address`, not `recipient_short_address_hash`.
/// We check what is true and assert the swap, so a corrected file would be noticed.
fn destination_memo(c: &Case<'_>) -> CheckResult {
    let named: PublicAddress =
        address_from_proto(&c.hex("sender_public_address_hex_proto_bytes")?)?;
    let other_hash: [u8; 16] = c.hex_n("recipient_short_address_hash_hex_raw_bytes")?;
    let data: [u8; 64] = c.hex_n("encrypted_destination_memo_hex_raw_bytes")?;
    let (total_outlay, fee) = (c.u64("total_outlay")?, c.u64("fee")?);
    let ours = Memo::destination(named.short_address_hash(), total_outlay, fee)
        .to_payload()
        .map_err(|e| e.to_string())?;
    ensure_eq_bytes("destination memo data", ours.data(), &data)?;
    let parsed = Memo::parse(&MemoPayload::new(memo::types::DESTINATION, data))
        .map_err(|e| e.to_string())?;
    ensure(
        parsed
            == Memo::Destination {
                address_hash: named.short_address_hash(),
                num_recipients: 1,
                fee,
                total_outlay,
                id: AuthenticatedId::None,
            },
        || format!("parsed {parsed:?}"),
    )?;
    ensure(other_hash != data[..16], || {
        "recipient_short_address_hash now matches: the generator bug is fixed, update this check"
            .into()
    })
}
