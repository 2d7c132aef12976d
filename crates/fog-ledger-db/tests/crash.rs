//! Crash safety: a writer process is killed with SIGKILL at random moments while it appends,
//! and the ledger must reopen consistent, holding every append that had returned.
//!
//! The test binary plays both parts. The parent test re-runs this binary (filtered to
//! `crash_child_writer`, with `FOG_LEDGER_CRASH_CHILD` set). The child appends blocks of a few
//! hundred TxOuts forever, and before and after each `append_block` call records its phase in
//! a marker file. The parent waits for a few committed blocks, then for the child to enter
//! `append_block`, kills it a random fraction of a millisecond or two later, reopens the file
//! and checks it against a recomputation; five rounds on the same file. The marker tells
//! whether each kill landed inside `append_block`; the test prints how many did.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fog_crypto::RistrettoPrivate;
use fog_ledger_db::LedgerDb;
use fog_transaction::block::BlockContents;
use rand::Rng;

const CHILD_ENV: &str = "FOG_LEDGER_CRASH_CHILD";
const MARKER_ENV: &str = "FOG_LEDGER_CRASH_MARKER";
const SEED_ENV: &str = "FOG_LEDGER_CRASH_SEED";

/// The child's part: append blocks forever, recording in the marker file (written whole, then
/// renamed) `appending N` just before each `append_block` and `committed N+1` after it returns,
/// N being the number of blocks committed before.
#[test]
fn crash_child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return; // Not the child: nothing to do.
    };
    let marker = PathBuf::from(std::env::var_os(MARKER_ENV).unwrap());
    let seed: u64 = std::env::var(SEED_ENV).unwrap().parse().unwrap();
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(seed);
    let ledger = LedgerDb::open(&path).unwrap();
    let addrs = common::addresses(&mut rng, 2);
    let template = common::tx_out(&mut rng, &addrs[0]);
    loop {
        let tip = common::Tip::of(&ledger);
        // Cheap outputs: a real TxOut with a fresh public key each (unique keys, distinct
        // leaves); the ledger does not look inside them otherwise.
        let n = rng.gen_range(100..400);
        let mut outputs: Vec<_> = (0..n)
            .map(|_| {
                let mut o = template.clone();
                o.public_key = (&RistrettoPrivate::random(&mut rng).public_key()).into();
                o
            })
            .collect();
        outputs.sort_by(|a, b| a.public_key.as_bytes().cmp(b.public_key.as_bytes()));
        let key_images = if tip.last.is_none() {
            vec![]
        } else {
            vec![common::key_image(&mut rng)]
        };
        let contents = BlockContents {
            key_images,
            outputs,
        };
        let block = common::next_block(&tip, 3, &contents);
        write_marker(&marker, Phase::Appending, block.index);
        ledger.append_block(&block, &contents, block.index).unwrap();
        write_marker(&marker, Phase::Committed, block.index + 1);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Appending,
    Committed,
}

fn write_marker(marker: &Path, phase: Phase, blocks: u64) {
    let tmp = marker.with_extension("tmp");
    let word = match phase {
        Phase::Appending => "appending",
        Phase::Committed => "committed",
    };
    std::fs::write(&tmp, format!("{word} {blocks}")).unwrap();
    std::fs::rename(&tmp, marker).unwrap();
}

/// The child's last phase and block count.
fn read_marker(marker: &Path) -> (Phase, u64) {
    let text = std::fs::read_to_string(marker).unwrap_or_default();
    let mut words = text.split_whitespace();
    let phase = match words.next() {
        Some("appending") => Phase::Appending,
        _ => Phase::Committed,
    };
    let n = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    (phase, n)
}

fn spawn_child(path: &Path, marker: &Path, seed: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .env(MARKER_ENV, marker)
        .env(SEED_ENV, seed.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[test]
fn a_writer_killed_mid_append_leaves_a_consistent_ledger() {
    let mut rng = common::rng("crash", 11);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let marker = dir.path().join("committed");
    drop(LedgerDb::create(&path).unwrap());

    let mut committed = 0;
    let mut killed_inside = 0;
    for round in 0..5u64 {
        let mut child = spawn_child(&path, &marker, rng.gen());
        // Wait for a few more committed blocks, then for the child to enter append_block.
        // The deadline only guards against a hung child; it is not a performance check.
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the writer exited early: {status}");
            }
            assert!(Instant::now() < deadline, "the writer made no progress");
            let (phase, n) = read_marker(&marker);
            if phase == Phase::Appending && n >= committed + 3 {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..2000)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let (phase, n) = read_marker(&marker);

        let ledger = LedgerDb::open(&path).unwrap();
        let blocks = common::check_consistent(&ledger);
        eprintln!(
            "round {round}: killed {phase:?} with {n} blocks committed; {blocks} after reopening"
        );
        match phase {
            // Killed inside append_block: the block in flight is all there or not at all.
            Phase::Appending => {
                killed_inside += 1;
                assert!(
                    blocks == n || blocks == n + 1,
                    "{blocks} blocks, {n} committed"
                );
            }
            // Killed between appends: exactly what had returned.
            Phase::Committed => assert_eq!(blocks, n, "lost or invented a block"),
        }
        committed = blocks;
        // The next round's writer continues this file.
        write_marker(&marker, Phase::Committed, blocks);
    }
    eprintln!("{killed_inside} of 5 kills landed inside append_block");
}
