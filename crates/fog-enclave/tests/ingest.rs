//! The ingest enclave: every TxOut yields one record that exactly its recipient finds; the
//! ORAM access trace does not depend on the hint or the user; rotation keeps every record
//! findable; the egress key changes on rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};

use curve25519_dalek::{constants::RISTRETTO_BASEPOINT_COMPRESSED, ristretto::CompressedRistretto};
use fog_account::AccountKey;
use fog_crypto::{
    crypto_box,
    kex_rng::{KexRng, KexRngPubkey},
    RistrettoPrivate,
};
use fog_enclave::ingest::{hint_recipient, IngestEnclave, IngestError};
use fog_enclave::sealing::{InvalidPlatformKey, SealingKeyProvider};
use fog_oram::{HeapFactory, TraceOp, TracingFactory};
use fog_transaction::{
    wire::ETxOutRecord, Amount, BlockVersion, EncryptedFogHint, FogHint, TokenId, TxOut,
    TxOutRecord,
};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn seeded(seed: u8) -> ChaCha20Rng {
    println!("seed {seed}");
    ChaCha20Rng::from_seed([seed; 32])
}

type Enclave = IngestEnclave<
    HeapFactory,
    ChaCha20Rng,
    ChaCha20Rng,
    Box<dyn FnMut() -> (HeapFactory, ChaCha20Rng)>,
>;

fn heap_enclave(capacity: u64, seed: u8) -> Enclave {
    let mut map_seed = seed as u64 * 1000;
    let make: Box<dyn FnMut() -> (HeapFactory, ChaCha20Rng)> = Box::new(move || {
        map_seed += 1;
        (HeapFactory, ChaCha20Rng::seed_from_u64(map_seed))
    });
    IngestEnclave::new(capacity, seeded(seed), make).unwrap()
}

#[derive(Clone, Copy)]
enum Hint {
    Valid,
    Fake,
    OtherIngest,
    Garbage,
}

fn tx_out_to(
    user: &AccountKey,
    hint: Hint,
    ingest: &fog_crypto::RistrettoPublic,
    rng: &mut ChaCha20Rng,
) -> TxOut {
    let to = user.default_subaddress();
    let e_fog_hint = match hint {
        Hint::Valid => FogHint::from_address(&to).encrypt(ingest, rng),
        Hint::Fake => EncryptedFogHint::fake_onetime_hint(rng),
        Hint::OtherIngest => {
            FogHint::from_address(&to).encrypt(&RistrettoPrivate::random(rng).public_key(), rng)
        }
        Hint::Garbage => {
            let mut b = [0u8; 84];
            rng.fill_bytes(&mut b);
            EncryptedFogHint(b)
        }
    };
    let r = RistrettoPrivate::random(rng);
    TxOut::new(
        BlockVersion::THREE,
        Amount::new(rng.next_u32() as u64, TokenId::MOB),
        &to,
        &r,
        e_fog_hint,
    )
    .unwrap()
}

/// What a client does: rebuild the RNG from an egress key and walk its search keys through
/// the records (of the blocks from the RNG's start), opening each hit.
fn client_finds(
    user: &AccountKey,
    pubkey: &KexRngPubkey,
    records: &HashMap<Vec<u8>, Vec<u8>>,
) -> Vec<TxOutRecord> {
    let c0 = user.default_subaddress_view_private();
    let mut rng = KexRng::from_kex_pubkey(pubkey, &c0).unwrap();
    let mut found = Vec::new();
    while let Some(payload) = records.get(&rng.peek().to_vec()) {
        found.push(TxOutRecord::decrypt(&c0, payload).unwrap());
        rng.advance();
    }
    found
}

