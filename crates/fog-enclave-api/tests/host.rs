//! The in-process host drives an enclave-side attested channel through the byte boundary:
//! evidence set-up, a client handshake, encrypted requests, close; and garbage is refused
//! without a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fog_attest::{
    BoundEvidence, ChannelKeypair, ClientHandshake, ConfigId, EnclaveIdentity, EnclaveResponder,
    Evidence, IdentityRule, Measurement, Policy, Provider, ReportData, SessionLimits, SessionTable,
    SignerId, SimProvider, UnixSeconds, Verifier,
};
use fog_enclave_api::messages::{
    client, ChannelFrame, ChannelHello, ReportDataRequest, SetEvidence,
};
use fog_enclave_api::view::{view_request::Call, view_response::Answer};
use fog_enclave_api::*;
use std::sync::Mutex;

const NOW: u64 = 1_750_000_000;

/// A toy view enclave: echoes each request reversed over the attested channel.
struct EchoEnclave {
    keys: Mutex<Option<ChannelKeypair>>,
    responder: Mutex<Option<EnclaveResponder>>,
    sessions: Mutex<SessionTable>,
}

impl EchoEnclave {
    fn new() -> Self {
        Self {
            keys: Mutex::new(Some(ChannelKeypair::generate().unwrap())),
            responder: Mutex::new(None),
            sessions: Mutex::new(SessionTable::new(16)),
        }
    }

