//! The stored form of [`AccountState`]: a versioned protobuf message, so a wallet file can
//! keep it and the next check is incremental.
//!
//! ```text
//! message StoredAccountState {
//!   uint32 version = 1;                         // 1
//!   uint64 view_block_count = 2;
//!   uint64 last_seen_view_block_count = 3;
//!   int64 next_user_event_id = 4;
//!   repeated StoredRng rngs = 5;
//!   repeated bytes retired_rngs = 6;            // egress public keys
//!   repeated StoredDecommission pending_decommissions = 7;
//!   repeated StoredTxOut tx_outs = 8;
//!   repeated fog_common.BlockRange missed_ranges = 9;
//!   repeated StoredPendingSend pending_sends = 10;
//!   StoredBalance last_balance = 11;
//! }
//! ```
//!
//! Decoding checks every length and value and refuses the whole state on the first bad
//! field ([`ClientError::State`]), never half-loads it. No secret is stored: RNGs are kept as
//! (egress key, counter) and rebuilt with the view key.
//!
//! The same module gives a [`SignedPayment`] (built and signed, not submitted) its saved form
//! ([`SignedPayment::to_bytes`]): a header with a version, the protobuf body and a checksum.
//! It holds no secret key, but it reveals the payment to whoever reads it: the recipient's
//! address, the amount, the fee, the change's value, the TxOuts spent (global indices and key
//! images, so it links this wallet's inputs to the transaction once it lands) and the rings.

use std::collections::{BTreeMap, BTreeSet};

use fog_crypto::kex_rng::KexRngPubkey;
use fog_transaction::{memo::MEMO_LEN, Amount, KeyImage, MemoPayload, TokenId};
use fog_types::common::BlockRange;
use prost::Message;

use crate::{
    error::{ClientError, Result},
    send::SignedPayment,
    state::{AccountState, Balance, Discovery, OwnedTxOut, PendingSend, RngState, SpentStatus},
};

/// The version this crate writes and reads.
pub const STATE_VERSION: u32 = 1;

/// `StoredAccountState`.
#[derive(Clone, PartialEq, Message)]
pub struct StoredAccountState {
    /// [`STATE_VERSION`].
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// [`AccountState::view_block_count`].
    #[prost(uint64, tag = "2")]
    pub view_block_count: u64,
    /// [`AccountState::last_seen_view_block_count`].
    #[prost(uint64, tag = "3")]
    pub last_seen_view_block_count: u64,
    /// [`AccountState::next_user_event_id`].
    #[prost(int64, tag = "4")]
    pub next_user_event_id: i64,
    /// [`AccountState::rngs`].
    #[prost(message, repeated, tag = "5")]
    pub rngs: Vec<StoredRng>,
    /// [`AccountState::retired_rngs`].
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub retired_rngs: Vec<Vec<u8>>,
    /// [`AccountState::pending_decommissions`].
    #[prost(message, repeated, tag = "7")]
    pub pending_decommissions: Vec<StoredDecommission>,
    /// [`AccountState::tx_outs`].
    #[prost(message, repeated, tag = "8")]
    pub tx_outs: Vec<StoredTxOut>,
    /// [`AccountState::missed_ranges`].
    #[prost(message, repeated, tag = "9")]
    pub missed_ranges: Vec<BlockRange>,
    /// [`AccountState::pending_sends`].
    #[prost(message, repeated, tag = "10")]
    pub pending_sends: Vec<StoredPendingSend>,
    /// [`AccountState::last_balance`].
    #[prost(message, optional, tag = "11")]
    pub last_balance: Option<StoredBalance>,
}

/// `StoredRng`: one followed RNG.
#[derive(Clone, PartialEq, Message)]
pub struct StoredRng {
    /// The ingest invocation.
    #[prost(int64, tag = "1")]
    pub ingest_invocation_id: i64,
    /// Its egress key.
    #[prost(message, optional, tag = "2")]
    pub pubkey: Option<KexRngPubkey>,
    /// Its first block.
    #[prost(uint64, tag = "3")]
    pub start_block: u64,
    /// Records found under it.
    #[prost(uint64, tag = "4")]
    pub counter: u64,
    /// Whether it is decommissioned.
    #[prost(bool, tag = "5")]
    pub decommissioned: bool,
    /// Its last block, when decommissioned.
    #[prost(uint64, tag = "6")]
    pub last_ingested_block: u64,
}

