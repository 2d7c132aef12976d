//! The follower against a real node and against scripted, hostile and absent ones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::atomic::Ordering, sync::Arc, time::Duration};

use fog_ledger_db::LedgerDb;
use fog_ledger_follower::{Follower, FollowerConfig, FollowerError, Round};
use fog_node::{Node, NodeConfig};
use fog_test_support::{
    chain::{append_synthetic_block, encode, SyntheticChain},
    node::ScriptedNode,
};
use fog_transaction::block::Block;
use rand::SeedableRng;

fn ids(ledger: &LedgerDb) -> Vec<[u8; 32]> {
    let n = ledger.num_blocks().unwrap();
    (0..n)
        .map(|i| ledger.get_block(i).unwrap().unwrap().id)
        .collect()
}

fn chain_ids(chain: &SyntheticChain) -> Vec<[u8; 32]> {
    (0..chain.blocks().len())
        .map(|i| chain.block(i).0.id)
        .collect()
}

fn config(nodes: Vec<String>) -> FollowerConfig {
    FollowerConfig::new(nodes)
        .with_poll_interval(Duration::from_millis(20))
        .with_backoff(Duration::from_millis(20), Duration::from_millis(100))
}

/// A port nothing listens on.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn follows_a_real_node_and_verifies_what_it_appends() {
    let dir = tempfile::tempdir().unwrap();
    let node_ledger = LedgerDb::create(dir.path().join("node.redb")).unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    for i in 0..250 {
        append_synthetic_block(&node_ledger, 1 + i % 7, 1_700_000_000 + i as u64, &mut rng)
            .unwrap();
    }
    let node = Arc::new(
        Node::new(
            node_ledger.clone(),
            NodeConfig::default().with_test_blocks(true),
        )
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(fog_node::serve(listener, Arc::clone(&node)));

    let local = LedgerDb::create(dir.path().join("follower.redb")).unwrap();
    let mut follower = Follower::new(local.clone(), config(vec![url]))
        .await
        .unwrap();
    let stats = follower.stats();
    assert_eq!(follower.catch_up().await.unwrap(), 250);
    assert_eq!(ids(&local), ids(&node_ledger));
    assert_eq!(
        local.get_block_timestamp(249).unwrap(),
        node_ledger.get_block_timestamp(249).unwrap()
    );
    assert_eq!(
        local.root_element().unwrap(),
        node_ledger.root_element().unwrap()
    );
    assert_eq!(stats.blocks_appended.load(Ordering::Relaxed), 250);
    assert!(
        stats.batches.load(Ordering::Relaxed) >= 3,
        "blocks come in batches"
    );
    assert!(stats.is_caught_up());

    // Following: blocks the node takes later reach the follower's ledger.
    let mut seen = follower.subscribe();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(follower.run(async {
        let _ = stopped.await;
    }));
    let scratch = LedgerDb::create_in_memory().unwrap();
    for i in 0..250u64 {
        let b = node_ledger.get_block(i).unwrap().unwrap();
        let c = node_ledger.get_block_contents(i).unwrap().unwrap();
        scratch.append_block(&b, &c, 0).unwrap();
    }
    for _ in 0..3 {
        let (block, contents) = append_synthetic_block(&scratch, 4, 7, &mut rng).unwrap();
        let node = Arc::clone(&node);
        tokio::task::spawn_blocking(move || node.append_test_block(&block, &contents, 7))
            .await
            .unwrap()
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(30), seen.wait_for(|&n| n == 253))
        .await
        .expect("the follower picks up new blocks")
        .unwrap();
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(ids(&local), ids(&node_ledger));
    assert_eq!(stats.contradictions.load(Ordering::Relaxed), 0);
}

