//! Wallets whose every reported balance is checked against a view-key scan of the ledger
//! (the oracle), for the multi-host tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use fog_ledger_db::LedgerDb;
use fog_system::network::{Files, MOB};
use fog_wallet::{NetworkOverrides, Session};

/// A wallet whose every reported balance is checked against the oracle.
pub struct Wallet {
    pub name: String,
    pub session: Session,
    pub last: u64,
}

/// Checks `w`'s balance once: `Ok(Some(block_count))` when it answered (and was exact),
/// `Ok(None)` when a service did not answer (allowed while one is down).
pub async fn check(w: &mut Wallet, oracle: &LedgerDb, checked: &mut u32) -> Option<u64> {
    let b = match w.session.balance(|_| {}).await {
        Ok(b) => b,
        Err(e) => {
            println!("{}: no balance now ({e})", w.name);
            return None;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while oracle.num_blocks().unwrap() < b.block_count {
        assert!(
            Instant::now() < deadline,
            "the oracle's copy does not catch up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let truth = fog_system::oracle::balance(oracle, w.session.account(), b.block_count).unwrap();
    assert_eq!(
        b.of(0),
        truth,
        "{} reported a WRONG balance at block count {}",
        w.name,
        b.block_count
    );
    assert!(
        b.block_count >= w.last,
        "{}'s block count went back from {} to {}",
        w.name,
        w.last,
        b.block_count
    );
    w.last = b.block_count;
    *checked += 1;
    Some(b.block_count)
}

/// Every wallet checks until its balance covers `blocks` (within `limit`).
pub async fn all_cover(wallets: &mut [Wallet], blocks: u64, oracle: &LedgerDb, checked: &mut u32) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for w in wallets.iter_mut() {
        loop {
            if check(w, oracle, checked).await.is_some_and(|n| n >= blocks) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} never saw block count {blocks}",
                w.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `from` pays `to` 1 MOB, retrying while a service is down; returns the block it landed in.
pub async fn pay(wallets: &mut [Wallet], from: usize, to: usize) -> u64 {
    let to_address = wallets[to].session.address();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let sender = &mut wallets[from].session;
        let attempt = async {
            let mut receipt = sender
                .submit(
                    &to_address,
                    fog_transaction::Amount::new(MOB, fog_transaction::TokenId::MOB),
                    None,
                )
                .await?;
            sender.wait(&mut receipt).await?;
            Ok::<_, fog_wallet::WalletError>(receipt.block_index.unwrap_or(0))
        };
        match attempt.await {
            Ok(block) => return block,
            Err(e) => {
                println!("{} cannot pay now: {e}", wallets[from].name);
                assert!(Instant::now() < deadline, "payments never worked again");
                tokio::time::sleep(Duration::from_millis(500)).await;
                // A failed wait may leave inputs reserved; the next balance check frees
                // what did not land.
                let _ = wallets[from].session.balance(|_| {}).await;
            }
        }
    }
}

/// The named wallets of a network directory, opened with their stored state.
pub fn open_all(files: &Files, names: &[&str]) -> Vec<Wallet> {
    names
        .iter()
        .map(|name| Wallet {
            name: name.to_string(),
            session: Session::open(&files.wallet(name), &NetworkOverrides::default(), false)
                .unwrap(),
            last: 0,
        })
        .collect()
}
