//! AMD SEV-SNP attestation reports, checked offline up to AMD's pinned roots.
//!
//! A report is signed (ECDSA P-384, SHA-384, over its first `0x2A0` bytes) by the VCEK of
//! the chip and TCB that made it; the VCEK is signed by the ASK of its product line, the ASK
//! by the ARK (RSA-PSS). The `sev` crate parses the report and checks the ARK → ASK → VCEK
//! signatures; the report signature is checked here with `p384` over the bytes exactly as
//! received. The VCEK's own extensions must name the report's chip (hwID, unless the guest
//! masked it) and its reported TCB: the TCB the policy's floor is compared with is the one
//! AMD certified, not only the one the report claims.
//!
//! Refusals: a report or certificate that does not parse is [`VerifyError::Malformed`]; a
//! VCEK outside its validity is [`VerifyError::CollateralExpired`] (or not yet valid); a
//! VCEK no pinned ASK signed, or one for another chip or TCB, is [`VerifyError::BadChain`];
//! a report signature that does not verify is [`VerifyError::BadSignature`]; a guest whose
//! policy allows debugging or a migration agent, or a report asked for below VMPL 0, is
//! [`VerifyError::UnsafeAttributes`].

use super::{check_validity, Claims, SnpTcb, TcbStatus, VerifiedQuote};
use crate::error::VerifyError;
use crate::evidence::ReportData;
use crate::wire::SnpCollateral;
use p384::ecdsa::signature::Verifier as _;
use sev::certs::snp::{ca, Certificate as SevCertificate, Verifiable as _};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser as _;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::Decode as _;

/// The length of an attestation report.
pub const REPORT_LEN: usize = 0x4A0;
/// The signed part of a report.
const SIGNED_LEN: usize = 0x2A0;
/// Where the report data sits.
const REPORT_DATA_AT: usize = 0x50;
/// Guest policy bits a Fog service may not have: MIGRATE_MA (18) and DEBUG (19).
const UNSAFE_POLICY_BITS: u64 = (1 << 18) | (1 << 19);

/// AMD's ARK and ASK of one product line (PEM), as AMD's KDS publishes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdRoot {
    /// The product line: `Milan`, `Genoa`, `Turin`.
    pub product: &'static str,
    /// The ARK certificate, PEM.
    pub ark_pem: &'static [u8],
    /// The ASK certificate, PEM.
    pub ask_pem: &'static [u8],
}

/// The product lines whose roots are pinned.
pub fn amd_roots() -> Vec<AmdRoot> {
    use sev::certs::snp::builtin::{genoa, milan, turin};
    vec![
        AmdRoot {
            product: "Milan",
            ark_pem: milan::ARK,
            ask_pem: milan::ASK,
        },
        AmdRoot {
            product: "Genoa",
            ark_pem: genoa::ARK,
            ask_pem: genoa::ASK,
        },
        AmdRoot {
            product: "Turin",
            ark_pem: turin::ARK,
            ask_pem: turin::ASK,
        },
    ]
}

/// The report data of a report, unverified.
pub fn report_data(report: &[u8]) -> Result<ReportData, VerifyError> {
    if report.len() != REPORT_LEN {
        return Err(VerifyError::Malformed);
    }
    ReportData::from_slice(&report[REPORT_DATA_AT..REPORT_DATA_AT + 64])
}

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

