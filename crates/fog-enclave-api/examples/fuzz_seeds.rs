//! Writes the boundary part of the seed corpus of the `enclave_requests` fuzz target: every
//! call of the ingest, view and ledger request messages, with real evidence and handshake
//! bytes, behind the target's selector byte (0 ingest, 1 view, 2 ledger). The plaintexts the
//! enclaves read inside a session come from `crates/fog-enclave/examples/fuzz_seeds.rs`.
//!
//! `cargo run -p fog-enclave-api --example fuzz_seeds -- fuzz/seeds` (from the workspace
//! root) writes `fuzz/seeds/enclave_requests/api-*.bin`.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use fog_attest::{
    ClientHandshake, ConfigId, EnclaveIdentity, IdentityRule, Measurement, Policy, ReportData,
    SignerId, SimProvider, UnixSeconds, Verifier,
};
use fog_enclave_api::ingest::ingest_request;
use fog_enclave_api::ledger::ledger_request;
use fog_enclave_api::messages::{
    client, ChannelFrame, ChannelHello, GetEvidence, HostTime, ReportDataRequest, SetEvidence,
};
use fog_enclave_api::view::view_request;
use fog_enclave_api::{IngestRequest, LedgerRequest, ViewRequest};
use prost::Message;

const NOW: u64 = 1_750_000_000;

fn write(dir: &Path, name: &str, selector: u8, body: &[u8]) {
    let mut bytes = vec![selector];
    bytes.extend_from_slice(body);
    std::fs::write(dir.join(format!("api-{name}.bin")), bytes).expect("write a seed");
}

fn main() {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| "fuzz/seeds".into(), Into::into);
    let dir = root.join("enclave_requests");
    std::fs::create_dir_all(&dir).expect("create the seed directory");

    let identity = EnclaveIdentity {
        measurement: Measurement([1; 32]),
        signer_id: SignerId([2; 32]),
        product_id: 1,
        security_version: 1,
        config_id: ConfigId([0; 64]),
    };
    let provider = SimProvider::from_quoting_key(
        fog_attest::ed25519_dalek::SigningKey::from_bytes(&[0x1d; 32]),
        identity,
    );
    let evidence = provider
        .evidence_at(&ReportData::bind(&[4; 32], None), UnixSeconds(NOW))
        .encode_to_vec();
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    let (_, hello) = ClientHandshake::start(verifier).expect("a client hello");
    let accept = client::ClientAccept {
        hello: Some(ChannelHello { data: hello }),
        now: NOW,
    };
    let request = client::ClientRequest {
        frame: Some(ChannelFrame {
            aad: vec![],
            channel_id: vec![0x33; 64],
            data: vec![0x44; 48],
            nonce: 0,
        }),
        now: NOW,
    };
    let close = client::ClientClose {
        channel_id: vec![0x33; 64],
    };
    let set = SetEvidence { evidence };

    {
        use ingest_request::Call;
        for (name, call) in [
            (
                "ingest-report-data",
                Call::GetReportData(ReportDataRequest {}),
            ),
            ("ingest-set-evidence", Call::SetEvidence(set.clone())),
            (
                "ingest-get-evidence",
                Call::GetEvidence(GetEvidence { now: NOW }),
            ),
            (
                "ingest-peer-init",
                Call::PeerInit(HostTime { unix_seconds: NOW }),
            ),
            ("ingest-peer-accept", Call::PeerAccept(accept.clone())),
            ("ingest-peer-connect", Call::PeerConnect(accept.clone())),
        ] {
            let m = IngestRequest { call: Some(call) };
            write(&dir, name, 0, &m.encode_to_vec());
        }
    }
    {
        use view_request::Call;
        for (name, call) in [
            (
                "view-report-data",
                Call::GetReportData(ReportDataRequest {}),
            ),
            ("view-set-evidence", Call::SetEvidence(set.clone())),
            ("view-accept", Call::ClientAccept(accept.clone())),
            ("view-request", Call::ClientRequest(request.clone())),
            ("view-close", Call::ClientClose(close.clone())),
        ] {
            let m = ViewRequest { call: Some(call) };
            write(&dir, name, 1, &m.encode_to_vec());
        }
    }
    {
        use ledger_request::Call;
        for (name, call) in [
            (
                "ledger-report-data",
                Call::GetReportData(ReportDataRequest {}),
            ),
            ("ledger-set-evidence", Call::SetEvidence(set)),
            ("ledger-accept", Call::ClientAccept(accept)),
            ("ledger-request", Call::ClientRequest(request)),
            ("ledger-close", Call::ClientClose(close)),
        ] {
            let m = LedgerRequest { call: Some(call) };
            write(&dir, name, 2, &m.encode_to_vec());
        }
    }
}
