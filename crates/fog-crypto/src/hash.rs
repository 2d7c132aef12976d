//! Hashes and the hash-to-curve maps, with MobileCoin's domain separators.
//!
//! Every function here is a pure function of public or secret input that runs in time
//! independent of the input's value (BLAKE2b and the Elligator map are constant time);
//! lengths are public.

use blake2::{
    digest::{consts::U32, Digest},
    Blake2b, Blake2b512,
};
use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
use zeroize::{Zeroize, Zeroizing};

/// BLAKE2b with a 32-byte output set in the parameter block (not a truncated BLAKE2b-512).
pub type Blake2b256 = Blake2b<U32>;

/// BLAKE2b-512 over the concatenation of `parts`.
pub fn blake2b512(parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Blake2b512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// BLAKE2b-256 (parameterised output length 32) over the concatenation of `parts`.
pub fn blake2b256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Blake2b256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// BLAKE2b-256 over the concatenation of `parts`, exactly as [`blake2b256`], for input that
/// holds a secret (a hash key, a client's search key): the input block, the chaining state and
/// the working vector are wiped before it returns, and so is the digest when the caller drops
/// it. (The `blake2` crate leaves its state and buffered input behind in memory.) Our own
/// BLAKE2b from RFC 7693; constant time (add-rotate-xor, message schedule fixed by the round).
pub fn blake2b256_secret(parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    blake2b_secret(parts)
}

/// BLAKE2b-512 over the concatenation of `parts`, exactly as [`blake2b512`], for secret input;
/// wiped as [`blake2b256_secret`] is.
pub fn blake2b512_secret(parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    blake2b_secret(parts)
}

/// BLAKE2b with an `N`-byte output (1 to 64) over the concatenation of `parts`, wiped.
fn blake2b_secret<const N: usize>(parts: &[&[u8]]) -> Zeroizing<[u8; N]> {
    let mut state = Blake2bWiped::new(N);
    for p in parts {
        state.update(p);
    }
    let mut out = Zeroizing::new([0u8; N]);
    state.finalize_into(out.as_mut());
    out
}

/// BLAKE2b (RFC 7693, unkeyed, output length in the parameter block) whose state is wiped on
/// drop.
struct Blake2bWiped {
    h: [u64; 8],
    buf: [u8; 128],
    buf_len: usize,
    /// Bytes compressed so far (the buffered ones not yet counted).
    total: u128,
}

const BLAKE2B_IV: [u64; 8] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
    0x9b05_688c_2b3e_6c1f,
    0x1f83_d9ab_fb41_bd6b,
    0x5be0_cd19_137e_2179,
];

/// The message schedule of each of the ten distinct rounds (rounds 10 and 11 repeat 0 and 1).
const BLAKE2B_SIGMA: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

