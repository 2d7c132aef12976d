//! The memory-traffic floor of one ORAM access: the bucket traffic of the data tree alone,
//! without any ORAM logic, on this machine.
//!
//! A tree with the data tree's geometry (`2^(log2_n - 1)` leaves, buckets of two slots of
//! `value_bytes` plus one metadata word each, in one heap array like `HeapStore`) is walked
//! the way one access walks it: one path to a random leaf and two paths in reverse-lexicographic
//! order. `read_only` copies each path's buckets into a buffer (what an access must read);
//! `read_write` also copies them back (what an access that writes back whole paths moves).
//! Also prints the single-core copy rate of a 256 MiB `memcpy` (bytes copied per second; the
//! memory moves twice that, read and written). One JSON line, like
//! `fog-bench`.
//!
//! ```text
//! cargo run --release -p fog-oram --example path_traffic -- --log2-n 20 --value-bytes 1024
//! ```

use std::hint::black_box;
use std::time::Instant;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.windows(2)
        .find(|w| w[0] == name)
        .map(|w| w[1].parse().expect("a number"))
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let log2_n = arg(&args, "--log2-n", 20) as u32;
    let value_bytes = arg(&args, "--value-bytes", 1024) as usize;
    let ops = arg(&args, "--ops", 5000) as usize;
    let leaf_bits = log2_n.max(2) - 1;
    let depth = leaf_bits as usize + 1;
    let bw = 2 * (1 + value_bytes.div_ceil(8));
    let buckets = (1usize << (leaf_bits + 1)) - 1;
    // Touched (not calloc'd zero pages), as a tree in use is; the first bucket on a cache line,
    // as `HeapStore` places it.
    let mut tree_buf = vec![1u64; buckets * bw + 7];
    let start = tree_buf.as_ptr().align_offset(64).min(7);
    let tree = &mut tree_buf[start..start + buckets * bw];
    let mut buf = vec![0u64; depth * bw];
    let lm = (1u64 << leaf_bits) - 1;
    let bucket = |lvl: usize, leaf: u64| {
        ((1usize << lvl) - 1) + (leaf >> (leaf_bits as usize - lvl)) as usize
    };
    let (mut x, mut counter) = (0x9e37_79b9_7f4a_7c15u64, 0u64);
    let mut result = [0.0f64; 2];
    for (m, write_back) in [false, true, false, true].into_iter().enumerate() {
        let mut samples = Vec::with_capacity(ops);
        for k in 0..ops + ops / 4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let leaves = [
                x & lm,
                (counter & lm).reverse_bits() >> (64 - leaf_bits),
                ((counter + 1) & lm).reverse_bits() >> (64 - leaf_bits),
            ];
            counter += 2;
            let t = Instant::now();
            for leaf in leaves {
                for l in 0..depth {
                    let b = bucket(l, leaf) * bw;
                    buf[l * bw..(l + 1) * bw].copy_from_slice(&tree[b..b + bw]);
                }
                black_box(&mut buf);
                if write_back {
                    for l in 0..depth {
                        let b = bucket(l, leaf) * bw;
                        tree[b..b + bw].copy_from_slice(&buf[l * bw..(l + 1) * bw]);
                    }
                }
            }
            if k >= ops / 4 {
                samples.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        // The second round of each kind is kept (the first warms the cache and the TLB).
        if m >= 2 {
            result[usize::from(write_back)] = median(samples);
        }
    }
    drop(tree_buf);
    let n = 32usize << 20;
    let src = vec![3u64; n];
    let mut dst = vec![0u64; n];
    let mut best = 0.0f64;
    for _ in 0..4 {
        let t = Instant::now();
        dst.copy_from_slice(&src);
        black_box(&mut dst);
        best = best.max((n * 8) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    let path_bytes = depth * bw * 8;
    println!(
        "{{\"workload\":\"path-traffic\",\"log2_n\":{log2_n},\"value_bytes\":{value_bytes},\"bucket_bytes\":{},\"depth\":{depth},\"path_bytes\":{path_bytes},\"paths_per_access\":3,\"ops\":{ops},\"read_only_median_us\":{:.2},\"read_write_median_us\":{:.2},\"memcpy_256mib_copied_gb_per_s\":{:.2}}}",
        bw * 8,
        result[0],
        result[1],
        best
    );
}
