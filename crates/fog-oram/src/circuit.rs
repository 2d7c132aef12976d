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

use crate::ct::{barrier, cmov_words_mask, eq_mask, lt_mask, sel, Mask};
use crate::storage::{BucketStore, MemoryUse};
use crate::OramError;

/// Words of metadata per slot: one, `(index + 1) << LEAF_BITS | leaf` ([`pack_meta`]), 0 for an
/// empty slot. Indices are below 2^32 and leaves below 2^31 (an ORAM has at most 2^32 blocks,
/// so at most 2^31 leaves), so both fit: one word per slot instead of two is less metadata to
/// copy, scan and move on every path.
const META: usize = 1;
/// Bits of the leaf in a slot's metadata word.
const LEAF_BITS: u32 = 31;
/// The leaf part of a metadata word.
const LEAF_PART: u64 = (1 << LEAF_BITS) - 1;

/// The metadata word of block `index1 - 1` (`index1` ≥ 1) on `leaf`.
#[inline(always)]
fn pack_meta(index1: u64, leaf: u64) -> u64 {
    (index1 << LEAF_BITS) | (leaf & LEAF_PART)
}
/// Most slots per bucket (the eviction keeps one mask per slot of a bucket on the stack).
const MAX_Z: usize = 16;
/// "No level" marker in the eviction plan.
const NONE: u64 = u64::MAX;

