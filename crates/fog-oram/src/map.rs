//! An oblivious hash map over the tree ORAM: fixed-size keys and values, two-choice
//! ("d-left", d = 2) hashing with buckets of 16 slots, the two buckets of a key in one group,
//! and a small overflow stash.
//!
//! Trusted side. The map keeps two ORAMs: an *index* ORAM whose blocks are buckets of 16 key
//! slots (a key longer than 16 bytes is stored as its 96-bit keyed tag) with one word of
//! occupancy bits, and a *value* ORAM with one block per slot and per stash entry. The value
//! ORAM has no position map of its own: each slot of a bucket also holds the current position
//! (leaf) of its value block, which the index operation reads and replaces with a fresh one
//! (the pointer technique of Wang et al., "Oblivious Data Structures", CCS 2014).
//!
//! Groups: the index buckets come in groups of [`GROUP_BUCKETS`] per table, and both buckets
//! of a key lie in the same group (a keyed hash picks the group, two more pick a bucket in
//! each table's half of it). A group's buckets are consecutive blocks of the index ORAM whose
//! positions fill one of its position blocks (128 entries), so the index operation walks the
//! position map once for both buckets instead of once per bucket
//! ([`OramCore::access_grouped`]): one path per position tree instead of two, and (in maps of
//! more than 2^16 slots, whose index ORAM has position trees) one scan of the position table
//! instead of two. Grouping makes bucket loads less even (a group's load
//! varies with the group), so a key whose two buckets are both full goes to the *stash*: up
//! to [`STASH_ENTRIES`] slots kept in trusted memory and scanned whole by every operation,
//! each with the position of its own value block.
//!
//! Every operation — [`ObliviousMap::get`], [`ObliviousMap::insert`],
//! [`ObliviousMap::upsert`], [`ObliviousMap::remove`], hit or miss, new key or update, full or
//! not — does exactly one grouped index ORAM operation on two blocks (one bucket in each
//! table, in table order), a constant-time scan of their 32 slots and of the stash, and then
//! one value ORAM access (one path, no position map) on the chosen place (the key's slot or
//! stash entry, the place a new key gets, or, when there is none, a place whose value block is
//! read and written back unchanged). The group and bucket indices come from a keyed hash (SipHash-2-4 under a key
//! drawn from the caller's RNG); the ORAMs hide them anyway.
//!
//! Placement: a new key goes into the less loaded of its two buckets (the left one on ties,
//! Vöcking's rule), or into the first free stash slot when both are full, chosen with
//! constant-time arithmetic. No key is ever moved, so inserts are as oblivious as lookups. An
//! insert fails with [`OramError::MapFull`] only when both buckets and the stash are full;
//! simulated and measured first-failure loads are in the README (about 86 % of the bucket
//! slots at 2^24 slots, more in smaller maps).
//!
//! Revealed: the kind of operation is hidden from the memory trace but the *result* (found or
//! not, full or not) is returned to the caller, who must treat it as secret.

use alloc::vec;
use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use subtle::Choice;
use zeroize::Zeroize;

use crate::ct::{
    barrier, bytes_to_words, choice_from_mask, cmov_words_mask, eq_mask, lt_mask, mask_from_bit,
    sel, words_to_bytes, Mask,
};
use crate::oram::{leaf_bits_for, OramCore, OramParams, Packing, Positions};
use crate::storage::{MemoryUse, StoreFactory};
use crate::OramError;

/// Number of tables (hash choices) per key.
pub const TABLES: usize = 2;
/// Slots per bucket (one bucket is one block of the index ORAM).
pub const SLOTS_PER_BUCKET: usize = 16;
// A bucket's occupancy bits fit one word.
const _: () = assert!(SLOTS_PER_BUCKET <= 64);
/// Largest key or value size in bytes.
pub const MAX_ITEM_BYTES: usize = 4096;
/// Buckets per table in a group: the two tables' buckets of a group (128 index blocks) have
/// their positions in one position block of the index ORAM.
pub const GROUP_BUCKETS: u64 = 64;
/// Log2 of the index ORAM's positions per position block: one group.
const GROUP_BITS: u32 = 7;
const _: () = assert!(1 << GROUP_BITS == TABLES as u64 * GROUP_BUCKETS);
/// Slots of the overflow stash (keys whose two buckets were full when they arrived).
pub const STASH_ENTRIES: usize = 128;
/// Words of the stash's occupancy bitmap.
const STASH_WORDS: usize = STASH_ENTRIES / 64;
const _: () = assert!(STASH_ENTRIES % 64 == 0);

