//! Crate-level tests: access-trace obliviousness, tampering through the whole ORAM, and a
//! property test of the map against `std::collections::HashMap`.

use alloc::vec::Vec;
use std::collections::HashMap;
use std::println;

use proptest::prelude::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::storage::{EncryptedFactory, HeapFactory, TraceEvent, TraceOp, TracingFactory};
use crate::{ObliviousMap, Oram, OramError, OramParams, STASH_ENTRIES};

fn rng(seed: u64) -> ChaCha20Rng {
    println!("seed {seed}");
    ChaCha20Rng::seed_from_u64(seed)
}

/// The part of a trace the host could compare between runs if accesses were not oblivious:
/// which tree, read or write, and the tree level of the bucket. Leaves are checked separately
/// for uniformity.
fn shape(trace: &[TraceEvent]) -> Vec<(u32, TraceOp, u32)> {
    trace
        .iter()
        .map(|e| (e.store, e.op, 63 - (e.bucket + 1).leading_zeros()))
        .collect()
}

/// Leaves of the paths the data tree reads at random: the first path read by each access.
fn read_leaves(trace: &[TraceEvent], depth: u32, accesses: usize) -> Vec<u64> {
    let data: Vec<&TraceEvent> = trace.iter().filter(|e| e.store == 0).collect();
    let per_access = data.len() / accesses;
    assert_eq!(per_access * accesses, data.len());
    (0..accesses)
        .map(|a| {
            let e = data[a * per_access + depth as usize - 1];
            assert_eq!(e.op, TraceOp::Read);
            e.bucket - ((1u64 << (depth - 1)) - 1)
        })
        .collect()
}

