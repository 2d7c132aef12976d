//! A payment signed without I/O ([`fog_client::send::sign_payment`]) and its saved form:
//! it round-trips; a truncated, corrupt, re-versioned or inconsistent file is refused with a
//! message saying so; another account is told it did not build it; and a destination memo on
//! the change is what history reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use fog_account::{AccountKey, CHANGE_SUBADDRESS_INDEX};
use fog_client::{
    history::destination_of,
    scan::OwnerKeys,
    send::{choose_rings, sign_payment, Payment},
    state::Discovery,
    stored::{StoredSignedPayment, SIGNED_PAYMENT_MAGIC},
    AccountState, ClientError, SignedPayment,
};
use fog_crypto::RistrettoPrivate;
use fog_transaction::{
    membership::{self, Range},
    validation::MOB_MINIMUM_FEE,
    Amount, BlockVersion, EncryptedFogHint, TokenId, TxOut,
};
use prost::Message;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const MOB: u64 = 1_000_000_000_000;

struct Fixture {
    sender: AccountKey,
    recipient: AccountKey,
    payment: SignedPayment,
}

/// A ledger of 24 TxOuts, the sender owning the one at index 5 (10 MOB); the sender pays the
/// recipient 3 MOB from it.
fn fixture(seed: u64) -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let sender = AccountKey::random(&mut rng);
    let recipient = AccountKey::random(&mut rng);
    let mut store: BTreeMap<Range, [u8; 32]> = BTreeMap::new();
    let mut tx_outs = Vec::new();
    for i in 0..24u64 {
        let to = if i == 5 {
            sender.default_subaddress()
        } else {
            AccountKey::random(&mut rng).default_subaddress()
        };
        let t = TxOut::new(
            BlockVersion::THREE,
            Amount::new(10 * MOB, TokenId::MOB),
            &to,
            &RistrettoPrivate::random(&mut rng),
            EncryptedFogHint::fake_onetime_hint(&mut rng),
        )
        .unwrap();
        membership::append_leaf(&mut store, i, t.merkle_leaf_hash()).unwrap();
        tx_outs.push(t);
    }
    let input = OwnerKeys::new(&sender)
        .recognize(&tx_outs[5], 5, 0, 0, Discovery::View)
        .unwrap();
    let rings = choose_rings(&[5], 24, &mut rng).unwrap();
    let outputs = rings[0]
        .iter()
        .map(|&i| {
            let proof = membership::membership_proof(&store, 24, i).unwrap();
            (i, (tx_outs[i as usize].clone(), proof))
        })
        .collect();
    let to = recipient.default_subaddress();
    let payment = sign_payment(
        &sender,
        &[input],
        &rings,
        &outputs,
        &Payment {
            recipient: &to,
            recipient_ingress: None,
            change_ingress: None,
            amount: Amount::new(3 * MOB, TokenId::MOB),
            fee: Amount::new(MOB_MINIMUM_FEE, TokenId::MOB),
            tombstone_block: 50,
            block_version: BlockVersion::THREE,
        },
        &mut rng,
    )
    .unwrap();
    Fixture {
        sender,
        recipient,
        payment,
    }
}

fn saved_tx_error(bytes: &[u8]) -> String {
    match SignedPayment::from_bytes(bytes) {
        Err(ClientError::SavedTx(m)) => m,
        other => panic!("expected a saved-tx error, got {other:?}"),
    }
}

/// Re-frames a body with a valid header and checksum (as a careless or hostile writer would).
fn reframe(bytes: &[u8], version: u32, body: &[u8]) -> Vec<u8> {
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    let sum = fog_crypto::hash::blake2b256(&[b"fog-signed-payment-v1", &out]);
    out.extend_from_slice(&sum);
    out
}

