//! Saved transactions: `send --save-tx FILE` writes a signed payment, `submit FILE` reads it.
//!
//! The format is `fog_client`'s ([`SignedPayment::to_bytes`]): an 8-byte magic `FOG-STX\n`, a
//! big-endian version (1), the body's length, the body (protobuf: the signed transaction and
//! what the wallet records when it submits it) and a BLAKE2b-256 checksum. Reading checks
//! all of it, so a truncated or corrupt file is refused before anything is sent or written.
//! The file holds no secret key; it does reveal the payment (see the README).

use std::path::Path;

use fog_client::{ClientError, SignedPayment};

use crate::{wallet::write_atomic, WalletError};

/// The largest file read (the body's limit plus header and checksum).
const MAX_FILE: u64 = fog_client::stored::MAX_SIGNED_PAYMENT_BODY as u64 + 48;

/// Writes `payment` to a new file at `path` (mode 0600, atomically). An existing file is
/// never replaced.
pub fn write_saved_tx(path: &Path, payment: &SignedPayment) -> Result<(), WalletError> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(WalletError::FileExists(path.to_owned()));
    }
    write_atomic(path, &payment.to_bytes(), false).map_err(|e| match e {
        WalletError::WalletExists(p) => WalletError::FileExists(p),
        e => e,
    })
}

/// Reads and checks a saved transaction.
pub fn read_saved_tx(path: &Path) -> Result<SignedPayment, WalletError> {
    use std::io::Read;
    let read_err = |source| WalletError::Read {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read_err)?
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    SignedPayment::from_bytes(&bytes).map_err(|e| WalletError::SavedTx {
        path: path.to_owned(),
        reason: match e {
            ClientError::SavedTx(reason) => reason,
            other => other.to_string(),
        },
    })
}
