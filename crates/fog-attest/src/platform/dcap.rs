//! Intel DCAP quotes (SGX version 3, TDX versions 4 and 5) checked offline with their
//! collateral, up to Intel's SGX root CA.
//!
//! The signature work is Phala's `dcap-qvl` (ECDSA P-256 over the quote, the QE report and
//! the collateral; the PCK chain, the TCB signing chain and both CRLs to the pinned root; QE
//! identity; the platform's TCB level; debug and TD attributes). Before it runs, this module
//! checks the collateral's validity windows itself (TCB info and QE identity `issueDate` /
//! `nextUpdate`, both CRLs' `thisUpdate` / `nextUpdate`, every certificate's validity), so
//! that stale collateral is refused by name ([`VerifyError::CollateralExpired`]) rather than
//! as a failed signature. A revoked certificate or TCB is [`VerifyError::Revoked`]; a
//! platform whose TCB is below every level Intel still lists is [`VerifyError::TcbOutOfDate`]
//! whatever the policy accepts; debug or
//! unsafe TD attributes are [`VerifyError::UnsafeAttributes`]; everything else that does not
//! verify is [`VerifyError::BadSignature`].

use super::{check_validity, x509_secs, Claims, TcbStatus, VerifiedQuote};
use crate::error::VerifyError;
use crate::evidence::{ConfigId, EnclaveIdentity, EvidenceKind, Measurement, ReportData, SignerId};
use crate::wire::DcapCollateral;
use dcap_qvl::quote::{Quote, Report};
use x509_cert::der::Decode as _;

/// Intel's SGX Root CA certificate (DER); see `roots/README.md`.
pub const INTEL_SGX_ROOT_CA_DER: &[u8] = include_bytes!("../../roots/intel_sgx_root_ca.der");

/// The certification data type that carries the PCK chain as PEM.
const PCK_CHAIN_PEM: u16 = 5;

fn parse(quote: &[u8]) -> Result<Quote, VerifyError> {
    Quote::parse(quote).map_err(|_| VerifyError::Malformed)
}

/// The report data of a quote, unverified.
pub fn report_data(quote: &[u8]) -> Result<ReportData, VerifyError> {
    let q = parse(quote)?;
    Ok(ReportData(match &q.report {
        Report::SgxEnclave(r) => r.report_data,
        other => other.as_td10().ok_or(VerifyError::Malformed)?.report_data,
    }))
}

/// Checks `quote` of `kind` with `collateral` up to `root_der` at `now` (seconds).
pub fn verify(
    kind: EvidenceKind,
    quote: &[u8],
    collateral: &DcapCollateral,
    root_der: &[u8],
    now: u64,
) -> Result<VerifiedQuote, VerifyError> {
    let parsed = parse(quote)?;
    let is_sgx = parsed.report.is_sgx();
    match kind {
        EvidenceKind::SgxDcap if is_sgx => {}
        EvidenceKind::TdxDcap if !is_sgx => {}
        _ => return Err(VerifyError::Malformed),
    }
    check_windows(&parsed, collateral, now)?;

    let v3 = dcap_qvl::QuoteCollateralV3 {
        pck_crl_issuer_chain: collateral.pck_crl_issuer_chain.clone(),
        root_ca_crl: collateral.root_ca_crl.clone(),
        pck_crl: collateral.pck_crl.clone(),
        tcb_info_issuer_chain: collateral.tcb_info_issuer_chain.clone(),
        tcb_info: collateral.tcb_info.clone(),
        tcb_info_signature: collateral.tcb_info_signature.clone(),
        qe_identity_issuer_chain: collateral.qe_identity_issuer_chain.clone(),
        qe_identity: collateral.qe_identity.clone(),
        qe_identity_signature: collateral.qe_identity_signature.clone(),
        pck_certificate_chain: (!collateral.pck_certificate_chain.is_empty())
            .then(|| collateral.pck_certificate_chain.clone()),
    };
    let verified = dcap_qvl::verify::QuoteVerifier::new(root_der.to_vec())
        .verify(quote, &v3, now)
        .map_err(|e| classify(&format!("{e:#}")))?;
    let tcb_status = TcbStatus::from_name(&verified.status)?;

    let (claims, report_data) = match &verified.report {
        Report::SgxEnclave(r) => {
            let mut config_id = [0u8; 64];
            config_id.copy_from_slice(&r.reserved3[32..96]);
            (
                Claims::Sgx(EnclaveIdentity {
                    measurement: Measurement(r.mr_enclave),
                    signer_id: SignerId(r.mr_signer),
                    product_id: r.isv_prod_id,
                    security_version: r.isv_svn,
                    config_id: ConfigId(config_id),
                }),
                r.report_data,
            )
        }
        other => {
            let td = other.as_td10().ok_or(VerifyError::Malformed)?;
            (
                Claims::Tdx {
                    mrtd: td.mr_td,
                    rtmrs: [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3],
                    mr_config_id: td.mr_config_id,
                },
                td.report_data,
            )
        }
    };
    Ok(VerifiedQuote {
        claims,
        report_data: ReportData(report_data),
        tcb_status,
        advisory_ids: verified.advisory_ids,
    })
}