/// `StoredDecommission`.
#[derive(Clone, PartialEq, Message)]
pub struct StoredDecommission {
    /// The ingest invocation.
    #[prost(int64, tag = "1")]
    pub ingest_invocation_id: i64,
    /// Its last block.
    #[prost(uint64, tag = "2")]
    pub last_ingested_block: u64,
}

/// `StoredTxOut`: one owned TxOut.
#[derive(Clone, PartialEq, Message)]
pub struct StoredTxOut {
    /// Global index.
    #[prost(uint64, tag = "1")]
    pub global_index: u64,
    /// Block.
    #[prost(uint64, tag = "2")]
    pub block_index: u64,
    /// Block timestamp.
    #[prost(uint64, tag = "3")]
    pub timestamp: u64,
    /// Value.
    #[prost(uint64, tag = "4")]
    pub value: u64,
    /// Token id.
    #[prost(uint64, tag = "5")]
    pub token_id: u64,
    /// Subaddress index.
    #[prost(uint64, tag = "6")]
    pub subaddress_index: u64,
    /// 32-byte key image.
    #[prost(bytes = "vec", tag = "7")]
    pub key_image: Vec<u8>,
    /// 32-byte public key.
    #[prost(bytes = "vec", tag = "8")]
    pub public_key: Vec<u8>,
    /// 66-byte memo payload.
    #[prost(bytes = "vec", tag = "9")]
    pub memo: Vec<u8>,
    /// 0 unknown, 1 not spent, 2 spent.
    #[prost(uint32, tag = "10")]
    pub spent_kind: u32,
    /// `as_of` (not spent) or the spending block (spent).
    #[prost(uint64, tag = "11")]
    pub spent_block: u64,
    /// 0 view, 1 missed-range scan.
    #[prost(uint32, tag = "12")]
    pub discovery: u32,
}

/// `StoredPendingSend`.
#[derive(Clone, PartialEq, Message)]
pub struct StoredPendingSend {
    /// 32-byte key images of the inputs.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub key_images: Vec<Vec<u8>>,
    /// Tombstone block.
    #[prost(uint64, tag = "2")]
    pub tombstone_block: u64,
    /// 32-byte change public key.
    #[prost(bytes = "vec", tag = "3")]
    pub change_public_key: Vec<u8>,
    /// Value paid.
    #[prost(uint64, tag = "4")]
    pub value: u64,
    /// Token paid.
    #[prost(uint64, tag = "5")]
    pub token_id: u64,
    /// Fee value.
    #[prost(uint64, tag = "6")]
    pub fee_value: u64,
    /// Fee token.
    #[prost(uint64, tag = "7")]
    pub fee_token_id: u64,
}

/// `StoredBalance`.
#[derive(Clone, PartialEq, Message)]
pub struct StoredBalance {
    /// Block count.
    #[prost(uint64, tag = "1")]
    pub block_count: u64,
    /// One entry per token.
    #[prost(message, repeated, tag = "2")]
    pub balances: Vec<StoredTokenBalance>,
}

/// `StoredTokenBalance`: a u128 as two u64 halves.
#[derive(Clone, PartialEq, Message)]
pub struct StoredTokenBalance {
    /// Token id.
    #[prost(uint64, tag = "1")]
    pub token_id: u64,
    /// Low 64 bits.
    #[prost(uint64, tag = "2")]
    pub low: u64,
    /// High 64 bits.
    #[prost(uint64, tag = "3")]
    pub high: u64,
}

fn bytes32(b: &[u8], what: &str) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(b).map_err(|_| ClientError::State(format!("{what} is not 32 bytes")))
}

