//! Memos from untrusted bytes. The first byte chooses the decoder: even,
//! `EncryptedMemo::from_bytes` then decryption with a fixed shared secret; odd,
//! `MemoPayload::from_bytes`. Every payload is then read by `Memo::parse` (whose memo type,
//! the payload's first two bytes, chooses among every MobileCoin type) and checked as an
//! authenticated sender memo between fixed accounts. Only 66 bytes decode, nothing panics, and
//! whatever decodes re-encodes to the same value.
#![no_main]

use std::sync::OnceLock;

use fog_account::AccountKey;
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use fog_transaction::{
    memo::{self, Memo, MEMO_LEN},
    EncryptedMemo, MemoError, MemoPayload,
};
use libfuzzer_sys::fuzz_target;

/// The sender and recipient of authenticated sender memos, the TxOut public key they bind to,
/// and the shared secret memos are encrypted with. `crates/fog-node/examples/fuzz_seeds.rs`
/// makes the seeds with the same keys: change both together.
fn memo_keys() -> (AccountKey, AccountKey, [u8; 32], RistrettoPublic) {
    let key = |b: u8| RistrettoPrivate::from_bytes_mod_order(&[b; 32]);
    let sender = AccountKey::new(key(0x21), key(0x22));
    let recipient = AccountKey::new(key(0x23), key(0x24));
    let tx_out_public_key = key(0x25).public_key().to_bytes();
    (sender, recipient, tx_out_public_key, key(0x26).public_key())
}

fn keys() -> &'static (AccountKey, AccountKey, [u8; 32], RistrettoPublic) {
    static K: OnceLock<(AccountKey, AccountKey, [u8; 32], RistrettoPublic)> = OnceLock::new();
    K.get_or_init(memo_keys)
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let (sender, recipient, tx_out_public_key, shared_secret) = keys();
    let payload = if which % 2 == 0 {
        let encrypted = match EncryptedMemo::from_bytes(bytes) {
            Ok(e) => e,
            Err(e) => {
                assert_eq!(e, MemoError::BadLength(bytes.len()));
                assert_ne!(bytes.len(), MEMO_LEN);
                return;
            }
        };
        assert_eq!(&encrypted.0[..], bytes);
        let payload = encrypted.decrypt(shared_secret);
        assert_eq!(payload.encrypt(shared_secret), encrypted);
        payload
    } else {
        let payload = match MemoPayload::from_bytes(bytes) {
            Ok(p) => p,
            Err(e) => {
                assert_eq!(e, MemoError::BadLength(bytes.len()));
                assert_ne!(bytes.len(), MEMO_LEN);
                return;
            }
        };
        assert_eq!(&payload.0[..], bytes);
        assert_eq!(
            MemoPayload::new(payload.memo_type(), payload.data().try_into().expect("64")),
            payload
        );
        payload
    };

    let parsed = Memo::parse(&payload);
    if let Ok(memo) = &parsed {
        match memo.to_payload() {
            Ok(again) => {
                assert_eq!(again.memo_type(), payload.memo_type());
                assert_eq!(Memo::parse(&again).as_ref(), Ok(memo));
            }
            // Only the memos that need keys, and types we do not know, cannot be written.
            Err(e) => {
                assert_eq!(e, MemoError::WrongType);
                assert!(matches!(
                    memo,
                    Memo::AuthenticatedSender { .. } | Memo::Unknown(_)
                ));
            }
        }
    }

    let from = sender.default_subaddress();
    let valid = memo::validate_authenticated_sender(
        &payload,
        &from,
        &recipient.default_subaddress_view_private(),
        tx_out_public_key,
    );
    if bool::from(valid) {
        // Only a category 1 memo naming the sender can pass (forging its HMAC is out of reach).
        assert_eq!(payload.memo_type()[0], 0x01);
        assert_eq!(payload.data()[..16], from.short_address_hash().0);
    }
});
