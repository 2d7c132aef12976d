//! Evidence assembled from what the Linux configfs-tsm interface returns inside a
//! confidential VM, using real reports: a TDX quote with Intel's collateral, an SNP report
//! with its VCEK in the host's certificate table. (The configfs I/O itself needs a
//! confidential VM; here a directory that is not configfs-tsm is refused by name.)

use fog_attest::platform::{dcap, snp, Claims};
use fog_attest::tsm::{evidence_from_report, vcek_from_cert_table, TsmProvider, TsmReport};
use fog_attest::{
    Error, Evidence, EvidenceKind, IdentityRule, Policy, Provider as _, ReportData, TrustAnchor,
    UnixSeconds, Verifier,
};

const JUNE_2025: UnixSeconds = UnixSeconds(1_750_377_600);
const JAN_2025: UnixSeconds = UnixSeconds(1_735_689_600);
const VCEK_GUID: [u8; 16] = [
    0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd,
];
const ARK_GUID: [u8; 16] = [
    0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae,
];

fn tdx_quote() -> Vec<u8> {
    include_bytes!("data/tdx_quote").to_vec()
}

fn snp_report() -> Vec<u8> {
    hex::decode(include_str!("data/snp_report_milan.hex").trim()).expect("hex")
}

fn vcek() -> Vec<u8> {
    include_bytes!("data/snp_vcek_milan.der").to_vec()
}

/// A certificate table as the host hands it to the guest: an ARK entry (placeholder bytes),
/// the VCEK, the terminator, then the certificates.
fn cert_table(vcek: &[u8]) -> Vec<u8> {
    let ark = vec![0xAA; 100];
    let header = 3 * 24;
    let mut t = Vec::new();
    for (guid, offset, len) in [
        (ARK_GUID, header, ark.len()),
        (VCEK_GUID, header + ark.len(), vcek.len()),
    ] {
        t.extend_from_slice(&guid);
        t.extend_from_slice(&(offset as u32).to_le_bytes());
        t.extend_from_slice(&(len as u32).to_le_bytes());
    }
    t.extend_from_slice(&[0; 24]);
    t.extend_from_slice(&ark);
    t.extend_from_slice(vcek);
    t
}

fn report_data_of(kind: EvidenceKind, quote: &[u8]) -> ReportData {
    match kind {
        EvidenceKind::SevSnp => snp::report_data(quote).expect("report data"),
        _ => dcap::report_data(quote).expect("report data"),
    }
}

#[test]
fn a_tdx_report_becomes_evidence_that_verifies() {
    let quote = tdx_quote();
    let collateral = dcap::collateral_from_json(include_bytes!("data/tdx_quote_collateral.json"))
        .expect("collateral");
    let rd = report_data_of(EvidenceKind::TdxDcap, &quote);
    let report = TsmReport {
        provider: "tdx_guest\n".into(),
        outblob: quote.clone(),
        auxblob: Vec::new(),
    };
    let evidence = evidence_from_report(&report, &rd, Some(&collateral), None).expect("evidence");
    assert_eq!(evidence.kind(), EvidenceKind::TdxDcap);
    let Claims::Tdx { mrtd, .. } = dcap::verify(
        EvidenceKind::TdxDcap,
        &quote,
        &collateral,
        dcap::INTEL_SGX_ROOT_CA_DER,
        JUNE_2025.0,
    )
    .expect("verifies")
    .claims
    else {
        panic!("not TDX")
    };
    let v = Verifier::new(
        TrustAnchor::intel(),
        Policy::new(
            vec![IdentityRule::Tdx {
                mrtd,
                rtmrs: [None; 4],
            }],
            3600,
        ),
    );
    assert!(v.verify(&evidence, &rd, JUNE_2025).is_ok());

    // Without Intel's collateral there is no TDX evidence.
    let e = evidence_from_report(&report, &rd, None, None).unwrap_err();
    assert!(
        matches!(&e, Error::Provider(m) if m.contains("--dcap-collateral")),
        "{e}"
    );
}