impl AccountState {
    /// The stored form.
    pub fn to_stored(&self) -> StoredAccountState {
        StoredAccountState {
            version: STATE_VERSION,
            view_block_count: self.view_block_count,
            last_seen_view_block_count: self.last_seen_view_block_count,
            next_user_event_id: self.next_user_event_id,
            rngs: self
                .rngs
                .values()
                .map(|r| StoredRng {
                    ingest_invocation_id: r.ingest_invocation_id,
                    pubkey: Some(r.pubkey.clone()),
                    start_block: r.start_block,
                    counter: r.counter,
                    decommissioned: r.last_ingested_block.is_some(),
                    last_ingested_block: r.last_ingested_block.unwrap_or(0),
                })
                .collect(),
            retired_rngs: self.retired_rngs.iter().cloned().collect(),
            pending_decommissions: self
                .pending_decommissions
                .iter()
                .map(|(&id, &last)| StoredDecommission {
                    ingest_invocation_id: id,
                    last_ingested_block: last,
                })
                .collect(),
            tx_outs: self
                .tx_outs
                .values()
                .map(|t| {
                    let (spent_kind, spent_block) = match t.spent {
                        SpentStatus::Unknown => (0, 0),
                        SpentStatus::NotSpent { as_of } => (1, as_of),
                        SpentStatus::Spent { block_index } => (2, block_index),
                    };
                    StoredTxOut {
                        global_index: t.global_index,
                        block_index: t.block_index,
                        timestamp: t.timestamp,
                        value: t.amount.value,
                        token_id: t.amount.token_id.0,
                        subaddress_index: t.subaddress_index,
                        key_image: t.key_image.0.to_vec(),
                        public_key: t.public_key.to_vec(),
                        memo: t.memo.0.to_vec(),
                        spent_kind,
                        spent_block,
                        discovery: match t.discovery {
                            Discovery::View => 0,
                            Discovery::MissedRangeScan => 1,
                        },
                    }
                })
                .collect(),
            missed_ranges: self.missed_ranges.clone(),
            pending_sends: self
                .pending_sends
                .iter()
                .map(|p| StoredPendingSend {
                    key_images: p.key_images.iter().map(|k| k.0.to_vec()).collect(),
                    tombstone_block: p.tombstone_block,
                    change_public_key: p.change_public_key.to_vec(),
                    value: p.amount.value,
                    token_id: p.amount.token_id.0,
                    fee_value: p.fee.value,
                    fee_token_id: p.fee.token_id.0,
                })
                .collect(),
            last_balance: self.last_balance.as_ref().map(|b| StoredBalance {
                block_count: b.block_count,
                balances: b
                    .balances
                    .iter()
                    .map(|(&token_id, &v)| StoredTokenBalance {
                        token_id,
                        low: v as u64,
                        high: (v >> 64) as u64,
                    })
                    .collect(),
            }),
        }
    }

    /// From the stored form, checking every field.
    pub fn from_stored(s: &StoredAccountState) -> Result<Self> {
        if s.version != STATE_VERSION {
            return Err(ClientError::State(format!(
                "version {} (this client reads version {STATE_VERSION})",
                s.version
            )));
        }
        let mut rngs = BTreeMap::new();
        for r in &s.rngs {
            let pubkey = r
                .pubkey
                .clone()
                .ok_or_else(|| ClientError::State("an RNG without its key".into()))?;
            bytes32(&pubkey.public_key, "an RNG key")?;
            let key = pubkey.public_key.clone();
            let state = RngState {
                ingest_invocation_id: r.ingest_invocation_id,
                pubkey,
                start_block: r.start_block,
                counter: r.counter,
                last_ingested_block: r.decommissioned.then_some(r.last_ingested_block),
            };
            if rngs.insert(key, state).is_some() {
                return Err(ClientError::State("an RNG stored twice".into()));
            }
        }
        let mut tx_outs = BTreeMap::new();
        for t in &s.tx_outs {
            let spent = match t.spent_kind {
                0 => SpentStatus::Unknown,
                1 => SpentStatus::NotSpent {
                    as_of: t.spent_block,
                },
                2 => SpentStatus::Spent {
                    block_index: t.spent_block,
                },
                k => return Err(ClientError::State(format!("spent status {k}"))),
            };
            let memo = <[u8; MEMO_LEN]>::try_from(t.memo.as_slice())
                .map_err(|_| ClientError::State("a memo is not 66 bytes".into()))?;
            let owned = OwnedTxOut {
                global_index: t.global_index,
                block_index: t.block_index,
                timestamp: t.timestamp,
                amount: Amount::new(t.value, TokenId(t.token_id)),
                subaddress_index: t.subaddress_index,
                key_image: KeyImage(bytes32(&t.key_image, "a key image")?),
                public_key: bytes32(&t.public_key, "a TxOut public key")?,
                memo: MemoPayload(memo),
                spent,
                discovery: match t.discovery {
                    0 => Discovery::View,
                    1 => Discovery::MissedRangeScan,
                    k => return Err(ClientError::State(format!("discovery {k}"))),
                },
            };
            if tx_outs.insert(t.global_index, owned).is_some() {
                return Err(ClientError::State("a TxOut stored twice".into()));
            }
        }
        let mut state = Self {
            view_block_count: s.view_block_count,
            last_seen_view_block_count: s.last_seen_view_block_count,
            next_user_event_id: s.next_user_event_id,
            rngs,
            retired_rngs: s.retired_rngs.iter().cloned().collect::<BTreeSet<_>>(),
            pending_decommissions: s
                .pending_decommissions
                .iter()
                .map(|d| (d.ingest_invocation_id, d.last_ingested_block))
                .collect(),
            tx_outs,
            missed_ranges: Vec::new(),
            pending_sends: Vec::new(),
            last_balance: None,
        };
        for r in &s.missed_ranges {
            if !r.is_valid() {
                return Err(ClientError::State(format!("missed range {r} is empty")));
            }
            state.add_missed_range(*r);
        }
        for p in &s.pending_sends {
            state.pending_sends.push(PendingSend {
                key_images: p
                    .key_images
                    .iter()
                    .map(|k| bytes32(k, "a pending key image").map(KeyImage))
                    .collect::<Result<_>>()?,
                tombstone_block: p.tombstone_block,
                change_public_key: bytes32(&p.change_public_key, "a change public key")?,
                amount: Amount::new(p.value, TokenId(p.token_id)),
                fee: Amount::new(p.fee_value, TokenId(p.fee_token_id)),
            });
        }
        if let Some(b) = &s.last_balance {
            let mut balances = BTreeMap::new();
            for t in &b.balances {
                let v = u128::from(t.low) | (u128::from(t.high) << 64);
                if balances.insert(t.token_id, v).is_some() {
                    return Err(ClientError::State("a token balance stored twice".into()));
                }
            }
            state.last_balance = Some(Balance {
                block_count: b.block_count,
                balances,
            });
        }
        Ok(state)
    }

