//! TxOut records: what ingest encrypts to a user for each of their TxOuts, and how the user
//! turns one back into the exact TxOut.
//!
//! A record drops the commitment (keeping its CRC-32) and the fog hint, and adds the TxOut's
//! global index, block index and block timestamp. Ingest encrypts its protobuf with the crypto
//! box to the user's default-subaddress view public key (taken from the fog hint); the user
//! opens it with `c_0`, then rebuilds the amount with the account view key `a`. A CRC mismatch
//! means the record was not for this account.

use alloc::vec::Vec;

use fog_crypto::{
    crypto_box, CompressedRistrettoPublic, KeyError, RistrettoPrivate, RistrettoPublic,
};
use prost::Message;
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;
use zeroize::Zeroize;

use crate::{
    amount::{commitment_crc32, MaskedAmount, MaskedAmountVersion},
    onetime_keys, wire, Amount, AmountError, EncryptedFogHint, EncryptedMemo, TxOut, TxOutError,
};

/// A TxOut without its commitment and fog hint: what a record carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FogTxOut {
    /// One-time target key.
    pub target_key: CompressedRistrettoPublic,
    /// TxOut public key.
    pub public_key: CompressedRistrettoPublic,
    /// Amount version (which oneof tag the masked token id uses).
    pub amount_version: MaskedAmountVersion,
    /// Masked value.
    pub masked_value: u64,
    /// Masked token id.
    pub masked_token_id: Vec<u8>,
    /// CRC-32 of the commitment.
    pub commitment_crc32: u32,
    /// The encrypted memo, if any.
    pub e_memo: Option<EncryptedMemo>,
}

impl TryFrom<&TxOut> for FogTxOut {
    type Error = TxOutError;

    fn try_from(tx_out: &TxOut) -> Result<Self, TxOutError> {
        let m = tx_out.masked_amount()?;
        Ok(Self {
            target_key: tx_out.target_key,
            public_key: tx_out.public_key,
            amount_version: m.version,
            masked_value: m.masked_value,
            masked_token_id: m.masked_token_id.clone(),
            commitment_crc32: m.commitment_crc32(),
            e_memo: tx_out.e_memo,
        })
    }
}

impl FogTxOut {
    /// Rebuilds the full TxOut with the account view private key `a`: the commitment is
    /// recomputed from the unmasked amount and must match the CRC. The fog hint, which the
    /// record does not carry, is 84 zero bytes.
    pub fn try_recover_tx_out(
        &self,
        view_private: &RistrettoPrivate,
    ) -> Result<(TxOut, Amount), TxOutError> {
        let public = self.public_key.decompress()?;
        let shared = onetime_keys::get_tx_out_shared_secret(view_private, &public);
        let (masked_amount, amount, mut blinding) = MaskedAmount::reconstruct(
            self.amount_version,
            self.masked_value,
            &self.masked_token_id,
            &shared,
        )?;
        blinding.zeroize();
        if commitment_crc32(&masked_amount.commitment) != self.commitment_crc32 {
            return Err(TxOutError::ChecksumMismatch);
        }
        Ok((
            TxOut {
                masked_amount: Some(masked_amount),
                target_key: self.target_key,
                public_key: self.public_key,
                e_fog_hint: EncryptedFogHint::default(),
                e_memo: self.e_memo,
            },
            amount,
        ))
    }
}

/// A record: the compressed TxOut and where it sits in the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutRecord {
    /// The TxOut without commitment and hint.
    pub fog_tx_out: FogTxOut,
    /// Global index of the TxOut among all TxOuts.
    pub global_index: u64,
    /// The block holding it.
    pub block_index: u64,
    /// The block's timestamp, seconds since the Unix epoch (untrusted).
    pub timestamp: u64,
}

/// Why a record could not be opened or read.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The ciphertext is malformed (length, version or ephemeral key).
    #[error("record ciphertext malformed: {0}")]
    DecryptionFailed(crypto_box::CryptoBoxError),
    /// The tag did not match: not for this key, or altered.
    #[error("record authentication failed")]
    MacCheckFailed,
    /// The plaintext is not a valid `TxOutRecord` protobuf.
    #[error("record protobuf malformed")]
    Deserialization,
    /// The record's fields are malformed.
    #[error("record fields: {0}")]
    TxOut(#[from] TxOutError),
}

