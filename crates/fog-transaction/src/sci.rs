//! Signed contingent inputs (MCIP 31, partial fills MCIP 42): an offer that is half of a
//! transaction.
//!
//! The maker signs one of their inputs with [`InputRules`] attached: "this input may be
//! spent only by a transaction that pays me these outputs" (and, for a partial fill, "in
//! proportion to how much of it you take"). The MLSAG signs the input's own digest
//! ([`TxIn::signed_digest`]: ring and rules, not the membership proofs), so the signature
//! holds whatever else the transaction contains. The result, a [`SignedContingentInput`],
//! carries what a taker needs to finish the transaction: the pseudo-output's amount and
//! blinding, the amount and blinding of every required output (to balance and range-prove
//! them) and the ledger index of every ring member (to fetch fresh membership proofs).
//!
//! The taker checks it ([`SignedContingentInput::validate`]), attaches proofs
//! ([`SignedContingentInput::set_membership_proofs`]) and adds it to a
//! [`TransactionBuilder`] with their own inputs: [`TransactionBuilder::add_presigned_input`]
//! for a full fill, [`TransactionBuilder::add_presigned_partial_fill_input`] for a partial
//! one. The node then checks the rules ([`crate::validation`], rule 15).
//!
//! The protobuf form is MobileCoin's `external.SignedContingentInput`, so offers interoperate
//! with MobileCoin's tools. Unlike MobileCoin, Fog refuses non-canonical scalars when decoding
//! (as it does for transactions), and [`SignedContingentInput::validate`] also refuses a
//! block version without signed contingent inputs.

use alloc::vec::Vec;
use core::fmt;

use curve25519_dalek::scalar::Scalar;
use fog_account::{AccountKey, PublicAddress};
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use prost::Message;
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;
use zeroize::Zeroize;

use crate::{
    amount::{amount_shared_secret, commitment, value_generator},
    builder::{InputCredentials, OutputSecret, TransactionBuilder, TxBuilderError},
    input_rules::{InputRules, RevealedTxOut, RevealedTxOutError},
    membership::TxOutMembershipProof,
    onetime_keys,
    ring_signature::{RealInput, RingMlsag, RingSignatureError},
    tx::{scalar, TxDecodeError, TxIn},
    wire, Amount, BlockVersion, EncryptedFogHint, FogHint, KeyImage, TokenId, TxOut, TxOutError,
};

/// A commitment's value, token and blinding, in the open.
#[derive(Clone, PartialEq, Eq)]
pub struct UnmaskedAmount {
    /// Value.
    pub value: u64,
    /// Token id.
    pub token_id: u64,
    /// Blinding factor.
    pub blinding: Scalar,
}

impl fmt::Debug for UnmaskedAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnmaskedAmount")
            .field("value", &self.value)
            .field("token_id", &self.token_id)
            .field("blinding", &"<redacted>")
            .finish()
    }
}

impl Drop for UnmaskedAmount {
    fn drop(&mut self) {
        self.blinding.zeroize();
    }
}

impl UnmaskedAmount {
    /// The amount.
    pub fn amount(&self) -> Amount {
        Amount::new(self.value, TokenId(self.token_id))
    }

    /// The compressed commitment `value·H_t + blinding·G`.
    pub fn commitment(&self) -> [u8; 32] {
        commitment(self.value, TokenId(self.token_id), &self.blinding)
    }

    fn from_secret(s: &OutputSecret) -> Self {
        Self {
            value: s.amount.value,
            token_id: s.amount.token_id.0,
            blinding: s.blinding,
        }
    }

    fn to_secret(&self) -> OutputSecret {
        OutputSecret {
            amount: self.amount(),
            blinding: self.blinding,
        }
    }

    /// Protobuf form.
    pub fn to_wire(&self) -> wire::UnmaskedAmount {
        wire::UnmaskedAmount {
            value: self.value,
            token_id: self.token_id,
            blinding: Some(wire::CurveScalar {
                data: self.blinding.to_bytes().to_vec(),
            }),
        }
    }

