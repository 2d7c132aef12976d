//! SLIP-10 (ed25519 curve) derivation of MobileCoin's account seed key, and the two HKDFs
//! that turn it into a view and a spend key.
//!
//! Path `m/44'/866'/account'`, all hardened: master `I = HMAC-SHA512("ed25519 seed", seed)`,
//! each child `I = HMAC-SHA512(chain, 0x00 || key || BE32(index | 2^31))`. The 32-byte key is
//! used only as HKDF input, never as an Ed25519 key.

use curve25519_dalek::scalar::Scalar;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha512;
use zeroize::{Zeroize, ZeroizeOnDrop};

const HARDENED: u32 = 0x8000_0000;
const USAGE_BIP44: u32 = 44;
const COINTYPE_MOBILECOIN: u32 = 866;

/// The SLIP-10 key of one account: 32 secret bytes. Zeroized on drop, never printed.
pub struct Slip10Key([u8; 32]);

impl Drop for Slip10Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}
impl ZeroizeOnDrop for Slip10Key {}

impl core::fmt::Debug for Slip10Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Slip10Key(<redacted>)")
    }
}

fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> [u8; 64] {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

impl Slip10Key {
    /// Derives the key of `m/44'/866'/account_index'` from a 64-byte BIP39 seed. The top bit
    /// of the index is ignored, as MobileCoin does.
    pub fn from_seed(seed: &[u8], account_index: u32) -> Self {
        let mut i = hmac_sha512(b"ed25519 seed", &[seed]);
        for index in [USAGE_BIP44, COINTYPE_MOBILECOIN, account_index & !HARDENED] {
            let (key, chain) = i.split_at(32);
            let next = hmac_sha512(chain, &[&[0u8], key, &(index | HARDENED).to_be_bytes()]);
            i.zeroize();
            i = next;
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&i[..32]);
        i.zeroize();
        Self(key)
    }

    fn derive(&self, salt: &[u8]) -> Scalar {
        let mut okm = [0u8; 64];
        Hkdf::<Sha512>::new(Some(salt), &self.0)
            .expand(b"", &mut okm)
            .expect("64 bytes is within HKDF-SHA512's output limit");
        let s = Scalar::from_bytes_mod_order_wide(&okm);
        okm.zeroize();
        s
    }

    /// The account view private scalar `a`.
    pub(crate) fn view_scalar(&self) -> Scalar {
        self.derive(b"mobilecoin-ristretto255-view")
    }

    /// The account spend private scalar `b`.
    pub(crate) fn spend_scalar(&self) -> Scalar {
        self.derive(b"mobilecoin-ristretto255-spend")
    }
}
