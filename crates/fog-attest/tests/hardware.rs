//! Real hardware evidence (Intel SGX and TDX DCAP quotes, an AMD SEV-SNP report, each with
//! its published collateral; see `tests/data/README.md`) checked offline against the pinned
//! vendor roots, and each way of breaking it refused with its own error.

use fog_attest::platform::{dcap, snp, Claims};
use fog_attest::wire::{DcapCollateral, SnpCollateral};
use fog_attest::{
    Collateral, Evidence, EvidenceKind, IdentityRule, Policy, QuoteEvidence, ReportData, SnpTcb,
    TcbStatus, TrustAnchor, UnixSeconds, Verifier, VerifyError,
};

/// 2025-06-20T00:00:00Z: inside the June 2025 SGX and TDX collateral.
const JUNE_2025: UnixSeconds = UnixSeconds(1_750_377_600);
/// 2026-02-19T00:00:00Z: inside the outdated TDX sample's collateral.
const FEB_2026: UnixSeconds = UnixSeconds(1_771_459_200);
/// 2025-01-01T00:00:00Z: inside the Milan VCEK's validity (2023-04-03 to 2030-04-03).
const JAN_2025: UnixSeconds = UnixSeconds(1_735_689_600);

fn collateral(json: &[u8]) -> DcapCollateral {
    dcap::collateral_from_json(json).expect("sample collateral parses")
}

fn sgx() -> QuoteEvidence {
    QuoteEvidence {
        kind: EvidenceKind::SgxDcap,
        quote: include_bytes!("data/sgx_quote").to_vec(),
        collateral: Collateral::Dcap(Box::new(collateral(include_bytes!(
            "data/sgx_quote_collateral.json"
        )))),
    }
}

fn tdx() -> QuoteEvidence {
    QuoteEvidence {
        kind: EvidenceKind::TdxDcap,
        quote: include_bytes!("data/tdx_quote").to_vec(),
        collateral: Collateral::Dcap(Box::new(collateral(include_bytes!(
            "data/tdx_quote_collateral.json"
        )))),
    }
}

fn tdx_outdated() -> QuoteEvidence {
    QuoteEvidence {
        kind: EvidenceKind::TdxDcap,
        quote: include_bytes!("data/tdx_quote_outdated").to_vec(),
        collateral: Collateral::Dcap(Box::new(collateral(include_bytes!(
            "data/tdx_quote_outdated_collateral.json"
        )))),
    }
}

fn snp() -> QuoteEvidence {
    let hex_text = include_str!("data/snp_report_milan.hex");
    QuoteEvidence {
        kind: EvidenceKind::SevSnp,
        quote: hex::decode(hex_text.trim()).expect("hex"),
        collateral: Collateral::Snp(SnpCollateral {
            vcek: include_bytes!("data/snp_vcek_milan.der").to_vec(),
        }),
    }
}

/// The claims of a sample, as the verifier reads them once its signatures hold (used to
/// write the policy that accepts it).
fn claims(q: &QuoteEvidence, now: UnixSeconds) -> Claims {
    match &q.collateral {
        Collateral::Dcap(c) => {
            dcap::verify(q.kind, &q.quote, c, dcap::INTEL_SGX_ROOT_CA_DER, now.0)
                .expect("sample verifies")
                .claims
        }
        Collateral::Snp(c) => {
            snp::verify(&q.quote, c, &snp::amd_roots(), None, now.0)
                .expect("sample verifies")
                .claims
        }
    }
}

/// The rule that accepts exactly this sample's code.
fn rule_for(q: &QuoteEvidence, now: UnixSeconds) -> IdentityRule {
    match claims(q, now) {
        Claims::Sgx(id) => IdentityRule::SgxMrEnclave(id.measurement),
        Claims::Tdx { mrtd, rtmrs, .. } => IdentityRule::Tdx {
            mrtd,
            rtmrs: rtmrs.map(Some),
        },
        Claims::Snp { measurement, .. } => IdentityRule::Snp { measurement },
    }
}

