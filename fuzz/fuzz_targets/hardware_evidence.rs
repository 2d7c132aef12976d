//! Hardware evidence from untrusted bytes, through the verifier: the first byte picks what
//! the rest is (0: `attest.Evidence`; 1, 2: a raw SGX or TDX DCAP quote with the real
//! sample's collateral; 3: a raw SEV-SNP report with the real sample's VCEK). Verifying never
//! panics, and nothing but the unchanged samples is accepted.
#![no_main]

use fog_attest::platform::dcap;
use fog_attest::wire::SnpCollateral;
use fog_attest::{
    Collateral, Evidence, EvidenceKind, Policy, QuoteEvidence, ReportData, TcbStatus,
    TrustAnchor, UnixSeconds, Verifier,
};
use libfuzzer_sys::fuzz_target;

const JUNE_2025: UnixSeconds = UnixSeconds(1_750_377_600);
const JAN_2025: UnixSeconds = UnixSeconds(1_735_689_600);

fn verifier() -> Verifier {
    // No identity rule: a quote that verified would stop at the (empty) policy.
    let mut policy = Policy::new(Vec::new(), 3600);
    policy.accepted_tcb = vec![TcbStatus::ConfigurationAndSwHardeningNeeded];
    Verifier::with_anchors(vec![TrustAnchor::intel(), TrustAnchor::amd()], policy)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let v = verifier();
    let (evidence, now) = match mode % 4 {
        0 => match Evidence::decode(rest) {
            Ok(e) => (e, JUNE_2025),
            Err(_) => return,
        },
        1 | 2 => {
            let (kind, json): (_, &[u8]) = if mode % 4 == 1 {
                (
                    EvidenceKind::SgxDcap,
                    include_bytes!("../../crates/fog-attest/tests/data/sgx_quote_collateral.json"),
                )
            } else {
                (
                    EvidenceKind::TdxDcap,
                    include_bytes!("../../crates/fog-attest/tests/data/tdx_quote_collateral.json"),
                )
            };
            let collateral = dcap::collateral_from_json(json).expect("sample collateral");
            (
                Evidence::Quote(QuoteEvidence {
                    kind,
                    quote: rest.to_vec(),
                    collateral: Collateral::Dcap(Box::new(collateral)),
                }),
                JUNE_2025,
            )
        }
        _ => (
            Evidence::Quote(QuoteEvidence {
                kind: EvidenceKind::SevSnp,
                quote: rest.to_vec(),
                collateral: Collateral::Snp(SnpCollateral {
                    vcek: include_bytes!("../../crates/fog-attest/tests/data/snp_vcek_milan.der")
                        .to_vec(),
                }),
            }),
            JAN_2025,
        ),
    };
    let expected = evidence.report_data().unwrap_or(ReportData([0; 64]));
    let _ = v.verify(&evidence, &expected, now);
});
