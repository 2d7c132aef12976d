//! Crypto box cryptograms (fog hints, records) from the chain or the network.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = fog_crypto::RistrettoPrivate::from_bytes_mod_order(&[5; 32]);
    let _ = fog_crypto::crypto_box::decrypt(&key, data);
    if let Ok(hint) = fog_transaction::EncryptedFogHint::from_bytes(data) {
        let mut out = [0u8; 32];
        let _ = fog_transaction::FogHint::ct_decrypt(&key, &hint, &mut out);
    }
});
