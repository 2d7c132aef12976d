//! Account keys and subaddresses.

use alloc::{string::String, vec::Vec};
use core::fmt;

use blake2::Blake2b;
use curve25519_dalek::{constants::RISTRETTO_BASEPOINT_TABLE, scalar::Scalar};
use fog_crypto::{hash, RistrettoPrivate, RistrettoPublic};
use hkdf::SimpleHkdf;
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{AccountError, PublicAddress, Slip10Key, FOG_AUTHORITY_CONTEXT};

/// The default subaddress, the one published as "the" address.
pub const DEFAULT_SUBADDRESS_INDEX: u64 = 0;
/// The subaddress that receives change.
pub const CHANGE_SUBADDRESS_INDEX: u64 = u64::MAX - 1;
/// The subaddress of gift codes.
pub const GIFT_CODE_SUBADDRESS_INDEX: u64 = u64::MAX - 2;
/// Means "no subaddress"; never derived.
pub const INVALID_SUBADDRESS_INDEX: u64 = u64::MAX;

/// 32 bytes of root entropy, the legacy seed of an account (MobileCoin's `RootEntropy`).
/// Zeroized on drop, never printed.
pub struct RootEntropy([u8; 32]);

impl Drop for RootEntropy {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}
impl ZeroizeOnDrop for RootEntropy {}

impl fmt::Debug for RootEntropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootEntropy(<redacted>)")
    }
}

impl RootEntropy {
    /// Takes exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AccountError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            AccountError::Key(fog_crypto::KeyError::LengthMismatch {
                found: bytes.len(),
                expected: 32,
            })
        })?;
        Ok(Self(arr))
    }

    /// Fresh random entropy.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut arr = [0u8; 32];
        rng.fill_bytes(&mut arr);
        Self(arr)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn derive(&self, info: &[u8]) -> Scalar {
        let mut okm = [0u8; 32];
        SimpleHkdf::<Blake2b<blake2::digest::consts::U32>>::new(None, &self.0)
            .expand(info, &mut okm)
            .expect("32 bytes is within HKDF's output limit");
        let s = Scalar::from_bytes_mod_order(okm);
        okm.zeroize();
        s
    }
}

/// `Hs_i = H_s("mc_subaddress" || a || scalar(i))`.
fn subaddress_hash(view_private: &RistrettoPrivate, index: u64) -> Scalar {
    let a = view_private.to_bytes();
    let i = Scalar::from(index).to_bytes();
    hash::hash_to_scalar(&[hash::domain::SUBADDRESS, &a[..], &i])
}

/// An account: the view private key `a`, the spend private key `b` and the fog settings that
/// go into its addresses. Holds secrets: no `Clone`; `Debug` shows only the default address.
pub struct AccountKey {
    view_private: RistrettoPrivate,
    spend_private: RistrettoPrivate,
    fog_report_url: String,
    fog_report_id: String,
    fog_authority_spki: Vec<u8>,
}

impl AccountKey {
    /// An account without fog from its two private keys.
    pub fn new(spend_private: RistrettoPrivate, view_private: RistrettoPrivate) -> Self {
        Self {
            view_private,
            spend_private,
            fog_report_url: String::new(),
            fog_report_id: String::new(),
            fog_authority_spki: Vec::new(),
        }
    }

    /// Sets the fog fields: the report server URL (e.g. `fog://fog.example.com`), the report
    /// id, and the DER SubjectPublicKeyInfo of the fog operator's root certificate, which the
    /// address signs. An empty URL means no fog.
    pub fn with_fog(mut self, report_url: &str, report_id: &str, authority_spki: &[u8]) -> Self {
        self.fog_report_url = report_url.into();
        self.fog_report_id = report_id.into();
        self.fog_authority_spki = authority_spki.to_vec();
        self
    }

