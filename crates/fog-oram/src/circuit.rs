//! One tree of the Circuit ORAM (Wang, Chan, Shi, CCS 2015): bucket layout, stash, path loading
//! and the linear-time eviction, all on word-sized metadata plus one pass of conditional moves
//! over the blocks.
//!
//! Trusted side. The buckets touched depend only on the leaf passed in (a uniformly random leaf
//! for reads, a public reverse-lexicographic counter for evictions). Inside the loaded path and
//! the stash every slot is read and written on every operation, with the same instructions,
//! whatever the slot holds.

use alloc::vec;
use alloc::vec::Vec;

use zeroize::Zeroize;

use crate::ct::{barrier, cmov_words_mask, cswap_words_mask, eq_mask, lt_mask, sel, Mask};
use crate::storage::{BucketStore, MemoryUse};
use crate::OramError;

/// Words of metadata per slot: `[index + 1 (0 = empty), leaf]`.
const META: usize = 2;
/// "No level" marker in the eviction plan.
const NONE: u64 = u64::MAX;

/// Number of significant bits of `v` (0 for 0), without branches or `lzcnt`.
#[inline(always)]
fn bit_len(mut v: u64) -> u64 {
    let mut n = 0u64;
    for s in [32u32, 16, 8, 4, 2, 1] {
        let hi = v >> s;
        let m = !eq_mask(hi, 0);
        n += u64::from(s) & m;
        v = sel(m, hi, v);
    }
    n + (v & 1)
}

/// Reverses the low `bits` bits of `v` (public values only).
fn reverse_bits(v: u64, bits: u32) -> u64 {
    if bits == 0 {
        0
    } else {
        v.reverse_bits() >> (64 - bits)
    }
}

/// `dst = src` and `src = 0` where `m` is set, touching every word either way: moves a block
/// out of a slot without leaving a copy behind. Same loop shape as [`cmov_words_mask`].
#[inline]
fn move_out_mask(m: Mask, src: &mut [u64], dst: &mut [u64]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&mut src[..n], &mut dst[..n]);
    for i in 0..n {
        dst[i] ^= m & (dst[i] ^ src[i]);
        src[i] &= !m;
    }
}

/// A single tree with its stash.
pub(crate) struct TreeLevel<S> {
    store: S,
    /// Slots per bucket.
    z: usize,
    /// Value words per block.
    w: usize,
    /// Levels of the tree (root is level 0, leaves are level `depth - 1`).
    depth: usize,
    leaf_bits: u32,
    bucket_words: usize,
    stash_meta: Vec<u64>,
    stash_data: Vec<u64>,
    path: Vec<u64>,
    deepest: Vec<u64>,
    deepest_slot: Vec<u64>,
    empty_slot: Vec<u64>,
    has_empty: Vec<u64>,
    target: Vec<u64>,
    hold: Vec<u64>,
    evict_counter: u64,
    #[cfg(any(test, feature = "stash-stats"))]
    stats: StashStats,
}

/// Stash occupancy statistics for simulations and benchmarks (the `stash-stats` feature, which
/// `fog-bench` enables; tests have them too). The occupancy depends on which blocks were
/// accessed, so it is updated without a branch or a secret-indexed write: the peak by a masked
/// select, the histogram by a masked add to every bin.
#[cfg(any(test, feature = "stash-stats"))]
struct StashStats {
    peak: u64,
    /// `hist[k]`: how many times the stash held `k` blocks right after an insert.
    hist: Vec<u64>,
}

#[cfg(any(test, feature = "stash-stats"))]
impl StashStats {
    fn new(stash_slots: usize) -> Self {
        Self {
            peak: 0,
            hist: vec![0; stash_slots + 1],
        }
    }

    /// Counts one observation of `occupied` blocks (at most the stash size): every bin is read
    /// and written.
    #[inline]
    fn record(&mut self, occupied: u64) {
        let occupied = barrier(occupied);
        self.peak = sel(lt_mask(self.peak, occupied), occupied, self.peak);
        for (k, h) in self.hist.iter_mut().enumerate() {
            *h += eq_mask(k as u64, occupied) & 1;
        }
    }
}

impl<S> Drop for TreeLevel<S> {
    /// Wipes the stash, the loaded path and the hold (they hold blocks' values and leaves); the
    /// store wipes itself.
    fn drop(&mut self) {
        self.stash_meta.zeroize();
        self.stash_data.zeroize();
        self.path.zeroize();
        self.hold.zeroize();
        self.deepest.zeroize();
        self.deepest_slot.zeroize();
        self.empty_slot.zeroize();
        self.has_empty.zeroize();
        self.target.zeroize();
    }
}