/// Pearson chi-square statistic of `values` (in `0..bins * width`) grouped into `bins` bins.
fn chi_square(values: &[u64], bins: u64, width: u64) -> f64 {
    let mut counts = alloc::vec![0u64; bins as usize];
    for &v in values {
        counts[(v / width) as usize] += 1;
    }
    let expected = values.len() as f64 / bins as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn oram_traces_have_equal_shape_and_uniform_leaves() {
    const N: u64 = 4096;
    const ACCESSES: usize = 3000;
    // Two very different query sequences of equal length: one block over and over, and a
    // sequential scan.
    let seqs: [Vec<u64>; 2] = [
        alloc::vec![5; ACCESSES],
        (0..ACCESSES as u64).map(|i| (i * 7) % N).collect(),
    ];
    let mut shapes = Vec::new();
    for (k, seq) in seqs.iter().enumerate() {
        let factory = TracingFactory::new(HeapFactory);
        let log = factory.log();
        let mut oram = Oram::new(N, 64, factory, rng(100 + k as u64)).unwrap();
        assert!(oram.num_trees() >= 1);
        log.take();
        for &i in seq {
            oram.access(i, |v| v[0] = v[0].wrapping_add(1)).unwrap();
        }
        let trace = log.take();
        // Data tree of 4096 blocks: 2048 leaves, 12 levels.
        let leaves = read_leaves(&trace, 12, ACCESSES);
        // 16 bins of 128 leaves; 15 degrees of freedom, 99.9% quantile 37.7.
        let chi = chi_square(&leaves, 16, 128);
        println!("sequence {k}: chi-square {chi:.1}");
        assert!(chi < 37.7, "read leaves not uniform: chi-square {chi}");
        shapes.push(shape(&trace));
    }
    assert_eq!(shapes[0].len(), shapes[1].len());
    assert!(shapes[0] == shapes[1], "trace shapes differ");
}

#[test]
fn oram_with_recursive_position_map_has_equal_shapes() {
    let params = crate::OramParams {
        scan_threshold: 16,
        ..crate::OramParams::default()
    };
    let mut shapes = Vec::new();
    for (k, seq) in [
        [0u64; 200],
        core::array::from_fn(|i| (i as u64 * 37) % 2000),
    ]
    .iter()
    .enumerate()
    {
        let factory = TracingFactory::new(HeapFactory);
        let log = factory.log();
        let mut oram = Oram::with_params(2000, 8, params, factory, rng(200 + k as u64)).unwrap();
        assert_eq!(oram.num_trees(), 3, "2000 -> 63 -> 2 position blocks");
        log.take();
        for &i in seq {
            oram.access(i, |v| v[1] ^= 1).unwrap();
        }
        shapes.push(shape(&log.take()));
    }
    assert!(shapes[0] == shapes[1]);
}

#[test]
fn map_operations_have_identical_trace_shapes() {
    // 16-byte keys are stored as they are, 32-byte keys as their tag. The last configuration
    // gives the index ORAM position trees (a scan threshold of 4: 1024 buckets, position trees
    // of 8 blocks and 1, a 1-entry table), as maps of more than 2^16 slots have.
    let trees = OramParams {
        scan_threshold: 4,
        ..OramParams::default()
    };
    for (key_len, capacity, params) in [
        (16usize, 2048, OramParams::default()),
        (32, 2048, OramParams::default()),
        (32, 1 << 14, trees),
    ] {
        let factory = TracingFactory::new(HeapFactory);
        let log = factory.log();
        let mut map =
            ObliviousMap::with_params(capacity, key_len, 24, params, factory, rng(300)).unwrap();
        let key = |k: u32| {
            let mut key = alloc::vec![0u8; key_len];
            key[..4].copy_from_slice(&k.to_le_bytes());
            key
        };
        for k in 0..500u32 {
            map.insert(&key(k), &[k as u8; 24]).unwrap();
        }
        log.take();
        let present = key(7);
        let absent = alloc::vec![0xee; key_len];
        let mut out = [0u8; 24];
        let mut traces = Vec::new();
        assert!(bool::from(map.get(&present, &mut out).unwrap()), "hit");
        assert_eq!(out, [7; 24]);
        traces.push(("get hit", log.take()));
        assert!(!bool::from(map.get(&absent, &mut out).unwrap()), "miss");
        assert_eq!(out, [0; 24]);
        traces.push(("get miss", log.take()));
        let new_key = alloc::vec![0xab; key_len];
        assert!(!bool::from(map.insert(&new_key, &[1; 24]).unwrap()), "new");
        traces.push(("insert new", log.take()));
        assert!(
            bool::from(map.insert(&present, &[9; 24]).unwrap()),
            "update"
        );
        traces.push(("insert update", log.take()));
        let found = map.upsert(&present, |v, _| v[0] += 1).unwrap();
        assert!(bool::from(found));
        traces.push(("upsert hit", log.take()));
        let found = map
            .upsert(&alloc::vec![0xcd; key_len], |v, _| v[0] += 1)
            .unwrap();
        assert!(!bool::from(found));
        traces.push(("upsert miss", log.take()));
        assert!(bool::from(map.remove(&present).unwrap()));
        traces.push(("remove hit", log.take()));
        assert!(!bool::from(map.remove(&absent).unwrap()));
        traces.push(("remove miss", log.take()));
        let reference = shape(&traces[0].1);
        assert!(!reference.is_empty());
        for (name, t) in &traces {
            assert!(
                shape(t) == reference,
                "{name} has a different trace shape ({key_len}-byte keys)"
            );
            if params == trees {
                // Stores: the index tree, its position trees of 8 blocks (3 levels) and 1
                // block (1 level), the value tree. One walk of the position map for both
                // buckets: a read path and two evictions per position tree.
                for (store, depth) in [(1u32, 3usize), (2, 1)] {
                    let reads = t
                        .iter()
                        .filter(|e| e.store == store && e.op == TraceOp::Read)
                        .count();
                    assert_eq!(reads, 3 * depth, "{name}: position tree {store}");
                }
                assert!(t.iter().any(|e| e.store == 3), "{name}: value tree");
                assert!(t.iter().all(|e| e.store <= 3), "{name}: four trees");
            }
        }
        assert_eq!(map.len(), 501);
    }
}

/// The value ORAM keeps no position map: its block positions live in the index buckets. Reading
/// the same key over and over must still read a fresh, uniformly random value path each time,
/// exactly as reading a key that is absent does.
#[test]
fn map_value_paths_are_fresh_and_uniform() {
    const OPS: usize = 2000;
    let factory = TracingFactory::new(HeapFactory);
    let log = factory.log();
    // 2048 items: 128 index buckets (one tree, scanned position table) and 2048 + 128 value
    // blocks, one per slot and one per stash entry (2048 leaves, 12 levels).
    let mut map = ObliviousMap::new(2048, 16, 8, factory, rng(310)).unwrap();
    let present = [1u8; 16];
    map.insert(&present, &[5; 8]).unwrap();
    log.take();
    let mut out = [0u8; 8];
    for (k, key) in [present, [2u8; 16]].iter().enumerate() {
        let mut leaves = Vec::with_capacity(OPS);
        let mut shapes = Vec::new();
        for _ in 0..OPS {
            map.get(key, &mut out).unwrap();
            let trace = log.take();
            let stores: std::collections::BTreeSet<u32> = trace.iter().map(|e| e.store).collect();
            assert_eq!(stores.len(), 2, "index tree and value tree, nothing else");
            let value: Vec<&TraceEvent> = trace.iter().filter(|e| e.store == 1).collect();
            // Three paths of 12 buckets read and written: the read path (evicted on the way
            // back) and two evictions.
            assert_eq!(value.len(), 3 * 2 * 12);
            assert!(value[..12].iter().all(|e| e.op == TraceOp::Read));
            leaves.push(value[11].bucket - ((1u64 << 11) - 1));
            shapes.push(shape(&trace));
        }
        assert_eq!(out, if k == 0 { [5; 8] } else { [0; 8] });
        // 16 bins of 128 leaves; 15 degrees of freedom, 99.9% quantile 37.7.
        let chi = chi_square(&leaves, 16, 128);
        println!("key {k}: chi-square {chi:.1}");
        assert!(chi < 37.7, "value paths not uniform: chi-square {chi}");
        // Consecutive reads of one key land on the same path only by chance (1 in 2048).
        let repeats = leaves.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(
            repeats < 12,
            "{repeats} repeated value paths in {OPS} reads"
        );
        assert!(shapes.windows(2).all(|w| w[0] == w[1]));
    }
}

#[test]
fn map_full_is_an_error_with_the_same_shape() {
    let factory = TracingFactory::new(HeapFactory);
    let log = factory.log();
    // 2 buckets, one per table: 32 slots, and the stash.
    let mut map = ObliviousMap::new(32, 8, 8, factory, rng(400)).unwrap();
    let most = 32 + STASH_ENTRIES as u64;
    assert_eq!(map.capacity(), most);
    let mut inserted = 0u64;
    let mut full_trace = None;
    let mut ok_trace = None;
    let mut stash_trace = None;
    for k in 0..most + 40 {
        log.take();
        match map.insert(&k.to_le_bytes(), &k.to_le_bytes()) {
            Ok(_) => {
                inserted += 1;
                if inserted <= 32 {
                    ok_trace = Some(log.take());
                } else {
                    stash_trace = Some(log.take());
                }
            }
            Err(e) => {
                assert_eq!(e, OramError::MapFull);
                full_trace = Some(log.take());
            }
        }
    }
    // Both buckets are shared by every key here, so the buckets fill completely, then the
    // stash does.
    assert_eq!(inserted, most);
    assert_eq!(map.len(), most);
    let ok = shape(&ok_trace.unwrap());
    assert!(shape(&full_trace.unwrap()) == ok);
    assert!(shape(&stash_trace.unwrap()) == ok);
    // Still usable: keys in the buckets and in the stash read back, updates succeed.
    let mut out = [0u8; 8];
    for k in [3u64, 31, 32, 100, most - 1] {
        assert!(bool::from(map.get(&k.to_le_bytes(), &mut out).unwrap()));
        assert_eq!(out, k.to_le_bytes());
    }
    assert!(!bool::from(map.get(&most.to_le_bytes(), &mut out).unwrap()));
    assert_eq!(out, [0; 8]);
    for k in [3u64, 100] {
        assert!(bool::from(map.insert(&k.to_le_bytes(), &[1; 8]).unwrap()));
        map.get(&k.to_le_bytes(), &mut out).unwrap();
        assert_eq!(out, [1; 8]);
    }
    // Reads and updates of a stash key look like those of a bucket key.
    for (k, what) in [(5u64, "bucket"), (120, "stash")] {
        log.take();
        map.get(&k.to_le_bytes(), &mut out).unwrap();
        assert!(shape(&log.take()) == ok, "get of a {what} key");
        map.upsert(&k.to_le_bytes(), |v, _| v[0] ^= 1).unwrap();
        assert!(shape(&log.take()) == ok, "upsert of a {what} key");
    }
    // A removed stash key frees its entry for a new key; the map is full again after it.
    log.take();
    assert!(bool::from(map.remove(&100u64.to_le_bytes()).unwrap()));
    assert!(shape(&log.take()) == ok, "remove of a stash key");
    assert!(!bool::from(
        map.get(&100u64.to_le_bytes(), &mut out).unwrap()
    ));
    assert!(!bool::from(
        map.insert(&1000u64.to_le_bytes(), &[9; 8]).unwrap()
    ));
    map.get(&1000u64.to_le_bytes(), &mut out).unwrap();
    assert_eq!(out, [9; 8]);
    assert!(matches!(
        map.insert(&1001u64.to_le_bytes(), &[9; 8]),
        Err(OramError::MapFull)
    ));
    assert_eq!(map.len(), most);
}

fn encrypted_oram(seed: u64) -> Oram<EncryptedFactory, ChaCha20Rng> {
    let mut oram = Oram::new(256, 32, EncryptedFactory { trusted_levels: 1 }, rng(seed)).unwrap();
    for i in 0..64u64 {
        oram.access(i, |v| v[..8].copy_from_slice(&i.to_le_bytes()))
            .unwrap();
    }
    oram
}

fn read_all(oram: &mut Oram<EncryptedFactory, ChaCha20Rng>) -> Result<(), OramError> {
    for i in 0..64u64 {
        let got = oram.access(i, |v| v[..8].to_vec())?;
        assert_eq!(got, i.to_le_bytes(), "never wrong data");
    }
    Ok(())
}

#[test]
fn encrypted_oram_round_trips() {
    let mut oram = encrypted_oram(500);
    read_all(&mut oram).unwrap();
}

#[test]
fn encrypted_oram_detects_tampering() {
    let mut oram = encrypted_oram(501);
    let store = oram.levels_mut()[0].store_mut();
    let host = store.host_memory_mut();
    for b in host.iter_mut().step_by(97) {
        *b ^= 0x40;
    }
    assert_eq!(read_all(&mut oram), Err(OramError::IntegrityFailure));
    assert_eq!(oram.access(0, |_| ()), Err(OramError::Poisoned));
}

#[test]
fn encrypted_oram_detects_swapped_buckets() {
    let mut oram = encrypted_oram(502);
    let store = oram.levels_mut()[0].store_mut();
    // Buckets 1 and 2 (the root's children) are untrusted; every path passes one of them.
    let (a, b) = (store.host_range(1).unwrap(), store.host_range(2).unwrap());
    let copy_a = store.host_memory()[a.clone()].to_vec();
    let copy_b = store.host_memory()[b.clone()].to_vec();
    store.host_memory_mut()[a].copy_from_slice(&copy_b);
    store.host_memory_mut()[b].copy_from_slice(&copy_a);
    assert_eq!(read_all(&mut oram), Err(OramError::IntegrityFailure));
}

#[test]
fn encrypted_oram_detects_rollback() {
    let mut oram = encrypted_oram(503);
    let snapshot = oram.levels_mut()[0].store_mut().host_memory().to_vec();
    read_all(&mut oram).unwrap();
    // The host restores every bucket to its earlier, validly sealed, version.
    oram.levels_mut()[0]
        .store_mut()
        .host_memory_mut()
        .copy_from_slice(&snapshot);
    assert_eq!(read_all(&mut oram), Err(OramError::IntegrityFailure));
}

#[derive(Clone, Debug)]
enum Op {
    Get(u16),
    Insert(u16, u64),
    Upsert(u16, u64),
    Remove(u16),
}

fn op_strategy(keys: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..keys).prop_map(Op::Get),
        (0..keys, any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        (0..keys, any::<u64>()).prop_map(|(k, v)| Op::Upsert(k, v)),
        (0..keys).prop_map(Op::Remove),
    ]
}

