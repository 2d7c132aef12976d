//! Writes the session part of the seed corpus of the `enclave_requests` fuzz target: the
//! plaintexts a client seals to the view enclave (selector 3: `[aad length][QueryRequestAad]
//! [QueryRequest]`) and to the ledger enclave (4: `CheckKeyImagesRequest`, 5:
//! `GetOutputsRequest`, 6: `BlockIdsRequest`). The target's enclaves hold records under
//! search keys `[1; 16]` to `[8; 16]`, key images `[0x40; 32]` to `[0x45; 32]` and three
//! blocks; the seeds ask for some of those and for some that are not there.
//!
//! It also writes the seeds of `router_messages`: a view store's answer to a router (found,
//! not found and padding results), a key-image store's answer (spent and not spent), a
//! router's query to a view store.
//!
//! `cargo run -p fog-enclave --example fuzz_seeds -- fuzz/seeds` (from the workspace root)
//! writes `fuzz/seeds/enclave_requests/plain-*.bin` and `fuzz/seeds/router_messages/*.bin`.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use fog_transaction::wire::KeyImage;
use fog_types::ledger::{BlockIdsRequest, CheckKeyImagesRequest, GetOutputsRequest, KeyImageQuery};
use fog_types::view::{QueryRequest, QueryRequestAad};
use prost::Message;

const VIEW_QUERY: u8 = 3;
const KEY_IMAGES: u8 = 4;
const GET_OUTPUTS: u8 = 5;
const BLOCK_IDS: u8 = 6;

fn write(dir: &Path, name: &str, selector: u8, body: &[u8]) {
    let mut bytes = vec![selector];
    bytes.extend_from_slice(body);
    std::fs::write(dir.join(format!("plain-{name}.bin")), bytes).expect("write a seed");
}

fn query(aad: QueryRequestAad, keys: &[Vec<u8>]) -> Vec<u8> {
    let aad = aad.encode_to_vec();
    let mut out = vec![u8::try_from(aad.len()).expect("a short aad")];
    out.extend_from_slice(&aad);
    out.extend_from_slice(
        &QueryRequest {
            get_txos: keys.to_vec(),
        }
        .encode_to_vec(),
    );
    out
}

fn key_images(images: &[Vec<u8>]) -> Vec<u8> {
    CheckKeyImagesRequest {
        queries: images
            .iter()
            .map(|k| KeyImageQuery {
                key_image: Some(KeyImage { data: k.clone() }),
                start_block: 0,
            })
            .collect(),
    }
    .encode_to_vec()
}

fn main() {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| "fuzz/seeds".into(), Into::into);
    let dir = root.join("enclave_requests");
    std::fs::create_dir_all(&dir).expect("create the seed directory");

    let from = |event: i64| QueryRequestAad {
        start_from_user_event_id: event,
        start_from_block_index: 0,
    };
    write(
        &dir,
        "view-found",
        VIEW_QUERY,
        &query(from(0), &[vec![1; 16], vec![2; 16]]),
    );
    write(
        &dir,
        "view-mixed",
        VIEW_QUERY,
        &query(
            QueryRequestAad {
                start_from_user_event_id: 1,
                start_from_block_index: 1,
            },
            &[
                vec![8; 16],
                vec![0x77; 16],
                vec![3; 15],
                vec![5; 16],
                vec![5; 16],
            ],
        ),
    );
    write(
        &dir,
        "view-no-events",
        VIEW_QUERY,
        &query(from(i64::MAX), &[vec![4; 16]]),
    );
    write(&dir, "view-empty", VIEW_QUERY, &query(from(2), &[]));

    write(
        &dir,
        "key-images",
        KEY_IMAGES,
        &key_images(&[
            vec![0x40; 32],
            vec![0x45; 32],
            vec![0x99; 32],
            vec![0x41; 31],
        ]),
    );
    write(&dir, "key-images-none", KEY_IMAGES, &key_images(&[]));

    let outputs = GetOutputsRequest {
        indices: vec![0, 3, 5, 1 << 40],
        merkle_root_block: 2,
    };
    write(&dir, "get-outputs", GET_OUTPUTS, &outputs.encode_to_vec());

    let ids = BlockIdsRequest {
        indices: vec![0, 2, 7],
    };
    write(&dir, "block-ids", BLOCK_IDS, &ids.encode_to_vec());
    router_seeds(&root.join("router_messages"));
}

/// `[selector][keys asked][message]` for `router_messages`.
fn router_seeds(dir: &Path) {
    use fog_types::common::BlockRange;
    use fog_types::ledger::{CheckKeyImagesResponse, KeyImageResult, KeyImageStoreResponse};
    use fog_types::view::{
        FixedTxOutSearchResult, QueryResponse, StoreQueryRequest, StoreQueryResponse,
    };
    std::fs::create_dir_all(dir).expect("create the seed directory");
    let put = |name: &str, selector: u8, n: u8, body: Vec<u8>| {
        let mut bytes = vec![selector, n];
        bytes.extend(body);
        std::fs::write(dir.join(format!("{name}.bin")), bytes).expect("write a seed");
    };
    let result = |key: u8, found: bool| FixedTxOutSearchResult {
        search_key: vec![key; 16],
        result_code: if found { 1 } else { 2 },
        ciphertext: {
            let mut c = vec![if found { key } else { 0 }; if found { 40 } else { 0 }];
            c.resize(255, 0);
            c
        },
        payload_length: if found { 40 } else { 239 },
    };
    let answer = StoreQueryResponse {
        block_range: Some(BlockRange::new(10, 20)),
        response: Some(QueryResponse {
            highest_processed_block_count: 18,
            fixed_tx_out_search_results: vec![result(1, true), result(2, false), result(0, false)],
            ..QueryResponse::default()
        }),
        events_truncated: false,
        loaded_end: 18,
        loaded_end_timestamp: 1_700_000_017,
    };
    put("view-store-answer", 0, 2, answer.encode_to_vec());
    let spent = |at: u64| KeyImageResult {
        key_image: Some(KeyImage {
            data: vec![0x40; 32],
        }),
        spent_at: at,
        timestamp: at.saturating_add(1_700_000_000),
        timestamp_result_code: 1,
        key_image_result_code: if at == u64::MAX { 2 } else { 1 },
    };
    let ki = KeyImageStoreResponse {
        block_range: Some(BlockRange::new(0, u64::MAX)),
        response: Some(CheckKeyImagesResponse {
            num_blocks: 9,
            results: vec![spent(3), spent(u64::MAX), spent(12)],
            ..CheckKeyImagesResponse::default()
        }),
    };
    put("key-image-store-answer", 1, 3, ki.encode_to_vec());
    let request = StoreQueryRequest {
        aad: Some(QueryRequestAad {
            start_from_user_event_id: 4,
            start_from_block_index: 10,
        }),
        get_txos: vec![vec![1; 16], vec![9; 15]],
    };
    put("view-store-request", 2, 2, request.encode_to_vec());
}