/// An oblivious map from fixed-size keys to fixed-size values.
///
/// Keys and values are byte strings of the lengths given at construction. A value that was
/// never set reads as all zeros.
pub struct ObliviousMap<F: StoreFactory, R> {
    index: OramCore<F::Store>,
    values: OramCore<F::Store>,
    rng: R,
    key_bytes: usize,
    value_bytes: usize,
    /// 32-bit units of a key as a slot stores it: the key itself (zero padded to whole words)
    /// when it is at most 16 bytes, otherwise its 96-bit keyed tag ([`TAG_UNITS`]).
    key_units: usize,
    /// How an index bucket packs its value positions (for the value tree's leaf bits).
    packing: Packing,
    /// Index buckets (both tables).
    buckets: u64,
    /// Groups, and buckets per table in a group (fewer than [`GROUP_BUCKETS`] only when
    /// there is one group).
    groups: u64,
    group_buckets: u64,
    /// The overflow stash: [`STASH_ENTRIES`] stored keys (zero padded to two words), their
    /// value blocks' positions (leaf + 1, 0 = never placed) and an occupancy bitmap.
    stash: Stash,
    sip_key: [u64; 2],
    len: u64,
    key_buf: Vec<u64>,
    tag_buf: [u64; TAG_WORDS],
    val_buf: Vec<u64>,
    bytes: Vec<u8>,
    poisoned: bool,
}

impl<F: StoreFactory, R> Drop for ObliviousMap<F, R> {
    fn drop(&mut self) {
        self.sip_key.zeroize();
        self.stash.keys.zeroize();
        self.stash.positions.zeroize();
        self.stash.occupied.zeroize();
        self.key_buf.zeroize();
        self.tag_buf.zeroize();
        self.val_buf.zeroize();
        self.bytes.zeroize();
    }
}

/// Operation selectors, as masks so that the scans do the same work for every kind.
#[derive(Clone, Copy)]
struct Mode {
    create: Mask,
    write: Mask,
    remove: Mask,
}

const GET: Mode = Mode {
    create: 0,
    write: 0,
    remove: 0,
};
const SET: Mode = Mode {
    create: u64::MAX,
    write: u64::MAX,
    remove: 0,
};
const REMOVE: Mode = Mode {
    create: 0,
    write: u64::MAX,
    remove: u64::MAX,
};

/// What the index scan decided.
#[derive(Clone, Copy)]
struct Decision {
    found: Mask,
    full: Mask,
    created: Mask,
    /// Value ORAM block of the chosen slot.
    value_index: u64,
    /// Its position as the bucket or stash held it (leaf + 1, 0 = never placed).
    value_position: u64,
}

/// The overflow stash, in trusted memory, scanned whole by every operation.
struct Stash {
    keys: Vec<[u64; TAG_WORDS]>,
    positions: Vec<u64>,
    /// Bit `e % 64` of word `e / 64`: entry `e` holds a key.
    occupied: [u64; STASH_WORDS],
}

/// Where an operation's key can live, as the index kernel sees it.
struct Layout<'a> {
    /// 32-bit units of a stored key.
    units: usize,
    /// How the buckets pack their value positions.
    packing: Packing,
    /// The two bucket indices (table order).
    indices: [u64; TABLES],
    /// All index buckets: value blocks `buckets * 16 + e` belong to stash entry `e`.
    buckets: u64,
    stash: &'a mut Stash,
}

impl<F: StoreFactory, R: RngCore + CryptoRng> ObliviousMap<F, R> {
    /// A map with room for about `capacity` items (rounded up so that the number of buckets is
    /// a power of two; see [`ObliviousMap::capacity`]). Plan for about 85 % of it: inserts can
    /// fail before the map is full (see [`ObliviousMap::insert`]).
    /// The hash key is drawn from `rng`, which the map then keeps for the ORAMs.
    pub fn new(
        capacity: u64,
        key_bytes: usize,
        value_bytes: usize,
        factory: F,
        rng: R,
    ) -> Result<Self, OramError> {
        Self::with_params(
            capacity,
            key_bytes,
            value_bytes,
            OramParams::default(),
            factory,
            rng,
        )
    }