fn verifier(rules: Vec<IdentityRule>, accepted_tcb: Vec<TcbStatus>) -> Verifier {
    let mut policy = Policy::new(rules, 3600);
    policy.accepted_tcb = accepted_tcb;
    Verifier::with_anchors(vec![TrustAnchor::intel(), TrustAnchor::amd()], policy)
}

fn own_report_data(q: &QuoteEvidence) -> ReportData {
    Evidence::Quote(q.clone())
        .report_data()
        .expect("report data")
}

fn check(
    v: &Verifier,
    q: &QuoteEvidence,
    now: UnixSeconds,
) -> Result<fog_attest::Verdict, VerifyError> {
    v.verify(&Evidence::Quote(q.clone()), &own_report_data(q), now)
}

#[test]
fn the_sgx_sample_verifies_and_its_tcb_status_is_reported() {
    let q = sgx();
    let rule = rule_for(&q, JUNE_2025);
    // Intel rates this platform ConfigurationAndSWHardeningNeeded: refused by default...
    assert_eq!(
        check(&verifier(vec![rule.clone()], vec![]), &q, JUNE_2025),
        Err(VerifyError::TcbOutOfDate)
    );
    // ...accepted when the policy allows that status, and then reported with the advisories.
    let verdict = check(
        &verifier(
            vec![rule],
            vec![TcbStatus::ConfigurationAndSwHardeningNeeded],
        ),
        &q,
        JUNE_2025,
    )
    .expect("accepted");
    assert_eq!(verdict.kind, EvidenceKind::SgxDcap);
    assert_eq!(
        verdict.tcb_status,
        TcbStatus::ConfigurationAndSwHardeningNeeded
    );
    assert!(verdict.tcb_below_date());
    assert!(
        verdict
            .advisory_ids
            .iter()
            .any(|a| a.starts_with("INTEL-SA-")),
        "{:?}",
        verdict.advisory_ids
    );
}

#[test]
fn the_tdx_sample_verifies_up_to_date() {
    let q = tdx();
    let v = verifier(vec![rule_for(&q, JUNE_2025)], vec![]);
    let verdict = check(&v, &q, JUNE_2025).expect("accepted");
    assert_eq!(verdict.kind, EvidenceKind::TdxDcap);
    assert_eq!(verdict.tcb_status, TcbStatus::UpToDate);
}

#[test]
fn the_snp_sample_verifies() {
    let q = snp();
    let v = verifier(vec![rule_for(&q, JAN_2025)], vec![]);
    let verdict = check(&v, &q, JAN_2025).expect("accepted");
    assert_eq!(verdict.kind, EvidenceKind::SevSnp);
    assert_eq!(verdict.tcb_status, TcbStatus::UpToDate);
    let Claims::Snp { vmpl, tcb, .. } = claims(&q, JAN_2025) else {
        panic!("not SNP claims")
    };
    assert_eq!(vmpl, 0);
    assert!(tcb.snp > 0 && tcb.microcode > 0, "{tcb:?}");
}

#[test]
fn evidence_survives_its_wire_form() {
    for q in [sgx(), tdx(), snp()] {
        let e = Evidence::Quote(q);
        assert_eq!(Evidence::decode(&e.encode_to_vec()), Ok(e.clone()));
    }
}

#[test]
fn a_flipped_bit_in_any_quote_is_refused() {
    // SGX: the report body's ISV product id; TDX: a byte of MRTD; SNP: the measurement.
    for (q, at, now, allow) in [
        (
            sgx(),
            48 + 256,
            JUNE_2025,
            vec![TcbStatus::ConfigurationAndSwHardeningNeeded],
        ),
        (tdx(), 48 + 136, JUNE_2025, vec![]),
        (snp(), 0x90, JAN_2025, vec![]),
    ] {
        let v = verifier(vec![rule_for(&q, now)], allow);
        assert!(check(&v, &q, now).is_ok());
        let mut bad = q.clone();
        bad.quote[at] ^= 1;
        assert_eq!(
            check(&v, &bad, now),
            Err(VerifyError::BadSignature),
            "{:?}",
            q.kind
        );
    }
}

