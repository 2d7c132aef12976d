//! Transactions: `Tx` = prefix (inputs, outputs, fee, tombstone) + RingCT signature, their
//! protobuf form and their hashes, as MobileCoin defines them for block version 3 and later.
//!
//! Hashes use the digestible scheme: the prefix hash (`"mobilecoin-tx-prefix"`) is the base
//! of what the ring signatures sign; the tx hash (`"mobilecoin-tx"`) names the whole
//! transaction. From block version 3 the MLSAGs sign a digest of the prefix hash, the
//! pseudo-output commitments, the range proofs and a [`TxSummary`].

use alloc::vec::Vec;

use curve25519_dalek::scalar::Scalar;
use fog_crypto::digestible::{Agg, DigestTranscript, Digestible};
use prost::Message;
use thiserror::Error;

use crate::{
    amount::MaskedAmount,
    input_rules::InputRules,
    membership::{MembershipProofError, TxOutMembershipProof},
    ring_signature::{ReducedTxOut, RingMlsag},
    wire, KeyImage, TxOut, TxOutError,
};

/// One input: a ring of TxOuts, one of them spent, with their membership proofs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxIn {
    /// The ring, sorted by public key.
    pub ring: Vec<TxOut>,
    /// One membership proof per ring member.
    pub proofs: Vec<TxOutMembershipProof>,
    /// Rules a signed contingent input imposes on the transaction (MCIP 31); an input with
    /// rules is signed over [`TxIn::signed_digest`] instead of the transaction.
    pub input_rules: Option<InputRules>,
}

/// Everything a transaction says, without its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxPrefix {
    /// Inputs, sorted by the public key of their first ring member.
    pub inputs: Vec<TxIn>,
    /// Outputs, sorted by public key (block version 3 and later).
    pub outputs: Vec<TxOut>,
    /// Fee value.
    pub fee: u64,
    /// The first block index at which the transaction is no longer valid.
    pub tombstone_block: u64,
    /// Which token pays the fee.
    pub fee_token_id: u64,
}

/// The RingCT signature: one MLSAG per input, pseudo-outputs and range proofs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureRctBulletproofs {
    /// One ring signature per input.
    pub ring_signatures: Vec<RingMlsag>,
    /// One pseudo-output commitment per input.
    pub pseudo_output_commitments: Vec<[u8; 32]>,
    /// The single aggregated range proof of block versions below 3 (empty from 3).
    pub range_proof_bytes: Vec<u8>,
    /// One range proof per token (block version 3 and later), in ascending token id order.
    pub range_proofs: Vec<Vec<u8>>,
    /// Token id of each pseudo-output.
    pub pseudo_output_token_ids: Vec<u64>,
    /// Token id of each output.
    pub output_token_ids: Vec<u64>,
}

/// A transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tx {
    /// The prefix.
    pub prefix: TxPrefix,
    /// The signature.
    pub signature: SignatureRctBulletproofs,
    /// Optional digest of the fee map the sender expects (empty = none).
    pub fee_map_digest: Vec<u8>,
}

/// Why a transaction could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TxDecodeError {
    /// Not a valid protobuf.
    #[error("malformed protobuf")]
    Protobuf,
    /// A TxOut in it is malformed.
    #[error("TxOut: {0}")]
    TxOut(#[from] TxOutError),
    /// A membership proof is malformed.
    #[error("membership proof: {0}")]
    Proof(#[from] MembershipProofError),
    /// A field that must be 32 bytes is not, or a scalar is not canonical.
    #[error("malformed field {0}")]
    Field(&'static str),
}

// ---- digests --------------------------------------------------------------------------------

struct Ristretto<'a>(&'a [u8; 32]);
impl Digestible for Ristretto<'_> {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.primitive(ctx, b"ristretto", self.0);
    }
}

struct ScalarPrim<'a>(&'a Scalar);
impl Digestible for ScalarPrim<'_> {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.primitive(ctx, b"scalar", self.0.as_bytes());
    }
}

struct BytesPrim<'a>(&'a [u8]);
impl Digestible for BytesPrim<'_> {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.primitive(ctx, b"bytes", self.0);
    }
}

struct UintPrim(u64);
impl Digestible for UintPrim {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.primitive(ctx, b"uint", &self.0.to_le_bytes());
    }
}

impl Digestible for TxOutMembershipProof {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"TxOutMembershipProof", |f| {
            f.u64(b"index", self.index)
                .u64(b"highest_index", self.highest_index)
                .seq(b"elements", &self.elements);
        });
    }
}

impl Digestible for TxIn {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"TxIn", |f| {
            f.seq(b"ring", &self.ring)
                .seq(b"proofs", &self.proofs)
                .option(b"input_rules", self.input_rules.as_ref());
        });
    }
}