/// Checks `report` with its VCEK up to one of `roots` at `now` (seconds). `tcb_floor`, when
/// given, is the lowest VCEK TCB that counts as up to date.
pub fn verify(
    report: &[u8],
    collateral: &SnpCollateral,
    roots: &[AmdRoot],
    tcb_floor: Option<&SnpTcb>,
    now: u64,
) -> Result<VerifiedQuote, VerifyError> {
    if report.len() != REPORT_LEN {
        return Err(VerifyError::Malformed);
    }
    let parsed = AttestationReport::from_bytes(report).map_err(|_| VerifyError::Malformed)?;
    let vcek =
        x509_cert::Certificate::from_der(&collateral.vcek).map_err(|_| VerifyError::Malformed)?;
    check_validity(&vcek, now)?;

    // VCEK only (the key-info field's signing key 0); a VLEK would need its own roots.
    if parsed.key_info.signing_key() != 0 {
        return Err(VerifyError::BadChain);
    }
    let sev_vcek =
        SevCertificate::from_der(&collateral.vcek).map_err(|_| VerifyError::Malformed)?;
    let chained = roots.iter().any(|root| {
        let (Ok(ark), Ok(ask)) = (
            SevCertificate::from_pem(root.ark_pem),
            SevCertificate::from_pem(root.ask_pem),
        ) else {
            return false;
        };
        let ca = ca::Chain { ark, ask };
        (&ca).verify().is_ok() && (&ca.ask, &sev_vcek).verify().is_ok()
    });
    if !chained {
        return Err(VerifyError::BadChain);
    }

    // The report signature over the bytes as received (r and s little-endian, 72 bytes
    // each, of which P-384 uses 48).
    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(
        vcek.tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
    )
    .map_err(|_| VerifyError::BadChain)?;
    let mut r = [0u8; 48];
    let mut s = [0u8; 48];
    r.copy_from_slice(&report[SIGNED_LEN..SIGNED_LEN + 48]);
    s.copy_from_slice(&report[SIGNED_LEN + 72..SIGNED_LEN + 72 + 48]);
    r.reverse();
    s.reverse();
    let sig = p384::ecdsa::Signature::from_scalars(r, s).map_err(|_| VerifyError::BadSignature)?;
    key.verify(&report[..SIGNED_LEN], &sig)
        .map_err(|_| VerifyError::BadSignature)?;

    // The VCEK must be this chip's and this TCB's.
    let tcb = vcek_tcb(&vcek)?;
    let reported = SnpTcb {
        bootloader: parsed.reported_tcb.bootloader,
        tee: parsed.reported_tcb.tee,
        snp: parsed.reported_tcb.snp,
        microcode: parsed.reported_tcb.microcode,
        fmc: parsed.reported_tcb.fmc,
    };
    if tcb.bootloader != reported.bootloader
        || tcb.tee != reported.tee
        || tcb.snp != reported.snp
        || tcb.microcode != reported.microcode
        || (tcb.fmc.is_some() && tcb.fmc != reported.fmc)
    {
        return Err(VerifyError::BadChain);
    }
    // A platform configured with MASK_CHIP_ID reports an all-zero chip id: nothing to match
    // then (the signature already tied the report to this VCEK's key).
    if !parsed.chip_id.iter().all(|b| *b == 0) {
        let hwid = vcek_hwid(&vcek)?;
        if hwid.is_empty() || hwid.len() > 64 || parsed.chip_id[..hwid.len()] != hwid[..] {
            return Err(VerifyError::BadChain);
        }
    }

    let policy = u64::from_le_bytes(
        report[0x08..0x10]
            .try_into()
            .map_err(|_| VerifyError::Malformed)?,
    );
    if policy & UNSAFE_POLICY_BITS != 0 || parsed.vmpl != 0 {
        return Err(VerifyError::UnsafeAttributes);
    }
    let tcb_status = match tcb_floor {
        Some(floor) if !tcb.meets(floor) => TcbStatus::OutOfDate,
        _ => TcbStatus::UpToDate,
    };
    Ok(VerifiedQuote {
        claims: Claims::Snp {
            measurement: parsed.measurement,
            guest_policy: policy,
            vmpl: parsed.vmpl,
            host_data: parsed.host_data,
            tcb,
        },
        report_data: ReportData(parsed.report_data),
        tcb_status,
        advisory_ids: Vec::new(),
    })
}

/// The extension value of `id` in the VCEK, if present.
fn extension<'a>(vcek: &'a x509_cert::Certificate, id: &str) -> Option<&'a [u8]> {
    let id = oid(id);
    vcek.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == id)
        .map(|e| e.extn_value.as_bytes())
}

/// An SPL extension: a DER INTEGER in 0..=255.
fn spl(vcek: &x509_cert::Certificate, id: &str) -> Result<Option<u8>, VerifyError> {
    match extension(vcek, id) {
        None => Ok(None),
        Some(bytes) => {
            let v = u32::from_der(bytes).map_err(|_| VerifyError::Malformed)?;
            u8::try_from(v)
                .map(Some)
                .map_err(|_| VerifyError::Malformed)
        }
    }
}

/// The TCB the VCEK certifies (AMD's VCEK extensions `1.3.6.1.4.1.3704.1.3.x`).
fn vcek_tcb(vcek: &x509_cert::Certificate) -> Result<SnpTcb, VerifyError> {
    let need = |id| spl(vcek, id)?.ok_or(VerifyError::BadChain);
    Ok(SnpTcb {
        bootloader: need("1.3.6.1.4.1.3704.1.3.1")?,
        tee: need("1.3.6.1.4.1.3704.1.3.2")?,
        snp: need("1.3.6.1.4.1.3704.1.3.3")?,
        microcode: need("1.3.6.1.4.1.3704.1.3.8")?,
        fmc: spl(vcek, "1.3.6.1.4.1.3704.1.3.9")?,
    })
}

/// The chip id the VCEK certifies (extension `1.3.6.1.4.1.3704.1.4`: an OCTET STRING, or
/// the raw bytes in older certificates).
fn vcek_hwid(vcek: &x509_cert::Certificate) -> Result<Vec<u8>, VerifyError> {
    let raw = extension(vcek, "1.3.6.1.4.1.3704.1.4").ok_or(VerifyError::BadChain)?;
    match x509_cert::der::asn1::OctetString::from_der(raw) {
        Ok(o) => Ok(o.as_bytes().to_vec()),
        Err(_) => Ok(raw.to_vec()),
    }
}
