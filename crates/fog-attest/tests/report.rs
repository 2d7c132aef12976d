//! Sender-side validation of a report response: accepts a valid report and refuses each
//! way the chain, the authority, the signature, the evidence or the expiry can be wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use fog_account::{AccountKey, PublicAddress};
use fog_attest::chain::{issue, verify_chain, CertParams, GeneratedAuthority};
use fog_attest::report::{report_list_digest, sign_reports};
use fog_attest::*;
use fog_crypto::RistrettoPrivate;

const EXPIRY: u64 = 1000;

struct World {
    provider: SimProvider,
    authority: GeneratedAuthority,
    address: PublicAddress,
    ingress: RistrettoPrivate,
}

fn world(seed: u64) -> World {
    let mut r = rng(seed);
    let provider = SimProvider::generate(&mut r, identity());
    let authority = GeneratedAuthority::generate(
        &mut r,
        "Test fog",
        UnixSeconds(NOW.0 - 86400),
        UnixSeconds(NOW.0 + 86400 * 365),
    )
    .unwrap();
    let spki = authority.root_spki_der().unwrap();
    let account = AccountKey::random(&mut r).with_fog("fog://fog.example", "ingest-1", &spki);
    let ingress = RistrettoPrivate::random(&mut r);
    World {
        provider,
        authority,
        address: account.default_subaddress(),
        ingress,
    }
}

fn report(w: &World, id: &str, at: UnixSeconds) -> Report {
    let channel = ChannelKeypair::generate().unwrap();
    Report {
        fog_report_id: id.into(),
        evidence: bound(
            &w.provider,
            channel.public_key(),
            Some(w.ingress.public_key().to_bytes()),
            at,
        ),
        pubkey_expiry: EXPIRY,
    }
}

fn response(w: &World) -> wire::ReportResponse {
    let reports = vec![report(w, "other", NOW), report(w, "ingest-1", NOW)];
    sign_reports(&reports, w.authority.chain.clone(), &w.authority.leaf_key)
}

fn validate(w: &World, resp: &wire::ReportResponse) -> Result<ValidatedFogPubkey> {
    validate_report(
        &w.address,
        resp,
        &measurement_verifier(&w.provider),
        NOW,
        10,
    )
}

#[test]
fn a_valid_report_is_accepted() {
    let w = world(100);
    let key = validate(&w, &response(&w)).unwrap();
    assert_eq!(key.ingress_pubkey, w.ingress.public_key());
    assert_eq!(key.pubkey_expiry, EXPIRY);
    let chain = verify_chain(&w.authority.chain, NOW).unwrap();
    assert_eq!(chain.root_spki_der, w.authority.root_spki_der().unwrap());
    assert_eq!(chain.root_spki_der.len(), 44);
}

#[test]
fn a_wrong_chain_is_refused() {
    let w = world(101);
    // Leaf certificate's signature broken.
    let mut resp = response(&w);
    let last = resp.chain.len() - 1;
    let n = resp.chain[last].len();
    resp.chain[last][n - 5] ^= 1;
    assert_eq!(validate(&w, &resp), Err(Error::Chain));
    // Intermediate missing: the leaf's issuer is not the root.
    let mut resp = response(&w);
    resp.chain.remove(1);
    assert_eq!(validate(&w, &resp), Err(Error::Chain));
    // Out of order.
    let mut resp = response(&w);
    resp.chain.swap(1, 2);
    assert_eq!(validate(&w, &resp), Err(Error::Chain));
    // Empty and garbage.
    let mut resp = response(&w);
    resp.chain.clear();
    assert_eq!(validate(&w, &resp), Err(Error::Chain));
    let mut resp = response(&w);
    resp.chain[1] = vec![0x30, 0x03, 0x02, 0x01, 0x01];
    assert_eq!(validate(&w, &resp), Err(Error::Chain));
    // An intermediate that is not a CA.
    let mut r = rng(1011);
    let root = ed25519_dalek::SigningKey::generate(&mut r);
    let mid = ed25519_dalek::SigningKey::generate(&mut r);
    let leaf = ed25519_dalek::SigningKey::generate(&mut r);
    let p = |subject, is_ca| CertParams {
        subject,
        serial: &[1],
        not_before: UnixSeconds(NOW.0 - 10),
        not_after: UnixSeconds(NOW.0 + 10),
        is_ca,
    };
    let chain = vec![
        issue(&p("CN=r", true), &root.verifying_key(), "CN=r", &root).unwrap(),
        issue(&p("CN=m", false), &mid.verifying_key(), "CN=r", &root).unwrap(),
        issue(&p("CN=l", false), &leaf.verifying_key(), "CN=m", &mid).unwrap(),
    ];
    assert_eq!(verify_chain(&chain, NOW), Err(Error::Chain));
    // Expired (or not yet valid) chain.
    let resp = response(&w);
    assert_eq!(
        validate_report(
            &w.address,
            &resp,
            &measurement_verifier(&w.provider),
            UnixSeconds(NOW.0 + 86400 * 366),
            10
        ),
        Err(Error::ChainExpired)
    );
}

