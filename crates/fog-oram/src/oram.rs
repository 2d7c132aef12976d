//! The tree ORAM with its recursive position map: fixed-size blocks addressed by index, accessed
//! with one read-modify-write closure.
//!
//! Trusted side. See the crate documentation for what an access reveals (nothing but the fact
//! that an access happened, plus failures) and for the algorithm.

use alloc::vec;
use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::circuit::TreeLevel;
use crate::ct::{barrier, bytes_to_words, eq_mask, sel, words_to_bytes};
use crate::storage::{BucketStore, MemoryUse, StoreFactory};
use crate::OramError;

/// Position-map entries per position block of an [`Oram`]: 32. The map's index ORAM uses 128
/// ([`crate::map`]: the buckets a key may use share one position block). Entries are packed
/// into words as narrowly as the tree they describe allows ([`Packing`]).
pub(crate) const POS_PER_BLOCK_BITS: u32 = 5;
#[cfg(test)]
const POS_PER_BLOCK: u64 = 1 << POS_PER_BLOCK_BITS;
#[cfg(test)]
const POS_WORDS: usize = (POS_PER_BLOCK / 2) as usize;
/// Largest position block: 2^10 entries.
const MAX_POS_BITS: u32 = 10;

/// Largest capacity (blocks) of one ORAM: positions are stored as `u32`.
pub const MAX_CAPACITY: u64 = 1 << 32;
/// Largest value size in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Tuning parameters of the tree ORAM. [`OramParams::default`] is the configuration whose stash
/// behaviour the README reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OramParams {
    /// Block slots per bucket (Z).
    pub bucket_slots: usize,
    /// Slots of the stash of each tree.
    pub stash_slots: usize,
    /// Deterministic (reverse-lexicographic) evictions per accessed block, in addition to the
    /// eviction on the read path.
    pub extra_evictions: usize,
    /// Position maps with at most this many entries are a linearly scanned table instead of
    /// another tree.
    pub scan_threshold: u64,
}

impl Default for OramParams {
    fn default() -> Self {
        Self {
            bucket_slots: 2,
            stash_slots: 12,
            extra_evictions: 2,
            scan_threshold: 1 << 12,
        }
    }
}

/// How positions (leaf + 1, at most `2^leaf_bits`) are packed into the words of a position
/// block or of a map's index bucket: as narrowly as the tree they point into allows. Position
/// blocks travel through their trees like any block, and a map's buckets are most of what it
/// moves, so narrower entries are fewer words moved per access: the 128-entry blocks of a
/// 2^20-slot map's index are 32 words instead of 64, its buckets 31 words instead of 33.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Packing {
    /// Four 16-bit lanes a word: trees of at most 2^15 leaves.
    Bits16,
    /// Three 21-bit lanes a word (the top bit unused): at most 2^20 leaves.
    Bits21,
    /// 24 bits an entry, split: the low 16 bits in four 16-bit lanes a word, then the high 8
    /// in eight 8-bit lanes a word (16 entries in 6 words): at most 2^23 leaves.
    Bits24,
    /// Two 32-bit lanes a word.
    Bits32,
}

impl Packing {
    /// The packing for positions in a tree of `leaf_bits` leaf bits.
    pub(crate) fn for_leaf_bits(leaf_bits: u32) -> Self {
        if leaf_bits < 16 {
            Self::Bits16
        } else if leaf_bits < 21 {
            Self::Bits21
        } else if leaf_bits < 24 {
            Self::Bits24
        } else {
            Self::Bits32
        }
    }

    /// Words of a block of `entries` positions.
    pub(crate) fn words(self, entries: usize) -> usize {
        match self {
            Self::Bits16 => entries.div_ceil(4),
            Self::Bits21 => entries.div_ceil(3),
            Self::Bits24 => entries.div_ceil(4) + entries.div_ceil(8),
            Self::Bits32 => entries.div_ceil(2),
        }
    }

    /// Replaces position `entry` of `block` (exactly [`Packing::words`]`(entries)` words)
    /// with `new`, which must fit, returning the old one. Reads and writes every word and
    /// compares every entry; an `entry` past the last changes nothing and returns 0.
    pub(crate) fn swap(self, block: &mut [u64], entries: usize, entry: u64, new: u64) -> u64 {
        match self {
            Self::Bits16 => packed_swap::<4>(block, entries, entry, new),
            Self::Bits21 => packed_swap::<3>(block, entries, entry, new),
            Self::Bits24 => {
                let (lo, hi) = block.split_at_mut(entries.div_ceil(4));
                let old_lo = packed_swap::<4>(lo, entries, entry, new & 0xffff);
                let old_hi = packed_swap::<8>(hi, entries, entry, new >> 16);
                old_lo | (old_hi << 16)
            }
            Self::Bits32 => packed_swap::<2>(block, entries, entry, new),
        }
    }
}

/// Number of leaf bits for a tree of `blocks` blocks: about `blocks / 2` leaves, so the tree
/// has about `blocks` buckets and `Z * blocks` slots.
pub(crate) fn leaf_bits_for(blocks: u64) -> u32 {
    let pow = blocks.max(2).next_power_of_two();
    pow.trailing_zeros() - 1
}

