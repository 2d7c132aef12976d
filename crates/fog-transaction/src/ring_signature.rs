//! RingMLSAG: MobileCoin's two-column linkable ring signature over (one-time key, amount
//! commitment) pairs.
//!
//! The signer proves knowledge of the one-time private key `x` of one ring member and of
//! `z = b' − b`, the difference between the pseudo-output blinding `b'` and that member's
//! blinding, so that the pseudo-output commits to the same value. The key image `I = x·Hp(P)`
//! links two spends of one TxOut.
//!
//! ```text
//! c_{i+1} = Hs("mc_ring_mlsag_challenge" || m || I || L0 || R0 || L1)
//! L0 = r_{i,0}·G + c_i·P_i,  R0 = r_{i,0}·Hp(P_i) + c_i·I,  L1 = r_{i,1}·G + c_i·(C' − C_i)
//! ```
//!
//! Signing runs on the client (untrusted side, but still with the secret): scalar arithmetic
//! is constant time, and the loop visits every ring member the same way whatever the real
//! index. Verification uses only public data.

use alloc::vec::Vec;

use curve25519_dalek::{
    constants::RISTRETTO_BASEPOINT_TABLE,
    ristretto::{CompressedRistretto, RistrettoPoint},
    scalar::Scalar,
};
use fog_crypto::{hash, RistrettoPrivate};
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;
use zeroize::Zeroize;

use crate::KeyImage;

/// A ring member as the signature sees it: the one-time key and the amount commitment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReducedTxOut {
    /// One-time target key `P_i`.
    pub target_key: [u8; 32],
    /// Amount commitment `C_i`.
    pub commitment: [u8; 32],
}

/// One input's ring signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RingMlsag {
    /// The challenge at index 0.
    pub c_zero: Scalar,
    /// Two responses per ring member, `[r_{0,0}, r_{0,1}, r_{1,0}, ...]`.
    pub responses: Vec<Scalar>,
    /// The key image of the real input.
    pub key_image: KeyImage,
}

/// Why a ring signature was refused or could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RingSignatureError {
    /// The signature does not close the ring.
    #[error("invalid ring signature")]
    InvalidSignature,
    /// The number of responses is not twice the ring size.
    #[error("wrong number of responses: expected {expected}, got {found}")]
    LengthMismatch {
        /// Expected.
        expected: usize,
        /// Found.
        found: usize,
    },
    /// The key image is not a valid point.
    #[error("invalid key image")]
    InvalidKeyImage,
    /// A ring member's key or commitment, or the pseudo-output, is not a valid point.
    #[error("invalid curve point in the ring")]
    InvalidCurvePoint,
    /// An empty ring, or a real index outside it.
    #[error("the real input is not in the ring")]
    IndexOutOfBounds,
    /// The signer's keys do not open the real ring member.
    #[error("the signer's keys do not match the real input")]
    ValueNotConserved,
}

fn basepoint_mul(s: &Scalar) -> RistrettoPoint {
    s * RISTRETTO_BASEPOINT_TABLE
}

fn decompress(bytes: &[u8; 32]) -> Result<RistrettoPoint, RingSignatureError> {
    CompressedRistretto(*bytes)
        .decompress()
        .ok_or(RingSignatureError::InvalidCurvePoint)
}

/// `Hp(P)`: the one-time key hashed to the curve.
pub fn hash_to_point(p: &[u8; 32]) -> RistrettoPoint {
    hash::hash_to_ristretto(&[hash::domain::ONETIME_KEY_HASH_TO_POINT, p])
}

fn challenge(
    message: &[u8],
    key_image: &KeyImage,
    l0: &RistrettoPoint,
    r0: &RistrettoPoint,
    l1: &RistrettoPoint,
) -> Scalar {
    hash::hash_to_scalar(&[
        hash::domain::RING_MLSAG_CHALLENGE,
        message,
        &key_image.0,
        l0.compress().as_bytes(),
        r0.compress().as_bytes(),
        l1.compress().as_bytes(),
    ])
}

