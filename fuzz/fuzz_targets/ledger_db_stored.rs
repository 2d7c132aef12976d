//! What the ledger DB reads back from its redb tables, as if the file had been tampered
//! with: stored `Block` protobufs, stored `TxOut` protobufs and a block's key image list
//! (32 bytes each), through the DB's own decoders (its hidden `fuzz_*` entry points). A bad
//! value is a `Decode` or `Corrupt` error, neither retryable nor an invalid block; nothing
//! panics; whatever decodes re-encodes to the same value (byte for byte for key images).
#![no_main]

use fog_ledger_db::{
    fuzz_decode_stored_block, fuzz_decode_stored_key_images, fuzz_decode_stored_tx_out,
    fuzz_encode_stored_block, fuzz_encode_stored_key_images, LedgerError,
};
use libfuzzer_sys::fuzz_target;

fn is_storage_complaint(e: &LedgerError) -> bool {
    matches!(e, LedgerError::Decode { .. } | LedgerError::Corrupt(_))
        && !e.is_retryable()
        && !e.is_invalid_block()
}

fuzz_target!(|data: &[u8]| {
    match fuzz_decode_stored_block(data) {
        Ok(block) => {
            let again = fuzz_decode_stored_block(&fuzz_encode_stored_block(&block));
            assert_eq!(again.ok(), Some(block));
        }
        Err(e) => assert!(is_storage_complaint(&e), "{e:?}"),
    }
    match fuzz_decode_stored_tx_out(data) {
        Ok(tx_out) => {
            let again = fuzz_decode_stored_tx_out(&tx_out.encode_to_vec());
            assert_eq!(again.ok(), Some(tx_out));
        }
        Err(e) => assert!(is_storage_complaint(&e), "{e:?}"),
    }
    match fuzz_decode_stored_key_images(data) {
        Ok(images) => {
            assert_eq!(images.len() * 32, data.len());
            assert_eq!(fuzz_encode_stored_key_images(&images), data);
        }
        Err(e) => {
            assert!(is_storage_complaint(&e), "{e:?}");
            assert_ne!(data.len() % 32, 0);
        }
    }
});
