//! Every decoder at an untrusted boundary answers garbage with an error, never a panic, and
//! a mutated valid input is either refused or decodes to something that re-encodes cleanly.

use fog_account::{b58_decode, b58_decode_public_address, AccountKey, PublicAddress};
use fog_crypto::{
    crypto_box,
    kex_rng::{KexRng, KexRngPubkey, StoredRng},
    RistrettoPrivate,
};
use fog_transaction::{
    Amount, BlockVersion, EncryptedFogHint, FogHint, TokenId, TxOut, TxOutRecord,
};
use proptest::prelude::*;
use prost::Message;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn sample_tx_out(seed: [u8; 32]) -> (TxOut, AccountKey) {
    let mut rng = ChaCha20Rng::from_seed(seed);
    let account = AccountKey::random(&mut rng).with_fog("fog://f.example", "", b"spki");
    let to = account.default_subaddress();
    let ingest = RistrettoPrivate::random(&mut rng);
    let hint = FogHint::from_address(&to).encrypt(&ingest.public_key(), &mut rng);
    let r = RistrettoPrivate::random(&mut rng);
    let tx_out = TxOut::new(
        BlockVersion::THREE,
        Amount::new(1, TokenId::MOB),
        &to,
        &r,
        hint,
    )
    .expect("valid inputs");
    (tx_out, account)
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let key = RistrettoPrivate::from_bytes_mod_order(&[7; 32]);
        let _ = TxOut::decode(&bytes);
        let _ = TxOutRecord::decode(&bytes);
        let _ = TxOutRecord::decrypt(&key, &bytes);
        let _ = PublicAddress::decode(&bytes);
        let _ = crypto_box::decrypt(&key, &bytes);
        if let Ok(stored) = StoredRng::decode(bytes.as_slice()) {
            let _ = KexRng::from_stored(&stored);
        }
        if let Ok(pubkey) = KexRngPubkey::decode(bytes.as_slice()) {
            let _ = KexRng::from_kex_pubkey(&pubkey, &key);
        }
        if let Ok(hint) = EncryptedFogHint::from_bytes(&bytes) {
            let mut out = [0u8; 32];
            let _ = FogHint::ct_decrypt(&key, &hint, &mut out);
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = b58_decode(&text);
        let _ = b58_decode_public_address(&text);
    }

    #[test]
    fn mutated_tx_outs_are_refused_or_consistent(seed in any::<[u8; 32]>(), at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (tx_out, account) = sample_tx_out(seed);
        let mut bytes = tx_out.encode_to_vec();
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        if let Ok(decoded) = TxOut::decode(&bytes) {
            // Whatever decoded must round-trip and hash without panicking.
            let again = TxOut::decode(&decoded.encode_to_vec()).unwrap();
            prop_assert_eq!(&again, &decoded);
            let _ = decoded.hash();
            let _ = decoded.view_key_match(account.view_private_key());
        }
    }

    #[test]
    fn mutated_record_payloads_are_refused(seed in any::<[u8; 32]>(), at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (tx_out, account) = sample_tx_out(seed);
        let mut rng = ChaCha20Rng::from_seed(seed);
        let record = TxOutRecord::new(&tx_out, 1, 2, 3).unwrap();
        let mut payload = record.encrypt(&mut rng, account.default_subaddress().view_public_key());
        let i = at.index(payload.len());
        payload[i] ^= xor;
        prop_assert!(TxOutRecord::decrypt(&account.default_subaddress_view_private(), &payload).is_err());
    }
}