    /// A random account.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::from_root_entropy(&RootEntropy::random(rng))
    }

    /// The legacy derivation: `a`, `b` = HKDF-BLAKE2b-256 of the entropy with info `"view"`
    /// and `"spend"`, reduced modulo the group order.
    pub fn from_root_entropy(entropy: &RootEntropy) -> Self {
        Self::new(
            RistrettoPrivate::from_scalar(entropy.derive(b"spend")),
            RistrettoPrivate::from_scalar(entropy.derive(b"view")),
        )
    }

    /// The SLIP-10 derivation at `m/44'/866'/account_index'`.
    pub fn from_slip10(key: &Slip10Key) -> Self {
        Self::new(
            RistrettoPrivate::from_scalar(key.spend_scalar()),
            RistrettoPrivate::from_scalar(key.view_scalar()),
        )
    }

    /// Keys from an English BIP39 phrase (no passphrase, as MobileCoin) at an account index.
    pub fn from_mnemonic(phrase: &str, account_index: u32) -> Result<Self, AccountError> {
        let mnemonic = bip39::Mnemonic::parse_in(bip39::Language::English, phrase)
            .map_err(|e| AccountError::Mnemonic(mnemonic_error(&e)))?;
        let mut seed = mnemonic.to_seed("");
        let key = Slip10Key::from_seed(&seed, account_index);
        seed.zeroize();
        Ok(Self::from_slip10(&key))
    }

    /// The account view private key `a`.
    pub fn view_private_key(&self) -> &RistrettoPrivate {
        &self.view_private
    }

    /// The account spend private key `b`.
    pub fn spend_private_key(&self) -> &RistrettoPrivate {
        &self.spend_private
    }

    /// The fog report URL, empty without fog.
    pub fn fog_report_url(&self) -> &str {
        &self.fog_report_url
    }

    /// The fog report id.
    pub fn fog_report_id(&self) -> &str {
        &self.fog_report_id
    }

    /// The fog authority SubjectPublicKeyInfo (DER).
    pub fn fog_authority_spki(&self) -> &[u8] {
        &self.fog_authority_spki
    }

    /// Subaddress spend private key `d_i = Hs_i + b`.
    pub fn subaddress_spend_private(&self, index: u64) -> RistrettoPrivate {
        RistrettoPrivate::from_scalar(
            subaddress_hash(&self.view_private, index) + self.spend_private.as_scalar(),
        )
    }

    /// Subaddress view private key `c_i = a·d_i`.
    pub fn subaddress_view_private(&self, index: u64) -> RistrettoPrivate {
        let d = self.subaddress_spend_private(index);
        RistrettoPrivate::from_scalar(self.view_private.as_scalar() * d.as_scalar())
    }

    /// The address of subaddress `index`, with the fog fields and, when fog is set, the fog
    /// authority signature by `c_i`.
    pub fn subaddress(&self, index: u64) -> PublicAddress {
        let c = self.subaddress_view_private(index);
        let d = self.subaddress_spend_private(index);
        let view = c.public_key();
        let spend = d.public_key();
        if self.fog_report_url.is_empty() {
            PublicAddress::new(&spend, &view)
        } else {
            let sig = c.sign_schnorrkel(FOG_AUTHORITY_CONTEXT, &self.fog_authority_spki);
            PublicAddress::new_with_fog(
                &spend,
                &view,
                &self.fog_report_url,
                &self.fog_report_id,
                sig.as_bytes().to_vec(),
            )
        }
    }

    /// The default subaddress (index 0).
    pub fn default_subaddress(&self) -> PublicAddress {
        self.subaddress(DEFAULT_SUBADDRESS_INDEX)
    }

    /// The change subaddress.
    pub fn change_subaddress(&self) -> PublicAddress {
        self.subaddress(CHANGE_SUBADDRESS_INDEX)
    }

    /// The gift-code subaddress.
    pub fn gift_code_subaddress(&self) -> PublicAddress {
        self.subaddress(GIFT_CODE_SUBADDRESS_INDEX)
    }

    /// `c_0`: the key that opens fog records and rebuilds KexRngs.
    pub fn default_subaddress_view_private(&self) -> RistrettoPrivate {
        self.subaddress_view_private(DEFAULT_SUBADDRESS_INDEX)
    }

    /// The view-only half of the account.
    pub fn view_account_key(&self) -> ViewAccountKey {
        ViewAccountKey {
            view_private: RistrettoPrivate::from_scalar(*self.view_private.as_scalar()),
            spend_public: self.spend_private.public_key(),
        }
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKey")
            .field("default_subaddress", &self.default_subaddress())
            .finish_non_exhaustive()
    }
}