/// A tree ORAM (Circuit ORAM) over `capacity` blocks of `value_bytes` bytes each.
///
/// Every block starts as all zeros. [`Oram::access`] reads block `index`, lets a closure modify
/// it and writes it back; the buckets it touches are a uniformly random path per tree plus
/// paths fixed by a public counter, independent of `index` and of the data.
pub struct Oram<F: StoreFactory, R> {
    core: OramCore<F::Store>,
    rng: R,
    bytes: Vec<u8>,
}

impl<F: StoreFactory, R> Drop for Oram<F, R> {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl<F: StoreFactory, R: RngCore + CryptoRng> Oram<F, R> {
    /// An ORAM of `capacity` zeroed blocks of `value_bytes` bytes with the default parameters.
    pub fn new(capacity: u64, value_bytes: usize, factory: F, rng: R) -> Result<Self, OramError> {
        Self::with_params(capacity, value_bytes, OramParams::default(), factory, rng)
    }

    /// An ORAM with explicit parameters.
    pub fn with_params(
        capacity: u64,
        value_bytes: usize,
        params: OramParams,
        mut factory: F,
        mut rng: R,
    ) -> Result<Self, OramError> {
        let core = OramCore::new(
            capacity,
            value_bytes,
            params,
            &mut factory,
            &mut rng,
            Positions::Recursive {
                entry_bits: POS_PER_BLOCK_BITS,
            },
        )?;
        Ok(Self {
            core,
            rng,
            bytes: vec![0; value_bytes],
        })
    }

    /// Number of blocks.
    pub fn capacity(&self) -> u64 {
        self.core.capacity
    }

    /// Bytes per block.
    pub fn value_bytes(&self) -> usize {
        self.core.value_bytes
    }

    /// The parameters in use.
    pub fn params(&self) -> OramParams {
        self.core.params
    }

    /// Number of trees (1 data tree plus the position-map trees).
    pub fn num_trees(&self) -> usize {
        self.core.levels.len()
    }

    /// Largest stash occupancy seen so far in any tree, counted right after accessed blocks are
    /// put back (the moment the stash is fullest). A statistic for simulations and benchmarks,
    /// only built with the `stash-stats` feature: the occupancy depends on which blocks were
    /// accessed, so it is secret in production (it is kept with masked updates, never by a
    /// branch or a secret-indexed write).
    #[cfg(any(test, feature = "stash-stats"))]
    pub fn stash_peak(&self) -> usize {
        self.core.stash_peak()
    }

    /// Stash occupancy histogram of the data tree: entry `k` counts the accesses after which
    /// the stash held `k` blocks (counted right after the accessed block was put back). A
    /// statistic for simulations, like [`Oram::stash_peak`] (`stash-stats` feature).
    #[cfg(any(test, feature = "stash-stats"))]
    pub fn stash_histogram(&self) -> &[u64] {
        self.core.levels[0].stash_histogram()
    }

    /// Memory used by all trees, stashes and the position table.
    pub fn memory_bytes(&self) -> MemoryUse {
        self.core.memory_bytes()
            + MemoryUse {
                trusted: self.bytes.len() as u64,
                untrusted: 0,
            }
    }

    /// Reads block `index`, passes its bytes to `f`, and writes back what `f` leaves there.
    ///
    /// Access pattern: independent of `index`, of the value and of what `f` does (as long as
    /// `f` itself is oblivious). Fails with [`OramError::IndexOutOfRange`] for a bad index
    /// (before touching anything), with [`OramError::IntegrityFailure`] when untrusted storage
    /// was tampered with, and with [`OramError::StashOverflow`] in the (simulated to be
    /// negligible) event of a stash overflow; after either of the last two the ORAM refuses
    /// further work with [`OramError::Poisoned`]. `f` is not called when the access fails
    /// before reaching the block.
    pub fn access<T>(
        &mut self,
        index: u64,
        f: impl FnOnce(&mut [u8]) -> T,
    ) -> Result<T, OramError> {
        let mut bytes = core::mem::take(&mut self.bytes);
        let r = self.access_words(index, |words| {
            words_to_bytes(words, &mut bytes);
            let t = f(&mut bytes);
            bytes_to_words(&bytes, words);
            t
        });
        bytes.iter_mut().for_each(|b| *b = 0);
        self.bytes = bytes;
        r
    }

    /// Like [`Oram::access`] but hands `f` the block as little-endian `u64` words
    /// (`value_bytes` rounded up to whole words; padding bytes start as zero).
    pub fn access_words<T>(
        &mut self,
        index: u64,
        f: impl FnOnce(&mut [u64]) -> T,
    ) -> Result<T, OramError> {
        self.core.access_many(&mut self.rng, &[index], f)
    }

    /// Accesses several *distinct* blocks (1 to 8) in one operation: `f` sees their words
    /// concatenated in the order of `indices`. The number of indices is public; repeated or
    /// out-of-range indices are a misuse reported as [`OramError::IndexOutOfRange`] before
    /// anything is touched. The access pattern is that of `indices.len()` accesses.
    pub fn access_many<T>(
        &mut self,
        indices: &[u64],
        f: impl FnOnce(&mut [u64]) -> T,
    ) -> Result<T, OramError> {
        self.core.access_many(&mut self.rng, indices, f)
    }

