//! Transaction validation: MobileCoin's rules for block version 3 and later, in its order, so
//! the first failing rule decides the error.
//!
//! 1. block version
//! 2. input count
//! 3. output count
//! 4. ring size
//! 5. ring elements unique
//! 6. rings sorted, inputs sorted
//! 7. membership proofs against the ledger's roots
//! 8. the RingCT signature (lengths, duplicate key images, commitments, range proofs,
//!    balance, MLSAGs)
//! 9. fee
//! 10. key images unique
//! 11. output public keys unique
//! 12. tombstone
//! 13. per-output memo and token id rules
//! 14. outputs sorted
//! 15. every input's rules ([`crate::input_rules::InputRules::verify`]; signed contingent
//!     inputs, block version 3 and later)
//!
//! [`validate`] needs no ledger access beyond the "root proofs" the caller reads for the
//! proofs' highest indices; [`validate_against_ledger`] adds the checks that do (spent key
//! images, existing output public keys).

use alloc::{collections::BTreeMap, collections::BTreeSet, vec::Vec};

use curve25519_dalek::{
    ristretto::{CompressedRistretto, RistrettoPoint},
    scalar::Scalar,
    traits::Identity,
};
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;

use crate::{
    amount::value_generator,
    input_rules::InputRuleError,
    membership::{self, MembershipProofError, TxOutMembershipProof},
    range_proof::{self, RangeProofError},
    ring_signature::RingSignatureError,
    tx::Tx,
    BlockVersion, KeyImage, TokenId,
};

/// At most this many inputs.
pub const MAX_INPUTS: usize = 16;
/// At most this many outputs.
pub const MAX_OUTPUTS: usize = 16;
/// MobileCoin's ring size.
pub const RING_SIZE: usize = 11;
/// A tombstone at most this many blocks ahead.
pub const MAX_TOMBSTONE_BLOCKS: u64 = 20160;
/// MOB's minimum fee (picoMOB).
pub const MOB_MINIMUM_FEE: u64 = 400_000_000;

/// Why the RingCT signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RingCtError {
    /// An MLSAG did not verify.
    #[error("ring signature: {0}")]
    RingSignature(RingSignatureError),
    /// Outputs plus fee do not equal inputs.
    #[error("value not conserved")]
    ValueNotConserved,
    /// Two inputs share a key image.
    #[error("duplicate key image")]
    DuplicateKeyImage,
    /// A range proof did not verify.
    #[error("range proof: {0}")]
    RangeProof(RangeProofError),
    /// Signature lists do not match the inputs and outputs.
    #[error("signature lists have the wrong lengths")]
    LengthMismatch,
    /// A legacy aggregated range proof at block version 3 or later.
    #[error("unexpected legacy range proof")]
    UnexpectedRangeProof,
    /// Not one range proof per token.
    #[error("expected {expected} range proofs, found {found}")]
    MissingRangeProofs {
        /// Tokens in the transaction.
        expected: usize,
        /// Proofs given.
        found: usize,
    },
    /// A token with no commitments to prove.
    #[error("no commitments for token {0}")]
    NoCommitmentsForTokenId(u64),
    /// A commitment is not a valid point.
    #[error("invalid commitment")]
    InvalidCommitment,
    /// Every input carries rules: at least one must sign the whole transaction.
    #[error("all rings are presigned")]
    AllRingsPresigned,
}

