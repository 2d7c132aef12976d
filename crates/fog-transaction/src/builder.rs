//! Building a valid transaction from owned inputs, rings with membership proofs and
//! recipients.
//!
//! The builder unmasks each real input with the owner's view key, sorts every ring (carrying
//! its proofs) and the inputs, makes the outputs (fog hints to the ingest key a report
//! provided, fake hints for recipients without fog; authenticated sender memos to recipients
//! and a destination memo on the change when a sender credential is set), sorts the outputs,
//! chooses pseudo-output blindings that balance, proves the ranges per token and signs every
//! ring. [`sign_prefix`] is the last half on its own, for callers (and tests) that assemble a
//! prefix themselves.
//!
//! Signed contingent inputs (someone else's input, presigned with rules) join through
//! [`TransactionBuilder::add_presigned_input`] and
//! [`TransactionBuilder::add_presigned_partial_fill_input`] (in [`crate::sci`]): their
//! required outputs are added as given, their MLSAG and pseudo-output are kept, and the
//! pseudo-output blindings of the builder's own inputs balance around them.

use alloc::{collections::BTreeSet, vec::Vec};

use curve25519_dalek::scalar::Scalar;
use fog_account::{AccountKey, PublicAddress};
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;
use zeroize::Zeroize;

use crate::{
    amount::commitment,
    membership::TxOutMembershipProof,
    memo::{self, AuthenticatedId, Memo, MemoPayload, SenderMemoCredential},
    onetime_keys, range_proof,
    ring_signature::{RealInput, RingMlsag, RingSignatureError},
    sci::SignedContingentInput,
    tx::{mlsag_signing_digest, SignatureRctBulletproofs, Tx, TxIn, TxPrefix},
    validation::{MAX_INPUTS, MAX_OUTPUTS},
    Amount, BlockVersion, EncryptedFogHint, FogHint, TokenId, TxOut, TxOutError,
};

