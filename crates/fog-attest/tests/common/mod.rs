//! Shared fixtures: a seeded provider, an enclave identity and a verifier for it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fog_attest::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

pub const NOW: UnixSeconds = UnixSeconds(1_750_000_000);
pub const MAX_AGE: u64 = 3600;

pub fn rng(seed: u64) -> ChaCha20Rng {
    println!("rng seed {seed}");
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn identity() -> EnclaveIdentity {
    EnclaveIdentity {
        measurement: Measurement([0x11; 32]),
        signer_id: SignerId([0x22; 32]),
        product_id: 7,
        security_version: 5,
        config_id: ConfigId([0; 64]),
    }
}

pub fn provider(seed: u64) -> SimProvider {
    SimProvider::generate(&mut rng(seed), identity())
}

pub fn measurement_verifier(p: &SimProvider) -> Verifier {
    Verifier::new(
        p.trust_anchor(),
        Policy::new(
            vec![IdentityRule::Measurement(identity().measurement)],
            MAX_AGE,
        ),
    )
}

pub fn signer_verifier(p: &SimProvider, min_svn: u16) -> Verifier {
    Verifier::new(
        p.trust_anchor(),
        Policy::new(
            vec![IdentityRule::Signer {
                signer_id: identity().signer_id,
                product_id: 7,
                min_security_version: min_svn,
            }],
            MAX_AGE,
        ),
    )
}

/// Bound evidence for `keys` (and an optional custom identity) made at `at`.
pub fn bound(
    p: &SimProvider,
    channel_key: &[u8; 32],
    custom: Option<[u8; 32]>,
    at: UnixSeconds,
) -> BoundEvidence {
    let rd = ReportData::bind(channel_key, custom.as_ref());
    BoundEvidence {
        evidence: p.evidence_at(&rd, at),
        channel_key: *channel_key,
        custom_identity: custom,
    }
}

pub fn enclave(p: &SimProvider) -> EnclaveResponder {
    let keys = ChannelKeypair::generate().unwrap();
    let ev = bound(p, keys.public_key(), None, NOW);
    EnclaveResponder::new(keys, ev).unwrap()
}
