//! Keys and addresses: BIP39 mnemonics, the account they derive (SLIP-10, MobileCoin's
//! `m/44'/866'/index'`), its b58 addresses with the fog settings they carry, and amounts for
//! people.
//!
//! Everything here is local: no call reaches a service. A mnemonic crosses the boundary only
//! where the caller hands it in ([`Account::from_mnemonic`], `Wallet`) or asks for a new one
//! ([`generate_mnemonic`]); no error message quotes it, and [`Account`]'s `Debug` shows only
//! its address.

use std::sync::Arc;

use fog_account::{b58_decode_public_address, b58_encode_public_address, AccountKey};
use fog_wallet::{
    amount::{format_amount as wallet_format_amount, parse_amount as wallet_parse_amount},
    spki::parse_spki,
    wallet::check_fog_url,
    WalletFile,
};
use zeroize::Zeroizing;

use crate::error::{FogError, Result};

/// The fog fields of an account's addresses: where senders fetch the fog report, which report,
/// and the fog operator's authority key that the address signs.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FogSettings {
    /// `fog://host[:port]`, or `insecure-fog://host:port` on a local test network.
    pub report_url: String,
    /// The report id (often empty).
    pub report_id: String,
    /// The authority's SubjectPublicKeyInfo, DER.
    pub authority_spki: Vec<u8>,
}

impl FogSettings {
    /// Checks the URL and the key's shape.
    pub(crate) fn check(&self) -> Result<()> {
        check_fog_url(&self.report_url).map_err(|r| FogError::InvalidSettings {
            reason: format!("fog report URL {:?}: {r}", self.report_url),
        })?;
        parse_spki(&self.authority_spki).map_err(|r| FogError::InvalidSettings {
            reason: format!("fog authority key: {r}"),
        })?;
        Ok(())
    }

    pub(crate) fn to_wallet(&self) -> fog_wallet::FogSettings {
        fog_wallet::FogSettings {
            report_url: self.report_url.clone(),
            report_id: self.report_id.clone(),
            authority_spki: self.authority_spki.clone(),
        }
    }

    pub(crate) fn from_wallet(f: &fog_wallet::FogSettings) -> Self {
        Self {
            report_url: f.report_url.clone(),
            report_id: f.report_id.clone(),
            authority_spki: f.authority_spki.clone(),
        }
    }
}

/// What a b58 address says.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct AddressInfo {
    /// The address, re-encoded (surrounding whitespace removed).
    pub b58: String,
    /// The fog report URL, if the address uses fog.
    pub fog_report_url: Option<String>,
    /// The fog report id.
    pub fog_report_id: String,
    /// Whether the address carries a fog authority signature.
    pub has_fog_signature: bool,
    /// The 16-byte short address hash (what memos name a sender or recipient by), hex.
    pub short_address_hash: String,
}

/// A new English BIP39 mnemonic of 24 words, from 32 bytes of the operating system's random
/// number generator. Write it down: it is the account.
#[uniffi::export]
pub fn generate_mnemonic() -> Result<String> {
    let file = WalletFile::generate(0, None)?;
    Ok(file.mnemonic.as_str().to_owned())
}

/// Decodes and checks a b58 public address (checksum, keys, fog fields).
#[uniffi::export]
pub fn decode_address(b58: String) -> Result<AddressInfo> {
    let address = b58_decode_public_address(&b58).map_err(|e| FogError::InvalidAddress {
        reason: e.to_string(),
    })?;
    Ok(AddressInfo {
        b58: b58_encode_public_address(&address),
        fog_report_url: address.fog_report_url().map(str::to_owned),
        fog_report_id: address.fog_report_id().to_owned(),
        has_fog_signature: !address.fog_authority_sig().is_empty(),
        short_address_hash: hex::encode(address.short_address_hash().0),
    })
}

/// Whether the b58 address's fog authority signature verifies against this authority key
/// (DER SubjectPublicKeyInfo): the fog operator is the one the address's owner chose.
#[uniffi::export]
pub fn address_signed_by_authority(b58: String, authority_spki: Vec<u8>) -> Result<bool> {
    let address = b58_decode_public_address(&b58).map_err(|e| FogError::InvalidAddress {
        reason: e.to_string(),
    })?;
    Ok(address.verify_fog_authority_sig(&authority_spki).is_ok())
}

/// A fog authority key from a DER or PEM (`PUBLIC KEY`) SubjectPublicKeyInfo: the DER bytes.
#[uniffi::export]
pub fn parse_authority_spki(bytes: Vec<u8>) -> Result<Vec<u8>> {
    parse_spki(&bytes).map_err(|r| FogError::InvalidSettings {
        reason: format!("fog authority key: {r}"),
    })
}

/// An amount typed by a person, in the token's smallest unit: for MOB (token 0) `"2.5"`,
/// `"2.5 MOB"` or `"400000000 pMOB"`; other tokens in whole units.
#[uniffi::export]
pub fn parse_amount(text: String, token_id: u64) -> Result<u64> {
    wallet_parse_amount(&text, token_id).map_err(|reason| FogError::InvalidRequest { reason })
}