/// Block 5 of a good chain, forged five ways: each is refused, the five blocks before it are
/// kept, and the follower goes on with the good node.
#[tokio::test]
async fn forged_blocks_are_refused_and_the_good_chain_kept() {
    let mut good = SyntheticChain::new(2);
    good.grow(10, 3);
    let (b5, c5) = good.block(5);
    let (b4, _) = good.block(4);
    let mut forgeries: Vec<(&str, fog_api::fog_node::BlockData)> = Vec::new();
    // A wrong parent id, with the block id computed over it.
    let wp = Block::new(
        b5.version,
        [7; 32],
        5,
        b5.cumulative_txo_count,
        b5.root_element,
        &c5,
    );
    forgeries.push(("wrong parent id", encode(&wp, &c5, 0)));
    // Contents that are not the ones hashed: one output replaced.
    let mut other = c5.clone();
    other.outputs[0].e_fog_hint.0[0] ^= 1;
    forgeries.push(("wrong contents hash", encode(&b5, &other, 0)));
    // A header field changed under the old id.
    let mut stale = b5.clone();
    stale.cumulative_txo_count += 1;
    forgeries.push(("wrong block id", encode(&stale, &c5, 0)));
    // A cumulative count that does not add up, with a consistent id.
    let cc = Block::new(
        b5.version,
        b4.id,
        5,
        b5.cumulative_txo_count + 1,
        b5.root_element,
        &c5,
    );
    forgeries.push(("wrong cumulative TxOut count", encode(&cc, &c5, 0)));
    // A root element that is not the tree's, with a consistent id.
    let mut root = b5.root_element;
    root.hash[0] ^= 1;
    let wr = Block::new(b5.version, b4.id, 5, b5.cumulative_txo_count, root, &c5);
    forgeries.push(("wrong root element", encode(&wr, &c5, 0)));

    let honest = ScriptedNode::spawn(good.blocks().to_vec()).await;
    for (what, forged) in forgeries {
        let liar = ScriptedNode::spawn(good.blocks().to_vec()).await;
        liar.replace_block(5, forged);
        let local = LedgerDb::create_in_memory().unwrap();

        // The liar alone: five good blocks kept, then refused.
        let mut follower = Follower::new(local.clone(), config(vec![liar.url()]))
            .await
            .unwrap();
        let err = follower.catch_up().await.unwrap_err();
        assert!(
            matches!(&err, FollowerError::NoNodeAnswered(why) if why.contains("block 5")),
            "{what}: {err}"
        );
        assert_eq!(ids(&local), chain_ids(&good)[..5], "{what}");
        assert_eq!(follower.stats().contradictions.load(Ordering::Relaxed), 1);
        // Refused for a while: the next round does not even ask it.
        let calls = liar.calls().len();
        assert!(matches!(
            follower.sync_round().await.unwrap(),
            Round::NoNodeAnswered(_)
        ));
        assert_eq!(
            liar.calls().len(),
            calls,
            "{what}: a refused node is left alone"
        );

        // The liar first, then an honest node: the good chain, whole.
        let local = LedgerDb::create_in_memory().unwrap();
        let mut follower = Follower::new(local.clone(), config(vec![liar.url(), honest.url()]))
            .await
            .unwrap();
        assert_eq!(follower.catch_up().await.unwrap(), 10, "{what}");
        assert_eq!(ids(&local), chain_ids(&good), "{what}");
        assert_eq!(follower.stats().contradictions.load(Ordering::Relaxed), 1);
    }
}

