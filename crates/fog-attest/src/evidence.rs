//! Attestation evidence: what an enclave says about itself, signed by something the verifier
//! trusts (a quoting key).
//!
//! [`Evidence`] carries the enclave's identity — measurement, signer id, product id, security
//! version, config id — a timestamp and 64 bytes of [`ReportData`] that bind the enclave's
//! public keys. Its protobuf form is [`crate::wire::Evidence`]; its digestible schema (used
//! when a report list is signed) is documented on the `Digestible` impl of the wire type.
//!
//! # Report data
//! `report_data = SHA-512("Fog attested keys v1" ‖ channel_key ‖ flag ‖ custom_identity)`,
//! where `channel_key` is the enclave's 32-byte X25519 Noise static key, `flag` is one byte
//! (0: no custom identity, 1: one follows) and `custom_identity` is 32 bytes when present
//! (ingest: the Ristretto ingress public key). The hash fills all 64 bytes, so nothing else
//! fits beside it: any other value would need a new domain string.
//!
//! Trust side: both. Parsing is total (every input gives a value or [`VerifyError::Malformed`])
//! and nothing here is secret.

use crate::error::VerifyError;
use crate::wire;
use fog_crypto::digestible::{DigestTranscript, Digestible};
use prost::Message as _;
use sha2::{Digest, Sha512};

/// The domain string of the report-data hash.
pub const REPORT_DATA_DOMAIN: &[u8] = b"Fog attested keys v1";

macro_rules! bytes_newtype {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Parses exactly the right number of bytes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, VerifyError> {
                <[u8; $len]>::try_from(bytes).map(Self).map_err(|_| VerifyError::Malformed)
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "("))?;
                for b in &self.0 {
                    write!(f, "{b:02x}")?;
                }
                write!(f, ")")
            }
        }
    };
}

bytes_newtype!(
    /// The measurement of the enclave's code and initial data (MRENCLAVE-like).
    Measurement, 32
);
bytes_newtype!(
    /// The identity of the key that signed the enclave (MRSIGNER-like).
    SignerId, 32
);
bytes_newtype!(
    /// The enclave's configuration id (SGX `CONFIGID`-like).
    ConfigId, 64
);
bytes_newtype!(
    /// 64 bytes chosen by the enclave and covered by the quote; see the module docs.
    ReportData, 64
);

/// Seconds since the Unix epoch. Clocks are passed in, never read on the trusted side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixSeconds(pub u64);

impl UnixSeconds {
    /// The host's clock. Host side only: the trusted side takes time as an argument.
    pub fn now() -> Self {
        #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
        {
            // A browser: std has no clock there; JavaScript's is milliseconds since the epoch.
            Self((js_sys::Date::now() / 1000.0) as u64)
        }
        #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
        Self(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
    }
}

impl ReportData {
    /// The report data that binds `channel_key` (X25519) and an optional custom identity
    /// (ingest: the Ristretto ingress public key).
    pub fn bind(channel_key: &[u8; 32], custom_identity: Option<&[u8; 32]>) -> Self {
        let mut h = Sha512::new();
        h.update(REPORT_DATA_DOMAIN);
        h.update(channel_key);
        match custom_identity {
            None => h.update([0u8]),
            Some(id) => {
                h.update([1u8]);
                h.update(id);
            }
        }
        Self(h.finalize().into())
    }
}

/// Who made the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvidenceKind {
    /// The simulation provider: an Ed25519 "quoting key" held by the host.
    Simulation,
    /// An Intel SGX enclave: an ECDSA DCAP quote (version 3) with its collateral.
    SgxDcap,
    /// An Intel TDX trust domain: an ECDSA DCAP quote (version 4 or 5) with its collateral.
    TdxDcap,
    /// An AMD SEV-SNP guest: the firmware's attestation report with its VCEK certificate.
    SevSnp,
}

impl EvidenceKind {
    /// The wire number.
    pub fn to_u32(self) -> u32 {
        match self {
            Self::Simulation => 1,
            Self::SgxDcap => 2,
            Self::TdxDcap => 3,
            Self::SevSnp => 4,
        }
    }

    /// From the wire number.
    pub fn from_u32(v: u32) -> Result<Self, VerifyError> {
        match v {
            1 => Ok(Self::Simulation),
            2 => Ok(Self::SgxDcap),
            3 => Ok(Self::TdxDcap),
            4 => Ok(Self::SevSnp),
            _ => Err(VerifyError::Malformed),
        }
    }

    /// The name used in policy files and messages: `sim`, `sgx`, `tdx`, `snp`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Simulation => "sim",
            Self::SgxDcap => "sgx",
            Self::TdxDcap => "tdx",
            Self::SevSnp => "snp",
        }
    }
}