/// Key bytes for key number `k`, `len` bytes: the number is in the last two bytes, so with
/// 12-byte keys the padding inside words is exercised, and with keys of 18 bytes or more
/// (stored as a tag) keys differ only past the first 16 bytes.
fn key_of(k: u16, len: usize) -> Vec<u8> {
    let mut key = alloc::vec![0x5a; len];
    key[len - 2..].copy_from_slice(&k.to_le_bytes());
    key
}

/// Runs `ops` against the map and a HashMap model, with keys of `key_len` bytes. Values are
/// 20 bytes: the u64 repeated.
fn check_against_model(capacity: u64, key_len: usize, ops: &[Op], seed: u64) {
    check_against_model_with(capacity, key_len, OramParams::default(), ops, seed);
}

fn check_against_model_with(
    capacity: u64,
    key_len: usize,
    params: OramParams,
    ops: &[Op],
    seed: u64,
) {
    let key_of = |k: u16| key_of(k, key_len);
    let mut map =
        ObliviousMap::with_params(capacity, key_len, 20, params, HeapFactory, rng(seed)).unwrap();
    let mut model: HashMap<u16, [u8; 20]> = HashMap::new();
    let val = |v: u64| {
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&v.to_le_bytes());
        out[8..16].copy_from_slice(&v.rotate_left(7).to_le_bytes());
        out[16..].copy_from_slice(&[v as u8; 4]);
        out
    };
    for op in ops {
        match *op {
            Op::Get(k) => {
                let mut out = [0u8; 20];
                let found = map.get(&key_of(k), &mut out).unwrap();
                assert_eq!(bool::from(found), model.contains_key(&k));
                assert_eq!(out, model.get(&k).copied().unwrap_or([0; 20]));
            }
            Op::Insert(k, v) => match map.insert(&key_of(k), &val(v)) {
                Ok(found) => {
                    assert_eq!(bool::from(found), model.insert(k, val(v)).is_some());
                }
                Err(e) => {
                    assert_eq!(e, OramError::MapFull);
                    assert!(!model.contains_key(&k), "full only for absent keys");
                }
            },
            Op::Upsert(k, v) => {
                let before = model.get(&k).copied();
                let r = map.upsert(&key_of(k), |cur, found| {
                    assert_eq!(bool::from(found), before.is_some());
                    assert_eq!(cur, &before.unwrap_or([0; 20])[..]);
                    // New value: xor of the old and the given one.
                    for (c, n) in cur.iter_mut().zip(val(v)) {
                        *c ^= n;
                    }
                });
                match r {
                    Ok(found) => {
                        assert_eq!(bool::from(found), before.is_some());
                        let mut new = before.unwrap_or([0; 20]);
                        for (c, n) in new.iter_mut().zip(val(v)) {
                            *c ^= n;
                        }
                        model.insert(k, new);
                    }
                    Err(e) => {
                        assert_eq!(e, OramError::MapFull);
                        assert!(before.is_none());
                    }
                }
            }
            Op::Remove(k) => {
                let found = map.remove(&key_of(k)).unwrap();
                assert_eq!(bool::from(found), model.remove(&k).is_some());
            }
        }
        assert_eq!(map.len(), model.len() as u64);
    }
    // Final sweep: every key agrees.
    for (k, v) in &model {
        let mut out = [0u8; 20];
        assert!(bool::from(map.get(&key_of(*k), &mut out).unwrap()));
        assert_eq!(&out, v);
    }
}

