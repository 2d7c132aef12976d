//! Key images: `I = x·Hp(x·G)` for the one-time private key `x`.

use core::fmt;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use fog_crypto::{hash, RistrettoPrivate};

/// A key image: the 32-byte compressed point that marks a TxOut as spent.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KeyImage(pub [u8; 32]);

impl KeyImage {
    /// The key image of the TxOut whose one-time private key is `onetime_private`.
    pub fn from_onetime_private(onetime_private: &RistrettoPrivate) -> Self {
        let x = onetime_private.as_scalar();
        let p = (x * RISTRETTO_BASEPOINT_TABLE).compress();
        let hp = hash::hash_to_ristretto(&[hash::domain::ONETIME_KEY_HASH_TO_POINT, p.as_bytes()]);
        Self((x * hp).compress().to_bytes())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyImage(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}
