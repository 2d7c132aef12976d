//! Handshake messages from untrusted bytes: an enclave's NX responder (a client's first
//! message), a client finishing against a forged answer, and an ingest enclave's IX peer
//! responder. Each refuses garbage without panicking.
#![no_main]

use fog_attest::{
    BoundEvidence, ChannelKeypair, ConfigId, EnclaveIdentity, EnclaveResponder, IdentityRule,
    Measurement, Policy, ReportData, SessionLimits, SignerId, SimProvider, UnixSeconds,
    Verifier,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const NOW: UnixSeconds = UnixSeconds(1_750_000_000);

fn identity() -> EnclaveIdentity {
    EnclaveIdentity {
        measurement: Measurement([1; 32]),
        signer_id: SignerId([2; 32]),
        product_id: 1,
        security_version: 1,
        config_id: ConfigId([0; 64]),
    }
}

struct Setup {
    responder: EnclaveResponder,
    verifier: Verifier,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let p = SimProvider::from_quoting_key(
            fog_attest::ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
            identity(),
        );
        let keys = ChannelKeypair::generate().expect("keys");
        let rd = ReportData::bind(keys.public_key(), None);
        let ev = BoundEvidence {
            evidence: p.evidence_at(&rd, NOW),
            channel_key: *keys.public_key(),
            custom_identity: None,
        };
        let verifier = Verifier::new(
            p.trust_anchor(),
            Policy::new(vec![IdentityRule::Measurement(identity().measurement)], 3600),
        );
        Setup {
            responder: EnclaveResponder::new(keys, ev).expect("responder"),
            verifier,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    let limits = SessionLimits::default();
    match data.first() {
        // A client's first message to the enclave.
        Some(0) => {
            let _ = s.responder.accept(&data[1..], NOW, limits);
        }
        // A forged answer to a client.
        Some(1) => {
            let (hs, _) = fog_attest::ClientHandshake::start(s.verifier.clone()).expect("start");
            assert!(
                hs.finish(&data[1..], NOW, limits).is_err(),
                "a forged answer made a channel"
            );
        }
        // A peer enclave's first IX message.
        _ => {
            let _ = s
                .responder
                .peer_accept(data.get(1..).unwrap_or(&[]), &s.verifier, NOW, limits);
        }
    }
});
