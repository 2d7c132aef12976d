//! Constant-time primitives: masks, comparisons, selects and conditional moves/swaps of integers
//! and of word-aligned blocks.
//!
//! Trusted side. Every function here runs the same instruction sequence and touches the same
//! memory whatever the values of its arguments; only the *lengths* of slices (which are public
//! configuration in this crate) influence the work done. Conditions travel as [`subtle::Choice`]
//! (public API) or as all-ones/all-zero `u64` masks (inside the crate); masks are built with
//! arithmetic, never with `if`, and pass through an optimisation barrier so the compiler cannot
//! turn them back into branches.
//!
//! Blocks are moved as `u64` words in loops the compiler turns into vector instructions. The README
//! documents an instruction-level inspection showing that the hot helpers have no conditional
//! branch, and `fog-bench ct-timing` runs a dudect-style timing test.
//!
//! What it does not do: it cannot stop a caller from branching on a result, and it assumes that
//! the CPU executes the basic integer and vector instructions in data-independent time (true for
//! the x86-64 and AArch64 instructions used here).

use subtle::Choice;

use crate::OramError;

/// An all-ones (`u64::MAX`) or all-zero word used as a condition inside the crate.
pub(crate) type Mask = u64;

/// Optimisation barrier: the compiler must assume the returned mask can be any value.
#[inline(always)]
pub(crate) fn barrier(m: Mask) -> Mask {
    core::hint::black_box(m)
}

/// Converts a [`Choice`] into a mask.
#[inline(always)]
pub fn mask_from_choice(c: Choice) -> u64 {
    barrier(0u64.wrapping_sub(u64::from(c.unwrap_u8() & 1)))
}

/// Converts a mask (all-ones or all-zero) into a [`Choice`].
#[inline(always)]
pub fn choice_from_mask(m: u64) -> Choice {
    Choice::from((m & 1) as u8)
}

/// Mask that is all-ones when `bit` (0 or 1) is 1.
#[inline(always)]
pub(crate) fn mask_from_bit(bit: u64) -> Mask {
    0u64.wrapping_sub(bit & 1)
}

/// All-ones when `a == b`.
#[inline(always)]
pub(crate) fn eq_mask(a: u64, b: u64) -> Mask {
    let x = a ^ b;
    // (x | -x) has its top bit set exactly when x != 0.
    let nonzero = (x | x.wrapping_neg()) >> 63;
    nonzero.wrapping_sub(1)
}

/// All-ones when `a < b` (unsigned).
#[inline(always)]
pub(crate) fn lt_mask(a: u64, b: u64) -> Mask {
    // Borrow out of a - b, computed without a flag-dependent branch (Hacker's Delight 2-12).
    let borrow = ((!a & b) | (!(a ^ b) & a.wrapping_sub(b))) >> 63;
    mask_from_bit(borrow)
}

/// `a` where the mask is set, `b` elsewhere.
#[inline(always)]
pub(crate) fn sel(m: Mask, a: u64, b: u64) -> u64 {
    b ^ (m & (a ^ b))
}

/// Constant-time equality of two `u64`.
#[inline]
pub fn ct_eq_u64(a: u64, b: u64) -> Choice {
    choice_from_mask(eq_mask(a, b))
}

/// Constant-time `a < b` for `u64`.
#[inline]
pub fn ct_lt_u64(a: u64, b: u64) -> Choice {
    choice_from_mask(lt_mask(a, b))
}

/// Constant-time `a > b` for `u64`.
#[inline]
pub fn ct_gt_u64(a: u64, b: u64) -> Choice {
    choice_from_mask(lt_mask(b, a))
}

/// Constant-time `a <= b` for `u64`.
#[inline]
pub fn ct_le_u64(a: u64, b: u64) -> Choice {
    !ct_gt_u64(a, b)
}

/// Returns `a` if `c` is set, `b` otherwise, in constant time.
#[inline]
pub fn ct_select_u64(c: Choice, a: u64, b: u64) -> u64 {
    sel(mask_from_choice(c), a, b)
}