    /// A map whose ORAMs use explicit parameters.
    pub fn with_params(
        capacity: u64,
        key_bytes: usize,
        value_bytes: usize,
        params: OramParams,
        mut factory: F,
        mut rng: R,
    ) -> Result<Self, OramError> {
        if capacity == 0
            || key_bytes == 0
            || key_bytes > MAX_ITEM_BYTES
            || value_bytes == 0
            || value_bytes > MAX_ITEM_BYTES
            || capacity > crate::oram::MAX_CAPACITY
        {
            return Err(OramError::InvalidConfig);
        }
        let buckets = capacity
            .div_ceil(SLOTS_PER_BUCKET as u64)
            .next_power_of_two()
            .max(TABLES as u64);
        let group_size = (TABLES as u64 * GROUP_BUCKETS).min(buckets);
        let groups = buckets / group_size;
        let group_buckets = group_size / TABLES as u64;
        let key_units = stored_key_units(key_bytes);
        let value_words = value_bytes.div_ceil(8);
        let sip_key = [rng.next_u64(), rng.next_u64()];
        // One value block per slot and per stash entry. The tree is sized for the slots alone
        // when the stash's blocks add at most 1/1024 to them (from 2^17 slots on), so that a
        // power-of-two number of slots keeps its tree (a hair fuller, not twice the size).
        let slots = buckets * SLOTS_PER_BUCKET as u64;
        let value_blocks = slots + STASH_ENTRIES as u64;
        let tree_blocks = if STASH_ENTRIES as u64 <= value_blocks / 1024 {
            slots
        } else {
            value_blocks
        };
        // The buckets hold their slots' value positions as narrowly as the value tree allows.
        let packing = Packing::for_leaf_bits(leaf_bits_for(tree_blocks));
        let index = OramCore::new(
            buckets,
            bucket_words(key_units, packing) * 8,
            params,
            &mut factory,
            &mut rng,
            Positions::Recursive {
                entry_bits: GROUP_BITS,
            },
        )?;
        let values = OramCore::new(
            value_blocks,
            value_bytes,
            params,
            &mut factory,
            &mut rng,
            Positions::Caller { tree_blocks },
        )?;
        Ok(Self {
            index,
            values,
            rng,
            key_bytes,
            value_bytes,
            key_units,
            packing,
            buckets,
            groups,
            group_buckets,
            stash: Stash {
                keys: vec![[0; TAG_WORDS]; STASH_ENTRIES],
                positions: vec![0; STASH_ENTRIES],
                occupied: [0; STASH_WORDS],
            },
            sip_key,
            len: 0,
            key_buf: vec![0; key_bytes.div_ceil(8)],
            tag_buf: [0; TAG_WORDS],
            val_buf: vec![0; value_words],
            bytes: vec![0; value_bytes],
            poisoned: false,
        })
    }

    /// The most items the map could ever hold: its bucket slots and the [`STASH_ENTRIES`]
    /// entries of its stash.
    pub fn capacity(&self) -> u64 {
        self.buckets * SLOTS_PER_BUCKET as u64 + STASH_ENTRIES as u64
    }

    /// Number of items stored. Secret-dependent: the caller decides whether it may leave.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the map holds no item.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Key size in bytes.
    pub fn key_bytes(&self) -> usize {
        self.key_bytes
    }

    /// Value size in bytes.
    pub fn value_bytes(&self) -> usize {
        self.value_bytes
    }

    /// Memory used by the two ORAMs.
    pub fn memory_bytes(&self) -> MemoryUse {
        self.index.memory_bytes() + self.values.memory_bytes()
    }

    /// Largest stash occupancy seen in either ORAM (`stash-stats` feature; see
    /// [`crate::Oram::stash_peak`]).
    #[cfg(any(test, feature = "stash-stats"))]
    pub fn stash_peak(&self) -> usize {
        self.index.stash_peak().max(self.values.stash_peak())
    }

