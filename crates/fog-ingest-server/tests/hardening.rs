//! Adversarial tests of ingest's hardening: one server per state directory, no exact RNG-store
//! size in status or metrics, the report republished on an idle chain, and a commit whose
//! answer was lost treated as success (while another server's block is still a lost race), a
//! fenced server that can neither write nor rotate its way back, and a block refused after a
//! rotation inside the enclave, which leaves no stale egress key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use fog_crypto::{kex_rng::KexRngPubkey, CompressedRistrettoPublic, RistrettoPublic};
use fog_enclave_api::ingest::{
    ingest_request::Call, ingest_response::Answer, IngestClient, IngestResponse,
};
use fog_enclave_api::{
    decode_request, encode_response, Enclave, EnclaveError, IngestApi, Refused, SharedEnclave,
};
use fog_ingest_server::{
    admin, EvidenceSource, IngestConfig, IngestError, IngestServer, NoEvidence, StateDir,
};
use fog_ledger_db::LedgerDb;
use fog_recovery_db::*;

/// `blocks` blocks of `per_block` TxOuts to random recipients (fake fog hints: each still
/// takes an RNG-store entry, as a real new recipient would).
fn build_ledger(ledger: &LedgerDb, blocks: u64, per_block: usize, seed: u8) {
    let nobody = fog_crypto::RistrettoPrivate::from_scalar(Default::default()).public_key();
    common::build_ledger(ledger, &[], &nobody, blocks, per_block, seed);
}

fn config() -> IngestConfig {
    IngestConfig {
        user_capacity: 1 << 10,
        poll_interval: Duration::from_millis(10),
        ..IngestConfig::default()
    }
}

#[tokio::test]
async fn a_second_ingest_on_the_same_state_dir_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let db = MemoryRecoveryDb::new();
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let enclave = common::enclave(&state);
    let first = IngestServer::open(
        ledger.clone(),
        db.clone(),
        state,
        config(),
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    let first_invocation = first.status().invocation;
    // A second process (or a second server in this one) on the same directory, hence the
    // same ingress key: it would decommission the first's invocation while that one writes.
    let second = StateDir::new(dir.path().join("state"));
    assert!(
        matches!(second, Err(IngestError::StateDirInUse)),
        "a second StateDir on a locked directory opened: {second:?}"
    );
    let ranges = db.get_ingestable_ranges().await.unwrap();
    assert_eq!(ranges.len(), 1);
    assert!(!ranges[0].decommissioned && Some(ranges[0].id.0) == first_invocation);
    // Once the first is gone the directory is free again.
    drop(first);
    StateDir::new(dir.path().join("state")).unwrap();
}