/// Sets `*dst = src` if `c` is set, in constant time.
#[inline]
pub fn cmov_u64(c: Choice, src: u64, dst: &mut u64) {
    *dst = sel(mask_from_choice(c), src, *dst);
}

/// Swaps `*a` and `*b` if `c` is set, in constant time.
#[inline]
pub fn cswap_u64(c: Choice, a: &mut u64, b: &mut u64) {
    let t = mask_from_choice(c) & (*a ^ *b);
    *a ^= t;
    *b ^= t;
}

/// Sets `*dst = src` if `c` is set, in constant time.
#[inline]
pub fn cmov_u32(c: Choice, src: u32, dst: &mut u32) {
    let m = mask_from_choice(c) as u32;
    *dst ^= m & (*dst ^ src);
}

/// Constant-time equality of two word slices of the same length (`false` when lengths differ;
/// lengths are public).
pub fn ct_eq_words(a: &[u64], b: &[u64]) -> Choice {
    if a.len() != b.len() {
        return Choice::from(0);
    }
    choice_from_mask(eq_words_mask(a, b))
}

/// All-ones when the two slices (of equal length) are equal.
#[inline]
pub(crate) fn eq_words_mask(a: &[u64], b: &[u64]) -> Mask {
    let mut acc = 0u64;
    for (x, y) in a.iter().zip(b) {
        acc |= x ^ y;
    }
    eq_mask(acc, 0)
}

/// `dst = src` where `m` is set, over the first `min(len)` words (callers pass equal
/// lengths). Written as one indexed loop over re-sliced equal-length slices: that is the shape
/// LLVM's loop vectoriser turns into SSE2 `pand`/`pxor` over two words at a time (the earlier
/// eight-word chunks were left scalar when inlined into the eviction); the only branches are
/// on the length.
#[inline(always)]
pub(crate) fn cmov_words_mask(m: Mask, src: &[u64], dst: &mut [u64]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    for i in 0..n {
        dst[i] ^= m & (dst[i] ^ src[i]);
    }
}

/// Swaps `a` and `b` where `m` is set, over the first `min(len)` words (callers pass equal
/// lengths). Same loop shape as [`cmov_words_mask`], for the same reason.
#[inline]
pub(crate) fn cswap_words_mask(m: Mask, a: &mut [u64], b: &mut [u64]) {
    let n = a.len().min(b.len());
    let (a, b) = (&mut a[..n], &mut b[..n]);
    for i in 0..n {
        let t = m & (a[i] ^ b[i]);
        a[i] ^= t;
        b[i] ^= t;
    }
}

/// Sets `dst = src` if `c` is set, in constant time. Fails (without moving anything) when the
/// lengths differ.
pub fn cmov_words(c: Choice, src: &[u64], dst: &mut [u64]) -> Result<(), OramError> {
    if src.len() != dst.len() {
        return Err(OramError::LengthMismatch);
    }
    cmov_words_mask(mask_from_choice(c), src, dst);
    Ok(())
}

/// Swaps `a` and `b` if `c` is set, in constant time. Fails when the lengths differ.
pub fn cswap_words(c: Choice, a: &mut [u64], b: &mut [u64]) -> Result<(), OramError> {
    if a.len() != b.len() {
        return Err(OramError::LengthMismatch);
    }
    cswap_words_mask(mask_from_choice(c), a, b);
    Ok(())
}

/// A 64-byte aligned block of eight words: the unit of the fastest conditional moves.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct A64(pub [u64; 8]);

/// Sets `dst = src` if `c` is set, for slices of 64-byte aligned blocks. Fails when the lengths
/// differ.
pub fn cmov_a64(c: Choice, src: &[A64], dst: &mut [A64]) -> Result<(), OramError> {
    if src.len() != dst.len() {
        return Err(OramError::LengthMismatch);
    }
    let m = mask_from_choice(c);
    for (d, s) in dst.iter_mut().zip(src) {
        for i in 0..8 {
            d.0[i] ^= m & (d.0[i] ^ s.0[i]);
        }
    }
    Ok(())
}

