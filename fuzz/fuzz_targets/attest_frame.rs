//! Channel frames and handshake messages from untrusted bytes: an enclave's responder and an
//! established session refuse them without panicking.
#![no_main]

use fog_attest::wire::NonceMessage;
use fog_attest::{
    BoundEvidence, ChannelKeypair, ConfigId, EnclaveIdentity, EnclaveResponder, Measurement,
    Provider, ReportData, SessionLimits, SignerId, SimProvider,
};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use std::sync::OnceLock;

fn responder() -> &'static EnclaveResponder {
    static R: OnceLock<EnclaveResponder> = OnceLock::new();
    R.get_or_init(|| {
        let identity = EnclaveIdentity {
            measurement: Measurement([1; 32]),
            signer_id: SignerId([2; 32]),
            product_id: 1,
            security_version: 1,
            config_id: ConfigId([0; 64]),
        };
        let p = SimProvider::generate(&mut rand_core::OsRng, identity);
        let keys = ChannelKeypair::generate().expect("keys");
        let rd = ReportData::bind(keys.public_key(), None);
        let ev = BoundEvidence {
            evidence: p.evidence(&rd).expect("evidence"),
            channel_key: *keys.public_key(),
            custom_identity: None,
        };
        EnclaveResponder::new(keys, ev).expect("responder")
    })
}

fuzz_target!(|data: &[u8]| {
    let now = fog_attest::UnixSeconds(1_750_000_000);
    let r = responder();
    let _ = r.accept(data, now, SessionLimits::default());
    // A session made from a well-formed hello, then the fuzz input as a frame.
    let (_, hello) = fog_attest::ClientHandshake::start(fog_attest::Verifier::new(
        fog_attest::TrustAnchor::Simulation(
            fog_attest::ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key(),
        ),
        fog_attest::Policy::new(vec![], 60),
    ))
    .expect("start");
    if let Ok((mut session, _)) = r.accept(&hello, now, SessionLimits::default()) {
        if let Ok(frame) = NonceMessage::decode(data) {
            assert!(session.open(&frame, now).is_err());
        }
    }
});
