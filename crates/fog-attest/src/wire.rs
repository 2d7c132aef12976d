//! Protobuf wire types of `attest.proto` and `report.proto` (fog-api compiles those files and
//! maps their messages here with `extern_path`, so there is one Rust type per message).
//!
//! Wire types only carry bytes; [`crate::evidence`] and [`crate::report`] turn them into
//! checked domain types. Field numbers follow MobileCoin where the message exists there
//! (`AuthMessage`, `Message`, `NonceMessage`, `ReportRequest`, `ReportResponse`, `Report`);
//! `Evidence`, `BoundEvidence` and `Report.fog_evidence = 5` are Fog's own.

/// One raw Noise handshake message (`attest.AuthMessage`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AuthMessage {
    /// The handshake bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// An encrypted frame without an explicit counter (`attest.Message`), as MobileCoin's view
/// and ledger APIs carry it. Fog's channel frames are [`NonceMessage`]s.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Message {
    /// Associated data, authenticated but not encrypted.
    #[prost(bytes = "vec", tag = "1")]
    pub aad: Vec<u8>,
    /// The channel id (the handshake hash).
    #[prost(bytes = "vec", tag = "2")]
    pub channel_id: Vec<u8>,
    /// Ciphertext and tag.
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
}

/// An encrypted frame with its explicit counter (`attest.NonceMessage`): Fog's channel frame.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct NonceMessage {
    /// Associated data, authenticated but not encrypted.
    #[prost(bytes = "vec", tag = "1")]
    pub aad: Vec<u8>,
    /// The channel id (the handshake hash).
    #[prost(bytes = "vec", tag = "2")]
    pub channel_id: Vec<u8>,
    /// Ciphertext and the 16-byte GCM tag.
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
    /// The sender's counter for this direction; the GCM nonce is 4 zero bytes and this
    /// counter big-endian.
    #[prost(fixed64, tag = "4")]
    pub nonce: u64,
}

/// Attestation evidence (`attest.Evidence`, Fog's own). See [`crate::evidence::Evidence`].
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Evidence {
    /// Which provider made it: 1 = simulation, 2 = SGX DCAP, 3 = TDX DCAP, 4 = SEV-SNP.
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    /// 32 bytes: the measurement of the enclave code (MRENCLAVE-like).
    #[prost(bytes = "vec", tag = "2")]
    pub measurement: Vec<u8>,
    /// 32 bytes: the enclave signer's id (MRSIGNER-like).
    #[prost(bytes = "vec", tag = "3")]
    pub signer_id: Vec<u8>,
    /// The product id (fits in 16 bits).
    #[prost(uint32, tag = "4")]
    pub product_id: u32,
    /// The security version (fits in 16 bits).
    #[prost(uint32, tag = "5")]
    pub security_version: u32,
    /// 64 bytes: the enclave's configuration id.
    #[prost(bytes = "vec", tag = "6")]
    pub config_id: Vec<u8>,
    /// When the evidence was made, in seconds since the Unix epoch.
    #[prost(fixed64, tag = "7")]
    pub timestamp: u64,
    /// 64 bytes: the report data, binding the enclave's public keys.
    #[prost(bytes = "vec", tag = "8")]
    pub report_data: Vec<u8>,
    /// The quoting key's signature (64 bytes for the simulation's Ed25519 key).
    #[prost(bytes = "vec", tag = "9")]
    pub signature: Vec<u8>,
    /// Hardware kinds: the raw DCAP quote, or the raw SEV-SNP attestation report (1184
    /// bytes). Fields 2 to 9 are empty for these kinds: everything is read from here.
    #[prost(bytes = "vec", tag = "10")]
    pub quote: Vec<u8>,
    /// Kinds 2 and 3: Intel's collateral for the quote.
    #[prost(message, optional, tag = "11")]
    pub dcap_collateral: Option<DcapCollateral>,
    /// Kind 4: the VCEK certificate that signed the report.
    #[prost(message, optional, tag = "12")]
    pub snp_collateral: Option<SnpCollateral>,
}

