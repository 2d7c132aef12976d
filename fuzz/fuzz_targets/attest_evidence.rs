//! Attestation evidence (`attest.Evidence`, `attest.BoundEvidence`) from untrusted bytes:
//! decoding never panics, and what decodes re-encodes to the same value.
#![no_main]

use fog_attest::{BoundEvidence, Evidence};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Evidence::decode(data) {
        assert_eq!(Evidence::decode(&e.encode_to_vec()), Ok(e));
    }
    if let Ok(b) = BoundEvidence::decode(data) {
        let _ = b.expected_report_data();
        assert_eq!(BoundEvidence::decode(&b.encode_to_vec()), Ok(b));
    }
});