impl<S: BucketStore> TreeLevel<S> {
    /// Number of buckets a tree with `leaf_bits` leaf bits has.
    pub(crate) fn num_buckets(leaf_bits: u32) -> u64 {
        (1u64 << (leaf_bits + 1)) - 1
    }

    /// Words per bucket for `z` slots of `w` value words.
    pub(crate) fn bucket_words_for(z: usize, w: usize) -> usize {
        z * (META + w)
    }

    pub(crate) fn new(
        store: S,
        leaf_bits: u32,
        z: usize,
        w: usize,
        stash_slots: usize,
    ) -> Result<Self, OramError> {
        let depth = leaf_bits as usize + 1;
        let bucket_words = Self::bucket_words_for(z, w);
        if store.bucket_words() != bucket_words
            || store.num_buckets() != Self::num_buckets(leaf_bits)
        {
            return Err(OramError::InvalidConfig);
        }
        let positions = depth + 1;
        Ok(Self {
            store,
            z,
            w,
            depth,
            leaf_bits,
            bucket_words,
            stash_meta: vec![0; stash_slots * META],
            stash_data: vec![0; stash_slots * w],
            path: vec![0; depth * bucket_words],
            deepest: vec![NONE; positions],
            deepest_slot: vec![0; positions],
            empty_slot: vec![0; positions],
            has_empty: vec![0; positions],
            target: vec![NONE; positions],
            hold: vec![0; w],
            evict_counter: 0,
            #[cfg(any(test, feature = "stash-stats"))]
            stats: StashStats::new(stash_slots),
        })
    }

    pub(crate) fn leaf_mask(&self) -> u64 {
        (1u64 << self.leaf_bits) - 1
    }

    #[cfg(any(test, feature = "stash-stats"))]
    pub(crate) fn stash_peak(&self) -> usize {
        self.stats.peak as usize
    }

    #[cfg(any(test, feature = "stash-stats"))]
    pub(crate) fn stash_histogram(&self) -> &[u64] {
        &self.stats.hist
    }

    pub(crate) fn memory_bytes(&self) -> MemoryUse {
        let local = (self.stash_meta.len()
            + self.stash_data.len()
            + self.path.len()
            + 5 * self.deepest.len()
            + 2 * self.w)
            * 8;
        self.store.memory_bytes()
            + MemoryUse {
                trusted: local as u64,
                untrusted: 0,
            }
    }

    #[cfg(test)]
    pub(crate) fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    fn bucket_index(&self, level: usize, leaf: u64) -> u64 {
        ((1u64 << level) - 1) + (leaf >> (self.leaf_bits as usize - level))
    }

    fn load_path(&mut self, leaf: u64) -> Result<(), OramError> {
        for lvl in 0..self.depth {
            let b = self.bucket_index(lvl, leaf);
            let bw = self.bucket_words;
            self.store
                .read_bucket(b, &mut self.path[lvl * bw..(lvl + 1) * bw])?;
        }
        Ok(())
    }

    fn store_path(&mut self, leaf: u64) -> Result<(), OramError> {
        for lvl in 0..self.depth {
            let b = self.bucket_index(lvl, leaf);
            let bw = self.bucket_words;
            self.store
                .write_bucket(b, &self.path[lvl * bw..(lvl + 1) * bw])?;
        }
        Ok(())
    }

    /// Metadata and data of position `p` (0 = stash, `1..=depth` = path levels).
    fn position(&mut self, p: usize) -> (&mut [u64], &mut [u64]) {
        if p == 0 {
            (&mut self.stash_meta[..], &mut self.stash_data[..])
        } else {
            let bw = self.bucket_words;
            let b = &mut self.path[(p - 1) * bw..p * bw];
            b.split_at_mut(self.z * META)
        }
    }

    /// Removes block `index` from the loaded path and the stash, moving its value into `out`
    /// (left as it was when the block is absent; callers pass zeros). The slot it leaves is
    /// wiped, so no stale copy of the old value stays behind in the tree.
    fn take_from_loaded(&mut self, index1: u64, out: &mut [u64]) {
        let w = self.w;
        for p in 0..=self.depth {
            let (meta, data) = self.position(p);
            for (m, d) in meta.chunks_exact_mut(META).zip(data.chunks_exact_mut(w)) {
                let hit = barrier(eq_mask(m[0], index1));
                move_out_mask(hit, d, out);
                m[0] = sel(hit, 0, m[0]);
                m[1] = sel(hit, 0, m[1]);
            }
        }
    }

