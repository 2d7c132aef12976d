//! Fog hints: the recipient's view public key, encrypted to the fog ingest enclave.
//!
//! Plaintext (34 bytes) = `enc(C)` (32) || `0x2A 0x2A`; ciphertext = the crypto box of it,
//! exactly 84 bytes. A sender paying a non-fog address writes a "fake" hint: 34 zero bytes
//! encrypted to a fresh random key, the same length and indistinguishable.
//!
//! [`FogHint::ct_decrypt`] is what ingest runs inside the enclave on every TxOut: it fails
//! without decrypting only when the hint's public parts are malformed (its length, version
//! bytes or ephemeral key, which anyone can read on the chain); otherwise the work and the
//! memory touched are the same whether the tag and the magic bytes are right or not, and the
//! result is a [`Choice`].

use core::fmt;

use fog_account::PublicAddress;
use fog_crypto::{crypto_box, RistrettoPrivate, RistrettoPublic};
use rand_core::{CryptoRng, RngCore};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroize;

use crate::TxOutError;

/// Bytes in an encrypted fog hint.
pub const ENCRYPTED_FOG_HINT_LEN: usize = 84;
/// Bytes in a fog hint's plaintext.
pub const FOG_HINT_LEN: usize = 34;
/// The padding byte after the key.
pub const MAGIC_NUMBER: u8 = 42;

/// An encrypted fog hint: 84 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptedFogHint(pub [u8; ENCRYPTED_FOG_HINT_LEN]);

impl Default for EncryptedFogHint {
    fn default() -> Self {
        Self([0; ENCRYPTED_FOG_HINT_LEN])
    }
}

impl EncryptedFogHint {
    /// Takes exactly 84 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TxOutError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| TxOutError::FogHintLength(bytes.len()))
    }

    /// The 84 bytes.
    pub fn as_bytes(&self) -> &[u8; ENCRYPTED_FOG_HINT_LEN] {
        &self.0
    }

    /// A hint for a recipient without fog: zeros encrypted to a random key nobody holds.
    pub fn fake_onetime_hint<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let nobody = RistrettoPrivate::random(rng).public_key();
        let mut out = [0u8; ENCRYPTED_FOG_HINT_LEN];
        crypto_box::encrypt_into(rng, &nobody, &[0u8; FOG_HINT_LEN], &mut out)
            .expect("84 = 34 + 50");
        Self(out)
    }
}

impl fmt::Debug for EncryptedFogHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedFogHint(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// A fog hint in the clear: the recipient's view public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FogHint {
    view_public_key: RistrettoPublic,
}

impl FogHint {
    /// The hint of an address: its view public key (for fog users, the default subaddress's).
    pub fn from_address(address: &PublicAddress) -> Self {
        Self {
            view_public_key: *address.view_public_key(),
        }
    }

    /// The hint for a view public key.
    pub fn new(view_public_key: RistrettoPublic) -> Self {
        Self { view_public_key }
    }

    /// The view public key.
    pub fn view_public_key(&self) -> &RistrettoPublic {
        &self.view_public_key
    }

    /// Encrypts the hint to the ingest enclave's public key.
    pub fn encrypt<R: RngCore + CryptoRng>(
        &self,
        ingest_public: &RistrettoPublic,
        rng: &mut R,
    ) -> EncryptedFogHint {
        let mut pt = [MAGIC_NUMBER; FOG_HINT_LEN];
        pt[..32].copy_from_slice(self.view_public_key.as_bytes());
        let mut out = [0u8; ENCRYPTED_FOG_HINT_LEN];
        crypto_box::encrypt_into(rng, ingest_public, &pt, &mut out).expect("84 = 34 + 50");
        EncryptedFogHint(out)
    }

    /// Decrypts a hint with the ingest private key. On success (tag and both magic bytes
    /// right) `output` receives the 32 key bytes; otherwise `output` is left unchanged, so a
    /// caller that fills it with a random valid key first gets a random "user" for a bad hint.
    /// The key bytes are not checked to be a valid point: the caller decompresses them.
    pub fn ct_decrypt(
        ingest_private: &RistrettoPrivate,
        hint: &EncryptedFogHint,
        output: &mut [u8; 32],
    ) -> Choice {
        let mut pt = [0u8; FOG_HINT_LEN];
        let ok = match crypto_box::decrypt_into_ct(ingest_private, &hint.0, &mut pt) {
            Ok(ok) => ok,
            // Only the public parts of the hint (version bytes, ephemeral key) can fail here.
            Err(_) => return Choice::from(0),
        };
        let success = ok & pt[32].ct_eq(&MAGIC_NUMBER) & pt[33].ct_eq(&MAGIC_NUMBER);
        for (o, p) in output.iter_mut().zip(&pt[..32]) {
            o.conditional_assign(p, success);
        }
        pt.zeroize();
        success
    }