/// Intel's collateral for one DCAP quote (`attest.DcapCollateral`, Fog's own; the fields of
/// Intel's "QVL collateral v3", as Intel's PCS or a PCCS serves them). Strings are PEM or
/// JSON as served; CRLs are DER.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DcapCollateral {
    /// PEM: the chain that issued the PCK CRL (PCK Platform or Processor CA, root CA).
    #[prost(string, tag = "1")]
    pub pck_crl_issuer_chain: String,
    /// DER: the root CA's CRL.
    #[prost(bytes = "vec", tag = "2")]
    pub root_ca_crl: Vec<u8>,
    /// DER: the PCK CA's CRL.
    #[prost(bytes = "vec", tag = "3")]
    pub pck_crl: Vec<u8>,
    /// PEM: the TCB signing chain.
    #[prost(string, tag = "4")]
    pub tcb_info_issuer_chain: String,
    /// JSON: the `tcbInfo` body, exactly as signed.
    #[prost(string, tag = "5")]
    pub tcb_info: String,
    /// The TCB signing key's raw P-256 signature (r ‖ s) over `tcb_info`.
    #[prost(bytes = "vec", tag = "6")]
    pub tcb_info_signature: Vec<u8>,
    /// PEM: the QE identity's signing chain.
    #[prost(string, tag = "7")]
    pub qe_identity_issuer_chain: String,
    /// JSON: the `enclaveIdentity` body, exactly as signed.
    #[prost(string, tag = "8")]
    pub qe_identity: String,
    /// The raw P-256 signature over `qe_identity`.
    #[prost(bytes = "vec", tag = "9")]
    pub qe_identity_signature: Vec<u8>,
    /// PEM, optional: the PCK certificate chain, when the quote does not carry it.
    #[prost(string, tag = "10")]
    pub pck_certificate_chain: String,
}

/// The collateral of an SEV-SNP report (`attest.SnpCollateral`, Fog's own).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SnpCollateral {
    /// DER: the VCEK certificate of the chip and TCB that signed the report (AMD's KDS
    /// serves it; the guest's extended report carries it). The ASK and ARK are pinned.
    #[prost(bytes = "vec", tag = "1")]
    pub vcek: Vec<u8>,
}

/// Evidence with the public keys its report data binds (`attest.BoundEvidence`, Fog's own):
/// the payload of the enclave's handshake message and the evidence of an ingest report.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BoundEvidence {
    /// The evidence.
    #[prost(message, optional, tag = "1")]
    pub evidence: Option<Evidence>,
    /// 32 bytes: the enclave's X25519 channel static key.
    #[prost(bytes = "vec", tag = "2")]
    pub channel_key: Vec<u8>,
    /// Empty, or 32 bytes: an extra identity (ingest: the Ristretto ingress public key).
    #[prost(bytes = "vec", tag = "3")]
    pub custom_identity: Vec<u8>,
}

/// `report.ReportRequest`: empty.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ReportRequest {}

/// `report.ReportResponse`: the reports, the certificate chain (DER, root first) and the
/// leaf key's signature over the reports' digest.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ReportResponse {
    /// The reports, in the order they were signed.
    #[prost(message, repeated, tag = "1")]
    pub reports: Vec<Report>,
    /// X.509 certificates, DER, root → intermediate(s) → leaf.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub chain: Vec<Vec<u8>>,
    /// Ed25519 signature (64 bytes) by the leaf key over the report-list digest.
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
}

/// `report.Report`: one ingest report.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Report {
    /// The report id that addresses name.
    #[prost(string, tag = "1")]
    pub fog_report_id: String,
    /// The evidence. MobileCoin's variants (2: EPID verification report, 4: DCAP
    /// evidence) are not decoded by Fog; Fog's evidence is field 5.
    #[prost(oneof = "report::AttestationEvidence", tags = "5")]
    pub attestation_evidence: Option<report::AttestationEvidence>,
    /// The first block index at which the ingress key may no longer be used.
    #[prost(fixed64, tag = "3")]
    pub pubkey_expiry: u64,
}

/// Nested types of [`Report`].
pub mod report {
    /// The `attestation_evidence` oneof of `report.Report`.
    #[derive(Clone, PartialEq, Eq, prost::Oneof)]
    pub enum AttestationEvidence {
        /// Fog's evidence with its bound keys (the ingress key is the custom identity).
        #[prost(message, tag = "5")]
        FogEvidence(super::BoundEvidence),
    }
}