#[test]
fn a_chain_not_signed_by_the_address_authority_is_refused() {
    let w = world(102);
    let other = world(103);
    // A perfectly valid response, signed under another operator's chain.
    let resp = sign_reports(
        &[report(&w, "ingest-1", NOW)],
        other.authority.chain.clone(),
        &other.authority.leaf_key,
    );
    assert_eq!(validate(&w, &resp), Err(Error::Authority));
    // An address without a fog signature.
    let mut r = rng(1021);
    let plain = AccountKey::random(&mut r).default_subaddress();
    assert_eq!(
        validate_report(
            &plain,
            &response(&w),
            &measurement_verifier(&w.provider),
            NOW,
            10
        ),
        Err(Error::NoFogSignature)
    );
}

#[test]
fn a_bad_report_signature_is_refused() {
    let w = world(104);
    let mut resp = response(&w);
    resp.signature[0] ^= 1;
    assert_eq!(validate(&w, &resp), Err(Error::ReportSignature));
    // Reports changed after signing.
    let mut resp = response(&w);
    resp.reports[1].pubkey_expiry += 1;
    assert_eq!(validate(&w, &resp), Err(Error::ReportSignature));
    let mut resp = response(&w);
    resp.reports.swap(0, 1);
    assert_eq!(validate(&w, &resp), Err(Error::ReportSignature));
    // Signed by the intermediate instead of the leaf.
    let resp = sign_reports(
        &[report(&w, "ingest-1", NOW)],
        w.authority.chain.clone(),
        &w.authority.intermediate_key,
    );
    assert_eq!(validate(&w, &resp), Err(Error::ReportSignature));
    let mut resp = response(&w);
    resp.signature.truncate(10);
    assert_eq!(validate(&w, &resp), Err(Error::ReportSignature));
}

#[test]
fn an_expired_key_is_refused() {
    let w = world(105);
    let resp = response(&w);
    let v = measurement_verifier(&w.provider);
    assert!(validate_report(&w.address, &resp, &v, NOW, EXPIRY - 1).is_ok());
    assert_eq!(
        validate_report(&w.address, &resp, &v, NOW, EXPIRY),
        Err(Error::KeyExpired)
    );
}

#[test]
fn evidence_that_fails_policy_is_refused() {
    let w = world(106);
    // Stale evidence.
    let resp = sign_reports(
        &[report(&w, "ingest-1", UnixSeconds(NOW.0 - MAX_AGE - 1))],
        w.authority.chain.clone(),
        &w.authority.leaf_key,
    );
    assert_eq!(
        validate(&w, &resp),
        Err(Error::Evidence(VerifyError::Stale))
    );
    // Too old a security version for the policy.
    let v = signer_verifier(&w.provider, 9);
    assert_eq!(
        validate_report(&w.address, &response(&w), &v, NOW, 10),
        Err(Error::Evidence(VerifyError::SecurityVersionTooOld))
    );
    // Evidence that binds another ingress key than the one it carries.
    let mut bad = report(&w, "ingest-1", NOW);
    bad.evidence.custom_identity = Some([9; 32]);
    let resp = sign_reports(&[bad], w.authority.chain.clone(), &w.authority.leaf_key);
    assert_eq!(
        validate(&w, &resp),
        Err(Error::Evidence(VerifyError::ReportDataMismatch))
    );
    // Evidence from an untrusted quoting key.
    let stranger = world(107);
    let resp = sign_reports(
        &[report(&stranger, "ingest-1", NOW)],
        w.authority.chain.clone(),
        &w.authority.leaf_key,
    );
    assert_eq!(
        validate(&w, &resp),
        Err(Error::Evidence(VerifyError::BadSignature))
    );
    // No ingress key at all.
    let mut r = report(&w, "ingest-1", NOW);
    r.evidence = bound(&w.provider, &r.evidence.channel_key, None, NOW);
    let resp = sign_reports(&[r], w.authority.chain.clone(), &w.authority.leaf_key);
    assert_eq!(validate(&w, &resp), Err(Error::BadIngressKey));
}

#[test]
fn a_missing_report_id_is_refused() {
    let w = world(108);
    let resp = sign_reports(
        &[report(&w, "other", NOW)],
        w.authority.chain.clone(),
        &w.authority.leaf_key,
    );
    assert_eq!(validate(&w, &resp), Err(Error::NoMatchingReportId));
}

#[test]
fn the_digest_follows_the_documented_schema() {
    use fog_crypto::digestible::DigestTranscript;
    let w = world(109);
    let r = report(&w, "", NOW).to_wire();
    let b = match r.attestation_evidence.as_ref().unwrap() {
        wire::report::AttestationEvidence::FogEvidence(b) => b.clone(),
    };
    // Written by hand from the module docs.
    let mut t = DigestTranscript::new();
    t.append_message(b"Fog ingest reports", b"seq");
    t.append_message(b"len", &1u64.to_le_bytes());
    t.append_message(b"", b"agg");
    t.append_message(b"name", b"Report");
    t.append_message(b"fog_report_id", b"prim");
    t.append_message(b"str", b"");
    {
        use fog_crypto::digestible::Digestible;
        b.append_to(b"report", &mut t);
    }
    t.append_message(b"pubkey_expiry", b"prim");
    t.append_message(b"uint", &EXPIRY.to_le_bytes());
    t.append_message(b"", b"agg-end");
    t.append_message(b"name", b"Report");
    assert_eq!(t.finalize(), report_list_digest(&[r]));
    assert_ne!(
        report_list_digest(&[]),
        report_list_digest(&[report(&w, "", NOW).to_wire()])
    );
}
