//! The decoders fuzzed in `fuzz/` (evidence, frames, reports, certificate chains) get random
//! and mutated input here too: they must return an error, never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use fog_attest::chain::{verify_chain, GeneratedAuthority};
use fog_attest::*;
use proptest::prelude::*;
use prost::Message as _;

fn valid_bound() -> Vec<u8> {
    let p = provider(300);
    bound(&p, &[9; 32], Some([8; 32]), NOW).encode_to_vec()
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    for (i, x) in edits {
        let n = bytes.len();
        bytes[i % n] ^= x;
    }
    bytes
}

proptest! {
    #[test]
    fn evidence_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Evidence::decode(&bytes);
        let _ = BoundEvidence::decode(&bytes);
    }

    #[test]
    fn mutated_evidence_never_panics(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let bytes = mutate(valid_bound(), &edits);
        if let Ok(b) = BoundEvidence::decode(&bytes) {
            // Whatever decodes re-encodes to something that decodes to the same value.
            prop_assert_eq!(BoundEvidence::decode(&b.encode_to_vec()).unwrap(), b.clone());
            let p = provider(300);
            let _ = measurement_verifier(&p).verify_bound(&b, NOW);
        }
    }

    #[test]
    fn frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), nonce in any::<u64>()) {
        let p = provider(301);
        let e = enclave(&p);
        let (hs, hello) = ClientHandshake::start(measurement_verifier(&p)).unwrap();
        let (mut server, answer) = e.accept(&hello, NOW, SessionLimits::default()).unwrap();
        let _ = hs.finish(&answer, NOW, SessionLimits::default()).unwrap();
        if let Ok(f) = wire::NonceMessage::decode(bytes.as_slice()) {
            prop_assert!(server.open(&f, NOW).is_err());
        }
        let f = wire::NonceMessage { aad: vec![], channel_id: server.id().0.clone(), data: bytes.clone(), nonce };
        prop_assert!(server.open(&f, NOW).is_err());
        prop_assert!(e.accept(&bytes, NOW, SessionLimits::default()).is_err() || bytes.len() == 32);
    }

    #[test]
    fn report_responses_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(r) = wire::ReportResponse::decode(bytes.as_slice()) {
            let _ = verify_chain(&r.chain, NOW);
            for rep in &r.reports {
                let _ = Report::from_wire(rep);
            }
            let _ = fog_attest::report::report_list_digest(&r.reports);
        }
    }

    #[test]
    fn mutated_chains_never_panic(which in 0usize..3, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut r = rng(302);
        let a = GeneratedAuthority::generate(&mut r, "Fuzz", UnixSeconds(NOW.0 - 10), UnixSeconds(NOW.0 + 10)).unwrap();
        let mut chain = a.chain.clone();
        chain[which] = mutate(chain[which].clone(), &edits);
        let _ = verify_chain(&chain, NOW);
    }
}