#[tokio::test]
async fn a_fork_is_refused_whether_longer_or_shorter() {
    let mut good = SyntheticChain::new(3);
    good.grow(10, 2);
    let node = ScriptedNode::spawn(good.blocks().to_vec()).await;
    let local = LedgerDb::create_in_memory().unwrap();
    let mut follower = Follower::new(local.clone(), config(vec![node.url()]))
        .await
        .unwrap();
    assert_eq!(follower.catch_up().await.unwrap(), 10);

    // A longer chain that left ours after block 5.
    let mut longer = SyntheticChain::fork_of(&good, 6, 99);
    longer.grow(9, 2);
    let forked = ScriptedNode::spawn(longer.blocks().to_vec()).await;
    let mut follower = Follower::new(local.clone(), config(vec![forked.url()]))
        .await
        .unwrap();
    let err = follower.catch_up().await.unwrap_err();
    assert!(err.to_string().contains("fork at block 9"), "{err}");
    assert_eq!(ids(&local), chain_ids(&good));
    assert_eq!(follower.stats().contradictions.load(Ordering::Relaxed), 1);

    // A shorter one: it is behind us, and differs at its own tip.
    let mut shorter = SyntheticChain::fork_of(&good, 4, 98);
    shorter.grow(3, 2);
    let behind = ScriptedNode::spawn(shorter.blocks().to_vec()).await;
    let mut follower = Follower::new(local.clone(), config(vec![behind.url()]))
        .await
        .unwrap();
    let err = follower.catch_up().await.unwrap_err();
    assert!(err.to_string().contains("fork at block 6"), "{err}");
    assert_eq!(ids(&local), chain_ids(&good));

    // An honest node that is merely behind is no fork: the round ends synced.
    let lagging = ScriptedNode::spawn(good.blocks()[..7].to_vec()).await;
    let mut follower = Follower::new(local.clone(), config(vec![lagging.url()]))
        .await
        .unwrap();
    assert_eq!(follower.catch_up().await.unwrap(), 10);
    assert_eq!(follower.stats().contradictions.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_pinned_origin_refuses_another_chain() {
    let mut chain = SyntheticChain::new(4);
    chain.grow(3, 1);
    let node = ScriptedNode::spawn(chain.blocks().to_vec()).await;
    let local = LedgerDb::create_in_memory().unwrap();
    let mut follower = Follower::new(
        local.clone(),
        config(vec![node.url()]).with_origin_block_id([1; 32]),
    )
    .await
    .unwrap();
    let err = follower.catch_up().await.unwrap_err();
    assert!(err.to_string().contains("origin block id"), "{err}");
    assert_eq!(local.num_blocks().unwrap(), 0);

    let origin = chain.block(0).0.id;
    let mut follower = Follower::new(
        local.clone(),
        config(vec![node.url()]).with_origin_block_id(origin),
    )
    .await
    .unwrap();
    assert_eq!(follower.catch_up().await.unwrap(), 3);
}

#[tokio::test]
async fn of_two_nodes_one_down_the_other_is_used() {
    let mut chain = SyntheticChain::new(5);
    chain.grow(120, 2);
    let up = ScriptedNode::spawn(chain.blocks().to_vec()).await;
    let down = ScriptedNode::spawn(chain.blocks().to_vec()).await;
    down.set_down(true);
    let nothing = dead_url().await;

    let local = LedgerDb::create_in_memory().unwrap();
    let mut follower = Follower::new(local.clone(), config(vec![nothing, down.url(), up.url()]))
        .await
        .unwrap();
    assert_eq!(follower.catch_up().await.unwrap(), 120);
    assert_eq!(ids(&local), chain_ids(&chain));
    assert_eq!(follower.stats().node_errors.load(Ordering::Relaxed), 2);
    assert_eq!(follower.stats().contradictions.load(Ordering::Relaxed), 0);

    // The node that answered stays the one asked first.
    let mut more = chain.blocks().to_vec();
    let mut grown = SyntheticChain::fork_of(&chain, 120, 6);
    grown.grow(5, 1);
    more.extend_from_slice(&grown.blocks()[120..]);
    up.set_blocks(more);
    assert_eq!(follower.catch_up().await.unwrap(), 125);
    assert_eq!(follower.stats().node_errors.load(Ordering::Relaxed), 2);

    // The up node goes down mid-sync: the other (back up) finishes.
    let mut longer = SyntheticChain::fork_of(&grown, 125, 7);
    longer.grow(200, 1);
    down.set_blocks(longer.blocks().to_vec());
    up.set_blocks(longer.blocks().to_vec());
    up.hang_from(200);
    let sync = tokio::spawn(async move {
        let r = follower.catch_up().await;
        (follower, r)
    });
    up.wait_for_call_from(200).await;
    // Blocks up to 223 are in; the next call waits. Now it fails instead.
    up.set_down(true);
    down.set_down(false);
    up.release();
    let (follower, result) = sync.await.unwrap();
    assert_eq!(result.unwrap(), 325);
    assert_eq!(ids(&local), chain_ids(&longer));
    assert!(follower.stats().node_errors.load(Ordering::Relaxed) >= 3);

    // Every node down: a clear error, and nothing changes.
    up.set_down(true);
    down.set_down(true);
    let mut follower = Follower::new(local.clone(), config(vec![up.url(), down.url()]))
        .await
        .unwrap();
    let err = follower.catch_up().await.unwrap_err();
    assert!(matches!(err, FollowerError::NoNodeAnswered(_)), "{err}");
    assert_eq!(local.num_blocks().unwrap(), 325);
}

#[tokio::test]
async fn a_follower_stopped_mid_sync_resumes_where_it_was() {
    let mut chain = SyntheticChain::new(8);
    chain.grow(300, 1);
    let node = ScriptedNode::spawn(chain.blocks().to_vec()).await;
    node.hang_from(150);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    {
        let local = LedgerDb::create(&path).unwrap();
        let follower = Follower::new(local.clone(), config(vec![node.url()]))
            .await
            .unwrap();
        let mut seen = follower.subscribe();
        let running = tokio::spawn(follower.run(std::future::pending()));
        tokio::time::timeout(Duration::from_secs(30), seen.wait_for(|&n| n >= 150))
            .await
            .unwrap()
            .unwrap();
        running.abort();
        let _ = running.await;
    }
    let held = {
        // The aborted task's handle may take a moment to go.
        let mut tries = 0;
        loop {
            match LedgerDb::open(&path) {
                Ok(db) => break db,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("reopening: {e}"),
            }
        }
    };
    let resumed_at = held.num_blocks().unwrap();
    assert!((150..300).contains(&resumed_at), "held {resumed_at}");
    node.release();
    let calls_before = node.calls().len();
    let mut follower = Follower::new(held.clone(), config(vec![node.url()]))
        .await
        .unwrap();
    assert_eq!(follower.catch_up().await.unwrap(), 300);
    assert_eq!(
        node.calls()[calls_before],
        resumed_at - 1,
        "the restarted follower asks from what it holds"
    );
    assert_eq!(ids(&held), chain_ids(&chain));
}