#[test]
fn every_tx_out_is_found_by_its_recipient_exactly_once() {
    let mut rng = seeded(1);
    let users: Vec<AccountKey> = (0..4)
        .map(|_| AccountKey::random(&mut rng).with_fog("fog://f", "", b"k"))
        .collect();
    let mut enclave = heap_enclave(1024, 2);
    let ingest = enclave.ingress_public_key();
    let pubkey = enclave.kex_rng_pubkey();
    let mut all: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut expected: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut global = 0u64;
    let hints = [
        Hint::Valid,
        Hint::Fake,
        Hint::Valid,
        Hint::OtherIngest,
        Hint::Garbage,
        Hint::Valid,
    ];
    for block in 0..5u64 {
        let mut tx_outs = Vec::new();
        for i in 0..12usize {
            let u = (i + block as usize) % users.len();
            let hint = hints[(i * 7 + block as usize) % hints.len()];
            if matches!(hint, Hint::Valid) {
                expected
                    .entry(u)
                    .or_default()
                    .push(global + tx_outs.len() as u64);
            }
            tx_outs.push(tx_out_to(&users[u], hint, &ingest, &mut rng));
        }
        let out = enclave
            .ingest_block(block, global, 1000 + block, &tx_outs)
            .unwrap();
        assert!(out.rotated_to.is_none());
        assert_eq!(out.records.len(), tx_outs.len(), "one record per TxOut");
        for r in &out.records {
            assert_eq!(r.search_key.len(), 16);
            assert!(
                all.insert(r.search_key.clone(), r.payload.clone())
                    .is_none(),
                "search keys are unique"
            );
        }
        global += tx_outs.len() as u64;
    }
    assert_eq!(all.len() as u64, global);
    for (u, user) in users.iter().enumerate() {
        let found = client_finds(user, &pubkey, &all);
        let indices: Vec<u64> = found.iter().map(|r| r.global_index).collect();
        assert_eq!(
            indices,
            expected.get(&u).cloned().unwrap_or_default(),
            "user {u}"
        );
        for r in found {
            let (_tx_out, amount) = r
                .fog_tx_out
                .try_recover_tx_out(user.view_private_key())
                .unwrap();
            assert_eq!(amount.token_id, TokenId::MOB);
        }
    }
}

#[test]
fn records_of_bad_hints_open_for_nobody() {
    let mut rng = seeded(3);
    let user = AccountKey::random(&mut rng).with_fog("fog://f", "", b"k");
    let mut enclave = heap_enclave(256, 4);
    let ingest = enclave.ingress_public_key();
    let tx_outs: Vec<TxOut> = [Hint::Fake, Hint::OtherIngest, Hint::Garbage]
        .into_iter()
        .map(|h| tx_out_to(&user, h, &ingest, &mut rng))
        .collect();
    let out = enclave.ingest_block(0, 0, 0, &tx_outs).unwrap();
    assert_eq!(out.records.len(), 3);
    let c0 = user.default_subaddress_view_private();
    for r in &out.records {
        assert_eq!(
            crypto_box::decrypt(&c0, &r.payload).unwrap_err(),
            crypto_box::CryptoBoxError::MacFailed
        );
    }
}

#[test]
fn access_trace_does_not_depend_on_hint_or_user() {
    let mut rng = seeded(5);
    let users: Vec<AccountKey> = (0..2)
        .map(|_| AccountKey::random(&mut rng).with_fog("fog://f", "", b"k"))
        .collect();
    let (mut enclave, log) = traced_enclave(7);
    let ingest = enclave.ingress_public_key();
    log.take();
    let cases = [
        (
            "valid, new user",
            tx_out_to(&users[0], Hint::Valid, &ingest, &mut rng),
        ),
        (
            "valid, known user",
            tx_out_to(&users[0], Hint::Valid, &ingest, &mut rng),
        ),
        (
            "valid, another new user",
            tx_out_to(&users[1], Hint::Valid, &ingest, &mut rng),
        ),
        (
            "fake hint",
            tx_out_to(&users[0], Hint::Fake, &ingest, &mut rng),
        ),
        (
            "hint for another ingest key",
            tx_out_to(&users[1], Hint::OtherIngest, &ingest, &mut rng),
        ),
        (
            "garbage hint",
            tx_out_to(&users[0], Hint::Garbage, &ingest, &mut rng),
        ),
        (
            "valid, known user again",
            tx_out_to(&users[1], Hint::Valid, &ingest, &mut rng),
        ),
    ];
    let mut shapes = Vec::new();
    for (i, (name, tx_out)) in cases.iter().enumerate() {
        enclave
            .ingest_block(i as u64, i as u64, 0, std::slice::from_ref(tx_out))
            .unwrap();
        let trace = log.take();
        assert!(!trace.is_empty());
        let shape: Vec<(u32, TraceOp)> = trace.iter().map(|e| (e.store, e.op)).collect();
        shapes.push((name, shape));
    }
    let (first_name, first) = &shapes[0];
    for (name, shape) in &shapes[1..] {
        assert_eq!(
            shape, first,
            "trace shape of `{name}` differs from `{first_name}`"
        );
    }
}

