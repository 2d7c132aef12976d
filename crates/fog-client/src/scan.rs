//! Recognizing this account's TxOuts: from a view record (opened with `c_0`) or from a block
//! (trial decryption with the view key `a`), and turning one into an [`OwnedTxOut`] with its
//! amount, subaddress, key image and memo.

use core::fmt;

use fog_account::{AccountKey, CHANGE_SUBADDRESS_INDEX, DEFAULT_SUBADDRESS_INDEX};
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use fog_transaction::{record::RecordError, TxOut, TxOutRecord};

use crate::state::{Discovery, OwnedTxOut, SpentStatus};

/// The subaddresses a fog client tracks: the default one (which fog hints name) and the
/// change one (which the builder pays change to).
pub const TRACKED_SUBADDRESSES: [u64; 2] = [DEFAULT_SUBADDRESS_INDEX, CHANGE_SUBADDRESS_INDEX];

fn copy_key(k: &RistrettoPrivate) -> RistrettoPrivate {
    RistrettoPrivate::from_scalar(*k.as_scalar())
}

/// The keys a sync needs, derived once from the account.
pub struct OwnerKeys {
    view_private: RistrettoPrivate,
    c0: RistrettoPrivate,
    subaddresses: Vec<(u64, RistrettoPublic, RistrettoPrivate)>,
}

impl fmt::Debug for OwnerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerKeys").finish_non_exhaustive()
    }
}

impl OwnerKeys {
    /// Derives the view key, `c_0` and the tracked subaddresses' spend keys.
    pub fn new(account: &AccountKey) -> Self {
        let subaddresses = TRACKED_SUBADDRESSES
            .iter()
            .map(|&i| {
                let d = account.subaddress_spend_private(i);
                (i, d.public_key(), d)
            })
            .collect();
        Self {
            view_private: copy_key(account.view_private_key()),
            c0: account.default_subaddress_view_private(),
            subaddresses,
        }
    }

    /// `c_0`, the default-subaddress view private key.
    pub fn c0(&self) -> &RistrettoPrivate {
        &self.c0
    }

    /// The account view private key `a`.
    pub fn view_private(&self) -> &RistrettoPrivate {
        &self.view_private
    }

    /// The spend private key of a tracked subaddress.
    pub fn subaddress_spend_private(&self, index: u64) -> Option<&RistrettoPrivate> {
        self.subaddresses
            .iter()
            .find(|(i, _, _)| *i == index)
            .map(|(_, _, d)| d)
    }

    /// If `tx_out` pays a tracked subaddress of this account: the owned TxOut (spent status
    /// unknown). `None` for anyone else's TxOut, and for ours on an untracked subaddress.
    pub fn recognize(
        &self,
        tx_out: &TxOut,
        global_index: u64,
        block_index: u64,
        timestamp: u64,
        discovery: Discovery,
    ) -> Option<OwnedTxOut> {
        let (amount, shared) = tx_out.view_key_match(&self.view_private).ok()?;
        let spend_public = tx_out
            .subaddress_spend_public_key(&self.view_private)
            .ok()?;
        let (index, _, d) = self
            .subaddresses
            .iter()
            .find(|(_, public, _)| public.as_bytes() == spend_public.as_bytes())?;
        let key_image = tx_out.key_image(&self.view_private, d).ok()?;
        Some(OwnedTxOut {
            global_index,
            block_index,
            timestamp,
            amount,
            subaddress_index: *index,
            key_image,
            public_key: tx_out.public_key.0,
            memo: tx_out.decrypt_memo(&shared),
            spent: SpentStatus::Unknown,
            discovery,
        })
    }

    /// Opens a view record payload. `Ok(None)`: the record is this account's but pays an
    /// untracked subaddress.
    pub fn open_record(&self, payload: &[u8]) -> Result<Option<OwnedTxOut>, RecordOpenError> {
        let record = TxOutRecord::decrypt(&self.c0, payload).map_err(RecordOpenError::Open)?;
        let (tx_out, _) = record
            .fog_tx_out
            .try_recover_tx_out(&self.view_private)
            .map_err(|_| RecordOpenError::NotOurs)?;
        Ok(self.recognize(
            &tx_out,
            record.global_index,
            record.block_index,
            record.timestamp,
            Discovery::View,
        ))
    }
}

/// Why a found record could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordOpenError {
    /// The payload does not open with `c_0` or does not decode.
    Open(RecordError),
    /// It opens but its amount does not unmask with the view key.
    NotOurs,
}

impl fmt::Display for RecordOpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open(e) => write!(f, "a found record does not open: {e}"),
            Self::NotOurs => f.write_str("a found record's amount does not unmask"),
        }
    }
}
