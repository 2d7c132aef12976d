//! The versioned crypto box: public-key authenticated encryption to a Ristretto key.
//!
//! Byte for byte MobileCoin's `VersionedCryptoBox` version (1, 0),
//! "Ristretto + HKDF-BLAKE2b-512 + AES-256-GCM":
//!
//! ```text
//! r random, R = r·G, ss = enc(r·A)
//! okm = HKDF-BLAKE2b-512(salt "dei-salty-box", ikm ss, info "aead-key-iv", 44 bytes)
//! key = okm[0..32], nonce = okm[32..44]
//! cryptogram = AES-256-GCM(key, nonce, aad = "", m) body || enc(R) || tag(16) || 0x01 || 0x00
//! ```
//!
//! The 50-byte footer follows the body; there is no padding and no length field.
//!
//! Trust side: both. Decryption checks, in this order and with an error for each, the length,
//! the major version byte, the minor version byte and the ephemeral key encoding; all of these
//! are functions of the public cryptogram. The tag check is constant time and the body is
//! always decrypted, so [`decrypt_ct`] and [`decrypt_into_ct`] take the same time and touch
//! the same memory whether the tag matched or not; they report the result as a
//! [`subtle::Choice`] (this is what ingest needs for fog hints). [`decrypt`] is the convenience
//! form that turns a failed tag into [`CryptoBoxError::MacFailed`].

use alloc::vec::Vec;

use aes::{
    cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher},
    Aes256,
};
use blake2::Blake2b512;
use curve25519_dalek::{
    constants::RISTRETTO_BASEPOINT_TABLE, ristretto::RistrettoPoint, scalar::Scalar,
};
use ghash::{universal_hash::UniversalHash, GHash};
use hkdf::SimpleHkdf;
use rand_core::{CryptoRng, RngCore};
use subtle::{Choice, ConstantTimeEq};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::{KeyError, RistrettoPrivate, RistrettoPublic};

/// Bytes the box adds to a plaintext: ephemeral key (32), GCM tag (16), two version bytes.
pub const FOOTER_LEN: usize = 50;
/// The only major version ("magic") byte.
pub const MAJOR_VERSION: u8 = 1;
/// The only minor version (algorithm) byte.
pub const MINOR_VERSION: u8 = 0;

const SALT: &[u8] = b"dei-salty-box";
const INFO: &[u8] = b"aead-key-iv";
const TAG_LEN: usize = 16;

/// Why a cryptogram could not be opened, in the order the checks run.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Error)]
#[non_exhaustive]
pub enum CryptoBoxError {
    /// Shorter than the 50-byte footer.
    #[error("cryptogram too short: {found} bytes, the footer alone is {min}")]
    TooShort {
        /// Bytes given.
        found: usize,
        /// Minimum length.
        min: usize,
    },
    /// The major version byte is not 1.
    #[error("wrong magic (major version) byte")]
    WrongMagicBytes,
    /// The minor version byte names an algorithm we do not know.
    #[error("unknown crypto box algorithm {0}")]
    UnknownAlgorithm(u8),
    /// The ephemeral public key is not a valid point.
    #[error("invalid ephemeral key: {0}")]
    Key(KeyError),
    /// The authentication tag did not match (only from [`decrypt`]).
    #[error("authentication failed")]
    MacFailed,
    /// A batch call was given different numbers of keys and messages.
    #[error("batch of {keys} keys for {messages} messages")]
    BatchLength {
        /// Keys given.
        keys: usize,
        /// Messages given.
        messages: usize,
    },
    /// An output buffer of the wrong length was passed.
    #[error("output buffer is {found} bytes, {expected} needed")]
    OutputLength {
        /// Bytes given.
        found: usize,
        /// Bytes needed.
        expected: usize,
    },
}

struct AeadKey {
    key: Zeroizing<[u8; 32]>,
    nonce: Zeroizing<[u8; 12]>,
}

fn derive_key(shared_secret: &[u8; 32]) -> AeadKey {
    let mut okm = Zeroizing::new([0u8; 44]);
    SimpleHkdf::<Blake2b512>::new(Some(SALT), shared_secret)
        .expand(INFO, &mut okm[..])
        .expect("44 bytes is far below HKDF's limit of 255 hash lengths");
    let mut key = Zeroizing::new([0u8; 32]);
    let mut nonce = Zeroizing::new([0u8; 12]);
    key.copy_from_slice(&okm[..32]);
    nonce.copy_from_slice(&okm[32..]);
    AeadKey { key, nonce }
}