/// The identity an enclave claims: what the verifier's policy is written against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnclaveIdentity {
    /// The code measurement.
    pub measurement: Measurement,
    /// The signer's id.
    pub signer_id: SignerId,
    /// The product id.
    pub product_id: u16,
    /// The security version number.
    pub security_version: u16,
    /// The configuration id.
    pub config_id: ConfigId,
}

/// Simulated evidence: an identity, a timestamp and report data signed by the simulation
/// provider's quoting key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimEvidence {
    /// The claimed enclave identity.
    pub identity: EnclaveIdentity,
    /// When it was made.
    pub timestamp: UnixSeconds,
    /// The bound keys' hash.
    pub report_data: ReportData,
    /// The quoting key's signature over [`SimEvidence::signed_bytes`].
    pub signature: [u8; 64],
}

impl SimEvidence {
    /// The exact bytes the quoting key signs: a fixed layout, so the signature does not
    /// depend on how the protobuf was encoded.
    ///
    /// `"Fog sim quote v1" ‖ kind (LE32, 1) ‖ measurement (32) ‖ signer_id (32) ‖ product_id
    /// (LE16) ‖ security_version (LE16) ‖ config_id (64) ‖ timestamp (LE64) ‖ report_data (64)`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16 + 4 + 32 + 32 + 2 + 2 + 64 + 8 + 64);
        v.extend_from_slice(b"Fog sim quote v1");
        v.extend_from_slice(&EvidenceKind::Simulation.to_u32().to_le_bytes());
        v.extend_from_slice(&self.identity.measurement.0);
        v.extend_from_slice(&self.identity.signer_id.0);
        v.extend_from_slice(&self.identity.product_id.to_le_bytes());
        v.extend_from_slice(&self.identity.security_version.to_le_bytes());
        v.extend_from_slice(&self.identity.config_id.0);
        v.extend_from_slice(&self.timestamp.0.to_le_bytes());
        v.extend_from_slice(&self.report_data.0);
        v
    }
}

/// Hardware evidence: a quote (or SNP report) exactly as the platform produced it, and the
/// collateral that lets a verifier check it offline. Nothing in it is trusted until
/// [`crate::Verifier`] has checked the signatures up to a pinned vendor root.
#[derive(Clone, PartialEq, Eq)]
pub struct QuoteEvidence {
    /// [`EvidenceKind::SgxDcap`], [`EvidenceKind::TdxDcap`] or [`EvidenceKind::SevSnp`].
    pub kind: EvidenceKind,
    /// The raw quote (DCAP) or attestation report (SNP).
    pub quote: Vec<u8>,
    /// What checks it.
    pub collateral: Collateral,
}

impl core::fmt::Debug for QuoteEvidence {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QuoteEvidence")
            .field("kind", &self.kind)
            .field("quote_len", &self.quote.len())
            .finish_non_exhaustive()
    }
}

/// The collateral of hardware evidence.
#[derive(Clone, PartialEq, Eq)]
pub enum Collateral {
    /// Intel's collateral for a DCAP quote (TCB info, QE identity, CRLs, issuer chains).
    Dcap(Box<wire::DcapCollateral>),
    /// The VCEK certificate that signed an SNP report (the ASK and ARK are pinned by the
    /// verifier).
    Snp(wire::SnpCollateral),
}

/// Decoded, length-checked evidence. Checking it is [`crate::Verifier`]'s job: an `Evidence`
/// value proves nothing until then.
// Evidence is made about once an hour and held once per enclave; boxing the simulated variant
// would save nothing that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// Made by the simulation provider.
    Simulation(SimEvidence),
    /// Made by a TEE.
    Quote(QuoteEvidence),
}

impl Evidence {
    /// Who made it.
    pub fn kind(&self) -> EvidenceKind {
        match self {
            Self::Simulation(_) => EvidenceKind::Simulation,
            Self::Quote(q) => q.kind,
        }
    }

    /// The report data it carries, read without verifying anything (the enclave's own check
    /// that its evidence binds its keys; verifiers compare only after the signatures hold).
    pub fn report_data(&self) -> Result<ReportData, VerifyError> {
        match self {
            Self::Simulation(s) => Ok(s.report_data),
            Self::Quote(q) => crate::platform::unverified_report_data(q.kind, &q.quote),
        }
    }

