//! Amounts: Pedersen commitments per token, and their masking to the recipient.
//!
//! `Com = value·H_t + blinding·G`, where `H_t` is hashed to the curve from the basepoint's
//! encoding with the token id XORed into its first 8 bytes. The value, the token id and the
//! blinding factor are masked with keys derived from the TxOut shared secret `S`:
//! - V1 (block versions < 3): BLAKE2b-512 of `S` under the tags `mc_amount_value`,
//!   `mc_amount_token_id` and `mc_amount_blinding`;
//! - V2 (block version ≥ 3): an amount shared secret `BLAKE2b-512("mc_amount_shared_secret" ||
//!   S)[0..32]`, expanded by HKDF-SHA512 (salt `mc_amount_blinding_factors`).
//!
//! Unmasking recomputes the commitment and compares it in constant time; a mismatch is
//! [`AmountError::InconsistentCommitment`], which is also the "not mine" signal.

use alloc::vec::Vec;

use crc::{Crc, CRC_32_ISO_HDLC};
use curve25519_dalek::{
    constants::{RISTRETTO_BASEPOINT_COMPRESSED, RISTRETTO_BASEPOINT_TABLE},
    ristretto::RistrettoPoint,
    scalar::Scalar,
};
use fog_crypto::{
    digestible::{DigestTranscript, Digestible},
    hash, RistrettoPublic,
};
use hkdf::Hkdf;
use sha2::Sha512;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::{AmountError, BlockVersion};

/// A token id (0 is MOB).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(pub u64);

impl TokenId {
    /// MobileCoin's native token.
    pub const MOB: Self = Self(0);
}

impl From<u64> for TokenId {
    fn from(v: u64) -> Self {
        Self(v)
    }
}

/// A value of a token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Amount {
    /// Value in the token's smallest unit (picoMOB for MOB).
    pub value: u64,
    /// Which token.
    pub token_id: TokenId,
}

impl Amount {
    /// An amount.
    pub fn new(value: u64, token_id: TokenId) -> Self {
        Self { value, token_id }
    }
}

/// The value generator `H_t` of a token.
pub fn value_generator(token_id: TokenId) -> RistrettoPoint {
    let mut buf = RISTRETTO_BASEPOINT_COMPRESSED.to_bytes();
    for (b, t) in buf.iter_mut().zip(token_id.0.to_le_bytes()) {
        *b ^= t;
    }
    hash::hash_to_ristretto(&[hash::domain::ONETIME_KEY_HASH_TO_POINT, &buf])
}

/// `value·H_t + blinding·G`, compressed.
pub fn commitment(value: u64, token_id: TokenId, blinding: &Scalar) -> [u8; 32] {
    (Scalar::from(value) * value_generator(token_id) + blinding * RISTRETTO_BASEPOINT_TABLE)
        .compress()
        .to_bytes()
}

/// CRC-32 (ISO-HDLC, the zlib one) of a commitment's 32 bytes.
pub fn commitment_crc32(commitment: &[u8; 32]) -> u32 {
    Crc::<u32>::new(&CRC_32_ISO_HDLC).checksum(commitment)
}

/// Which masking scheme an amount uses (the protobuf oneof tag 1 or 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaskedAmountVersion {
    /// BLAKE2b masks (tag 1).
    V1,
    /// HKDF masks from the amount shared secret (tag 6).
    V2,
}

/// A masked amount as it appears in a TxOut.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MaskedAmount {
    /// Masking scheme.
    pub version: MaskedAmountVersion,
    /// The compressed Pedersen commitment.
    pub commitment: [u8; 32],
    /// `value XOR value_mask`.
    pub masked_value: u64,
    /// `LE64(token_id XOR token_id_mask)`, or empty for V1 amounts before token ids.
    pub masked_token_id: Vec<u8>,
}

struct Masks {
    value: u64,
    token_id: u64,
    blinding: Scalar,
}

impl Drop for Masks {
    fn drop(&mut self) {
        self.value.zeroize();
        self.token_id.zeroize();
        self.blinding.zeroize();
    }
}

fn masks_v1(shared_secret: &RistrettoPublic) -> Masks {
    let s = shared_secret.as_bytes();
    let value_scalar = hash::hash_to_scalar(&[hash::domain::AMOUNT_VALUE, s]);
    let token = hash::blake2b512(&[hash::domain::AMOUNT_TOKEN_ID, s]);
    let le8 = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        u64::from_le_bytes(a)
    };
    Masks {
        value: le8(value_scalar.as_bytes()),
        token_id: le8(&token),
        blinding: hash::hash_to_scalar(&[hash::domain::AMOUNT_BLINDING, s]),
    }
}

