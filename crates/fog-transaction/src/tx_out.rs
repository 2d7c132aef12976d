//! The TxOut: one output of a transaction.

use alloc::vec::Vec;

use fog_account::PublicAddress;
use fog_crypto::{
    digestible::{DigestTranscript, Digestible},
    hash, CompressedRistrettoPublic, KeyError, RistrettoPrivate, RistrettoPublic,
};
use prost::Message;

use crate::{
    amount::{MaskedAmount, MaskedAmountVersion},
    memo::MemoPayload,
    onetime_keys, wire, Amount, BlockVersion, EncryptedFogHint, EncryptedMemo, KeyImage, MemoError,
    TxOutError,
};

/// What a memo builder may use while the TxOut is being made.
pub struct MemoContext<'a> {
    /// The TxOut public key `R`, which authenticated memos bind to.
    pub tx_public_key: &'a RistrettoPublic,
}

/// An output: masked amount, one-time target key, public key, fog hint and memo.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxOut {
    /// The amount, masked for the recipient.
    pub masked_amount: Option<MaskedAmount>,
    /// One-time target key `P`.
    pub target_key: CompressedRistrettoPublic,
    /// TxOut public key `R`.
    pub public_key: CompressedRistrettoPublic,
    /// The recipient's view key, encrypted to fog ingest (or a fake hint).
    pub e_fog_hint: EncryptedFogHint,
    /// The encrypted memo (absent before block version 1).
    pub e_memo: Option<EncryptedMemo>,
}

impl TxOut {
    /// An output of `amount` to `recipient` with the tx private key `r` and a default memo.
    pub fn new(
        block_version: BlockVersion,
        amount: Amount,
        recipient: &PublicAddress,
        tx_private_key: &RistrettoPrivate,
        hint: EncryptedFogHint,
    ) -> Result<Self, TxOutError> {
        Self::new_with_memo(
            block_version,
            amount,
            recipient,
            tx_private_key,
            hint,
            |_| Ok(MemoPayload::default()),
        )
    }