#[test]
fn a_saved_payment_round_trips_and_records_what_it_spends() {
    let f = fixture(1);
    let p = &f.payment;
    assert_eq!(p.amount.value, 3 * MOB);
    assert_eq!(p.change_value, 7 * MOB - MOB_MINIMUM_FEE);
    assert_eq!(p.input_global_indices, vec![5]);
    assert_eq!(p.key_images, p.tx.key_images());
    assert_eq!(p.tombstone_block, 50);
    p.check().unwrap();
    p.check_owner(&f.sender, &AccountState::new()).unwrap();

    let bytes = p.to_bytes();
    assert_eq!(bytes[..8], SIGNED_PAYMENT_MAGIC);
    assert_eq!(bytes[8..12], 1u32.to_be_bytes());
    let back = SignedPayment::from_bytes(&bytes).unwrap();
    assert_eq!(&back, p);
    assert_eq!(back.tx_hash(), p.tx_hash());
    let pending = back.pending();
    assert_eq!(pending.key_images, p.key_images);
    assert_eq!(pending.fee.value, MOB_MINIMUM_FEE);

    // The change carries the destination memo history reports.
    let keys = OwnerKeys::new(&f.sender);
    let change =
        p.tx.prefix
            .outputs
            .iter()
            .find_map(|o| keys.recognize(o, 30, 2, 0, Discovery::View))
            .unwrap();
    assert_eq!(change.subaddress_index, CHANGE_SUBADDRESS_INDEX);
    let d = destination_of(&change).unwrap();
    assert_eq!(d.total_outlay, 3 * MOB + MOB_MINIMUM_FEE);
    assert_eq!(d.fee, MOB_MINIMUM_FEE);
    assert_eq!(d.num_recipients, 1);
    assert_eq!(
        d.recipient,
        f.recipient.default_subaddress().short_address_hash()
    );
    // The same memo on another subaddress is not reported: anyone could have written it.
    let elsewhere = fog_client::OwnedTxOut {
        subaddress_index: 0,
        ..change
    };
    assert_eq!(destination_of(&elsewhere), None);
    // Nor is such a TxOut shown as change: a sender can put a destination memo on a payment.
    let mut state = AccountState::new();
    state
        .tx_outs
        .insert(elsewhere.global_index, elsewhere.clone());
    let entries = fog_client::history::history(&f.sender, &state, u64::MAX, &[]);
    assert_eq!(entries.len(), 1);
    assert!(
        matches!(
            entries[0].kind,
            fog_client::EntryKind::Received { change: false, .. }
        ),
        "{:?}",
        entries[0].kind
    );
    state.tx_outs.insert(change.global_index, change.clone());
    let entries = fog_client::history::history(&f.sender, &state, u64::MAX, &[]);
    assert!(entries
        .iter()
        .any(|e| matches!(e.kind, fog_client::EntryKind::Received { change: true, .. })));
}

#[test]
fn truncated_corrupt_and_inconsistent_files_are_refused() {
    let f = fixture(2);
    let bytes = f.payment.to_bytes();
    for len in [0, 7, 8, 15, 16, 100, bytes.len() - 33, bytes.len() - 1] {
        let m = saved_tx_error(&bytes[..len]);
        assert!(
            m.contains("truncated") || m.contains("not a saved Fog transaction"),
            "{len}: {m}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(saved_tx_error(&longer).contains("trailing bytes"));
    // Any flipped bit: in the header (magic, version, length), body or checksum.
    for at in (0..bytes.len()).step_by(97).chain([9, 13, bytes.len() - 1]) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x04;
        let m = saved_tx_error(&bad);
        assert!(
            [
                "corrupt",
                "not a saved",
                "version",
                "truncated",
                "trailing",
                "too large"
            ]
            .iter()
            .any(|w| m.contains(w)),
            "{at}: {m}"
        );
    }
    let body = &bytes[16..bytes.len() - 32];
    assert!(saved_tx_error(&reframe(&bytes, 2, body)).contains("version 2"));
    // A well-framed body whose facts disagree with its transaction.
    let mut stored = StoredSignedPayment::decode(body).unwrap();
    stored.fee += 1;
    let m = saved_tx_error(&reframe(&bytes, 1, &stored.encode_to_vec()));
    assert!(m.contains("inconsistent") && m.contains("fee"), "{m}");
    let mut stored = StoredSignedPayment::decode(body).unwrap();
    stored.key_images[0][0] ^= 1;
    let m = saved_tx_error(&reframe(&bytes, 1, &stored.encode_to_vec()));
    assert!(m.contains("key images"), "{m}");
    let mut stored = StoredSignedPayment::decode(body).unwrap();
    stored.tx = None;
    assert!(saved_tx_error(&reframe(&bytes, 1, &stored.encode_to_vec())).contains("no transaction"));
}

#[test]
fn another_account_did_not_build_it() {
    let f = fixture(3);
    let m = f
        .payment
        .check_owner(&f.recipient, &AccountState::new())
        .unwrap_err();
    assert!(m.contains("built by another wallet"), "{m}");
    // A wrong recorded change value is caught too.
    let mut p = f.payment.clone();
    p.change_value += 1;
    assert!(p.check_owner(&f.sender, &AccountState::new()).is_err());
}

/// The recipient, amount and fee a file shows are what its signed transaction's change memo
/// records: an edited file (the checksum is no MAC) is refused before anything is submitted
/// or shown as sent.
#[test]
fn an_edited_recipient_amount_or_fee_is_refused() {
    let f = fixture(4);
    f.payment
        .check_owner(&f.sender, &AccountState::new())
        .unwrap();
    type Edit = Box<dyn Fn(&mut SignedPayment)>;
    let edits: [(&str, Edit); 3] = [
        ("amount", Box::new(|p| p.amount.value += 1)),
        ("fee", Box::new(|p| p.fee.value += 1)),
        (
            "recipient",
            Box::new(|p| {
                p.recipient =
                    AccountKey::random(&mut ChaCha20Rng::seed_from_u64(99)).default_subaddress()
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut p = f.payment.clone();
        edit(&mut p);
        let m = p
            .check_owner(&f.sender, &AccountState::new())
            .expect_err(what);
        assert!(m.contains("change memo"), "{what}: {m}");
    }
}