/// An amount for people: `"39.9996 MOB"` for token 0, `"5 (token 2)"` otherwise. `value` is
/// decimal in the smallest unit (as balances give it).
#[uniffi::export]
pub fn format_amount(value: String, token_id: u64) -> Result<String> {
    let v: u128 = value.trim().parse().map_err(|_| FogError::InvalidRequest {
        reason: format!("{value:?} is not a decimal amount"),
    })?;
    Ok(wallet_format_amount(v, token_id))
}

/// An account's keys, derived from a mnemonic, with the fog settings its addresses carry.
/// Holds the private keys: it never prints them, and they are zeroized when it is dropped.
#[derive(uniffi::Object)]
pub struct Account {
    key: AccountKey,
    account_index: u32,
    fog: Option<FogSettings>,
}

impl core::fmt::Debug for Account {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Account")
            .field("account_index", &self.account_index)
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The keys of `mnemonic` at `account_index`, with `fog` (checked) when given.
    pub(crate) fn derive(
        mnemonic: &str,
        account_index: u32,
        fog: Option<&FogSettings>,
    ) -> Result<AccountKey> {
        let key = AccountKey::from_mnemonic(mnemonic, account_index)?;
        Ok(match fog {
            Some(f) => {
                f.check()?;
                key.with_fog(&f.report_url, &f.report_id, &f.authority_spki)
            }
            None => key,
        })
    }
}

#[uniffi::export]
impl Account {
    /// The account of an English BIP39 mnemonic at an account index (0 for the first), with
    /// the fog settings its addresses carry (`None`: addresses without fog).
    #[uniffi::constructor]
    pub fn from_mnemonic(
        mnemonic: String,
        account_index: u32,
        fog: Option<FogSettings>,
    ) -> Result<Arc<Self>> {
        let mnemonic = Zeroizing::new(mnemonic);
        let key = Self::derive(&mnemonic, account_index, fog.as_ref())?;
        Ok(Arc::new(Self {
            key,
            account_index,
            fog,
        }))
    }

    /// The default address (subaddress 0), b58: what others pay.
    pub fn address(&self) -> String {
        b58_encode_public_address(&self.key.default_subaddress())
    }

    /// The change address (where this account's own sends put their change), b58.
    pub fn change_address(&self) -> String {
        b58_encode_public_address(&self.key.change_subaddress())
    }

    /// Subaddress `index`, b58. Fog tracks only the default and the change subaddress:
    /// payments to others are not found by a balance check.
    pub fn subaddress(&self, index: u64) -> String {
        b58_encode_public_address(&self.key.subaddress(index))
    }

    /// The account index the keys were derived at.
    pub fn account_index(&self) -> u32 {
        self.account_index
    }

    /// The fog settings the addresses carry.
    pub fn fog(&self) -> Option<FogSettings> {
        self.fog.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn mnemonic_account_and_addresses() {
        let phrase = generate_mnemonic().unwrap();
        assert_eq!(phrase.split(' ').count(), 24);
        let a = Account::from_mnemonic(phrase.clone(), 0, None).unwrap();
        let b = Account::from_mnemonic(phrase, 1, None).unwrap();
        assert_ne!(a.address(), b.address());
        let info = decode_address(format!("  {}\n", a.address())).unwrap();
        assert_eq!(info.b58, a.address());
        assert_eq!(info.fog_report_url, None);
        assert!(!info.has_fog_signature);
        assert_eq!(info.short_address_hash.len(), 32);
        assert_ne!(a.change_address(), a.address());
        assert_eq!(a.subaddress(0), a.address());

        let shown = format!("{a:?}");
        assert!(shown.contains(&a.address()), "{shown}");
    }

    #[test]
    fn bad_input_is_refused_without_quoting_the_phrase() {
        let e = Account::from_mnemonic(PHRASE.replace("about", "zebra"), 0, None).unwrap_err();
        assert!(matches!(e, FogError::InvalidMnemonic { .. }), "{e:?}");
        assert!(!e.to_string().contains("abandon"), "{e}");
        let e = decode_address("not an address".into()).unwrap_err();
        assert!(matches!(e, FogError::InvalidAddress { .. }), "{e:?}");
        let fog = FogSettings {
            report_url: "https://fog.example.com".into(),
            report_id: String::new(),
            authority_spki: vec![0x30, 0x00],
        };
        let e = Account::from_mnemonic(PHRASE.into(), 0, Some(fog)).unwrap_err();
        assert!(matches!(e, FogError::InvalidSettings { .. }), "{e:?}");
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("2.5".into(), 0).unwrap(), 2_500_000_000_000);
        assert!(parse_amount("2.5.1".into(), 0).is_err());
        assert_eq!(
            format_amount("39999600000000".into(), 0).unwrap(),
            "39.9996 MOB"
        );
        assert_eq!(
            format_amount("36893488147419103232".into(), 1).unwrap(),
            "36893488147419103232 (token 1)"
        );
        assert!(format_amount("-1".into(), 0).is_err());
    }
}