#[test]
fn rotation_keeps_every_record_findable() {
    rotation_keeps_every_record_findable_with(0);
}

#[test]
fn rotation_keeps_every_record_findable_with_lent_threads() {
    rotation_keeps_every_record_findable_with(2);
}

fn rotation_keeps_every_record_findable_with(threads: usize) {
    let mut rng = seeded(8);
    let users: Vec<AccountKey> = (0..6)
        .map(|_| AccountKey::random(&mut rng).with_fog("fog://f", "", b"k"))
        .collect();
    let mut enclave = heap_enclave(64, 9);
    let pool = enclave.workers().clone();
    let lent: Vec<_> = (0..threads)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || pool.run_worker())
        })
        .collect();
    let ingest = enclave.ingress_public_key();
    // RNG records as the host would store them: (egress key, first block).
    let mut rng_records = vec![(enclave.kex_rng_pubkey(), 0u64)];
    let mut by_block: Vec<HashMap<Vec<u8>, Vec<u8>>> = Vec::new();
    let mut expected: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut global = 0u64;
    for block in 0..30u64 {
        let mut tx_outs = Vec::new();
        for i in 0..10usize {
            // Random recipients, half of them bogus: the store fills with TxOuts, not users.
            let u = (rng.next_u32() as usize) % users.len();
            let hint = if i % 2 == 0 { Hint::Valid } else { Hint::Fake };
            if matches!(hint, Hint::Valid) {
                expected.entry(u).or_default().push(global + i as u64);
            }
            tx_outs.push(tx_out_to(&users[u], hint, &ingest, &mut rng));
        }
        let out = enclave.ingest_block(block, global, 0, &tx_outs).unwrap();
        if let Some(pubkey) = out.rotated_to {
            rng_records.push((pubkey, block));
        }
        assert!(enclave.map_len() <= enclave.map_capacity());
        by_block.push(
            out.records
                .into_iter()
                .map(
                    |ETxOutRecord {
                         search_key,
                         payload,
                     }| (search_key, payload),
                )
                .collect(),
        );
        global += 10;
    }
    assert!(
        rng_records.len() >= 3,
        "expected several rotations, got {}",
        rng_records.len()
    );
    for (u, user) in users.iter().enumerate() {
        let mut found = Vec::new();
        for (n, (pubkey, start)) in rng_records.iter().enumerate() {
            let end = rng_records
                .get(n + 1)
                .map_or(by_block.len() as u64, |r| r.1);
            let mut records = HashMap::new();
            for b in *start..end {
                records.extend(by_block[b as usize].clone());
            }
            found.extend(
                client_finds(user, pubkey, &records)
                    .into_iter()
                    .map(|r| r.global_index),
            );
        }
        assert_eq!(
            found,
            expected.get(&u).cloned().unwrap_or_default(),
            "user {u}"
        );
    }
    pool.stop();
    for t in lent {
        t.join().unwrap();
    }
}

#[test]
fn rotation_replaces_the_egress_key() {
    let mut rng = seeded(10);
    let user = AccountKey::random(&mut rng).with_fog("fog://f", "", b"k");
    let mut enclave = heap_enclave(256, 11);
    let before = enclave.dangerous_egress_bytes();
    let old_pubkey = enclave.kex_rng_pubkey();
    let new_pubkey = enclave.rotate().unwrap();
    assert_ne!(old_pubkey, new_pubkey);
    assert_ne!(enclave.dangerous_egress_bytes(), before);
    assert_eq!(enclave.map_len(), 0);
    // Records now follow the new key's RNG, and the old key's RNG finds nothing.
    let records = records_for(&mut enclave, &user, &mut rng);
    assert_eq!(client_finds(&user, &new_pubkey, &records).len(), 1);
    assert!(client_finds(&user, &old_pubkey, &records).is_empty());
    // Nothing secret in Debug.
    let text = format!("{enclave:?}");
    let hex: String = enclave
        .dangerous_egress_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!text.contains(&hex));
}

fn map_maker(seed: u64) -> Box<dyn FnMut() -> (HeapFactory, ChaCha20Rng)> {
    let mut map_seed = seed * 1000;
    Box::new(move || {
        map_seed += 1;
        (HeapFactory, ChaCha20Rng::seed_from_u64(map_seed))
    })
}

fn restore(platform: &SealingKeyProvider, sealed: &[u8], seed: u8) -> Result<Enclave, IngestError> {
    Enclave::restore(platform, sealed, 256, seeded(seed), map_maker(seed as u64))
}

