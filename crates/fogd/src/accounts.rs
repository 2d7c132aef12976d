//! Account key files (the shared vector account format) and the small parsers the commands
//! share.

use std::{collections::BTreeMap, path::Path};

use fog_account::AccountKey;
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use fog_transaction::{Amount, KeyImage, TokenId};
use serde::{Deserialize, Serialize};

use crate::{input, CliError};

/// An account's keys as the test vectors write them: the root view and spend private keys
/// (`a`, `b`) and the fog fields. A KEYFILE holds one such JSON object; extra fields (those of
/// `accounts.jsonl`) are ignored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountJson {
    /// `a`, 32 bytes hex.
    pub view_private_hex: String,
    /// `b`, 32 bytes hex.
    pub spend_private_hex: String,
    /// Empty for an account without fog.
    #[serde(default)]
    pub fog_report_url: String,
    /// The report id (often empty).
    #[serde(default)]
    pub fog_report_id: String,
    /// The fog authority's SubjectPublicKeyInfo, hex (empty without fog).
    #[serde(default)]
    pub fog_authority_spki_hex: String,
}

/// One line of `accounts.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GeneratedAccount {
    /// The keys.
    #[serde(flatten)]
    pub keys: AccountJson,
    /// Whether its TxOuts carry real fog hints.
    pub is_fog: bool,
    /// Total value received per token id (nothing is spent).
    pub expected_balance: BTreeMap<u64, u64>,
    /// TxOuts it received.
    pub tx_out_count: u64,
}

fn private_key(hex_str: &str, what: &str) -> Result<RistrettoPrivate, String> {
    let bytes = hex::decode(hex_str).map_err(|_| format!("{what} is not hex"))?;
    RistrettoPrivate::from_bytes(&bytes).map_err(|_| format!("{what} is not a private key"))
}

impl AccountJson {
    /// The keys of `account`.
    pub fn from_account(account: &AccountKey) -> Self {
        Self {
            view_private_hex: hex::encode(&account.view_private_key().to_bytes()[..]),
            spend_private_hex: hex::encode(&account.spend_private_key().to_bytes()[..]),
            fog_report_url: account.fog_report_url().into(),
            fog_report_id: account.fog_report_id().into(),
            fog_authority_spki_hex: hex::encode(account.fog_authority_spki()),
        }
    }

    /// The account these keys describe.
    pub fn account(&self) -> Result<AccountKey, String> {
        let view = private_key(&self.view_private_hex, "view_private_hex")?;
        let spend = private_key(&self.spend_private_hex, "spend_private_hex")?;
        let spki = hex::decode(&self.fog_authority_spki_hex)
            .map_err(|_| "fog_authority_spki_hex is not hex".to_string())?;
        let key = AccountKey::new(spend, view);
        Ok(if self.fog_report_url.is_empty() {
            key
        } else {
            key.with_fog(&self.fog_report_url, &self.fog_report_id, &spki)
        })
    }
}

/// Reads a KEYFILE.
pub fn read_keyfile(path: &Path) -> Result<AccountKey, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| input(format!("cannot read key file {}: {e}", path.display())))?;
    let keys: AccountJson = serde_json::from_str(&text)
        .map_err(|e| input(format!("key file {}: {e}", path.display())))?;
    keys.account()
        .map_err(|e| input(format!("key file {}: {e}", path.display())))
}

/// `KEYFILE:AMOUNT[:TOKEN]`: the account and the amount (token 0, MOB, by default).
pub fn parse_credit(spec: &str) -> Result<(AccountKey, Amount), CliError> {
    let bad = || input(format!("{spec:?} is not KEYFILE:AMOUNT[:TOKEN]"));
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let number = |s: &str| s.parse::<u64>().ok();
    let (path, value, token) = match parts.as_slice() {
        [last, middle, path] if number(last).is_some() && number(middle).is_some() => {
            (path.to_string(), number(middle), number(last))
        }
        [last, middle, first] => (format!("{first}:{middle}"), number(last), Some(0)),
        [last, path] => (path.to_string(), number(last), Some(0)),
        _ => return Err(bad()),
    };
    let (Some(value), Some(token)) = (value, token) else {
        return Err(bad());
    };
    if path.is_empty() {
        return Err(bad());
    }
    let account = read_keyfile(Path::new(&path))?;
    Ok((account, Amount::new(value, TokenId(token))))
}

/// A 32-byte hex ingest public key.
pub fn parse_ingest_key(hex_str: &str) -> Result<RistrettoPublic, CliError> {
    let bytes =
        hex::decode(hex_str).map_err(|_| input("--ingest-pubkey is not hex (64 hex digits)"))?;
    RistrettoPublic::from_bytes(&bytes)
        .map_err(|_| input("--ingest-pubkey is not a 32-byte Ristretto public key"))
}

/// A 32-byte hex key image.
pub fn parse_key_image(hex_str: &str) -> Result<KeyImage, CliError> {
    let bytes = hex::decode(hex_str)
        .map_err(|_| input(format!("key image {hex_str:?} is not hex (64 hex digits)")))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| input(format!("key image {hex_str:?} is not 32 bytes")))?;
    Ok(KeyImage(bytes))
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