#[test]
fn tampered_collateral_is_refused() {
    // Intel's signed TCB info, one character changed.
    let mut q = tdx();
    let v = verifier(vec![rule_for(&q, JUNE_2025)], vec![]);
    let Collateral::Dcap(c) = &mut q.collateral else {
        unreachable!()
    };
    c.tcb_info = c.tcb_info.replacen("\"TDX\"", "\"TDx\"", 1);
    assert_eq!(check(&v, &q, JUNE_2025), Err(VerifyError::BadSignature));

    // The VCEK's signature by the ASK, one bit flipped: no pinned root signed it.
    let mut q = snp();
    let v = verifier(vec![rule_for(&q, JAN_2025)], vec![]);
    let Collateral::Snp(c) = &mut q.collateral else {
        unreachable!()
    };
    let last = c.vcek.len() - 10;
    c.vcek[last] ^= 1;
    assert_eq!(check(&v, &q, JAN_2025), Err(VerifyError::BadChain));
}

#[test]
fn a_wrong_measurement_is_refused() {
    let sgx_q = sgx();
    let Claims::Sgx(id) = claims(&sgx_q, JUNE_2025) else {
        panic!()
    };
    let mut other = id.measurement;
    other.0[0] ^= 1;
    let v = verifier(
        vec![IdentityRule::SgxMrEnclave(other)],
        vec![TcbStatus::ConfigurationAndSwHardeningNeeded],
    );
    assert_eq!(
        check(&v, &sgx_q, JUNE_2025),
        Err(VerifyError::UnknownMeasurement)
    );
    // The right MRSIGNER with a product id the enclave does not have.
    let v = verifier(
        vec![IdentityRule::SgxMrSigner {
            mrsigner: id.signer_id,
            isv_prod_id: id.product_id.wrapping_add(1),
            min_isv_svn: 0,
        }],
        vec![TcbStatus::ConfigurationAndSwHardeningNeeded],
    );
    assert_eq!(check(&v, &sgx_q, JUNE_2025), Err(VerifyError::WrongProduct));
    // And an ISV SVN floor above it.
    let v = verifier(
        vec![IdentityRule::SgxMrSigner {
            mrsigner: id.signer_id,
            isv_prod_id: id.product_id,
            min_isv_svn: id.security_version + 1,
        }],
        vec![TcbStatus::ConfigurationAndSwHardeningNeeded],
    );
    assert_eq!(
        check(&v, &sgx_q, JUNE_2025),
        Err(VerifyError::SecurityVersionTooOld)
    );

    let tdx_q = tdx();
    let Claims::Tdx { mrtd, rtmrs, .. } = claims(&tdx_q, JUNE_2025) else {
        panic!()
    };
    let mut wrong = mrtd;
    wrong[47] ^= 1;
    let v = verifier(
        vec![IdentityRule::Tdx {
            mrtd: wrong,
            rtmrs: [None; 4],
        }],
        vec![],
    );
    assert_eq!(
        check(&v, &tdx_q, JUNE_2025),
        Err(VerifyError::UnknownMeasurement)
    );
    let mut rtmr2 = rtmrs[2];
    rtmr2[0] ^= 1;
    let v = verifier(
        vec![IdentityRule::Tdx {
            mrtd,
            rtmrs: [None, None, Some(rtmr2), None],
        }],
        vec![],
    );
    assert_eq!(
        check(&v, &tdx_q, JUNE_2025),
        Err(VerifyError::WrongRuntimeMeasurement)
    );

    let snp_q = snp();
    let Claims::Snp { measurement, .. } = claims(&snp_q, JAN_2025) else {
        panic!()
    };
    let mut wrong = measurement;
    wrong[3] ^= 1;
    let v = verifier(vec![IdentityRule::Snp { measurement: wrong }], vec![]);
    assert_eq!(
        check(&v, &snp_q, JAN_2025),
        Err(VerifyError::UnknownMeasurement)
    );
    // A rule of another platform never matches: the SGX sample's MRENCLAVE does not admit
    // the TDX quote.
    let v = verifier(vec![IdentityRule::SgxMrEnclave(id.measurement)], vec![]);
    assert_eq!(
        check(&v, &tdx_q, JUNE_2025),
        Err(VerifyError::UnknownMeasurement)
    );
    // Nor do simulated rules with the SGX sample's values admit the SGX quote (a simulation
    // key could sign anything; only SGX rules speak for SGX evidence).
    let v = verifier(
        vec![
            IdentityRule::Measurement(id.measurement),
            IdentityRule::Signer {
                signer_id: id.signer_id,
                product_id: id.product_id,
                min_security_version: 0,
            },
        ],
        vec![TcbStatus::ConfigurationAndSwHardeningNeeded],
    );
    assert_eq!(
        check(&v, &sgx_q, JUNE_2025),
        Err(VerifyError::UnknownMeasurement)
    );
}