// 1.7 x 10^5 operations in total: 5 tests x 20 cases x ~1700 operations.
const OPS_PER_CASE: usize = 1700;

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]

    #[test]
    fn map_matches_hashmap_tiny(ops in prop::collection::vec(op_strategy(220), OPS_PER_CASE),
                                seed in any::<u64>()) {
        // 32 slots and the 128-entry stash, 220 keys: most keys live in the stash, and the
        // map is full much of the time.
        check_against_model(32, 12, &ops, seed);
    }

    #[test]
    fn map_matches_hashmap_small(ops in prop::collection::vec(op_strategy(600), OPS_PER_CASE),
                                 seed in any::<u64>()) {
        check_against_model(512, 12, &ops, seed);
    }

    #[test]
    fn map_matches_hashmap_medium(ops in prop::collection::vec(op_strategy(3000), OPS_PER_CASE),
                                  seed in any::<u64>()) {
        check_against_model(8192, 12, &ops, seed);
    }

    #[test]
    fn map_with_position_trees_matches_hashmap(ops in prop::collection::vec(op_strategy(3000), OPS_PER_CASE),
                                               seed in any::<u64>()) {
        // 2^14 slots with a scan threshold of 4: the index ORAM has position trees of 8
        // blocks and 1 (several groups, one position walk per operation), as large maps do.
        let params = OramParams { scan_threshold: 4, ..OramParams::default() };
        check_against_model_with(1 << 14, 12, params, &ops, seed);
    }

    #[test]
    fn map_with_tagged_keys_matches_hashmap(ops in prop::collection::vec(op_strategy(600), OPS_PER_CASE),
                                            seed in any::<u64>(),
                                            key_len in prop::sample::select(alloc::vec![18usize, 32, 33])) {
        // Keys longer than 16 bytes are stored as 96-bit tags; these keys differ only in
        // their last two bytes, past the first 16.
        check_against_model(512, key_len, &ops, seed);
    }
}

