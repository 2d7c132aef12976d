//! Protobuf wire types with MobileCoin's field numbers and encoding rules: `external.TxOut`
//! and its parts, and `fog_view.TxOutRecord` / `ETxOutRecord`. Fields MobileCoin's Rust marks
//! `required` are always written, so our encodings are byte-identical to its. Domain types
//! convert to and from these in `tx_out.rs` and `record.rs`.

use alloc::vec::Vec;

pub use fog_account::wire::CompressedRistretto;

/// `external.MaskedAmount`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct MaskedAmount {
    /// The Pedersen commitment.
    #[prost(message, optional, tag = "1")]
    pub commitment: Option<CompressedRistretto>,
    /// The masked value.
    #[prost(fixed64, required, tag = "2")]
    pub masked_value: u64,
    /// The masked token id (0 or 8 bytes).
    #[prost(bytes = "vec", tag = "3")]
    pub masked_token_id: Vec<u8>,
}

/// The `masked_amount` oneof of `external.TxOut`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Oneof)]
pub enum MaskedAmountVersion {
    /// Version 1 (tag 1).
    #[prost(message, tag = "1")]
    MaskedAmountV1(MaskedAmount),
    /// Version 2 (tag 6).
    #[prost(message, tag = "6")]
    MaskedAmountV2(MaskedAmount),
}

/// `external.EncryptedFogHint { bytes data = 1; }`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct EncryptedFogHint {
    /// 84 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// `external.EncryptedMemo { bytes data = 1; }`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct EncryptedMemo {
    /// 66 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// `external.TxOut`. The oneof comes first, as in MobileCoin's struct, so a V2 amount (tag 6)
/// is written before the keys.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct TxOut {
    /// The masked amount.
    #[prost(oneof = "MaskedAmountVersion", tags = "1, 6")]
    pub masked_amount: Option<MaskedAmountVersion>,
    /// One-time target key.
    #[prost(message, optional, tag = "2")]
    pub target_key: Option<CompressedRistretto>,
    /// TxOut public key.
    #[prost(message, optional, tag = "3")]
    pub public_key: Option<CompressedRistretto>,
    /// Encrypted fog hint.
    #[prost(message, optional, tag = "4")]
    pub e_fog_hint: Option<EncryptedFogHint>,
    /// Encrypted memo.
    #[prost(message, optional, tag = "5")]
    pub e_memo: Option<EncryptedMemo>,
}

/// The masked token id oneof of `fog_view.TxOutRecord`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Oneof)]
pub enum TxOutAmountMaskedTokenId {
    /// From a V1 masked amount (0 or 8 bytes).
    #[prost(bytes, tag = "10")]
    TxOutAmountMaskedV1TokenId(Vec<u8>),
    /// From a V2 masked amount (8 bytes).
    #[prost(bytes, tag = "11")]
    TxOutAmountMaskedV2TokenId(Vec<u8>),
}

/// `fog_view.TxOutRecord`: what ingest encrypts to a user for each of their TxOuts.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct TxOutRecord {
    /// Legacy: the 32-byte commitment; new records leave it empty.
    #[prost(bytes = "vec", tag = "1")]
    pub tx_out_amount_commitment_data: Vec<u8>,
    /// Masked value.
    #[prost(fixed64, required, tag = "2")]
    pub tx_out_amount_masked_value: u64,
    /// One-time target key.
    #[prost(bytes = "vec", required, tag = "3")]
    pub tx_out_target_key_data: Vec<u8>,
    /// TxOut public key.
    #[prost(bytes = "vec", required, tag = "4")]
    pub tx_out_public_key_data: Vec<u8>,
    /// Global index of the TxOut in the ledger.
    #[prost(fixed64, required, tag = "5")]
    pub tx_out_global_index: u64,
    /// Index of the block holding it.
    #[prost(fixed64, required, tag = "6")]
    pub block_index: u64,
    /// Block timestamp, seconds since the Unix epoch.
    #[prost(fixed64, tag = "7")]
    pub timestamp: u64,
    /// CRC-32 of the commitment.
    #[prost(fixed32, tag = "8")]
    pub tx_out_amount_commitment_data_crc32: u32,
    /// The 66-byte encrypted memo, or empty.
    #[prost(bytes = "vec", tag = "9")]
    pub tx_out_e_memo_data: Vec<u8>,
    /// The masked token id, by amount version.
    #[prost(oneof = "TxOutAmountMaskedTokenId", tags = "10, 11")]
    pub tx_out_amount_masked_token_id: Option<TxOutAmountMaskedTokenId>,
}

