//! Range proofs and ring signatures from untrusted bytes, checked on their own without the
//! validation rules that come before them at the node.
//!
//! The first byte chooses the input: even, a `Tx` protobuf (whose decoding parses every
//! RingMLSAG: canonical scalars, 32-byte key images, pseudo-output commitments) whose RingCT
//! signature is verified whole (`verify_signature`) and piece by piece (each MLSAG against
//! its input's ring, each range proof against its token's commitments); odd, a raw range
//! proof `token (u64 LE) ‖ n (1 byte) ‖ n × 32-byte commitments ‖ proof bytes`. Verification
//! of garbage returns an error and never panics; a signature that verifies whole verifies in
//! every piece; a decoded Tx re-encodes to the same value.
#![no_main]

use std::collections::BTreeSet;

use fog_transaction::{range_proof, tx::Tx, validation, TokenId};
use libfuzzer_sys::fuzz_target;
use rand_chacha::{rand_core::SeedableRng, ChaCha20Rng};

fn check_tx(bytes: &[u8], rng: &mut ChaCha20Rng) {
    let Ok(tx) = Tx::decode(bytes) else {
        return;
    };
    assert_eq!(Tx::decode(&tx.encode_to_vec()).as_ref(), Ok(&tx));
    let whole = validation::verify_signature(&tx, rng);
    let s = &tx.signature;

    // Each MLSAG against its input's ring, whatever the rest of the transaction says: over
    // the transaction's digest, or an input with rules (a signed contingent input) over its
    // own.
    let digest = tx.signing_digest();
    for ((input, sig), pseudo) in tx
        .prefix
        .inputs
        .iter()
        .zip(&s.ring_signatures)
        .zip(&s.pseudo_output_commitments)
    {
        if let Ok(ring) = input.reduced_ring() {
            let signed = input.signed_digest();
            let message: &[u8] = signed.as_ref().map_or(&digest[..], |d| &d[..]);
            let r = sig.verify(message, &ring, pseudo);
            if whole.is_ok() {
                assert_eq!(r, Ok(()));
            }
        }
    }

    // Each range proof against the commitments of its token, tokens in ascending order.
    let outputs: Vec<Option<[u8; 32]>> = tx
        .prefix
        .outputs
        .iter()
        .map(|o| o.masked_amount.as_ref().map(|m| m.commitment))
        .collect();
    let tokens: BTreeSet<u64> = std::iter::once(tx.prefix.fee_token_id)
        .chain(s.pseudo_output_token_ids.iter().copied())
        .chain(s.output_token_ids.iter().copied())
        .collect();
    for (token, proof) in tokens.iter().zip(&s.range_proofs) {
        let commitments: Vec<[u8; 32]> = s
            .pseudo_output_commitments
            .iter()
            .map(Some)
            .zip(&s.pseudo_output_token_ids)
            .chain(outputs.iter().map(Option::as_ref).zip(&s.output_token_ids))
            .filter(|(_, t)| *t == token)
            .filter_map(|(c, _)| c.copied())
            .collect();
        let r = range_proof::verify(proof, &commitments, TokenId(*token), rng);
        if whole.is_ok() {
            assert_eq!(r, Ok(()));
        }
    }
}

fn check_raw_range_proof(bytes: &[u8], rng: &mut ChaCha20Rng) {
    let Some((token, rest)) = bytes.split_first_chunk::<8>() else {
        return;
    };
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let n = usize::from(n);
    if rest.len() < 32 * n {
        return;
    }
    let (commitments, proof) = rest.split_at(32 * n);
    let commitments: Vec<[u8; 32]> = commitments
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32-byte chunks"))
        .collect();
    let r = range_proof::verify(
        proof,
        &commitments,
        TokenId(u64::from_le_bytes(*token)),
        rng,
    );
    if n == 0 || n > 64 {
        assert!(r.is_err());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    // Bulletproof verification draws random weights; a fixed seed keeps a crash reproducible.
    let mut rng = ChaCha20Rng::from_seed([0x7b; 32]);
    if which % 2 == 0 {
        check_tx(rest, &mut rng);
    } else {
        check_raw_range_proof(rest, &mut rng);
    }
});