#[test]
fn expired_collateral_is_refused() {
    // The PCK CRL and TCB info of June 2025 expire on 2025-07-19.
    let q = tdx();
    let v = verifier(vec![rule_for(&q, JUNE_2025)], vec![]);
    let july_20 = UnixSeconds(1_752_969_600);
    assert_eq!(check(&v, &q, july_20), Err(VerifyError::CollateralExpired));
    // Collateral from after the quote's verifier clock: not yet valid.
    let june_1 = UnixSeconds(1_748_736_000);
    assert_eq!(
        check(&v, &q, june_1),
        Err(VerifyError::CollateralNotYetValid)
    );

    // The Milan VCEK is valid until 2030-04-03.
    let q = snp();
    let v = verifier(vec![rule_for(&q, JAN_2025)], vec![]);
    let may_2030 = UnixSeconds(1_904_256_000);
    assert_eq!(check(&v, &q, may_2030), Err(VerifyError::CollateralExpired));
}

#[test]
fn an_outdated_tcb_is_refused_unless_the_policy_accepts_it() {
    // This TDX platform's TCB is below every level in Intel's TCB info of February 2026: out
    // of date beyond any status a policy can accept.
    let q = tdx_outdated();
    let parsed = dcap_qvl::quote::Quote::parse(&q.quote).expect("quote parses");
    let mrtd = parsed.report.as_td10().expect("a TD report").mr_td;
    for accepted in [
        vec![],
        vec![
            TcbStatus::OutOfDate,
            TcbStatus::OutOfDateConfigurationNeeded,
        ],
    ] {
        let v = verifier(
            vec![IdentityRule::Tdx {
                mrtd,
                rtmrs: [None; 4],
            }],
            accepted,
        );
        assert_eq!(check(&v, &q, FEB_2026), Err(VerifyError::TcbOutOfDate));
    }
    // The SGX sample's ConfigurationAndSWHardeningNeeded: see
    // the_sgx_sample_verifies_and_its_tcb_status_is_reported.

    // SNP: a floor above the TCB the VCEK certifies.
    let q = snp();
    let Claims::Snp { tcb, .. } = claims(&q, JAN_2025) else {
        panic!()
    };
    let mut policy = Policy::new(vec![rule_for(&q, JAN_2025)], 3600);
    policy.snp_tcb_floor = Some(SnpTcb {
        microcode: tcb.microcode + 1,
        ..tcb
    });
    let v = Verifier::new(TrustAnchor::amd(), policy.clone());
    assert_eq!(check(&v, &q, JAN_2025), Err(VerifyError::TcbOutOfDate));
    // Accepted when the policy allows an out-of-date TCB, and then reported.
    policy.accepted_tcb = vec![TcbStatus::OutOfDate];
    let v = Verifier::new(TrustAnchor::amd(), policy.clone());
    assert_eq!(
        check(&v, &q, JAN_2025).map(|v| v.tcb_status),
        Ok(TcbStatus::OutOfDate)
    );
    policy.accepted_tcb.clear();
    policy.snp_tcb_floor = Some(tcb);
    let v = Verifier::new(TrustAnchor::amd(), policy);
    assert_eq!(
        check(&v, &q, JAN_2025).map(|v| v.tcb_status),
        Ok(TcbStatus::UpToDate)
    );
}