    /// Copies the value of `key` into `out` (zeros when absent) and returns whether it was
    /// present. Same access pattern as every other operation.
    pub fn get(&mut self, key: &[u8], out: &mut [u8]) -> Result<Choice, OramError> {
        if out.len() != self.value_bytes {
            return Err(OramError::LengthMismatch);
        }
        self.op(key, GET, |v, _| out.copy_from_slice(v))
            .map(|(found, _)| found)
    }

    /// Sets `key` to `value`, adding the key if absent. Returns whether the key was already
    /// present, or [`OramError::MapFull`] when it was absent and both its buckets and the stash
    /// are full (the map is unchanged and stays usable). Same access pattern as every other operation.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<Choice, OramError> {
        if value.len() != self.value_bytes {
            return Err(OramError::LengthMismatch);
        }
        self.op(key, SET, |v, _| v.copy_from_slice(value))
            .and_then(full_to_error)
    }

    /// Read-modify-write in one operation: `f` receives the current value (zeros when the key
    /// is absent) and whether the key was present, and whatever it leaves in the buffer is
    /// stored under `key` (adding the key if absent). `f` is always called exactly once and must
    /// itself be branch-free on secrets. Returns whether the key was present, or
    /// [`OramError::MapFull`] (map unchanged) when it was absent and there is no room.
    pub fn upsert(
        &mut self,
        key: &[u8],
        f: impl FnOnce(&mut [u8], Choice),
    ) -> Result<Choice, OramError> {
        self.op(key, SET, f).and_then(full_to_error)
    }

    /// Removes `key`, returning whether it was present. Same access pattern as every other
    /// operation.
    pub fn remove(&mut self, key: &[u8]) -> Result<Choice, OramError> {
        self.op(key, REMOVE, |_, _| ()).map(|(found, _)| found)
    }

    /// The one operation behind the public ones. Returns (found, full).
    fn op(
        &mut self,
        key: &[u8],
        mode: Mode,
        user: impl FnOnce(&mut [u8], Choice),
    ) -> Result<(Choice, Mask), OramError> {
        if key.len() != self.key_bytes {
            return Err(OramError::LengthMismatch);
        }
        if self.poisoned {
            return Err(OramError::Poisoned);
        }
        bytes_to_words(key, &mut self.key_buf);
        let tagged = self.key_units == TAG_UNITS;
        if tagged {
            for (j, w) in self.tag_buf.iter_mut().enumerate() {
                *w = siphash24(self.sip_key, &self.key_buf, (TABLES + j) as u64);
            }
            // 96 bits: the second output's high half is dropped.
            self.tag_buf[1] &= 0xffff_ffff;
        }
        // The group from tweak 0; the bucket in each table's half of it from the two halves
        // of tweak 1 (at most 64 buckets each, so 32 bits are plenty).
        let g = mul_hi(siphash24(self.sip_key, &self.key_buf, 0), self.groups);
        let h = siphash24(self.sip_key, &self.key_buf, 1);
        let gb = self.group_buckets;
        let base = g * TABLES as u64 * gb;
        let indices = [
            base + (((h & 0xffff_ffff) * gb) >> 32),
            base + gb + (((h >> 32) * gb) >> 32),
        ];
        let Self {
            index,
            values,
            rng,
            key_buf,
            tag_buf,
            val_buf,
            bytes,
            key_units,
            packing,
            buckets,
            stash,
            ..
        } = self;
        let units = *key_units;
        // What the slots hold: the key, or its tag when the key is longer than 16 bytes.
        let stored: &[u64] = if tagged { tag_buf } else { key_buf };
        // The chosen slot's value block moves to this leaf; the index operation records it.
        let next = values.fresh_position(rng);
        let layout = Layout {
            units,
            packing: *packing,
            indices,
            buckets: *buckets,
            stash,
        };
        let r = index
            .access_grouped(rng, &indices, |buf| {
                index_kernel(buf, layout, stored, mode, next)
            })
            .and_then(|d| {
                values.access_at(rng, d.value_index, d.value_position, next, |block| {
                    value_kernel(block, val_buf, bytes, d, mode, user);
                })?;
                Ok(d)
            });
        self.bytes.as_mut_slice().zeroize();
        self.val_buf.as_mut_slice().zeroize();
        self.key_buf.as_mut_slice().zeroize();
        self.tag_buf.zeroize();
        let d = match r {
            Ok(d) => d,
            Err(e) => {
                self.poisoned = true;
                return Err(e);
            }
        };
        let removed = d.found & mode.remove;
        self.len = self.len + (d.created & 1) - (removed & 1);
        Ok((choice_from_mask(d.found), d.full))
    }
}

