//! Checks of the files fog-transaction answers for.

use std::collections::BTreeMap;

use crate::Owner;

pub(super) fn register(r: &mut BTreeMap<&'static str, Owner>) {
    const TX: &str = "fog-transaction in progress";
    for f in [
        "tx_out_records/correct_tx_out_records.jsonl",
        "tx_out_records/incorrect_tx_out_records.jsonl",
        "tx_outs/create.jsonl",
        "digest/tx_out_hash.jsonl",
        "fog_hints/decrypt.jsonl",
        "memos/authenticated_sender_full.jsonl",
        "memos/correct_encrypted_sender_memos.jsonl",
        "memos/incorrect_encrypted_sender_memos.jsonl",
        "memos/correct_encrypted_sender_with_payment_request_id_memos.jsonl",
        "memos/incorrect_encrypted_sender_with_payment_request_id_memos.jsonl",
        "memos/correct_encrypted_destination_memos.jsonl",
    ] {
        r.insert(f, Owner::Later(TX));
    }
}
