//! What routers and stores decode from each other, once a channel frame opened: a view
//! store's `StoreQueryResponse` (the view router merges its results), a key-image store's
//! `KeyImageStoreResponse` (the ledger router merges its results), and the
//! `StoreQueryRequest` a view store reads. The first byte picks which; the second is the
//! number of keys the router asked (for the merges).
//!
//! Whatever decodes: the merges never panic, answer exactly `padded_batch(n)` view results
//! (every non-zero key at most once, every ciphertext full length) or one
//! key-image result per key image asked, in order; the cover of any coverage never passes a
//! store's end or the highest block loaded; a request re-encodes to itself.
#![no_main]

use fog_enclave::ledger_router::merge_key_image_results;
use fog_enclave::view_enclave::padded_batch;
use fog_enclave::view_router::{contiguous_cover, merge_results, ShardCoverage};
use fog_types::ledger::KeyImageStoreResponse;
use fog_types::view::{StoreQueryRequest, StoreQueryResponse, FIXED_CIPHERTEXT_LENGTH};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Some((&n, body)) = rest.split_first() else {
        return;
    };
    let n = usize::from(n);
    match which % 3 {
        0 => view_answer(body, n),
        1 => key_image_answer(body, n),
        _ => {
            if let Ok(r) = StoreQueryRequest::decode(body) {
                let again = StoreQueryRequest::decode(r.encode_to_vec().as_slice())
                    .expect("a decoded request re-encodes");
                assert_eq!(again, r);
            }
        }
    }
});

fn view_answer(body: &[u8], n: usize) {
    let Ok(r) = StoreQueryResponse::decode(body) else {
        return;
    };
    let (Some(range), Some(response)) = (r.block_range, r.response) else {
        return;
    };
    let cov = ShardCoverage {
        blocks: range,
        processed: response.highest_processed_block_count,
        loaded_end: r.loaded_end,
    };
    // The same store twice (as two copies of one range would answer).
    let cover = contiguous_cover(&[cov, cov]);
    assert!(cover <= range.end_block, "a store covers nothing past its end");
    assert!(cover <= r.loaded_end, "nor past the highest block loaded");
    // The router merges only well-formed answers (it checks these lengths first).
    let results = &response.fixed_tx_out_search_results;
    if results
        .iter()
        .any(|x| x.search_key.len() != 16 || x.ciphertext.len() != FIXED_CIPHERTEXT_LENGTH)
    {
        return;
    }
    // The keys asked: those the answer holds (a store answers every key asked), cut or
    // padded to `n` with keys it does not hold.
    let asked: Vec<[u8; 16]> = (0..n)
        .map(|i| {
            results
                .get(i)
                .and_then(|r| r.search_key.as_slice().try_into().ok())
                .unwrap_or([i as u8 | 0x80; 16])
        })
        .collect();
    let Some(merged) = merge_results(&[results, results], &asked, |_| {}) else {
        return;
    };
    assert_eq!(merged.len(), padded_batch(n));
    let mut keys: Vec<&[u8]> = merged
        .iter()
        .map(|m| m.search_key.as_slice())
        .filter(|k| k.iter().any(|&b| b != 0))
        .collect();
    let before = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), before, "a key answered twice");
    for m in &merged {
        assert_eq!(m.ciphertext.len(), FIXED_CIPHERTEXT_LENGTH);
    }
}

fn key_image_answer(body: &[u8], n: usize) {
    let Ok(r) = KeyImageStoreResponse::decode(body) else {
        return;
    };
    let Some(response) = r.response else {
        return;
    };
    // Key images of both lengths (a malformed one is answered by its length).
    let asked: Vec<Vec<u8>> = (0..n.min(64))
        .map(|i| vec![i as u8; if i % 5 == 4 { 31 } else { 32 }])
        .collect();
    let merged = merge_key_image_results(
        &[&response.results, &response.results],
        &asked,
        response.num_blocks,
        |_| {},
    );
    assert_eq!(merged.len(), asked.len());
    for (m, k) in merged.iter().zip(&asked) {
        assert_eq!(m.key_image.as_ref().map(|x| x.data.as_slice()), Some(k.as_slice()));
        if m.key_image_result_code == 1 {
            assert!(m.spent_at < response.num_blocks);
        }
    }
}