/// The restored enclave really holds the key: a hint encrypted to it names its recipient.
fn finds_valid_hint(enclave: &mut Enclave, rng: &mut ChaCha20Rng) -> bool {
    let user = AccountKey::random(rng).with_fog("fog://f", "", b"k");
    let pubkey = enclave.kex_rng_pubkey();
    let records = records_for(enclave, &user, rng);
    client_finds(&user, &pubkey, &records).len() == 1
}

/// The records of a block holding one TxOut to `user` with a valid hint to the enclave's
/// ingress key, by search key.
fn records_for(
    enclave: &mut Enclave,
    user: &AccountKey,
    rng: &mut ChaCha20Rng,
) -> HashMap<Vec<u8>, Vec<u8>> {
    let ingest = enclave.ingress_public_key();
    enclave
        .ingest_block(0, 0, 0, &[tx_out_to(user, Hint::Valid, &ingest, rng)])
        .unwrap()
        .records
        .into_iter()
        .map(|r| (r.search_key, r.payload))
        .collect()
}

#[test]
fn a_sealed_ingress_key_restores_the_same_key_on_its_platform() {
    let mut rng = seeded(12);
    let (platform, platform_bytes) = SealingKeyProvider::simulated_generate(&mut rng);
    let (mut created, sealed) = Enclave::create(&platform, 256, seeded(13), map_maker(13)).unwrap();
    let mut restored = restore(&platform, &sealed, 14).unwrap();
    assert_eq!(restored.ingress_public_key(), created.ingress_public_key());
    // A fresh egress key: restoring never brings the RNG state back.
    assert_ne!(restored.kex_rng_pubkey(), created.kex_rng_pubkey());
    assert!(finds_valid_hint(&mut restored, &mut rng));
    // The same platform key read back from its file bytes opens it too, and a new sealing
    // (fresh ephemeral key, other bytes) holds the same key.
    let reread = SealingKeyProvider::simulated_from_bytes(&platform_bytes[..]).unwrap();
    let resealed = created.seal_ingress_key(&reread);
    assert_ne!(resealed, sealed);
    assert_eq!(
        restore(&reread, &resealed, 15)
            .unwrap()
            .ingress_public_key(),
        created.ingress_public_key()
    );
    // An enclave made with `new` is sealed on demand, and a key replaced by
    // `new_ingress_key` is the one sealed next.
    let mut fresh = heap_enclave(256, 16);
    let new_public = fresh.new_ingress_key();
    let sealed = fresh.seal_ingress_key(&platform);
    assert_eq!(
        restore(&platform, &sealed, 17)
            .unwrap()
            .ingress_public_key(),
        new_public
    );
    // The first version's format: the crypto box of the key's 32 bytes to the platform key.
    let old_platform = RistrettoPrivate::random(&mut rng);
    let old_ingress = RistrettoPrivate::random(&mut rng);
    let old_sealed = crypto_box::encrypt(
        &mut rng,
        &old_platform.public_key(),
        &old_ingress.to_bytes()[..],
    );
    let provider = SealingKeyProvider::simulated_from_bytes(&old_platform.to_bytes()[..]).unwrap();
    let mut old = restore(&provider, &old_sealed, 18).unwrap();
    assert_eq!(old.ingress_public_key(), old_ingress.public_key());
    assert!(finds_valid_hint(&mut old, &mut rng));
}