    #[cfg(test)]
    pub(crate) fn levels_mut(&mut self) -> &mut [TreeLevel<F::Store>] {
        &mut self.core.levels
    }
}

/// Who keeps the blocks' positions (leaves) of an [`OramCore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Positions {
    /// The ORAM, in its recursive position map of blocks of `2^entry_bits` positions.
    Recursive {
        /// Log2 of the positions per position block (1 to 10).
        entry_bits: u32,
    },
    /// The caller, who passes them to [`OramCore::access_at`]. The tree is sized for
    /// `tree_blocks` blocks (the capacity, or up to 1/1024 fewer: the map's few stash blocks
    /// then do not double a tree sized for a power of two).
    Caller {
        /// Blocks the tree is sized for.
        tree_blocks: u64,
    },
}

/// The ORAM without its RNG, so that several can share one (the map has two).
pub(crate) struct OramCore<S> {
    /// `levels[0]` holds the data, `levels[k]` the positions of `levels[k - 1]`'s blocks.
    levels: Vec<TreeLevel<S>>,
    /// Positions (leaf + 1, 0 = never assigned) of the blocks of the last level; empty when
    /// the caller keeps the positions ([`Positions::Caller`]: the data tree is the only level).
    top: Vec<u32>,
    params: OramParams,
    capacity: u64,
    value_bytes: usize,
    value_words: usize,
    scratch: Vec<u64>,
    pos_block: Vec<u64>,
    /// Log2 of the positions per position block.
    pos_bits: u32,
    /// `packing[k]` (k ≥ 1): how `levels[k]`'s blocks pack their positions (for
    /// `levels[k - 1]`'s leaf bits); `packing[0]` is unused.
    packing: Vec<Packing>,
    poisoned: bool,
}

impl<S> Drop for OramCore<S> {
    /// Wipes the position table and the scratch buffers (the trees wipe themselves).
    fn drop(&mut self) {
        self.top.zeroize();
        self.scratch.zeroize();
        self.pos_block.zeroize();
    }
}

impl<S: BucketStore> OramCore<S> {
    /// An ORAM of `capacity` zeroed blocks. With [`Positions::Recursive`] it keeps its own
    /// position map (trees of position blocks and a scanned table); with [`Positions::Caller`]
    /// it is the data tree alone and the caller keeps every block's position, passing it to
    /// [`OramCore::access_at`] (the map keeps each value block's position in the index bucket,
    /// next to its key).
    pub(crate) fn new<F: StoreFactory<Store = S>, R: RngCore + CryptoRng>(
        capacity: u64,
        value_bytes: usize,
        params: OramParams,
        factory: &mut F,
        rng: &mut R,
        positions: Positions,
    ) -> Result<Self, OramError> {
        let (position_map, pos_bits, tree_blocks) = match positions {
            Positions::Recursive { entry_bits } => (true, entry_bits, capacity),
            Positions::Caller { tree_blocks } => (false, POS_PER_BLOCK_BITS, tree_blocks),
        };
        if pos_bits == 0
            || pos_bits > MAX_POS_BITS
            || tree_blocks > capacity
            || capacity - tree_blocks > capacity / 1024
        {
            return Err(OramError::InvalidConfig);
        }
        if capacity == 0
            || capacity > MAX_CAPACITY
            || value_bytes == 0
            || value_bytes > MAX_VALUE_BYTES
            || params.bucket_slots == 0
            || params.bucket_slots > 16
            || params.stash_slots < 2
            || params.stash_slots > 4096
            || params.scan_threshold == 0
        {
            return Err(OramError::InvalidConfig);
        }
        let value_words = value_bytes.div_ceil(8);
        let mut levels = Vec::new();
        let mut packing = vec![Packing::Bits32];
        let mut pos_words = 0;
        let mut blocks = capacity;
        let mut words = value_words;
        loop {
            let leaf_bits = leaf_bits_for(if levels.is_empty() {
                tree_blocks
            } else {
                blocks
            });
            let nb = TreeLevel::<S>::num_buckets(leaf_bits);
            let bw = TreeLevel::<S>::bucket_words_for(params.bucket_slots, words);
            let store = factory.create(nb, bw, rng)?;
            levels.push(TreeLevel::new(
                store,
                leaf_bits,
                params.bucket_slots,
                words,
                params.stash_slots,
            )?);
            let next = blocks.div_ceil(1 << pos_bits);
            if !position_map {
                blocks = 0;
                break;
            }
            if blocks <= params.scan_threshold {
                break;
            }
            blocks = next;
            let pack = Packing::for_leaf_bits(leaf_bits);
            words = pack.words(1 << pos_bits);
            packing.push(pack);
            pos_words = pos_words.max(words);
        }
        if levels.len() > 8 {
            return Err(OramError::InvalidConfig);
        }
        let top_len = usize::try_from(blocks).map_err(|_| OramError::OutOfMemory)?;
        Ok(Self {
            levels,
            top: vec![0u32; top_len],
            params,
            capacity,
            value_bytes,
            value_words,
            scratch: Vec::new(),
            pos_block: vec![0; pos_words],
            pos_bits,
            packing,
            poisoned: false,
        })
    }

    #[cfg(any(test, feature = "stash-stats"))]
    pub(crate) fn stash_peak(&self) -> usize {
        self.levels
            .iter()
            .map(|l| l.stash_peak())
            .max()
            .unwrap_or(0)
    }

