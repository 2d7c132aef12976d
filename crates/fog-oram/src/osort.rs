//! An oblivious sort: Batcher's bitonic network, whose compare-exchange positions depend only
//! on the number of items, with each exchange a constant-time masked swap.
//!
//! Sorting `n` items (a power of two) takes `n/4 · log n · (log n + 1)` compare-exchanges,
//! each reading and rewriting both items whatever the comparison says. Used where trusted
//! code must reorder secret records, e.g. a view router merging its shards' answers.

use subtle::Choice;

use crate::ct::cswap_u64;

/// The compare-exchange pairs of the bitonic network for `n` items (a power of two), in
/// order: `(i, l, ascending)` with `i < l`; the pair is put in ascending order when
/// `ascending`, descending otherwise. Depends on `n` alone.
pub fn bitonic_pairs(n: usize) -> impl Iterator<Item = (usize, usize, bool)> {
    let stages = if n < 2 { 0 } else { n.trailing_zeros() };
    (1..=stages).flat_map(move |s| {
        let k = 1usize << s;
        (0..s).rev().flat_map(move |t| {
            let j = 1usize << t;
            (0..n).filter_map(move |i| {
                let l = i ^ j;
                (l > i).then_some((i, l, i & k == 0))
            })
        })
    })
}

/// Sorts `items` (whose count must be a power of two, or at most 1) ascending by `gt`, a
/// constant-time "greater than" that must be a strict weak order. `trace` is called with
/// every pair compared, for tests that check the positions touched depend on nothing secret.
///
/// # Panics
/// If the count is not a power of two (a public property the caller pads to).
pub fn bitonic_sort<const W: usize>(
    items: &mut [[u64; W]],
    gt: impl Fn(&[u64; W], &[u64; W]) -> Choice,
    mut trace: impl FnMut(usize, usize),
) {
    let n = items.len();
    assert!(n <= 1 || n.is_power_of_two(), "bitonic sort of {n} items");
    for (i, l, ascending) in bitonic_pairs(n) {
        trace(i, l);
        let (left, right) = items.split_at_mut(l);
        let (a, b) = (&mut left[i], &mut right[0]);
        // `ascending` is a function of the positions only.
        let swap = if ascending { gt(a, b) } else { gt(b, a) };
        for (x, y) in a.iter_mut().zip(b.iter_mut()) {
            cswap_u64(swap, x, y);
        }
    }
}

/// A constant-time lexicographic "greater than" over the first `words` words of two items.
pub fn ct_gt_prefix(a: &[u64], b: &[u64], words: usize) -> Choice {
    use crate::ct::{ct_eq_u64, ct_gt_u64};
    let mut gt = Choice::from(0u8);
    // From the least significant word up: gt = gt_i | (eq_i & gt_rest).
    for (x, y) in a[..words].iter().zip(&b[..words]).rev() {
        gt = ct_gt_u64(*x, *y) | (ct_eq_u64(*x, *y) & gt);
    }
    gt
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn sorts_like_the_standard_sort() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        for n in [0usize, 1, 2, 4, 8, 64, 256] {
            for _ in 0..5 {
                let mut items: Vec<[u64; 3]> = (0..n)
                    .map(|_| [rng.next_u64() % 4, rng.next_u64() % 3, rng.next_u64()])
                    .collect();
                let mut want = items.clone();
                want.sort_by(|a, b| a[..2].cmp(&b[..2]));
                bitonic_sort(&mut items, |a, b| ct_gt_prefix(a, b, 2), |_, _| {});
                let got: Vec<[u64; 2]> = items.iter().map(|x| [x[0], x[1]]).collect();
                let want: Vec<[u64; 2]> = want.iter().map(|x| [x[0], x[1]]).collect();
                assert_eq!(got, want, "n = {n}");
            }
        }
    }

    #[test]
    fn the_pairs_depend_on_the_count_alone() {
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let trace_of = |items: &mut Vec<[u64; 1]>| {
            let mut t = Vec::new();
            bitonic_sort(items, |a, b| ct_gt_prefix(a, b, 1), |i, l| t.push((i, l)));
            t
        };
        let mut a: Vec<[u64; 1]> = (0..128).map(|_| [rng.next_u64()]).collect();
        let mut b: Vec<[u64; 1]> = (0..128).map(|i| [i]).collect();
        let ta = trace_of(&mut a);
        assert_eq!(ta, trace_of(&mut b));
        assert_eq!(ta.len(), 128 / 4 * 7 * 8);
    }

    #[test]
    fn lexicographic_compare() {
        assert!(bool::from(ct_gt_prefix(&[1, 0], &[0, 9], 2)));
        assert!(!bool::from(ct_gt_prefix(&[0, 9], &[1, 0], 2)));
        assert!(bool::from(ct_gt_prefix(&[1, 2], &[1, 1], 2)));
        assert!(!bool::from(ct_gt_prefix(&[1, 1], &[1, 1], 2)));
        assert!(!bool::from(ct_gt_prefix(&[1, 5], &[1, 1], 1)));
    }
}