impl TxOutRecord {
    /// The record of `tx_out` at its place in the ledger.
    pub fn new(
        tx_out: &TxOut,
        global_index: u64,
        block_index: u64,
        timestamp: u64,
    ) -> Result<Self, TxOutError> {
        Ok(Self {
            fog_tx_out: FogTxOut::try_from(tx_out)?,
            global_index,
            block_index,
            timestamp,
        })
    }

    /// The protobuf form as MobileCoin writes it: commitment field empty, CRC in field 8.
    pub fn to_wire(&self) -> wire::TxOutRecord {
        let t = &self.fog_tx_out;
        let token = t.masked_token_id.clone();
        wire::TxOutRecord {
            tx_out_amount_commitment_data: Vec::new(),
            tx_out_amount_masked_value: t.masked_value,
            tx_out_target_key_data: t.target_key.as_bytes().to_vec(),
            tx_out_public_key_data: t.public_key.as_bytes().to_vec(),
            tx_out_global_index: self.global_index,
            block_index: self.block_index,
            timestamp: self.timestamp,
            tx_out_amount_commitment_data_crc32: t.commitment_crc32,
            tx_out_e_memo_data: t.e_memo.map(|m| m.0.to_vec()).unwrap_or_default(),
            tx_out_amount_masked_token_id: Some(match t.amount_version {
                MaskedAmountVersion::V1 => {
                    wire::TxOutAmountMaskedTokenId::TxOutAmountMaskedV1TokenId(token)
                }
                MaskedAmountVersion::V2 => {
                    wire::TxOutAmountMaskedTokenId::TxOutAmountMaskedV2TokenId(token)
                }
            }),
        }
    }

    /// From the protobuf form, with MobileCoin's compatibility rules: no masked token id means
    /// V1 with none (token 0); a legacy 32-byte commitment in field 1 gives the CRC; the memo is
    /// absent or 66 bytes.
    pub fn try_from_wire(w: &wire::TxOutRecord) -> Result<Self, TxOutError> {
        let (amount_version, masked_token_id) = match &w.tx_out_amount_masked_token_id {
            None => (MaskedAmountVersion::V1, Vec::new()),
            Some(wire::TxOutAmountMaskedTokenId::TxOutAmountMaskedV1TokenId(t)) => {
                (MaskedAmountVersion::V1, t.clone())
            }
            Some(wire::TxOutAmountMaskedTokenId::TxOutAmountMaskedV2TokenId(t)) => {
                (MaskedAmountVersion::V2, t.clone())
            }
        };
        let commitment_crc32 = match w.tx_out_amount_commitment_data.len() {
            0 => w.tx_out_amount_commitment_data_crc32,
            32 => {
                let mut c = [0u8; 32];
                c.copy_from_slice(&w.tx_out_amount_commitment_data);
                commitment_crc32(&c)
            }
            n => {
                return Err(KeyError::LengthMismatch {
                    found: n,
                    expected: 32,
                }
                .into())
            }
        };
        let token_id_ok = match amount_version {
            MaskedAmountVersion::V1 => masked_token_id.is_empty() || masked_token_id.len() == 8,
            MaskedAmountVersion::V2 => masked_token_id.len() == 8,
        };
        if !token_id_ok {
            return Err(AmountError::InvalidMaskedTokenId.into());
        }
        Ok(Self {
            fog_tx_out: FogTxOut {
                target_key: CompressedRistrettoPublic::from_bytes(&w.tx_out_target_key_data)?,
                public_key: CompressedRistrettoPublic::from_bytes(&w.tx_out_public_key_data)?,
                amount_version,
                masked_value: w.tx_out_amount_masked_value,
                masked_token_id,
                commitment_crc32,
                e_memo: if w.tx_out_e_memo_data.is_empty() {
                    None
                } else {
                    Some(EncryptedMemo::from_bytes(&w.tx_out_e_memo_data)?)
                },
            },
            global_index: w.tx_out_global_index,
            block_index: w.block_index,
            timestamp: w.timestamp,
        })
    }