/// Why a transaction could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TxBuilderError {
    /// No inputs, or more than 16.
    #[error("a transaction needs 1 to 16 inputs")]
    InputCount,
    /// No outputs, or more than 16.
    #[error("a transaction needs 1 to 16 outputs")]
    OutputCount,
    /// An input's ring and proofs disagree, or its real index is outside the ring.
    #[error("malformed input: {0}")]
    BadInput(&'static str),
    /// The keys given do not own the real input.
    #[error("the keys do not own input {0}")]
    NotOwner(usize),
    /// Inputs of a token do not equal its outputs plus fee.
    #[error("token {token}: inputs {inputs} != outputs {outputs} + fee")]
    ValueNotConserved {
        /// The token.
        token: u64,
        /// Its inputs.
        inputs: u128,
        /// Its outputs plus fee.
        outputs: u128,
    },
    /// A fog recipient without the ingest key its fog hint needs.
    #[error("a fog recipient needs the ingest public key from its report")]
    MissingFogKey,
    /// A TxOut could not be made.
    #[error("output: {0}")]
    TxOut(#[from] TxOutError),
    /// Ring signing failed.
    #[error("ring signature: {0}")]
    RingSignature(#[from] RingSignatureError),
    /// Range proving failed.
    #[error("range proof: {0}")]
    RangeProof(#[from] range_proof::RangeProofError),
}

/// One owned input: its ring (any order), the proofs of every ring member, where the real
/// one is, and the keys that open it.
pub struct InputCredentials {
    /// The ring, the real input among mixins.
    pub ring: Vec<TxOut>,
    /// One proof per ring member, in ring order.
    pub membership_proofs: Vec<TxOutMembershipProof>,
    /// Index of the real input in `ring`.
    pub real_index: usize,
    /// Its one-time private key.
    pub onetime_private_key: RistrettoPrivate,
    /// The owner's account view private key, to unmask the amount.
    pub view_private_key: RistrettoPrivate,
}

/// The secrets of one input that signing needs.
pub struct InputSecret {
    /// One-time private key.
    pub onetime_private_key: RistrettoPrivate,
    /// Index of the real input in the (sorted) ring.
    pub real_index: usize,
    /// Its amount.
    pub amount: Amount,
    /// Its blinding.
    pub blinding: Scalar,
}

impl Drop for InputSecret {
    fn drop(&mut self) {
        self.blinding.zeroize();
    }
}

/// A presigned input (from a signed contingent input): its ring signature, made over its own
/// digest, and the amount and blinding of its pseudo-output.
pub struct PresignedInput {
    /// The ring signature.
    pub mlsag: RingMlsag,
    /// The pseudo-output's amount.
    pub amount: Amount,
    /// The pseudo-output's blinding.
    pub pseudo_output_blinding: Scalar,
}

impl Drop for PresignedInput {
    fn drop(&mut self) {
        self.pseudo_output_blinding.zeroize();
    }
}

/// How one input of a prefix gets its ring signature.
pub enum InputSigner<'a> {
    /// An owned input, signed over the transaction's digest.
    Owned(&'a InputSecret),
    /// A presigned input, kept as it is.
    Presigned(&'a PresignedInput),
}

impl InputSigner<'_> {
    fn amount(&self) -> Amount {
        match self {
            Self::Owned(s) => s.amount,
            Self::Presigned(p) => p.amount,
        }
    }
}

enum PreparedInput {
    Owned(InputSecret),
    Presigned(PresignedInput),
}

/// The amount and blinding of one output, in the prefix's output order.
#[derive(Clone, Copy)]
pub struct OutputSecret {
    /// Its amount.
    pub amount: Amount,
    /// Its blinding.
    pub blinding: Scalar,
}

struct PendingOutput {
    amount: Amount,
    recipient: PublicAddress,
    hint_address: PublicAddress,
    fog_key: Option<RistrettoPublic>,
    change: bool,
}

/// Builds one transaction.
pub struct TransactionBuilder {
    pub(crate) block_version: BlockVersion,
    fee: Amount,
    tombstone_block: u64,
    inputs: Vec<InputCredentials>,
    outputs: Vec<PendingOutput>,
    memo_credential: Option<SenderMemoCredential>,
    /// Signed contingent inputs, with membership proofs.
    pub(crate) presigned: Vec<SignedContingentInput>,
    /// Outputs made elsewhere (an SCI's required and fractional outputs), with secrets.
    pub(crate) fixed_outputs: Vec<(TxOut, OutputSecret)>,
    /// The lowest `max_tombstone_block` of the presigned inputs' rules.
    pub(crate) tombstone_limit: Option<u64>,
}

impl TransactionBuilder {
    /// A builder for `block_version` paying `fee`; the tombstone defaults to 100 blocks past
    /// 0 and should be set.
    pub fn new(block_version: BlockVersion, fee: Amount) -> Self {
        Self {
            block_version,
            fee,
            tombstone_block: 100,
            inputs: Vec::new(),
            outputs: Vec::new(),
            memo_credential: None,
            presigned: Vec::new(),
            fixed_outputs: Vec::new(),
            tombstone_limit: None,
        }
    }

    /// The block index from which the transaction is invalid.
    pub fn set_tombstone_block(&mut self, tombstone_block: u64) -> &mut Self {
        self.tombstone_block = tombstone_block;
        self
    }

    /// Sign recipients' memos as this sender and put a destination memo on the change.
    pub fn set_sender_memo_credential(&mut self, credential: SenderMemoCredential) -> &mut Self {
        self.memo_credential = Some(credential);
        self
    }

    /// Adds an owned input.
    pub fn add_input(&mut self, input: InputCredentials) -> &mut Self {
        self.inputs.push(input);
        self
    }

    /// Pays `amount` to `recipient`. A fog address needs `fog_ingest_key`, the ingest public
    /// key from its validated report.
    pub fn add_output(
        &mut self,
        amount: Amount,
        recipient: &PublicAddress,
        fog_ingest_key: Option<&RistrettoPublic>,
    ) -> &mut Self {
        self.outputs.push(PendingOutput {
            amount,
            recipient: recipient.clone(),
            hint_address: recipient.clone(),
            fog_key: fog_ingest_key.copied(),
            change: false,
        });
        self
    }

    /// Pays `amount` to `recipient` with a fog hint that names `hint_address` instead (as
    /// MobileCoin's builder allows). The builder's own change output uses this shape: change
    /// goes to the change subaddress while the hint names the default one. Nothing ties a
    /// hint to its output, so a sender can name anyone here; fog clients must treat what
    /// view finds as untrusted (a record that is not theirs is skipped).
    pub fn add_output_with_fog_hint_address(
        &mut self,
        amount: Amount,
        recipient: &PublicAddress,
        hint_address: &PublicAddress,
        fog_ingest_key: Option<&RistrettoPublic>,
    ) -> &mut Self {
        self.outputs.push(PendingOutput {
            amount,
            recipient: recipient.clone(),
            hint_address: hint_address.clone(),
            fog_key: fog_ingest_key.copied(),
            change: false,
        });
        self
    }

    /// Returns `amount` to the sender's change subaddress. The fog hint names the default
    /// subaddress, which is what the sender's fog client searches.
    pub fn add_change_output(
        &mut self,
        amount: Amount,
        sender: &AccountKey,
        fog_ingest_key: Option<&RistrettoPublic>,
    ) -> &mut Self {
        self.outputs.push(PendingOutput {
            amount,
            recipient: sender.change_subaddress(),
            hint_address: sender.default_subaddress(),
            fog_key: fog_ingest_key.copied(),
            change: true,
        });
        self
    }

    /// Builds and signs the transaction.
    pub fn build<R: RngCore + CryptoRng>(self, rng: &mut R) -> Result<Tx, TxBuilderError> {
        let n_inputs = self.inputs.len() + self.presigned.len();
        // At least one owned input signs the whole transaction.
        if self.inputs.is_empty() || n_inputs > MAX_INPUTS {
            return Err(TxBuilderError::InputCount);
        }
        let n_outputs = self.outputs.len() + self.fixed_outputs.len();
        if n_outputs == 0 || n_outputs > MAX_OUTPUTS {
            return Err(TxBuilderError::OutputCount);
        }
        // Inputs: unmask, sort rings, sort inputs.
        let mut prepared: Vec<(TxIn, PreparedInput)> = Vec::with_capacity(n_inputs);
        for (n, input) in self.inputs.into_iter().enumerate() {
            if input.ring.len() != input.membership_proofs.len() {
                return Err(TxBuilderError::BadInput(
                    "one proof per ring member is needed",
                ));
            }
            let real = input
                .ring
                .get(input.real_index)
                .ok_or(TxBuilderError::BadInput("real index outside the ring"))?;
            let (amount, shared) = real
                .view_key_match(&input.view_private_key)
                .map_err(|_| TxBuilderError::NotOwner(n))?;
            let (_, blinding) = real
                .masked_amount()?
                .get_value(&shared)
                .map_err(TxOutError::from)?;
            if input.onetime_private_key.public_key().to_bytes() != real.target_key.0 {
                return Err(TxBuilderError::NotOwner(n));
            }
            let real_key = real.public_key;
            let mut members: Vec<(TxOut, TxOutMembershipProof)> = input
                .ring
                .into_iter()
                .zip(input.membership_proofs)
                .collect();
            members.sort_by_key(|m| m.0.public_key);
            let real_index = members
                .iter()
                .position(|(t, _)| t.public_key == real_key)
                .ok_or(TxBuilderError::BadInput("real input lost in sorting"))?;
            let (ring, proofs) = members.into_iter().unzip();
            prepared.push((
                TxIn {
                    ring,
                    proofs,
                    input_rules: None,
                },
                PreparedInput::Owned(InputSecret {
                    onetime_private_key: input.onetime_private_key,
                    real_index,
                    amount,
                    blinding,
                }),
            ));
        }
        for sci in self.presigned {
            if sci.tx_in.ring.len() != sci.tx_in.proofs.len() {
                return Err(TxBuilderError::BadInput(
                    "a presigned input needs one proof per ring member",
                ));
            }
            let amount = Amount::new(
                sci.pseudo_output_amount.value,
                TokenId(sci.pseudo_output_amount.token_id),
            );
            let presigned = PresignedInput {
                mlsag: sci.mlsag.clone(),
                amount,
                pseudo_output_blinding: sci.pseudo_output_amount.blinding,
            };
            prepared.push((sci.tx_in.clone(), PreparedInput::Presigned(presigned)));
        }
        let tombstone_block = match self.tombstone_limit {
            Some(limit) => self.tombstone_block.min(limit),
            None => self.tombstone_block,
        };
        if prepared.iter().any(|(i, _)| i.ring.is_empty()) {
            return Err(TxBuilderError::BadInput("empty ring"));
        }
        prepared.sort_by(|a, b| a.0.ring[0].public_key.cmp(&b.0.ring[0].public_key));
        let amount_of = |p: &PreparedInput| match p {
            PreparedInput::Owned(s) => s.amount,
            PreparedInput::Presigned(s) => s.amount,
        };

        // Balance per token, before anything is signed.
        let tokens: BTreeSet<u64> = prepared
            .iter()
            .map(|(_, s)| amount_of(s).token_id.0)
            .chain(self.outputs.iter().map(|o| o.amount.token_id.0))
            .chain(self.fixed_outputs.iter().map(|o| o.1.amount.token_id.0))
            .chain(core::iter::once(self.fee.token_id.0))
            .collect();
        for token in tokens {
            let inputs: u128 = prepared
                .iter()
                .map(|(_, s)| amount_of(s))
                .filter(|a| a.token_id.0 == token)
                .map(|a| u128::from(a.value))
                .sum();
            let fee = if self.fee.token_id.0 == token {
                u128::from(self.fee.value)
            } else {
                0
            };
            let outputs: u128 = self
                .outputs
                .iter()
                .filter(|o| o.amount.token_id.0 == token)
                .map(|o| u128::from(o.amount.value))
                .chain(
                    self.fixed_outputs
                        .iter()
                        .filter(|o| o.1.amount.token_id.0 == token)
                        .map(|o| u128::from(o.1.amount.value)),
                )
                .sum::<u128>()
                + fee;
            if inputs != outputs {
                return Err(TxBuilderError::ValueNotConserved {
                    token,
                    inputs,
                    outputs,
                });
            }
        }

        // Outputs.
        let recipients: Vec<&PendingOutput> = self.outputs.iter().filter(|o| !o.change).collect();
        let total_outlay = recipients
            .iter()
            .filter(|o| o.amount.token_id == self.fee.token_id)
            .fold(self.fee.value, |acc, o| acc.saturating_add(o.amount.value));
        let destination_hash = match recipients.as_slice() {
            [only] => only.recipient.short_address_hash(),
            _ => fog_account::ShortAddressHash::default(),
        };
        let mut made: Vec<(TxOut, OutputSecret)> = Vec::with_capacity(self.outputs.len());
        for out in &self.outputs {
            let hint = match (out.hint_address.fog_report_url(), &out.fog_key) {
                (None, _) => EncryptedFogHint::fake_onetime_hint(rng),
                (Some(_), Some(key)) => FogHint::from_address(&out.hint_address).encrypt(key, rng),
                (Some(_), None) => return Err(TxBuilderError::MissingFogKey),
            };
            let r = RistrettoPrivate::random(rng);
            let credential = self.memo_credential.as_ref();
            let tx_out = TxOut::new_with_memo(
                self.block_version,
                out.amount,
                &out.recipient,
                &r,
                hint,
                |ctx| match (credential, out.change) {
                    (None, _) => Ok(MemoPayload::default()),
                    (Some(c), false) => Ok(memo::authenticated_sender_memo(
                        c,
                        out.recipient.view_public_key(),
                        ctx.tx_public_key.as_bytes(),
                        AuthenticatedId::None,
                    )),
                    (Some(_), true) => Memo::Destination {
                        address_hash: destination_hash,
                        num_recipients: u8::try_from(recipients.len()).unwrap_or(u8::MAX),
                        fee: self.fee.value,
                        total_outlay,
                        id: AuthenticatedId::None,
                    }
                    .to_payload(),
                },
            )?;
            let shared = onetime_keys::create_shared_secret(out.recipient.view_public_key(), &r);
            let (_, blinding) = tx_out
                .masked_amount()?
                .get_value(&shared)
                .map_err(TxOutError::from)?;
            made.push((
                tx_out,
                OutputSecret {
                    amount: out.amount,
                    blinding,
                },
            ));
        }
        made.extend(self.fixed_outputs);
        if self.block_version.masked_amount_v2_is_supported() {
            made.sort_by_key(|m| m.0.public_key);
        }
        let (outputs, output_secrets): (Vec<TxOut>, Vec<OutputSecret>) = made.into_iter().unzip();
        let (inputs, input_secrets): (Vec<TxIn>, Vec<PreparedInput>) = prepared.into_iter().unzip();
        let prefix = TxPrefix {
            inputs,
            outputs,
            fee: self.fee.value,
            tombstone_block,
            fee_token_id: self.fee.token_id.0,
        };
        let signers: Vec<InputSigner<'_>> = input_secrets
            .iter()
            .map(|p| match p {
                PreparedInput::Owned(s) => InputSigner::Owned(s),
                PreparedInput::Presigned(s) => InputSigner::Presigned(s),
            })
            .collect();
        sign_prefix_with_presigned(prefix, &signers, &output_secrets, rng)
    }
}

/// Signs a prefix: pseudo-outputs that balance, one range proof per token, one MLSAG per
/// input. `inputs` and `outputs` follow the prefix's order. The prefix is not checked against
/// the rules; [`crate::validation::validate`] does that.
pub fn sign_prefix<R: RngCore + CryptoRng>(
    prefix: TxPrefix,
    inputs: &[InputSecret],
    outputs: &[OutputSecret],
    rng: &mut R,
) -> Result<Tx, TxBuilderError> {
    let signers: Vec<InputSigner<'_>> = inputs.iter().map(InputSigner::Owned).collect();
    sign_prefix_with_presigned(prefix, &signers, outputs, rng)
}

/// [`sign_prefix`] with presigned inputs among the owned ones: a presigned input keeps its
/// MLSAG and pseudo-output blinding, and the last owned input's pseudo-output blinding
/// balances the rest. At least one input must be owned.
pub fn sign_prefix_with_presigned<R: RngCore + CryptoRng>(
    prefix: TxPrefix,
    inputs: &[InputSigner<'_>],
    outputs: &[OutputSecret],
    rng: &mut R,
) -> Result<Tx, TxBuilderError> {
    if inputs.len() != prefix.inputs.len() || inputs.is_empty() {
        return Err(TxBuilderError::InputCount);
    }
    if outputs.len() != prefix.outputs.len() || outputs.is_empty() {
        return Err(TxBuilderError::OutputCount);
    }
    let last_owned = inputs
        .iter()
        .rposition(|i| matches!(i, InputSigner::Owned(_)))
        .ok_or(TxBuilderError::InputCount)?;
    // Pseudo-output blindings sum to the output blindings (the fee has blinding 0).
    let output_sum: Scalar = outputs.iter().map(|o| o.blinding).sum();
    let mut pseudo_blindings: Vec<Scalar> = inputs
        .iter()
        .enumerate()
        .map(|(n, i)| match i {
            InputSigner::Presigned(p) => p.pseudo_output_blinding,
            InputSigner::Owned(_) if n == last_owned => Scalar::ZERO,
            InputSigner::Owned(_) => Scalar::random(rng),
        })
        .collect();
    let partial: Scalar = pseudo_blindings.iter().sum();
    pseudo_blindings[last_owned] = output_sum - partial;
    let pseudo_output_commitments: Vec<[u8; 32]> = inputs
        .iter()
        .zip(&pseudo_blindings)
        .map(|(i, b)| commitment(i.amount().value, i.amount().token_id, b))
        .collect();
    let pseudo_output_token_ids: Vec<u64> = inputs.iter().map(|i| i.amount().token_id.0).collect();
    let output_token_ids: Vec<u64> = outputs.iter().map(|o| o.amount.token_id.0).collect();

    let tokens: BTreeSet<u64> = core::iter::once(prefix.fee_token_id)
        .chain(pseudo_output_token_ids.iter().copied())
        .chain(output_token_ids.iter().copied())
        .collect();
    let mut range_proofs = Vec::with_capacity(tokens.len());
    for token in tokens {
        let (values, blindings): (Vec<u64>, Vec<Scalar>) = inputs
            .iter()
            .zip(&pseudo_blindings)
            .map(|(i, b)| (i.amount(), *b))
            .chain(outputs.iter().map(|o| (o.amount, o.blinding)))
            .filter(|(a, _)| a.token_id.0 == token)
            .map(|(a, b)| (a.value, b))
            .unzip();
        let (proof, _) = range_proof::prove(&values, &blindings, TokenId(token), rng)?;
        range_proofs.push(proof);
    }

    let digest = mlsag_signing_digest(&prefix, &pseudo_output_commitments, &[], &range_proofs);
    let mut ring_signatures = Vec::with_capacity(inputs.len());
    for ((input, signer), pseudo_blinding) in
        prefix.inputs.iter().zip(inputs).zip(&pseudo_blindings)
    {
        let secret = match signer {
            InputSigner::Owned(secret) => secret,
            InputSigner::Presigned(p) => {
                ring_signatures.push(p.mlsag.clone());
                continue;
            }
        };
        let ring = input.reduced_ring()?;
        let real = RealInput {
            index: secret.real_index,
            onetime_private_key: &secret.onetime_private_key,
            value: secret.amount.value,
            blinding: secret.blinding,
        };
        let generator = crate::amount::value_generator(secret.amount.token_id);
        ring_signatures.push(RingMlsag::sign(
            &digest,
            &ring,
            &real,
            pseudo_blinding,
            &generator,
            rng,
        )?);
    }
    for b in &mut pseudo_blindings {
        b.zeroize();
    }
    Ok(Tx {
        prefix,
        signature: SignatureRctBulletproofs {
            ring_signatures,
            pseudo_output_commitments,
            range_proof_bytes: Vec::new(),
            range_proofs,
            pseudo_output_token_ids,
            output_token_ids,
        },
        fee_map_digest: Vec::new(),
    })
}