/// Why a transaction was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TransactionValidationError {
    /// A block version we do not build.
    #[error("unsupported block version")]
    UnsupportedBlockVersion,
    /// No inputs.
    #[error("no inputs")]
    NoInputs,
    /// More than 16 inputs.
    #[error("too many inputs")]
    TooManyInputs,
    /// No outputs.
    #[error("no outputs")]
    NoOutputs,
    /// More than 16 outputs.
    #[error("too many outputs")]
    TooManyOutputs,
    /// A ring smaller than the ring size.
    #[error("ring too small")]
    InsufficientRingSize,
    /// A ring larger than the ring size.
    #[error("ring too large")]
    ExcessiveRingSize,
    /// A TxOut appears twice across the rings.
    #[error("duplicate ring elements")]
    DuplicateRingElements,
    /// A ring not sorted by public key.
    #[error("ring elements not sorted")]
    UnsortedRingElements,
    /// Inputs not sorted by their first ring member.
    #[error("inputs not sorted")]
    UnsortedInputs,
    /// Not one proof per ring member, or not one root proof per proof.
    #[error("missing membership proof")]
    MissingTxOutMembershipProof,
    /// A membership proof does not verify against the ledger.
    #[error("invalid membership proof: {0}")]
    InvalidTxOutMembershipProof(MembershipProofError),
    /// The RingCT signature failed.
    #[error("invalid transaction signature: {0}")]
    InvalidTransactionSignature(RingCtError),
    /// Fee below the token's minimum.
    #[error("fee below the minimum")]
    TxFeeError,
    /// A token missing from the fee map.
    #[error("token not configured")]
    TokenNotYetConfigured,
    /// Two inputs share a key image.
    #[error("duplicate key images")]
    DuplicateKeyImages,
    /// Two outputs share a public key.
    #[error("duplicate output public key")]
    DuplicateOutputPublicKey,
    /// The tombstone block has been reached.
    #[error("tombstone block exceeded")]
    TombstoneBlockExceeded,
    /// The tombstone is too far ahead.
    #[error("tombstone block too far")]
    TombstoneBlockTooFar,
    /// An output without memo.
    #[error("missing memo")]
    MissingMemo,
    /// An output without an 8-byte masked token id.
    #[error("missing masked token id")]
    MissingMaskedTokenId,
    /// An output without masked amount.
    #[error("unknown masked amount version")]
    UnknownMaskedAmountVersion,
    /// Outputs not sorted by public key.
    #[error("outputs not sorted")]
    UnsortedOutputs,
    /// A key image already spent in the ledger.
    #[error("key image already spent")]
    ContainsSpentKeyImage,
    /// An output public key already in the ledger.
    #[error("output public key already in the ledger")]
    ContainsExistingOutputPublicKey,
    /// The transaction breaks an input's rules.
    #[error("input rule: {0}")]
    InputRule(InputRuleError),
    /// Input rules at a block version without signed contingent inputs.
    #[error("input rules are not allowed at this block version")]
    InputRulesNotAllowed,
}

use TransactionValidationError as E;

/// What validation needs besides the transaction.
pub struct ValidationContext<'a> {
    /// The block version the transaction must follow.
    pub block_version: BlockVersion,
    /// The index of the block being formed.
    pub current_block_index: u64,
    /// Minimum fee per token; tokens absent here are refused.
    pub fee_map: &'a BTreeMap<u64, u64>,
    /// The ledger's current proofs of the TxOuts at each proof's highest index, in the order
    /// of [`crate::tx::TxPrefix::membership_proof_highest_indices`].
    pub root_proofs: &'a [TxOutMembershipProof],
    /// Members per ring.
    pub ring_size: usize,
}

/// The default fee map: MOB only.
pub fn default_fee_map() -> BTreeMap<u64, u64> {
    BTreeMap::from([(0, MOB_MINIMUM_FEE)])
}

fn strictly_sorted<T: Ord>(items: impl Iterator<Item = T>) -> bool {
    let v: Vec<T> = items.collect();
    v.windows(2).all(|w| w[0] < w[1])
}

