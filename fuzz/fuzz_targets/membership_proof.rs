//! TxOut membership proofs and elements from untrusted bytes: `TxOutMembershipProof` and
//! `TxOutMembershipElement` protobufs through `try_from_wire`, and whole `TxIn`s (a ring and
//! its proofs, as clients send them). Each proof is folded into its implied root, derived
//! back to its own index as a validator derives the ledger's proofs, and verified (by
//! `fog_transaction` and by `fog_ledger_db`) against its implied root, its derived root and
//! fixed roots. Nothing panics, verification succeeds only against the implied root, and
//! whatever decodes re-encodes to the same value.
#![no_main]

use std::sync::OnceLock;

use fog_account::AccountKey;
use fog_transaction::{
    membership::{self, TxOutMembershipElement, TxOutMembershipProof},
    wire, Amount, BlockVersion, EncryptedFogHint, TokenId, TxOut,
};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use rand_chacha::{rand_core::SeedableRng, ChaCha20Rng};

/// A TxOut for the proofs that come without one.
fn some_tx_out() -> &'static TxOut {
    static T: OnceLock<TxOut> = OnceLock::new();
    T.get_or_init(|| {
        let mut rng = ChaCha20Rng::from_seed([0x3a; 32]);
        let to = AccountKey::random(&mut rng).default_subaddress();
        let r = fog_crypto::RistrettoPrivate::random(&mut rng);
        let hint = EncryptedFogHint::fake_onetime_hint(&mut rng);
        TxOut::new(
            BlockVersion::THREE,
            Amount::new(1, TokenId::MOB),
            &to,
            &r,
            hint,
        )
        .expect("a TxOut")
    })
}

fn check_proof(proof: &TxOutMembershipProof, tx_out: &TxOut) {
    assert_eq!(
        TxOutMembershipProof::try_from_wire(&proof.to_wire()).as_ref(),
        Ok(proof)
    );
    let implied = membership::compute_implied_merkle_root(proof);
    let derived = membership::derive_proof_at_index(proof);
    let derived_root = membership::compute_implied_merkle_root(&derived);
    let mut roots = vec![[0u8; 32], membership::nil_hash()];
    roots.extend(implied.iter().map(|e| e.hash));
    roots.extend(derived_root.iter().map(|e| e.hash));
    for root in &roots {
        let ours = membership::verify_membership_proof(tx_out, proof, root);
        let ledgers = fog_ledger_db::verify_membership_proof(tx_out, proof, root);
        assert_eq!(ours, ledgers);
        if ours.is_ok() {
            let implied = implied.expect("a verified proof implies a root");
            assert_eq!(&implied.hash, root);
            assert_eq!(
                proof.elements[0].hash,
                membership::hash_leaf(&tx_out.hash())
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = wire::TxOutMembershipElement::decode(data) {
        if let Ok(e) = TxOutMembershipElement::try_from_wire(&w) {
            assert_eq!(TxOutMembershipElement::try_from_wire(&e.to_wire()), Ok(e));
        }
    }
    if let Ok(w) = wire::TxOutMembershipProof::decode(data) {
        if let Ok(p) = TxOutMembershipProof::try_from_wire(&w) {
            check_proof(&p, some_tx_out());
        }
    }
    if let Ok(w) = wire::TxIn::decode(data) {
        for (t, p) in w.ring.iter().zip(&w.proofs) {
            if let (Ok(t), Ok(p)) = (
                TxOut::try_from_wire(t),
                TxOutMembershipProof::try_from_wire(p),
            ) {
                check_proof(&p, &t);
            }
        }
    }
});
