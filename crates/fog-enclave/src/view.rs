//! The view store: every ingested record under its search key, in an oblivious map, answering
//! batches of search keys with one fixed-size result each.
//!
//! A record payload (the crypto box of a `TxOutRecord`, at most [`MAX_PAYLOAD_LEN`] bytes) is
//! stored as one length byte and the payload, zero padded to [`VALUE_LEN`] = 240 bytes, as in
//! MobileCoin's view store. A query result carries the search key, a result code (found or not
//! found), the payload length and a [`FIXED_CIPHERTEXT_LENGTH`]-byte ciphertext (the payload,
//! then zeros): the same size whether the key was found or not.
//!
//! Every lookup is one oblivious-map `get`, whose access pattern does not depend on the key or
//! on whether it is present; building the result uses constant-time selects. The batch size
//! is public (the server pads batches to fixed sizes); which keys were found is not.
//!
//! Trust side: trusted. No I/O.

use alloc::vec::Vec;
pub use fog_enclave_api::errors::ViewError;

use fog_oram::ct::ct_lt_u64;
use fog_oram::{ObliviousMap, OramError, StoreFactory};
use fog_transaction::wire::ETxOutRecord;
use rand_core::{CryptoRng, RngCore};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroize;

/// Bytes of a search key.
pub const SEARCH_KEY_LEN: usize = 16;
/// Bytes of a stored value: one length byte and the payload.
pub const VALUE_LEN: usize = 240;
/// The largest payload a record may have.
pub const MAX_PAYLOAD_LEN: usize = VALUE_LEN - 1;
/// Bytes of a map entry: the value, then the little-endian epoch of the batch that stored it
/// (see [`ViewStore::add_records_at`]).
const STORED_LEN: usize = VALUE_LEN + 8;
/// The size of every result's ciphertext field.
pub const FIXED_CIPHERTEXT_LENGTH: usize = 255;

/// The `payload_length` of a result that was not found (nonzero, so every result encodes to
/// the same size; see [`ViewStore::query_slots`]).
pub const MISS_PAYLOAD_LENGTH: u32 = MAX_PAYLOAD_LEN as u32;

/// MobileCoin's `TxOutSearchResultCode::Found`.
pub const RESULT_FOUND: u32 = 1;
/// MobileCoin's `TxOutSearchResultCode::NotFound`.
pub const RESULT_NOT_FOUND: u32 = 2;
/// MobileCoin's `TxOutSearchResultCode::BadSearchKey`.
pub const RESULT_BAD_SEARCH_KEY: u32 = 3;

/// One fixed-size answer (MobileCoin's `FixedTxOutSearchResult`).
#[derive(Clone, PartialEq, Eq)]
pub struct FixedSearchResult {
    /// The key asked for.
    pub search_key: [u8; SEARCH_KEY_LEN],
    /// [`RESULT_FOUND`], [`RESULT_NOT_FOUND`] or [`RESULT_BAD_SEARCH_KEY`].
    pub result_code: u32,
    /// The payload then zeros.
    pub ciphertext: [u8; FIXED_CIPHERTEXT_LENGTH],
    /// How many bytes of `ciphertext` are payload.
    pub payload_length: u32,
}

impl core::fmt::Debug for FixedSearchResult {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FixedSearchResult")
            .field("result_code", &self.result_code)
            .field("payload_length", &self.payload_length)
            .finish_non_exhaustive()
    }
}

/// The view enclave's record store.
pub struct ViewStore<F: StoreFactory, M> {
    map: ObliviousMap<F, M>,
}

impl<F: StoreFactory, M: RngCore + CryptoRng> ViewStore<F, M> {
    /// A store for about `capacity` records.
    pub fn new(capacity: u64, factory: F, rng: M) -> Result<Self, ViewError> {
        let map = ObliviousMap::new(capacity, SEARCH_KEY_LEN, STORED_LEN, factory, rng)
            .map_err(|_| ViewError::InvalidConfig)?;
        Ok(Self { map })
    }

