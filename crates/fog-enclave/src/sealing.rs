//! The platform's sealing key, through which the ingest enclave seals its ingress key for this
//! machine and opens it again after a restart.
//!
//! A [`SealingKeyProvider`] is handed to the enclave ([`crate::ingest::IngestEnclave::create`],
//! [`restore`](crate::ingest::IngestEnclave::restore),
//! [`seal_ingress_key`](crate::ingest::IngestEnclave::seal_ingress_key)); sealing and
//! unsealing happen inside, and what crosses to the host is the sealed bytes only. The
//! provider's seal and unseal are `pub(crate)`: no public function of this crate opens a
//! sealed blob or gives back the ingress private key.
//!
//! Where the key comes from:
//! - **simulation** (the only kind built): a Ristretto key the host platform keeps, the
//!   `platform.key` file of the ingest state directory (its 32 bytes, the canonical scalar).
//!   This crate does no I/O: the loader (`fogd`, not the ingest server) reads the file and
//!   builds the provider from its bytes, then hands it to the enclave it loads
//!   (`boundary::ingest::IngestBoundary`)
//!   ([`SealingKeyProvider::simulated_from_bytes`]), or has a fresh key made and writes the
//!   bytes it is given back ([`SealingKeyProvider::simulated_generate`]). So in simulation
//!   the host does hold the platform key, and with it and the sealed file could open the
//!   ingress key with `fog_crypto::crypto_box` itself; simulation protects nothing from the
//!   host (docs/threat-model.md). What it does fix is the shape: the enclave's interface
//!   neither takes nor returns an ingress private key.
//! - **SGX** (not built): the key would come from `EGETKEY` inside the enclave (a key bound
//!   to the enclave's identity that never leaves the CPU), hashed to a Ristretto scalar; the
//!   provider would carry no bytes at all and the host would construct it from nothing.
//!
//! Format (unchanged from the first version, so existing state directories open): the sealed
//! ingress key is `fog_crypto::crypto_box` of the key's 32 bytes to the platform key's public
//! half (32 + 50 bytes).

use alloc::vec::Vec;
use core::fmt;

use fog_crypto::{crypto_box, RistrettoPrivate, RistrettoPublic};
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// Bytes of a simulated platform key (the `platform.key` file): a canonical Ristretto scalar.
pub const SIMULATED_PLATFORM_KEY_BYTES: usize = 32;

/// Bytes that are not a simulated platform key (wrong length or not a canonical scalar).
/// Payload-free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("invalid platform key")]
pub struct InvalidPlatformKey;

/// The platform's sealing key, used by the enclave only. Not `Clone`; its key is zeroized on
/// drop and `Debug` shows only which kind of provider it is.
pub struct SealingKeyProvider {
    source: Source,
}

enum Source {
    /// A key the host platform keeps (`RistrettoPrivate` zeroizes its scalar on drop).
    Simulated(RistrettoPrivate),
}

// The only field is a `RistrettoPrivate`, which is `ZeroizeOnDrop`.
impl ZeroizeOnDrop for SealingKeyProvider {}

impl SealingKeyProvider {
    /// Simulation: the provider over the bytes of a platform key file (exactly
    /// [`SIMULATED_PLATFORM_KEY_BYTES`], a canonical scalar). The caller should zeroize its
    /// copy of the bytes.
    pub fn simulated_from_bytes(bytes: &[u8]) -> Result<Self, InvalidPlatformKey> {
        if bytes.len() != SIMULATED_PLATFORM_KEY_BYTES {
            return Err(InvalidPlatformKey);
        }
        let key = RistrettoPrivate::from_bytes(bytes).map_err(|_| InvalidPlatformKey)?;
        Ok(Self {
            source: Source::Simulated(key),
        })
    }

    /// Simulation: a fresh platform key, and its bytes for the host to keep (the platform key
    /// file; [`Self::simulated_from_bytes`] reads them back).
    pub fn simulated_generate<R: RngCore + CryptoRng>(
        rng: &mut R,
    ) -> (Self, Zeroizing<[u8; SIMULATED_PLATFORM_KEY_BYTES]>) {
        let key = RistrettoPrivate::random(rng);
        let bytes = key.to_bytes();
        (
            Self {
                source: Source::Simulated(key),
            },
            bytes,
        )
    }

    /// Whether the key is simulated (held by the host platform) rather than derived inside
    /// the enclave. Always `true` for now.
    pub fn is_simulated(&self) -> bool {
        matches!(self.source, Source::Simulated(_))
    }

    fn sealing_public(&self) -> RistrettoPublic {
        match &self.source {
            Source::Simulated(key) => key.public_key(),
        }
    }

    /// Seals `plaintext` to this platform: the crypto box to the platform key's public half.
    pub(crate) fn seal<R: RngCore + CryptoRng>(&self, rng: &mut R, plaintext: &[u8]) -> Vec<u8> {
        crypto_box::encrypt(rng, &self.sealing_public(), plaintext)
    }

    /// Opens what [`Self::seal`] sealed on this platform; `None` for anything else (another
    /// platform's key, a changed byte, a wrong length).
    pub(crate) fn unseal(&self, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        match &self.source {
            Source::Simulated(key) => crypto_box::decrypt(key, sealed).ok(),
        }
    }

    /// Seals an ingress key (its 32 bytes).
    pub(crate) fn seal_key<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        key: &RistrettoPrivate,
    ) -> Vec<u8> {
        self.seal(rng, &key.to_bytes()[..])
    }

    /// Opens a sealed ingress key; `None` if it does not open here or is not a key.
    pub(crate) fn unseal_key(&self, sealed: &[u8]) -> Option<RistrettoPrivate> {
        let bytes = self.unseal(sealed)?;
        RistrettoPrivate::from_bytes(&bytes).ok()
    }
}

impl fmt::Debug for SealingKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            Source::Simulated(_) => "simulated",
        };
        f.debug_struct("SealingKeyProvider")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}
