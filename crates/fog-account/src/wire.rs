//! Protobuf wire types of MobileCoin's `external.proto` and `printable.proto` that addresses
//! use, with the same field numbers. Domain types convert to and from these in one place
//! (`PublicAddress::to_wire` / `PublicAddress::try_from_wire`).

use alloc::{string::String, vec::Vec};

/// `external.CompressedRistretto { bytes data = 1; }`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct CompressedRistretto {
    /// 32 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// `external.RistrettoPrivate { bytes data = 1; }`. Carries a secret: zeroize it after use.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
#[prost(skip_debug)]
pub struct RistrettoPrivate {
    /// 32 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

impl core::fmt::Debug for RistrettoPrivate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RistrettoPrivate(<redacted>)")
    }
}

/// `external.PublicAddress`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct PublicAddress {
    /// Subaddress view public key `C_i`.
    #[prost(message, optional, tag = "1")]
    pub view_public_key: Option<CompressedRistretto>,
    /// Subaddress spend public key `D_i`.
    #[prost(message, optional, tag = "2")]
    pub spend_public_key: Option<CompressedRistretto>,
    /// Fog report URL; empty means no fog.
    #[prost(string, tag = "3")]
    pub fog_report_url: String,
    /// Fog report id.
    #[prost(string, tag = "4")]
    pub fog_report_id: String,
    /// 64-byte fog authority signature, or empty.
    #[prost(bytes = "vec", tag = "5")]
    pub fog_authority_sig: Vec<u8>,
}

/// `printable.PaymentRequest`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct PaymentRequest {
    /// Where to pay.
    #[prost(message, optional, tag = "1")]
    pub public_address: Option<PublicAddress>,
    /// Amount requested.
    #[prost(uint64, tag = "2")]
    pub value: u64,
    /// A note for the payer.
    #[prost(string, tag = "3")]
    pub memo: String,
    /// Token of the amount.
    #[prost(uint64, tag = "4")]
    pub token_id: u64,
    /// Payment id.
    #[prost(uint64, tag = "5")]
    pub payment_id: u64,
}

/// `printable.TransferPayload`. Carries secrets.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
#[prost(skip_debug)]
pub struct TransferPayload {
    /// Deprecated root entropy.
    #[prost(bytes = "vec", tag = "1")]
    pub root_entropy: Vec<u8>,
    /// Public key of the TxOut that funds the transfer.
    #[prost(message, optional, tag = "2")]
    pub tx_out_public_key: Option<CompressedRistretto>,
    /// A note.
    #[prost(string, tag = "3")]
    pub memo: String,
    /// BIP39 entropy of the transfer account.
    #[prost(bytes = "vec", tag = "4")]
    pub bip39_entropy: Vec<u8>,
}

impl core::fmt::Debug for TransferPayload {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TransferPayload(<redacted>)")
    }
}

/// `printable.TxOutGiftCode`. Carries secrets.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
#[prost(skip_debug)]
pub struct TxOutGiftCode {
    /// Global index of the gift TxOut.
    #[prost(uint64, tag = "1")]
    pub global_index: u64,
    /// Its one-time private key.
    #[prost(message, optional, tag = "2")]
    pub onetime_private_key: Option<RistrettoPrivate>,
    /// Its shared secret.
    #[prost(message, optional, tag = "3")]
    pub shared_secret: Option<CompressedRistretto>,
}

impl core::fmt::Debug for TxOutGiftCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TxOutGiftCode(<redacted>)")
    }
}

/// The `oneof wrapper` of `printable.PrintableWrapper`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Oneof)]
pub enum Wrapper {
    /// A public address.
    #[prost(message, tag = "1")]
    PublicAddress(PublicAddress),
    /// A payment request.
    #[prost(message, tag = "2")]
    PaymentRequest(PaymentRequest),
    /// A transfer payload.
    #[prost(message, tag = "3")]
    TransferPayload(TransferPayload),
    /// A gift code.
    #[prost(message, tag = "4")]
    TxOutGiftCode(TxOutGiftCode),
}

/// `printable.PrintableWrapper`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct PrintableWrapper {
    /// What it wraps.
    #[prost(oneof = "Wrapper", tags = "1, 2, 3, 4")]
    pub wrapper: Option<Wrapper>,
}
