//! Ristretto keys, key exchange and deterministic schnorrkel signatures.
//!
//! Byte formats follow MobileCoin's `mc-crypto-keys`: a private key is a canonical 32-byte
//! little-endian scalar (never reduced, never clamped), a public key is a 32-byte compressed
//! Ristretto point, a signature is schnorrkel's 64 bytes (`R || s`, with the marker bit 0x80 of
//! byte 63 set).
//!
//! Trust side: both. Private keys are zeroized on drop, print only their public half in
//! `Debug`, cannot be cloned by accident and compare in constant time. Scalar multiplication is
//! constant time (curve25519-dalek); parsing runs in time that depends only on the length.

use core::fmt;

use curve25519_dalek::{
    constants::RISTRETTO_BASEPOINT_TABLE,
    ristretto::{CompressedRistretto, RistrettoPoint},
    scalar::Scalar,
};
use merlin::Transcript;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{KeyError, SignatureError};

/// Length in bytes of every encoded key and shared secret here.
pub const KEY_LEN: usize = 32;
/// Length in bytes of a schnorrkel signature.
pub const SIGNATURE_LEN: usize = 64;

/// 1/2 modulo the group order, `(ℓ + 1) / 2`, little-endian.
const HALF: [u8; 32] = [
    247, 233, 122, 46, 141, 49, 9, 44, 107, 206, 123, 81, 239, 124, 111, 10, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 8,
];

/// The scalar 1/2: multiplying by it before a batched double-and-encode gives the encoding of
/// the product itself.
pub(crate) fn half_scalar() -> Scalar {
    Scalar::from_bytes_mod_order(HALF)
}

fn exact32(bytes: &[u8]) -> Result<[u8; 32], KeyError> {
    bytes.try_into().map_err(|_| KeyError::LengthMismatch {
        found: bytes.len(),
        expected: KEY_LEN,
    })
}

/// A Ristretto private key: a scalar modulo the group order.
///
/// No `Clone`, `Copy` or derived `Debug`: copying a secret is explicit
/// ([`RistrettoPrivate::to_bytes`]) and `Debug` shows only the public key.
pub struct RistrettoPrivate(Scalar);

impl Drop for RistrettoPrivate {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}
impl ZeroizeOnDrop for RistrettoPrivate {}