/// `fog_view.ETxOutRecord`: a search key and the record encrypted to its user.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct ETxOutRecord {
    /// 16-byte KexRng output.
    #[prost(bytes = "vec", tag = "1")]
    pub search_key: Vec<u8>,
    /// Crypto box of the protobuf `TxOutRecord`.
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

/// `external.Range { uint64 from = 1; uint64 to = 2; }`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Range {
    /// First index.
    #[prost(uint64, tag = "1")]
    pub from: u64,
    /// Last index.
    #[prost(uint64, tag = "2")]
    pub to: u64,
}

/// `external.TxOutMembershipHash { bytes data = 1; }`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct TxOutMembershipHash {
    /// 32 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// `external.TxOutMembershipElement`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct TxOutMembershipElement {
    /// The range.
    #[prost(message, optional, tag = "1")]
    pub range: Option<Range>,
    /// Its hash.
    #[prost(message, optional, tag = "2")]
    pub hash: Option<TxOutMembershipHash>,
}

/// `external.TxOutMembershipProof`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct TxOutMembershipProof {
    /// The TxOut's index.
    #[prost(uint64, tag = "1")]
    pub index: u64,
    /// The ledger's last index.
    #[prost(uint64, tag = "2")]
    pub highest_index: u64,
    /// Leaf then siblings.
    #[prost(message, repeated, tag = "3")]
    pub elements: Vec<TxOutMembershipElement>,
}

/// `external.KeyImage { bytes data = 1; }`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct KeyImage {
    /// 32 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// A message wrapping 32 bytes (`blockchain.BlockID`, `blockchain.BlockContentsHash`).
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Bytes32 {
    /// 32 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// `blockchain.BlockContents` (the minting fields 3 and 4 are not supported).
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct BlockContents {
    /// Spent key images.
    #[prost(message, repeated, tag = "1")]
    pub key_images: Vec<KeyImage>,
    /// New TxOuts.
    #[prost(message, repeated, tag = "2")]
    pub outputs: Vec<TxOut>,
}

/// `blockchain.Block`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Block {
    /// Block id.
    #[prost(message, optional, tag = "1")]
    pub id: Option<Bytes32>,
    /// Version.
    #[prost(uint32, tag = "2")]
    pub version: u32,
    /// Parent id.
    #[prost(message, optional, tag = "3")]
    pub parent_id: Option<Bytes32>,
    /// Index.
    #[prost(uint64, tag = "4")]
    pub index: u64,
    /// Cumulative TxOut count.
    #[prost(uint64, tag = "5")]
    pub cumulative_txo_count: u64,
    /// Root element.
    #[prost(message, optional, tag = "6")]
    pub root_element: Option<TxOutMembershipElement>,
    /// Contents hash.
    #[prost(message, optional, tag = "7")]
    pub contents_hash: Option<Bytes32>,
}

/// `external.CurveScalar { bytes data = 1; }`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct CurveScalar {
    /// 32 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// `external.RingMLSAG`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct RingMlsag {
    /// Challenge at index 0.
    #[prost(message, optional, tag = "1")]
    pub c_zero: Option<CurveScalar>,
    /// Responses.
    #[prost(message, repeated, tag = "2")]
    pub responses: Vec<CurveScalar>,
    /// Key image.
    #[prost(message, optional, tag = "3")]
    pub key_image: Option<KeyImage>,
}

/// `external.SignatureRctBulletproofs`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct SignatureRctBulletproofs {
    /// One per input.
    #[prost(message, repeated, tag = "1")]
    pub ring_signatures: Vec<RingMlsag>,
    /// One per input.
    #[prost(message, repeated, tag = "2")]
    pub pseudo_output_commitments: Vec<CompressedRistretto>,
    /// Legacy aggregated range proof.
    #[prost(bytes = "vec", tag = "3")]
    pub range_proof_bytes: Vec<u8>,
    /// One range proof per token.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub range_proofs: Vec<Vec<u8>>,
    /// Token of each pseudo-output.
    #[prost(fixed64, repeated, tag = "5")]
    pub pseudo_output_token_ids: Vec<u64>,
    /// Token of each output.
    #[prost(fixed64, repeated, tag = "6")]
    pub output_token_ids: Vec<u64>,
}