    /// An output whose memo `memo_fn` makes, given the TxOut public key.
    pub fn new_with_memo(
        block_version: BlockVersion,
        amount: Amount,
        recipient: &PublicAddress,
        tx_private_key: &RistrettoPrivate,
        hint: EncryptedFogHint,
        memo_fn: impl FnOnce(MemoContext<'_>) -> Result<MemoPayload, MemoError>,
    ) -> Result<Self, TxOutError> {
        let view = recipient.view_public_key();
        let spend = recipient.spend_public_key();
        let target_key = onetime_keys::create_tx_out_target_key(tx_private_key, view, spend);
        let public_key = onetime_keys::create_tx_out_public_key(tx_private_key, spend);
        let shared_secret = onetime_keys::create_shared_secret(view, tx_private_key);
        let masked_amount = MaskedAmount::new(block_version, amount, &shared_secret)?;
        let e_memo = if block_version.e_memo_feature_is_supported() {
            let memo = memo_fn(MemoContext {
                tx_public_key: &public_key,
            })?;
            Some(memo.encrypt(&shared_secret))
        } else {
            None
        };
        Ok(Self {
            masked_amount: Some(masked_amount),
            target_key: (&target_key).into(),
            public_key: (&public_key).into(),
            e_fog_hint: hint,
            e_memo,
        })
    }

    /// The TxOut hash: digest under `"mobilecoin-txout"`. Feeds the Merkle leaves.
    pub fn hash(&self) -> [u8; 32] {
        self.digest32(b"mobilecoin-txout")
    }

    /// The Merkle leaf hash `BLAKE2b-256("mc_tx_out_merkle_leaf" || hash)`.
    pub fn merkle_leaf_hash(&self) -> [u8; 32] {
        hash::blake2b256(&[hash::domain::TX_OUT_MERKLE_LEAF, &self.hash()])
    }

    /// The masked amount, which every TxOut we build has.
    pub fn masked_amount(&self) -> Result<&MaskedAmount, TxOutError> {
        self.masked_amount
            .as_ref()
            .ok_or(TxOutError::Amount(crate::AmountError::MissingMaskedAmount))
    }

    /// The TxOut public key, decompressed.
    pub fn public_key(&self) -> Result<RistrettoPublic, TxOutError> {
        Ok(self.public_key.decompress()?)
    }

    /// The one-time target key, decompressed.
    pub fn target_key(&self) -> Result<RistrettoPublic, TxOutError> {
        Ok(self.target_key.decompress()?)
    }

    /// Whether this TxOut is for the account with view key `a`: the amount and the shared
    /// secret if its commitment unmasks consistently.
    pub fn view_key_match(
        &self,
        view_private: &RistrettoPrivate,
    ) -> Result<(Amount, RistrettoPublic), TxOutError> {
        let shared = onetime_keys::get_tx_out_shared_secret(view_private, &self.public_key()?);
        let (amount, _) = self.masked_amount()?.get_value(&shared)?;
        Ok((amount, shared))
    }

    /// The spend public key of the subaddress this TxOut pays, computed with view key `a`.
    pub fn subaddress_spend_public_key(
        &self,
        view_private: &RistrettoPrivate,
    ) -> Result<RistrettoPublic, TxOutError> {
        Ok(onetime_keys::recover_public_subaddress_spend_key(
            view_private,
            &self.target_key()?,
            &self.public_key()?,
        ))
    }

    /// The one-time private key `x = Hs(a·R) + d_i`.
    pub fn onetime_private_key(
        &self,
        view_private: &RistrettoPrivate,
        subaddress_spend_private: &RistrettoPrivate,
    ) -> Result<RistrettoPrivate, TxOutError> {
        Ok(onetime_keys::recover_onetime_private_key(
            &self.public_key()?,
            view_private,
            subaddress_spend_private,
        ))
    }

    /// The key image that spending this TxOut reveals.
    pub fn key_image(
        &self,
        view_private: &RistrettoPrivate,
        subaddress_spend_private: &RistrettoPrivate,
    ) -> Result<KeyImage, TxOutError> {
        Ok(KeyImage::from_onetime_private(&self.onetime_private_key(
            view_private,
            subaddress_spend_private,
        )?))
    }

    /// The memo, decrypted with the shared secret; the default (unused) memo if there is none.
    pub fn decrypt_memo(&self, shared_secret: &RistrettoPublic) -> MemoPayload {
        self.e_memo
            .map(|m| m.decrypt(shared_secret))
            .unwrap_or_default()
    }

    /// The protobuf form.
    pub fn to_wire(&self) -> wire::TxOut {
        let key = |k: &CompressedRistrettoPublic| {
            Some(wire::CompressedRistretto {
                data: k.as_bytes().to_vec(),
            })
        };
        wire::TxOut {
            masked_amount: self.masked_amount.as_ref().map(|m| {
                let w = wire::MaskedAmount {
                    commitment: Some(wire::CompressedRistretto {
                        data: m.commitment.to_vec(),
                    }),
                    masked_value: m.masked_value,
                    masked_token_id: m.masked_token_id.clone(),
                };
                match m.version {
                    MaskedAmountVersion::V1 => wire::MaskedAmountVersion::MaskedAmountV1(w),
                    MaskedAmountVersion::V2 => wire::MaskedAmountVersion::MaskedAmountV2(w),
                }
            }),
            target_key: key(&self.target_key),
            public_key: key(&self.public_key),
            e_fog_hint: Some(wire::EncryptedFogHint {
                data: self.e_fog_hint.0.to_vec(),
            }),
            e_memo: self
                .e_memo
                .map(|m| wire::EncryptedMemo { data: m.0.to_vec() }),
        }
    }

    /// From the protobuf form, checking every length.
    pub fn try_from_wire(w: &wire::TxOut) -> Result<Self, TxOutError> {
        let key = |k: &Option<wire::CompressedRistretto>, name| {
            let k = k.as_ref().ok_or(TxOutError::MissingField(name))?;
            Ok::<_, TxOutError>(CompressedRistrettoPublic::from_bytes(&k.data)?)
        };
        let masked_amount = match &w.masked_amount {
            None => None,
            Some(v) => {
                let (version, m) = match v {
                    wire::MaskedAmountVersion::MaskedAmountV1(m) => (MaskedAmountVersion::V1, m),
                    wire::MaskedAmountVersion::MaskedAmountV2(m) => (MaskedAmountVersion::V2, m),
                };
                let c = m
                    .commitment
                    .as_ref()
                    .ok_or(TxOutError::MissingField("commitment"))?;
                let commitment: [u8; 32] =
                    c.data
                        .as_slice()
                        .try_into()
                        .map_err(|_| KeyError::LengthMismatch {
                            found: c.data.len(),
                            expected: 32,
                        })?;
                if !(m.masked_token_id.is_empty() || m.masked_token_id.len() == 8) {
                    return Err(crate::AmountError::InvalidMaskedTokenId.into());
                }
                Some(MaskedAmount {
                    version,
                    commitment,
                    masked_value: m.masked_value,
                    masked_token_id: m.masked_token_id.clone(),
                })
            }
        };
        let hint = w
            .e_fog_hint
            .as_ref()
            .ok_or(TxOutError::MissingField("e_fog_hint"))?;
        Ok(Self {
            masked_amount,
            target_key: key(&w.target_key, "target_key")?,
            public_key: key(&w.public_key, "public_key")?,
            e_fog_hint: EncryptedFogHint::from_bytes(&hint.data)?,
            e_memo: w
                .e_memo
                .as_ref()
                .map(|m| EncryptedMemo::from_bytes(&m.data))
                .transpose()?,
        })
    }

    /// Protobuf bytes.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// From protobuf bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TxOutError> {
        let w = wire::TxOut::decode(bytes).map_err(|_| TxOutError::Protobuf)?;
        Self::try_from_wire(&w)
    }
}