/// Number of significant bits of `v` (0 for 0), without branches, tables or `lzcnt`: the bits
/// below the highest set one are smeared to ones, then counted with the shift-and-add
/// population count (Hacker's Delight 5-2). About 25 integer operations, the same for every
/// input; the eviction plan calls it once per slot.
#[inline(always)]
fn bit_len(mut v: u64) -> u64 {
    v |= v >> 1;
    v |= v >> 2;
    v |= v >> 4;
    v |= v >> 8;
    v |= v >> 16;
    v |= v >> 32;
    v -= (v >> 1) & 0x5555_5555_5555_5555;
    v = (v & 0x3333_3333_3333_3333) + ((v >> 2) & 0x3333_3333_3333_3333);
    v = (v + (v >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    v.wrapping_mul(0x0101_0101_0101_0101) >> 56
}

/// All-ones when `v != 0`.
#[inline(always)]
fn nonzero_mask(v: u64) -> Mask {
    0u64.wrapping_sub((v | v.wrapping_neg()) >> 63)
}

/// All-ones when `a < b`, for `a, b < 2^63` (the sign of `a - b`). The mask passes the
/// barrier: LLVM recognises the sign-extended comparison and would otherwise turn the masked
/// selects that use it into branches (seen in the disassembly of the plan).
#[inline(always)]
fn lt_small(a: u64, b: u64) -> Mask {
    barrier(0u64.wrapping_sub(a.wrapping_sub(b) >> 63))
}

/// Above every masked leaf difference (leaves have at most 32 bits): "no block" in the plan.
const NO_BLOCK: u64 = 1 << 32;

/// All-ones when the highest set bit of `a` is below that of `b` (`a = 0` counts as below any
/// non-zero `b`), for `a, b <= 2^32`: `a < b && a < (a ^ b)` (Hacker's Delight 5-3), branch-free.
#[inline(always)]
fn msb_lt(a: u64, b: u64) -> Mask {
    lt_small(a, b) & lt_small(a, a ^ b)
}

/// The plan's look at one position (the stash or a bucket) of the path to `leaf`: the deepest
/// legal level of its blocks (0 when it holds none) and the first slot holding such a block,
/// whether it has an empty slot (a mask) and the first empty slot.
///
/// The deepest legal level of a block is `leaf_bits + 1 - bit_len(x)` with
/// `x = (its leaf ^ leaf) & leaf_mask`, so the deepest block is the one whose `x` has the
/// lowest top bit. Comparing top bits directly ([`msb_lt`]) finds the first such slot, as
/// comparing levels did, with one [`bit_len`] per position instead of one per slot. `best_x`
/// starts above every `x` (no block yet).
#[inline(always)]
fn scan_position(meta: &[u64], leaf: u64, leaf_bits: u64, leaf_mask: u64) -> (u64, u64, Mask, u64) {
    let mut best_x = NO_BLOCK;
    let mut best_slot = 0u64;
    let mut any = 0u64;
    let mut empty = 0u64;
    let mut first_empty = 0u64;
    for (j, m) in meta.chunks_exact(META).enumerate() {
        let j = j as u64;
        // Every mask here passes the barrier (`msb_lt`'s through `lt_small`): without it LLVM
        // turns the masked updates back into branches (seen in the disassembly).
        let occupied = barrier(nonzero_mask(m[0]));
        // `leaf_mask` keeps the leaf part only.
        let x = (m[0] ^ leaf) & leaf_mask;
        let upd = occupied & msb_lt(x, best_x);
        best_x ^= upd & (best_x ^ x);
        best_slot ^= upd & (best_slot ^ j);
        any |= occupied;
        let new_empty = !(occupied | empty);
        first_empty ^= new_empty & (first_empty ^ j);
        empty |= !occupied;
    }
    let best = (leaf_bits + 1).wrapping_sub(bit_len(best_x)) & any;
    (best, best_slot, empty, first_empty)
}

/// Reverses the low `bits` bits of `v` (public values only).
fn reverse_bits(v: u64, bits: u32) -> u64 {
    if bits == 0 {
        0
    } else {
        v.reverse_bits() >> (64 - bits)
    }
}

/// Metadata and data of position `p` (0 = stash, `1..=depth` = path levels of the loaded path
/// buffer), from the split fields of a [`TreeLevel`].
#[inline(always)]
fn position_of<'a>(
    stash_meta: &'a mut [u64],
    stash_data: &'a mut [u64],
    path: &'a mut [u64],
    bucket_words: usize,
    z: usize,
    p: usize,
) -> (&'a mut [u64], &'a mut [u64]) {
    if p == 0 {
        (stash_meta, stash_data)
    } else {
        path[(p - 1) * bucket_words..p * bucket_words].split_at_mut(z * META)
    }
}

/// The data side of one stash slot in an eviction: with `TAKE`, the value moves to `out` where
/// `hit` (and the slot is wiped); then the slot's value moves to the hold where `c` (and the
/// slot is wiped). Every word is read and written either way; the loop runs over equal-length
/// slices, the shape LLVM vectorises, and branches only on the (public) length.
#[inline(always)]
fn stash_pass<const TAKE: bool>(
    c: Mask,
    hit: Mask,
    d: &mut [u64],
    hold: &mut [u64],
    out: &mut [u64],
) {
    let n = hold.len();
    let d = &mut d[..n];
    if TAKE {
        let out = &mut out[..n];
        for i in 0..n {
            let s = d[i];
            out[i] ^= hit & (out[i] ^ s);
            let s = s & !hit;
            hold[i] ^= c & (hold[i] ^ s);
            d[i] = s & !c;
        }
    } else {
        for i in 0..n {
            let s = d[i];
            hold[i] ^= c & (hold[i] ^ s);
            d[i] = s & !c;
        }
    }
}

/// The data side of one path slot in an eviction: with `TAKE`, the value moves to `out` where
/// `hit` (and the slot is wiped); then slot and hold are swapped where `c`.
#[inline(always)]
fn slot_pass<const TAKE: bool>(
    c: Mask,
    hit: Mask,
    d: &mut [u64],
    hold: &mut [u64],
    out: &mut [u64],
) {
    let n = hold.len();
    let d = &mut d[..n];
    if TAKE {
        let out = &mut out[..n];
        for i in 0..n {
            let s = d[i];
            out[i] ^= hit & (out[i] ^ s);
            let s = s & !hit;
            let t = c & (s ^ hold[i]);
            d[i] = s ^ t;
            hold[i] ^= t;
        }
    } else {
        for i in 0..n {
            let s = d[i];
            let t = c & (s ^ hold[i]);
            d[i] = s ^ t;
            hold[i] ^= t;
        }
    }
}

/// [`slot_pass`] for both slots of a Z = 2 bucket at once (at most one of `c` is set, at most
/// one of `hit`): each word of the hold is loaded and stored once per bucket instead of once
/// per slot. With `t_k = c_k & (s_k ^ h)`, the slots become `s_k ^ t_k` and the hold
/// `h ^ t_0 ^ t_1` (at most one `t_k` is non-zero).
#[inline(always)]
fn pair_pass<const TAKE: bool>(
    c: [Mask; 2],
    hit: [Mask; 2],
    d0: &mut [u64],
    d1: &mut [u64],
    hold: &mut [u64],
    out: &mut [u64],
) {
    let n = hold.len();
    let (d0, d1) = (&mut d0[..n], &mut d1[..n]);
    if TAKE {
        let out = &mut out[..n];
        for i in 0..n {
            let (s0, s1, h) = (d0[i], d1[i], hold[i]);
            let o = out[i] ^ (hit[0] & (out[i] ^ s0));
            out[i] = o ^ (hit[1] & (o ^ s1));
            let s0 = s0 & !hit[0];
            let s1 = s1 & !hit[1];
            let t0 = c[0] & (s0 ^ h);
            let t1 = c[1] & (s1 ^ h);
            d0[i] = s0 ^ t0;
            d1[i] = s1 ^ t1;
            hold[i] = h ^ t0 ^ t1;
        }
    } else {
        for i in 0..n {
            let (s0, s1, h) = (d0[i], d1[i], hold[i]);
            let t0 = c[0] & (s0 ^ h);
            let t1 = c[1] & (s1 ^ h);
            d0[i] = s0 ^ t0;
            d1[i] = s1 ^ t1;
            hold[i] = h ^ t0 ^ t1;
        }
    }
}

/// [`stash_pass`] for two stash slots at once (at most one of `c` is set, at most one of
/// `hit`): the hold is loaded and stored once per pair.
#[inline(always)]
fn stash_pair_pass<const TAKE: bool>(
    c: [Mask; 2],
    hit: [Mask; 2],
    d0: &mut [u64],
    d1: &mut [u64],
    hold: &mut [u64],
    out: &mut [u64],
) {
    let n = hold.len();
    let (d0, d1) = (&mut d0[..n], &mut d1[..n]);
    if TAKE {
        let out = &mut out[..n];
        for i in 0..n {
            let (s0, s1, h) = (d0[i], d1[i], hold[i]);
            let o = out[i] ^ (hit[0] & (out[i] ^ s0));
            out[i] = o ^ (hit[1] & (o ^ s1));
            let s0 = s0 & !hit[0];
            let s1 = s1 & !hit[1];
            hold[i] = h ^ (c[0] & (s0 ^ h)) ^ (c[1] & (s1 ^ h));
            d0[i] = s0 & !c[0];
            d1[i] = s1 & !c[1];
        }
    } else {
        for i in 0..n {
            let (s0, s1, h) = (d0[i], d1[i], hold[i]);
            hold[i] = h ^ (c[0] & (s0 ^ h)) ^ (c[1] & (s1 ^ h));
            d0[i] = s0 & !c[0];
            d1[i] = s1 & !c[1];
        }
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
    /// Per slot (stash first, then the path level by level): whether it held the block being
    /// removed, as a mask ([`TreeLevel::take_meta`]).
    taken: Vec<u64>,
    /// Whether the store hands out its buckets in place ([`BucketStore::in_place`]): then only
    /// the path's metadata is loaded, an eviction moves the blocks inside the store's buckets
    /// and the path is not copied back afterwards. Fixed by the store's type.
    direct: bool,
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
        self.taken.zeroize();
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
        if z == 0
            || z > MAX_Z
            || store.bucket_words() != bucket_words
            || store.num_buckets() != Self::num_buckets(leaf_bits)
        {
            return Err(OramError::InvalidConfig);
        }
        let positions = depth + 1;
        let direct = store.in_place();
        Ok(Self {
            direct,
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
            taken: vec![0; stash_slots + depth * z],
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
            + self.taken.len()
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

    /// Loads the path to `leaf` into the path buffer: whole buckets, or, on a direct store,
    /// only their metadata (the eviction then moves the blocks inside the store's buckets).
    #[inline(always)]
    fn load_path(&mut self, leaf: u64) -> Result<(), OramError> {
        let bw = self.bucket_words;
        let mw = self.z * META;
        if self.direct {
            let mut sink = 0u64;
            for lvl in 0..self.depth {
                sink ^= self.store.prefetch(self.bucket_index(lvl, leaf));
            }
            core::hint::black_box(sink);
        }
        for lvl in 0..self.depth {
            let b = self.bucket_index(lvl, leaf);
            let dst = &mut self.path[lvl * bw..(lvl + 1) * bw];
            if self.direct {
                self.store.read_prefix(b, &mut dst[..mw])?;
            } else {
                self.store.read_bucket(b, dst)?;
            }
        }
        Ok(())
    }

    /// Writes the loaded path back (the eviction already did, in place, for a direct store).
    #[inline(always)]
    fn store_path(&mut self, leaf: u64) -> Result<(), OramError> {
        if self.direct {
            return Ok(());
        }
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
        position_of(
            &mut self.stash_meta,
            &mut self.stash_data,
            &mut self.path,
            self.bucket_words,
            self.z,
            p,
        )
    }

    /// Removes block `index` from the metadata of the loaded path and the stash: every slot's
    /// `taken` mask records whether it held the block (at most one does) and that slot's
    /// metadata is cleared. The value moves out (and its slot is wiped) in the data pass of the
    /// eviction that follows ([`TreeLevel::evict_loaded`] with `TAKE`), so the path's blocks
    /// are touched once, not twice.
    #[inline(always)]
    fn take_meta(&mut self, index1: u64) {
        let positions = self.depth + 1;
        let mut k = 0;
        for p in 0..positions {
            let (meta, _) = position_of(
                &mut self.stash_meta,
                &mut self.stash_data,
                &mut self.path,
                self.bucket_words,
                self.z,
                p,
            );
            for m in meta.chunks_exact_mut(META) {
                let hit = barrier(eq_mask(m[0] >> LEAF_BITS, index1));
                m[0] = sel(hit, 0, m[0]);
                self.taken[k] = hit;
                k += 1;
            }
        }
    }

    /// Computes the eviction plan for the loaded path to `leaf` (PrepareDeepest and
    /// PrepareTarget of Circuit ORAM), on metadata only.
    #[inline(always)]
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
            let (best, best_slot, empty, first_empty) =
                scan_position(meta, leaf, leaf_bits, leaf_mask);
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
    ///
    /// With `TAKE`, the same pass first moves every slot's value into `out` where its `taken`
    /// mask (from [`TreeLevel::take_meta`]) is set, wiping the slot: the block being accessed
    /// leaves in the pass that evicts, every slot being read and written once either way.
    ///
    /// With a direct store only the metadata was loaded: each path level's blocks move inside
    /// the store's bucket (read and written in place, the metadata copied back), so no block's
    /// value is ever copied into the path buffer, whose data part stays zero.
    #[inline(always)]
    fn evict_loaded<const TAKE: bool>(
        &mut self,
        leaf: u64,
        out: &mut [u64],
    ) -> Result<(), OramError> {
        self.plan(leaf);
        let w = self.w;
        let z = self.z;
        let stash_slots = self.stash_meta.len() / META;
        let mut hold_meta = [0u64; META];
        let mut dest = NONE;
        let mut hold_buf = core::mem::take(&mut self.hold);
        let hold = &mut hold_buf[..w];
        let out = if TAKE { &mut out[..w] } else { &mut out[..0] };
        for p in 0..=self.depth {
            let hold_active = !eq_mask(hold_meta[0], 0);
            let drop = hold_active & eq_mask(p as u64, dest);
            let target = self.target[p];
            let pick = !eq_mask(target, NONE);
            let slot = sel(pick, self.deepest_slot[p], self.empty_slot[p]);
            let act = pick | drop;
            let taken_base = if p == 0 { 0 } else { stash_slots + (p - 1) * z };
            let (meta, data) = position_of(
                &mut self.stash_meta,
                &mut self.stash_data,
                &mut self.path,
                self.bucket_words,
                z,
                p,
            );
            if p == 0 {
                // The stash only gives blocks up during an eviction (the hold is empty and
                // targets are strictly deeper): the block moves out and its slot is wiped.
                let mut cs = [0u64; 2];
                let mut j = 0;
                for (m, d) in meta
                    .chunks_exact_mut(2 * META)
                    .zip(data.chunks_exact_mut(2 * w))
                {
                    for k in 0..2 {
                        let c = barrier(act & eq_mask((j + k) as u64, slot));
                        let m = &mut m[k * META..(k + 1) * META];
                        hold_meta[0] = sel(c, m[0], hold_meta[0]);
                        m[0] = sel(c, 0, m[0]);
                        cs[k] = c;
                    }
                    let hit = if TAKE {
                        [self.taken[j], self.taken[j + 1]]
                    } else {
                        [0, 0]
                    };
                    let (d0, d1) = d.split_at_mut(w);
                    stash_pair_pass::<TAKE>(cs, hit, d0, d1, hold, out);
                    j += 2;
                }
                // An odd last slot.
                for (m, d) in meta
                    .chunks_exact_mut(2 * META)
                    .into_remainder()
                    .chunks_exact_mut(META)
                    .zip(
                        data.chunks_exact_mut(2 * w)
                            .into_remainder()
                            .chunks_exact_mut(w),
                    )
                {
                    let c = barrier(act & eq_mask(j as u64, slot));
                    hold_meta[0] = sel(c, m[0], hold_meta[0]);
                    m[0] = sel(c, 0, m[0]);
                    let hit = if TAKE { self.taken[j] } else { 0 };
                    stash_pass::<TAKE>(c, hit, d, hold, out);
                }
            } else {
                let mut cs = [0u64; MAX_Z];
                for (j, (m, c_out)) in meta.chunks_exact_mut(META).zip(cs.iter_mut()).enumerate() {
                    let c = barrier(act & eq_mask(j as u64, slot));
                    for k in 0..META {
                        let t = c & (m[k] ^ hold_meta[k]);
                        m[k] ^= t;
                        hold_meta[k] ^= t;
                    }
                    *c_out = c;
                }
                let taken = &self.taken[taken_base..taken_base + z];
                if self.direct {
                    let b = ((1u64 << (p - 1)) - 1) + (leaf >> (self.leaf_bits as usize - (p - 1)));
                    let dst = self.store.bucket_mut(b).ok_or(OramError::InvalidConfig)?;
                    if dst.len() != self.bucket_words {
                        return Err(OramError::InvalidConfig);
                    }
                    let (dst_meta, dst_data) = dst.split_at_mut(z * META);
                    dst_meta.copy_from_slice(meta);
                    if z == 2 {
                        let (d0, d1) = dst_data.split_at_mut(w);
                        pair_pass::<TAKE>([cs[0], cs[1]], [taken[0], taken[1]], d0, d1, hold, out);
                    } else {
                        for (j, d) in dst_data.chunks_exact_mut(w).enumerate() {
                            let hit = if TAKE { taken[j] } else { 0 };
                            slot_pass::<TAKE>(cs[j], hit, d, hold, out);
                        }
                    }
                } else if z == 2 {
                    let (d0, d1) = data.split_at_mut(w);
                    pair_pass::<TAKE>([cs[0], cs[1]], [taken[0], taken[1]], d0, d1, hold, out);
                } else {
                    for (j, d) in data.chunks_exact_mut(w).enumerate() {
                        let hit = if TAKE { taken[j] } else { 0 };
                        slot_pass::<TAKE>(cs[j], hit, d, hold, out);
                    }
                }
            }
            dest = sel(pick, target, sel(drop, NONE, dest));
        }
        self.hold = hold_buf;
        Ok(())
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
        #[cfg(target_arch = "x86_64")]
        if crate::wide::avx2() {
            // SAFETY: `avx2()` checked that this processor has AVX2.
            #[allow(unsafe_code)]
            return unsafe { self.remove_avx2(index, read_leaf, out) };
        }
        self.remove_body(index, read_leaf, out)
    }

    /// [`TreeLevel::remove`] compiled for AVX2: the same code, its conditional moves four words
    /// wide instead of two (see [`crate::wide`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)]
    unsafe fn remove_avx2(
        &mut self,
        index: u64,
        read_leaf: u64,
        out: &mut [u64],
    ) -> Result<(), OramError> {
        self.remove_body(index, read_leaf, out)
    }

    #[inline(always)]
    fn remove_body(
        &mut self,
        index: u64,
        read_leaf: u64,
        out: &mut [u64],
    ) -> Result<(), OramError> {
        self.load_path(read_leaf)?;
        self.take_meta(index + 1);
        self.evict_loaded::<true>(read_leaf, out)?;
        self.store_path(read_leaf)
    }

    /// Puts block `index` with `leaf` and value `data` into the stash. Fails with
    /// [`OramError::StashOverflow`] when the stash is full (the block is then lost and the
    /// caller must poison the ORAM).
    pub(crate) fn insert(&mut self, index: u64, leaf: u64, data: &[u64]) -> Result<(), OramError> {
        #[cfg(target_arch = "x86_64")]
        if crate::wide::avx2() {
            // SAFETY: `avx2()` checked that this processor has AVX2.
            #[allow(unsafe_code)]
            return unsafe { self.insert_avx2(index, leaf, data) };
        }
        self.insert_body(index, leaf, data)
    }

    /// [`TreeLevel::insert`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)]
    unsafe fn insert_avx2(&mut self, index: u64, leaf: u64, data: &[u64]) -> Result<(), OramError> {
        self.insert_body(index, leaf, data)
    }

    #[inline(always)]
    fn insert_body(&mut self, index: u64, leaf: u64, data: &[u64]) -> Result<(), OramError> {
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
            m[0] = sel(put, pack_meta(index + 1, leaf), m[0]);
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
        #[cfg(target_arch = "x86_64")]
        if crate::wide::avx2() {
            // SAFETY: `avx2()` checked that this processor has AVX2.
            #[allow(unsafe_code)]
            return unsafe { self.evict_avx2(leaf) };
        }
        self.evict_body(leaf)
    }

    /// The eviction of [`TreeLevel::evict_next`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)]
    unsafe fn evict_avx2(&mut self, leaf: u64) -> Result<(), OramError> {
        self.evict_body(leaf)
    }

    #[inline(always)]
    fn evict_body(&mut self, leaf: u64) -> Result<(), OramError> {
        self.load_path(leaf)?;
        self.evict_loaded::<false>(leaf, &mut [])?;
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
                    assert_eq!(
                        self.bucket_index(level, m[0] & LEAF_PART),
                        b,
                        "block off its path"
                    );
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
        // Every bit length, with the bits below the top one all clear, all set, or mixed.
        for k in 0..64 {
            let top = 1u64 << k;
            for v in [
                top,
                top | (top - 1),
                top | ((top - 1) & 0x5a5a_5a5a_5a5a_5a5a),
            ] {
                assert_eq!(bit_len(v), k + 1, "{v:#x}");
            }
        }
    }

    #[test]
    fn msb_lt_matches_bit_lengths() {
        let mut vals = vec![0u64, 1, 2, 3, 5, 8, 255, 256, 257, NO_BLOCK];
        for k in 0..32 {
            vals.extend([1u64 << k, (1u64 << k) | 1, (2u64 << k) - 1]);
        }
        for &a in &vals {
            for &b in &vals {
                assert_eq!(msb_lt(a, b) == u64::MAX, bit_len(a) < bit_len(b), "{a} {b}");
                assert!(msb_lt(a, b) == 0 || msb_lt(a, b) == u64::MAX);
            }
        }
    }

    /// The per-slot formulation `scan_position` replaced: the legal level of every block, the
    /// first slot with the largest. Slots as (index + 1, leaf) pairs, index + 1 = 0 for empty.
    fn scan_position_reference(
        slots: &[(u64, u64)],
        leaf: u64,
        leaf_bits: u64,
    ) -> (u64, u64, u64, u64) {
        let leaf_mask = (1u64 << leaf_bits) - 1;
        let (mut best, mut best_slot, mut empty, mut first_empty) = (0, 0, 0, 0);
        for (j, &(index1, block_leaf)) in slots.iter().enumerate() {
            if index1 != 0 {
                let x = (block_leaf ^ leaf) & leaf_mask;
                let legal = leaf_bits + 1 - (64 - u64::from(x.leading_zeros()));
                if legal > best {
                    best = legal;
                    best_slot = j as u64;
                }
            } else if empty == 0 {
                empty = u64::MAX;
                first_empty = j as u64;
            }
        }
        (best, best_slot, empty, first_empty)
    }

    #[test]
    fn scan_position_matches_per_slot_levels() {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(21);
        for case in 0..20_000u64 {
            let leaf_bits = [0u64, 1, 3, 9, 19, 31][(case % 6) as usize];
            let leaf_mask = (1u64 << leaf_bits) - 1;
            let slots = [1usize, 2, 3, 12, 13][(case % 5) as usize];
            let leaf = rng.next_u64() & leaf_mask;
            let blocks: Vec<(u64, u64)> = (0..slots)
                .map(|_| {
                    // Mostly occupied, indices up to the largest; leaves near the path's leaf
                    // so that ties are common.
                    let index1 = match rng.next_u32() % 8 {
                        0 | 1 => 0,
                        2 => 1 << 32,
                        _ => 1 + rng.next_u64() % 1000,
                    };
                    let near = rng.next_u64() & (rng.next_u64() % 16);
                    let block_leaf = if case % 2 == 0 {
                        leaf ^ near
                    } else {
                        rng.next_u64()
                    } & leaf_mask;
                    (index1, block_leaf)
                })
                .collect();
            let meta: Vec<u64> = blocks
                .iter()
                .map(|&(index1, l)| if index1 == 0 { 0 } else { pack_meta(index1, l) })
                .collect();
            assert_eq!(meta.len(), slots * META);
            assert_eq!(
                scan_position(&meta, leaf, leaf_bits, leaf_mask),
                scan_position_reference(&blocks, leaf, leaf_bits),
                "case {case}"
            );
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
