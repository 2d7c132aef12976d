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