/// Names a failure of `dcap-qvl` from its message: revocation (of a certificate by a CRL,
/// or of the TCB by Intel) and unsafe attributes have their own errors; the rest is a
/// signature or chain that does not verify.
fn classify(message: &str) -> VerifyError {
    if message.contains("Revoked") {
        VerifyError::Revoked
    } else if message.contains("No matching TCB level") {
        // The platform's TCB is below every level Intel's TCB info still lists: out of date
        // beyond any status a policy could accept.
        VerifyError::TcbOutOfDate
    } else if message.contains("Debug mode")
        || message.contains("TD profiling")
        || message.contains("TD migration")
        || message.contains("SEPT_VE_DISABLE")
        || message.contains("Reserved bits in TD attributes")
    {
        VerifyError::UnsafeAttributes
    } else {
        VerifyError::BadSignature
    }
}

/// The collateral's and the chains' validity windows at `now`.
fn check_windows(quote: &Quote, c: &DcapCollateral, now: u64) -> Result<(), VerifyError> {
    for json in [&c.tcb_info, &c.qe_identity] {
        let (issued, next) = json_window(json)?;
        if now < issued {
            return Err(VerifyError::CollateralNotYetValid);
        }
        if now > next {
            return Err(VerifyError::CollateralExpired);
        }
    }
    for crl in [&c.root_ca_crl, &c.pck_crl] {
        let crl =
            x509_cert::crl::CertificateList::from_der(crl).map_err(|_| VerifyError::Malformed)?;
        if now < x509_secs(&crl.tbs_cert_list.this_update) {
            return Err(VerifyError::CollateralNotYetValid);
        }
        match &crl.tbs_cert_list.next_update {
            Some(next) if now > x509_secs(next) => return Err(VerifyError::CollateralExpired),
            _ => {}
        }
    }
    let auth = quote.auth_data.clone().into_v3();
    let quote_chain = if auth.certification_data.cert_type == PCK_CHAIN_PEM {
        auth.certification_data.body.data
    } else {
        Vec::new()
    };
    for pem in [
        c.pck_crl_issuer_chain.as_bytes(),
        c.tcb_info_issuer_chain.as_bytes(),
        c.qe_identity_issuer_chain.as_bytes(),
        c.pck_certificate_chain.as_bytes(),
        quote_chain.as_slice(),
    ] {
        if pem.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
            continue;
        }
        // The quote's chain may end with NUL padding.
        let end = pem.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        let certs = x509_cert::Certificate::load_pem_chain(&pem[..end])
            .map_err(|_| VerifyError::Malformed)?;
        for cert in &certs {
            check_validity(cert, now)?;
        }
    }
    Ok(())
}

/// `issueDate` and `nextUpdate` of a TCB info or QE identity body, in seconds.
fn json_window(json: &str) -> Result<(u64, u64), VerifyError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|_| VerifyError::Malformed)?;
    let date = |field: &str| -> Result<u64, VerifyError> {
        let text = value
            .get(field)
            .and_then(|v| v.as_str())
            .ok_or(VerifyError::Malformed)?;
        let t = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| VerifyError::Malformed)?;
        u64::try_from(t.timestamp()).map_err(|_| VerifyError::Malformed)
    };
    Ok((date("issueDate")?, date("nextUpdate")?))
}

/// Reads collateral in the JSON form Intel's collateral tools and `dcap-qvl` write (the
/// `QuoteCollateralV3` fields, byte strings as hex).
pub fn collateral_from_json(json: &[u8]) -> Result<DcapCollateral, VerifyError> {
    let c: dcap_qvl::QuoteCollateralV3 =
        serde_json::from_slice(json).map_err(|_| VerifyError::Malformed)?;
    Ok(DcapCollateral {
        pck_crl_issuer_chain: c.pck_crl_issuer_chain,
        root_ca_crl: c.root_ca_crl,
        pck_crl: c.pck_crl,
        tcb_info_issuer_chain: c.tcb_info_issuer_chain,
        tcb_info: c.tcb_info,
        tcb_info_signature: c.tcb_info_signature,
        qe_identity_issuer_chain: c.qe_identity_issuer_chain,
        qe_identity: c.qe_identity,
        qe_identity_signature: c.qe_identity_signature,
        pck_certificate_chain: c.pck_certificate_chain.unwrap_or_default(),
    })
}
