//! KexRng: the per-user sequence of fog search keys derived from a key exchange.
//!
//! Version `KexRng20201124` (id 0), MobileCoin's only one:
//!
//! ```text
//! secret = enc(x·Y)                       (Ristretto key exchange, 32 bytes)
//! out_i  = BLAKE2b-512("20201124" || secret || LE64(i))[0..16]
//! ```
//!
//! Ingest computes the secret as `egress_private · C` with the user's view public key `C`;
//! the user as `c · egress_public` with the default-subaddress view private key `c`. Output `i`
//! is the search key of the user's `i`-th TxOut under that egress key.
//!
//! [`KexRng`] is the buffered form (secret, counter, current output) and [`StoredRng`] its
//! protobuf serialization. Trust side: both; the PRF is constant time in the secret and the
//! counter. The secret is zeroized on drop and never printed.

use alloc::vec::Vec;
use core::fmt;

use subtle::{Choice, ConstantTimeEq};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{hash::blake2b512_secret, KeyError, RistrettoPrivate, RistrettoPublic};

/// The version id of `KexRng20201124`.
pub const VERSION_ID: u32 = 0;
/// Bytes in one output (a fog search key).
pub const OUTPUT_LEN: usize = 16;
const PRF_TAG: &[u8] = b"20201124";

/// Why a KexRng could not be built or restored.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Error)]
#[non_exhaustive]
pub enum KexRngError {
    /// The version is not one we implement.
    #[error("unknown KexRng version {0}")]
    UnknownVersion(u32),
    /// A key or a stored field had the wrong length or encoding.
    #[error("bad KexRng key material: {0}")]
    Key(KeyError),
    /// A stored state whose buffer is not the output at its counter.
    #[error("stored KexRng state is inconsistent")]
    Inconsistent,
}

/// The public half a user needs to rebuild an RNG: the ingest egress public key and the
/// KexRng version (protobuf `kex_rng.KexRngPubkey { bytes pubkey = 1; uint32 version = 2; }`).
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct KexRngPubkey {
    /// 32-byte compressed Ristretto egress public key.
    #[prost(bytes = "vec", tag = "1")]
    pub public_key: Vec<u8>,
    /// KexRng version id.
    #[prost(uint32, tag = "2")]
    pub version: u32,
}

/// A serialized [`KexRng`] (protobuf `StoredRng { bytes secret = 1; bytes buffer = 2;
/// uint64 counter = 3; uint32 version = 4; }`). Holds the secret: zeroized on drop, redacted in
/// `Debug`.
#[derive(prost::Message)]
#[prost(skip_debug)]
pub struct StoredRng {
    /// The 32-byte key-exchange secret.
    #[prost(bytes = "vec", tag = "1")]
    pub secret: Vec<u8>,
    /// The current 16-byte output.
    #[prost(bytes = "vec", tag = "2")]
    pub buffer: Vec<u8>,
    /// The index of the current output.
    #[prost(uint64, tag = "3")]
    pub counter: u64,
    /// KexRng version id.
    #[prost(uint32, tag = "4")]
    pub version: u32,
}

impl Drop for StoredRng {
    fn drop(&mut self) {
        self.secret.zeroize();
        self.buffer.zeroize();
    }
}

impl PartialEq for StoredRng {
    /// Constant time in the contents (lengths are public).
    fn eq(&self, other: &Self) -> bool {
        bool::from(
            self.secret.ct_eq(&other.secret)
                & self.buffer.ct_eq(&other.buffer)
                & self.counter.ct_eq(&other.counter)
                & self.version.ct_eq(&other.version),
        )
    }
}
impl Eq for StoredRng {}

impl fmt::Debug for StoredRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredRng")
            .field("secret", &"<redacted>")
            .field("counter", &self.counter)
            .field("version", &self.version)
            .finish()
    }
}

/// The KexRng PRF: output `counter` of the RNG keyed by `secret`.
pub fn prf(secret: &[u8; 32], counter: u64) -> [u8; OUTPUT_LEN] {
    let digest = blake2b512_secret(&[PRF_TAG, secret, &counter.to_le_bytes()]);
    let mut out = [0u8; OUTPUT_LEN];
    out.copy_from_slice(&digest[..OUTPUT_LEN]);
    out
}

/// A buffered KexRng: the secret, the counter and the output at the counter.
pub struct KexRng {
    secret: [u8; 32],
    counter: u64,
    buffer: [u8; OUTPUT_LEN],
}

impl Drop for KexRng {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}
impl ZeroizeOnDrop for KexRng {}

impl KexRng {
    fn from_secret(secret: [u8; 32], counter: u64) -> Self {
        let buffer = prf(&secret, counter);
        Self {
            secret,
            counter,
            buffer,
        }
    }

    /// The user side: rebuild the RNG from the egress public key with the user's
    /// default-subaddress view private key.
    pub fn from_kex_pubkey(
        pubkey: &KexRngPubkey,
        view_private: &RistrettoPrivate,
    ) -> Result<Self, KexRngError> {
        if pubkey.version != VERSION_ID {
            return Err(KexRngError::UnknownVersion(pubkey.version));
        }
        let egress = RistrettoPublic::from_bytes(&pubkey.public_key).map_err(KexRngError::Key)?;
        Ok(Self::from_secret(
            *view_private.key_exchange(&egress).as_bytes(),
            0,
        ))
    }