impl RistrettoPrivate {
    /// Parses a canonical 32-byte little-endian scalar. Non-canonical bytes (an integer at or
    /// above the group order) are refused, as MobileCoin does; nothing is reduced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let mut arr = exact32(bytes)?;
        let scalar: Option<Scalar> = Scalar::from_canonical_bytes(arr).into();
        arr.zeroize();
        scalar.map(Self).ok_or(KeyError::InvalidPrivateKey)
    }

    /// Reduces 32 bytes modulo the group order. Only for turning a hash into a key.
    pub fn from_bytes_mod_order(bytes: &[u8; 32]) -> Self {
        Self(Scalar::from_bytes_mod_order(*bytes))
    }

    /// Wraps a scalar.
    pub fn from_scalar(scalar: Scalar) -> Self {
        Self(scalar)
    }

    /// A uniformly random key.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self(Scalar::random(rng))
    }

    /// The scalar, for arithmetic by other trusted code (subaddress and one-time keys).
    pub fn as_scalar(&self) -> &Scalar {
        &self.0
    }

    /// The canonical 32-byte encoding, zeroized when dropped.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// The public key `x·G`.
    pub fn public_key(&self) -> RistrettoPublic {
        RistrettoPublic::from_point(&self.0 * RISTRETTO_BASEPOINT_TABLE)
    }

    /// Diffie-Hellman: the compressed point `x·P`, as MobileCoin's Ristretto key exchange (no
    /// hashing).
    pub fn key_exchange(&self, public: &RistrettoPublic) -> SharedSecret {
        SharedSecret((self.0 * public.point).compress().to_bytes())
    }

    /// [`Self::key_exchange`] with many points at once: the same bytes as `key_exchange` for
    /// each point, but the encodings of the whole batch share one field inversion (the
    /// scalar is halved and curve25519-dalek's batched double-and-encode undoes the halving),
    /// which saves most of an encoding's cost per point. Constant time in the scalar and the
    /// points; the time depends only on the batch's length.
    pub fn key_exchange_batch(&self, points: &[RistrettoPoint]) -> alloc::vec::Vec<SharedSecret> {
        let mut half = self.0 * half_scalar();
        let mut products: alloc::vec::Vec<RistrettoPoint> =
            points.iter().map(|p| half * p).collect();
        half.zeroize();
        let mut encoded = RistrettoPoint::double_and_compress_batch(&products);
        products.zeroize();
        let out = encoded.iter().map(|c| SharedSecret(c.to_bytes())).collect();
        encoded.zeroize();
        out
    }

    /// Deterministic schnorrkel signature, byte for byte MobileCoin's `sign_schnorrkel`.
    ///
    /// The schnorrkel nonce and the witness RNG are derived from a Merlin transcript over
    /// (context, private key, message), so the same inputs always give the same 64 bytes.
    pub fn sign_schnorrkel(&self, context: &[u8], message: &[u8]) -> RistrettoSignature {
        let mut key_bytes = self.to_bytes();
        let mut nonce = [0u8; 32];
        {
            let mut t = Transcript::new(b"SigningNonce");
            t.append_message(b"context", context);
            t.append_message(b"private", &key_bytes[..]);
            t.append_message(b"message", message);
            t.challenge_bytes(b"nonce", &mut nonce);
        }
        let mut secret_bytes = zeroize::Zeroizing::new([0u8; 64]);
        secret_bytes[..32].copy_from_slice(&key_bytes[..]);
        secret_bytes[32..].copy_from_slice(&nonce);
        key_bytes.zeroize();
        let secret = schnorrkel::SecretKey::from_bytes(&secret_bytes[..])
            .expect("a canonical scalar and 32 nonce bytes always form a schnorrkel key");
        let public = secret.to_public();
        let rng = rand_hc::Hc128Rng::from_seed(nonce);
        nonce.zeroize();
        let transcript = schnorrkel::context::attach_rng(
            schnorrkel::signing_context(context).bytes(message),
            rng,
        );
        RistrettoSignature(secret.sign(transcript, &public).to_bytes())
    }
}

impl ConstantTimeEq for RistrettoPrivate {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for RistrettoPrivate {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}
impl Eq for RistrettoPrivate {}

impl fmt::Debug for RistrettoPrivate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RistrettoPrivate")
            .field("public", &self.public_key())
            .finish()
    }
}

/// A Ristretto public key: a valid group element, kept with its compressed encoding.
#[derive(Clone, Copy)]
pub struct RistrettoPublic {
    point: RistrettoPoint,
    compressed: CompressedRistretto,
}

impl RistrettoPublic {
    /// Parses and decompresses 32 bytes. Fails on a wrong length or an invalid encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let compressed = CompressedRistretto(exact32(bytes)?);
        let point = compressed.decompress().ok_or(KeyError::InvalidPublicKey)?;
        Ok(Self { point, compressed })
    }

    /// Wraps a point.
    pub fn from_point(point: RistrettoPoint) -> Self {
        Self {
            point,
            compressed: point.compress(),
        }
    }

    /// The group element.
    pub fn as_point(&self) -> &RistrettoPoint {
        &self.point
    }

    /// The 32-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.compressed.to_bytes()
    }

    /// The 32-byte compressed encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.compressed.as_bytes()
    }

    /// Verifies a schnorrkel signature made by [`RistrettoPrivate::sign_schnorrkel`] (or any
    /// schnorrkel 0.11 signer) over `message` in `context`.
    pub fn verify_schnorrkel(
        &self,
        context: &[u8],
        message: &[u8],
        signature: &RistrettoSignature,
    ) -> Result<(), SignatureError> {
        let sig = schnorrkel::Signature::from_bytes(&signature.0)
            .map_err(|_| SignatureError::Malformed)?;
        let public = schnorrkel::PublicKey::from_point(self.point);
        public
            .verify(schnorrkel::signing_context(context).bytes(message), &sig)
            .map_err(|_| SignatureError::Mismatch)
    }
}