#[test]
fn an_snp_report_takes_its_vcek_from_the_hosts_certificate_table() {
    let quote = snp_report();
    let rd = report_data_of(EvidenceKind::SevSnp, &quote);
    let report = TsmReport {
        provider: "sev_guest".into(),
        outblob: quote.clone(),
        auxblob: cert_table(&vcek()),
    };
    let evidence = evidence_from_report(&report, &rd, None, None).expect("evidence");
    let Claims::Snp { measurement, .. } = snp::verify(
        &quote,
        &fog_attest::wire::SnpCollateral { vcek: vcek() },
        &snp::amd_roots(),
        None,
        JAN_2025.0,
    )
    .expect("verifies")
    .claims
    else {
        panic!("not SNP")
    };
    let v = Verifier::new(
        TrustAnchor::amd(),
        Policy::new(vec![IdentityRule::Snp { measurement }], 3600),
    );
    assert!(v.verify(&evidence, &rd, JAN_2025).is_ok());

    // No table: the VCEK file is used; neither: refused, naming the flag.
    let bare = TsmReport {
        auxblob: Vec::new(),
        ..report.clone()
    };
    let from_file = evidence_from_report(&bare, &rd, None, Some(&vcek())).expect("evidence");
    assert_eq!(from_file, evidence);
    let e = evidence_from_report(&bare, &rd, None, None).unwrap_err();
    assert!(
        matches!(&e, Error::Provider(m) if m.contains("--snp-vcek")),
        "{e}"
    );
}

#[test]
fn a_report_for_other_report_data_or_an_unknown_provider_is_refused() {
    let quote = snp_report();
    let report = TsmReport {
        provider: "sev_guest".into(),
        outblob: quote,
        auxblob: cert_table(&vcek()),
    };
    let e = evidence_from_report(&report, &ReportData([9; 64]), None, None).unwrap_err();
    assert!(
        matches!(&e, Error::Provider(m) if m.contains("other report data")),
        "{e}"
    );
    let other = TsmReport {
        provider: "arm_cca_guest".into(),
        ..report
    };
    let e = evidence_from_report(&other, &ReportData([9; 64]), None, None).unwrap_err();
    assert!(
        matches!(&e, Error::Provider(m) if m.contains("not supported")),
        "{e}"
    );
    // A truncated report.
    let short = TsmReport {
        provider: "tdx_guest".into(),
        outblob: tdx_quote()[..100].to_vec(),
        auxblob: Vec::new(),
    };
    let c = dcap::collateral_from_json(include_bytes!("data/tdx_quote_collateral.json")).unwrap();
    assert!(evidence_from_report(&short, &ReportData([0; 64]), Some(&c), None).is_err());
}

#[test]
fn certificate_tables_are_read_safely() {
    let table = cert_table(&vcek());
    assert_eq!(vcek_from_cert_table(&table).unwrap(), Some(vcek()));
    // No VCEK entry.
    let mut no_vcek = table.clone();
    no_vcek[24..48].fill(0);
    assert_eq!(vcek_from_cert_table(&no_vcek).unwrap(), None);
    // An entry pointing past the end, and a table with no terminator.
    let mut past = table.clone();
    past[24 + 20..24 + 24].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(vcek_from_cert_table(&past).is_err());
    assert!(vcek_from_cert_table(&table[..30]).is_err());
    assert!(vcek_from_cert_table(&[]).is_err());
}

#[test]
fn a_directory_that_is_not_configfs_tsm_is_refused_by_name() {
    let missing = std::env::temp_dir().join(format!("fog-no-tsm-{}", std::process::id()));
    let p = TsmProvider::new(missing.join("report"), None, None);
    let e = p.evidence(&ReportData([1; 64])).unwrap_err();
    assert!(
        matches!(&e, Error::Provider(m) if m.contains("confidential VM")),
        "{e}"
    );
    // A plain directory: the entry is made, but the kernel's attributes are not there.
    std::fs::create_dir_all(&missing).unwrap();
    let p = TsmProvider::new(missing.clone(), None, None);
    let e = p.evidence(&ReportData([1; 64])).unwrap_err();
    assert!(
        matches!(&e, Error::Provider(m) if m.contains("generation")),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&missing);
    let _ = Evidence::decode(&[]);
}
