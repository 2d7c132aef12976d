//! TxOut protobufs from the network: decode, and anything accepted must re-encode and hash.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx_out) = fog_transaction::TxOut::decode(data) {
        let again = fog_transaction::TxOut::decode(&tx_out.encode_to_vec());
        assert_eq!(again.as_ref(), Ok(&tx_out));
        let _ = tx_out.hash();
    }
});