    /// The ingest side: the RNG of the user whose view public key is `user_public`, under the
    /// egress private key.
    pub fn from_static_static(
        egress_private: &RistrettoPrivate,
        user_public: &RistrettoPublic,
    ) -> Self {
        Self::from_secret(*egress_private.key_exchange(user_public).as_bytes(), 0)
    }

    /// The current output (search key).
    pub fn peek(&self) -> &[u8; OUTPUT_LEN] {
        &self.buffer
    }

    /// Moves to the next output.
    pub fn advance(&mut self) {
        self.counter = self.counter.wrapping_add(1);
        self.buffer = prf(&self.secret, self.counter);
    }

    /// The index of the current output.
    pub fn index(&self) -> u64 {
        self.counter
    }

    /// The version id (always [`VERSION_ID`]).
    pub fn version_id(&self) -> u32 {
        VERSION_ID
    }

    /// Serializes the state.
    pub fn to_stored(&self) -> StoredRng {
        StoredRng {
            secret: self.secret.to_vec(),
            buffer: self.buffer.to_vec(),
            counter: self.counter,
            version: VERSION_ID,
        }
    }

    /// Restores a state, checking the version, the lengths and that the buffer is the output
    /// at the counter.
    pub fn from_stored(stored: &StoredRng) -> Result<Self, KexRngError> {
        if stored.version != VERSION_ID {
            return Err(KexRngError::UnknownVersion(stored.version));
        }
        let mut secret: [u8; 32] = stored.secret.as_slice().try_into().map_err(|_| {
            KexRngError::Key(KeyError::LengthMismatch {
                found: stored.secret.len(),
                expected: 32,
            })
        })?;
        if stored.buffer.len() != OUTPUT_LEN {
            secret.zeroize();
            return Err(KexRngError::Key(KeyError::LengthMismatch {
                found: stored.buffer.len(),
                expected: OUTPUT_LEN,
            }));
        }
        let rng = Self::from_secret(secret, stored.counter);
        secret.zeroize();
        if bool::from(rng.buffer.ct_eq(&stored.buffer[..])) {
            Ok(rng)
        } else {
            Err(KexRngError::Inconsistent)
        }
    }
}

impl ConstantTimeEq for KexRng {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.secret.ct_eq(&other.secret)
            & self.counter.ct_eq(&other.counter)
            & self.buffer.ct_eq(&other.buffer)
    }
}

impl fmt::Debug for KexRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KexRng")
            .field("secret", &"<redacted>")
            .field("counter", &self.counter)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use proptest::prelude::*;
    use prost::Message;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn both_sides_agree() {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let egress = RistrettoPrivate::random(&mut rng);
        let user = RistrettoPrivate::random(&mut rng);
        let pubkey = KexRngPubkey {
            public_key: egress.public_key().to_bytes().to_vec(),
            version: 0,
        };
        let mut a = KexRng::from_kex_pubkey(&pubkey, &user).unwrap();
        let mut b = KexRng::from_static_static(&egress, &user.public_key());
        for _ in 0..5 {
            assert_eq!(a.peek(), b.peek());
            a.advance();
            b.advance();
        }
        assert_eq!(a.index(), 5);
        let bad = KexRngPubkey {
            version: 1,
            ..pubkey.clone()
        };
        assert_eq!(
            KexRng::from_kex_pubkey(&bad, &user).unwrap_err(),
            KexRngError::UnknownVersion(1)
        );
        let bad = KexRngPubkey {
            public_key: alloc::vec![0xff; 32],
            version: 0,
        };
        assert_eq!(
            KexRng::from_kex_pubkey(&bad, &user).unwrap_err(),
            KexRngError::Key(KeyError::InvalidPublicKey)
        );
    }

    #[test]
    fn stored_state_is_checked() {
        let rng = KexRng::from_secret([5; 32], 3);
        let mut stored = rng.to_stored();
        stored.buffer[0] ^= 1;
        assert_eq!(
            KexRng::from_stored(&stored).unwrap_err(),
            KexRngError::Inconsistent
        );
        let mut stored = rng.to_stored();
        stored.secret.pop();
        assert!(matches!(
            KexRng::from_stored(&stored),
            Err(KexRngError::Key(_))
        ));
        let mut stored = rng.to_stored();
        stored.version = 2;
        assert_eq!(
            KexRng::from_stored(&stored).unwrap_err(),
            KexRngError::UnknownVersion(2)
        );
        let text = format!("{:?} {:?}", rng, rng.to_stored());
        assert!(!text.contains("5, 5"));
        assert!(text.contains("redacted"));
    }

    proptest! {
        #[test]
        fn state_round_trips_through_protobuf(secret in any::<[u8; 32]>(), start in any::<u64>(), steps in 0usize..20) {
            let mut original = KexRng::from_secret(secret, start);
            let bytes = original.to_stored().encode_to_vec();
            let decoded = StoredRng::decode(bytes.as_slice()).unwrap();
            let mut restored = KexRng::from_stored(&decoded).unwrap();
            for _ in 0..steps {
                prop_assert_eq!(original.peek(), restored.peek());
                original.advance();
                restored.advance();
            }
            prop_assert!(bool::from(original.ct_eq(&restored)));
        }
    }
}