#[test]
fn wrong_report_data_is_refused() {
    for (q, now, allow) in [
        (
            sgx(),
            JUNE_2025,
            vec![TcbStatus::ConfigurationAndSwHardeningNeeded],
        ),
        (tdx(), JUNE_2025, vec![]),
        (snp(), JAN_2025, vec![]),
    ] {
        let v = verifier(vec![rule_for(&q, now)], allow);
        let other = ReportData::bind(&[7; 32], None);
        assert_eq!(
            v.verify(&Evidence::Quote(q.clone()), &other, now),
            Err(VerifyError::ReportDataMismatch),
            "{:?}",
            q.kind
        );
    }
}

#[test]
fn evidence_without_its_anchor_is_refused() {
    let q = tdx();
    let rule = rule_for(&q, JUNE_2025);
    // Only AMD's roots: nothing vouches for an Intel quote.
    let v = Verifier::new(TrustAnchor::amd(), Policy::new(vec![rule.clone()], 3600));
    assert_eq!(check(&v, &q, JUNE_2025), Err(VerifyError::UntrustedKind));
    // Another root in Intel's place (AMD's Milan ARK): the chain does not verify.
    let other_root = x509_der(snp::amd_roots()[0].ark_pem);
    let v = Verifier::new(
        TrustAnchor::IntelSgxRoot(other_root),
        Policy::new(vec![rule], 3600),
    );
    assert_eq!(check(&v, &q, JUNE_2025), Err(VerifyError::BadSignature));
}

#[test]
fn malformed_hardware_evidence_is_refused() {
    // An SGX quote labelled TDX, a truncated quote, an SNP report of the wrong length, and
    // collateral of the other platform.
    let v = verifier(vec![rule_for(&sgx(), JUNE_2025)], vec![]);
    let mut q = sgx();
    q.kind = EvidenceKind::TdxDcap;
    assert_eq!(
        check(&v, &sgx(), JUNE_2025).err(),
        Some(VerifyError::TcbOutOfDate)
    );
    assert_eq!(
        v.verify(&Evidence::Quote(q), &ReportData([0; 64]), JUNE_2025),
        Err(VerifyError::Malformed)
    );
    let mut q = sgx();
    q.quote.truncate(600);
    assert_eq!(
        v.verify(&Evidence::Quote(q), &ReportData([0; 64]), JUNE_2025),
        Err(VerifyError::Malformed)
    );
    let mut q = snp();
    q.quote.push(0);
    assert_eq!(
        v.verify(&Evidence::Quote(q), &ReportData([0; 64]), JAN_2025),
        Err(VerifyError::Malformed)
    );
    let mut q = snp();
    q.collateral = sgx().collateral;
    assert_eq!(
        v.verify(&Evidence::Quote(q), &ReportData([0; 64]), JAN_2025),
        Err(VerifyError::Malformed)
    );
    // On the wire: hardware evidence with simulated fields, or without its collateral.
    let mut w = Evidence::Quote(tdx()).to_wire();
    w.timestamp = 5;
    assert_eq!(Evidence::from_wire(&w), Err(VerifyError::Malformed));
    let mut w = Evidence::Quote(tdx()).to_wire();
    w.dcap_collateral = None;
    assert_eq!(Evidence::from_wire(&w), Err(VerifyError::Malformed));
    let mut w = Evidence::Quote(snp()).to_wire();
    w.dcap_collateral = Some(DcapCollateral::default());
    assert_eq!(Evidence::from_wire(&w), Err(VerifyError::Malformed));
}

fn x509_der(pem: &[u8]) -> Vec<u8> {
    use x509_cert::der::{DecodePem as _, Encode as _};
    x509_cert::Certificate::from_pem(pem)
        .expect("pem")
        .to_der()
        .expect("der")
}
