//! The attested channel over gRPC, as view and ledger carry it: `AttestedApi.Auth` carries
//! the handshake, `AttestedApi.Call` carries encrypted frames. The server side holds only a
//! responder and a session table (what an enclave would hold); the client verifies the
//! evidence before its first request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use fog_api::attest::attested_api_client::AttestedApiClient;
use fog_api::attest::attested_api_server::{AttestedApi, AttestedApiServer};
use fog_attest::wire::{AuthMessage, NonceMessage};
use fog_attest::*;
use std::sync::Mutex;
use tonic::{Request, Response, Status};

struct Upper {
    responder: EnclaveResponder,
    sessions: Mutex<SessionTable>,
}

fn status(e: &Error) -> Status {
    match e {
        Error::UnknownChannel | Error::SessionExpired | Error::SessionIdle => {
            Status::unauthenticated("unknown or expired channel")
        }
        _ => Status::permission_denied("refused"),
    }
}

#[tonic::async_trait]
impl AttestedApi for Upper {
    async fn auth(&self, request: Request<AuthMessage>) -> Result<Response<AuthMessage>, Status> {
        let (channel, answer) = self
            .responder
            .accept(&request.into_inner().data, NOW, SessionLimits::default())
            .map_err(|e| status(&e))?;
        self.sessions
            .lock()
            .unwrap()
            .insert(fog_attest::PeerKey::UNKNOWN, channel);
        Ok(Response::new(AuthMessage { data: answer }))
    }

    async fn call(&self, request: Request<NonceMessage>) -> Result<Response<NonceMessage>, Status> {
        let frame = request.into_inner();
        let mut sessions = self.sessions.lock().unwrap();
        let plain = sessions.open(&frame, NOW).map_err(|e| status(&e))?;
        let reply = sessions
            .seal(&frame.channel_id, b"", &plain.to_ascii_uppercase(), NOW)
            .map_err(|e| status(&e))?;
        Ok(Response::new(reply))
    }
}

#[tokio::test]
async fn attested_round_trip_over_grpc() {
    let p = provider(400);
    let service = Upper {
        responder: enclave(&p),
        sessions: Mutex::new(SessionTable::new(8)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(AttestedApiServer::new(service))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let mut client = AttestedApiClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    let (hs, hello) = ClientHandshake::start(measurement_verifier(&p)).unwrap();
    let answer = client
        .auth(AuthMessage { data: hello })
        .await
        .unwrap()
        .into_inner();
    let mut channel = hs
        .finish(&answer.data, NOW, SessionLimits::default())
        .unwrap();
    for word in ["ledger", "view"] {
        let frame = channel.seal(b"", word.as_bytes(), NOW).unwrap();
        let reply = client.call(frame).await.unwrap().into_inner();
        assert_eq!(
            channel.open(&reply, NOW).unwrap(),
            word.to_uppercase().as_bytes()
        );
    }
    // A replayed frame is refused by the server.
    let frame = channel.seal(b"", b"x", NOW).unwrap();
    client.call(frame.clone()).await.unwrap();
    let err = client.call(frame).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    // A client that does not trust this enclave never gets a channel.
    let stranger = provider(401);
    let (hs, hello) = ClientHandshake::start(measurement_verifier(&stranger)).unwrap();
    let answer = client
        .auth(AuthMessage { data: hello })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        hs.finish(&answer.data, NOW, SessionLimits::default())
            .unwrap_err(),
        Error::Evidence(VerifyError::BadSignature)
    );
}