/// The lowest set bit of a multi-word bitmap (bit `i % 64` of word `i / 64`): whether there
/// is one, and its index (0 when there is none). Constant-time: every word is looked at, the
/// trailing-zero count is a population count of the bits below the lowest set one.
fn first_set(words: &[u64]) -> (Mask, u64) {
    let mut got: Mask = 0;
    let mut index = 0u64;
    for (i, &w) in words.iter().enumerate() {
        let nonzero = barrier(!eq_mask(w, 0));
        let below = (w & w.wrapping_neg()).wrapping_sub(1);
        let take = nonzero & !got;
        index = sel(take, i as u64 * 64 + u64::from(below.count_ones()), index);
        got |= nonzero;
    }
    (barrier(got), index)
}

/// `floor(h * n / 2^64)`: a uniform 64-bit hash scaled to `0..n`.
fn mul_hi(h: u64, n: u64) -> u64 {
    ((u128::from(h) * u128::from(n)) >> 64) as u64
}

fn full_to_error((found, full): (Choice, Mask)) -> Result<Choice, OramError> {
    if barrier(full) != 0 {
        Err(OramError::MapFull)
    } else {
        Ok(found)
    }
}

/// Words holding a keyed tag: its first 64 bits, then 32 bits in the low half of the second.
const TAG_WORDS: usize = 2;
/// 32-bit units of a keyed tag (96 bits).
const TAG_UNITS: usize = 3;
/// Largest key, in bytes, that slots store as it is.
const PLAIN_KEY_BYTES: usize = 16;

/// 32-bit units a slot uses for a key of `key_bytes` bytes: the key itself (in whole words)
/// up to 16 bytes, otherwise a 96-bit tag: the first SipHash-2-4 output of the key under the
/// map's secret hash key with tweak 2 and the low half of the one with tweak 3 (the bucket
/// indices use tweaks 0 and 1). Two keys are the same key to the map when their tags are
/// equal. The hash key is drawn from the caller's RNG and never leaves the map, so nobody can
/// search for a collision, and a tag is only ever compared with those of the at most 32 keys
/// in the two buckets of its key and the 128 of the stash: a lookup mistakes another key for
/// its own with probability at most 160 × 2^-96 < 2^-88, about 2^-48 over 2^40 operations.
/// A 12-byte slot instead of 32 makes the index bucket of ingest's 32-byte keys 29 to 33 words
/// (by map size, [`bucket_words`]) instead of 73 (41 with the 128-bit tags of before), and the
/// index buckets are most of the memory every operation moves.
pub(crate) fn stored_key_units(key_bytes: usize) -> usize {
    if key_bytes > PLAIN_KEY_BYTES {
        TAG_UNITS
    } else {
        2 * key_bytes.div_ceil(8)
    }
}

/// Words of one index bucket: a word of occupancy bits (bit `s` for slot `s`), then the 16
/// slots' keys (`units` 32-bit units each, two to a word, low half first: slot `s` holds units
/// `s × units ..`), then the 16 slots' value positions (value-ORAM leaf + 1) as the value
/// tree allows ([`Packing`]: 16 bits each up to 2^15 leaves, 21 up to 2^20, 24 up to 2^23, 32
/// beyond; 4, 6, 6 or 8 words: maps of at most 2^15, 2^21, 2^24 slots, and larger). One bitmap
/// word instead of one occupancy word per slot keeps a bucket of tags at 29, 31, 31 or 33 words
/// and of 16-byte keys at 37, 39, 39 or 41.
pub(crate) fn bucket_words(units: usize, packing: Packing) -> usize {
    1 + SLOTS_PER_BUCKET * units / 2 + packing.words(SLOTS_PER_BUCKET)
}

