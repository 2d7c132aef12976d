//! Record payloads from view and record protobufs inside them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = fog_crypto::RistrettoPrivate::from_bytes_mod_order(&[9; 32]);
    let _ = fog_transaction::TxOutRecord::decrypt(&key, data);
    if let Ok(record) = fog_transaction::TxOutRecord::decode(data) {
        let _ = record.fog_tx_out.try_recover_tx_out(&key);
        let again = fog_transaction::TxOutRecord::decode(&record.encode_to_vec());
        assert_eq!(again.as_ref(), Ok(&record));
    }
});