    /// The wire form.
    pub fn to_wire(&self) -> wire::Evidence {
        match self {
            Self::Simulation(s) => wire::Evidence {
                kind: EvidenceKind::Simulation.to_u32(),
                measurement: s.identity.measurement.0.to_vec(),
                signer_id: s.identity.signer_id.0.to_vec(),
                product_id: u32::from(s.identity.product_id),
                security_version: u32::from(s.identity.security_version),
                config_id: s.identity.config_id.0.to_vec(),
                timestamp: s.timestamp.0,
                report_data: s.report_data.0.to_vec(),
                signature: s.signature.to_vec(),
                ..Default::default()
            },
            Self::Quote(q) => {
                let mut w = wire::Evidence {
                    kind: q.kind.to_u32(),
                    quote: q.quote.clone(),
                    ..Default::default()
                };
                match &q.collateral {
                    Collateral::Dcap(c) => w.dcap_collateral = Some((**c).clone()),
                    Collateral::Snp(c) => w.snp_collateral = Some(c.clone()),
                }
                w
            }
        }
    }

    /// From the wire form; every length and range is checked, and a field that does not
    /// belong to the kind must be empty.
    pub fn from_wire(w: &wire::Evidence) -> Result<Self, VerifyError> {
        let kind = EvidenceKind::from_u32(w.kind)?;
        let sim_fields_empty = w.measurement.is_empty()
            && w.signer_id.is_empty()
            && w.product_id == 0
            && w.security_version == 0
            && w.config_id.is_empty()
            && w.timestamp == 0
            && w.report_data.is_empty()
            && w.signature.is_empty();
        match kind {
            EvidenceKind::Simulation => {
                if !w.quote.is_empty() || w.dcap_collateral.is_some() || w.snp_collateral.is_some()
                {
                    return Err(VerifyError::Malformed);
                }
                Ok(Self::Simulation(SimEvidence {
                    identity: EnclaveIdentity {
                        measurement: Measurement::from_slice(&w.measurement)?,
                        signer_id: SignerId::from_slice(&w.signer_id)?,
                        product_id: u16::try_from(w.product_id)
                            .map_err(|_| VerifyError::Malformed)?,
                        security_version: u16::try_from(w.security_version)
                            .map_err(|_| VerifyError::Malformed)?,
                        config_id: ConfigId::from_slice(&w.config_id)?,
                    },
                    timestamp: UnixSeconds(w.timestamp),
                    report_data: ReportData::from_slice(&w.report_data)?,
                    signature: <[u8; 64]>::try_from(w.signature.as_slice())
                        .map_err(|_| VerifyError::Malformed)?,
                }))
            }
            EvidenceKind::SgxDcap | EvidenceKind::TdxDcap | EvidenceKind::SevSnp => {
                // Exactly the collateral of the kind, a quote, and no simulated field.
                let collateral = match (kind, &w.dcap_collateral, &w.snp_collateral) {
                    (EvidenceKind::SevSnp, None, Some(c)) => Collateral::Snp(c.clone()),
                    (EvidenceKind::SgxDcap | EvidenceKind::TdxDcap, Some(c), None) => {
                        Collateral::Dcap(Box::new(c.clone()))
                    }
                    _ => return Err(VerifyError::Malformed),
                };
                if !sim_fields_empty || w.quote.is_empty() {
                    return Err(VerifyError::Malformed);
                }
                Ok(Self::Quote(QuoteEvidence {
                    kind,
                    quote: w.quote.clone(),
                    collateral,
                }))
            }
        }
    }

    /// Protobuf bytes.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// Decodes protobuf bytes (untrusted input).
    pub fn decode(bytes: &[u8]) -> Result<Self, VerifyError> {
        let w = wire::Evidence::decode(bytes).map_err(|_| VerifyError::Malformed)?;
        Self::from_wire(&w)
    }
}

/// Evidence together with the public keys its report data binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundEvidence {
    /// The evidence.
    pub evidence: Evidence,
    /// The enclave's X25519 channel static public key.
    pub channel_key: [u8; 32],
    /// An extra bound identity (ingest: the compressed Ristretto ingress key).
    pub custom_identity: Option<[u8; 32]>,
}

impl BoundEvidence {
    /// Fresh evidence from `provider` binding `channel_key` and `custom_identity`.
    pub fn bind(
        provider: &impl crate::sim::Provider,
        channel_key: &[u8; 32],
        custom_identity: Option<&[u8; 32]>,
    ) -> crate::error::Result<Self> {
        let report_data = ReportData::bind(channel_key, custom_identity);
        Ok(Self {
            evidence: provider.evidence(&report_data)?,
            channel_key: *channel_key,
            custom_identity: custom_identity.copied(),
        })
    }

    /// The report data these keys should produce.
    pub fn expected_report_data(&self) -> ReportData {
        ReportData::bind(&self.channel_key, self.custom_identity.as_ref())
    }