impl Digestible for TxPrefix {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"TxPrefix", |f| {
            f.seq(b"inputs", &self.inputs)
                .seq(b"outputs", &self.outputs)
                .u64(b"fee", self.fee)
                .u64(b"tombstone_block", self.tombstone_block);
            if self.fee_token_id != 0 {
                f.u64(b"fee_token_id", self.fee_token_id);
            }
        });
    }
}

impl Digestible for RingMlsag {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        let responses: Vec<ScalarPrim<'_>> = self.responses.iter().map(ScalarPrim).collect();
        t.agg(ctx, b"RingMLSAG", |f| {
            f.field(b"c_zero", &ScalarPrim(&self.c_zero))
                .seq(b"responses", &responses)
                .field(b"key_image", &Ristretto(&self.key_image.0));
        });
    }
}

fn ristretto_seq(items: &[[u8; 32]]) -> Vec<Ristretto<'_>> {
    items.iter().map(Ristretto).collect()
}

impl Digestible for SignatureRctBulletproofs {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        let pseudo = ristretto_seq(&self.pseudo_output_commitments);
        let proofs: Vec<BytesPrim<'_>> = self.range_proofs.iter().map(|p| BytesPrim(p)).collect();
        let pseudo_ids: Vec<UintPrim> = self
            .pseudo_output_token_ids
            .iter()
            .map(|&i| UintPrim(i))
            .collect();
        let output_ids: Vec<UintPrim> =
            self.output_token_ids.iter().map(|&i| UintPrim(i)).collect();
        t.agg(ctx, b"SignatureRctBulletproofs", |f| {
            f.seq(b"ring_signatures", &self.ring_signatures)
                .seq(b"pseudo_output_commitments", &pseudo)
                .bytes_never_omit(b"range_proof_bytes", &self.range_proof_bytes)
                .seq(b"range_proofs", &proofs)
                .seq(b"pseudo_output_token_ids", &pseudo_ids)
                .seq(b"output_token_ids", &output_ids);
        });
    }
}

impl Digestible for Tx {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"Tx", |f| {
            f.field(b"prefix", &self.prefix)
                .field(b"signature", &self.signature)
                .bytes(b"fee_map_digest", &self.fee_map_digest);
        });
    }
}

/// The per-output part of a [`TxSummary`]: associated when some input's rules name a TxOut
/// with the same public key and target key.
struct TxOutSummary<'a>(&'a TxOut, bool);
impl Digestible for TxOutSummary<'_> {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"TxOutSummary", |f| {
            f.option::<MaskedAmount>(b"masked_amount", self.0.masked_amount.as_ref())
                .ristretto(b"target_key", self.0.target_key.as_bytes())
                .ristretto(b"public_key", self.0.public_key.as_bytes())
                .bool(b"associated_to_input_rules", self.1);
        });
    }
}

/// The per-input part: the pseudo-output and, for an input with rules, their canonical
/// digest (empty, hence omitted, otherwise).
struct TxInSummary<'a>(&'a [u8; 32], Option<[u8; 32]>);
impl Digestible for TxInSummary<'_> {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"TxInSummary", |f| {
            f.ristretto(b"pseudo_output_commitment", self.0);
            if let Some(d) = &self.1 {
                f.bytes(b"input_rules_digest", d);
            }
        });
    }
}

/// The summary the MLSAGs of block version 3 sign beside the extended message (MCIP 52): each
/// output's amount and keys, each input's pseudo-output, the fee and the tombstone.
pub struct TxSummary<'a> {
    prefix: &'a TxPrefix,
    pseudo_output_commitments: &'a [[u8; 32]],
}

impl Digestible for TxSummary<'_> {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        let mut associated = alloc::collections::BTreeMap::new();
        for rules in self
            .prefix
            .inputs
            .iter()
            .filter_map(|i| i.input_rules.as_ref())
        {
            associated.extend(rules.associated_tx_outs());
        }
        let outputs: Vec<TxOutSummary<'_>> = self
            .prefix
            .outputs
            .iter()
            .map(|o| {
                let linked = associated.get(&o.public_key.0) == Some(&o.target_key.0);
                TxOutSummary(o, linked)
            })
            .collect();
        let inputs: Vec<TxInSummary<'_>> = self
            .pseudo_output_commitments
            .iter()
            .zip(&self.prefix.inputs)
            .map(|(c, i)| TxInSummary(c, i.input_rules.as_ref().map(InputRules::canonical_digest)))
            .collect();
        t.agg(ctx, b"TxSummary", |f: &mut Agg<'_>| {
            f.seq(b"outputs", &outputs)
                .seq(b"inputs", &inputs)
                .u64(b"fee", self.prefix.fee)
                .u64(b"fee_token_id", self.prefix.fee_token_id)
                .u64(b"tombstone_block", self.prefix.tombstone_block);
        });
    }
}