/// Swaps `a` and `b` if `c` is set, for slices of 64-byte aligned blocks. Fails when the lengths
/// differ.
pub fn cswap_a64(c: Choice, a: &mut [A64], b: &mut [A64]) -> Result<(), OramError> {
    if a.len() != b.len() {
        return Err(OramError::LengthMismatch);
    }
    let m = mask_from_choice(c);
    for (x, y) in a.iter_mut().zip(b.iter_mut()) {
        for i in 0..8 {
            let t = m & (x.0[i] ^ y.0[i]);
            x.0[i] ^= t;
            y.0[i] ^= t;
        }
    }
    Ok(())
}

/// Sets `dst = src` if `c` is set, for byte blocks whose length is a multiple of 8. Fails when
/// the lengths differ or are not a multiple of 8.
pub fn cmov_bytes(c: Choice, src: &[u8], dst: &mut [u8]) -> Result<(), OramError> {
    if src.len() != dst.len() || src.len() % 8 != 0 {
        return Err(OramError::LengthMismatch);
    }
    let m = mask_from_choice(c);
    for (d, s) in dst.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
        let dv = u64::from_ne_bytes(arr8(d));
        let sv = u64::from_ne_bytes(arr8(s));
        d.copy_from_slice(&sel(m, sv, dv).to_ne_bytes());
    }
    Ok(())
}

/// Swaps `a` and `b` if `c` is set, for byte blocks whose length is a multiple of 8. Fails when
/// the lengths differ or are not a multiple of 8.
pub fn cswap_bytes(c: Choice, a: &mut [u8], b: &mut [u8]) -> Result<(), OramError> {
    if a.len() != b.len() || a.len() % 8 != 0 {
        return Err(OramError::LengthMismatch);
    }
    let m = mask_from_choice(c);
    for (x, y) in a.chunks_exact_mut(8).zip(b.chunks_exact_mut(8)) {
        let xv = u64::from_ne_bytes(arr8(x));
        let yv = u64::from_ne_bytes(arr8(y));
        let t = m & (xv ^ yv);
        x.copy_from_slice(&(xv ^ t).to_ne_bytes());
        y.copy_from_slice(&(yv ^ t).to_ne_bytes());
    }
    Ok(())
}

/// Copies an 8-byte chunk (callers pass `chunks_exact(8)` items) into an array.
#[inline(always)]
fn arr8(s: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&s[..8]);
    a
}

/// Packs bytes into little-endian words (zero padding at the end).
pub(crate) fn bytes_to_words(src: &[u8], dst: &mut [u64]) {
    for (i, w) in dst.iter_mut().enumerate() {
        let mut a = [0u8; 8];
        let start = i * 8;
        if start < src.len() {
            let end = core::cmp::min(start + 8, src.len());
            a[..end - start].copy_from_slice(&src[start..end]);
        }
        *w = u64::from_le_bytes(a);
    }
}