impl PartialEq for RistrettoPublic {
    fn eq(&self, other: &Self) -> bool {
        self.compressed == other.compressed
    }
}
impl Eq for RistrettoPublic {}

impl PartialOrd for RistrettoPublic {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RistrettoPublic {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.compressed.as_bytes().cmp(other.compressed.as_bytes())
    }
}
impl core::hash::Hash for RistrettoPublic {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.compressed.as_bytes().hash(state);
    }
}

impl fmt::Debug for RistrettoPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RistrettoPublic(")?;
        write_hex(f, self.compressed.as_bytes())?;
        write!(f, ")")
    }
}

impl From<&RistrettoPrivate> for RistrettoPublic {
    fn from(private: &RistrettoPrivate) -> Self {
        private.public_key()
    }
}

/// A public key's 32 bytes, not yet decompressed (MobileCoin's lazy
/// `CompressedRistrettoPublic`): only the length is checked.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CompressedRistrettoPublic(pub [u8; 32]);

impl CompressedRistrettoPublic {
    /// Takes 32 bytes; fails only on a wrong length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        Ok(Self(exact32(bytes)?))
    }

    /// Decompresses into a usable public key.
    pub fn decompress(&self) -> Result<RistrettoPublic, KeyError> {
        RistrettoPublic::from_bytes(&self.0)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<&RistrettoPublic> for CompressedRistrettoPublic {
    fn from(public: &RistrettoPublic) -> Self {
        Self(public.to_bytes())
    }
}

impl fmt::Debug for CompressedRistrettoPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompressedRistrettoPublic(")?;
        write_hex(f, &self.0)?;
        write!(f, ")")
    }
}

/// A 64-byte schnorrkel signature (`enc(R) || s`, marker bit set in byte 63).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RistrettoSignature(pub [u8; SIGNATURE_LEN]);

impl RistrettoSignature {
    /// Takes 64 bytes; the content is checked at verification.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; SIGNATURE_LEN] = bytes.try_into().map_err(|_| KeyError::LengthMismatch {
            found: bytes.len(),
            expected: SIGNATURE_LEN,
        })?;
        Ok(Self(arr))
    }

    /// The 64 bytes.
    pub fn as_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.0
    }
}

impl fmt::Debug for RistrettoSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RistrettoSignature(")?;
        write_hex(f, &self.0)?;
        write!(f, ")")
    }
}

/// The result of a key exchange: a 32-byte compressed point, zeroized on drop.
pub struct SharedSecret([u8; 32]);

impl SharedSecret {
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for SharedSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}
impl ZeroizeOnDrop for SharedSecret {}