impl Blake2bWiped {
    fn new(out_len: usize) -> Self {
        debug_assert!((1..=64).contains(&out_len));
        let mut h = BLAKE2B_IV;
        // Parameter block: digest length, key length 0, fanout 1, depth 1.
        h[0] ^= 0x0101_0000 ^ out_len as u64;
        Self {
            h,
            buf: [0; 128],
            buf_len: 0,
            total: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        // Lengths are public; the last block is kept back for `finalize_into`.
        while !data.is_empty() {
            if self.buf_len == 128 {
                self.total += 128;
                self.compress(false);
                self.buf_len = 0;
            }
            let take = (128 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
        }
    }

    /// Writes the digest into `out`, which must be as long as the length given to `new`.
    fn finalize_into(mut self, out: &mut [u8]) {
        self.total += self.buf_len as u128;
        self.buf[self.buf_len..].fill(0);
        self.compress(true);
        for (chunk, word) in out.chunks_mut(8).zip(self.h.iter()) {
            let bytes = word.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn compress(&mut self, last: bool) {
        let mut m = [0u64; 16];
        for (w, chunk) in m.iter_mut().zip(self.buf.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
            b.zeroize();
        }
        let mut v = [0u64; 16];
        v[..8].copy_from_slice(&self.h);
        v[8..].copy_from_slice(&BLAKE2B_IV);
        v[12] ^= self.total as u64;
        v[13] ^= (self.total >> 64) as u64;
        if last {
            v[14] = !v[14];
        }
        fn g(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize, x: u64, y: u64) {
            v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
            v[d] = (v[d] ^ v[a]).rotate_right(32);
            v[c] = v[c].wrapping_add(v[d]);
            v[b] = (v[b] ^ v[c]).rotate_right(24);
            v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
            v[d] = (v[d] ^ v[a]).rotate_right(16);
            v[c] = v[c].wrapping_add(v[d]);
            v[b] = (v[b] ^ v[c]).rotate_right(63);
        }
        for round in 0..12 {
            let s = &BLAKE2B_SIGMA[round % 10];
            g(&mut v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
            g(&mut v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
            g(&mut v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
            g(&mut v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
            g(&mut v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
            g(&mut v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
            g(&mut v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
            g(&mut v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
        }
        for i in 0..8 {
            self.h[i] ^= v[i] ^ v[i + 8];
        }
        m.zeroize();
        v.zeroize();
    }
}

impl Blake2bWiped {
    fn wipe(&mut self) {
        self.h.zeroize();
        self.buf.zeroize();
        self.buf_len = 0;
        self.total = 0;
    }
}

impl Drop for Blake2bWiped {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// `Scalar::from_hash` of BLAKE2b-512 over `parts`: the 64-byte digest read little-endian and
/// reduced modulo the group order.
pub fn hash_to_scalar(parts: &[&[u8]]) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&blake2b512(parts))
}

/// `RistrettoPoint::from_hash` of BLAKE2b-512 over `parts`: the 64-byte digest through the
/// RFC 9496 one-way map (two Elligator maps, added).
pub fn hash_to_ristretto(parts: &[&[u8]]) -> RistrettoPoint {
    RistrettoPoint::from_uniform_bytes(&blake2b512(parts))
}

/// MobileCoin's domain-separation tags. Each is hashed as raw ASCII, no length prefix.
pub mod domain {
    /// One-time key hash-to-scalar (`Hs`).
    pub const ONETIME_KEY_HASH_TO_SCALAR: &[u8] = b"mc_onetime_key_hash_to_scalar";
    /// One-time key hash-to-point (`Hp`) and the per-token Pedersen generators.
    pub const ONETIME_KEY_HASH_TO_POINT: &[u8] = b"mc_onetime_key_hash_to_point";
    /// Subaddress derivation.
    pub const SUBADDRESS: &[u8] = b"mc_subaddress";
    /// Masked amount V1: value mask.
    pub const AMOUNT_VALUE: &[u8] = b"mc_amount_value";
    /// Masked amount V1: token id mask.
    pub const AMOUNT_TOKEN_ID: &[u8] = b"mc_amount_token_id";
    /// Masked amount V1: blinding factor.
    pub const AMOUNT_BLINDING: &[u8] = b"mc_amount_blinding";
    /// Masked amount V2: the amount shared secret.
    pub const AMOUNT_SHARED_SECRET: &[u8] = b"mc_amount_shared_secret";
    /// Masked amount V2: HKDF salt of the blinding factors.
    pub const AMOUNT_BLINDING_FACTORS: &[u8] = b"mc_amount_blinding_factors";
    /// Memo keystream HKDF salt.
    pub const MEMO_OKM: &[u8] = b"mc-memo-okm";
    /// Memo HMAC prefix.
    pub const MEMO_MAC: &[u8] = b"mc-memo-mac";
    /// Burn address spend public key.
    pub const BURN_ADDRESS_SPEND_PUBLIC: &[u8] = b"mc_burn_address_spend_public";
    /// Gift code funding memo.
    pub const GIFT_FUNDING_TX_PUB_KEY: &[u8] = b"mc-gift-funding-tx-pub-key";
    /// Merkle leaf.
    pub const TX_OUT_MERKLE_LEAF: &[u8] = b"mc_tx_out_merkle_leaf";
    /// Merkle internal node.
    pub const TX_OUT_MERKLE_NODE: &[u8] = b"mc_tx_out_merkle_node";
    /// Merkle nil node.
    pub const TX_OUT_MERKLE_NIL: &[u8] = b"mc_tx_out_merkle_nil";
    /// MLSAG challenge.
    pub const RING_MLSAG_CHALLENGE: &[u8] = b"mc_ring_mlsag_challenge";
    /// Bulletproof transcript label.
    pub const BULLETPROOF_TRANSCRIPT: &[u8] = b"mc_bulletproof_transcript";
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use rand::{Rng, SeedableRng};

    #[test]
    fn secret_blake2b256_matches_the_blake2_crate() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let data: Vec<u8> = (0..700).map(|_| rng.gen()).collect();
        // Every length across the block boundaries (0, 127, 128, 129, 256, ...), whole and in
        // random parts (empty parts included).
        for len in 0..=data.len() {
            let msg = &data[..len];
            assert_eq!(
                *blake2b256_secret(&[msg]),
                blake2b256(&[msg]),
                "length {len}"
            );
            let cut1 = rng.gen_range(0..=len);
            let cut2 = rng.gen_range(cut1..=len);
            let parts = [&msg[..cut1], &msg[cut1..cut2], &[][..], &msg[cut2..]];
            assert_eq!(
                *blake2b256_secret(&parts),
                blake2b256(&[msg]),
                "parts {len}"
            );
        }
        // The 512-bit output.
        for len in 0..=data.len() {
            let msg = &data[..len];
            assert_eq!(
                *blake2b512_secret(&[msg]),
                blake2b512(&[msg]),
                "512, length {len}"
            );
        }
        // RFC 7693 appendix A: BLAKE2b-512("abc").
        let mut h = Blake2bWiped::new(64);
        h.update(b"abc");
        let mut out = [0u8; 64];
        h.finalize_into(&mut out);
        assert_eq!(
            hex::encode(out),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
             7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
    }

    #[test]
    fn secret_blake2b_state_is_wiped() {
        let mut h = Blake2bWiped::new(32);
        h.update(&[0xa5; 200]);
        assert!(h.buf.iter().any(|&b| b != 0));
        h.wipe();
        assert_eq!(h.h, [0u64; 8]);
        assert_eq!(h.buf, [0u8; 128]);
        assert_eq!((h.buf_len, h.total), (0, 0));
    }

    #[test]
    fn blake2b256_is_parameterised_not_truncated() {
        let short = blake2b256(&[b"abc"]);
        let long = blake2b512(&[b"abc"]);
        assert_ne!(&short[..], &long[..32]);
        // RFC 7693 has no 256-bit vector; this one is the widely published BLAKE2b-256("abc").
        assert_eq!(
            short,
            [
                0xbd, 0xdd, 0x81, 0x3c, 0x63, 0x42, 0x39, 0x72, 0x31, 0x71, 0xef, 0x3f, 0xee, 0x98,
                0x57, 0x9b, 0x94, 0x96, 0x4e, 0x3b, 0xb1, 0xcb, 0x3e, 0x42, 0x72, 0x62, 0xc8, 0xc0,
                0x68, 0xd5, 0x23, 0x19
            ]
        );
    }

    #[test]
    fn parts_are_concatenated() {
        assert_eq!(blake2b512(&[b"ab", b"c"]), blake2b512(&[b"abc"]));
        assert_eq!(hash_to_scalar(&[b"a", b"bc"]), hash_to_scalar(&[b"abc"]));
        assert_ne!(hash_to_ristretto(&[b"x"]), hash_to_ristretto(&[b"y"]));
    }
}
