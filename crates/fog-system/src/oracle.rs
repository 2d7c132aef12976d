//! The view-key balance oracle.

use std::collections::BTreeSet;

use fog_account::{AccountKey, CHANGE_SUBADDRESS_INDEX, DEFAULT_SUBADDRESS_INDEX};
use fog_ledger_db::LedgerDb;
use fog_transaction::{KeyImage, TokenId};

/// The balance of `account` in MOB (its default and change subaddresses) over the first `n`
/// blocks of `ledger`: every TxOut the view key opens and whose key image no block among
/// them spends. Fails if the ledger holds fewer than `n` blocks.
pub fn balance(ledger: &LedgerDb, account: &AccountKey, n: u64) -> Result<u128, String> {
    balance_of(ledger, account, n, TokenId::MOB)
}

/// [`balance`] in `token`.
pub fn balance_of(
    ledger: &LedgerDb,
    account: &AccountKey,
    n: u64,
    token: TokenId,
) -> Result<u128, String> {
    let view = account.view_private_key();
    let spends = [DEFAULT_SUBADDRESS_INDEX, CHANGE_SUBADDRESS_INDEX]
        .map(|i| account.subaddress_spend_private(i));
    let mut owned: Vec<(KeyImage, u64)> = Vec::new();
    let mut spent: BTreeSet<KeyImage> = BTreeSet::new();
    for b in 0..n {
        let contents = ledger
            .get_block_contents(b)
            .map_err(|e| format!("ledger DB: {e}"))?
            .ok_or_else(|| format!("block {b} is missing"))?;
        spent.extend(contents.key_images.iter().copied());
        for o in &contents.outputs {
            let Ok((amount, _)) = o.view_key_match(view) else {
                continue;
            };
            if amount.token_id != token {
                continue;
            }
            let Ok(d) = o.subaddress_spend_public_key(view) else {
                continue;
            };
            for spend in &spends {
                if spend.public_key().to_bytes() == d.to_bytes() {
                    let ki = o
                        .key_image(view, spend)
                        .map_err(|e| format!("key image: {e}"))?;
                    owned.push((ki, amount.value));
                }
            }
        }
    }
    Ok(owned
        .iter()
        .filter(|(k, _)| !spent.contains(k))
        .map(|(_, v)| u128::from(*v))
        .sum())
}
