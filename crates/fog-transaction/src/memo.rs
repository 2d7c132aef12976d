//! Encrypted memos: 66 bytes on every TxOut from block version 1.
//!
//! A payload is a 2-byte type (`[category, subtype]`) and 64 bytes of data. It is encrypted by
//! XOR with an AES-256-CTR keystream (64-bit big-endian counter) whose key and IV are
//! HKDF-SHA512(salt `"mc-memo-okm"`, ikm = the TxOut shared secret, info = "", 48 bytes).
//! Memos have no authenticity of their own; the authenticated sender memos carry an HMAC that
//! binds the sender's address to the TxOut public key.

use alloc::string::String;
use core::fmt;

use aes::{
    cipher::{KeyIvInit, StreamCipher},
    Aes256,
};
use fog_account::{AccountKey, PublicAddress, ShortAddressHash};
use fog_crypto::{hash, RistrettoPrivate, RistrettoPublic};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha512;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::MemoError;

/// Bytes in a memo payload and in an encrypted memo.
pub const MEMO_LEN: usize = 66;

/// Memo type bytes.
pub mod types {
    /// Unused (all zero).
    pub const UNUSED: [u8; 2] = [0x00, 0x00];
    /// Burn redemption.
    pub const BURN_REDEMPTION: [u8; 2] = [0x00, 0x01];
    /// Gift code sender.
    pub const GIFT_CODE_SENDER: [u8; 2] = [0x00, 0x02];
    /// Defragmentation.
    pub const DEFRAGMENTATION: [u8; 2] = [0x00, 0x03];
    /// Authenticated sender.
    pub const AUTHENTICATED_SENDER: [u8; 2] = [0x01, 0x00];
    /// Authenticated sender with a payment request id.
    pub const AUTHENTICATED_SENDER_WITH_PAYMENT_REQUEST_ID: [u8; 2] = [0x01, 0x01];
    /// Authenticated sender with a payment intent id.
    pub const AUTHENTICATED_SENDER_WITH_PAYMENT_INTENT_ID: [u8; 2] = [0x01, 0x02];
    /// Destination (on the sender's change output).
    pub const DESTINATION: [u8; 2] = [0x02, 0x00];
    /// Gift code funding.
    pub const GIFT_CODE_FUNDING: [u8; 2] = [0x02, 0x01];
    /// Gift code cancellation.
    pub const GIFT_CODE_CANCELLATION: [u8; 2] = [0x02, 0x02];
    /// Destination with a payment request id.
    pub const DESTINATION_WITH_PAYMENT_REQUEST_ID: [u8; 2] = [0x02, 0x03];
    /// Destination with a payment intent id.
    pub const DESTINATION_WITH_PAYMENT_INTENT_ID: [u8; 2] = [0x02, 0x04];
}

/// A memo in the clear: type and data.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoPayload(pub [u8; MEMO_LEN]);

impl Default for MemoPayload {
    fn default() -> Self {
        Self([0; MEMO_LEN])
    }
}

impl fmt::Debug for MemoPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemoPayload(type {:02x}{:02x})", self.0[0], self.0[1])
    }
}

/// An encrypted memo as it sits in a TxOut.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptedMemo(pub [u8; MEMO_LEN]);

impl fmt::Debug for EncryptedMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedMemo(..)")
    }
}

fn apply_keystream(shared_secret: &RistrettoPublic, buf: &mut [u8; MEMO_LEN]) {
    let mut okm = Zeroizing::new([0u8; 48]);
    Hkdf::<Sha512>::new(Some(hash::domain::MEMO_OKM), shared_secret.as_bytes())
        .expand(b"", &mut okm[..])
        .expect("48 bytes is within HKDF-SHA512's limit");
    let mut cipher = ctr::Ctr64BE::<Aes256>::new(okm[..32].into(), okm[32..].into());
    cipher.apply_keystream(buf);
}

impl EncryptedMemo {
    /// Takes exactly 66 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MemoError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| MemoError::BadLength(bytes.len()))
    }

    /// Decrypts with the TxOut shared secret. Never fails: a wrong secret gives garbage.
    pub fn decrypt(&self, shared_secret: &RistrettoPublic) -> MemoPayload {
        let mut buf = self.0;
        apply_keystream(shared_secret, &mut buf);
        MemoPayload(buf)
    }
}