    /// Leaf bits of the data tree (tests check the map's tree sizes).
    #[cfg(test)]
    pub(crate) fn data_leaf_bits(&self) -> u32 {
        self.levels[0].leaf_mask().count_ones()
    }

    pub(crate) fn memory_bytes(&self) -> MemoryUse {
        let mut m = MemoryUse {
            trusted: (self.top.len() * 4 + (self.scratch.len() + self.pos_block.len()) * 8) as u64,
            untrusted: 0,
        };
        for l in &self.levels {
            m = m + l.memory_bytes();
        }
        m
    }

    pub(crate) fn access_many<R: RngCore + CryptoRng, T>(
        &mut self,
        rng: &mut R,
        indices: &[u64],
        f: impl FnOnce(&mut [u64]) -> T,
    ) -> Result<T, OramError> {
        self.access_checked(rng, indices, false, f)
    }

    /// [`OramCore::access_many`] for blocks whose positions share one position block (their
    /// indices agree but for the low `entry_bits` bits given at construction): the position
    /// map is walked once for all of them, one path per position tree instead of one per block.
    /// Indices that do not share a position block are a misuse reported as
    /// [`OramError::InvalidConfig`] before anything is touched. The access pattern is that of
    /// one position-map walk and `indices.len()` data-tree accesses.
    pub(crate) fn access_grouped<R: RngCore + CryptoRng, T>(
        &mut self,
        rng: &mut R,
        indices: &[u64],
        f: impl FnOnce(&mut [u64]) -> T,
    ) -> Result<T, OramError> {
        self.access_checked(rng, indices, true, f)
    }