/// What the signer knows of its real input.
pub struct RealInput<'a> {
    /// Its index in the ring.
    pub index: usize,
    /// Its one-time private key `x`.
    pub onetime_private_key: &'a RistrettoPrivate,
    /// Its value.
    pub value: u64,
    /// Its commitment's blinding factor `b`.
    pub blinding: Scalar,
}

impl RingMlsag {
    /// Signs `message` over `ring`, with the pseudo-output `value·H + pseudo_blinding·G`.
    pub fn sign<R: RngCore + CryptoRng>(
        message: &[u8],
        ring: &[ReducedTxOut],
        real: &RealInput<'_>,
        pseudo_output_blinding: &Scalar,
        generator: &RistrettoPoint,
        rng: &mut R,
    ) -> Result<Self, RingSignatureError> {
        let n = ring.len();
        if real.index >= n {
            return Err(RingSignatureError::IndexOutOfBounds);
        }
        let x = real.onetime_private_key.as_scalar();
        let p_real = (x * RISTRETTO_BASEPOINT_TABLE).compress();
        if p_real.to_bytes() != ring[real.index].target_key {
            return Err(RingSignatureError::ValueNotConserved);
        }
        let real_commitment = Scalar::from(real.value) * generator + basepoint_mul(&real.blinding);
        if real_commitment.compress().to_bytes() != ring[real.index].commitment {
            return Err(RingSignatureError::ValueNotConserved);
        }
        let key_image = KeyImage::from_onetime_private(real.onetime_private_key);
        let image = decompress(&key_image.0)?;
        let output_commitment =
            Scalar::from(real.value) * generator + basepoint_mul(pseudo_output_blinding);
        let mut z = pseudo_output_blinding - real.blinding;

        let points: Vec<(RistrettoPoint, RistrettoPoint)> = ring
            .iter()
            .map(|m| Ok((decompress(&m.target_key)?, decompress(&m.commitment)?)))
            .collect::<Result<_, RingSignatureError>>()?;

        let mut c = alloc::vec![Scalar::ZERO; n];
        let mut responses: Vec<Scalar> = (0..2 * n).map(|_| Scalar::random(rng)).collect();
        let mut alpha0 = Scalar::random(rng);
        let mut alpha1 = Scalar::random(rng);

        // Start at the real index with fresh commitments, go around the ring.
        let pi = real.index;
        {
            let l0 = basepoint_mul(&alpha0);
            let r0 = alpha0 * hash_to_point(&ring[pi].target_key);
            let l1 = basepoint_mul(&alpha1);
            c[(pi + 1) % n] = challenge(message, &key_image, &l0, &r0, &l1);
        }
        for step in 1..n {
            let i = (pi + step) % n;
            let (p_i, c_i_commit) = &points[i];
            let l0 = basepoint_mul(&responses[2 * i]) + c[i] * p_i;
            let r0 = responses[2 * i] * hash_to_point(&ring[i].target_key) + c[i] * image;
            let l1 = basepoint_mul(&responses[2 * i + 1]) + c[i] * (output_commitment - c_i_commit);
            c[(i + 1) % n] = challenge(message, &key_image, &l0, &r0, &l1);
        }
        responses[2 * pi] = alpha0 - c[pi] * x;
        responses[2 * pi + 1] = alpha1 - c[pi] * z;
        alpha0.zeroize();
        alpha1.zeroize();
        z.zeroize();
        Ok(Self {
            c_zero: c[0],
            responses,
            key_image,
        })
    }