/// Validates a transaction; see the module docs for the order of the rules.
pub fn validate<R: RngCore + CryptoRng>(
    tx: &Tx,
    ctx: &ValidationContext<'_>,
    rng: &mut R,
) -> Result<(), TransactionValidationError> {
    let prefix = &tx.prefix;
    if !ctx.block_version.masked_amount_v2_is_supported() || ctx.block_version > BlockVersion::MAX {
        return Err(E::UnsupportedBlockVersion);
    }
    match prefix.inputs.len() {
        0 => return Err(E::NoInputs),
        n if n > MAX_INPUTS => return Err(E::TooManyInputs),
        _ => {}
    }
    match prefix.outputs.len() {
        0 => return Err(E::NoOutputs),
        n if n > MAX_OUTPUTS => return Err(E::TooManyOutputs),
        _ => {}
    }
    for input in &prefix.inputs {
        if input.ring.len() < ctx.ring_size.max(1) {
            return Err(E::InsufficientRingSize);
        }
        if input.ring.len() > ctx.ring_size {
            return Err(E::ExcessiveRingSize);
        }
    }
    // Inputs without rules may not share ring members; an input with rules (signed by
    // someone else, MCIP 57) only needs its own ring unique.
    let all: Vec<_> = prefix
        .inputs
        .iter()
        .filter(|i| i.input_rules.is_none())
        .flat_map(|i| i.ring.iter())
        .collect();
    for (i, a) in all.iter().enumerate() {
        if all[i + 1..].contains(a) {
            return Err(E::DuplicateRingElements);
        }
    }
    for input in prefix.inputs.iter().filter(|i| i.input_rules.is_some()) {
        for (i, a) in input.ring.iter().enumerate() {
            if input.ring[i + 1..].contains(a) {
                return Err(E::DuplicateRingElements);
            }
        }
    }
    for input in &prefix.inputs {
        if !strictly_sorted(input.ring.iter().map(|t| t.public_key)) {
            return Err(E::UnsortedRingElements);
        }
    }
    if !strictly_sorted(prefix.inputs.iter().map(|i| i.ring[0].public_key)) {
        return Err(E::UnsortedInputs);
    }
    validate_membership_proofs(tx, ctx.root_proofs)?;
    verify_signature(tx, rng).map_err(E::InvalidTransactionSignature)?;
    let minimum = ctx
        .fee_map
        .get(&prefix.fee_token_id)
        .ok_or(E::TokenNotYetConfigured)?;
    if prefix.fee < *minimum {
        return Err(E::TxFeeError);
    }
    if tx
        .signature
        .output_token_ids
        .iter()
        .any(|t| !ctx.fee_map.contains_key(t))
    {
        return Err(E::TokenNotYetConfigured);
    }
    let images: BTreeSet<KeyImage> = tx.key_images().into_iter().collect();
    if images.len() != prefix.inputs.len() {
        return Err(E::DuplicateKeyImages);
    }
    let keys: BTreeSet<[u8; 32]> = tx.output_public_keys().into_iter().collect();
    if keys.len() != prefix.outputs.len() {
        return Err(E::DuplicateOutputPublicKey);
    }
    if prefix.tombstone_block <= ctx.current_block_index {
        return Err(E::TombstoneBlockExceeded);
    }
    if prefix.tombstone_block > ctx.current_block_index.saturating_add(MAX_TOMBSTONE_BLOCKS) {
        return Err(E::TombstoneBlockTooFar);
    }
    // MobileCoin checks every output's memo first, then every output's amount.
    if prefix.outputs.iter().any(|o| o.e_memo.is_none()) {
        return Err(E::MissingMemo);
    }
    for output in &prefix.outputs {
        let amount = output
            .masked_amount
            .as_ref()
            .ok_or(E::UnknownMaskedAmountVersion)?;
        if amount.masked_token_id.len() != 8 {
            return Err(E::MissingMaskedTokenId);
        }
    }
    if !strictly_sorted(prefix.outputs.iter().map(|o| o.public_key)) {
        return Err(E::UnsortedOutputs);
    }
    validate_all_input_rules(tx, ctx.block_version)
}

/// Rule 15: every input's rules hold (block version 3 and later; below, any rules are
/// refused).
pub fn validate_all_input_rules(
    tx: &Tx,
    block_version: BlockVersion,
) -> Result<(), TransactionValidationError> {
    let signed_input_rules_supported = block_version.masked_amount_v2_is_supported();
    for rules in tx
        .prefix
        .inputs
        .iter()
        .filter_map(|i| i.input_rules.as_ref())
    {
        if !signed_input_rules_supported {
            return Err(E::InputRulesNotAllowed);
        }
        rules
            .verify(block_version, &tx.prefix)
            .map_err(E::InputRule)?;
    }
    Ok(())
}

/// Rule 7: every client proof must verify against the root the ledger had when it held
/// `highest_index + 1` TxOuts, derived from the ledger's current proof for that index.
pub fn validate_membership_proofs(
    tx: &Tx,
    root_proofs: &[TxOutMembershipProof],
) -> Result<(), TransactionValidationError> {
    let mut roots = root_proofs.iter();
    for input in &tx.prefix.inputs {
        if input.proofs.len() != input.ring.len() {
            return Err(E::MissingTxOutMembershipProof);
        }
        for (tx_out, proof) in input.ring.iter().zip(&input.proofs) {
            let root_proof = roots.next().ok_or(E::MissingTxOutMembershipProof)?;
            if root_proof.index != proof.highest_index {
                return Err(E::MissingTxOutMembershipProof);
            }
            let derived = membership::derive_proof_at_index(root_proof);
            let root = membership::compute_implied_merkle_root(&derived)
                .map_err(E::InvalidTxOutMembershipProof)?;
            membership::verify_membership_proof(tx_out, proof, &root.hash)
                .map_err(E::InvalidTxOutMembershipProof)?;
        }
    }
    if roots.next().is_some() {
        return Err(E::MissingTxOutMembershipProof);
    }
    Ok(())
}

