//! Report responses from untrusted bytes: decoding, the certificate chain check, report
//! decoding and the digest never panic.
#![no_main]

use fog_attest::chain::verify_chain;
use fog_attest::report::report_list_digest;
use fog_attest::wire::ReportResponse;
use fog_attest::{Report, UnixSeconds};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = ReportResponse::decode(data) {
        let _ = verify_chain(&r.chain, UnixSeconds(1_750_000_000));
        for rep in &r.reports {
            if let Ok(d) = Report::from_wire(rep) {
                assert_eq!(Report::from_wire(&d.to_wire()), Ok(d));
            }
        }
        let _ = report_list_digest(&r.reports);
    }
    // The chain decoder alone, on the raw bytes as one certificate.
    let _ = verify_chain(&[data.to_vec()], UnixSeconds(1_750_000_000));
});