/// Unit `i` (32 bits, the low half of a word first) of `words`, in the low half of the result.
/// `i` is public (a slot and unit number).
#[inline(always)]
fn unit(words: &[u64], i: usize) -> u64 {
    (words[i / 2] >> (32 * (i % 2))) & 0xffff_ffff
}

const _: () = assert!(SLOTS_PER_BUCKET % 2 == 0);
const _: () = assert!(2 * PLAIN_KEY_BYTES.div_ceil(8) <= MAX_UNITS && TAG_UNITS <= MAX_UNITS);
/// Most 32-bit units of a stored key.
const MAX_UNITS: usize = 4;

/// The constant-time scan over the 32 slots of the two buckets and the stash: finds the key
/// or the place a new key would take, updates that place's key and occupancy, and swaps its
/// value position for `next` (whatever the operation, since its value block is accessed
/// either way). Places are numbered 0..32 for the bucket slots (table-major) and from 32 on
/// for the stash entries. Loops run over public counts (tables, slots, stash entries, key
/// units) only.
fn index_kernel(
    buf: &mut [u64],
    layout: Layout<'_>,
    key: &[u64],
    mode: Mode,
    next: u64,
) -> Decision {
    let Layout {
        units,
        packing,
        indices,
        buckets,
        stash,
    } = layout;
    let bw = bucket_words(units, packing);
    let key_area = SLOTS_PER_BUCKET * units / 2;
    let mut ku = [0u64; MAX_UNITS];
    for (j, u) in ku.iter_mut().enumerate().take(units) {
        *u = unit(key, j);
    }
    const SLOTS: u64 = (TABLES * SLOTS_PER_BUCKET) as u64;
    let mut found: Mask = 0;
    let mut hit = 0u64;
    let mut loads = [0u64; TABLES];
    for (t, bucket) in buf.chunks_exact(bw).enumerate() {
        let bits = bucket[0];
        let keys = &bucket[1..1 + key_area];
        for s in 0..SLOTS_PER_BUCKET {
            let occ = mask_from_bit(bits >> s);
            let mut x = 0u64;
            for (j, &k) in ku.iter().enumerate().take(units) {
                x |= unit(keys, s * units + j) ^ k;
            }
            let m = occ & eq_mask(x, 0);
            hit = sel(m, (t * SLOTS_PER_BUCKET + s) as u64, hit);
            found |= m;
            loads[t] += occ & 1;
        }
    }
    // The stash: match bits by entry (every entry compared, branch-free), then the first
    // match and the first free entry by constant-time bit arithmetic.
    let k0 = key[0];
    let k1 = if key.len() > 1 { key[1] } else { 0 };
    let mut matches = [0u64; STASH_WORDS];
    for (word, keys) in matches.iter_mut().zip(stash.keys.chunks_exact(64)) {
        for (e, k) in keys.iter().enumerate() {
            let x = (k[0] ^ k0) | (k[1] ^ k1);
            *word |= (((x | x.wrapping_neg()) >> 63) ^ 1) << e;
        }
    }
    for (m, &occ) in matches.iter_mut().zip(&stash.occupied) {
        *m &= occ;
    }
    let (in_stash, stash_hit) = first_set(&matches);
    hit = sel(in_stash, SLOTS + stash_hit, hit);
    found |= in_stash;
    let mut free = [0u64; STASH_WORDS];
    for (f, &occ) in free.iter_mut().zip(&stash.occupied) {
        *f = !occ;
    }
    let (stash_free, free_index) = first_set(&free);
    let free_entry = SLOTS + free_index;
    let mut best = loads[0];
    let mut best_table = 0u64;
    for (t, &load) in loads.iter().enumerate().skip(1) {
        let upd = lt_mask(load, best);
        best = sel(upd, load, best);
        best_table = sel(upd, t as u64, best_table);
    }
    let has_space = lt_mask(best, SLOTS_PER_BUCKET as u64);
    let mut empty_slot = best_table * SLOTS_PER_BUCKET as u64;
    let mut got: Mask = 0;
    for (t, bucket) in buf.chunks_exact(bw).enumerate() {
        let bits = bucket[0];
        let in_table = eq_mask(t as u64, best_table);
        for s in 0..SLOTS_PER_BUCKET {
            let occ = mask_from_bit(bits >> s);
            let e = !occ & in_table & !got;
            empty_slot = sel(e, (t * SLOTS_PER_BUCKET + s) as u64, empty_slot);
            got |= e;
        }
    }
    let room = has_space | stash_free;
    let found = barrier(found);
    let created = barrier(!found & mode.create & room);
    let full = !found & mode.create & !room;
    let active = found | created;
    let target = sel(found, hit, sel(has_space, empty_slot, free_entry));
    let keep = !mode.remove;
    let mut value_position = 0u64;
    for (t, bucket) in buf.chunks_exact_mut(bw).enumerate() {
        let (bits, rest) = bucket.split_at_mut(1);
        let (slots, positions) = rest.split_at_mut(key_area);
        // Places outside this bucket's 16 (the subtraction wraps) change nothing.
        let entry = target.wrapping_sub((t * SLOTS_PER_BUCKET) as u64);
        value_position |= packing.swap(positions, SLOTS_PER_BUCKET, entry, next);
        for s in 0..SLOTS_PER_BUCKET {
            let w =
                barrier(eq_mask((t * SLOTS_PER_BUCKET + s) as u64, target) & active & mode.write);
            // The slot's bit becomes 1 (set) or 0 (remove) where `w`, stays otherwise.
            let bit = 1u64 << s;
            bits[0] = sel(w, (bits[0] & !bit) | (bit & keep), bits[0]);
            for (j, &k) in ku.iter().enumerate().take(units) {
                let i = s * units + j;
                let shift = 32 * (i % 2);
                let d = &mut slots[i / 2];
                let field = 0xffff_ffffu64 << shift;
                *d = sel(w, (*d & !field) | ((k & keep) << shift), *d);
            }
        }
    }
    let entry = target.wrapping_sub(SLOTS);
    let w_any = barrier(active & mode.write);
    let mut set = [0u64; STASH_WORDS];
    for (e, (k, position)) in stash
        .keys
        .iter_mut()
        .zip(stash.positions.iter_mut())
        .enumerate()
    {
        let here = barrier(eq_mask(e as u64, entry));
        value_position |= *position & here;
        *position = sel(here, next, *position);
        let w = here & w_any;
        k[0] = sel(w, k0 & keep, k[0]);
        k[1] = sel(w, k1 & keep, k[1]);
        set[e / 64] |= (w & 1) << (e % 64);
    }
    // The written entry's bit becomes 1 (set) or 0 (remove).
    for (occ, bit) in stash.occupied.iter_mut().zip(set) {
        *occ = (*occ & !bit) | (bit & keep);
    }
    let table = target / SLOTS_PER_BUCKET as u64;
    let mut bucket = 0u64;
    for (t, &idx) in indices.iter().enumerate() {
        bucket = sel(eq_mask(t as u64, table), idx, bucket);
    }
    let in_stash = !lt_mask(target, SLOTS);
    let slot_value = bucket * SLOTS_PER_BUCKET as u64 + target % SLOTS_PER_BUCKET as u64;
    let stash_value = (buckets * SLOTS_PER_BUCKET as u64).wrapping_add(target.wrapping_sub(SLOTS));
    Decision {
        found,
        full,
        created,
        value_index: sel(in_stash, stash_value, slot_value),
        value_position,
    }
}