#[test]
fn map_with_narrow_value_positions_matches_hashmap() {
    // 2^17 slots: the value tree has 2^16 leaves, so the index buckets keep their value
    // positions in 21-bit lanes; 2^22 slots: 2^21 leaves, 24-bit split entries (smaller maps
    // use 16-bit lanes, the unit-sized proptests above). Tagged and plain keys.
    for (capacity, key_len, ops, seed) in [
        (1u64 << 17, 32usize, 6000usize, 40u64),
        (1 << 17, 12, 6000, 41),
        (1 << 22, 32, 2500, 42),
    ] {
        let mut r = rng(seed);
        let ops: Vec<Op> = (0..ops)
            .map(|_| {
                let k = (r.next_u32() % 2000) as u16;
                match r.next_u32() % 4 {
                    0 => Op::Get(k),
                    1 => Op::Insert(k, r.next_u64()),
                    2 => Op::Upsert(k, r.next_u64()),
                    _ => Op::Remove(k),
                }
            })
            .collect();
        check_against_model(capacity, key_len, &ops, seed);
    }
}

#[test]
fn index_buckets_are_as_narrow_as_their_keys_and_value_tree_allow() {
    use crate::oram::Packing;
    // 32-byte keys as 96-bit tags (24 words of keys), 16-byte keys as they are (32 words);
    // value positions in 21 bits up to 2^20 value leaves (a 2^21-slot map), 24 bits up to
    // 2^23 (2^24 slots), 32 beyond.
    for (key_bytes, value_leaf_bits, words) in [
        (32usize, 19u32, 31usize),
        (32, 23, 31),
        (32, 24, 33),
        (16, 19, 39),
        (16, 24, 41),
        (8, 10, 21),
    ] {
        let units = crate::map::stored_key_units(key_bytes);
        assert_eq!(
            crate::map::bucket_words(units, Packing::for_leaf_bits(value_leaf_bits)),
            words,
            "{key_bytes} {value_leaf_bits}"
        );
    }
}