    /// Protobuf bytes of the stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_stored().encode_to_vec()
    }

    /// From protobuf bytes of the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let s = StoredAccountState::decode(bytes)
            .map_err(|_| ClientError::State("not a stored account state".into()))?;
        Self::from_stored(&s)
    }
}

/// The first 8 bytes of a saved transaction.
pub const SIGNED_PAYMENT_MAGIC: [u8; 8] = *b"FOG-STX\n";
/// The saved-transaction version this crate writes and reads.
pub const SIGNED_PAYMENT_VERSION: u32 = 1;
/// The largest body a saved transaction may have (16 inputs with rings and proofs take a few
/// hundred kilobytes).
pub const MAX_SIGNED_PAYMENT_BODY: usize = 8 << 20;
const SIGNED_PAYMENT_HEADER: usize = 16;
const SIGNED_PAYMENT_CHECKSUM_DOMAIN: &[u8] = b"fog-signed-payment-v1";

/// `StoredSignedPayment`: the body of a saved transaction (see [`SignedPayment::to_bytes`]).
#[derive(Clone, PartialEq, Message)]
pub struct StoredSignedPayment {
    /// The signed transaction (MobileCoin's `external.Tx`).
    #[prost(message, optional, tag = "1")]
    pub tx: Option<fog_transaction::wire::Tx>,
    /// The recipient (MobileCoin's `external.PublicAddress`).
    #[prost(message, optional, tag = "2")]
    pub recipient: Option<fog_account::wire::PublicAddress>,
    /// The token paid (and of the fee).
    #[prost(uint64, tag = "3")]
    pub token_id: u64,
    /// What the recipient gets.
    #[prost(uint64, tag = "4")]
    pub amount: u64,
    /// The fee.
    #[prost(uint64, tag = "5")]
    pub fee: u64,
    /// The global indices of the TxOuts spent.
    #[prost(uint64, repeated, tag = "6")]
    pub input_global_indices: Vec<u64>,
    /// Their 32-byte key images, in the same order.
    #[prost(bytes = "vec", repeated, tag = "7")]
    pub key_images: Vec<Vec<u8>>,
    /// The 32-byte public key of the change output.
    #[prost(bytes = "vec", tag = "8")]
    pub change_public_key: Vec<u8>,
    /// The change's value.
    #[prost(uint64, tag = "9")]
    pub change_value: u64,
    /// The tombstone block.
    #[prost(uint64, tag = "10")]
    pub tombstone_block: u64,
}