/// The V2 amount shared secret `BLAKE2b-512("mc_amount_shared_secret" || S)[0..32]`.
pub fn amount_shared_secret(shared_secret: &RistrettoPublic) -> [u8; 32] {
    let h = hash::blake2b512(&[hash::domain::AMOUNT_SHARED_SECRET, shared_secret.as_bytes()]);
    let mut out = [0u8; 32];
    out.copy_from_slice(&h[..32]);
    out
}

fn masks_v2(shared_secret: &RistrettoPublic) -> Masks {
    let mut ass = amount_shared_secret(shared_secret);
    let masks = masks_v2_from_amount_shared_secret(&ass);
    ass.zeroize();
    masks
}

fn masks_v2_from_amount_shared_secret(ass: &[u8; 32]) -> Masks {
    let kdf = Hkdf::<Sha512>::new(Some(hash::domain::AMOUNT_BLINDING_FACTORS), ass);
    let mut value = [0u8; 8];
    let mut token = [0u8; 8];
    let mut blinding = [0u8; 64];
    let ok = kdf.expand(hash::domain::AMOUNT_VALUE, &mut value).is_ok()
        && kdf
            .expand(hash::domain::AMOUNT_TOKEN_ID, &mut token)
            .is_ok()
        && kdf
            .expand(hash::domain::AMOUNT_BLINDING, &mut blinding)
            .is_ok();
    debug_assert!(ok, "HKDF-SHA512 expands up to 16320 bytes");
    let masks = Masks {
        value: u64::from_le_bytes(value),
        token_id: u64::from_le_bytes(token),
        blinding: Scalar::from_bytes_mod_order_wide(&blinding),
    };
    blinding.zeroize();
    masks
}

impl MaskedAmount {
    /// Masks `amount` for the shared secret `S`, with the scheme of `block_version`.
    pub fn new(
        block_version: BlockVersion,
        amount: Amount,
        shared_secret: &RistrettoPublic,
    ) -> Result<Self, AmountError> {
        let version = if block_version.masked_amount_v2_is_supported() {
            MaskedAmountVersion::V2
        } else {
            if !block_version.masked_token_id_feature_is_supported() && amount.token_id.0 != 0 {
                return Err(AmountError::TokenIdNotSupportedAtBlockVersion);
            }
            MaskedAmountVersion::V1
        };
        let m = Self::masks(version, shared_secret);
        let masked_token_id = if version == MaskedAmountVersion::V1
            && !block_version.masked_token_id_feature_is_supported()
        {
            Vec::new()
        } else {
            (amount.token_id.0 ^ m.token_id).to_le_bytes().to_vec()
        };
        Ok(Self {
            version,
            commitment: commitment(amount.value, amount.token_id, &m.blinding),
            masked_value: amount.value ^ m.value,
            masked_token_id,
        })
    }

    fn masks(version: MaskedAmountVersion, shared_secret: &RistrettoPublic) -> Masks {
        match version {
            MaskedAmountVersion::V1 => masks_v1(shared_secret),
            MaskedAmountVersion::V2 => masks_v2(shared_secret),
        }
    }

    /// Unmasks `(masked_value, masked_token_id)` and rebuilds the whole masked amount,
    /// commitment included. With a wrong secret the result is garbage: compare the commitment
    /// (or its CRC) to decide.
    pub fn reconstruct(
        version: MaskedAmountVersion,
        masked_value: u64,
        masked_token_id: &[u8],
        shared_secret: &RistrettoPublic,
    ) -> Result<(Self, Amount, Scalar), AmountError> {
        let m = Self::masks(version, shared_secret);
        let token_id = match (version, masked_token_id.len()) {
            (MaskedAmountVersion::V1, 0) => 0,
            (_, 8) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(masked_token_id);
                u64::from_le_bytes(a) ^ m.token_id
            }
            _ => return Err(AmountError::InvalidMaskedTokenId),
        };
        let amount = Amount::new(masked_value ^ m.value, TokenId(token_id));
        let rebuilt = Self {
            version,
            commitment: commitment(amount.value, amount.token_id, &m.blinding),
            masked_value,
            masked_token_id: masked_token_id.to_vec(),
        };
        Ok((rebuilt, amount, m.blinding))
    }

    /// The amount and the blinding factor, if this amount was masked for `S`.
    pub fn get_value(
        &self,
        shared_secret: &RistrettoPublic,
    ) -> Result<(Amount, Scalar), AmountError> {
        let (rebuilt, amount, blinding) = Self::reconstruct(
            self.version,
            self.masked_value,
            &self.masked_token_id,
            shared_secret,
        )?;
        if bool::from(rebuilt.commitment.ct_eq(&self.commitment)) {
            Ok((amount, blinding))
        } else {
            Err(AmountError::InconsistentCommitment)
        }
    }

    /// A V2 masked amount of `amount` under an amount shared secret (MCIP 42: a revealed
    /// TxOut's amount can be recommitted with the same blinding by whoever holds it).
    pub fn new_from_amount_shared_secret(amount: Amount, amount_shared_secret: &[u8; 32]) -> Self {
        let m = masks_v2_from_amount_shared_secret(amount_shared_secret);
        Self {
            version: MaskedAmountVersion::V2,
            commitment: commitment(amount.value, amount.token_id, &m.blinding),
            masked_value: amount.value ^ m.value,
            masked_token_id: (amount.token_id.0 ^ m.token_id).to_le_bytes().to_vec(),
        }
    }

    /// The amount and blinding of a V2 amount, from its amount shared secret. A V1 amount
    /// has no amount shared secret ([`AmountError::AmountVersionTooOld`]).
    pub fn get_value_from_amount_shared_secret(
        &self,
        amount_shared_secret: &[u8; 32],
    ) -> Result<(Amount, Scalar), AmountError> {
        if self.version != MaskedAmountVersion::V2 {
            return Err(AmountError::AmountVersionTooOld);
        }
        if self.masked_token_id.len() != 8 {
            return Err(AmountError::InvalidMaskedTokenId);
        }
        let m = masks_v2_from_amount_shared_secret(amount_shared_secret);
        let mut t = [0u8; 8];
        t.copy_from_slice(&self.masked_token_id);
        let amount = Amount::new(
            self.masked_value ^ m.value,
            TokenId(u64::from_le_bytes(t) ^ m.token_id),
        );
        let expected = commitment(amount.value, amount.token_id, &m.blinding);
        if bool::from(expected.ct_eq(&self.commitment)) {
            Ok((amount, m.blinding))
        } else {
            Err(AmountError::InconsistentCommitment)
        }
    }

    /// CRC-32 of the commitment.
    pub fn commitment_crc32(&self) -> u32 {
        commitment_crc32(&self.commitment)
    }
}