/// `external.InputRules`: the rules a signed contingent input imposes on the transaction
/// that spends it (MCIP 31, partial fills MCIP 42).
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct InputRules {
    /// Outputs the transaction must contain exactly.
    #[prost(message, repeated, tag = "1")]
    pub required_outputs: Vec<TxOut>,
    /// Latest tombstone allowed (0 = no limit).
    #[prost(fixed64, tag = "2")]
    pub max_tombstone_block: u64,
    /// Outputs that may be filled in proportion to the fill fraction.
    #[prost(message, repeated, tag = "3")]
    pub partial_fill_outputs: Vec<RevealedTxOut>,
    /// The change that defines the fill fraction.
    #[prost(message, optional, tag = "4")]
    pub partial_fill_change: Option<RevealedTxOut>,
    /// The least the counterparty must take (0 = no minimum).
    #[prost(fixed64, tag = "5")]
    pub min_partial_fill_value: u64,
}

/// `external.RevealedTxOut`: a TxOut with its amount shared secret.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct RevealedTxOut {
    /// The TxOut (required: always written).
    #[prost(message, optional, tag = "1")]
    pub tx_out: Option<TxOut>,
    /// The 32-byte amount shared secret.
    #[prost(bytes = "vec", tag = "2")]
    pub amount_shared_secret: Vec<u8>,
}

/// `external.UnmaskedAmount`: a commitment's value, token and blinding.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct UnmaskedAmount {
    /// Value.
    #[prost(fixed64, tag = "1")]
    pub value: u64,
    /// Token id.
    #[prost(fixed64, tag = "2")]
    pub token_id: u64,
    /// Blinding factor (required: always written).
    #[prost(message, optional, tag = "3")]
    pub blinding: Option<CurveScalar>,
}

/// `external.SignedContingentInput` (MCIP 31).
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct SignedContingentInput {
    /// The block version the signature was made for (required: always written).
    #[prost(uint32, required, tag = "1")]
    pub block_version: u32,
    /// The signed input, with its rules.
    #[prost(message, optional, tag = "2")]
    pub tx_in: Option<TxIn>,
    /// The ring signature over the input's digest.
    #[prost(message, optional, tag = "3")]
    pub mlsag: Option<RingMlsag>,
    /// The pseudo-output's amount and blinding.
    #[prost(message, optional, tag = "4")]
    pub pseudo_output_amount: Option<UnmaskedAmount>,
    /// The amount and blinding of each required output.
    #[prost(message, repeated, tag = "5")]
    pub required_output_amounts: Vec<UnmaskedAmount>,
    /// The ledger index of each ring member.
    #[prost(fixed64, repeated, tag = "6")]
    pub tx_out_global_indices: Vec<u64>,
}

/// `external.TxIn`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct TxIn {
    /// The ring.
    #[prost(message, repeated, tag = "1")]
    pub ring: Vec<TxOut>,
    /// Membership proofs.
    #[prost(message, repeated, tag = "2")]
    pub proofs: Vec<TxOutMembershipProof>,
    /// Signed contingent input rules.
    #[prost(message, optional, tag = "3")]
    pub input_rules: Option<InputRules>,
}

/// `external.TxPrefix`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct TxPrefix {
    /// Inputs.
    #[prost(message, repeated, tag = "1")]
    pub inputs: Vec<TxIn>,
    /// Outputs.
    #[prost(message, repeated, tag = "2")]
    pub outputs: Vec<TxOut>,
    /// Fee.
    #[prost(uint64, tag = "3")]
    pub fee: u64,
    /// Tombstone block.
    #[prost(uint64, tag = "4")]
    pub tombstone_block: u64,
    /// Fee token.
    #[prost(fixed64, tag = "5")]
    pub fee_token_id: u64,
}

/// `external.Tx`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Tx {
    /// The prefix.
    #[prost(message, optional, tag = "1")]
    pub prefix: Option<TxPrefix>,
    /// The signature.
    #[prost(message, optional, tag = "2")]
    pub signature: Option<SignatureRctBulletproofs>,
    /// Fee map digest.
    #[prost(bytes = "vec", tag = "3")]
    pub fee_map_digest: Vec<u8>,
}