    /// [`Self::ct_decrypt`] for many hints at once (what ingest runs on a block): for each
    /// hint `i`, whether it is valid, with `outputs[i]` overwritten by its key bytes only if
    /// so. The key exchanges' encodings share one field inversion
    /// ([`crypto_box::decrypt_batch_ct`]). The same constant-time promise as `ct_decrypt`,
    /// hint by hint; the time depends only on the hints' public parts and the batch's
    /// length. A hint without an output (`outputs` shorter than `hints`) is reported as
    /// invalid.
    pub fn ct_decrypt_batch(
        ingest_private: &RistrettoPrivate,
        hints: &[EncryptedFogHint],
        outputs: &mut [[u8; 32]],
    ) -> alloc::vec::Vec<Choice> {
        crypto_box::decrypt_batch_ct(ingest_private, hints)
            .into_iter()
            .enumerate()
            .map(|(i, opened)| {
                let (Ok((ok, pt)), Some(output)) = (opened, outputs.get_mut(i)) else {
                    // Only the public parts of the hint (version bytes, ephemeral key) fail.
                    return Choice::from(0);
                };
                if pt.len() != FOG_HINT_LEN {
                    return Choice::from(0);
                }
                let success = ok & pt[32].ct_eq(&MAGIC_NUMBER) & pt[33].ct_eq(&MAGIC_NUMBER);
                for (o, p) in output.iter_mut().zip(&pt[..32]) {
                    o.conditional_assign(p, success);
                }
                success
            })
            .collect()
    }
}

impl AsRef<[u8]> for EncryptedFogHint {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn hints_decrypt_only_for_their_ingest_key() {
        let mut rng = ChaCha20Rng::from_seed([21; 32]);
        let ingest = RistrettoPrivate::random(&mut rng);
        let other = RistrettoPrivate::random(&mut rng);
        let user = RistrettoPrivate::random(&mut rng).public_key();
        let hint = FogHint::new(user).encrypt(&ingest.public_key(), &mut rng);
        let mut out = [7u8; 32];
        assert!(bool::from(FogHint::ct_decrypt(&ingest, &hint, &mut out)));
        assert_eq!(&out, user.as_bytes());
        let mut out = [7u8; 32];
        assert!(!bool::from(FogHint::ct_decrypt(&other, &hint, &mut out)));
        assert_eq!(out, [7u8; 32]);
        let fake = EncryptedFogHint::fake_onetime_hint(&mut rng);
        assert!(!bool::from(FogHint::ct_decrypt(&ingest, &fake, &mut out)));
        assert_eq!(out, [7u8; 32]);
        assert!(matches!(
            EncryptedFogHint::from_bytes(&[0; 83]),
            Err(TxOutError::FogHintLength(83))
        ));
    }

    #[test]
    fn batched_decryption_agrees_with_one_at_a_time() {
        let mut rng = ChaCha20Rng::from_seed([23; 32]);
        let ingest = RistrettoPrivate::random(&mut rng);
        let other = RistrettoPrivate::random(&mut rng);
        let users: alloc::vec::Vec<_> = (0..4)
            .map(|_| RistrettoPrivate::random(&mut rng).public_key())
            .collect();
        let mut bad_version = FogHint::new(users[0]).encrypt(&ingest.public_key(), &mut rng);
        bad_version.0[ENCRYPTED_FOG_HINT_LEN - 2] = 7;
        let hints = [
            FogHint::new(users[0]).encrypt(&ingest.public_key(), &mut rng),
            EncryptedFogHint::fake_onetime_hint(&mut rng),
            FogHint::new(users[1]).encrypt(&other.public_key(), &mut rng),
            bad_version,
            FogHint::new(users[3]).encrypt(&ingest.public_key(), &mut rng),
        ];
        let mut outputs = [[7u8; 32]; 5];
        let ok = FogHint::ct_decrypt_batch(&ingest, &hints, &mut outputs);
        let valid: alloc::vec::Vec<bool> = ok.iter().map(|c| bool::from(*c)).collect();
        assert_eq!(valid, [true, false, false, false, true]);
        assert_eq!(&outputs[0], users[0].as_bytes());
        assert_eq!(&outputs[4], users[3].as_bytes());
        for (i, hint) in hints.iter().enumerate() {
            let mut one = [7u8; 32];
            let alone = FogHint::ct_decrypt(&ingest, hint, &mut one);
            assert_eq!(bool::from(alone), valid[i]);
            assert_eq!(one, outputs[i]);
        }
        // Too few outputs: the hints without one are invalid.
        let mut short = [[0u8; 32]; 1];
        let ok = FogHint::ct_decrypt_batch(&ingest, &hints, &mut short);
        assert_eq!(ok.len(), 5);
        assert!(bool::from(ok[0]) && !bool::from(ok[4]));
    }

    #[test]
    fn a_correct_box_without_magic_bytes_fails() {
        let mut rng = ChaCha20Rng::from_seed([22; 32]);
        let ingest = RistrettoPrivate::random(&mut rng);
        let mut raw = [0u8; ENCRYPTED_FOG_HINT_LEN];
        crypto_box::encrypt_into(&mut rng, &ingest.public_key(), &[1u8; 34], &mut raw).unwrap();
        let mut out = [0u8; 32];
        assert!(!bool::from(FogHint::ct_decrypt(
            &ingest,
            &EncryptedFogHint(raw),
            &mut out
        )));
        assert_eq!(out, [0u8; 32]);
    }
}
