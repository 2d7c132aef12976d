//! The origin block: the ledger's first block, which mints the initial amounts.

use std::path::Path;

use fog_account::PublicAddress;
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use fog_ledger_db::LedgerDb;
use fog_transaction::{
    block::{Block, BlockContents},
    Amount, BlockVersion, EncryptedFogHint, FogHint, TxOut, TxOutError,
};
use rand::{CryptoRng, RngCore};

use crate::error::NodeError;

/// The rules the TxOuts of origin blocks (and the tools' blocks) are made under: version 3,
/// so they carry memos, masked token ids and V2 masked amounts, and can be spent by
/// transactions of [`crate::NodeConfig::block_version`] 3. The origin block itself is
/// version 0, as the ledger requires.
pub const ORIGIN_TXOUT_VERSION: BlockVersion = BlockVersion::THREE;

/// A TxOut paying `amount` to `recipient`, made at [`ORIGIN_TXOUT_VERSION`] with a fresh
/// transaction key from `rng` and a default memo. Its fog hint is encrypted to
/// `ingest_public_key` when the address has fog (a report URL) and a key is given; otherwise
/// it is a fake hint (zeros encrypted to a random key), as for addresses without fog.
pub fn make_tx_out<R: RngCore + CryptoRng>(
    recipient: &PublicAddress,
    amount: Amount,
    ingest_public_key: Option<&RistrettoPublic>,
    rng: &mut R,
) -> Result<TxOut, TxOutError> {
    let hint = match (recipient.fog_report_url(), ingest_public_key) {
        (Some(_), Some(key)) => FogHint::from_address(recipient).encrypt(key, rng),
        _ => EncryptedFogHint::fake_onetime_hint(rng),
    };
    let tx_private_key = RistrettoPrivate::random(rng);
    TxOut::new(
        ORIGIN_TXOUT_VERSION,
        amount,
        recipient,
        &tx_private_key,
        hint,
    )
}

/// Appends the origin block to an empty `ledger`: version 0, one TxOut per `funding` entry
/// (made by [`make_tx_out`]), sorted by public key, timestamped now. Returns the block and
/// the new TxOuts in `funding` order.
///
/// Fails with [`NodeError::LedgerNotEmpty`] if the ledger has a block, and
/// [`NodeError::BadFunding`] for no funding or an amount a TxOut cannot hold.
pub fn write_origin_block<R: RngCore + CryptoRng>(
    ledger: &LedgerDb,
    funding: &[(PublicAddress, Amount)],
    ingest_public_key: Option<&RistrettoPublic>,
    rng: &mut R,
) -> Result<(Block, Vec<TxOut>), NodeError> {
    let blocks = ledger.num_blocks()?;
    if blocks != 0 {
        return Err(NodeError::LedgerNotEmpty(blocks));
    }
    if funding.is_empty() {
        return Err(NodeError::BadFunding(
            "the origin block needs at least one output",
        ));
    }
    let in_order = funding
        .iter()
        .map(|(address, amount)| make_tx_out(address, *amount, ingest_public_key, rng))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| NodeError::BadFunding("an amount cannot be put in a TxOut"))?;
    let mut outputs = in_order.clone();
    outputs.sort_by_key(|o| o.public_key);
    let contents = BlockContents {
        key_images: Vec::new(),
        outputs,
    };
    let block = Block::new_origin(&contents);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    ledger.append_block(&block, &contents, now)?;
    Ok((block, in_order))
}

/// Creates a ledger file at `path` holding only the origin block ([`write_origin_block`]).
/// Fails if anything is at `path`; if the origin block cannot be written, the new file is
/// removed again.
pub fn init_ledger<R: RngCore + CryptoRng>(
    path: &Path,
    funding: &[(PublicAddress, Amount)],
    ingest_public_key: Option<&RistrettoPublic>,
    rng: &mut R,
) -> Result<LedgerDb, NodeError> {
    let ledger = LedgerDb::create(path)?;
    match write_origin_block(&ledger, funding, ingest_public_key, rng) {
        Ok(_) => Ok(ledger),
        Err(e) => {
            drop(ledger);
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}