impl TxPrefix {
    /// The prefix hash.
    pub fn hash(&self) -> [u8; 32] {
        self.digest32(b"mobilecoin-tx-prefix")
    }

    /// The highest index of every membership proof, in input and ring order.
    pub fn membership_proof_highest_indices(&self) -> Vec<u64> {
        self.inputs
            .iter()
            .flat_map(|i| i.proofs.iter().map(|p| p.highest_index))
            .collect()
    }
}

/// What the MLSAGs sign from block version 3: a Merlin digest of the extended message digest
/// and the [`TxSummary`].
pub fn mlsag_signing_digest(
    prefix: &TxPrefix,
    pseudo_output_commitments: &[[u8; 32]],
    range_proof_bytes: &[u8],
    range_proofs: &[Vec<u8>],
) -> [u8; 32] {
    let mut t = DigestTranscript::with_label(b"mc_extended_message");
    t.primitive(b"message", b"bytes", &prefix.hash());
    t.seq(
        b"pseudo_output_commitments",
        &ristretto_seq(pseudo_output_commitments),
    );
    if !range_proof_bytes.is_empty() {
        t.primitive(b"range_proof_bytes", b"bytes", range_proof_bytes);
    }
    if !range_proofs.is_empty() {
        let proofs: Vec<BytesPrim<'_>> = range_proofs.iter().map(|p| BytesPrim(p)).collect();
        t.seq(b"range_proofs", &proofs);
    }
    let extended = t.finalize();
    let mut t = DigestTranscript::with_label(b"mc_extended_message_and_tx_summary");
    t.primitive(b"extended_message", b"bytes", &extended);
    TxSummary {
        prefix,
        pseudo_output_commitments,
    }
    .append_to(b"tx_summary", &mut t);
    t.finalize()
}

impl Tx {
    /// The tx hash.
    pub fn hash(&self) -> [u8; 32] {
        self.digest32(b"mobilecoin-tx")
    }

    /// The key images this transaction spends.
    pub fn key_images(&self) -> Vec<KeyImage> {
        self.signature
            .ring_signatures
            .iter()
            .map(|s| s.key_image)
            .collect()
    }

    /// The public keys of its outputs.
    pub fn output_public_keys(&self) -> Vec<[u8; 32]> {
        self.prefix.outputs.iter().map(|o| o.public_key.0).collect()
    }

    /// The MLSAG signing digest of this transaction.
    pub fn signing_digest(&self) -> [u8; 32] {
        mlsag_signing_digest(
            &self.prefix,
            &self.signature.pseudo_output_commitments,
            &self.signature.range_proof_bytes,
            &self.signature.range_proofs,
        )
    }
}

impl TxIn {
    /// What the MLSAG of an input with rules signs (MCIP 31): the digest
    /// (`"mc-input-rules-digest"`) of this input with its membership proofs removed, so the
    /// signer needs neither the rest of the transaction nor fresh proofs. `None` without
    /// rules: such an input signs the transaction's digest.
    pub fn signed_digest(&self) -> Option<[u8; 32]> {
        self.input_rules.as_ref()?;
        let this = TxIn {
            ring: self.ring.clone(),
            proofs: Vec::new(),
            input_rules: self.input_rules.clone(),
        };
        Some(this.digest32(b"mc-input-rules-digest"))
    }

    /// The protobuf form.
    pub fn to_wire(&self) -> wire::TxIn {
        wire::TxIn {
            ring: self.ring.iter().map(TxOut::to_wire).collect(),
            proofs: self
                .proofs
                .iter()
                .map(TxOutMembershipProof::to_wire)
                .collect(),
            input_rules: self.input_rules.as_ref().map(InputRules::to_wire),
        }
    }

    /// From the protobuf form.
    pub fn try_from_wire(i: &wire::TxIn) -> Result<Self, TxDecodeError> {
        Ok(TxIn {
            ring: i
                .ring
                .iter()
                .map(TxOut::try_from_wire)
                .collect::<Result<_, _>>()?,
            proofs: i
                .proofs
                .iter()
                .map(TxOutMembershipProof::try_from_wire)
                .collect::<Result<_, _>>()?,
            input_rules: i
                .input_rules
                .as_ref()
                .map(InputRules::try_from_wire)
                .transpose()?,
        })
    }

    /// The ring as the signature sees it. Fails if a member has no masked amount.
    pub fn reduced_ring(&self) -> Result<Vec<ReducedTxOut>, TxOutError> {
        self.ring
            .iter()
            .map(|t| {
                Ok(ReducedTxOut {
                    target_key: t.target_key.0,
                    commitment: t.masked_amount()?.commitment,
                })
            })
            .collect()
    }
}

// ---- protobuf -------------------------------------------------------------------------------