impl ConstantTimeEq for SharedSecret {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::from_seed([7; 32])
    }

    #[test]
    fn private_parse_is_canonical_only() {
        // l itself is not canonical.
        let l = Scalar::ZERO - Scalar::ONE;
        let mut bytes = l.to_bytes();
        assert!(RistrettoPrivate::from_bytes(&bytes).is_ok());
        bytes[0] = bytes[0].wrapping_add(1); // = l
        assert_eq!(
            RistrettoPrivate::from_bytes(&bytes).unwrap_err(),
            KeyError::InvalidPrivateKey
        );
        assert_eq!(
            RistrettoPrivate::from_bytes(&[0; 31]).unwrap_err(),
            KeyError::LengthMismatch {
                found: 31,
                expected: 32
            }
        );
    }

    #[test]
    fn public_parse_rejects_invalid_points() {
        let mut rng = rng();
        let k = RistrettoPrivate::random(&mut rng);
        let p = k.public_key();
        assert_eq!(RistrettoPublic::from_bytes(p.as_bytes()).unwrap(), p);
        let mut bad = p.to_bytes();
        bad[31] |= 0x80; // the high bit is never set in a canonical encoding
        assert_eq!(
            RistrettoPublic::from_bytes(&bad).unwrap_err(),
            KeyError::InvalidPublicKey
        );
        assert!(RistrettoPublic::from_bytes(&[1; 33]).is_err());
    }

    #[test]
    fn key_exchange_agrees() {
        let mut rng = rng();
        let a = RistrettoPrivate::random(&mut rng);
        let b = RistrettoPrivate::random(&mut rng);
        let ab = a.key_exchange(&b.public_key());
        let ba = b.key_exchange(&a.public_key());
        assert!(bool::from(ab.ct_eq(&ba)));
    }

    #[test]
    fn the_half_scalar_doubles_to_one() {
        assert_eq!(half_scalar() + half_scalar(), Scalar::ONE);
    }

    #[test]
    fn batched_key_exchange_agrees_on_the_identity_too() {
        // A sender can make a hint decrypt to the identity's encoding (all zeros): the batch's
        // inversion must not let it spoil the other points.
        let mut rng = rng();
        let a = RistrettoPrivate::random(&mut rng);
        let other = RistrettoPrivate::random(&mut rng).public_key();
        let points = [
            *other.as_point(),
            RistrettoPoint::default(),
            *other.as_point(),
        ];
        let batch = a.key_exchange_batch(&points);
        assert_eq!(batch[1].as_bytes(), &[0u8; 32]);
        assert_eq!(batch[0].as_bytes(), a.key_exchange(&other).as_bytes());
        assert_eq!(batch[2].as_bytes(), a.key_exchange(&other).as_bytes());
    }

    #[test]
    fn batched_key_exchange_gives_the_same_bytes_as_one_at_a_time() {
        let mut rng = rng();
        let a = RistrettoPrivate::random(&mut rng);
        for n in [0usize, 1, 2, 7] {
            let publics: alloc::vec::Vec<RistrettoPublic> = (0..n)
                .map(|_| RistrettoPrivate::random(&mut rng).public_key())
                .collect();
            let points: alloc::vec::Vec<RistrettoPoint> =
                publics.iter().map(|p| *p.as_point()).collect();
            let batch = a.key_exchange_batch(&points);
            assert_eq!(batch.len(), n);
            for (one, p) in batch.iter().zip(&publics) {
                assert_eq!(one.as_bytes(), a.key_exchange(p).as_bytes());
            }
        }
    }

    #[test]
    fn signatures_are_deterministic_and_verify() {
        let mut rng = rng();
        let k = RistrettoPrivate::random(&mut rng);
        let s1 = k.sign_schnorrkel(b"ctx", b"message");
        let s2 = k.sign_schnorrkel(b"ctx", b"message");
        assert_eq!(s1, s2);
        assert_eq!(s1.0[63] & 0x80, 0x80);
        let p = k.public_key();
        p.verify_schnorrkel(b"ctx", b"message", &s1).unwrap();
        assert_eq!(
            p.verify_schnorrkel(b"ctx", b"messagf", &s1),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            p.verify_schnorrkel(b"other", b"message", &s1),
            Err(SignatureError::Mismatch)
        );
        let mut unmarked = s1;
        unmarked.0[63] &= 0x7f;
        assert_eq!(
            p.verify_schnorrkel(b"ctx", b"message", &unmarked),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn debug_of_secrets_shows_no_key_bytes() {
        let mut rng = rng();
        let k = RistrettoPrivate::random(&mut rng);
        let text = format!("{k:?}");
        let secret_hex: alloc::string::String =
            k.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(&secret_hex));
        assert!(text.contains(&format!("{:?}", k.public_key())));
        let ss = k.key_exchange(&k.public_key());
        let ss_text = format!("{ss:?}");
        let ss_hex: alloc::string::String =
            ss.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert!(!ss_text.contains(&ss_hex));
        assert_eq!(ss_text, "SharedSecret(<redacted>)");
    }
}
