//! The view store: records from ingest are found by their recipients' RNGs, results have one
//! size, and hits, misses and bad keys make the same ORAM trace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fog_account::AccountKey;
use fog_crypto::{kex_rng::KexRng, RistrettoPrivate};
use fog_enclave::{
    ingest::IngestEnclave,
    view::{
        ViewError, ViewStore, FIXED_CIPHERTEXT_LENGTH, RESULT_BAD_SEARCH_KEY, RESULT_FOUND,
        RESULT_NOT_FOUND,
    },
};
use fog_oram::{HeapFactory, TraceOp, TracingFactory};
use fog_transaction::{
    wire::ETxOutRecord, Amount, BlockVersion, FogHint, TokenId, TxOut, TxOutRecord,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

#[test]
fn records_from_ingest_are_found_by_their_recipient() {
    let mut rng = ChaCha20Rng::from_seed([41; 32]);
    println!("seed [41; 32]");
    let user = AccountKey::random(&mut rng).with_fog("fog://f", "", b"k");
    let other = AccountKey::random(&mut rng).with_fog("fog://f", "", b"k");
    let mut seed = 0u64;
    let make = move || {
        seed += 1;
        (HeapFactory, ChaCha20Rng::seed_from_u64(seed))
    };
    let mut ingest = IngestEnclave::new(1 << 10, ChaCha20Rng::seed_from_u64(100), make).unwrap();
    let key = ingest.ingress_public_key();
    let tx_outs: Vec<TxOut> = (0..10)
        .map(|i| {
            let to = if i % 2 == 0 {
                user.default_subaddress()
            } else {
                other.default_subaddress()
            };
            let hint = FogHint::from_address(&to).encrypt(&key, &mut rng);
            TxOut::new(
                BlockVersion::THREE,
                Amount::new(i, TokenId::MOB),
                &to,
                &RistrettoPrivate::random(&mut rng),
                hint,
            )
            .unwrap()
        })
        .collect();
    let out = ingest.ingest_block(0, 0, 0, &tx_outs).unwrap();
    let mut view = ViewStore::new(1 << 10, HeapFactory, ChaCha20Rng::seed_from_u64(7)).unwrap();
    view.add_records(&out.records).unwrap();
    assert_eq!(view.len(), 10);

    let c0 = user.default_subaddress_view_private();
    let mut kex = KexRng::from_kex_pubkey(&ingest.kex_rng_pubkey(), &c0).unwrap();
    let keys: Vec<[u8; 16]> = (0..7)
        .map(|_| {
            let k = *kex.peek();
            kex.advance();
            k
        })
        .collect();
    let results = view.query(&keys).unwrap();
    assert_eq!(results.len(), 7);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.ciphertext.len(), FIXED_CIPHERTEXT_LENGTH);
        assert_eq!(r.search_key, keys[i]);
        if i < 5 {
            assert_eq!(r.result_code, RESULT_FOUND);
            let payload = &r.ciphertext[..r.payload_length as usize];
            let record = TxOutRecord::decrypt(&c0, payload).unwrap();
            assert_eq!(record.global_index, 2 * i as u64);
            assert!(r.ciphertext[r.payload_length as usize..]
                .iter()
                .all(|&b| b == 0));
        } else {
            assert_eq!(r.result_code, RESULT_NOT_FOUND);
            assert_eq!(r.payload_length, fog_enclave::view::MISS_PAYLOAD_LENGTH);
            assert!(r.ciphertext.iter().all(|&b| b == 0));
        }
    }
    assert_eq!(
        view.query(&[[0u8; 16]]).unwrap()[0].result_code,
        RESULT_BAD_SEARCH_KEY
    );
}

#[test]
fn hits_misses_and_bad_keys_make_the_same_trace() {
    let factory = TracingFactory::new(HeapFactory);
    let log = factory.log();
    let mut view = ViewStore::new(1 << 9, factory, ChaCha20Rng::seed_from_u64(9)).unwrap();
    let records: Vec<ETxOutRecord> = (0..100u8)
        .map(|i| ETxOutRecord {
            search_key: vec![i + 1; 16],
            payload: vec![i; 100 + i as usize],
        })
        .collect();
    view.add_records(&records).unwrap();
    log.take();
    let mut shapes = Vec::new();
    for (name, key) in [
        ("hit", [5u8; 16]),
        ("miss", [200u8; 16]),
        ("another hit", [77u8; 16]),
        ("bad key", [0u8; 16]),
    ] {
        view.query(&[key]).unwrap();
        let shape: Vec<(u32, TraceOp)> = log.take().iter().map(|e| (e.store, e.op)).collect();
        assert!(!shape.is_empty());
        shapes.push((name, shape));
    }
    for (name, shape) in &shapes[1..] {
        assert_eq!(
            shape, &shapes[0].1,
            "`{name}` differs from `{}`",
            shapes[0].0
        );
    }
}

#[test]
fn malformed_records_store_nothing_and_a_full_store_says_so() {
    let mut view = ViewStore::new(64, HeapFactory, ChaCha20Rng::seed_from_u64(3)).unwrap();
    let good = ETxOutRecord {
        search_key: vec![1; 16],
        payload: vec![2; 10],
    };
    let long = ETxOutRecord {
        search_key: vec![3; 16],
        payload: vec![2; 240],
    };
    let short_key = ETxOutRecord {
        search_key: vec![4; 15],
        payload: vec![2; 10],
    };
    assert_eq!(
        view.add_records(&[good.clone(), long]),
        Err(ViewError::MalformedRecord)
    );
    assert_eq!(
        view.add_records(&[short_key]),
        Err(ViewError::MalformedRecord)
    );
    assert_eq!(view.len(), 0);
    view.add_records(&[good]).unwrap();
    let many: Vec<ETxOutRecord> = (0..1000u32)
        .map(|i| ETxOutRecord {
            search_key: [i.to_le_bytes(), [9; 4], [9; 4], [9; 4]].concat(),
            payload: vec![1],
        })
        .collect();
    assert_eq!(view.add_records(&many), Err(ViewError::Full));
    assert!(view.len() <= view.capacity());
}