/// AES-256-GCM with empty associated data, built from its parts so that decryption can
/// compute the tag and the plaintext unconditionally.
struct Gcm {
    cipher: Aes256,
    ghash: GHash,
    j0: [u8; 16],
}

impl Drop for Gcm {
    fn drop(&mut self) {
        // J0 is derived from the secret nonce.
        self.j0.zeroize();
    }
}

impl Gcm {
    fn new(k: &AeadKey) -> Self {
        let cipher = Aes256::new(k.key[..].into());
        let mut h = [0u8; 16];
        cipher.encrypt_block((&mut h).into());
        let ghash = GHash::new(&h.into());
        h.zeroize();
        let mut j0 = [0u8; 16];
        j0[..12].copy_from_slice(&k.nonce[..]);
        j0[15] = 1;
        Self { cipher, ghash, j0 }
    }

    /// CTR mode from inc32(J0), in place.
    fn apply_keystream(&self, key: &AeadKey, buf: &mut [u8]) {
        let mut iv = self.j0;
        iv[15] = 2;
        let mut ctr = ctr::Ctr32BE::<Aes256>::new(key.key[..].into(), (&iv).into());
        ctr.apply_keystream(buf);
    }

    /// The tag over a ciphertext.
    fn tag(&self, ciphertext: &[u8]) -> [u8; TAG_LEN] {
        let mut ghash = self.ghash.clone();
        ghash.update_padded(ciphertext);
        let mut lengths = [0u8; 16];
        lengths[8..].copy_from_slice(&((ciphertext.len() as u64) * 8).to_be_bytes());
        ghash.update(&[lengths.into()]);
        let s: [u8; 16] = ghash.finalize().into();
        let mut ej0 = self.j0;
        self.cipher.encrypt_block((&mut ej0).into());
        let mut tag = [0u8; TAG_LEN];
        for i in 0..TAG_LEN {
            tag[i] = s[i] ^ ej0[i];
        }
        tag
    }
}

/// Encrypts `plaintext` to `recipient` with a fresh ephemeral key from `rng`.
pub fn encrypt<R: RngCore + CryptoRng>(
    rng: &mut R,
    recipient: &RistrettoPublic,
    plaintext: &[u8],
) -> Vec<u8> {
    let mut out = alloc::vec![0u8; plaintext.len() + FOOTER_LEN];
    encrypt_with_ephemeral(
        RistrettoPrivate::random(rng),
        recipient,
        plaintext,
        &mut out,
    )
    .expect("the buffer was sized for the plaintext");
    out
}