    /// Computes the eviction plan for the loaded path to `leaf` (PrepareDeepest and
    /// PrepareTarget of Circuit ORAM), on metadata only.
    fn plan(&mut self, leaf: u64) {
        let positions = self.depth + 1;
        let leaf_bits = u64::from(self.leaf_bits);
        let leaf_mask = self.leaf_mask();
        let mut src = NONE;
        let mut goal = 0u64; // deepest reachable position so far; 0 = none
        for p in 0..positions {
            let pu = p as u64;
            let reach = !lt_mask(goal, pu) & !eq_mask(goal, 0);
            self.deepest[p] = sel(reach, src, NONE);
            let (meta, _) = self.position(p);
            let mut best = 0u64;
            let mut best_slot = 0u64;
            let mut empty = 0u64;
            let mut first_empty = 0u64;
            for (j, m) in meta.chunks_exact(META).enumerate() {
                let j = j as u64;
                let occupied = !eq_mask(m[0], 0);
                // Deepest legal position on this path: 1 + depth of the common ancestor.
                let common = leaf_bits - bit_len((m[1] ^ leaf) & leaf_mask);
                let legal = (1 + common) & occupied;
                let upd = lt_mask(best, legal);
                best = sel(upd, legal, best);
                best_slot = sel(upd, j, best_slot);
                let new_empty = !occupied & !empty;
                first_empty = sel(new_empty, j, first_empty);
                empty |= !occupied;
            }
            self.deepest_slot[p] = best_slot;
            self.empty_slot[p] = first_empty;
            self.has_empty[p] = empty;
            let upd = lt_mask(goal, best);
            goal = sel(upd, best, goal);
            src = sel(upd, pu, src);
        }
        let mut dest = NONE;
        let mut src = NONE;
        for p in (0..positions).rev() {
            let pu = p as u64;
            let at_src = eq_mask(pu, src);
            let t = sel(at_src, dest, NONE);
            self.target[p] = t;
            dest = sel(at_src, NONE, dest);
            src = sel(at_src, NONE, src);
            let cond = ((eq_mask(dest, NONE) & self.has_empty[p]) | !eq_mask(t, NONE))
                & !eq_mask(self.deepest[p], NONE);
            src = sel(cond, self.deepest[p], src);
            dest = sel(cond, pu, dest);
        }
    }

    /// One Circuit ORAM eviction over the loaded path to `leaf`.
    ///
    /// At each position the held block and the chosen slot are conditionally swapped: the slot
    /// is the deepest block's when one is picked up here (the held block, if it drops here too,
    /// takes its place), otherwise the first empty slot (the held block drops into it and the
    /// empty slot's contents become the new, inactive, held block). An inactive held block has
    /// empty metadata, so every case is one swap and the hold needs no separate update.
    fn evict_loaded(&mut self, leaf: u64) {
        self.plan(leaf);
        let w = self.w;
        let mut hold_meta = [0u64; META];
        let mut dest = NONE;
        let mut hold = core::mem::take(&mut self.hold);
        for p in 0..=self.depth {
            let hold_active = !eq_mask(hold_meta[0], 0);
            let drop = hold_active & eq_mask(p as u64, dest);
            let target = self.target[p];
            let pick = !eq_mask(target, NONE);
            let slot = sel(pick, self.deepest_slot[p], self.empty_slot[p]);
            let act = pick | drop;
            let (meta, data) = self.position(p);
            for (j, (m, d)) in meta
                .chunks_exact_mut(META)
                .zip(data.chunks_exact_mut(w))
                .enumerate()
            {
                let c = barrier(act & eq_mask(j as u64, slot));
                if p == 0 {
                    // The stash only gives blocks up during an eviction (the hold is empty
                    // and targets are strictly deeper): the block moves out and its slot is
                    // wiped.
                    hold_meta[0] = sel(c, m[0], hold_meta[0]);
                    hold_meta[1] = sel(c, m[1], hold_meta[1]);
                    m[0] = sel(c, 0, m[0]);
                    m[1] = sel(c, 0, m[1]);
                    move_out_mask(c, d, &mut hold);
                } else {
                    for k in 0..META {
                        let t = c & (m[k] ^ hold_meta[k]);
                        m[k] ^= t;
                        hold_meta[k] ^= t;
                    }
                    cswap_words_mask(c, d, &mut hold);
                }
            }
            dest = sel(pick, target, sel(drop, NONE, dest));
        }
        self.hold = hold;
    }

    /// Reads the path to `read_leaf`, removes block `index` from it and from the stash into
    /// `out` (which must be `w` zeros on entry; it stays zero when the block is absent), runs
    /// one eviction on that path and writes it back.
    pub(crate) fn remove(
        &mut self,
        index: u64,
        read_leaf: u64,
        out: &mut [u64],
    ) -> Result<(), OramError> {
        self.load_path(read_leaf)?;
        self.take_from_loaded(index + 1, out);
        self.evict_loaded(read_leaf);
        self.store_path(read_leaf)
    }