#[test]
fn map_reaches_high_load_before_first_failure() {
    let mut map = ObliviousMap::new(1 << 12, 8, 8, HeapFactory, rng(600)).unwrap();
    let cap = map.capacity();
    let mut r = rng(601);
    let mut n = 0u64;
    loop {
        let k = r.next_u64().to_le_bytes();
        match map.insert(&k, &k) {
            Ok(_) => n += 1,
            Err(e) => {
                assert_eq!(e, OramError::MapFull);
                break;
            }
        }
    }
    let load = n as f64 / cap as f64;
    println!("first failure at load {load:.3} ({n} of {cap})");
    assert!(load > 0.85, "load {load}");
    // The buckets alone: at least the items the stash could not have held.
    let slots = cap - STASH_ENTRIES as u64;
    let bucket_load = (n - STASH_ENTRIES as u64) as f64 / slots as f64;
    assert!(bucket_load > 0.85, "bucket load {bucket_load}");
    assert!(map.stash_peak() <= crate::OramParams::default().stash_slots);
}

/// Forward secrecy inside a live ORAM: once a block is overwritten, its old value is nowhere in
/// the tree's memory (store, stash, path or hold). Before, the slot a block left kept the old
/// value under empty metadata, and evictions moved that stale copy around with the empty slot.
#[test]
fn an_overwritten_value_leaves_no_stale_copy_in_the_tree() {
    const OLD: u64 = 0x0DD0_5EC2_E7C0_FFEE;
    for seed in 0..20 {
        let mut o = Oram::new(64, 32, HeapFactory, rng(900 + seed)).unwrap();
        for i in 0..64u64 {
            o.access_words(i, |w| w.fill(i + 1)).unwrap();
        }
        o.access_words(5, |w| w.fill(OLD)).unwrap();
        let levels = o.levels_mut();
        assert!(
            levels[0].memory_contains(OLD).unwrap(),
            "the value is stored"
        );
        o.access_words(5, |w| {
            assert_eq!(w[0], OLD);
            w.fill(0);
        })
        .unwrap();
        // A few more accesses move blocks through the emptied slots.
        for i in [1u64, 9, 33, 60] {
            o.access_words(i, |w| w[0] += 1).unwrap();
        }
        for level in o.levels_mut() {
            assert!(
                !level.memory_contains(OLD).unwrap(),
                "seed {seed}: a stale copy of the old value stays in the tree"
            );
        }
    }
}