    /// Verifies the signature over `message` and `ring` for the pseudo-output commitment.
    pub fn verify(
        &self,
        message: &[u8],
        ring: &[ReducedTxOut],
        pseudo_output_commitment: &[u8; 32],
    ) -> Result<(), RingSignatureError> {
        let n = ring.len();
        if self.responses.len() != 2 * n || n == 0 {
            return Err(RingSignatureError::LengthMismatch {
                expected: 2 * n,
                found: self.responses.len(),
            });
        }
        let image = CompressedRistretto(self.key_image.0)
            .decompress()
            .ok_or(RingSignatureError::InvalidKeyImage)?;
        let output_commitment = decompress(pseudo_output_commitment)?;
        let mut c = self.c_zero;
        for (i, member) in ring.iter().enumerate() {
            let p_i = decompress(&member.target_key)?;
            let c_i_commit = decompress(&member.commitment)?;
            let l0 = basepoint_mul(&self.responses[2 * i]) + c * p_i;
            let r0 = self.responses[2 * i] * hash_to_point(&member.target_key) + c * image;
            let l1 =
                basepoint_mul(&self.responses[2 * i + 1]) + c * (output_commitment - c_i_commit);
            c = challenge(message, &self.key_image, &l0, &r0, &l1);
        }
        if c == self.c_zero {
            Ok(())
        } else {
            Err(RingSignatureError::InvalidSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::{commitment, value_generator};
    use crate::TokenId;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn ring_with_real(
        rng: &mut ChaCha20Rng,
        n: usize,
        pi: usize,
    ) -> (Vec<ReducedTxOut>, RistrettoPrivate, Scalar) {
        let x = RistrettoPrivate::random(rng);
        let b = Scalar::random(rng);
        let ring = (0..n)
            .map(|i| {
                if i == pi {
                    ReducedTxOut {
                        target_key: x.public_key().to_bytes(),
                        commitment: commitment(50, TokenId::MOB, &b),
                    }
                } else {
                    ReducedTxOut {
                        target_key: RistrettoPrivate::random(rng).public_key().to_bytes(),
                        commitment: commitment(7, TokenId::MOB, &Scalar::random(rng)),
                    }
                }
            })
            .collect();
        (ring, x, b)
    }

    #[test]
    fn sign_and_verify_at_every_index() {
        let mut rng = ChaCha20Rng::from_seed([61; 32]);
        let h = value_generator(TokenId::MOB);
        for pi in 0..11 {
            let (ring, x, b) = ring_with_real(&mut rng, 11, pi);
            let pseudo_b = Scalar::random(&mut rng);
            let real = RealInput {
                index: pi,
                onetime_private_key: &x,
                value: 50,
                blinding: b,
            };
            let sig = RingMlsag::sign(b"msg", &ring, &real, &pseudo_b, &h, &mut rng).unwrap();
            let pseudo = commitment(50, TokenId::MOB, &pseudo_b);
            sig.verify(b"msg", &ring, &pseudo).unwrap();
            assert_eq!(
                sig.verify(b"msh", &ring, &pseudo),
                Err(RingSignatureError::InvalidSignature)
            );
            // A pseudo-output of another value does not verify.
            let wrong = commitment(51, TokenId::MOB, &pseudo_b);
            assert_eq!(
                sig.verify(b"msg", &ring, &wrong),
                Err(RingSignatureError::InvalidSignature)
            );
            let mut swapped = ring.clone();
            swapped.swap(0, 1);
            assert!(sig.verify(b"msg", &swapped, &pseudo).is_err());
        }
    }

    #[test]
    fn the_signer_must_own_the_real_input() {
        let mut rng = ChaCha20Rng::from_seed([62; 32]);
        let h = value_generator(TokenId::MOB);
        let (ring, _x, b) = ring_with_real(&mut rng, 11, 3);
        let other = RistrettoPrivate::random(&mut rng);
        let real = RealInput {
            index: 3,
            onetime_private_key: &other,
            value: 50,
            blinding: b,
        };
        assert_eq!(
            RingMlsag::sign(b"m", &ring, &real, &Scalar::ONE, &h, &mut rng).unwrap_err(),
            RingSignatureError::ValueNotConserved
        );
    }
}
