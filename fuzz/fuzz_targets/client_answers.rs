//! What fog-client does with the services' answers, which it must not trust: a balance check
//! (`fog_client::Sync`) fed view, block, block-id and key-image answers as the transport
//! decodes them; the `GetOutputs` check before a send (`send::check_outputs`); the fog report
//! check (`fog_attest::validate_report`, as the client runs it for a recipient); the fog
//! report URL of an address. The first byte picks which.
//!
//! A balance-check input is a stored client state and then the answers, each prefixed by its
//! length (u16, little-endian); each answer is decoded as the answer to the request in
//! flight. Whatever the answers, nothing panics, the state a wallet would save loads back the
//! same, and the confirmed view count and user-event id never go backwards.
//!
//! The account, the fog authority, the attestation key and the time are fixed here and in
//! `crates/fog-client/examples/fuzz_seeds.rs`, which writes valid sessions as seeds.
#![no_main]

use std::sync::OnceLock;

use fog_account::{AccountKey, PublicAddress};
use fog_api::fog_ledger::{
    BlockIdsResponse, BlockResponse, CheckKeyImagesResponse, GetOutputsResponse,
};
use fog_api::fog_view::QueryResponse;
use fog_attest::chain::GeneratedAuthority;
use fog_attest::ed25519_dalek::SigningKey;
use fog_attest::wire::ReportResponse;
use fog_attest::{
    fog_identity, validate_report, FogEnclave, IdentityRule, Policy, SimProvider, UnixSeconds,
    Verifier,
};
use fog_client::send::check_outputs;
use fog_client::{AccountState, Request, Response, Step, Sync, SyncLimits};
use fog_crypto::RistrettoPrivate;
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use rand_core::SeedableRng;

const NOW: UnixSeconds = UnixSeconds(1_750_000_000);

struct Fixed {
    account: AccountKey,
    /// The account's default subaddress, with a fog authority signature over the authority's
    /// root key.
    fog_address: PublicAddress,
    ingest_verifier: Verifier,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let account = || {
            AccountKey::new(
                RistrettoPrivate::from_bytes_mod_order(&[0x5e; 32]),
                RistrettoPrivate::from_bytes_mod_order(&[0xa1; 32]),
            )
        };
        let authority = GeneratedAuthority::generate(
            &mut rand_chacha::ChaCha20Rng::seed_from_u64(0x5eed),
            "fuzz",
            UnixSeconds(NOW.0 - 86_400),
            UnixSeconds(NOW.0 + 3650 * 86_400),
        )
        .expect("authority");
        let spki = authority.root_spki_der().expect("root key");
        let fog_address = account()
            .with_fog("insecure-fog://fuzz.example:3225", "", &spki)
            .default_subaddress();
        let identity = fog_identity(FogEnclave::Ingest);
        let provider = SimProvider::from_quoting_key(SigningKey::from_bytes(&[0x1d; 32]), identity);
        let ingest_verifier = Verifier::new(
            provider.trust_anchor(),
            Policy::new(
                vec![IdentityRule::Measurement(identity.measurement)],
                86_400,
            ),
        );
        Fixed {
            account: account(),
            fog_address,
            ingest_verifier,
        }
    })
}

/// Splits off a u16-length-prefixed chunk.
fn chunk(data: &mut &[u8]) -> Option<Vec<u8>> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    let body = rest.get(..len)?;
    *data = &rest[len..];
    Some(body.to_vec())
}

/// The answer to `request`, decoded from `bytes` as the transport decodes it.
fn decode_answer(request: &Request, bytes: &[u8]) -> Option<Response> {
    Some(match request {
        Request::ViewQuery { .. } => Response::ViewQuery(QueryResponse::decode(bytes).ok()?),
        Request::GetBlocks(_) => Response::GetBlocks(BlockResponse::decode(bytes).ok()?),
        Request::BlockIds(_) => Response::BlockIds(BlockIdsResponse::decode(bytes).ok()?),
        Request::CheckKeyImages(_) => {
            Response::CheckKeyImages(CheckKeyImagesResponse::decode(bytes).ok()?)
        }
    })
}

fn balance_check(mut data: &[u8]) {
    let Some(stored) = chunk(&mut data) else {
        return;
    };
    let Ok(mut state) = AccountState::from_bytes(&stored) else {
        return;
    };
    let Ok(mut sync) = Sync::new(&fixed().account, &state, SyncLimits::default()) else {
        return;
    };
    let mut step = sync.start(&mut state).expect("a new sync starts");
    while let Step::Send(request) = &step {
        let Some(answer) = chunk(&mut data) else {
            break;
        };
        let Some(response) = decode_answer(request, &answer) else {
            break;
        };
        let (view, event) = (state.view_block_count, state.next_user_event_id);
        let next = sync.handle(&mut state, response);
        assert!(
            state.view_block_count >= view,
            "the confirmed count went back"
        );
        assert!(state.next_user_event_id >= event, "the event id went back");
        match next {
            Ok(s) => step = s,
            Err(_) => break,
        }
    }
    // Facts learned before an error stay in the state, and the state must still store.
    let saved = AccountState::from_bytes(&state.to_bytes());
    assert_eq!(saved.ok().as_ref(), Some(&state));
}

fn get_outputs(mut data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    data = rest;
    let mut asked = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let Some((index, rest)) = data.split_first_chunk::<8>() else {
            return;
        };
        asked.push(u64::from_le_bytes(*index));
        data = rest;
    }
    let Ok(response) = GetOutputsResponse::decode(data) else {
        return;
    };
    if let Ok(outputs) = check_outputs(&asked, &response) {
        for index in &asked {
            let (_, proof) = outputs.get(index).expect("every index asked is answered");
            assert_eq!(proof.index, *index);
        }
    }
}

fn report(data: &[u8]) {
    let Ok(response) = ReportResponse::decode(data) else {
        return;
    };
    let f = fixed();
    if let Ok(key) = validate_report(&f.fog_address, &response, &f.ingest_verifier, NOW, 10) {
        assert!(key.pubkey_expiry > 10);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => balance_check(rest),
        1 => get_outputs(rest),
        2 => report(rest),
        _ => {
            if let Ok(url) = std::str::from_utf8(rest) {
                if let Ok(uri) = fog_client::grpc::report_uri(url) {
                    assert!(uri.starts_with("http://") || uri.starts_with("https://"));
                }
            }
        }
    }
});
