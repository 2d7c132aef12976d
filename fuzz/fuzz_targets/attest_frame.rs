//! Channel frames from untrusted bytes against one established session (one handshake for
//! the whole run, so the fuzzer spends its time on frames): a frame that does not open leaves
//! the session as it was, so the peer's next genuine frame still opens.
#![no_main]

use fog_attest::wire::NonceMessage;
use fog_attest::{
    BoundEvidence, Channel, ChannelKeypair, ConfigId, EnclaveIdentity, EnclaveResponder,
    IdentityRule, Measurement, Policy, ReportData, SessionLimits, SignerId,
    SimProvider, UnixSeconds, Verifier,
};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use std::sync::{Mutex, OnceLock};

const NOW: UnixSeconds = UnixSeconds(1_750_000_000);

/// The client's and the enclave's ends of one session.
fn session() -> &'static Mutex<(Channel, Channel)> {
    static S: OnceLock<Mutex<(Channel, Channel)>> = OnceLock::new();
    S.get_or_init(|| {
        let identity = EnclaveIdentity {
            measurement: Measurement([1; 32]),
            signer_id: SignerId([2; 32]),
            product_id: 1,
            security_version: 1,
            config_id: ConfigId([0; 64]),
        };
        let p = SimProvider::from_quoting_key(
            fog_attest::ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
            identity,
        );
        let keys = ChannelKeypair::generate().expect("keys");
        let rd = ReportData::bind(keys.public_key(), None);
        let ev = BoundEvidence {
            evidence: p.evidence_at(&rd, NOW),
            channel_key: *keys.public_key(),
            custom_identity: None,
        };
        let responder = EnclaveResponder::new(keys, ev).expect("responder");
        let verifier = Verifier::new(
            p.trust_anchor(),
            Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
        );
        // Sessions that neither expire nor idle out during a run.
        let limits = SessionLimits {
            max_age_secs: u64::MAX / 2,
            idle_secs: u64::MAX / 2,
        };
        let (hs, hello) = fog_attest::ClientHandshake::start(verifier).expect("start");
        let (enclave, answer) = responder.accept(&hello, NOW, limits).expect("accept");
        let client = hs.finish(&answer, NOW, limits).expect("finish");
        Mutex::new((client, enclave))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut pair = session().lock().unwrap_or_else(|p| p.into_inner());
    let (client, enclave) = &mut *pair;
    // The input as a frame (or, when it is no protobuf, as a frame's ciphertext).
    let frame = NonceMessage::decode(data).unwrap_or_else(|_| NonceMessage {
        aad: Vec::new(),
        channel_id: enclave.id().0.clone(),
        data: data.to_vec(),
        nonce: 0,
    });
    let _ = enclave.open(&frame, NOW);
    // Whatever happened, the client's next genuine frame opens and says what was sent.
    let genuine = client.seal(b"aad", data, NOW).expect("seal");
    let opened = enclave.open(&genuine, NOW).expect("a genuine frame opens");
    assert_eq!(opened, data);
});
