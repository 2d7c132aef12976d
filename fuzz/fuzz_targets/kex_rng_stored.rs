//! Stored KexRng states and egress public keys read back from storage or the network.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    use fog_crypto::kex_rng::{KexRng, KexRngPubkey, StoredRng};
    if let Ok(stored) = StoredRng::decode(data) {
        if let Ok(rng) = KexRng::from_stored(&stored) {
            assert_eq!(rng.to_stored(), stored);
        }
    }
    if let Ok(pubkey) = KexRngPubkey::decode(data) {
        let key = fog_crypto::RistrettoPrivate::from_bytes_mod_order(&[3; 32]);
        let _ = KexRng::from_kex_pubkey(&pubkey, &key);
    }
});