/// A heap store that does not hand out its buckets in place, so that an ORAM on it copies each
/// evicted path back with `write_bucket` (the path every non-heap store takes).
struct CopyBack(crate::storage::HeapStore);

impl crate::storage::BucketStore for CopyBack {
    fn num_buckets(&self) -> u64 {
        self.0.num_buckets()
    }
    fn bucket_words(&self) -> usize {
        self.0.bucket_words()
    }
    fn read_bucket(&mut self, bucket: u64, out: &mut [u64]) -> Result<(), OramError> {
        self.0.read_bucket(bucket, out)
    }
    fn write_bucket(&mut self, bucket: u64, data: &[u64]) -> Result<(), OramError> {
        self.0.write_bucket(bucket, data)
    }
    fn memory_bytes(&self) -> crate::storage::MemoryUse {
        self.0.memory_bytes()
    }
}

struct CopyBackFactory;

impl crate::storage::StoreFactory for CopyBackFactory {
    type Store = CopyBack;
    fn create<R: RngCore + rand_chacha::rand_core::CryptoRng>(
        &mut self,
        num_buckets: u64,
        bucket_words: usize,
        _rng: &mut R,
    ) -> Result<CopyBack, OramError> {
        crate::storage::HeapStore::new(num_buckets, bucket_words).map(CopyBack)
    }
}

/// Every bucket of every tree of `a` holds the same words as in `b`.
fn assert_same_buckets<FA, FB>(
    a: &mut Oram<TracingFactory<FA>, ChaCha20Rng>,
    b: &mut Oram<TracingFactory<FB>, ChaCha20Rng>,
) where
    FA: crate::StoreFactory,
    FB: crate::StoreFactory,
{
    use crate::storage::BucketStore;
    for (la, lb) in a.levels_mut().iter_mut().zip(b.levels_mut().iter_mut()) {
        let (sa, sb) = (la.store_mut().inner_mut(), lb.store_mut().inner_mut());
        let words = sa.bucket_words();
        let (mut wa, mut wb) = (alloc::vec![0u64; words], alloc::vec![0u64; words]);
        for bucket in 0..sa.num_buckets() {
            sa.read_bucket(bucket, &mut wa).unwrap();
            sb.read_bucket(bucket, &mut wb).unwrap();
            assert_eq!(wa, wb, "bucket {bucket}");
        }
    }
}