    /// The wire form.
    pub fn to_wire(&self) -> wire::BoundEvidence {
        wire::BoundEvidence {
            evidence: Some(self.evidence.to_wire()),
            channel_key: self.channel_key.to_vec(),
            custom_identity: self.custom_identity.map(|c| c.to_vec()).unwrap_or_default(),
        }
    }

    /// From the wire form; every length is checked.
    pub fn from_wire(w: &wire::BoundEvidence) -> Result<Self, VerifyError> {
        let evidence = Evidence::from_wire(w.evidence.as_ref().ok_or(VerifyError::Malformed)?)?;
        let channel_key =
            <[u8; 32]>::try_from(w.channel_key.as_slice()).map_err(|_| VerifyError::Malformed)?;
        let custom_identity = match w.custom_identity.len() {
            0 => None,
            32 => Some(
                <[u8; 32]>::try_from(w.custom_identity.as_slice())
                    .map_err(|_| VerifyError::Malformed)?,
            ),
            _ => return Err(VerifyError::Malformed),
        };
        Ok(Self {
            evidence,
            channel_key,
            custom_identity,
        })
    }

    /// Protobuf bytes.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// Decodes protobuf bytes (untrusted input).
    pub fn decode(bytes: &[u8]) -> Result<Self, VerifyError> {
        let w = wire::BoundEvidence::decode(bytes).map_err(|_| VerifyError::Malformed)?;
        Self::from_wire(&w)
    }
}

/// Digestible schema of evidence (Fog's own; MobileCoin's DCAP evidence has another):
/// aggregate `"Evidence"` with fields, in order, `kind` (uint, 4 bytes), `measurement`
/// (bytes), `signer_id` (bytes), `product_id` (uint, 4 bytes: the wire width),
/// `security_version` (uint, 4 bytes), `config_id` (bytes), `timestamp` (uint, 8 bytes),
/// `report_data` (bytes), `signature` (bytes), `quote` (bytes), `dcap_collateral` and
/// `snp_collateral` (aggregates, omitted when absent); byte fields are omitted when empty, so
/// simulated evidence digests as it did before hardware evidence existed.
impl Digestible for wire::Evidence {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"Evidence", |f| {
            f.u32(b"kind", self.kind)
                .bytes(b"measurement", &self.measurement)
                .bytes(b"signer_id", &self.signer_id)
                .u32(b"product_id", self.product_id)
                .u32(b"security_version", self.security_version)
                .bytes(b"config_id", &self.config_id)
                .u64(b"timestamp", self.timestamp)
                .bytes(b"report_data", &self.report_data)
                .bytes(b"signature", &self.signature)
                .bytes(b"quote", &self.quote)
                .option(b"dcap_collateral", self.dcap_collateral.as_ref())
                .option(b"snp_collateral", self.snp_collateral.as_ref());
        });
    }
}

/// Digestible schema: aggregate `"DcapCollateral"` with its fields in tag order, strings as
/// bytes, each omitted when empty.
impl Digestible for wire::DcapCollateral {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"DcapCollateral", |f| {
            f.bytes(
                b"pck_crl_issuer_chain",
                self.pck_crl_issuer_chain.as_bytes(),
            )
            .bytes(b"root_ca_crl", &self.root_ca_crl)
            .bytes(b"pck_crl", &self.pck_crl)
            .bytes(
                b"tcb_info_issuer_chain",
                self.tcb_info_issuer_chain.as_bytes(),
            )
            .bytes(b"tcb_info", self.tcb_info.as_bytes())
            .bytes(b"tcb_info_signature", &self.tcb_info_signature)
            .bytes(
                b"qe_identity_issuer_chain",
                self.qe_identity_issuer_chain.as_bytes(),
            )
            .bytes(b"qe_identity", self.qe_identity.as_bytes())
            .bytes(b"qe_identity_signature", &self.qe_identity_signature)
            .bytes(
                b"pck_certificate_chain",
                self.pck_certificate_chain.as_bytes(),
            );
        });
    }
}

/// Digestible schema: aggregate `"SnpCollateral"` with `vcek` (bytes, omitted when empty).
impl Digestible for wire::SnpCollateral {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"SnpCollateral", |f| {
            f.bytes(b"vcek", &self.vcek);
        });
    }
}

/// Digestible schema: aggregate `"BoundEvidence"` with `evidence` (the `Evidence` aggregate,
/// omitted when absent), `channel_key` (bytes), `custom_identity` (bytes, omitted when
/// empty).
impl Digestible for wire::BoundEvidence {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"BoundEvidence", |f| {
            f.option(b"evidence", self.evidence.as_ref())
                .bytes(b"channel_key", &self.channel_key)
                .bytes(b"custom_identity", &self.custom_identity);
        });
    }
}