    /// Records stored.
    pub fn len(&self) -> u64 {
        self.map.len()
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Slots in the store.
    pub fn capacity(&self) -> u64 {
        self.map.capacity()
    }

    /// Adds records (as ingest wrote them). Lengths are checked first, so a malformed record
    /// stores nothing of its batch. Empty payloads and the all-zero search key are refused (it marks padding
    /// slots, as MobileCoin's store refuses it).
    pub fn add_records(&mut self, records: &[ETxOutRecord]) -> Result<(), ViewError> {
        self.add_records_at(records, 0)
    }

    /// [`ViewStore::add_records`] for a batch that becomes visible with `epoch`: a query
    /// sees a record only if its epoch is at most the query's visible epoch
    /// ([`ViewStore::query_slots_visible`]), so a batch can be stored while queries run and
    /// published all at once.
    pub fn add_records_at(
        &mut self,
        records: &[ETxOutRecord],
        epoch: u64,
    ) -> Result<(), ViewError> {
        if records.iter().any(|r| {
            r.search_key.len() != SEARCH_KEY_LEN
                || r.payload.is_empty()
                || r.payload.len() > MAX_PAYLOAD_LEN
                || r.search_key.iter().all(|&b| b == 0)
        }) {
            return Err(ViewError::MalformedRecord);
        }
        let mut value = [0u8; STORED_LEN];
        for r in records {
            value.fill(0);
            value[0] = r.payload.len() as u8;
            value[1..=r.payload.len()].copy_from_slice(&r.payload);
            value[VALUE_LEN..].copy_from_slice(&epoch.to_le_bytes());
            match self.map.insert(&r.search_key, &value) {
                Ok(_) => {}
                Err(OramError::MapFull) => return Err(ViewError::Full),
                Err(_) => return Err(ViewError::Storage),
            }
        }
        value.zeroize();
        Ok(())
    }

    /// Answers a batch: one result per key, in order, each the same size and made with the
    /// same accesses whether found or not.
    pub fn query(
        &mut self,
        search_keys: &[[u8; SEARCH_KEY_LEN]],
    ) -> Result<Vec<FixedSearchResult>, ViewError> {
        let real = alloc::vec![Choice::from(1u8); search_keys.len()];
        self.query_slots(search_keys, &real)
    }

    /// Answers a padded batch: `real[i]` (secret) says whether slot `i` holds a client's key
    /// or is padding (the all-zero key). Every slot costs one oblivious lookup; a padding slot
    /// answers "not found" under the zero key, a client's zero key "bad search key", both by
    /// constant-time selects.
    pub fn query_slots(
        &mut self,
        slots: &[[u8; SEARCH_KEY_LEN]],
        real: &[Choice],
    ) -> Result<Vec<FixedSearchResult>, ViewError> {
        self.query_slots_visible(slots, real, u64::MAX)
    }

    /// [`ViewStore::query_slots`] seeing only records stored with an epoch of at most
    /// `visible`; a later one answers "not found", by a constant-time select.
    pub fn query_slots_visible(
        &mut self,
        slots: &[[u8; SEARCH_KEY_LEN]],
        real: &[Choice],
        visible: u64,
    ) -> Result<Vec<FixedSearchResult>, ViewError> {
        if slots.len() != real.len() {
            return Err(ViewError::MalformedRecord);
        }
        let mut value = [0u8; STORED_LEN];
        let mut out = Vec::with_capacity(slots.len());
        for (key, is_real) in slots.iter().zip(real) {
            let found = self
                .map
                .get(key, &mut value)
                .map_err(|_| ViewError::Storage)?;
            let mut epoch = [0u8; 8];
            epoch.copy_from_slice(&value[VALUE_LEN..]);
            // Visible when `epoch <= visible`, that is, not `visible < epoch`.
            let found = found & !ct_lt_u64(visible, u64::from_le_bytes(epoch));
            epoch.zeroize();
            let mut ciphertext = [0u8; FIXED_CIPHERTEXT_LENGTH];
            // A record of a batch not yet published answers like a miss: no payload.
            for (c, v) in ciphertext.iter_mut().zip(&value[1..VALUE_LEN]) {
                *c = u8::conditional_select(&0, v, found);
            }
            // A miss reports a nonzero length too: protobuf leaves out a zero `fixed32`, which
            // would make a miss 5 bytes shorter on the wire than a hit (the host sees
            // ciphertext sizes). Clients read the payload only of a Found result.
            let len = u32::conditional_select(&MISS_PAYLOAD_LENGTH, &u32::from(value[0]), found);
            let code = u32::conditional_select(&RESULT_NOT_FOUND, &RESULT_FOUND, found);
            // The all-zero key is never stored; asked by a client it is a bad key (as in
            // MobileCoin), as padding it is simply not found.
            let bad = key.ct_eq(&[0u8; SEARCH_KEY_LEN]) & *is_real;
            let code = u32::conditional_select(&code, &RESULT_BAD_SEARCH_KEY, bad);
            out.push(FixedSearchResult {
                search_key: *key,
                result_code: code,
                ciphertext,
                payload_length: len,
            });
        }
        value.zeroize();
        Ok(out)
    }
}