fn point(bytes: &[u8; 32]) -> Result<RistrettoPoint, RingCtError> {
    CompressedRistretto(*bytes)
        .decompress()
        .ok_or(RingCtError::InvalidCommitment)
}

/// Rule 8: the RingCT signature, in MobileCoin's order.
pub fn verify_signature<R: RngCore + CryptoRng>(tx: &Tx, rng: &mut R) -> Result<(), RingCtError> {
    let s = &tx.signature;
    let prefix = &tx.prefix;
    let n_in = prefix.inputs.len();
    if prefix.inputs.iter().all(|i| i.input_rules.is_some()) {
        return Err(RingCtError::AllRingsPresigned);
    }
    if s.ring_signatures.len() != n_in
        || s.pseudo_output_commitments.len() != n_in
        || s.pseudo_output_token_ids.len() != n_in
        || s.output_token_ids.len() != prefix.outputs.len()
    {
        return Err(RingCtError::LengthMismatch);
    }
    let images: BTreeSet<KeyImage> = tx.key_images().into_iter().collect();
    if images.len() != n_in {
        return Err(RingCtError::DuplicateKeyImage);
    }
    let output_commitments: Vec<[u8; 32]> = prefix
        .outputs
        .iter()
        .map(|o| o.masked_amount().map(|m| m.commitment))
        .collect::<Result<_, _>>()
        .map_err(|_| RingCtError::InvalidCommitment)?;
    let pseudo_points: Vec<RistrettoPoint> = s
        .pseudo_output_commitments
        .iter()
        .map(point)
        .collect::<Result<_, _>>()?;
    let output_points: Vec<RistrettoPoint> = output_commitments
        .iter()
        .map(point)
        .collect::<Result<_, _>>()?;

    if !s.range_proof_bytes.is_empty() {
        return Err(RingCtError::UnexpectedRangeProof);
    }
    let tokens: BTreeSet<u64> = core::iter::once(prefix.fee_token_id)
        .chain(s.pseudo_output_token_ids.iter().copied())
        .chain(s.output_token_ids.iter().copied())
        .collect();
    if tokens.len() != s.range_proofs.len() {
        return Err(RingCtError::MissingRangeProofs {
            expected: tokens.len(),
            found: s.range_proofs.len(),
        });
    }
    for (token, proof) in tokens.iter().zip(&s.range_proofs) {
        let commitments: Vec<[u8; 32]> = s
            .pseudo_output_commitments
            .iter()
            .zip(&s.pseudo_output_token_ids)
            .chain(output_commitments.iter().zip(&s.output_token_ids))
            .filter(|(_, t)| *t == token)
            .map(|(c, _)| *c)
            .collect();
        if commitments.is_empty() {
            return Err(RingCtError::NoCommitmentsForTokenId(*token));
        }
        range_proof::verify(proof, &commitments, TokenId(*token), rng)
            .map_err(RingCtError::RangeProof)?;
    }

    let fee = Scalar::from(prefix.fee) * value_generator(TokenId(prefix.fee_token_id));
    let balance = output_points.iter().sum::<RistrettoPoint>() + fee
        - pseudo_points.iter().sum::<RistrettoPoint>();
    if balance != RistrettoPoint::identity() {
        return Err(RingCtError::ValueNotConserved);
    }

    let digest = tx.signing_digest();
    for ((input, sig), pseudo) in prefix
        .inputs
        .iter()
        .zip(&s.ring_signatures)
        .zip(&s.pseudo_output_commitments)
    {
        let ring = input
            .reduced_ring()
            .map_err(|_| RingCtError::InvalidCommitment)?;
        // An input with rules signed its own digest, not the transaction's.
        let signed = input.signed_digest();
        let message: &[u8] = signed.as_ref().map_or(&digest[..], |d| &d[..]);
        sig.verify(message, &ring, pseudo)
            .map_err(RingCtError::RingSignature)?;
    }
    Ok(())
}

/// The checks that need the ledger: no key image already spent, no output public key
/// already present.
pub fn validate_against_ledger(
    tx: &Tx,
    is_spent: impl Fn(&KeyImage) -> bool,
    public_key_exists: impl Fn(&[u8; 32]) -> bool,
) -> Result<(), TransactionValidationError> {
    if tx.key_images().iter().any(is_spent) {
        return Err(E::ContainsSpentKeyImage);
    }
    if tx.output_public_keys().iter().any(public_key_exists) {
        return Err(E::ContainsExistingOutputPublicKey);
    }
    Ok(())
}