fn b32(data: &[u8], name: &'static str) -> Result<[u8; 32], TxDecodeError> {
    data.try_into().map_err(|_| TxDecodeError::Field(name))
}

pub(crate) fn scalar(data: &[u8], name: &'static str) -> Result<Scalar, TxDecodeError> {
    Option::<Scalar>::from(Scalar::from_canonical_bytes(b32(data, name)?))
        .ok_or(TxDecodeError::Field(name))
}

impl RingMlsag {
    /// The protobuf form.
    pub fn to_wire(&self) -> wire::RingMlsag {
        wire::RingMlsag {
            c_zero: Some(wire::CurveScalar {
                data: self.c_zero.to_bytes().to_vec(),
            }),
            responses: self
                .responses
                .iter()
                .map(|x| wire::CurveScalar {
                    data: x.to_bytes().to_vec(),
                })
                .collect(),
            key_image: Some(wire::KeyImage {
                data: self.key_image.0.to_vec(),
            }),
        }
    }

    /// From the protobuf form. Scalars must be canonical.
    pub fn try_from_wire(r: &wire::RingMlsag) -> Result<Self, TxDecodeError> {
        Ok(RingMlsag {
            c_zero: scalar(
                &r.c_zero
                    .as_ref()
                    .ok_or(TxDecodeError::Field("c_zero"))?
                    .data,
                "c_zero",
            )?,
            responses: r
                .responses
                .iter()
                .map(|x| scalar(&x.data, "response"))
                .collect::<Result<_, _>>()?,
            key_image: KeyImage(b32(
                &r.key_image
                    .as_ref()
                    .ok_or(TxDecodeError::Field("key_image"))?
                    .data,
                "key_image",
            )?),
        })
    }
}

impl Tx {
    /// The protobuf form.
    pub fn to_wire(&self) -> wire::Tx {
        let s = &self.signature;
        wire::Tx {
            prefix: Some(wire::TxPrefix {
                inputs: self.prefix.inputs.iter().map(TxIn::to_wire).collect(),
                outputs: self.prefix.outputs.iter().map(TxOut::to_wire).collect(),
                fee: self.prefix.fee,
                tombstone_block: self.prefix.tombstone_block,
                fee_token_id: self.prefix.fee_token_id,
            }),
            signature: Some(wire::SignatureRctBulletproofs {
                ring_signatures: s.ring_signatures.iter().map(RingMlsag::to_wire).collect(),
                pseudo_output_commitments: s
                    .pseudo_output_commitments
                    .iter()
                    .map(|c| wire::CompressedRistretto { data: c.to_vec() })
                    .collect(),
                range_proof_bytes: s.range_proof_bytes.clone(),
                range_proofs: s.range_proofs.clone(),
                pseudo_output_token_ids: s.pseudo_output_token_ids.clone(),
                output_token_ids: s.output_token_ids.clone(),
            }),
            fee_map_digest: self.fee_map_digest.clone(),
        }
    }

    /// From the protobuf form. Scalars must be canonical.
    pub fn try_from_wire(w: &wire::Tx) -> Result<Self, TxDecodeError> {
        let p = w.prefix.as_ref().ok_or(TxDecodeError::Field("prefix"))?;
        let s = w
            .signature
            .as_ref()
            .ok_or(TxDecodeError::Field("signature"))?;
        let inputs = p
            .inputs
            .iter()
            .map(TxIn::try_from_wire)
            .collect::<Result<_, TxDecodeError>>()?;
        let ring_signatures = s
            .ring_signatures
            .iter()
            .map(RingMlsag::try_from_wire)
            .collect::<Result<_, TxDecodeError>>()?;
        Ok(Self {
            prefix: TxPrefix {
                inputs,
                outputs: p
                    .outputs
                    .iter()
                    .map(TxOut::try_from_wire)
                    .collect::<Result<_, _>>()?,
                fee: p.fee,
                tombstone_block: p.tombstone_block,
                fee_token_id: p.fee_token_id,
            },
            signature: SignatureRctBulletproofs {
                ring_signatures,
                pseudo_output_commitments: s
                    .pseudo_output_commitments
                    .iter()
                    .map(|c| b32(&c.data, "pseudo_output_commitment"))
                    .collect::<Result<_, _>>()?,
                range_proof_bytes: s.range_proof_bytes.clone(),
                range_proofs: s.range_proofs.clone(),
                pseudo_output_token_ids: s.pseudo_output_token_ids.clone(),
                output_token_ids: s.output_token_ids.clone(),
            },
            fee_map_digest: w.fee_map_digest.clone(),
        })
    }

    /// Protobuf bytes.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// From protobuf bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TxDecodeError> {
        Self::try_from_wire(&wire::Tx::decode(bytes).map_err(|_| TxDecodeError::Protobuf)?)
    }
}