impl MemoPayload {
    /// A payload from its type and data.
    pub fn new(memo_type: [u8; 2], data: [u8; 64]) -> Self {
        let mut p = [0u8; MEMO_LEN];
        p[..2].copy_from_slice(&memo_type);
        p[2..].copy_from_slice(&data);
        Self(p)
    }

    /// Takes exactly 66 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MemoError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| MemoError::BadLength(bytes.len()))
    }

    /// The type bytes.
    pub fn memo_type(&self) -> [u8; 2] {
        [self.0[0], self.0[1]]
    }

    /// The 64 data bytes.
    pub fn data(&self) -> &[u8] {
        &self.0[2..]
    }

    /// Encrypts with the TxOut shared secret.
    pub fn encrypt(&self, shared_secret: &RistrettoPublic) -> EncryptedMemo {
        let mut buf = self.0;
        apply_keystream(shared_secret, &mut buf);
        EncryptedMemo(buf)
    }
}

/// What a sender signs authenticated memos with: the short hash of its address and the
/// spend private key of that subaddress.
pub struct SenderMemoCredential {
    address_hash: ShortAddressHash,
    subaddress_spend_private: RistrettoPrivate,
}

impl SenderMemoCredential {
    /// The credential of an account's default subaddress.
    pub fn from_account(account: &AccountKey) -> Self {
        Self::new(
            &account.default_subaddress(),
            account.subaddress_spend_private(fog_account::DEFAULT_SUBADDRESS_INDEX),
        )
    }

    /// The credential of a given address and its subaddress spend private key.
    pub fn new(address: &PublicAddress, subaddress_spend_private: RistrettoPrivate) -> Self {
        Self {
            address_hash: address.short_address_hash(),
            subaddress_spend_private,
        }
    }

    /// The sender's short address hash.
    pub fn address_hash(&self) -> &ShortAddressHash {
        &self.address_hash
    }
}

impl fmt::Debug for SenderMemoCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderMemoCredential")
            .field("address_hash", &self.address_hash)
            .finish_non_exhaustive()
    }
}

/// `HMAC-SHA512(key, "mc-memo-mac" || R || type || data[0..48])[0..16]`.
pub fn compute_category1_hmac(
    key: &[u8; 32],
    tx_out_public_key: &[u8; 32],
    memo_type: [u8; 2],
    data_first_48: &[u8],
) -> [u8; 16] {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(hash::domain::MEMO_MAC);
    mac.update(tx_out_public_key);
    mac.update(&memo_type);
    mac.update(data_first_48);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// An authenticated sender memo (types 0x0100, 0x0101 with a payment request id, 0x0102 with a
/// payment intent id).
pub fn authenticated_sender_memo(
    credential: &SenderMemoCredential,
    recipient_view_public: &RistrettoPublic,
    tx_out_public_key: &[u8; 32],
    id: AuthenticatedId,
) -> MemoPayload {
    let (memo_type, id_bytes) = match id {
        AuthenticatedId::None => (types::AUTHENTICATED_SENDER, None),
        AuthenticatedId::PaymentRequest(id) => (
            types::AUTHENTICATED_SENDER_WITH_PAYMENT_REQUEST_ID,
            Some(id.to_be_bytes()),
        ),
        AuthenticatedId::PaymentIntent(id) => (
            types::AUTHENTICATED_SENDER_WITH_PAYMENT_INTENT_ID,
            Some(id.to_be_bytes()),
        ),
    };
    let mut data = [0u8; 64];
    data[..16].copy_from_slice(&credential.address_hash.0);
    if let Some(b) = id_bytes {
        data[16..24].copy_from_slice(&b);
    }
    let key = credential
        .subaddress_spend_private
        .key_exchange(recipient_view_public);
    let mac = compute_category1_hmac(key.as_bytes(), tx_out_public_key, memo_type, &data[..48]);
    data[48..].copy_from_slice(&mac);
    MemoPayload::new(memo_type, data)
}

/// The id an authenticated sender memo carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthenticatedId {
    /// None (type 0x0100).
    None,
    /// A payment request id (type 0x0101).
    PaymentRequest(u64),
    /// A payment intent id (type 0x0102).
    PaymentIntent(u64),
}

