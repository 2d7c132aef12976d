//! History: what this account received and spent, with blocks, amounts and what the memos
//! say, for the blocks its balance covers.
//!
//! A received TxOut with an authenticated sender memo names its sender by a 16-byte short
//! address hash; the memo is *authenticated* only when the wallet knows an address with that
//! hash (a contact) and the memo's HMAC checks out for it
//! (`fog_transaction::memo::validate_authenticated_sender`). Without a matching contact the
//! hash is reported as claimed, unverified.
//!
//! A change TxOut of this account's own payment carries a destination memo: what that payment
//! sent (total outlay, fee, number of recipients, the recipient's short address hash). It is
//! reported ([`HistoryEntry::destination`]) only on a TxOut paying the change subaddress, as
//! MobileCoin's memo handler does: a destination memo on any other subaddress could have been
//! written by anyone. For the same reason only a TxOut paying the change subaddress is marked
//! as change, whatever its memo says.

use fog_account::{AccountKey, PublicAddress, ShortAddressHash, CHANGE_SUBADDRESS_INDEX};
use fog_transaction::{
    memo::{validate_authenticated_sender, Memo},
    Amount,
};

use crate::state::{AccountState, OwnedTxOut, SpentStatus};

/// Who sent a received TxOut, from its memo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sender {
    /// No sender memo.
    Unknown,
    /// An authenticated sender memo that verified against this contact (its index in the
    /// contacts given).
    Authenticated(usize),
    /// An authenticated sender memo whose hash matches no contact (or whose HMAC did not
    /// verify): the claimed short address hash.
    Claimed(ShortAddressHash),
}

/// What a history entry records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A TxOut received.
    Received {
        /// Its sender, from the memo.
        sender: Sender,
        /// Whether it is change from this account's own send (it carries a destination
        /// memo, or pays the change subaddress).
        change: bool,
    },
    /// A TxOut spent.
    Spent,
}

/// What the destination memo of a change TxOut says about the payment that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    /// What the payment cost in all: the value sent to its recipients plus the fee.
    pub total_outlay: u64,
    /// The fee.
    pub fee: u64,
    /// How many recipients it paid.
    pub num_recipients: u8,
    /// The short address hash of its recipient (all zero when it paid several).
    pub recipient: ShortAddressHash,
}

/// One line of history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The block where it happened.
    pub block_index: u64,
    /// The TxOut's global index.
    pub global_index: u64,
    /// The TxOut's amount.
    pub amount: Amount,
    /// Received or spent.
    pub kind: EntryKind,
    /// On a received change TxOut: what its destination memo says about the payment that
    /// made it (see the module docs). `None` otherwise.
    pub destination: Option<Destination>,
}

/// The destination memo of an owned TxOut, if it carries one and pays the change subaddress.
pub fn destination_of(t: &OwnedTxOut) -> Option<Destination> {
    if t.subaddress_index != CHANGE_SUBADDRESS_INDEX {
        return None;
    }
    match Memo::parse(&t.memo) {
        Ok(Memo::Destination {
            address_hash,
            num_recipients,
            fee,
            total_outlay,
            ..
        }) => Some(Destination {
            total_outlay,
            fee,
            num_recipients,
            recipient: address_hash,
        }),
        _ => None,
    }
}

fn sender_of(account: &AccountKey, t: &OwnedTxOut, contacts: &[PublicAddress]) -> Sender {
    match Memo::parse(&t.memo) {
        Ok(Memo::AuthenticatedSender { address_hash, .. }) => {
            let view = account.subaddress_view_private(t.subaddress_index);
            contacts
                .iter()
                .position(|c| {
                    c.short_address_hash() == address_hash
                        && bool::from(validate_authenticated_sender(
                            &t.memo,
                            c,
                            &view,
                            &t.public_key,
                        ))
                })
                .map_or(Sender::Claimed(address_hash), Sender::Authenticated)
        }
        _ => Sender::Unknown,
    }
}

/// The history of `state` for blocks below `block_count` (use the balance's count so history
/// and balance agree), ordered by block, then received before spent, then global index.
pub fn history(
    account: &AccountKey,
    state: &AccountState,
    block_count: u64,
    contacts: &[PublicAddress],
) -> Vec<HistoryEntry> {
    let mut out = Vec::new();
    for t in state.tx_outs.values() {
        if t.block_index >= block_count {
            continue;
        }
        // Only the change subaddress: a sender can put a destination memo on a payment too.
        let change = t.subaddress_index == CHANGE_SUBADDRESS_INDEX;
        out.push(HistoryEntry {
            block_index: t.block_index,
            global_index: t.global_index,
            amount: t.amount,
            kind: EntryKind::Received {
                sender: sender_of(account, t, contacts),
                change,
            },
            destination: destination_of(t),
        });
        if let SpentStatus::Spent { block_index } = t.spent {
            if block_index < block_count {
                out.push(HistoryEntry {
                    block_index,
                    global_index: t.global_index,
                    amount: t.amount,
                    kind: EntryKind::Spent,
                    destination: None,
                });
            }
        }
    }
    out.sort_by_key(|e| {
        (
            e.block_index,
            matches!(e.kind, EntryKind::Spent),
            e.global_index,
        )
    });
    out
}