#[test]
fn a_sealed_key_from_another_platform_or_tampered_is_refused_and_changes_nothing() {
    let mut rng = seeded(20);
    let (platform, _) = SealingKeyProvider::simulated_generate(&mut rng);
    let (other, _) = SealingKeyProvider::simulated_generate(&mut rng);
    let (mut enclave, sealed) = Enclave::create(&platform, 256, seeded(21), map_maker(21)).unwrap();
    let public = enclave.ingress_public_key();
    let egress = enclave.kex_rng_pubkey();
    let original = sealed.clone();

    let refused = |blob: &[u8], with: &SealingKeyProvider| {
        assert_eq!(
            restore(with, blob, 22).err(),
            Some(IngestError::BadSealedKey)
        );
    };
    // Another platform's key.
    refused(&sealed, &other);
    let (_, other_sealed) = Enclave::create(&other, 256, seeded(23), map_maker(23)).unwrap();
    refused(&other_sealed, &platform);
    // Every single changed byte: body, ephemeral key, tag, version bytes.
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        refused(&bad, &platform);
    }
    // Cut short, extended, empty.
    refused(&sealed[..sealed.len() - 1], &platform);
    refused(&sealed[1..], &platform);
    let mut longer = sealed.clone();
    longer.push(0);
    refused(&longer, &platform);
    refused(&[], &platform);
    // It opens with this platform's key but is not a key (not a canonical scalar, wrong size).
    let (probe, probe_bytes) = SealingKeyProvider::simulated_generate(&mut rng);
    let probe_public = RistrettoPrivate::from_bytes(&probe_bytes[..])
        .unwrap()
        .public_key();
    refused(
        &crypto_box::encrypt(&mut rng, &probe_public, &[0xff; 32]),
        &probe,
    );
    refused(
        &crypto_box::encrypt(&mut rng, &probe_public, &[1; 31]),
        &probe,
    );

    // Nothing changed: the sealed bytes are the same, they still open to the same key, and
    // the running enclave keeps its keys and still scans.
    assert_eq!(sealed, original);
    assert_eq!(
        restore(&platform, &sealed, 24)
            .unwrap()
            .ingress_public_key(),
        public
    );
    assert_eq!(enclave.ingress_public_key(), public);
    assert_eq!(enclave.kex_rng_pubkey(), egress);
    assert!(finds_valid_hint(&mut enclave, &mut rng));
}

#[test]
fn the_platform_key_is_not_in_debug() {
    let mut rng = seeded(25);
    let (platform, bytes) = SealingKeyProvider::simulated_generate(&mut rng);
    let text = format!("{platform:?}");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text.contains(&hex));
    assert!(!text.contains(&format!("{:?}", &bytes[..])));
    assert!(text.contains("simulated"));
    assert_eq!(
        SealingKeyProvider::simulated_from_bytes(&bytes[..31]).err(),
        Some(InvalidPlatformKey)
    );
}

/// An 84-byte hint that authenticates under `ingress`, with any 34-byte plaintext.
fn authenticated_hint(
    plaintext: &[u8; 34],
    ingress: &fog_crypto::RistrettoPublic,
    rng: &mut ChaCha20Rng,
) -> EncryptedFogHint {
    let mut out = [0u8; 84];
    crypto_box::encrypt_into(rng, ingress, plaintext, &mut out).unwrap();
    EncryptedFogHint(out)
}

#[test]
fn hint_recipient_names_the_view_key_only_for_a_valid_hint() {
    let mut rng = seeded(14);
    let user = AccountKey::random(&mut rng).with_fog("fog://f", "", b"k");
    let to = user.default_subaddress();
    let view = *to.view_public_key();
    let ingress = RistrettoPrivate::random(&mut rng);
    let ingress_public = ingress.public_key();

    let valid = FogHint::from_address(&to).encrypt(&ingress_public, &mut rng);
    assert_eq!(hint_recipient(&ingress, &valid, &mut rng), view);
    // The same hint again: the same key (nothing random leaks into a valid recipient).
    assert_eq!(hint_recipient(&ingress, &valid, &mut rng), view);

    // Key bytes that authenticate but are not a point: non-canonical (all 0xff), negative
    // (s = 1), and the first even s whose decoding fails later, in the square root.
    let not_canonical = [0xffu8; 32];
    let mut negative = [0u8; 32];
    negative[0] = 1;
    let no_root = (1u8..=127)
        .map(|k| {
            let mut b = [0u8; 32];
            b[0] = 2 * k;
            b
        })
        .find(|b| CompressedRistretto(*b).decompress().is_none())
        .unwrap();
    let mut wrong_magic = [0u8; 34];
    wrong_magic[..32].copy_from_slice(view.as_bytes());
    wrong_magic[32] = 42;
    wrong_magic[33] = 43;
    let with_magic = |key: [u8; 32]| {
        let mut pt = [42u8; 34];
        pt[..32].copy_from_slice(&key);
        pt
    };
    let mut garbage = [0u8; 84];
    rng.fill_bytes(&mut garbage);
    let bad = [
        ("fake", EncryptedFogHint::fake_onetime_hint(&mut rng)),
        (
            "another ingest key",
            FogHint::from_address(&to)
                .encrypt(&RistrettoPrivate::random(&mut rng).public_key(), &mut rng),
        ),
        ("garbage", EncryptedFogHint(garbage)),
        (
            "wrong magic",
            authenticated_hint(&wrong_magic, &ingress_public, &mut rng),
        ),
        (
            "non-canonical key",
            authenticated_hint(&with_magic(not_canonical), &ingress_public, &mut rng),
        ),
        (
            "negative key",
            authenticated_hint(&with_magic(negative), &ingress_public, &mut rng),
        ),
        (
            "key with no square root",
            authenticated_hint(&with_magic(no_root), &ingress_public, &mut rng),
        ),
    ];
    for (name, hint) in &bad {
        let a = hint_recipient(&ingress, hint, &mut rng);
        let b = hint_recipient(&ingress, hint, &mut rng);
        assert_ne!(a, view, "{name}");
        assert_ne!(a, b, "{name}: a fresh random point each time");
        assert_ne!(
            a.to_bytes(),
            RISTRETTO_BASEPOINT_COMPRESSED.to_bytes(),
            "{name}: the placeholder is never the recipient"
        );
    }
}