    /// Protobuf bytes.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// From protobuf bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TxOutError> {
        let w = wire::TxOutRecord::decode(bytes).map_err(|_| TxOutError::Protobuf)?;
        Self::try_from_wire(&w)
    }

    /// Encrypts the record to a user's view public key (ingest side).
    pub fn encrypt<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        user_view_public: &RistrettoPublic,
    ) -> Vec<u8> {
        let mut plaintext = self.encode_to_vec();
        let out = crypto_box::encrypt(rng, user_view_public, &plaintext);
        plaintext.zeroize();
        out
    }

    /// Opens a record payload with `c_0`, the default-subaddress view private key (user side).
    pub fn decrypt(
        default_subaddress_view_private: &RistrettoPrivate,
        payload: &[u8],
    ) -> Result<Self, RecordError> {
        let plaintext = match crypto_box::decrypt(default_subaddress_view_private, payload) {
            Ok(p) => p,
            Err(crypto_box::CryptoBoxError::MacFailed) => return Err(RecordError::MacCheckFailed),
            Err(e) => return Err(RecordError::DecryptionFailed(e)),
        };
        let w = wire::TxOutRecord::decode(plaintext.as_slice())
            .map_err(|_| RecordError::Deserialization)?;
        Ok(Self::try_from_wire(&w)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockVersion, FogHint, TokenId};
    use fog_account::AccountKey;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    proptest! {
        #[test]
        fn records_round_trip_to_the_exact_tx_out(seed in any::<[u8; 32]>(), value in any::<u64>(), token in any::<u64>(), v in 2u32..=4, index in any::<u64>()) {
            let mut rng = ChaCha20Rng::from_seed(seed);
            let account = AccountKey::random(&mut rng).with_fog("fog://f", "", b"k");
            let to = account.default_subaddress();
            let r = RistrettoPrivate::random(&mut rng);
            let ingest = RistrettoPrivate::random(&mut rng);
            let hint = FogHint::from_address(&to).encrypt(&ingest.public_key(), &mut rng);
            let tx_out = TxOut::new(BlockVersion::new(v).unwrap(), Amount::new(value, TokenId(token)), &to, &r, hint).unwrap();
            let record = TxOutRecord::new(&tx_out, index, 7, 99).unwrap();
            let payload = record.encrypt(&mut rng, to.view_public_key());
            let opened = TxOutRecord::decrypt(&account.default_subaddress_view_private(), &payload).unwrap();
            prop_assert_eq!(&opened, &record);
            let (rebuilt, amount) = opened.fog_tx_out.try_recover_tx_out(account.view_private_key()).unwrap();
            prop_assert_eq!(amount, Amount::new(value, TokenId(token)));
            let expected = TxOut { e_fog_hint: EncryptedFogHint::default(), ..tx_out };
            prop_assert_eq!(rebuilt, expected);
            let stranger = AccountKey::random(&mut rng);
            prop_assert_eq!(TxOutRecord::decrypt(&stranger.default_subaddress_view_private(), &payload).unwrap_err(), RecordError::MacCheckFailed);
            prop_assert_eq!(opened.fog_tx_out.try_recover_tx_out(stranger.view_private_key()).unwrap_err(), TxOutError::ChecksumMismatch);
        }
    }

    #[test]
    fn bad_records_are_refused() {
        let mut rng = ChaCha20Rng::from_seed([51; 32]);
        let k = RistrettoPrivate::random(&mut rng);
        let garbage = crypto_box::encrypt(&mut rng, &k.public_key(), &[0xff, 0xff, 0xff]);
        assert_eq!(
            TxOutRecord::decrypt(&k, &garbage).unwrap_err(),
            RecordError::Deserialization
        );
        assert!(matches!(
            TxOutRecord::decrypt(&k, &[1, 2, 3]).unwrap_err(),
            RecordError::DecryptionFailed(_)
        ));
        let mut w = wire::TxOutRecord {
            tx_out_target_key_data: alloc::vec![0; 32],
            tx_out_public_key_data: alloc::vec![0; 32],
            ..Default::default()
        };
        assert!(TxOutRecord::try_from_wire(&w).is_ok());
        w.tx_out_e_memo_data = alloc::vec![0; 10];
        assert!(TxOutRecord::try_from_wire(&w).is_err());
        w.tx_out_e_memo_data.clear();
        w.tx_out_amount_commitment_data = alloc::vec![0; 31];
        assert!(TxOutRecord::try_from_wire(&w).is_err());
        w.tx_out_amount_commitment_data.clear();
        w.tx_out_target_key_data.pop();
        assert!(TxOutRecord::try_from_wire(&w).is_err());
    }
}
