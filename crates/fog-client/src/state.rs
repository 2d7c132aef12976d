//! What a client remembers about one account between checks, and the balance and history
//! computed from it.
//!
//! # The balance invariant
//! A [`Balance`] is a pair `(block_count, balances)` where `balances` is exact for the ledger
//! made of blocks `0..block_count` — "never wrong, only late" (SPEC.md). `block_count` is the
//! largest count for which every fact the balance depends on is known:
//! - the view service has processed every block below it and this client has searched every
//!   RNG dry since then ([`AccountState::view_block_count`], confirmed by the sync);
//! - no missed block range that is still to be scanned starts below it;
//! - every owned TxOut below it has a spent status valid at it: spent at a known block, or
//!   not spent as of a key-image answer whose `num_blocks` reaches it.
//!
//! A TxOut counts when its block is below `block_count` and it is not spent below
//! `block_count`. Owned TxOuts are keyed by global index and kept unique by public key, so
//! one found twice (through view and through a missed-range scan, even at two indices) counts
//! once. The reported `block_count` never goes
//! backwards: if the services fall back (a restarted store), the last balance is repeated.
//!
//! Only TxOuts paying the default or the change subaddress are tracked: those are the ones
//! a fog hint names and a send can spend.

use std::collections::{BTreeMap, BTreeSet};

use fog_crypto::kex_rng::KexRngPubkey;
use fog_transaction::{Amount, KeyImage, MemoPayload};
use fog_types::common::BlockRange;

/// One ingest invocation's RNG as this account follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RngState {
    /// The ingest invocation.
    pub ingest_invocation_id: i64,
    /// Its egress public key and KexRng version.
    pub pubkey: KexRngPubkey,
    /// Its first block.
    pub start_block: u64,
    /// How many of this account's records under it were found (the next search key's
    /// index).
    pub counter: u64,
    /// Set once the invocation is decommissioned: the last block it ingested. The RNG is
    /// retired once the confirmed view block count passes that block.
    pub last_ingested_block: Option<u64>,
}

/// Whether an owned TxOut is spent, as the key-image service last said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpentStatus {
    /// Not checked yet.
    Unknown,
    /// Not spent in blocks below `as_of`.
    NotSpent {
        /// The key-image service's `num_blocks` when it answered.
        as_of: u64,
    },
    /// Spent in this block.
    Spent {
        /// The block that holds the key image.
        block_index: u64,
    },
}

/// How an owned TxOut was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// Through a view record.
    View,
    /// By scanning a missed block range with the view key.
    MissedRangeScan,
}

/// A TxOut this account owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedTxOut {
    /// Its global index in the ledger.
    pub global_index: u64,
    /// Its block.
    pub block_index: u64,
    /// Its block's timestamp (seconds since the Unix epoch; untrusted).
    pub timestamp: u64,
    /// Its value and token.
    pub amount: Amount,
    /// The subaddress it pays (default or change).
    pub subaddress_index: u64,
    /// The key image that spending it reveals.
    pub key_image: KeyImage,
    /// Its public key `R` (identifies it among a ring's members).
    pub public_key: [u8; 32],
    /// Its decrypted memo payload.
    pub memo: MemoPayload,
    /// Spent status.
    pub spent: SpentStatus,
    /// How it was found.
    pub discovery: Discovery,
}

/// A transaction this client submitted whose inputs are not yet seen spent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSend {
    /// The key images of its inputs.
    pub key_images: Vec<KeyImage>,
    /// The first block in which it can no longer land.
    pub tombstone_block: u64,
    /// The public key of its change output.
    pub change_public_key: [u8; 32],
    /// What it pays (to the recipient).
    pub amount: Amount,
    /// Its fee.
    pub fee: Amount,
}

/// The pair the invariant speaks of: balances by token, exact for blocks below
/// `block_count`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// The balances are exact for the ledger of blocks `0..block_count`.
    pub block_count: u64,
    /// Token id → value (u128: a sum of u64 values).
    pub balances: BTreeMap<u64, u128>,
}

impl Balance {
    /// The balance of one token (0 if none).
    pub fn of(&self, token_id: u64) -> u128 {
        self.balances.get(&token_id).copied().unwrap_or(0)
    }
}

/// The sync state of one account: everything a wallet file keeps so the next check is
/// incremental. Holds no secret (RNG secrets are rebuilt from the view key); it does hold
/// the account's TxOuts, amounts and key images, so store it as privately as the keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountState {
    /// Confirmed: every record of this account in blocks below this was found.
    pub view_block_count: u64,
    /// The view service's block count in the last answer of the last sync (the candidate the
    /// next sync can confirm without another round).
    pub last_seen_view_block_count: u64,
    /// The next user event id to ask view from.
    pub next_user_event_id: i64,
    /// RNGs followed, by egress public key.
    pub rngs: BTreeMap<Vec<u8>, RngState>,
    /// Egress public keys of RNGs retired (decommissioned and fully searched).
    pub retired_rngs: BTreeSet<Vec<u8>>,
    /// Decommissions seen for invocations whose RNG record was not seen (yet): id → last
    /// ingested block.
    pub pending_decommissions: BTreeMap<i64, u64>,
    /// Owned TxOuts by global index.
    pub tx_outs: BTreeMap<u64, OwnedTxOut>,
    /// Missed block ranges still to scan, sorted, disjoint.
    pub missed_ranges: Vec<BlockRange>,
    /// Sends not yet seen landed or expired.
    pub pending_sends: Vec<PendingSend>,
    /// The last balance reported (the floor for the next one).
    pub last_balance: Option<Balance>,
}