/// Checks an authenticated sender memo as its recipient: the address hash must be the
/// claimed sender's and the HMAC, keyed by `c_r · D_s`, must match. Constant time in the
/// comparison results.
pub fn validate_authenticated_sender(
    payload: &MemoPayload,
    sender_address: &PublicAddress,
    receiving_subaddress_view_private: &RistrettoPrivate,
    tx_out_public_key: &[u8; 32],
) -> Choice {
    let memo_type = payload.memo_type();
    if memo_type[0] != 0x01 {
        return Choice::from(0);
    }
    let data = payload.data();
    let hash_ok = data[..16].ct_eq(&sender_address.short_address_hash().0);
    let key = receiving_subaddress_view_private.key_exchange(sender_address.spend_public_key());
    let mac = compute_category1_hmac(key.as_bytes(), tx_out_public_key, memo_type, &data[..48]);
    hash_ok & mac.ct_eq(&data[48..64])
}

/// A memo read from its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Memo {
    /// No memo.
    Unused,
    /// 64 opaque bytes for a burn.
    BurnRedemption([u8; 64]),
    /// Sent from a gift code.
    GiftCodeSender {
        /// Fee paid.
        fee: u64,
        /// UTF-8 note.
        note: String,
    },
    /// A defragmentation transaction.
    Defragmentation {
        /// Fee paid.
        fee: u64,
        /// Total outlay.
        total_outlay: u64,
        /// Defragmentation id.
        defrag_id: u64,
    },
    /// An authenticated sender memo (check it with [`validate_authenticated_sender`]).
    AuthenticatedSender {
        /// Claimed sender's short address hash.
        address_hash: ShortAddressHash,
        /// Payment request or intent id, if any.
        id: AuthenticatedId,
        /// The HMAC.
        hmac: [u8; 16],
    },
    /// A destination memo, on the sender's change.
    Destination {
        /// Recipient's short address hash.
        address_hash: ShortAddressHash,
        /// How many recipients.
        num_recipients: u8,
        /// Fee paid.
        fee: u64,
        /// Total outlay (value sent plus fee).
        total_outlay: u64,
        /// Payment request or intent id, if any.
        id: AuthenticatedId,
    },
    /// Funding of a gift code.
    GiftCodeFunding {
        /// First 4 bytes of the hashed gift TxOut public key.
        tx_out_public_key_hash: [u8; 4],
        /// Fee paid.
        fee: u64,
        /// UTF-8 note.
        note: String,
    },
    /// Cancellation of a gift code.
    GiftCodeCancellation {
        /// Global index of the gift TxOut.
        global_index: u64,
        /// Fee paid.
        fee: u64,
    },
    /// A type we do not know.
    Unknown([u8; 2]),
}

const MAX_FEE: u64 = (1 << 56) - 1;

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn fee7(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a[1..].copy_from_slice(&b[..7]);
    u64::from_be_bytes(a)
}

fn put_fee7(fee: u64, out: &mut [u8]) -> Result<(), MemoError> {
    if fee > MAX_FEE {
        return Err(MemoError::FeeTooLarge);
    }
    out[..7].copy_from_slice(&fee.to_be_bytes()[1..]);
    Ok(())
}

fn note(b: &[u8]) -> Result<String, MemoError> {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    core::str::from_utf8(&b[..end])
        .map(String::from)
        .map_err(|_| MemoError::WrongType)
}