fn mnemonic_error(e: &bip39::Error) -> &'static str {
    match e {
        bip39::Error::BadWordCount(_) => "the word count must be 12, 15, 18, 21 or 24",
        bip39::Error::UnknownWord(_) => "a word is not in the English BIP39 list",
        bip39::Error::BadEntropyBitCount(_) => "bad entropy length",
        bip39::Error::InvalidChecksum => "the checksum word does not match",
        _ => "the phrase is ambiguous or malformed",
    }
}

/// The view private key and spend public key: enough to find and read an account's TxOuts
/// and derive its addresses, not to spend.
pub struct ViewAccountKey {
    view_private: RistrettoPrivate,
    spend_public: RistrettoPublic,
}

impl ViewAccountKey {
    /// From the two keys.
    pub fn new(view_private: RistrettoPrivate, spend_public: RistrettoPublic) -> Self {
        Self {
            view_private,
            spend_public,
        }
    }

    /// The account view private key `a`.
    pub fn view_private_key(&self) -> &RistrettoPrivate {
        &self.view_private
    }

    /// The account spend public key `B`.
    pub fn spend_public_key(&self) -> &RistrettoPublic {
        &self.spend_public
    }

    /// `D_i = Hs_i·G + B`.
    pub fn subaddress_spend_public(&self, index: u64) -> RistrettoPublic {
        let hs = subaddress_hash(&self.view_private, index);
        RistrettoPublic::from_point(&hs * RISTRETTO_BASEPOINT_TABLE + self.spend_public.as_point())
    }

    /// `C_i = a·D_i`.
    pub fn subaddress_view_public(&self, index: u64) -> RistrettoPublic {
        let d = self.subaddress_spend_public(index);
        RistrettoPublic::from_point(self.view_private.as_scalar() * d.as_point())
    }

    /// The address of subaddress `index`, without fog.
    pub fn subaddress(&self, index: u64) -> PublicAddress {
        PublicAddress::new(
            &self.subaddress_spend_public(index),
            &self.subaddress_view_public(index),
        )
    }
}

impl fmt::Debug for ViewAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ViewAccountKey")
            .field("spend_public", &self.spend_public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn view_only_path_matches_private_path() {
        let mut rng = ChaCha20Rng::from_seed([11; 32]);
        let account = AccountKey::random(&mut rng);
        let view = account.view_account_key();
        for i in [0, 1, 7, CHANGE_SUBADDRESS_INDEX, GIFT_CODE_SUBADDRESS_INDEX] {
            assert_eq!(view.subaddress(i), account.subaddress(i));
        }
    }

    #[test]
    fn fog_addresses_carry_a_verifiable_signature() {
        let mut rng = ChaCha20Rng::from_seed([12; 32]);
        let account = AccountKey::random(&mut rng).with_fog("fog://fog.example.com", "", b"spki");
        let addr = account.subaddress(3);
        assert_eq!(addr.fog_report_url(), Some("fog://fog.example.com"));
        addr.verify_fog_authority_sig(b"spki").unwrap();
        assert!(addr.verify_fog_authority_sig(b"other").is_err());
    }

    #[test]
    fn bad_mnemonics_are_refused() {
        assert!(matches!(
            AccountKey::from_mnemonic("abandon abandon", 0),
            Err(AccountError::Mnemonic(_))
        ));
        let twelve = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon";
        assert!(matches!(
            AccountKey::from_mnemonic(twelve, 0),
            Err(AccountError::Mnemonic(_))
        ));
    }

    #[test]
    fn debug_shows_no_private_bytes() {
        let mut rng = ChaCha20Rng::from_seed([13; 32]);
        let account = AccountKey::random(&mut rng);
        let text = format!("{account:?} {:?}", account.view_account_key());
        for key in [account.view_private_key(), account.spend_private_key()] {
            let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
            assert!(!text.contains(&hex));
            let dec = format!("{:?}", &key.to_bytes()[..]);
            assert!(!text.contains(&dec[1..dec.len() - 1]));
        }
        assert_eq!(
            format!("{:?}", RootEntropy::from_bytes(&[1; 32]).unwrap()),
            "RootEntropy(<redacted>)"
        );
    }
}
