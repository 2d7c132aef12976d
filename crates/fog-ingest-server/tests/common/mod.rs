//! What the ingest tests share: a ledger of made-up blocks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use fog_account::AccountKey;
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use fog_enclave::boundary::ingest::IngestBoundary;
use fog_enclave::sealing::SealingKeyProvider;
use fog_enclave_api::SharedEnclave;
use fog_ingest_server::StateDir;
use fog_ledger_db::LedgerDb;
use fog_transaction::{Amount, BlockVersion, EncryptedFogHint, FogHint, KeyImage, TokenId, TxOut};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// The simulated ingest enclave for `state`, loaded as `fogd ingest` loads it: sealing with
/// the platform key in the directory's `platform.key` (made on first use), or, for a
/// memory-only directory, with a key for this run only; peers checked by `peers`.
pub fn enclave_with(state: &StateDir, peers: Option<fog_attest::Verifier>) -> SharedEnclave {
    let mut rng = ChaCha20Rng::from_entropy();
    let sealing = if state.is_memory_only() {
        SealingKeyProvider::simulated_generate(&mut rng).0
    } else {
        let path = state.path().join("platform.key");
        match std::fs::read(&path) {
            Ok(bytes) => SealingKeyProvider::simulated_from_bytes(&bytes).unwrap(),
            Err(_) => {
                let (provider, bytes) = SealingKeyProvider::simulated_generate(&mut rng);
                std::fs::write(&path, &bytes[..]).unwrap();
                provider
            }
        }
    };
    IngestBoundary::simulated(sealing, peers).unwrap()
}

/// [`enclave_with`] without peers.
pub fn enclave(state: &StateDir) -> SharedEnclave {
    enclave_with(state, None)
}

/// Appends `blocks` blocks of `per_block` TxOuts of 5 each. Two in three pay a random one of
/// `users` with a fog hint to `ingest`; the rest (all of them when `users` is empty) pay
/// strangers with fake hints, each still a new recipient to ingest. Every block after the
/// origin spends one made-up key image. Returns, per user, the global indices paid to it.
pub fn build_ledger(
    ledger: &LedgerDb,
    users: &[AccountKey],
    ingest: &RistrettoPublic,
    blocks: u64,
    per_block: usize,
    seed: u8,
) -> HashMap<usize, Vec<u64>> {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    println!("ledger seed {seed}");
    let mut expected: HashMap<usize, Vec<u64>> = HashMap::new();
    for b in 0..blocks {
        let mut made: Vec<(TxOut, Option<usize>)> = (0..per_block)
            .map(|i| {
                let fog_user = (!users.is_empty() && i % 3 != 2)
                    .then(|| (rng.next_u32() as usize) % users.len());
                let (to, hint) = match fog_user {
                    Some(u) => {
                        let to = users[u].default_subaddress();
                        let hint = FogHint::from_address(&to).encrypt(ingest, &mut rng);
                        (to, hint)
                    }
                    None => (
                        AccountKey::random(&mut rng).default_subaddress(),
                        EncryptedFogHint::fake_onetime_hint(&mut rng),
                    ),
                };
                let r = RistrettoPrivate::random(&mut rng);
                let amount = Amount::new(5, TokenId::MOB);
                let tx_out = TxOut::new(BlockVersion::THREE, amount, &to, &r, hint).unwrap();
                (tx_out, fog_user)
            })
            .collect();
        made.sort_by_key(|(t, _)| t.public_key);
        let first = ledger.num_txos().unwrap();
        for (i, (_, u)) in made.iter().enumerate() {
            if let Some(u) = u {
                expected.entry(*u).or_default().push(first + i as u64);
            }
        }
        let outputs: Vec<TxOut> = made.into_iter().map(|(t, _)| t).collect();
        let mut ki = [0u8; 32];
        rng.fill_bytes(&mut ki);
        fog_test_support::chain::append_next_block(
            ledger,
            outputs,
            vec![KeyImage(ki)],
            1_700_000_000 + b,
        )
        .unwrap();
    }
    expected
}