struct MemoDigest<'a>(&'a EncryptedMemo);

impl Digestible for MemoDigest<'_> {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"EncryptedMemo", |f| {
            f.bytes(b"0", &self.0 .0);
        });
    }
}

impl Digestible for TxOut {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"TxOut", |f| {
            f.option(b"amount", self.masked_amount.as_ref())
                .ristretto(b"target_key", self.target_key.as_bytes())
                .ristretto(b"public_key", self.public_key.as_bytes())
                .bytes(b"e_fog_hint", &self.e_fog_hint.0)
                .option(b"e_memo", self.e_memo.as_ref().map(MemoDigest).as_ref());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FogHint, TokenId};
    use fog_account::AccountKey;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    proptest! {
        #[test]
        fn txouts_are_found_and_spent_by_their_recipient(seed in any::<[u8; 32]>(), value in any::<u64>(), index in 0u64..5, v in 0u32..=4) {
            let mut rng = ChaCha20Rng::from_seed(seed);
            let account = AccountKey::random(&mut rng);
            let other = AccountKey::random(&mut rng);
            let ingest = RistrettoPrivate::random(&mut rng);
            let to = account.subaddress(index);
            let r = RistrettoPrivate::random(&mut rng);
            let hint = FogHint::from_address(&to).encrypt(&ingest.public_key(), &mut rng);
            let bv = BlockVersion::new(v).unwrap();
            let tx_out = TxOut::new(bv, Amount::new(value, TokenId::MOB), &to, &r, hint).unwrap();
            let a = account.view_private_key();
            let (amount, _) = tx_out.view_key_match(a).unwrap();
            prop_assert_eq!(amount.value, value);
            prop_assert!(tx_out.view_key_match(other.view_private_key()).is_err());
            prop_assert_eq!(&tx_out.subaddress_spend_public_key(a).unwrap(), to.spend_public_key());
            let x = tx_out.onetime_private_key(a, &account.subaddress_spend_private(index)).unwrap();
            prop_assert_eq!(x.public_key(), tx_out.target_key().unwrap());
            let decoded = TxOut::decode(&tx_out.encode_to_vec()).unwrap();
            prop_assert_eq!(&decoded, &tx_out);
            prop_assert_eq!(decoded.hash(), tx_out.hash());
            prop_assert_eq!(tx_out.e_memo.is_some(), v >= 1);
        }
    }

    #[test]
    fn malformed_protobufs_are_refused() {
        assert_eq!(
            TxOut::decode(&[0xff, 0xff]).unwrap_err(),
            TxOutError::Protobuf
        );
        let mut rng = ChaCha20Rng::from_seed([41; 32]);
        let to = AccountKey::random(&mut rng).default_subaddress();
        let r = RistrettoPrivate::random(&mut rng);
        let t = TxOut::new(
            BlockVersion::THREE,
            Amount::new(5, TokenId(1)),
            &to,
            &r,
            EncryptedFogHint::fake_onetime_hint(&mut rng),
        )
        .unwrap();
        let mut w = t.to_wire();
        w.e_fog_hint = Some(wire::EncryptedFogHint {
            data: alloc::vec![0; 83],
        });
        assert_eq!(
            TxOut::try_from_wire(&w).unwrap_err(),
            TxOutError::FogHintLength(83)
        );
        let mut w = t.to_wire();
        w.e_memo = Some(wire::EncryptedMemo {
            data: alloc::vec![0; 65],
        });
        assert_eq!(
            TxOut::try_from_wire(&w).unwrap_err(),
            TxOutError::Memo(MemoError::BadLength(65))
        );
        let mut w = t.to_wire();
        w.target_key = None;
        assert_eq!(
            TxOut::try_from_wire(&w).unwrap_err(),
            TxOutError::MissingField("target_key")
        );
        let mut w = t.to_wire();
        w.public_key = Some(wire::CompressedRistretto {
            data: alloc::vec![1; 31],
        });
        assert!(matches!(
            TxOut::try_from_wire(&w).unwrap_err(),
            TxOutError::Key(_)
        ));
    }
}