fn put_note(text: &str, out: &mut [u8]) -> Result<(), MemoError> {
    let bytes = text.as_bytes();
    if bytes.len() > out.len() {
        return Err(MemoError::NoteTooLong);
    }
    out[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}

fn hash16(b: &[u8]) -> ShortAddressHash {
    let mut h = [0u8; 16];
    h.copy_from_slice(&b[..16]);
    ShortAddressHash(h)
}

impl Memo {
    /// Reads a payload. Fails only on a note that is not UTF-8.
    pub fn parse(payload: &MemoPayload) -> Result<Self, MemoError> {
        let d = payload.data();
        Ok(match payload.memo_type() {
            types::UNUSED => Self::Unused,
            types::BURN_REDEMPTION => {
                let mut b = [0u8; 64];
                b.copy_from_slice(d);
                Self::BurnRedemption(b)
            }
            types::GIFT_CODE_SENDER => Self::GiftCodeSender {
                fee: fee7(d),
                note: note(&d[7..])?,
            },
            types::DEFRAGMENTATION => Self::Defragmentation {
                fee: fee7(d),
                total_outlay: be_u64(&d[7..15]),
                defrag_id: be_u64(&d[15..23]),
            },
            t @ (types::AUTHENTICATED_SENDER
            | types::AUTHENTICATED_SENDER_WITH_PAYMENT_REQUEST_ID
            | types::AUTHENTICATED_SENDER_WITH_PAYMENT_INTENT_ID) => {
                let id = match t {
                    types::AUTHENTICATED_SENDER_WITH_PAYMENT_REQUEST_ID => {
                        AuthenticatedId::PaymentRequest(be_u64(&d[16..24]))
                    }
                    types::AUTHENTICATED_SENDER_WITH_PAYMENT_INTENT_ID => {
                        AuthenticatedId::PaymentIntent(be_u64(&d[16..24]))
                    }
                    _ => AuthenticatedId::None,
                };
                let mut hmac = [0u8; 16];
                hmac.copy_from_slice(&d[48..64]);
                Self::AuthenticatedSender {
                    address_hash: hash16(d),
                    id,
                    hmac,
                }
            }
            t @ (types::DESTINATION
            | types::DESTINATION_WITH_PAYMENT_REQUEST_ID
            | types::DESTINATION_WITH_PAYMENT_INTENT_ID) => Self::Destination {
                address_hash: hash16(d),
                num_recipients: d[16],
                fee: fee7(&d[17..24]),
                total_outlay: be_u64(&d[24..32]),
                id: match t {
                    types::DESTINATION_WITH_PAYMENT_REQUEST_ID => {
                        AuthenticatedId::PaymentRequest(be_u64(&d[32..40]))
                    }
                    types::DESTINATION_WITH_PAYMENT_INTENT_ID => {
                        AuthenticatedId::PaymentIntent(be_u64(&d[32..40]))
                    }
                    _ => AuthenticatedId::None,
                },
            },
            types::GIFT_CODE_FUNDING => {
                let mut h = [0u8; 4];
                h.copy_from_slice(&d[..4]);
                Self::GiftCodeFunding {
                    tx_out_public_key_hash: h,
                    fee: fee7(&d[4..11]),
                    note: note(&d[11..])?,
                }
            }
            types::GIFT_CODE_CANCELLATION => Self::GiftCodeCancellation {
                global_index: be_u64(&d[..8]),
                fee: fee7(&d[8..15]),
            },
            other => Self::Unknown(other),
        })
    }

    /// Writes a memo that needs no keys (every type but the authenticated sender memos, which
    /// [`authenticated_sender_memo`] makes, and unknown types).
    pub fn to_payload(&self) -> Result<MemoPayload, MemoError> {
        let mut d = [0u8; 64];
        let t = match self {
            Self::Unused => types::UNUSED,
            Self::BurnRedemption(b) => {
                d.copy_from_slice(b);
                types::BURN_REDEMPTION
            }
            Self::GiftCodeSender { fee, note } => {
                put_fee7(*fee, &mut d)?;
                put_note(note, &mut d[7..])?;
                types::GIFT_CODE_SENDER
            }
            Self::Defragmentation {
                fee,
                total_outlay,
                defrag_id,
            } => {
                put_fee7(*fee, &mut d)?;
                d[7..15].copy_from_slice(&total_outlay.to_be_bytes());
                d[15..23].copy_from_slice(&defrag_id.to_be_bytes());
                types::DEFRAGMENTATION
            }
            Self::Destination {
                address_hash,
                num_recipients,
                fee,
                total_outlay,
                id,
            } => {
                d[..16].copy_from_slice(&address_hash.0);
                d[16] = *num_recipients;
                put_fee7(*fee, &mut d[17..24])?;
                d[24..32].copy_from_slice(&total_outlay.to_be_bytes());
                match id {
                    AuthenticatedId::None => types::DESTINATION,
                    AuthenticatedId::PaymentRequest(id) => {
                        d[32..40].copy_from_slice(&id.to_be_bytes());
                        types::DESTINATION_WITH_PAYMENT_REQUEST_ID
                    }
                    AuthenticatedId::PaymentIntent(id) => {
                        d[32..40].copy_from_slice(&id.to_be_bytes());
                        types::DESTINATION_WITH_PAYMENT_INTENT_ID
                    }
                }
            }
            Self::GiftCodeFunding {
                tx_out_public_key_hash,
                fee,
                note,
            } => {
                d[..4].copy_from_slice(tx_out_public_key_hash);
                put_fee7(*fee, &mut d[4..11])?;
                put_note(note, &mut d[11..])?;
                types::GIFT_CODE_FUNDING
            }
            Self::GiftCodeCancellation { global_index, fee } => {
                d[..8].copy_from_slice(&global_index.to_be_bytes());
                put_fee7(*fee, &mut d[8..15])?;
                types::GIFT_CODE_CANCELLATION
            }
            Self::AuthenticatedSender { .. } | Self::Unknown(_) => {
                return Err(MemoError::WrongType)
            }
        };
        Ok(MemoPayload::new(t, d))
    }

    /// MobileCoin's `DestinationMemo::new`: one recipient.
    pub fn destination(address_hash: ShortAddressHash, total_outlay: u64, fee: u64) -> Self {
        Self::Destination {
            address_hash,
            num_recipients: 1,
            fee,
            total_outlay,
            id: AuthenticatedId::None,
        }
    }
}

/// The first 4 bytes of `BLAKE2b-512("mc-gift-funding-tx-pub-key" || R)`, as gift code funding
/// memos carry.
pub fn gift_funding_hash(gift_tx_out_public_key: &[u8; 32]) -> [u8; 4] {
    let h = hash::blake2b512(&[
        hash::domain::GIFT_FUNDING_TX_PUB_KEY,
        gift_tx_out_public_key,
    ]);
    [h[0], h[1], h[2], h[3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn encryption_round_trips() {
        let s = RistrettoPrivate::from_bytes_mod_order(&[5; 32]).public_key();
        let p = MemoPayload::new(types::DESTINATION, [9; 64]);
        let e = p.encrypt(&s);
        assert_ne!(e.0, p.0);
        assert_eq!(e.decrypt(&s), p);
        assert!(matches!(
            EncryptedMemo::from_bytes(&[0; 65]),
            Err(MemoError::BadLength(65))
        ));
    }

    #[test]
    fn typed_memos_round_trip() {
        let memos = [
            Memo::Unused,
            Memo::BurnRedemption([3; 64]),
            Memo::GiftCodeSender {
                fee: 400,
                note: "thanks".into(),
            },
            Memo::Defragmentation {
                fee: 1,
                total_outlay: 2,
                defrag_id: 3,
            },
            Memo::destination(ShortAddressHash([4; 16]), 100, 7),
            Memo::Destination {
                address_hash: ShortAddressHash([4; 16]),
                num_recipients: 2,
                fee: 7,
                total_outlay: 100,
                id: AuthenticatedId::PaymentIntent(99),
            },
            Memo::GiftCodeFunding {
                tx_out_public_key_hash: gift_funding_hash(&[1; 32]),
                fee: 5,
                note: "for you".into(),
            },
            Memo::GiftCodeCancellation {
                global_index: 77,
                fee: 8,
            },
        ];
        for m in memos {
            assert_eq!(Memo::parse(&m.to_payload().unwrap()).unwrap(), m);
        }
        assert_eq!(
            Memo::GiftCodeCancellation {
                global_index: 0,
                fee: 1 << 56
            }
            .to_payload()
            .unwrap_err(),
            MemoError::FeeTooLarge
        );
    }

    #[test]
    fn authenticated_sender_memo_validates_for_its_sender_only() {
        let mut rng = ChaCha20Rng::from_seed([31; 32]);
        let sender = AccountKey::random(&mut rng);
        let recipient = AccountKey::random(&mut rng);
        let stranger = AccountKey::random(&mut rng);
        let r = RistrettoPrivate::random(&mut rng).public_key().to_bytes();
        let to = recipient.subaddress(4);
        let payload = authenticated_sender_memo(
            &SenderMemoCredential::from_account(&sender),
            to.view_public_key(),
            &r,
            AuthenticatedId::PaymentRequest(23),
        );
        let c = recipient.subaddress_view_private(4);
        let from = sender.default_subaddress();
        assert!(bool::from(validate_authenticated_sender(
            &payload, &from, &c, &r
        )));
        assert!(!bool::from(validate_authenticated_sender(
            &payload,
            &stranger.default_subaddress(),
            &c,
            &r
        )));
        let other_r = [9u8; 32];
        assert!(!bool::from(validate_authenticated_sender(
            &payload, &from, &c, &other_r
        )));
        assert!(matches!(
            Memo::parse(&payload).unwrap(),
            Memo::AuthenticatedSender {
                id: AuthenticatedId::PaymentRequest(23),
                ..
            }
        ));
    }
}