/// Encrypts into `out`, which must be exactly `plaintext.len() + 50` bytes (for fixed-size
/// fields such as the 84-byte fog hint).
pub fn encrypt_into<R: RngCore + CryptoRng>(
    rng: &mut R,
    recipient: &RistrettoPublic,
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoBoxError> {
    encrypt_with_ephemeral(RistrettoPrivate::random(rng), recipient, plaintext, out)
}

/// Encrypts with a caller-chosen ephemeral key, which is consumed. Reusing an ephemeral key
/// for two messages to one recipient reuses the GCM nonce: only tests and vector generators
/// should call this directly.
pub fn encrypt_with_ephemeral(
    ephemeral: RistrettoPrivate,
    recipient: &RistrettoPublic,
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoBoxError> {
    let expected = plaintext.len() + FOOTER_LEN;
    if out.len() != expected {
        return Err(CryptoBoxError::OutputLength {
            found: out.len(),
            expected,
        });
    }
    let ss = ephemeral.key_exchange(recipient);
    seal_with(
        ss.as_bytes(),
        ephemeral.public_key().as_bytes(),
        plaintext,
        out,
    );
    Ok(())
}

/// The body and footer of a cryptogram under the shared secret `ss` with the ephemeral public
/// key `ephemeral_public`, into `out` (exactly `plaintext.len() + FOOTER_LEN` bytes).
fn seal_with(ss: &[u8; 32], ephemeral_public: &[u8; 32], plaintext: &[u8], out: &mut [u8]) {
    let key = derive_key(ss);
    let gcm = Gcm::new(&key);
    let (body, footer) = out.split_at_mut(plaintext.len());
    body.copy_from_slice(plaintext);
    gcm.apply_keystream(&key, body);
    let tag = gcm.tag(body);
    footer[..32].copy_from_slice(ephemeral_public);
    footer[32..48].copy_from_slice(&tag);
    footer[48] = MAJOR_VERSION;
    footer[49] = MINOR_VERSION;
}

/// Encrypts `plaintexts[i]` to `recipients[i]` for every `i`, each with its own fresh
/// ephemeral key from `rng`: cryptograms of the same format as [`encrypt`]'s, but the point
/// encodings of the whole batch (two per message: the ephemeral public key and the shared
/// secret) share one field inversion. For each message a random scalar `t` is drawn and the
/// ephemeral key is `r = 2t` (uniform as `t` is), so that the batched double-and-encode gives
/// `enc(r·G)` and `enc(r·A)` directly. Constant time in the keys and the plaintexts' bytes;
/// the time depends on the batch's length and the plaintexts' lengths.
///
/// [`CryptoBoxError::BatchLength`] if the two slices differ in length.
pub fn encrypt_batch<R, P>(
    rng: &mut R,
    recipients: &[RistrettoPoint],
    plaintexts: &[P],
) -> Result<Vec<Vec<u8>>, CryptoBoxError>
where
    R: RngCore + CryptoRng,
    P: AsRef<[u8]>,
{
    if recipients.len() != plaintexts.len() {
        return Err(CryptoBoxError::BatchLength {
            keys: recipients.len(),
            messages: plaintexts.len(),
        });
    }
    let n = recipients.len();
    // Points 2i and 2i + 1: t·G and t·A for message i.
    let mut points: Vec<RistrettoPoint> = Vec::with_capacity(2 * n);
    for a in recipients {
        let mut t = Scalar::random(rng);
        points.push(&t * RISTRETTO_BASEPOINT_TABLE);
        points.push(t * a);
        t.zeroize();
    }
    let mut encoded = RistrettoPoint::double_and_compress_batch(&points);
    points.zeroize();
    let out = plaintexts
        .iter()
        .zip(encoded.chunks_exact(2))
        .map(|(m, pair)| {
            let m = m.as_ref();
            let mut out = alloc::vec![0u8; m.len() + FOOTER_LEN];
            seal_with(pair[1].as_bytes(), pair[0].as_bytes(), m, &mut out);
            out
        })
        .collect();
    encoded.zeroize();
    Ok(out)
}

/// What [`decrypt_batch_ct`] gives for one cryptogram whose public parts parse: whether its
/// tag matched, and the body's decryption (garbage when it did not).
pub type Opened = (Choice, Zeroizing<Vec<u8>>);

/// Opens many cryptograms to one private key: for each, what [`decrypt_into_ct`] gives
/// (whether the tag matched, and the body's decryption, garbage when it did not), or the
/// error of its public parts. The shared secrets of the cryptograms whose public parts parse
/// share one field inversion for their encodings. Constant time with respect to the tags and
/// the key; the time depends on the public parts (lengths, versions, ephemeral keys).
pub fn decrypt_batch_ct<C: AsRef<[u8]>>(
    recipient: &RistrettoPrivate,
    cryptograms: &[C],
) -> Vec<Result<Opened, CryptoBoxError>> {
    let parsed: Vec<_> = cryptograms.iter().map(|c| parse(c.as_ref())).collect();
    let ephemerals: Vec<RistrettoPoint> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().map(|(_, e, _)| *e.as_point()))
        .collect();
    let secrets = recipient.key_exchange_batch(&ephemerals);
    let mut secrets = secrets.iter();
    parsed
        .into_iter()
        .map(|p| {
            let (body, _, tag) = p?;
            let ss = secrets
                .next()
                .expect("one shared secret per cryptogram whose public parts parsed");
            let key = derive_key(ss.as_bytes());
            let gcm = Gcm::new(&key);
            let mut out = Zeroizing::new(body.to_vec());
            gcm.apply_keystream(&key, &mut out);
            let expected_tag = gcm.tag(body);
            Ok((expected_tag.ct_eq(tag), out))
        })
        .collect()
}

/// Checks the public parts of a cryptogram and returns (body, ephemeral key, tag).
fn parse(cryptogram: &[u8]) -> Result<(&[u8], RistrettoPublic, &[u8]), CryptoBoxError> {
    if cryptogram.len() < FOOTER_LEN {
        return Err(CryptoBoxError::TooShort {
            found: cryptogram.len(),
            min: FOOTER_LEN,
        });
    }
    let (body, footer) = cryptogram.split_at(cryptogram.len() - FOOTER_LEN);
    if footer[48] != MAJOR_VERSION {
        return Err(CryptoBoxError::WrongMagicBytes);
    }
    if footer[49] != MINOR_VERSION {
        return Err(CryptoBoxError::UnknownAlgorithm(footer[49]));
    }
    let ephemeral = RistrettoPublic::from_bytes(&footer[..32]).map_err(CryptoBoxError::Key)?;
    Ok((body, ephemeral, &footer[32..48]))
}

/// Decrypts into `out` (exactly `cryptogram.len() - 50` bytes) in constant time with respect
/// to the tag check. Returns whether the tag matched; when it did not, `out` holds garbage that
/// the caller must discard.
pub fn decrypt_into_ct(
    recipient: &RistrettoPrivate,
    cryptogram: &[u8],
    out: &mut [u8],
) -> Result<Choice, CryptoBoxError> {
    let (body, ephemeral, tag) = parse(cryptogram)?;
    if out.len() != body.len() {
        return Err(CryptoBoxError::OutputLength {
            found: out.len(),
            expected: body.len(),
        });
    }
    let ss = recipient.key_exchange(&ephemeral);
    let key = derive_key(ss.as_bytes());
    let gcm = Gcm::new(&key);
    out.copy_from_slice(body);
    gcm.apply_keystream(&key, out);
    let expected_tag = gcm.tag(body);
    Ok(expected_tag.ct_eq(tag))
}

/// Decrypts in constant time with respect to the tag check; see [`decrypt_into_ct`].
pub fn decrypt_ct(
    recipient: &RistrettoPrivate,
    cryptogram: &[u8],
) -> Result<(Choice, Zeroizing<Vec<u8>>), CryptoBoxError> {
    let len = cryptogram.len().saturating_sub(FOOTER_LEN);
    let mut out = Zeroizing::new(alloc::vec![0u8; len]);
    let ok = decrypt_into_ct(recipient, cryptogram, &mut out)?;
    Ok((ok, out))
}

/// Decrypts, turning a failed tag check into [`CryptoBoxError::MacFailed`].
pub fn decrypt(
    recipient: &RistrettoPrivate,
    cryptogram: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoBoxError> {
    let (ok, out) = decrypt_ct(recipient, cryptogram)?;
    if bool::from(ok) {
        Ok(out)
    } else {
        Err(CryptoBoxError::MacFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::{aead::AeadInPlace, Aes256Gcm};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn matches_the_aes_gcm_crate() {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let recipient = RistrettoPrivate::random(&mut rng);
        for len in [0usize, 1, 15, 16, 17, 34, 100, 237] {
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let eph = RistrettoPrivate::random(&mut rng);
            let eph_pub = eph.public_key();
            let mut ours = alloc::vec![0u8; len + FOOTER_LEN];
            encrypt_with_ephemeral(eph, &recipient.public_key(), &pt, &mut ours).unwrap();
            // Independent encryption with the aes-gcm crate.
            let ss = recipient.key_exchange(&eph_pub);
            let k = derive_key(ss.as_bytes());
            let cipher = Aes256Gcm::new(k.key[..].into());
            let mut buf = pt.clone();
            let tag = cipher
                .encrypt_in_place_detached(k.nonce[..].into(), b"", &mut buf)
                .unwrap();
            assert_eq!(&ours[..len], &buf[..]);
            assert_eq!(&ours[len + 32..len + 48], &tag[..]);
            assert_eq!(&*decrypt(&recipient, &ours).unwrap(), &pt[..]);
        }
    }

    #[test]
    fn batched_boxes_open_one_at_a_time_and_batched_opening_agrees() {
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        let keys: Vec<RistrettoPrivate> =
            (0..6).map(|_| RistrettoPrivate::random(&mut rng)).collect();
        let points: Vec<RistrettoPoint> = keys.iter().map(|k| *k.public_key().as_point()).collect();
        let messages: Vec<Vec<u8>> = (0..6).map(|i| alloc::vec![i as u8; 10 * i]).collect();
        let boxes = encrypt_batch(&mut rng, &points, &messages).unwrap();
        assert_eq!(boxes.len(), 6);
        for ((k, m), b) in keys.iter().zip(&messages).zip(&boxes) {
            assert_eq!(b.len(), m.len() + FOOTER_LEN);
            assert_eq!(&*decrypt(k, b).unwrap(), &m[..]);
        }
        // Every box to key 0, with one spoiled footer and one box to another key.
        let to_zero: Vec<Vec<u8>> = messages
            .iter()
            .map(|m| encrypt(&mut rng, &keys[0].public_key(), m))
            .collect();
        let mut mixed = to_zero.clone();
        mixed[2][messages[2].len() + 48] = 9;
        mixed[3] = boxes[3].clone();
        let opened = decrypt_batch_ct(&keys[0], &mixed);
        assert_eq!(opened.len(), 6);
        for (i, (got, c)) in opened.iter().zip(&mixed).enumerate() {
            let mut one = alloc::vec![0u8; c.len().saturating_sub(FOOTER_LEN)];
            match (got, decrypt_into_ct(&keys[0], c, &mut one)) {
                (Ok((ok, body)), Ok(ok1)) => {
                    assert_eq!(bool::from(*ok), bool::from(ok1), "box {i}");
                    assert_eq!(&body[..], &one[..], "box {i}");
                    assert_eq!(bool::from(*ok), i != 3, "box {i}");
                    if i != 3 {
                        assert_eq!(&body[..], &messages[i][..]);
                    }
                }
                (Err(e), Err(e1)) => {
                    assert_eq!(*e, e1);
                    assert_eq!(i, 2);
                }
                (a, b) => panic!("box {i}: batched {a:?}, alone {b:?}"),
            }
        }
        assert_eq!(
            encrypt_batch(&mut rng, &points[..2], &messages[..3]),
            Err(CryptoBoxError::BatchLength {
                keys: 2,
                messages: 3
            })
        );
        assert!(encrypt_batch::<_, Vec<u8>>(&mut rng, &[], &[])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn errors_come_in_order() {
        let mut rng = ChaCha20Rng::from_seed([4; 32]);
        let k = RistrettoPrivate::random(&mut rng);
        let ct = encrypt(&mut rng, &k.public_key(), b"hello");
        assert_eq!(
            decrypt(&k, &ct[..49]).unwrap_err(),
            CryptoBoxError::TooShort { found: 49, min: 50 }
        );
        let mut bad = ct.clone();
        let n = bad.len();
        bad[n - 2] = 2;
        bad[n - 1] = 7;
        assert_eq!(
            decrypt(&k, &bad).unwrap_err(),
            CryptoBoxError::WrongMagicBytes
        );
        let mut bad = ct.clone();
        bad[n - 1] = 7;
        assert_eq!(
            decrypt(&k, &bad).unwrap_err(),
            CryptoBoxError::UnknownAlgorithm(7)
        );
        let mut bad = ct.clone();
        bad[n - 50 + 31] |= 0x80;
        assert_eq!(
            decrypt(&k, &bad).unwrap_err(),
            CryptoBoxError::Key(KeyError::InvalidPublicKey)
        );
        let other = RistrettoPrivate::random(&mut rng);
        assert_eq!(decrypt(&other, &ct).unwrap_err(), CryptoBoxError::MacFailed);
        let mut out = [0u8; 4];
        assert!(matches!(
            decrypt_into_ct(&k, &ct, &mut out),
            Err(CryptoBoxError::OutputLength {
                found: 4,
                expected: 5
            })
        ));
    }

    proptest! {
        #[test]
        fn round_trip_and_any_flip_is_rejected(
            seed in any::<[u8; 32]>(),
            pt in proptest::collection::vec(any::<u8>(), 0..300),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut rng = ChaCha20Rng::from_seed(seed);
            let k = RistrettoPrivate::random(&mut rng);
            let ct = encrypt(&mut rng, &k.public_key(), &pt);
            prop_assert_eq!(ct.len(), pt.len() + FOOTER_LEN);
            prop_assert_eq!(&*decrypt(&k, &ct).unwrap(), &pt[..]);
            let mut bad = ct.clone();
            let i = flip.index(bad.len());
            bad[i] ^= 1 << bit;
            prop_assert!(decrypt(&k, &bad).is_err());
        }
    }
}