/// Unpacks little-endian words into bytes (the tail of the last word is dropped).
pub(crate) fn words_to_bytes(src: &[u64], dst: &mut [u8]) {
    for (chunk, w) in dst.chunks_mut(8).zip(src) {
        let b = w.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: [u64; 8] = [
        0,
        1,
        2,
        7,
        1 << 63,
        u64::MAX,
        u64::MAX - 1,
        0x1234_5678_9abc_def0,
    ];

    #[test]
    fn comparisons_match_native() {
        for &a in &SAMPLES {
            for &b in &SAMPLES {
                assert_eq!(bool::from(ct_eq_u64(a, b)), a == b, "{a} == {b}");
                assert_eq!(bool::from(ct_lt_u64(a, b)), a < b, "{a} < {b}");
                assert_eq!(bool::from(ct_gt_u64(a, b)), a > b, "{a} > {b}");
                assert_eq!(bool::from(ct_le_u64(a, b)), a <= b, "{a} <= {b}");
                assert_eq!(ct_select_u64(Choice::from(1), a, b), a);
                assert_eq!(ct_select_u64(Choice::from(0), a, b), b);
            }
        }
    }

    #[test]
    fn integer_moves_and_swaps() {
        let mut d = 5u64;
        cmov_u64(Choice::from(0), 9, &mut d);
        assert_eq!(d, 5);
        cmov_u64(Choice::from(1), 9, &mut d);
        assert_eq!(d, 9);
        let (mut a, mut b) = (1u64, 2u64);
        cswap_u64(Choice::from(0), &mut a, &mut b);
        assert_eq!((a, b), (1, 2));
        cswap_u64(Choice::from(1), &mut a, &mut b);
        assert_eq!((a, b), (2, 1));
        let mut d32 = 3u32;
        cmov_u32(Choice::from(1), 4, &mut d32);
        assert_eq!(d32, 4);
        cmov_u32(Choice::from(0), 7, &mut d32);
        assert_eq!(d32, 4);
    }

    #[test]
    fn block_moves_all_lengths() {
        // Lengths around the vector loop's steps (2 and 4 words) and the block sizes the ORAMs
        // use (30-word values, 48-word buckets, 16-word position blocks, each + 1 metadata word).
        for len in [
            0usize, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 18, 30, 32, 48, 50, 128, 131,
        ] {
            let src: alloc::vec::Vec<u64> = (0..len as u64).map(|i| i * 3 + 1).collect();
            let orig: alloc::vec::Vec<u64> = (0..len as u64).map(|i| !i).collect();
            let mut dst = orig.clone();
            cmov_words(Choice::from(0), &src, &mut dst).unwrap();
            assert_eq!(dst, orig);
            cmov_words(Choice::from(1), &src, &mut dst).unwrap();
            assert_eq!(dst, src);
            let (mut a, mut b) = (src.clone(), orig.clone());
            cswap_words(Choice::from(0), &mut a, &mut b).unwrap();
            assert_eq!((&a, &b), (&src, &orig));
            cswap_words(Choice::from(1), &mut a, &mut b).unwrap();
            assert_eq!((&a, &b), (&orig, &src));
            assert!(bool::from(ct_eq_words(&a, &orig)));
            if len > 0 {
                assert!(!bool::from(ct_eq_words(&a, &b)));
            }
        }
        assert_eq!(
            cmov_words(Choice::from(1), &[1, 2], &mut [0]),
            Err(OramError::LengthMismatch)
        );
    }

    #[test]
    fn byte_and_a64_moves() {
        let src = [7u8; 24];
        let mut dst = [1u8; 24];
        cmov_bytes(Choice::from(0), &src, &mut dst).unwrap();
        assert_eq!(dst, [1u8; 24]);
        cmov_bytes(Choice::from(1), &src, &mut dst).unwrap();
        assert_eq!(dst, [7u8; 24]);
        let mut other = [3u8; 24];
        cswap_bytes(Choice::from(1), &mut dst, &mut other).unwrap();
        assert_eq!((dst, other), ([3u8; 24], [7u8; 24]));
        assert_eq!(
            cmov_bytes(Choice::from(1), &[0u8; 12], &mut [0u8; 12]),
            Err(OramError::LengthMismatch)
        );
        let s = [A64([9; 8]); 3];
        let mut d = [A64([0; 8]); 3];
        cmov_a64(Choice::from(0), &s, &mut d).unwrap();
        assert_eq!(d, [A64([0; 8]); 3]);
        cmov_a64(Choice::from(1), &s, &mut d).unwrap();
        assert_eq!(d, s);
        let mut e = [A64([1; 8]); 3];
        cswap_a64(Choice::from(1), &mut d, &mut e).unwrap();
        assert_eq!((d, e), ([A64([1; 8]); 3], s));
        assert_eq!(core::mem::align_of::<A64>(), 64);
    }

    #[test]
    fn byte_word_packing_round_trips() {
        let bytes: alloc::vec::Vec<u8> = (0..13u8).collect();
        let mut words = [0u64; 2];
        bytes_to_words(&bytes, &mut words);
        let mut back = [0u8; 13];
        words_to_bytes(&words, &mut back);
        assert_eq!(&back[..], &bytes[..]);
        assert_eq!(words[1] >> 40, 0, "padding is zero");
    }
}
