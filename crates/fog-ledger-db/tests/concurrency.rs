//! Readers compute and verify proofs while a writer appends.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::BTreeSet,
    sync::atomic::{AtomicBool, Ordering},
};

use fog_ledger_db::{verify_membership_proof, LedgerDb};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

#[test]
fn proofs_read_during_appends_verify_against_their_snapshot_root() {
    let mut rng = common::rng("concurrency", 21);
    let addrs = common::addresses(&mut rng, 3);
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    common::append_random_block(&mut rng, &ledger, &addrs, 5);

    let done = AtomicBool::new(false);
    let reader_seeds: Vec<u64> = (0..3).map(|_| rng.gen()).collect();
    std::thread::scope(|s| {
        let readers: Vec<_> = reader_seeds
            .iter()
            .map(|&seed| {
                let ledger = ledger.clone();
                let done = &done;
                s.spawn(move || {
                    let mut rng = ChaCha20Rng::seed_from_u64(seed);
                    let mut proofs = 0u64;
                    let mut sizes = BTreeSet::new();
                    // At least one round after the writer is done.
                    loop {
                        let finished = done.load(Ordering::Acquire);
                        // One snapshot: its size, a proof, its root and the TxOut agree.
                        let snap = ledger.snapshot().unwrap();
                        let n = snap.num_txos().unwrap();
                        sizes.insert(n);
                        let i = rng.gen_range(0..n);
                        let (proof, root) = snap.membership_proof_with_root(i).unwrap();
                        assert_eq!(proof.highest_index, n - 1);
                        assert_eq!(root, snap.root_element().unwrap());
                        let txo = snap.tx_out(i).unwrap().unwrap();
                        verify_membership_proof(&txo, &proof, &root.hash).unwrap();
                        // A batch from one snapshot: every proof against the same root.
                        let batch: Vec<u64> = (0..8).map(|_| rng.gen_range(0..n)).collect();
                        let txos = snap.tx_outs(0..n).unwrap();
                        for (p, &j) in snap.membership_proofs(&batch).unwrap().iter().zip(&batch) {
                            verify_membership_proof(&txos[j as usize], p, &root.hash).unwrap();
                        }
                        // The convenience method, which takes its own snapshot.
                        let (proof, root) = ledger.membership_proof_with_root(i).unwrap();
                        verify_membership_proof(&txo, &proof, &root.hash).unwrap();
                        proofs += 10;
                        if finished {
                            break;
                        }
                    }
                    (proofs, sizes.len())
                })
            })
            .collect();

        for _ in 0..40 {
            let n = rng.gen_range(1..30);
            common::append_random_block(&mut rng, &ledger, &addrs, n);
        }
        done.store(true, Ordering::Release);
        for (k, r) in readers.into_iter().enumerate() {
            let (proofs, sizes) = r.join().unwrap();
            eprintln!("reader {k}: {proofs} proofs verified over {sizes} ledger sizes");
        }
    });
    assert_eq!(common::check_consistent(&ledger), 41);
}