impl Digestible for MaskedAmount {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        // The enum is transparent; V1's struct is named "Amount".
        let name: &'static [u8] = match self.version {
            MaskedAmountVersion::V1 => b"Amount",
            MaskedAmountVersion::V2 => b"MaskedAmountV2",
        };
        t.agg(ctx, name, |f| {
            f.ristretto(b"commitment", &self.commitment)
                .u64(b"masked_value", self.masked_value)
                .bytes(b"masked_token_id", &self.masked_token_id);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fog_crypto::RistrettoPrivate;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn token_zero_generator_is_hash_of_basepoint() {
        let g = RISTRETTO_BASEPOINT_COMPRESSED.to_bytes();
        assert_eq!(
            value_generator(TokenId::MOB),
            hash::hash_to_ristretto(&[hash::domain::ONETIME_KEY_HASH_TO_POINT, &g])
        );
        assert_ne!(value_generator(TokenId(1)), value_generator(TokenId(2)));
    }

    proptest! {
        #[test]
        fn masking_round_trips(seed in any::<[u8; 32]>(), value in any::<u64>(), token in any::<u64>(), v in 0u32..=4) {
            let mut rng = ChaCha20Rng::from_seed(seed);
            let s = RistrettoPrivate::random(&mut rng).public_key();
            let other = RistrettoPrivate::random(&mut rng).public_key();
            let bv = BlockVersion::new(v).unwrap();
            let token = if bv.masked_token_id_feature_is_supported() { token } else { 0 };
            let m = MaskedAmount::new(bv, Amount::new(value, TokenId(token)), &s).unwrap();
            let (amount, _) = m.get_value(&s).unwrap();
            prop_assert_eq!(amount, Amount::new(value, TokenId(token)));
            prop_assert_eq!(m.get_value(&other).unwrap_err(), AmountError::InconsistentCommitment);
            let (rebuilt, _, _) = MaskedAmount::reconstruct(m.version, m.masked_value, &m.masked_token_id, &s).unwrap();
            prop_assert_eq!(rebuilt, m);
        }
    }

    #[test]
    fn token_ids_need_block_version_two() {
        let s = RistrettoPrivate::from_bytes_mod_order(&[3; 32]).public_key();
        assert_eq!(
            MaskedAmount::new(BlockVersion::ONE, Amount::new(1, TokenId(1)), &s).unwrap_err(),
            AmountError::TokenIdNotSupportedAtBlockVersion
        );
        let m = MaskedAmount::new(BlockVersion::ONE, Amount::new(1, TokenId(0)), &s).unwrap();
        assert!(m.masked_token_id.is_empty());
        assert_eq!(
            MaskedAmount::reconstruct(MaskedAmountVersion::V2, 1, &[], &s).unwrap_err(),
            AmountError::InvalidMaskedTokenId
        );
        assert_eq!(
            MaskedAmount::reconstruct(MaskedAmountVersion::V1, 1, &[0; 4], &s).unwrap_err(),
            AmountError::InvalidMaskedTokenId
        );
    }
}
