//! The in-process host drives an enclave-side attested channel through the byte boundary:
//! evidence for the key the enclave made, a client handshake, encrypted requests, a replayed
//! and a stray frame; and garbage is refused without a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fog_attest::{
    wire::NonceMessage, BoundEvidence, ChannelKeypair, ClientHandshake, ConfigId, EnclaveIdentity,
    EnclaveResponder, IdentityRule, Measurement, Policy, SessionLimits, SessionTable, SignerId,
    SimProvider, UnixSeconds, Verifier,
};
use fog_enclave_api::messages::SetEvidence;
use fog_enclave_api::view::{
    view_request::Call, view_response::Answer, Auth, ChannelKeysMessage, Data, Empty, Query,
};
use fog_enclave_api::*;
use std::sync::Mutex;

const NOW: u64 = 1_750_000_000;

/// A toy view enclave: echoes each query reversed over the attested channel; takes no other
/// call.
struct EchoEnclave {
    public: [u8; 32],
    keys: Mutex<Option<ChannelKeypair>>,
    responder: Mutex<Option<EnclaveResponder>>,
    sessions: Mutex<SessionTable>,
}

impl EchoEnclave {
    fn new() -> Self {
        let keys = ChannelKeypair::generate().unwrap();
        Self {
            public: *keys.public_key(),
            keys: Mutex::new(Some(keys)),
            responder: Mutex::new(None),
            sessions: Mutex::new(SessionTable::new(16)),
        }
    }

    fn handle(&self, call: Call) -> Result<Answer, EnclaveError> {
        match call {
            Call::GetChannelKeys(_) => Ok(Answer::ChannelKeys(ChannelKeysMessage {
                client: self.public.to_vec(),
                peers: Vec::new(),
            })),
            Call::SetEvidence(SetEvidence { evidence }) => {
                let bound =
                    BoundEvidence::decode(&evidence).map_err(|_| EnclaveError::Malformed)?;
                let keys = self
                    .keys
                    .lock()
                    .map_err(poisoned)?
                    .take()
                    .ok_or(EnclaveError::NotInitialized)?;
                let r = EnclaveResponder::new(keys, bound).map_err(|_| EnclaveError::Provider)?;
                *self.responder.lock().map_err(poisoned)? = Some(r);
                Ok(Answer::Done(Empty {}))
            }
            Call::Auth(Auth { hello, now, .. }) => {
                let guard = self.responder.lock().map_err(poisoned)?;
                let r = guard.as_ref().ok_or(EnclaveError::NotInitialized)?;
                let (channel, answer) = r
                    .accept(&hello, UnixSeconds(now), SessionLimits::default())
                    .map_err(|_| EnclaveError::Attestation)?;
                self.sessions
                    .lock()
                    .map_err(poisoned)?
                    .insert(fog_attest::PeerKey::UNKNOWN, channel);
                Ok(Answer::Data(Data { data: answer }))
            }
            Call::Query(Query { frame, now, .. }) => {
                let frame = frame.ok_or(EnclaveError::Malformed)?;
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
                Ok(Answer::Frame(out))
            }
            _ => Err(EnclaveError::Unsupported),
        }
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> EnclaveError {
    EnclaveError::Internal
}

impl Enclave for EchoEnclave {
    fn call(&self, request_bytes: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        serve::<ViewApi>(request_bytes, |req| {
            let call = req.call.ok_or(EnclaveError::Malformed)?;
            Ok(ViewResponse {
                answer: Some(self.handle(call)?),
            })
        })
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

    // The host asks the enclave for its public channel key, has the provider bind evidence
    // to it, hands it back.
    let Some(Answer::ChannelKeys(keys)) = host
        .call(&req(Call::GetChannelKeys(Empty {})))
        .unwrap()
        .answer
    else {
        panic!("channel keys")
    };
    let key: [u8; 32] = keys.client.as_slice().try_into().unwrap();
    let bound = BoundEvidence::bind(&provider, &key, None).unwrap();
    host.call(&req(Call::SetEvidence(SetEvidence {
        evidence: bound.encode_to_vec(),
    })))
    .unwrap();

    // A client connects through the host.
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(Measurement([5; 32]))], 600),
    );
    let (hs, hello) = ClientHandshake::start(verifier).unwrap();
    let Some(Answer::Data(answer)) = host
        .call(&req(Call::Auth(Auth {
            hello,
            peer: Vec::new(),
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

    let query = |frame: NonceMessage| {
        host.call(&req(Call::Query(Query {
            frame: Some(frame),
            host: None,
            now: NOW,
        })))
    };
    for msg in [&b"abc"[..], b"hello enclave"] {
        let f = channel.seal(b"", msg, UnixSeconds(NOW)).unwrap();
        let Some(Answer::Frame(r)) = query(f).unwrap().answer else {
            panic!("frame")
        };
        let reply = channel.open(&r, UnixSeconds(NOW)).unwrap();
        let mut expected = msg.to_vec();
        expected.reverse();
        assert_eq!(reply, expected);
    }

    // A replayed frame is refused with a payload-free error.
    let f = channel.seal(b"", b"x", UnixSeconds(NOW)).unwrap();
    query(f.clone()).unwrap();
    assert_eq!(query(f.clone()), Err(EnclaveError::Channel));

    // A frame of no session is unknown; a call the toy does not take is unsupported.
    let mut stray = f;
    stray.channel_id = vec![7; 64];
    assert_eq!(query(stray), Err(EnclaveError::UnknownChannel));
    assert_eq!(
        host.call(&req(Call::Stop(Empty {}))),
        Err(EnclaveError::Unsupported)
    );
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
        let _ = decode_request::<ViewRouterApi>(&bytes);
    }
}