/// The value side: hands the user the current value (zeros when absent) and stores the result
/// where the operation writes; otherwise writes the block back unchanged.
fn value_kernel(
    block: &mut [u64],
    val: &mut [u64],
    bytes: &mut [u8],
    d: Decision,
    mode: Mode,
    user: impl FnOnce(&mut [u8], Choice),
) {
    val.iter_mut().for_each(|v| *v = 0);
    cmov_words_mask(d.found, block, val);
    words_to_bytes(val, bytes);
    user(bytes, choice_from_mask(d.found));
    bytes_to_words(bytes, val);
    let w = barrier((d.found | d.created) & mode.write);
    let keep = !mode.remove;
    for (b, v) in block.iter_mut().zip(val.iter()) {
        *b = sel(w, *v & keep, *b);
    }
}

/// SipHash-2-4 of the message `words ‖ tweak` (little-endian words), keyed with `key`: a keyed
/// PRF with a fixed number of rounds, constant-time in its input.
fn siphash24(key: [u64; 2], words: &[u64], tweak: u64) -> u64 {
    let mut v = [
        key[0] ^ 0x736f_6d65_7073_6575,
        key[1] ^ 0x646f_7261_6e64_6f6d,
        key[0] ^ 0x6c79_6765_6e65_7261,
        key[1] ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13);
        v[1] ^= v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16);
        v[3] ^= v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21);
        v[3] ^= v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17);
        v[1] ^= v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut compress = |m: u64| {
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    };
    for &m in words {
        compress(m);
    }
    compress(tweak);
    let len_bytes = ((words.len() + 1) * 8) as u64;
    compress(len_bytes << 56);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_or_value_stays_in_the_map_buffers_after_an_operation() {
        use crate::storage::HeapFactory;
        use rand_chacha::rand_core::SeedableRng;
        // 16-byte keys are stored as they are, 32-byte keys as their tag.
        for key_len in [16usize, 32] {
            let mut map = ObliviousMap::new(
                64,
                key_len,
                8,
                HeapFactory,
                rand_chacha::ChaCha20Rng::seed_from_u64(5),
            )
            .unwrap();
            let key = alloc::vec![0x5au8; key_len];
            let clean = |m: &ObliviousMap<HeapFactory, rand_chacha::ChaCha20Rng>| {
                m.key_buf.iter().all(|&w| w == 0) && m.tag_buf == [0; TAG_WORDS]
            };
            let mut out = [0u8; 8];
            map.insert(&key, &[7; 8]).unwrap();
            assert!(clean(&map), "key after insert");
            map.get(&key, &mut out).unwrap();
            assert_eq!(out, [7; 8]);
            assert!(clean(&map), "key after get");
            assert!(map.val_buf.iter().all(|&w| w == 0), "value after get");
            assert!(map.bytes.iter().all(|&b| b == 0), "value bytes after get");
            // A refused call leaves nothing behind either.
            assert!(matches!(
                map.get(&key, &mut [0u8; 3]),
                Err(OramError::LengthMismatch)
            ));
            map.remove(&key).unwrap();
            assert!(clean(&map), "key after remove");
        }
    }

    #[test]
    fn stash_blocks_do_not_double_the_value_tree() {
        use crate::storage::HeapFactory;
        use rand_chacha::rand_core::SeedableRng;
        let rng = || rand_chacha::ChaCha20Rng::seed_from_u64(6);
        // 2^17 slots: the value tree is sized for the slots (2^16 leaves) and holds the
        // stash's 128 blocks besides; the index is 2^13 buckets in 2^6 groups.
        let map = ObliviousMap::new(1 << 17, 16, 8, HeapFactory, rng()).unwrap();
        assert_eq!(map.values.data_leaf_bits(), 16);
        assert_eq!(
            (map.buckets, map.groups, map.group_buckets),
            (1 << 13, 1 << 6, 64)
        );
        // 2^16 slots: the stash's blocks are more than 1/1024 of them, so the tree is sized
        // for slots and stash together (the next power of two).
        let map = ObliviousMap::new(1 << 16, 16, 8, HeapFactory, rng()).unwrap();
        assert_eq!(map.values.data_leaf_bits(), 16);
        // One group when there are fewer than 128 buckets.
        let map = ObliviousMap::new(512, 16, 8, HeapFactory, rng()).unwrap();
        assert_eq!((map.buckets, map.groups, map.group_buckets), (32, 1, 16));
    }

    #[test]
    #[allow(deprecated)]
    fn siphash_matches_std() {
        use core::hash::Hasher;
        let key = [0x0706_0504_0302_0100u64, 0x0f0e_0d0c_0b0a_0908];
        let words = [0x1122_3344_5566_7788u64, 42, u64::MAX];
        let mut bytes = Vec::new();
        for w in words {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        bytes.extend_from_slice(&7u64.to_le_bytes());
        let mut h = core::hash::SipHasher::new_with_keys(key[0], key[1]);
        h.write(&bytes);
        assert_eq!(siphash24(key, &words, 7), h.finish());
    }
}