#[tokio::test]
async fn a_second_process_on_the_same_state_dir_refuses_to_start() {
    // The lock is the OS's: a child process holding it keeps this one out.
    if let Ok(dir) = std::env::var("FOG_INGEST_LOCK_CHILD") {
        let _state = StateDir::new(dir).unwrap();
        std::thread::sleep(Duration::from_secs(30));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_second_process_on_the_same_state_dir_refuses_to_start",
        ])
        .env("FOG_INGEST_LOCK_CHILD", &state)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut refused = false;
    for _ in 0..200 {
        match StateDir::new(&state) {
            Err(IngestError::StateDirInUse) => {
                refused = true;
                break;
            }
            // The child has not taken the lock yet: let go and look again.
            Ok(s) => drop(s),
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(refused, "the child's lock never kept this process out");
    // The child died: the kernel released its lock.
    StateDir::new(&state).unwrap();
}

#[tokio::test]
async fn status_and_metrics_show_no_exact_rng_store_size() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    build_ledger(&ledger, 3, 7, 11);
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let enclave = common::enclave(&state);
    let server = IngestServer::open(
        ledger.clone(),
        MemoryRecoveryDb::new(),
        state,
        config(),
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    let shared = tokio::sync::Mutex::new(server);
    let mut seen = Vec::new();
    while shared.lock().await.process_next_block().await.unwrap() {
        let text = admin::metrics_text(&shared).await;
        let status = shared.lock().await.status();
        // 7, 14, 21 entries of 1024: always "0 %".
        assert_eq!(status.map_load_percent, 0, "{status:?}");
        assert_eq!(status.map_capacity, 1 << 10);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(
                value.parse::<u64>().is_ok(),
                "{name} is not a whole number: {line}"
            );
            assert!(!name.contains("map_len"), "{line}");
            if name.starts_with("fog_ingest_map_load") {
                assert_eq!(value, "0", "{line}");
            }
        }
        seen.push(text);
    }
    assert_eq!(seen.len(), 3);
    // Block by block, the map lines are identical although the store grew by 7 each time.
    let map_lines = |t: &String| {
        t.lines()
            .filter(|l| l.starts_with("fog_ingest_map"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(map_lines(&seen[0]), map_lines(&seen[2]));

    // 21 + 90 = 111 entries of 1024: the next step, as the enclave computed it.
    build_ledger(&ledger, 1, 90, 14);
    assert!(shared.lock().await.process_next_block().await.unwrap());
    assert_eq!(shared.lock().await.status().map_load_percent, 10);
    let text = admin::metrics_text(&shared).await;
    assert!(text.contains("fog_ingest_map_load_percent 10"), "{text}");
}

/// Counts evidence requests, i.e. report publications.
struct CountingEvidence(Arc<AtomicUsize>);

impl EvidenceSource for CountingEvidence {
    fn evidence(&self, _: &[u8; 32], _: &RistrettoPublic) -> Vec<u8> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        // Distinct evidence per publication, so the stored report shows it was replaced.
        (n as u64).to_le_bytes().to_vec()
    }
}

#[tokio::test]
async fn an_idle_chain_gets_its_report_republished_on_a_timer() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    build_ledger(&ledger, 1, 2, 12);
    let db = MemoryRecoveryDb::new();
    let published = Arc::new(AtomicUsize::new(0));
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let enclave = common::enclave(&state);
    let server = IngestServer::open(
        ledger,
        db.clone(),
        state,
        IngestConfig {
            report_republish_interval: Duration::from_millis(100),
            ..config()
        },
        Box::new(CountingEvidence(published.clone())),
        enclave,
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    // Block 0 is processed (one publication); then nothing comes for a while.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
    let n = published.load(Ordering::SeqCst);
    assert!(
        n >= 4,
        "idle for 1 s with a 100 ms interval, the report was published {n} times"
    );
    let reports = db.get_all_reports().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_ne!(
        reports[0].1.evidence,
        0u64.to_le_bytes().to_vec(),
        "evidence refreshed"
    );
}

#[tokio::test]
async fn a_lost_commit_answer_is_success_but_another_writer_is_still_a_lost_race() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    build_ledger(&ledger, 3, 4, 13);
    let inner = SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap();
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let enclave = common::enclave(&state);
    let mut server = IngestServer::open(
        ledger,
        inner.clone(),
        state,
        config(),
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    let key = CompressedRistrettoPublic::from(&server.ingress_public_key());

    // Block 0 commits but the answer is an error; the retry writes the identical records.
    inner.lose_answer_of_next_block_write();
    let err = server.process_next_block().await.unwrap_err();
    assert!(
        matches!(&err, IngestError::RecoveryDb(e) if e.should_retry()),
        "{err:?}"
    );
    let stored = inner
        .get_tx_outs_by_block_and_key(&key, BlockIndex(0))
        .await
        .unwrap()
        .expect("the commit went through");
    assert_eq!(stored.len(), 4);
    let retried = server.process_next_block().await;
    assert!(
        matches!(retried, Ok(true)),
        "the retry of a committed block must succeed: {retried:?}"
    );
    assert_eq!(server.status().next_block, 1);
    assert_eq!(
        inner
            .get_tx_outs_by_block_and_key(&key, BlockIndex(0))
            .await
            .unwrap(),
        Some(stored),
        "written once, unchanged"
    );
    assert!(server.process_next_block().await.unwrap());

    // Block 2: another invocation on this ingress key (another server) writes it first, with
    // other records. That is still a lost race.
    let other = inner
        .new_ingest_invocation(
            None,
            &key,
            &KexRngPubkey {
                public_key: vec![0xab; 32],
                version: 0,
            },
            BlockIndex(2),
        )
        .await
        .unwrap();
    let theirs = vec![ETxOutRecord {
        search_key: vec![9; 16],
        payload: vec![9; 100],
    }];
    let st = inner
        .add_block_data(other, BlockIndex(2), 99, 99, &theirs)
        .await
        .unwrap();
    assert!(!st.block_already_scanned_with_this_key);
    let err = server.process_next_block().await.unwrap_err();
    assert!(matches!(err, IngestError::LostRace(2)), "{err:?}");
}

/// An active server that processed block 0, and the key's take-over by another server (a
/// new invocation from the recovery DB, with egress key bytes `egress`).
async fn taken_over(
    seed: u8,
    egress: u8,
) -> (
    tempfile::TempDir,
    MemoryRecoveryDb,
    IngestServer<MemoryRecoveryDb>,
    IngressPublicKey,
    IngestInvocationId,
) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    build_ledger(&ledger, 3, 2, seed);
    let db = MemoryRecoveryDb::new();
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let enclave = common::enclave(&state);
    let mut server = IngestServer::open(
        ledger,
        db.clone(),
        state,
        config(),
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    assert!(server.process_next_block().await.unwrap());
    let key = server.ingress_key();
    let theirs = db
        .take_over_ingress_key(
            &key,
            &KexRngPubkey {
                public_key: vec![egress; 32],
                version: 0,
            },
            TakeOver::Always,
        )
        .await
        .unwrap()
        .unwrap();
    (dir, db, server, key, theirs.invocation)
}

/// A server whose key another server took over is fenced: it cannot write a block, and it
/// cannot slip a new invocation in beside the new owner's by rotating its egress key (a
/// rotation opens an invocation that only decommissions the rotating server's own). It goes
/// idle, and the key keeps exactly one live invocation.
#[tokio::test]
async fn a_fenced_server_neither_writes_nor_rotates_its_way_back() {
    let (_dir, db, mut server, key, theirs) = taken_over(7, 0xcd).await;
    // The operator rotates on the fenced server: refused, and it is idle now.
    let err = server.rotate_egress_key().await.unwrap_err();
    assert!(matches!(err, IngestError::Fenced), "{err:?}");
    assert_eq!(server.mode(), fog_ingest_server::Mode::Idle);
    let live: Vec<IngestInvocationId> = db
        .get_invocations(Some(&key))
        .await
        .unwrap()
        .into_iter()
        .filter(|i| !i.decommissioned)
        .map(|i| i.id)
        .collect();
    assert_eq!(live, vec![theirs], "no second live invocation");
    // Idle, it writes nothing more.
    assert!(!server.process_next_block().await.unwrap());
    assert_eq!(
        db.get_last_scanned_block_index(&key).await.unwrap(),
        Some(BlockIndex(0))
    );

    // The same through the block path: a second server, fenced, whose next block is refused.
    let (_dir2, db2, mut second, key2, _) = taken_over(8, 0xce).await;
    let err = second.process_next_block().await.unwrap_err();
    assert!(matches!(err, IngestError::Fenced), "{err:?}");
    assert_eq!(second.counters().fenced, 1);
    assert_eq!(
        db2.get_last_scanned_block_index(&key2).await.unwrap(),
        Some(BlockIndex(0)),
        "the fenced block was not stored"
    );
}

/// An ingest enclave that, once armed, rotates inside and then refuses the next block: what
/// the trusted enclave does when a block still finds the store full after its retries, or
/// its storage fails after a rotation. The refusal does not name the new egress key. With
/// `hide_egress`, the next read of the egress key does not go through either.
struct RotateThenRefuse {
    inner: SharedEnclave,
    armed: AtomicBool,
    hide_egress: AtomicBool,
}

impl Enclave for RotateThenRefuse {
    fn call(&self, request: &[u8]) -> std::result::Result<Vec<u8>, EnclaveError> {
        let call = decode_request::<IngestApi>(request)
            .ok()
            .and_then(|r| r.call);
        if matches!(call, Some(Call::GetKexRngPubkey(_)))
            && self.hide_egress.swap(false, Ordering::SeqCst)
        {
            return Err(EnclaveError::Internal);
        }
        let is_block = matches!(call, Some(Call::IngestBlock(_)));
        if !(is_block && self.armed.swap(false, Ordering::SeqCst)) {
            return self.inner.call(request);
        }
        IngestClient::new(self.inner.clone()).rotate().unwrap();
        Ok(encode_response::<IngestApi>(&IngestResponse {
            answer: Some(Answer::Refused(
                fog_enclave_api::errors::IngestError::BlockTooBig.to_refusal(),
            )),
        }))
    }
}

/// A block refused after the enclave rotated: the server reads the egress key again, shows
/// the new one, and writes the block (when it goes through) under a new invocation of that
/// key, never under the invocation of the key the enclave dropped. When that read fails too,
/// the next block reads it first.
#[tokio::test]
async fn a_block_refused_after_a_rotation_inside_leaves_no_stale_egress_key() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    build_ledger(&ledger, 3, 3, 15);
    let db = MemoryRecoveryDb::new();
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let inner = common::enclave(&state);
    let enclave = Arc::new(RotateThenRefuse {
        inner: inner.clone(),
        armed: AtomicBool::new(false),
        hide_egress: AtomicBool::new(false),
    });
    let mut server = IngestServer::open(
        ledger,
        db.clone(),
        state,
        config(),
        Box::new(NoEvidence),
        enclave.clone(),
    )
    .await
    .unwrap();
    assert!(server.process_next_block().await.unwrap());
    let before = server.status().egress;
    let first = server.status().invocation.unwrap();

    enclave.armed.store(true, Ordering::SeqCst);
    let err = server.process_next_block().await.unwrap_err();
    assert!(
        matches!(
            err,
            IngestError::Enclave(fog_enclave_api::errors::IngestError::BlockTooBig)
        ),
        "{err:?}"
    );
    let now = IngestClient::new(inner.clone()).kex_rng_pubkey().unwrap();
    assert_ne!(now, before);
    assert_eq!(
        server.status().egress,
        now,
        "the status shows the key in use"
    );
    assert_eq!(server.status().map_load_percent, 0);

    // The retry goes through: block 1 is stored under a new invocation of the new key.
    assert!(server.process_next_block().await.unwrap());
    let invocations = db
        .get_invocations(Some(&server.ingress_key()))
        .await
        .unwrap();
    let live: Vec<_> = invocations.iter().filter(|i| !i.decommissioned).collect();
    assert_eq!(live.len(), 1, "{invocations:?}");
    assert_ne!(live[0].id.0, first);
    assert_eq!(live[0].egress_public_key, now);
    assert_eq!(live[0].start_block, BlockIndex(1));
    assert_eq!(live[0].last_ingested_block, Some(BlockIndex(1)));
    let old = invocations.iter().find(|i| i.id.0 == first).unwrap();
    assert_eq!(old.egress_public_key, before);
    assert_eq!(old.last_ingested_block, Some(BlockIndex(0)));

    // Again, and the egress key cannot be read after the refusal: block 2 reads it first.
    let second = live[0].id;
    enclave.armed.store(true, Ordering::SeqCst);
    enclave.hide_egress.store(true, Ordering::SeqCst);
    let err = server.process_next_block().await.unwrap_err();
    assert!(matches!(err, IngestError::Enclave(_)), "{err:?}");
    assert!(server.process_next_block().await.unwrap());
    let latest = IngestClient::new(inner).kex_rng_pubkey().unwrap();
    assert_ne!(latest, now);
    assert_eq!(server.status().egress, latest);
    let invocations = db
        .get_invocations(Some(&server.ingress_key()))
        .await
        .unwrap();
    let live: Vec<_> = invocations.iter().filter(|i| !i.decommissioned).collect();
    assert_eq!(live.len(), 1, "{invocations:?}");
    assert_ne!(live[0].id, second);
    assert_eq!(live[0].egress_public_key, latest);
    assert_eq!(live[0].start_block, BlockIndex(2));
    assert_eq!(live[0].last_ingested_block, Some(BlockIndex(2)));
}