impl AccountState {
    /// A fresh state: nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a missed range to the pending list, merging overlaps. Empty ranges are ignored.
    pub fn add_missed_range(&mut self, range: BlockRange) {
        if !range.is_valid() {
            return;
        }
        let mut all = core::mem::take(&mut self.missed_ranges);
        all.push(range);
        all.sort();
        let mut merged: Vec<BlockRange> = Vec::with_capacity(all.len());
        for r in all {
            match merged.last_mut() {
                Some(last) if r.start_block <= last.end_block => {
                    last.end_block = last.end_block.max(r.end_block);
                }
                _ => merged.push(r),
            }
        }
        self.missed_ranges = merged;
    }

    /// Marks blocks below `end` as scanned: pending ranges lose their part below `end`.
    pub fn missed_scanned_up_to(&mut self, end: u64) {
        for r in &mut self.missed_ranges {
            r.start_block = r.start_block.max(end.min(r.end_block));
        }
        self.missed_ranges.retain(BlockRange::is_valid);
    }

    /// Records an owned TxOut. Returns false (and changes nothing) if one with this global
    /// index, or with this public key at another index, is already known: a TxOut never
    /// counts twice, even when a service reports it at two indices (the ledger never holds
    /// two TxOuts with one public key). The first one found stays.
    pub fn add_tx_out(&mut self, tx_out: OwnedTxOut) -> bool {
        if self.tx_outs.contains_key(&tx_out.global_index)
            || self
                .tx_outs
                .values()
                .any(|t| t.public_key == tx_out.public_key)
        {
            return false;
        }
        self.tx_outs.insert(tx_out.global_index, tx_out);
        true
    }

    /// The block count the balance is exact for now (see the module docs), before the
    /// never-backwards floor.
    pub fn exact_block_count(&self) -> u64 {
        let mut n = self.view_block_count;
        if let Some(first) = self.missed_ranges.first() {
            n = n.min(first.start_block);
        }
        for t in self.tx_outs.values() {
            // The balance at n depends on this TxOut only if its block is below n; then its
            // status must be known at n.
            let limit = match t.spent {
                SpentStatus::Unknown => t.block_index,
                SpentStatus::NotSpent { as_of } => as_of.max(t.block_index),
                SpentStatus::Spent { .. } => u64::MAX,
            };
            n = n.min(limit);
        }
        n
    }

    /// The balances for the ledger of blocks `0..block_count`, from what is known. Exact
    /// only for `block_count <= exact_block_count()`.
    pub fn balances_at(&self, block_count: u64) -> BTreeMap<u64, u128> {
        let mut out = BTreeMap::new();
        for t in self.unspent_at(block_count) {
            *out.entry(t.amount.token_id.0).or_insert(0u128) += u128::from(t.amount.value);
        }
        out
    }

    /// Owned TxOuts in blocks below `block_count` not spent below it.
    pub fn unspent_at(&self, block_count: u64) -> impl Iterator<Item = &OwnedTxOut> {
        self.tx_outs.values().filter(move |t| {
            t.block_index < block_count
                && !matches!(t.spent, SpentStatus::Spent { block_index } if block_index < block_count)
        })
    }

    /// The balance now: exact for its block count, which never goes below the last one
    /// reported. Records it as the last balance.
    pub fn balance(&mut self) -> Balance {
        let n = self.exact_block_count();
        if let Some(last) = &self.last_balance {
            if n < last.block_count {
                return last.clone();
            }
        }
        let b = Balance {
            block_count: n,
            balances: self.balances_at(n),
        };
        self.last_balance = Some(b.clone());
        b
    }

    /// Key images of inputs reserved by pending sends.
    pub fn reserved_key_images(&self) -> BTreeSet<KeyImage> {
        self.pending_sends
            .iter()
            .flat_map(|p| p.key_images.iter().copied())
            .collect()
    }