    fn access_checked<R: RngCore + CryptoRng, T>(
        &mut self,
        rng: &mut R,
        indices: &[u64],
        grouped: bool,
        f: impl FnOnce(&mut [u64]) -> T,
    ) -> Result<T, OramError> {
        if self.poisoned {
            return Err(OramError::Poisoned);
        }
        if indices.is_empty() || indices.len() > 8 || self.top.is_empty() {
            return Err(OramError::InvalidConfig);
        }
        let mut bad = 0u64;
        let mut apart = 0u64;
        for (i, &a) in indices.iter().enumerate() {
            bad |= !crate::ct::lt_mask(a, self.capacity);
            for &b in &indices[..i] {
                bad |= eq_mask(a, b);
            }
            apart |= !eq_mask(a >> self.pos_bits, indices[0] >> self.pos_bits);
        }
        if barrier(bad) != 0 {
            return Err(OramError::IndexOutOfRange);
        }
        if grouped && self.levels.len() > 1 && barrier(apart) != 0 {
            return Err(OramError::InvalidConfig);
        }
        let r = self.access_inner(rng, indices, None, grouped, f);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// A fresh uniformly random leaf of the data tree, as a stored position (leaf + 1): what
    /// the caller of [`OramCore::access_at`] records for the block before accessing it.
    pub(crate) fn fresh_position<R: RngCore + CryptoRng>(&self, rng: &mut R) -> u64 {
        self.random_leaf(rng, 0) + 1
    }

    /// Accesses block `index` of an ORAM made with [`Positions::Caller`]. `stored` is the
    /// block's position as the caller kept it (leaf + 1; 0 = never placed, then a fresh random
    /// path is read), `next` the position the caller has already recorded for it (from
    /// [`OramCore::fresh_position`]). Same access pattern as a one-block
    /// [`OramCore::access_many`] minus the position-map trees: one path to a uniformly random
    /// leaf, then the evictions fixed by the public counter.
    pub(crate) fn access_at<R: RngCore + CryptoRng, T>(
        &mut self,
        rng: &mut R,
        index: u64,
        stored: u64,
        next: u64,
        f: impl FnOnce(&mut [u64]) -> T,
    ) -> Result<T, OramError> {
        if self.poisoned {
            return Err(OramError::Poisoned);
        }
        if !self.top.is_empty() {
            return Err(OramError::InvalidConfig);
        }
        if barrier(!crate::ct::lt_mask(index, self.capacity)) != 0 {
            return Err(OramError::IndexOutOfRange);
        }
        let read = self.resolve(rng, 0, stored);
        let new = next.wrapping_sub(1) & self.levels[0].leaf_mask();
        let r = self.access_inner(rng, &[index], Some((read, new)), false, f);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// The access itself. `known` is the (leaf to read, new leaf) of a single block whose
    /// position the caller keeps; `None` walks the position map, once for all indices when
    /// `grouped` (they share their position block), otherwise once per index. Both choices
    /// are public (fixed by how the ORAM was made and by the method called).
    fn access_inner<R: RngCore + CryptoRng, T>(
        &mut self,
        rng: &mut R,
        indices: &[u64],
        known: Option<(u64, u64)>,
        grouped: bool,
        f: impl FnOnce(&mut [u64]) -> T,
    ) -> Result<T, OramError> {
        let w = self.value_words;
        let n = indices.len();
        let mut scratch = core::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.resize(n * w, 0);
        let mut positions = [(0u64, 0u64); 8];
        let mut result = match known {
            Some(p) => {
                positions[0] = p;
                Ok(())
            }
            None if grouped => self.fetch_positions(rng, indices, &mut positions[..n]),
            None => indices
                .iter()
                .zip(positions.iter_mut())
                .try_for_each(|(&index, p)| {
                    self.fetch_positions(rng, &[index], core::slice::from_mut(p))
                }),
        };
        let mut new_leaves = [0u64; 8];
        if result.is_ok() {
            for (j, &index) in indices.iter().enumerate() {
                let (old, new) = positions[j % 8];
                new_leaves[j % 8] = new;
                let r = self.levels[0].remove(index, old, &mut scratch[j * w..(j + 1) * w]);
                if r.is_err() {
                    result = r;
                    break;
                }
            }
        }
        let out = match result {
            Ok(()) => {
                let t = f(&mut scratch);
                let mut r = Ok(());
                for (j, &index) in indices.iter().enumerate() {
                    r = r.and_then(|()| {
                        self.levels[0].insert(
                            index,
                            new_leaves[j % 8],
                            &scratch[j * w..(j + 1) * w],
                        )
                    });
                }
                for _ in 0..n * self.params.extra_evictions {
                    r = r.and_then(|()| self.levels[0].evict_next());
                }
                r.map(|()| t)
            }
            Err(e) => Err(e),
        };
        scratch.iter_mut().for_each(|x| *x = 0);
        self.scratch = scratch;
        out
    }

    fn random_leaf<R: RngCore + CryptoRng>(&self, rng: &mut R, level: usize) -> u64 {
        rng.next_u64() & self.levels[level].leaf_mask()
    }

    /// Assigns fresh random leaves to blocks `indices` of the data tree, walking the position
    /// map once from the scanned table down: the indices must share their position block at
    /// every level (one index always does; the caller checked the others). Fills `out` with
    /// (leaf to read, new leaf) per index.
    fn fetch_positions<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        indices: &[u64],
        out: &mut [(u64, u64)],
    ) -> Result<(), OramError> {
        let k = self.levels.len();
        let bits = self.pos_bits;
        let mask = (1u64 << bits) - 1;
        let mut new = [0u64; 8];
        for (lvl, slot) in new.iter_mut().enumerate().take(k).skip(1) {
            *slot = self.random_leaf(rng, lvl);
        }
        for (o, _) in out.iter_mut().zip(indices) {
            o.1 = self.random_leaf(rng, 0);
        }
        if k == 1 {
            // The scanned table holds the data tree's positions: one scan per index.
            for (o, &index) in out.iter_mut().zip(indices) {
                let old = scan_swap(&mut self.top, index, o.1 + 1);
                o.0 = self.resolve(rng, 0, old);
            }
            return Ok(());
        }
        let index = indices[0];
        // Scanned table: positions of the last level's blocks.
        let top_index = index >> (bits * (k as u32 - 1));
        let mut old = scan_swap(&mut self.top, top_index, new[k - 1] + 1);
        for lvl in (1..k).rev() {
            let read = self.resolve(rng, lvl, old);
            let block = index >> (bits * lvl as u32);
            let mut buf = core::mem::take(&mut self.pos_block);
            buf.iter_mut().for_each(|x| *x = 0);
            let pack = self.packing[lvl];
            let pb = &mut buf[..pack.words(1 << bits)];
            let mut r = self.levels[lvl].remove(block, read, pb);
            if r.is_ok() {
                if lvl > 1 {
                    let entry = (index >> (bits * (lvl as u32 - 1))) & mask;
                    old = pack.swap(pb, 1 << bits, entry, new[lvl - 1] + 1);
                } else {
                    // The position block of the data tree: one entry per index.
                    for (o, &i) in out.iter_mut().zip(indices) {
                        o.0 = pack.swap(pb, 1 << bits, i & mask, o.1 + 1);
                    }
                }
                r = self.levels[lvl].insert(block, new[lvl], pb);
            }
            buf.iter_mut().for_each(|x| *x = 0);
            self.pos_block = buf;
            r?;
            for _ in 0..self.params.extra_evictions {
                self.levels[lvl].evict_next()?;
            }
        }
        for o in out.iter_mut() {
            o.0 = self.resolve(rng, 0, o.0);
        }
        Ok(())
    }

    /// Leaf to read for a stored position: `stored - 1`, or a fresh random leaf when the block
    /// was never assigned one (`stored == 0`), chosen without a branch.
    fn resolve<R: RngCore + CryptoRng>(&self, rng: &mut R, level: usize, stored: u64) -> u64 {
        let fresh = self.random_leaf(rng, level);
        let never = eq_mask(stored, 0);
        sel(never, fresh, stored.wrapping_sub(1)) & self.levels[level].leaf_mask()
    }
}

/// Replaces entry `index` of `table` with `new`, returning the old entry; reads and writes every
/// entry. Works in `u32` lanes (entries are `u32`; `index` < `table.len()` ≤ 2^32 and `new`
/// is a leaf + 1 < 2^32, both guaranteed by the configuration checks), which the compiler
/// vectorises; the only branch is on the public length. Runs through an AVX2 copy (eight lanes
/// instead of four) where the processor has AVX2, as the evictions do ([`crate::wide`]).
fn scan_swap(table: &mut [u32], index: u64, new: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if crate::wide::avx2() {
        // SAFETY: `avx2()` checked that this processor has AVX2.
        #[allow(unsafe_code)]
        return unsafe { scan_swap_avx2(table, index, new) };
    }
    scan_swap_body(table, index, new)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn scan_swap_avx2(table: &mut [u32], index: u64, new: u64) -> u64 {
    scan_swap_body(table, index, new)
}

#[inline(always)]
fn scan_swap_body(table: &mut [u32], index: u64, new: u64) -> u64 {
    let idx = index as u32;
    let new = new as u32;
    let mut old = 0u32;
    for (i, e) in table.iter_mut().enumerate() {
        let x = (i as u32) ^ idx;
        // All-ones exactly when x == 0.
        let m = ((x | x.wrapping_neg()) >> 31).wrapping_sub(1);
        let v = *e;
        old |= v & m;
        *e = (new & m) | (v & !m);
    }
    u64::from(old)
}

/// Replaces entry `entry` of a block of `entries` entries, `LANES` per word (`64 / LANES` bits
/// each, entry `LANES × i + j` in lane `j` of word `i`, lane 0 lowest), with `new`, which must
/// fit a lane, returning the old entry. Reads and writes every word, compares every entry; an
/// `entry` past the last (including the spare lanes of the last word, which stay as they are)
/// changes nothing and returns 0.
#[inline(always)]
fn packed_swap<const LANES: usize>(block: &mut [u64], entries: usize, entry: u64, new: u64) -> u64 {
    let width = 64 / LANES as u32;
    let lane = u64::MAX >> (64 - width);
    let mut old = 0u64;
    for (i, w) in block.iter_mut().enumerate() {
        let mut word = *w;
        // Public bound: the last word may have lanes past the block's entries.
        for j in 0..LANES.min(entries.saturating_sub(i * LANES)) {
            let m = eq_mask((i * LANES + j) as u64, entry);
            let shift = j as u32 * width;
            let v = (word >> shift) & lane;
            old |= v & m;
            word ^= ((v ^ new) & lane & m) << shift;
        }
        *w = word;
    }
    old
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::HeapFactory;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use std::println;

    fn rng(seed: u64) -> ChaCha20Rng {
        println!("seed {seed}");
        ChaCha20Rng::seed_from_u64(seed)
    }

    #[test]
    fn leaf_bits() {
        assert_eq!(leaf_bits_for(1), 0);
        assert_eq!(leaf_bits_for(2), 0);
        assert_eq!(leaf_bits_for(3), 1);
        assert_eq!(leaf_bits_for(1 << 20), 19);
        assert_eq!(leaf_bits_for((1 << 20) + 1), 20);
    }

    #[test]
    fn swaps() {
        let mut t = [5u32, 6, 7];
        assert_eq!(scan_swap(&mut t, 1, 9), 6);
        assert_eq!(t, [5, 9, 7]);
        // Long tables (the vectorised body and its remainder), in both copies (baseline and,
        // on x86-64, AVX2): every position, and an index past the end, which changes nothing
        // and returns 0.
        let copy = |wide: bool, t: &mut [u32], idx: u64, new: u64| -> u64 {
            #[cfg(target_arch = "x86_64")]
            if wide {
                assert!(
                    crate::wide::has_avx2_cpu(),
                    "this test needs a processor with AVX2"
                );
                // SAFETY: the processor has AVX2 (checked above).
                #[allow(unsafe_code)]
                return unsafe { scan_swap_avx2(t, idx, new) };
            }
            let _ = wide;
            scan_swap_body(t, idx, new)
        };
        let lens = [
            1usize, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 300, 4096,
        ];
        for (wide, len) in [false, true].into_iter().flat_map(|w| lens.map(|l| (w, l))) {
            let orig: Vec<u32> = (0..len as u32).map(|i| i * 7 + 1).collect();
            for idx in [0, len / 2, len - 1, len] {
                let mut t = orig.clone();
                let old = copy(wide, &mut t, idx as u64, u64::from(u32::MAX));
                let mut want = orig.clone();
                if let Some(e) = want.get_mut(idx) {
                    *e = u32::MAX;
                }
                assert_eq!(
                    old,
                    orig.get(idx).map_or(0, |&v| u64::from(v)),
                    "{len} {idx}"
                );
                assert_eq!(t, want, "{len} {idx}");
            }
        }
        let mut b = vec![0u64; POS_WORDS];
        for e in 0..POS_PER_BLOCK {
            assert_eq!(
                Packing::Bits32.swap(&mut b, POS_PER_BLOCK as usize, e, e + 100),
                0
            );
        }
        for e in 0..POS_PER_BLOCK {
            assert_eq!(
                Packing::Bits32.swap(&mut b, POS_PER_BLOCK as usize, e, 1),
                e + 100
            );
        }
        let before = b.clone();
        for e in [POS_PER_BLOCK, POS_PER_BLOCK + 1, u64::MAX] {
            assert_eq!(
                Packing::Bits32.swap(&mut b, POS_PER_BLOCK as usize, e, 77),
                0
            );
            assert_eq!(b, before);
        }
    }

    #[test]
    fn spare_lanes_are_never_entries() {
        // A map bucket's 16 value positions in 21-bit lanes: 6 words, 18 lanes. The map asks
        // for entries 16 and 17 of one bucket when it means the other bucket's first two.
        let mut b = vec![0u64; 6];
        for e in 0..16u64 {
            Packing::Bits21.swap(&mut b, 16, e, e + 1);
        }
        let before = b.clone();
        for e in [16u64, 17, 18] {
            assert_eq!(Packing::Bits21.swap(&mut b, 16, e, 0x1f_ffff), 0, "{e}");
            assert_eq!(b, before, "{e}");
        }
        assert_eq!(b[5] >> 21, 0, "the spare lanes stay zero");
    }

    #[test]
    fn narrow_positions_hold_every_leaf_of_their_tree() {
        // The widest entry a packing is chosen for (leaf + 1 = 2^leaf_bits) survives, next to
        // its neighbours, in every entry of a block, for the position blocks' 32 and 128
        // entries and a map bucket's 16.
        use Packing::*;
        let cases = [
            (0u32, Bits16, 4usize),
            (15, Bits16, 4),
            (16, Bits21, 6),
            (20, Bits21, 6),
            (21, Bits24, 6),
            (23, Bits24, 6),
            (24, Bits32, 8),
            (31, Bits32, 8),
        ];
        for (leaf_bits, pack, words16) in cases {
            assert_eq!(Packing::for_leaf_bits(leaf_bits), pack, "{leaf_bits}");
            assert_eq!(pack.words(16), words16, "{pack:?}");
            let top = 1u64 << leaf_bits;
            for entries in [16u64, 32, 128] {
                let mut b = vec![0u64; pack.words(entries as usize)];
                let n = entries as usize;
                let value = |e: u64| if e % 2 == 0 { top } else { e % top.max(2) };
                for e in 0..entries {
                    assert_eq!(pack.swap(&mut b, n, e, value(e)), 0, "{leaf_bits} {e}");
                }
                for e in 0..entries {
                    assert_eq!(pack.swap(&mut b, n, e, 1), value(e), "{leaf_bits} {e}");
                    assert_eq!(pack.swap(&mut b, n, e, value(e)), 1, "{leaf_bits} {e}");
                }
                // Entries past the block change nothing, spare lanes included.
                let before = b.clone();
                for e in [entries, entries + 1, 1000, u64::MAX] {
                    assert_eq!(pack.swap(&mut b, n, e, 5), 0);
                    assert_eq!(b, before);
                }
            }
        }
    }

    #[test]
    fn bad_config_and_index() {
        let r = Oram::new(0, 8, HeapFactory, rng(1));
        assert!(matches!(r, Err(OramError::InvalidConfig)));
        let r = Oram::new(16, 0, HeapFactory, rng(1));
        assert!(matches!(r, Err(OramError::InvalidConfig)));
        let mut o = Oram::new(16, 8, HeapFactory, rng(1)).unwrap();
        assert_eq!(o.access(16, |_| ()), Err(OramError::IndexOutOfRange));
        assert_eq!(o.access(15, |v| v.len()), Ok(8));
    }

    fn roundtrip(capacity: u64, value_bytes: usize, params: OramParams, ops: usize, seed: u64) {
        let mut o =
            Oram::with_params(capacity, value_bytes, params, HeapFactory, rng(seed)).unwrap();
        let mut model = vec![vec![0u8; value_bytes]; capacity as usize];
        let mut r = rng(seed + 1);
        for step in 0..ops {
            let i = r.next_u64() % capacity;
            let fill = (step % 251) as u8;
            let got = o
                .access(i, |v| {
                    let old = v.to_vec();
                    v.iter_mut()
                        .enumerate()
                        .for_each(|(k, b)| *b = fill ^ k as u8);
                    old
                })
                .unwrap();
            assert_eq!(got, model[i as usize], "step {step} index {i}");
            model[i as usize]
                .iter_mut()
                .enumerate()
                .for_each(|(k, b)| *b = fill ^ k as u8);
        }
        // Every written block is in the tree or the stash, on its path.
        let written = model.iter().filter(|v| v.iter().any(|&b| b != 0)).count();
        let held = o.levels_mut()[0].check_invariant().unwrap();
        assert!(held >= written && held <= capacity as usize);
        assert!(o.stash_peak() <= o.levels_mut()[0].stash_slots());
    }

    #[test]
    fn matches_model_small_trees() {
        roundtrip(1, 8, OramParams::default(), 50, 10);
        roundtrip(2, 16, OramParams::default(), 200, 11);
        roundtrip(37, 24, OramParams::default(), 2_000, 12);
    }

    #[test]
    fn matches_model_with_recursion() {
        let params = OramParams {
            scan_threshold: 8,
            ..OramParams::default()
        };
        roundtrip(1000, 8, params, 5_000, 13);
        let params = OramParams {
            bucket_slots: 3,
            stash_slots: 24,
            ..params
        };
        roundtrip(300, 40, params, 3_000, 14);
    }

    #[test]
    fn matches_model_with_odd_stash_and_other_bucket_sizes() {
        // The eviction moves stash slots two at a time with a single-slot pass for an odd last
        // one, and has a dedicated pass for Z = 2 next to the general one.
        for (z, stash, seed) in [(2, 13, 15), (3, 13, 16), (4, 12, 17)] {
            let params = OramParams {
                bucket_slots: z,
                stash_slots: stash,
                scan_threshold: 8,
                ..OramParams::default()
            };
            roundtrip(700, 40, params, 3_000, seed);
        }
    }

    #[test]
    fn unmapped_core_keeps_positions_with_the_caller() {
        let mut factory = HeapFactory;
        let mut r = rng(3);
        let mut core = OramCore::new(
            100,
            8,
            OramParams::default(),
            &mut factory,
            &mut r,
            Positions::Caller { tree_blocks: 100 },
        )
        .unwrap();
        assert_eq!(core.levels.len(), 1);
        assert!(core.top.is_empty());
        // The caller's position table and a model of the values.
        let mut positions = vec![0u64; 100];
        let mut model = vec![0u64; 100];
        for step in 0..3000u64 {
            let i = (step * 37 + step / 7) % 100;
            let next = core.fresh_position(&mut r);
            assert!(next >= 1 && next - 1 <= core.levels[0].leaf_mask());
            let got = core
                .access_at(&mut r, i, positions[i as usize], next, |w| {
                    let old = w[0];
                    w[0] = step + 1;
                    old
                })
                .unwrap();
            assert_eq!(got, model[i as usize], "step {step} block {i}");
            model[i as usize] = step + 1;
            positions[i as usize] = next;
        }
        // Misuse is refused before anything is touched: a position-map access on an unmapped
        // core, an out-of-range block, and a caller-kept position on a mapped core.
        assert_eq!(
            core.access_many(&mut r, &[1], |_| ()),
            Err(OramError::InvalidConfig)
        );
        assert_eq!(
            core.access_at(&mut r, 100, 0, 1, |_| ()),
            Err(OramError::IndexOutOfRange)
        );
        let i = 5usize;
        assert_eq!(
            core.access_at(&mut r, i as u64, positions[i], positions[i], |w| w[0]),
            Ok(model[i])
        );
        let mut mapped = OramCore::new(
            100,
            8,
            OramParams::default(),
            &mut factory,
            &mut r,
            Positions::Recursive {
                entry_bits: POS_PER_BLOCK_BITS,
            },
        )
        .unwrap();
        assert_eq!(
            mapped.access_at(&mut r, 1, 0, 1, |_| ()),
            Err(OramError::InvalidConfig)
        );
    }

    /// A grouped access walks each position tree once for all its blocks (one read path and
    /// its evictions), where `access_many` walks them once per block, and both read and write
    /// the right blocks: checked against a model on an ORAM with two position trees.
    #[test]
    fn grouped_access_walks_the_position_map_once() {
        use crate::storage::{TraceOp, TracingFactory};
        let mut factory = TracingFactory::new(HeapFactory);
        let log = factory.log();
        let mut r = rng(40);
        let params = OramParams {
            scan_threshold: 8,
            ..OramParams::default()
        };
        // 2^12 blocks, 64 positions per position block: trees of 2^12, 2^6 and 1 blocks
        // (leaf bits 11, 5, 0), then a table of one entry.
        let mut core = OramCore::new(
            1 << 12,
            8,
            params,
            &mut factory,
            &mut r,
            Positions::Recursive { entry_bits: 6 },
        )
        .unwrap();
        assert_eq!(core.levels.len(), 3);
        let mut model = vec![0u64; 1 << 12];
        let mut pick = rng(41);
        // Paths (read and evictions) per tree: depth = leaf bits + 1 buckets each.
        let depths = [12usize, 6, 1];
        for step in 0..3000u64 {
            let group = pick.next_u64() % 64;
            let a = group * 64 + pick.next_u64() % 32;
            let b = group * 64 + 32 + pick.next_u64() % 32;
            let grouped = step % 2 == 0;
            log.take();
            let seen = if grouped {
                core.access_grouped(&mut r, &[a, b], |w| {
                    let seen = [w[0], w[1]];
                    w[0] = step;
                    w[1] = !step;
                    seen
                })
            } else {
                core.access_many(&mut r, &[a, b], |w| {
                    let seen = [w[0], w[1]];
                    w[0] = step;
                    w[1] = !step;
                    seen
                })
            }
            .unwrap();
            assert_eq!(seen, [model[a as usize], model[b as usize]], "step {step}");
            model[a as usize] = step;
            model[b as usize] = !step;
            let trace = log.take();
            for (tree, depth) in depths.iter().enumerate() {
                let reads = trace
                    .iter()
                    .filter(|e| e.store == tree as u32 && e.op == TraceOp::Read)
                    .count();
                // Each access of a tree reads its path and evicts along two more.
                let accesses = if tree == 0 || !grouped { 2 } else { 1 };
                assert_eq!(
                    reads,
                    accesses * 3 * depth,
                    "tree {tree}, grouped {grouped}"
                );
            }
        }
        // Blocks of different position blocks are refused before anything is touched.
        log.take();
        assert_eq!(
            core.access_grouped(&mut r, &[0, 64], |_| ()),
            Err(OramError::InvalidConfig)
        );
        assert!(log.take().is_empty());
        assert_eq!(
            core.access_grouped(&mut r, &[5, 5], |_| ()),
            Err(OramError::IndexOutOfRange)
        );
    }

    #[test]
    fn access_many_sees_all_blocks() {
        let mut o = Oram::new(64, 8, HeapFactory, rng(2)).unwrap();
        for i in 0..64u64 {
            o.access_words(i, |w| w[0] = i * 7).unwrap();
        }
        let seen = o.access_many(&[3, 60, 9], |w| w.to_vec()).unwrap();
        assert_eq!(seen, vec![21, 420, 63]);
        assert_eq!(
            o.access_many(&[3, 3], |_| ()),
            Err(OramError::IndexOutOfRange)
        );
        assert_eq!(o.access_words(60, |w| w[0]), Ok(420));
    }
}