type TracedEnclave = IngestEnclave<
    TracingFactory<HeapFactory>,
    ChaCha20Rng,
    ChaCha20Rng,
    Box<dyn FnMut() -> (TracingFactory<HeapFactory>, ChaCha20Rng)>,
>;

/// An enclave over a tracing store (it never rotates), with fixed randomness.
fn traced_enclave(seed: u8) -> (TracedEnclave, fog_oram::TraceLog) {
    let factory = TracingFactory::new(HeapFactory);
    let log = factory.log();
    let mut slot = Some(factory);
    let make: Box<dyn FnMut() -> (TracingFactory<HeapFactory>, ChaCha20Rng)> =
        Box::new(move || {
            (
                slot.take().expect("this test never rotates"),
                ChaCha20Rng::seed_from_u64(u64::from(seed) + 1),
            )
        });
    (IngestEnclave::new(1024, seeded(seed), make).unwrap(), log)
}

/// Lent threads share out the public-key work and change nothing anyone sees: two enclaves
/// with the same randomness, one with two lent threads and one with none, answer the same
/// records byte for byte and make the same ORAM accesses in the same order, over blocks
/// that do not divide evenly into the work's chunks; and the recipients find their TxOuts.
#[test]
fn lent_threads_change_no_record_and_no_access() {
    let mut rng = seeded(11);
    let users: Vec<AccountKey> = (0..3)
        .map(|_| AccountKey::random(&mut rng).with_fog("fog://f", "", b"k"))
        .collect();
    let (mut alone, alone_log) = traced_enclave(12);
    let (mut helped, helped_log) = traced_enclave(12);
    let pool = helped.workers().clone();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || pool.run_worker())
        })
        .collect();
    let ingest = alone.ingress_public_key();
    assert_eq!(ingest, helped.ingress_public_key());
    let pubkey = alone.kex_rng_pubkey();
    alone_log.take();
    helped_log.take();
    let kinds = [Hint::Valid, Hint::Fake, Hint::Garbage, Hint::OtherIngest];
    let mut expected = vec![0usize; users.len()];
    let mut all: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut global = 0u64;
    let sizes = [1usize, 49, 50, 51, 120, 120, 120];
    for (block, &n) in sizes.iter().enumerate() {
        let tx_outs: Vec<TxOut> = (0..n)
            .map(|i| {
                let u = (i + block) % users.len();
                let hint = kinds[(i * 3 + block) % kinds.len()];
                expected[u] += usize::from(matches!(hint, Hint::Valid));
                tx_out_to(&users[u], hint, &ingest, &mut rng)
            })
            .collect();
        let a = alone
            .ingest_block(block as u64, global, 0, &tx_outs)
            .unwrap();
        let b = helped
            .ingest_block(block as u64, global, 0, &tx_outs)
            .unwrap();
        assert_eq!(a.records, b.records, "block {block}");
        assert_eq!(alone_log.take(), helped_log.take(), "block {block}");
        for r in b.records {
            all.insert(r.search_key, r.payload);
        }
        global += n as u64;
    }
    assert!(
        pool.worker_tasks() > 0,
        "the lent threads ran none of {} blocks' tasks",
        sizes.len()
    );
    assert_eq!(alone.workers().worker_tasks(), 0);
    for (u, user) in users.iter().enumerate() {
        assert_eq!(
            client_finds(user, &pubkey, &all).len(),
            expected[u],
            "user {u}"
        );
    }
    pool.stop();
    for t in threads {
        t.join().unwrap();
    }
}