    /// Drops pending sends whose inputs are all seen spent, or whose tombstone block is
    /// below the confirmed block count (they can no longer land).
    pub fn settle_pending_sends(&mut self, block_count: u64) {
        let spent: BTreeSet<KeyImage> = self
            .tx_outs
            .values()
            .filter(|t| matches!(t.spent, SpentStatus::Spent { .. }))
            .map(|t| t.key_image)
            .collect();
        self.pending_sends.retain(|p| {
            let landed = p.key_images.iter().all(|k| spent.contains(k));
            let expired = block_count >= p.tombstone_block;
            !landed && !expired
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fog_transaction::TokenId;

    fn txo(index: u64, block: u64, value: u64, spent: SpentStatus) -> OwnedTxOut {
        OwnedTxOut {
            global_index: index,
            block_index: block,
            timestamp: 0,
            amount: Amount::new(value, TokenId::MOB),
            subaddress_index: 0,
            key_image: KeyImage([index as u8; 32]),
            public_key: [index as u8; 32],
            memo: MemoPayload::default(),
            spent,
            discovery: Discovery::View,
        }
    }

    #[test]
    fn missed_ranges_merge_and_shrink() {
        let mut s = AccountState::new();
        s.add_missed_range(BlockRange::new(10, 20));
        s.add_missed_range(BlockRange::new(5, 12));
        s.add_missed_range(BlockRange::new(30, 31));
        s.add_missed_range(BlockRange::new(40, 40));
        assert_eq!(
            s.missed_ranges,
            vec![BlockRange::new(5, 20), BlockRange::new(30, 31)]
        );
        s.missed_scanned_up_to(18);
        assert_eq!(
            s.missed_ranges,
            vec![BlockRange::new(18, 20), BlockRange::new(30, 31)]
        );
        s.missed_scanned_up_to(31);
        assert!(s.missed_ranges.is_empty());
    }

    #[test]
    fn block_count_is_the_tightest_known_bound() {
        let mut s = AccountState::new();
        s.view_block_count = 100;
        assert_eq!(s.exact_block_count(), 100);
        // An unchecked TxOut at block 40 holds the count at 40.
        s.add_tx_out(txo(1, 40, 5, SpentStatus::Unknown));
        assert_eq!(s.exact_block_count(), 40);
        // Not spent as of 70: the count may pass the TxOut up to 70.
        s.tx_outs.get_mut(&1).unwrap().spent = SpentStatus::NotSpent { as_of: 70 };
        assert_eq!(s.exact_block_count(), 70);
        // A key-image answer older than the TxOut says nothing, but the TxOut is not
        // counted below its block.
        s.add_tx_out(txo(2, 80, 5, SpentStatus::NotSpent { as_of: 60 }));
        assert_eq!(s.exact_block_count(), 70);
        s.add_missed_range(BlockRange::new(50, 55));
        assert_eq!(s.exact_block_count(), 50);
    }

    #[test]
    fn balance_counts_each_tx_out_once_and_respects_spends() {
        let mut s = AccountState::new();
        s.view_block_count = 100;
        assert!(s.add_tx_out(txo(1, 10, 7, SpentStatus::NotSpent { as_of: 100 })));
        assert!(!s.add_tx_out(txo(1, 10, 7, SpentStatus::Unknown)));
        // The same TxOut (public key) reported at another index does not count again.
        assert!(!s.add_tx_out(OwnedTxOut {
            global_index: 9,
            ..txo(1, 10, 7, SpentStatus::Unknown)
        }));
        s.add_tx_out(txo(2, 20, 3, SpentStatus::Spent { block_index: 50 }));
        s.add_tx_out(txo(3, 60, 11, SpentStatus::NotSpent { as_of: 100 }));
        let b = s.balance();
        assert_eq!(b.block_count, 100);
        assert_eq!(b.of(0), 7 + 11);
        // At 50, TxOut 2 was not spent yet and TxOut 3 did not exist.
        assert_eq!(s.balances_at(50).get(&0), Some(&(7 + 3)));
        assert_eq!(s.balances_at(51).get(&0), Some(&7));
    }

    #[test]
    fn balance_never_goes_backwards() {
        let mut s = AccountState::new();
        s.view_block_count = 30;
        s.add_tx_out(txo(1, 10, 7, SpentStatus::NotSpent { as_of: 30 }));
        assert_eq!(s.balance().block_count, 30);
        // The key-image service restarted behind: the exact count drops, the reported one
        // does not.
        s.tx_outs.get_mut(&1).unwrap().spent = SpentStatus::NotSpent { as_of: 20 };
        let b = s.balance();
        assert_eq!(b.block_count, 30);
        assert_eq!(b.of(0), 7);
    }

    #[test]
    fn pending_sends_settle_when_spent_or_expired() {
        let mut s = AccountState::new();
        s.add_tx_out(txo(1, 10, 7, SpentStatus::Spent { block_index: 12 }));
        s.add_tx_out(txo(2, 10, 7, SpentStatus::NotSpent { as_of: 12 }));
        let pending = |k: u8, tombstone| PendingSend {
            key_images: vec![KeyImage([k; 32])],
            tombstone_block: tombstone,
            change_public_key: [0; 32],
            amount: Amount::new(1, TokenId::MOB),
            fee: Amount::new(1, TokenId::MOB),
        };
        s.pending_sends = vec![pending(1, 50), pending(2, 50), pending(2, 13)];
        assert_eq!(s.reserved_key_images().len(), 2);
        s.settle_pending_sends(13);
        assert_eq!(s.pending_sends, vec![pending(2, 50)]);
    }
}