impl SignedPayment {
    /// The saved form:
    ///
    /// ```text
    /// offset  size  field
    ///      0     8  magic "FOG-STX\n"
    ///      8     4  version, big-endian (1)
    ///     12     4  body length N, big-endian
    ///     16     N  body: StoredSignedPayment, protobuf
    ///   16+N    32  BLAKE2b-256("fog-signed-payment-v1" || bytes 0..16+N)
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = StoredSignedPayment {
            tx: Some(self.tx.to_wire()),
            recipient: Some(self.recipient.to_wire()),
            token_id: self.amount.token_id.0,
            amount: self.amount.value,
            fee: self.fee.value,
            input_global_indices: self.input_global_indices.clone(),
            key_images: self.key_images.iter().map(|k| k.0.to_vec()).collect(),
            change_public_key: self.change_public_key.to_vec(),
            change_value: self.change_value,
            tombstone_block: self.tombstone_block,
        }
        .encode_to_vec();
        let mut out = Vec::with_capacity(SIGNED_PAYMENT_HEADER + body.len() + 32);
        out.extend_from_slice(&SIGNED_PAYMENT_MAGIC);
        out.extend_from_slice(&SIGNED_PAYMENT_VERSION.to_be_bytes());
        out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&body);
        let sum = fog_crypto::hash::blake2b256(&[SIGNED_PAYMENT_CHECKSUM_DOMAIN, &out]);
        out.extend_from_slice(&sum);
        out
    }

    /// Reads the saved form, checking the magic, the version, the length, the checksum, every
    /// field and that the recorded facts agree with the transaction ([`Self::check`]).
    /// Any failure is [`ClientError::SavedTx`] saying what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |what: String| ClientError::SavedTx(what);
        if bytes.len() < 8 || bytes[..8] != SIGNED_PAYMENT_MAGIC {
            return Err(bad("not a saved Fog transaction (no FOG-STX header)".into()));
        }
        if bytes.len() < SIGNED_PAYMENT_HEADER {
            return Err(bad(format!(
                "truncated: {} bytes, shorter than the header",
                bytes.len()
            )));
        }
        let word = |at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&bytes[at..at + 4]);
            u32::from_be_bytes(w)
        };
        let version = word(8);
        if version != SIGNED_PAYMENT_VERSION {
            return Err(bad(format!(
                "version {version} (this wallet reads version {SIGNED_PAYMENT_VERSION})"
            )));
        }
        let len = word(12) as usize;
        if len > MAX_SIGNED_PAYMENT_BODY {
            return Err(bad(format!("a body of {len} bytes is too large")));
        }
        let expected = SIGNED_PAYMENT_HEADER + len + 32;
        if bytes.len() != expected {
            return Err(bad(format!(
                "{}: {} bytes where the header says {expected}",
                if bytes.len() < expected {
                    "truncated"
                } else {
                    "trailing bytes"
                },
                bytes.len()
            )));
        }
        let (signed, sum) = bytes.split_at(SIGNED_PAYMENT_HEADER + len);
        if fog_crypto::hash::blake2b256(&[SIGNED_PAYMENT_CHECKSUM_DOMAIN, signed]) != sum {
            return Err(bad("corrupt: the checksum does not match".into()));
        }
        let body = StoredSignedPayment::decode(&signed[SIGNED_PAYMENT_HEADER..])
            .map_err(|_| bad("corrupt: the body is not a saved payment".into()))?;
        let tx = body
            .tx
            .as_ref()
            .ok_or_else(|| bad("no transaction".into()))
            .and_then(|w| {
                fog_transaction::tx::Tx::try_from_wire(w)
                    .map_err(|e| bad(format!("the transaction does not decode: {e}")))
            })?;
        let recipient = body
            .recipient
            .as_ref()
            .ok_or_else(|| bad("no recipient".into()))
            .and_then(|w| {
                fog_account::PublicAddress::try_from_wire(w)
                    .map_err(|e| bad(format!("the recipient is not an address: {e}")))
            })?;
        let key_images = body
            .key_images
            .iter()
            .map(|k| <[u8; 32]>::try_from(k.as_slice()).map(KeyImage))
            .collect::<core::result::Result<Vec<_>, _>>()
            .map_err(|_| bad("a key image is not 32 bytes".into()))?;
        let change_public_key = <[u8; 32]>::try_from(body.change_public_key.as_slice())
            .map_err(|_| bad("the change public key is not 32 bytes".into()))?;
        let token = TokenId(body.token_id);
        let payment = SignedPayment {
            tx,
            recipient,
            amount: Amount::new(body.amount, token),
            fee: Amount::new(body.fee, token),
            input_global_indices: body.input_global_indices,
            key_images,
            change_public_key,
            change_value: body.change_value,
            tombstone_block: body.tombstone_block,
        };
        payment
            .check()
            .map_err(|e| bad(format!("inconsistent: {e}")))?;
        Ok(payment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(seed: u8) -> AccountState {
        let mut s = AccountState::new();
        s.view_block_count = 40 + u64::from(seed);
        s.last_seen_view_block_count = 41 + u64::from(seed);
        s.next_user_event_id = 7;
        s.rngs.insert(
            vec![seed; 32],
            RngState {
                ingest_invocation_id: 3,
                pubkey: KexRngPubkey {
                    public_key: vec![seed; 32],
                    version: 0,
                },
                start_block: 2,
                counter: 9,
                last_ingested_block: Some(30),
            },
        );
        s.retired_rngs.insert(vec![1; 32]);
        s.pending_decommissions.insert(5, 6);
        for (i, spent) in [
            SpentStatus::Unknown,
            SpentStatus::NotSpent { as_of: 40 },
            SpentStatus::Spent { block_index: 33 },
        ]
        .into_iter()
        .enumerate()
        {
            s.add_tx_out(OwnedTxOut {
                global_index: 100 + i as u64,
                block_index: 10 + i as u64,
                timestamp: 1_700_000_000,
                amount: Amount::new(5 + u64::from(seed), TokenId(i as u64)),
                subaddress_index: fog_account::CHANGE_SUBADDRESS_INDEX,
                key_image: KeyImage([i as u8; 32]),
                public_key: [seed.wrapping_add(i as u8); 32],
                memo: MemoPayload([seed; MEMO_LEN]),
                spent,
                discovery: if i == 0 {
                    Discovery::MissedRangeScan
                } else {
                    Discovery::View
                },
            });
        }
        s.add_missed_range(BlockRange::new(50, 60));
        s.pending_sends.push(PendingSend {
            key_images: vec![KeyImage([1; 32])],
            tombstone_block: 70,
            change_public_key: [2; 32],
            amount: Amount::new(3, TokenId::MOB),
            fee: Amount::new(4, TokenId::MOB),
        });
        s.last_balance = Some(Balance {
            block_count: 40,
            balances: BTreeMap::from([(0, u128::from(u64::MAX) * 3)]),
        });
        s
    }

    #[test]
    fn state_round_trips() {
        let s = sample(2);
        let bytes = s.to_bytes();
        assert_eq!(AccountState::from_bytes(&bytes).unwrap(), s);
        assert_eq!(
            AccountState::from_bytes(&AccountState::new().to_bytes()).unwrap(),
            AccountState::new()
        );
    }

    #[test]
    fn bad_states_are_refused_whole() {
        let mut w = sample(3).to_stored();
        w.version = 2;
        assert!(matches!(
            AccountState::from_stored(&w),
            Err(ClientError::State(m)) if m.contains("version 2")
        ));
        let mut w = sample(3).to_stored();
        w.tx_outs[0].key_image.pop();
        assert!(AccountState::from_stored(&w).is_err());
        let mut w = sample(3).to_stored();
        w.tx_outs[1].spent_kind = 9;
        assert!(AccountState::from_stored(&w).is_err());
        let mut w = sample(3).to_stored();
        w.tx_outs.push(w.tx_outs[0].clone());
        assert!(AccountState::from_stored(&w).is_err());
        let mut w = sample(3).to_stored();
        w.missed_ranges.push(BlockRange::new(9, 9));
        assert!(AccountState::from_stored(&w).is_err());
        assert!(AccountState::from_bytes(&[0xff, 0xff, 0xff]).is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = AccountState::from_bytes(&bytes);
        }

        #[test]
        fn any_sample_round_trips(seed in any::<u8>()) {
            let s = sample(seed);
            prop_assert_eq!(AccountState::from_bytes(&s.to_bytes()).unwrap(), s);
        }
    }
}