    fn handle(&self, call: Call) -> Result<Answer, EnclaveError> {
        match call {
            Call::GetReportData(_) => {
                let keys = self.keys.lock().map_err(poisoned)?;
                let k = keys.as_ref().ok_or(EnclaveError::NotInitialized)?;
                Ok(Answer::Hello(ChannelHello {
                    data: ReportData::bind(k.public_key(), None).0.to_vec(),
                }))
            }
            Call::SetEvidence(SetEvidence { evidence }) => {
                let evidence = Evidence::decode(&evidence).map_err(|_| EnclaveError::Malformed)?;
                let keys = self
                    .keys
                    .lock()
                    .map_err(poisoned)?
                    .take()
                    .ok_or(EnclaveError::NotInitialized)?;
                let bound = BoundEvidence {
                    evidence,
                    channel_key: *keys.public_key(),
                    custom_identity: None,
                };
                let r = EnclaveResponder::new(keys, bound).map_err(|_| EnclaveError::Provider)?;
                *self.responder.lock().map_err(poisoned)? = Some(r);
                Ok(Answer::Empty(ReportDataRequest {}))
            }
            Call::ClientAccept(client::ClientAccept { hello, now }) => {
                let hello = hello.ok_or(EnclaveError::Malformed)?;
                let guard = self.responder.lock().map_err(poisoned)?;
                let r = guard.as_ref().ok_or(EnclaveError::NotInitialized)?;
                let (channel, answer) = r
                    .accept(&hello.data, UnixSeconds(now), SessionLimits::default())
                    .map_err(|_| EnclaveError::Attestation)?;
                self.sessions
                    .lock()
                    .map_err(poisoned)?
                    .insert(fog_attest::PeerKey::UNKNOWN, channel);
                Ok(Answer::Hello(ChannelHello { data: answer }))
            }
            Call::ClientRequest(client::ClientRequest { frame, now }) => {
                let f = frame.ok_or(EnclaveError::Malformed)?;
                let frame = fog_attest::wire::NonceMessage {
                    aad: f.aad,
                    channel_id: f.channel_id,
                    data: f.data,
                    nonce: f.nonce,
                };
                let mut sessions = self.sessions.lock().map_err(poisoned)?;
                let now = UnixSeconds(now);
                let mut plain = sessions.open(&frame, now).map_err(|e| match e {
                    fog_attest::Error::UnknownChannel => EnclaveError::UnknownChannel,
                    _ => EnclaveError::Channel,
                })?;
                plain.reverse();
                let out = sessions
                    .seal(&frame.channel_id, b"", &plain, now)
                    .map_err(|_| EnclaveError::Channel)?;
                Ok(Answer::Frame(ChannelFrame {
                    aad: out.aad,
                    channel_id: out.channel_id,
                    data: out.data,
                    nonce: out.nonce,
                }))
            }
            Call::ClientClose(client::ClientClose { channel_id }) => {
                self.sessions.lock().map_err(poisoned)?.close(&channel_id);
                Ok(Answer::Empty(ReportDataRequest {}))
            }
        }
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> EnclaveError {
    EnclaveError::Internal
}

impl Enclave for EchoEnclave {
    fn call(&self, request_bytes: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        let req = decode_request::<ViewApi>(request_bytes)?;
        let call = req.call.ok_or(EnclaveError::Malformed)?;
        let answer = self.handle(call)?;
        Ok(encode_response::<ViewApi>(&ViewResponse {
            answer: Some(answer),
        }))
    }
}

fn req(call: Call) -> ViewRequest {
    ViewRequest { call: Some(call) }
}

#[test]
fn host_drives_an_attested_channel_through_the_boundary() {
    let identity = EnclaveIdentity {
        measurement: Measurement([5; 32]),
        signer_id: SignerId([6; 32]),
        product_id: 1,
        security_version: 1,
        config_id: ConfigId([0; 64]),
    };
    let mut rng = rand_core::OsRng;
    let provider = SimProvider::generate(&mut rng, identity).with_clock(|| UnixSeconds(NOW));
    let host: Host<_, ViewApi> = Host::new(EchoEnclave::new());

    // The host asks the enclave what to attest, has the provider sign it, hands it back.
    let Some(Answer::Hello(rd)) = host
        .call(&req(Call::GetReportData(ReportDataRequest {})))
        .unwrap()
        .answer
    else {
        panic!("report data")
    };
    let rd = ReportData::from_slice(&rd.data).unwrap();
    let evidence = provider.evidence(&rd).unwrap();
    host.call(&req(Call::SetEvidence(SetEvidence {
        evidence: evidence.encode_to_vec(),
    })))
    .unwrap();

    // A client connects through the host.
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(Measurement([5; 32]))], 600),
    );
    let (hs, hello) = ClientHandshake::start(verifier).unwrap();
    let Some(Answer::Hello(answer)) = host
        .call(&req(Call::ClientAccept(client::ClientAccept {
            hello: Some(ChannelHello { data: hello }),
            now: NOW,
        })))
        .unwrap()
        .answer
    else {
        panic!("handshake answer")
    };
    let mut channel = hs
        .finish(&answer.data, UnixSeconds(NOW), SessionLimits::default())
        .unwrap();

    for msg in [&b"abc"[..], b"hello enclave"] {
        let f = channel.seal(b"", msg, UnixSeconds(NOW)).unwrap();
        let Some(Answer::Frame(r)) = host
            .call(&req(Call::ClientRequest(client::ClientRequest {
                frame: Some(ChannelFrame {
                    aad: f.aad,
                    channel_id: f.channel_id,
                    data: f.data,
                    nonce: f.nonce,
                }),
                now: NOW,
            })))
            .unwrap()
            .answer
        else {
            panic!("frame")
        };
        let reply = channel
            .open(
                &fog_attest::wire::NonceMessage {
                    aad: r.aad,
                    channel_id: r.channel_id,
                    data: r.data,
                    nonce: r.nonce,
                },
                UnixSeconds(NOW),
            )
            .unwrap();
        let mut expected = msg.to_vec();
        expected.reverse();
        assert_eq!(reply, expected);
    }

    // A replayed frame is refused with a payload-free error.
    let f = channel.seal(b"", b"x", UnixSeconds(NOW)).unwrap();
    let frame = ChannelFrame {
        aad: f.aad,
        channel_id: f.channel_id.clone(),
        data: f.data,
        nonce: f.nonce,
    };
    let call = |frame: ChannelFrame| {
        host.call(&req(Call::ClientRequest(client::ClientRequest {
            frame: Some(frame),
            now: NOW,
        })))
    };
    call(frame.clone()).unwrap();
    assert_eq!(call(frame.clone()), Err(EnclaveError::Channel));

    // After close, the channel is unknown.
    host.call(&req(Call::ClientClose(client::ClientClose {
        channel_id: f.channel_id,
    })))
    .unwrap();
    assert_eq!(call(frame), Err(EnclaveError::UnknownChannel));
}

#[test]
fn error_codes_round_trip() {
    for e in [
        EnclaveError::Malformed,
        EnclaveError::Unsupported,
        EnclaveError::NotInitialized,
        EnclaveError::Attestation,
        EnclaveError::UnknownChannel,
        EnclaveError::Channel,
        EnclaveError::Provider,
        EnclaveError::Internal,
    ] {
        assert_eq!(EnclaveError::from_code(e.to_code()), e);
    }
    assert_eq!(EnclaveError::from_code(999), EnclaveError::Internal);
}

proptest::proptest! {
    #[test]
    fn garbage_requests_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let host: Host<_, ViewApi> = Host::new(EchoEnclave::new());
        let _ = host.call_raw(&bytes);
        let _ = decode_request::<IngestApi>(&bytes);
        let _ = decode_request::<LedgerApi>(&bytes);
    }
}