#[test]
fn in_place_eviction_matches_copying_the_path_back() {
    // The same accesses with the same randomness on a store written in place (the heap store)
    // and on one whose paths are copied back: the same trace, bucket by bucket (reads and
    // writes, in order), the same results and the same bucket contents afterwards. So the
    // trace tests, which run on the heap store, cover both ways of writing back.
    let params = crate::OramParams {
        scan_threshold: 8,
        ..crate::OramParams::default()
    };
    let in_place = TracingFactory::new(HeapFactory);
    let copied = TracingFactory::new(CopyBackFactory);
    let (log_a, log_b) = (in_place.log(), copied.log());
    let mut a = Oram::with_params(2000, 40, params, in_place, rng(300)).unwrap();
    let mut b = Oram::with_params(2000, 40, params, copied, rng(300)).unwrap();
    assert!(a.num_trees() >= 3);
    let mut r = rng(301);
    for step in 0..3000u64 {
        let i = r.next_u64() % 2000;
        let f = |v: &mut [u8]| {
            let old = v[0];
            v[0] = old.wrapping_add(step as u8);
            v[39] = v[39].wrapping_mul(3).wrapping_add(1);
            old
        };
        assert_eq!(a.access(i, f), b.access(i, f), "step {step}");
    }
    let (ta, tb) = (log_a.take(), log_b.take());
    assert!(ta.iter().any(|e| e.op == TraceOp::Write));
    assert_eq!(ta, tb);
    assert_same_buckets(&mut a, &mut b);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn wide_moves_match_the_baseline_build() {
    // The AVX2 copies (eviction, stash insert, position-table scan) against the baseline ones:
    // the same accesses with the same randomness on two ORAMs, the first run wide and the second
    // narrow (the switch is flipped around every access), must give the same results, the same
    // traces and the same buckets. On the heap store (blocks moved in place) and on a store
    // whose paths are copied out and back; value sizes of 5, 17, 33 and 65 words leave
    // remainders after the vector steps; the position table has 94 entries. The test profile
    // builds this crate at opt-level 3 (the workspace Cargo.toml), so the AVX2 copies are
    // vectorised here as in a release build.
    assert!(
        crate::wide::has_avx2_cpu(),
        "this test compares the AVX2 path passes with the baseline ones and needs a processor \
         with AVX2"
    );
    for (value_bytes, seed) in [(40usize, 310u64), (136, 315), (264, 320), (520, 325)] {
        wide_matches_narrow(HeapFactory, HeapFactory, value_bytes, seed);
        wide_matches_narrow(CopyBackFactory, CopyBackFactory, value_bytes, seed + 2);
    }
}

#[cfg(target_arch = "x86_64")]
fn wide_matches_narrow<F: crate::StoreFactory>(fa: F, fb: F, value_bytes: usize, seed: u64) {
    let params = crate::OramParams {
        scan_threshold: 128,
        stash_slots: 13,
        ..crate::OramParams::default()
    };
    let (fa, fb) = (TracingFactory::new(fa), TracingFactory::new(fb));
    let (log_a, log_b) = (fa.log(), fb.log());
    let mut a = Oram::with_params(3000, value_bytes, params, fa, rng(seed)).unwrap();
    let mut b = Oram::with_params(3000, value_bytes, params, fb, rng(seed)).unwrap();
    assert_eq!(a.num_trees(), 2);
    let mut r = rng(seed + 1);
    for step in 0..2000u64 {
        let i = r.next_u64() % 3000;
        let f = |v: &mut [u8]| {
            let old = v[0];
            v[0] = old.wrapping_add(step as u8);
            let last = v.len() - 1;
            v[last] = v[last].wrapping_mul(3).wrapping_add(1);
            old
        };
        crate::use_wide_moves(true);
        assert!(crate::wide_moves());
        let ra = a.access(i, f);
        crate::use_wide_moves(false);
        assert!(!crate::wide_moves());
        let rb = b.access(i, f);
        assert_eq!(ra, rb, "step {step}");
    }
    crate::use_wide_moves(true);
    let (ta, tb) = (log_a.take(), log_b.take());
    assert!(ta.iter().any(|e| e.op == TraceOp::Write));
    assert_eq!(ta, tb);
    assert_same_buckets(&mut a, &mut b);
}
