//! Range proofs: Bulletproofs (the `bulletproofs` crate, dalek lineage) with MobileCoin's
//! generators and transcript label, proving each committed value is below 2^64.
//!
//! Pedersen generators are `B = H_t` (the token's value generator) and `B_blinding = G`;
//! bulletproof generators are `BulletproofGens::new(64, 64)`; the transcript is
//! `"mc_bulletproof_transcript"`. The value and blinding lists (prover) and the commitment
//! list (verifier) are padded to the next power of two by repeating their last element.

use alloc::vec::Vec;

use bulletproofs::{BulletproofGens, PedersenGens, RangeProof};
use curve25519_dalek::{
    constants::RISTRETTO_BASEPOINT_POINT, ristretto::CompressedRistretto, scalar::Scalar,
};
use merlin::Transcript;
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;

use crate::{amount::value_generator, TokenId};

const BITS: usize = 64;
const PARTY_CAPACITY: usize = 64;

/// Why a range proof was refused or could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RangeProofError {
    /// The proof does not verify.
    #[error("range proof verification failed")]
    VerificationError,
    /// The proof bytes are malformed.
    #[error("malformed range proof")]
    FormatError,
    /// No values, or more than the 64 parties the generators cover.
    #[error("wrong number of values for a range proof")]
    WrongNumberOfValues,
}

/// The bulletproof generators are the same for every proof and take ~100 ms to derive, so
/// they are derived once per process.
static BULLETPROOF_GENS: spin::Once<BulletproofGens> = spin::Once::new();

fn gens(token_id: TokenId) -> (PedersenGens, &'static BulletproofGens) {
    (
        PedersenGens {
            B: value_generator(token_id),
            B_blinding: RISTRETTO_BASEPOINT_POINT,
        },
        BULLETPROOF_GENS.call_once(|| BulletproofGens::new(BITS, PARTY_CAPACITY)),
    )
}

fn pad<T: Clone>(items: &[T]) -> Vec<T> {
    let mut v = items.to_vec();
    if let Some(last) = items.last() {
        v.resize(items.len().next_power_of_two(), last.clone());
    }
    v
}

/// Proves `values` (with `blindings`) are in range for token `token_id`; returns the proof
/// bytes and the commitments (before padding).
pub fn prove<R: RngCore + CryptoRng>(
    values: &[u64],
    blindings: &[Scalar],
    token_id: TokenId,
    rng: &mut R,
) -> Result<(Vec<u8>, Vec<[u8; 32]>), RangeProofError> {
    if values.is_empty() || values.len() != blindings.len() || values.len() > PARTY_CAPACITY {
        return Err(RangeProofError::WrongNumberOfValues);
    }
    let (pc, bp) = gens(token_id);
    let mut transcript = Transcript::new(fog_crypto::hash::domain::BULLETPROOF_TRANSCRIPT);
    let (proof, commitments) = RangeProof::prove_multiple_with_rng(
        bp,
        &pc,
        &mut transcript,
        &pad(values),
        &pad(blindings),
        BITS,
        rng,
    )
    .map_err(|_| RangeProofError::WrongNumberOfValues)?;
    Ok((
        proof.to_bytes(),
        commitments
            .iter()
            .take(values.len())
            .map(|c| c.to_bytes())
            .collect(),
    ))
}

/// Verifies a proof over `commitments` of token `token_id`.
pub fn verify<R: RngCore + CryptoRng>(
    proof_bytes: &[u8],
    commitments: &[[u8; 32]],
    token_id: TokenId,
    rng: &mut R,
) -> Result<(), RangeProofError> {
    if commitments.is_empty() || commitments.len() > PARTY_CAPACITY {
        return Err(RangeProofError::WrongNumberOfValues);
    }
    let proof = RangeProof::from_bytes(proof_bytes).map_err(|_| RangeProofError::FormatError)?;
    let (pc, bp) = gens(token_id);
    let mut transcript = Transcript::new(fog_crypto::hash::domain::BULLETPROOF_TRANSCRIPT);
    let commitments: Vec<CompressedRistretto> = pad(commitments)
        .into_iter()
        .map(CompressedRistretto)
        .collect();
    proof
        .verify_multiple_with_rng(bp, &pc, &mut transcript, &commitments, BITS, rng)
        .map_err(|_| RangeProofError::VerificationError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::commitment;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn proofs_verify_for_their_token_only() {
        let mut rng = ChaCha20Rng::from_seed([71; 32]);
        let values = [5u64, u64::MAX, 0];
        let blindings: Vec<Scalar> = (0..3).map(|_| Scalar::random(&mut rng)).collect();
        let (proof, commitments) = prove(&values, &blindings, TokenId(2), &mut rng).unwrap();
        for (i, c) in commitments.iter().enumerate() {
            assert_eq!(*c, commitment(values[i], TokenId(2), &blindings[i]));
        }
        verify(&proof, &commitments, TokenId(2), &mut rng).unwrap();
        assert_eq!(
            verify(&proof, &commitments, TokenId(0), &mut rng),
            Err(RangeProofError::VerificationError)
        );
        let mut bad = proof.clone();
        bad[100] ^= 1;
        assert!(verify(&bad, &commitments, TokenId(2), &mut rng).is_err());
        assert_eq!(
            verify(&proof[..10], &commitments, TokenId(2), &mut rng),
            Err(RangeProofError::FormatError)
        );
    }
}