    /// Puts block `index` with `leaf` and value `data` into the stash. Fails with
    /// [`OramError::StashOverflow`] when the stash is full (the block is then lost and the
    /// caller must poison the ORAM).
    pub(crate) fn insert(&mut self, index: u64, leaf: u64, data: &[u64]) -> Result<(), OramError> {
        let w = self.w;
        let mut done: Mask = 0;
        #[cfg(any(test, feature = "stash-stats"))]
        let mut occupied = 0u64;
        for (m, d) in self
            .stash_meta
            .chunks_exact_mut(META)
            .zip(self.stash_data.chunks_exact_mut(w))
        {
            let put = barrier(eq_mask(m[0], 0) & !done);
            m[0] = sel(put, index + 1, m[0]);
            m[1] = sel(put, leaf, m[1]);
            cmov_words_mask(put, data, d);
            done |= put;
            #[cfg(any(test, feature = "stash-stats"))]
            {
                occupied += !eq_mask(m[0], 0) & 1;
            }
        }
        #[cfg(any(test, feature = "stash-stats"))]
        self.stats.record(occupied);
        // A full stash is the one outcome that leaves: the ORAM is poisoned from here on.
        if done == 0 {
            return Err(OramError::StashOverflow);
        }
        Ok(())
    }

    /// One eviction on the next path in reverse-lexicographic order.
    pub(crate) fn evict_next(&mut self) -> Result<(), OramError> {
        let leaf = reverse_bits(self.evict_counter & self.leaf_mask(), self.leaf_bits);
        self.evict_counter = self.evict_counter.wrapping_add(1);
        self.load_path(leaf)?;
        self.evict_loaded(leaf);
        self.store_path(leaf)
    }

    /// Slots of the stash.
    #[cfg(test)]
    pub(crate) fn stash_slots(&self) -> usize {
        self.stash_meta.len() / META
    }

    /// Whether `word` appears anywhere in this tree's memory: every bucket of the store, the
    /// stash, the path buffer and the hold. Tests only: not oblivious.
    #[cfg(test)]
    pub(crate) fn memory_contains(&mut self, word: u64) -> Result<bool, OramError> {
        let nb = Self::num_buckets(self.leaf_bits);
        let mut buf = vec![0u64; self.bucket_words];
        let mut found = false;
        for b in 0..nb {
            self.store.read_bucket(b, &mut buf)?;
            found |= buf.contains(&word);
        }
        Ok(found
            || self.stash_data.contains(&word)
            || self.path.contains(&word)
            || self.hold.contains(&word))
    }

    /// Checks the structural invariant (every real block is on the path to its leaf or in the
    /// stash) by reading the whole tree. Tests only: not oblivious.
    #[cfg(test)]
    pub(crate) fn check_invariant(&mut self) -> Result<usize, OramError> {
        let mut count = 0;
        let nb = Self::num_buckets(self.leaf_bits);
        let mut buf = vec![0u64; self.bucket_words];
        for b in 0..nb {
            self.store.read_bucket(b, &mut buf)?;
            let level = 63 - (b + 1).leading_zeros() as usize;
            for m in buf[..self.z * META].chunks_exact(META) {
                if m[0] != 0 {
                    count += 1;
                    assert_eq!(self.bucket_index(level, m[1]), b, "block off its path");
                }
            }
        }
        count += self
            .stash_meta
            .chunks_exact(META)
            .filter(|m| m[0] != 0)
            .count();
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_len_matches_native() {
        for v in [0u64, 1, 2, 3, 4, 255, 256, 1 << 40, u64::MAX, (1 << 63) + 5] {
            assert_eq!(bit_len(v), u64::from(64 - v.leading_zeros()), "{v}");
        }
    }

    #[test]
    fn masked_stash_stats_match_a_direct_count() {
        let mut stats = StashStats::new(12);
        let mut want = vec![0u64; 13];
        let seen = [1u64, 1, 2, 12, 0, 5, 1, 12, 3];
        for &k in &seen {
            stats.record(k);
            want[k as usize] += 1;
        }
        assert_eq!(stats.hist, want);
        assert_eq!(stats.peak, 12);
    }

    #[test]
    fn reverse_bits_small() {
        assert_eq!(reverse_bits(1, 3), 4);
        assert_eq!(reverse_bits(6, 3), 3);
        assert_eq!(reverse_bits(0, 0), 0);
    }
}