    /// From the protobuf form; the blinding must be a canonical scalar.
    pub fn try_from_wire(w: &wire::UnmaskedAmount) -> Result<Self, TxDecodeError> {
        let b = w
            .blinding
            .as_ref()
            .ok_or(TxDecodeError::Field("unmasked_amount.blinding"))?;
        Ok(Self {
            value: w.value,
            token_id: w.token_id,
            blinding: scalar(&b.data, "unmasked_amount.blinding")?,
        })
    }
}

/// An input signed with rules, ready for a counterparty to complete (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedContingentInput {
    /// The block version whose rules the signature was made for.
    pub block_version: u32,
    /// The signed input: ring (sorted), rules, and membership proofs once the taker adds
    /// them (they are not signed).
    pub tx_in: TxIn,
    /// The ring signature over `tx_in.signed_digest()`.
    pub mlsag: RingMlsag,
    /// The pseudo-output's amount and blinding.
    pub pseudo_output_amount: UnmaskedAmount,
    /// The amount and blinding of each required output, in the rules' order.
    pub required_output_amounts: Vec<UnmaskedAmount>,
    /// The ledger index of each ring member, in ring order.
    pub tx_out_global_indices: Vec<u64>,
}

/// Why a signed contingent input was refused, or could not be made or used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SciError {
    /// Not one amount per required output.
    #[error("the number of required output amounts does not match the required outputs")]
    WrongNumberOfRequiredOutputAmounts,
    /// Not one global index per ring member.
    #[error("the number of global indices does not match the ring")]
    WrongNumberOfGlobalIndices,
    /// A required output does not commit to its claimed amount.
    #[error("a required output does not match its claimed amount")]
    RequiredOutputMismatch,
    /// The input carries no rules.
    #[error("the input has no rules")]
    MissingRules,
    /// No membership proofs (or not one per ring member, or not for the claimed indices).
    #[error("membership proofs are missing or do not match the ring")]
    MissingProofs,
    /// The ring signature does not verify over the input's digest and pseudo-output.
    #[error("ring signature: {0}")]
    RingSignature(#[from] RingSignatureError),
    /// A TxOut in it is malformed.
    #[error("TxOut: {0}")]
    TxOut(#[from] TxOutError),
    /// A partial-fill offer given to the full-fill call.
    #[error("a partial fill input needs add_presigned_partial_fill_input")]
    PartialFillInputNotAllowedHere,
    /// Partial fill outputs or a minimum fill without a partial fill change.
    #[error("missing partial fill change output")]
    MissingPartialFillChange,
    /// The partial fill change is zero.
    #[error("the partial fill change is zero")]
    ZeroPartialFillChange,
    /// A partial fill output asks for nothing (MobileCoin refuses it too).
    #[error("a partial fill output is zero")]
    ZeroPartialFillOutput,
    /// The minimum fill exceeds the partial fill change.
    #[error("min partial fill value exceeds the partial fill change")]
    MinPartialFillValueExceedsPartialChange,
    /// The change asked for is of another token than the offer's.
    #[error("token id mismatch")]
    TokenIdMismatch,
    /// The change asked for leaves less than the minimum fill.
    #[error("change value exceeds the limit the input rules impose")]
    ChangeLimitExceeded,
    /// A revealed TxOut could not be opened.
    #[error("revealed TxOut: {0}")]
    RevealedTxOut(#[from] RevealedTxOutError),
    /// The block version has no signed contingent inputs (or is unknown).
    #[error("signed contingent inputs are not supported at block version {0}")]
    FeatureNotSupportedAtBlockVersion(u32),
    /// The offer was signed for another block version than the transaction's.
    #[error("block version mismatch: transaction {builder}, offer {sci}")]
    BlockVersionMismatch {
        /// The transaction's.
        builder: u32,
        /// The offer's.
        sci: u32,
    },
    /// The bytes are not a signed contingent input.
    #[error("decode: {0}")]
    Decode(#[from] TxDecodeError),
    /// Building the offer failed.
    #[error("build: {0}")]
    Build(#[from] TxBuilderError),
}

impl SignedContingentInput {
    /// The key image of the offered input: once it is in the ledger, the offer is spent (or
    /// cancelled).
    pub fn key_image(&self) -> KeyImage {
        self.mlsag.key_image
    }

    /// The rules, if any.
    pub fn rules(&self) -> Option<&InputRules> {
        self.tx_in.input_rules.as_ref()
    }

    /// Checks that the offer is well formed: a block version with signed contingent inputs;
    /// one global index per ring member; the MLSAG signs the input's digest with the claimed
    /// pseudo-output; each required output commits to its claimed amount; partial-fill rules
    /// are coherent (a nonzero change at least the minimum fill, every template readable).
    /// Tombstone, membership proofs and the key image's freshness are checked when the
    /// offer is used.
    pub fn validate(&self) -> Result<(), SciError> {
        let supported = BlockVersion::new(self.block_version)
            .is_some_and(BlockVersion::masked_amount_v2_is_supported);
        if !supported {
            return Err(SciError::FeatureNotSupportedAtBlockVersion(
                self.block_version,
            ));
        }
        if self.tx_out_global_indices.len() != self.tx_in.ring.len() {
            return Err(SciError::WrongNumberOfGlobalIndices);
        }
        let pseudo_output = self.pseudo_output_amount.commitment();
        let digest = self.tx_in.signed_digest().ok_or(SciError::MissingRules)?;
        let ring = self.tx_in.reduced_ring()?;
        self.mlsag.verify(&digest, &ring, &pseudo_output)?;
        let rules = self.rules().ok_or(SciError::MissingRules)?;
        if self.required_output_amounts.len() != rules.required_outputs.len() {
            return Err(SciError::WrongNumberOfRequiredOutputAmounts);
        }
        for (amount, output) in self
            .required_output_amounts
            .iter()
            .zip(&rules.required_outputs)
        {
            if amount.commitment() != output.masked_amount()?.commitment {
                return Err(SciError::RequiredOutputMismatch);
            }
        }
        if let Some(change) = rules.partial_fill_change.as_ref() {
            let (amount, _) = change.reveal_amount()?;
            if rules.min_partial_fill_value > amount.value {
                return Err(SciError::MinPartialFillValueExceedsPartialChange);
            }
            if amount.value == 0 {
                return Err(SciError::ZeroPartialFillChange);
            }
            for output in &rules.partial_fill_outputs {
                let (amount, _) = output.reveal_amount()?;
                if amount.value == 0 {
                    return Err(SciError::ZeroPartialFillOutput);
                }
            }
        } else if !rules.partial_fill_outputs.is_empty() || rules.min_partial_fill_value != 0 {
            return Err(SciError::MissingPartialFillChange);
        }
        Ok(())
    }

    /// Attaches membership proofs for the ring (not signed, so they can be fresh). Each
    /// proof must be for the ring member's claimed global index.
    pub fn set_membership_proofs(
        &mut self,
        proofs: Vec<TxOutMembershipProof>,
    ) -> Result<(), SciError> {
        if proofs.len() != self.tx_in.ring.len()
            || proofs
                .iter()
                .zip(&self.tx_out_global_indices)
                .any(|(p, i)| p.index != *i)
        {
            return Err(SciError::MissingProofs);
        }
        self.tx_in.proofs = proofs;
        Ok(())
    }

    /// Protobuf form (`external.SignedContingentInput`).
    pub fn to_wire(&self) -> wire::SignedContingentInput {
        wire::SignedContingentInput {
            block_version: self.block_version,
            tx_in: Some(self.tx_in.to_wire()),
            mlsag: Some(self.mlsag.to_wire()),
            pseudo_output_amount: Some(self.pseudo_output_amount.to_wire()),
            required_output_amounts: self
                .required_output_amounts
                .iter()
                .map(UnmaskedAmount::to_wire)
                .collect(),
            tx_out_global_indices: self.tx_out_global_indices.clone(),
        }
    }

    /// From the protobuf form. Only the encoding is checked; call [`Self::validate`].
    pub fn try_from_wire(w: &wire::SignedContingentInput) -> Result<Self, TxDecodeError> {
        Ok(Self {
            block_version: w.block_version,
            tx_in: TxIn::try_from_wire(w.tx_in.as_ref().ok_or(TxDecodeError::Field("tx_in"))?)?,
            mlsag: RingMlsag::try_from_wire(
                w.mlsag.as_ref().ok_or(TxDecodeError::Field("mlsag"))?,
            )?,
            pseudo_output_amount: UnmaskedAmount::try_from_wire(
                w.pseudo_output_amount
                    .as_ref()
                    .ok_or(TxDecodeError::Field("pseudo_output_amount"))?,
            )?,
            required_output_amounts: w
                .required_output_amounts
                .iter()
                .map(UnmaskedAmount::try_from_wire)
                .collect::<Result<_, _>>()?,
            tx_out_global_indices: w.tx_out_global_indices.clone(),
        })
    }

    /// Protobuf bytes.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// From protobuf bytes (encoding only; call [`Self::validate`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, SciError> {
        let w = wire::SignedContingentInput::decode(bytes)
            .map_err(|_| SciError::Decode(TxDecodeError::Protobuf))?;
        Ok(Self::try_from_wire(&w)?)
    }
}

/// Makes a TxOut of `amount` to `recipient` (fog hint naming `hint_address`), returning it
/// with its blinding and amount shared secret.
fn make_output<R: RngCore + CryptoRng>(
    block_version: BlockVersion,
    amount: Amount,
    recipient: &PublicAddress,
    hint_address: &PublicAddress,
    fog_ingest_key: Option<&RistrettoPublic>,
    rng: &mut R,
) -> Result<(TxOut, OutputSecret, [u8; 32]), TxBuilderError> {
    let hint = match (hint_address.fog_report_url(), fog_ingest_key) {
        (None, _) => EncryptedFogHint::fake_onetime_hint(rng),
        (Some(_), Some(key)) => FogHint::from_address(hint_address).encrypt(key, rng),
        (Some(_), None) => return Err(TxBuilderError::MissingFogKey),
    };
    let r = RistrettoPrivate::random(rng);
    let tx_out = TxOut::new(block_version, amount, recipient, &r, hint)?;
    let shared = onetime_keys::create_shared_secret(recipient.view_public_key(), &r);
    let (_, blinding) = tx_out
        .masked_amount()?
        .get_value(&shared)
        .map_err(TxOutError::from)?;
    Ok((
        tx_out,
        OutputSecret { amount, blinding },
        amount_shared_secret(&shared),
    ))
}

/// Where [`SignedContingentInputBuilder::add_output`] puts an output in the rules.
enum Rule {
    /// `required_outputs`.
    Required,
    /// `partial_fill_outputs`.
    PartialFill,
    /// `partial_fill_change` (replacing any earlier one).
    PartialFillChange,
}

/// Makes a [`SignedContingentInput`] from one owned input: the maker's side of a swap.
pub struct SignedContingentInputBuilder {
    block_version: BlockVersion,
    input: InputCredentials,
    required: Vec<(TxOut, OutputSecret)>,
    partial_fill_outputs: Vec<RevealedTxOut>,
    partial_fill_change: Option<RevealedTxOut>,
    min_partial_fill_value: u64,
    max_tombstone_block: u64,
}

impl SignedContingentInputBuilder {
    /// An offer of `input` (its ring's proofs give the global indices) at `block_version`.
    pub fn new(block_version: BlockVersion, input: InputCredentials) -> Self {
        Self {
            block_version,
            input,
            required: Vec::new(),
            partial_fill_outputs: Vec::new(),
            partial_fill_change: None,
            min_partial_fill_value: 0,
            max_tombstone_block: 0,
        }
    }

    /// The transaction must pay exactly this output (full fill).
    pub fn add_required_output<R: RngCore + CryptoRng>(
        &mut self,
        amount: Amount,
        recipient: &PublicAddress,
        fog_ingest_key: Option<&RistrettoPublic>,
        rng: &mut R,
    ) -> Result<TxOut, SciError> {
        self.add_output(
            Rule::Required,
            amount,
            recipient,
            recipient,
            fog_ingest_key,
            rng,
        )
    }

    /// The transaction must return this much to the maker's change subaddress (the rest of a
    /// fully taken input that is worth more than the offer).
    pub fn add_required_change_output<R: RngCore + CryptoRng>(
        &mut self,
        amount: Amount,
        maker: &AccountKey,
        fog_ingest_key: Option<&RistrettoPublic>,
        rng: &mut R,
    ) -> Result<TxOut, SciError> {
        let (change, hint) = (maker.change_subaddress(), maker.default_subaddress());
        self.add_output(Rule::Required, amount, &change, &hint, fog_ingest_key, rng)
    }

    /// The transaction must pay at least the fill fraction of this output.
    pub fn add_partial_fill_output<R: RngCore + CryptoRng>(
        &mut self,
        amount: Amount,
        recipient: &PublicAddress,
        fog_ingest_key: Option<&RistrettoPublic>,
        rng: &mut R,
    ) -> Result<TxOut, SciError> {
        self.add_output(
            Rule::PartialFill,
            amount,
            recipient,
            recipient,
            fog_ingest_key,
            rng,
        )
    }

    /// The partial fill change: what the maker gets back if nothing is taken (normally the
    /// whole input value). The taker returns part of it; the part kept sets the fill
    /// fraction.
    pub fn add_partial_fill_change_output<R: RngCore + CryptoRng>(
        &mut self,
        amount: Amount,
        maker: &AccountKey,
        fog_ingest_key: Option<&RistrettoPublic>,
        rng: &mut R,
    ) -> Result<TxOut, SciError> {
        let (change, hint) = (maker.change_subaddress(), maker.default_subaddress());
        self.add_output(
            Rule::PartialFillChange,
            amount,
            &change,
            &hint,
            fog_ingest_key,
            rng,
        )
    }

    /// Makes an output of `amount` to `recipient` (fog hint naming `hint_address`) and puts it
    /// where `rule` says: a required output keeps its secret for the offer's revealed amounts,
    /// a partial-fill output or change keeps its amount shared secret. Returns the output.
    fn add_output<R: RngCore + CryptoRng>(
        &mut self,
        rule: Rule,
        amount: Amount,
        recipient: &PublicAddress,
        hint_address: &PublicAddress,
        fog_ingest_key: Option<&RistrettoPublic>,
        rng: &mut R,
    ) -> Result<TxOut, SciError> {
        let (tx_out, secret, ss) = make_output(
            self.block_version,
            amount,
            recipient,
            hint_address,
            fog_ingest_key,
            rng,
        )?;
        let revealed = || RevealedTxOut {
            tx_out: tx_out.clone(),
            amount_shared_secret: ss.to_vec(),
        };
        match rule {
            Rule::Required => self.required.push((tx_out.clone(), secret)),
            Rule::PartialFill => self.partial_fill_outputs.push(revealed()),
            Rule::PartialFillChange => self.partial_fill_change = Some(revealed()),
        }
        Ok(tx_out)
    }

    /// The least value of the input a taker must keep (0 = none).
    pub fn set_min_partial_fill_value(&mut self, value: u64) -> &mut Self {
        self.min_partial_fill_value = value;
        self
    }

    /// The latest tombstone block of the completing transaction (0 = none).
    pub fn set_max_tombstone_block(&mut self, block: u64) -> &mut Self {
        self.max_tombstone_block = block;
        self
    }

    /// Signs the input over its digest and packs the offer.
    pub fn build<R: RngCore + CryptoRng>(
        mut self,
        rng: &mut R,
    ) -> Result<SignedContingentInput, SciError> {
        if !self.block_version.masked_amount_v2_is_supported() {
            return Err(SciError::FeatureNotSupportedAtBlockVersion(
                self.block_version.get(),
            ));
        }
        let input = self.input;
        if input.ring.len() != input.membership_proofs.len() || input.ring.is_empty() {
            return Err(TxBuilderError::BadInput("one proof per ring member is needed").into());
        }
        let real = input
            .ring
            .get(input.real_index)
            .ok_or(TxBuilderError::BadInput("real index outside the ring"))?;
        let (amount, shared) = real
            .view_key_match(&input.view_private_key)
            .map_err(|_| TxBuilderError::NotOwner(0))?;
        let (_, blinding) = real
            .masked_amount()?
            .get_value(&shared)
            .map_err(TxOutError::from)?;
        if input.onetime_private_key.public_key().to_bytes() != real.target_key.0 {
            return Err(TxBuilderError::NotOwner(0).into());
        }
        let real_key = real.public_key;
        let mut members: Vec<(TxOut, u64)> = input
            .ring
            .into_iter()
            .zip(input.membership_proofs.iter().map(|p| p.index))
            .collect();
        members.sort_by_key(|m| m.0.public_key);
        let real_index = members
            .iter()
            .position(|(t, _)| t.public_key == real_key)
            .ok_or(TxBuilderError::BadInput("real input lost in sorting"))?;
        let (ring, tx_out_global_indices): (Vec<TxOut>, Vec<u64>) = members.into_iter().unzip();

        self.required.sort_by_key(|r| r.0.public_key);
        self.partial_fill_outputs
            .sort_by_key(|r| r.tx_out.public_key);
        let (required_outputs, required_secrets): (Vec<TxOut>, Vec<OutputSecret>) =
            self.required.into_iter().unzip();
        let rules = InputRules {
            required_outputs,
            max_tombstone_block: self.max_tombstone_block,
            partial_fill_outputs: self.partial_fill_outputs,
            partial_fill_change: self.partial_fill_change,
            min_partial_fill_value: self.min_partial_fill_value,
        };
        let tx_in = TxIn {
            ring,
            proofs: Vec::new(),
            input_rules: Some(rules),
        };
        let digest = tx_in.signed_digest().ok_or(SciError::MissingRules)?;
        let reduced = tx_in.reduced_ring()?;
        let pseudo_output_blinding = Scalar::random(rng);
        let real_input = RealInput {
            index: real_index,
            onetime_private_key: &input.onetime_private_key,
            value: amount.value,
            blinding,
        };
        let mlsag = RingMlsag::sign(
            &digest,
            &reduced,
            &real_input,
            &pseudo_output_blinding,
            &value_generator(amount.token_id),
            rng,
        )?;
        let sci = SignedContingentInput {
            block_version: self.block_version.get(),
            tx_in,
            mlsag,
            pseudo_output_amount: UnmaskedAmount {
                value: amount.value,
                token_id: amount.token_id.0,
                blinding: pseudo_output_blinding,
            },
            required_output_amounts: required_secrets
                .iter()
                .map(UnmaskedAmount::from_secret)
                .collect(),
            tx_out_global_indices,
        };
        sci.validate()?;
        Ok(sci)
    }
}

impl TransactionBuilder {
    fn add_presigned_input_helper(&mut self, sci: SignedContingentInput) -> Result<(), SciError> {
        if self.block_version.get() != sci.block_version {
            return Err(SciError::BlockVersionMismatch {
                builder: self.block_version.get(),
                sci: sci.block_version,
            });
        }
        if sci.tx_in.ring.len() != sci.tx_in.proofs.len() {
            return Err(SciError::MissingProofs);
        }
        let rules = sci.rules().ok_or(SciError::MissingRules)?;
        if rules.required_outputs.len() != sci.required_output_amounts.len() {
            return Err(SciError::WrongNumberOfRequiredOutputAmounts);
        }
        for (output, amount) in rules
            .required_outputs
            .iter()
            .zip(&sci.required_output_amounts)
        {
            if !self.fixed_outputs.iter().any(|(o, _)| o == output) {
                self.fixed_outputs
                    .push((output.clone(), amount.to_secret()));
            }
        }
        if rules.max_tombstone_block != 0 {
            let limit = self.tombstone_limit.map_or(rules.max_tombstone_block, |l| {
                l.min(rules.max_tombstone_block)
            });
            self.tombstone_limit = Some(limit);
        }
        self.presigned.push(sci);
        Ok(())
    }

    /// Adds someone's signed contingent input, filled fully: its required outputs join the
    /// transaction as they are and its tombstone limit applies. The offer must carry
    /// membership proofs ([`SignedContingentInput::set_membership_proofs`]) and should have
    /// been checked ([`SignedContingentInput::validate`], key image unspent). A partial-fill
    /// offer is refused here.
    pub fn add_presigned_input(&mut self, sci: SignedContingentInput) -> Result<(), SciError> {
        if let Some(rules) = sci.rules() {
            if rules.partial_fill_change.is_some()
                || !rules.partial_fill_outputs.is_empty()
                || rules.min_partial_fill_value != 0
            {
                return Err(SciError::PartialFillInputNotAllowedHere);
            }
        }
        self.add_presigned_input_helper(sci)
    }

    /// Adds a partial-fill offer, returning `sci_change_amount` of its input to the maker:
    /// the fill fraction is `(C − change) / C` for the partial fill change `C`, and each
    /// partial fill output is paid that fraction of its value, rounded up. Returns the
    /// amounts paid, in the rules' order.
    pub fn add_presigned_partial_fill_input(
        &mut self,
        sci: SignedContingentInput,
        sci_change_amount: Amount,
    ) -> Result<Vec<Amount>, SciError> {
        if !self.block_version.masked_amount_v2_is_supported() {
            return Err(SciError::FeatureNotSupportedAtBlockVersion(
                self.block_version.get(),
            ));
        }
        if sci.tx_in.ring.len() != sci.tx_in.proofs.len() {
            return Err(SciError::MissingProofs);
        }
        let rules = sci.rules().ok_or(SciError::MissingRules)?;
        let change = rules
            .partial_fill_change
            .as_ref()
            .ok_or(SciError::MissingPartialFillChange)?;
        let (change_amount, change_blinding) = change.reveal_amount()?;
        if change_amount.value == 0 {
            return Err(SciError::ZeroPartialFillChange);
        }
        if rules.min_partial_fill_value > change_amount.value {
            return Err(SciError::MinPartialFillValueExceedsPartialChange);
        }
        if change_amount.token_id != sci_change_amount.token_id {
            return Err(SciError::TokenIdMismatch);
        }
        if change_amount.value - rules.min_partial_fill_value < sci_change_amount.value {
            return Err(SciError::ChangeLimitExceeded);
        }
        let num = u128::from(change_amount.value - sci_change_amount.value);
        let denom = u128::from(change_amount.value);
        let mut fixed = Vec::with_capacity(rules.partial_fill_outputs.len() + 1);
        let mut paid = Vec::with_capacity(rules.partial_fill_outputs.len());
        for template in &rules.partial_fill_outputs {
            let (amount, blinding) = template.reveal_amount()?;
            // ceil(value · num / denom) ≤ value, since num ≤ denom.
            let value = (u128::from(amount.value) * num).div_ceil(denom);
            let value = u64::try_from(value).map_err(|_| SciError::ChangeLimitExceeded)?;
            let fractional = Amount::new(value, amount.token_id);
            let tx_out = template.change_committed_amount(fractional)?;
            fixed.push((
                tx_out,
                OutputSecret {
                    amount: fractional,
                    blinding,
                },
            ));
            paid.push(fractional);
        }
        fixed.push((
            change.change_committed_amount(sci_change_amount)?,
            OutputSecret {
                amount: sci_change_amount,
                blinding: change_blinding,
            },
        ));
        self.add_presigned_input_helper(sci)?;
        self.fixed_outputs.extend(fixed);
        Ok(paid)
    }
}
