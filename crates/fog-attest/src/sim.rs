//! The simulation provider: evidence signed by a simulated quoting key.
//!
//! On SGX the quoting enclave signs a report of the application enclave; here an Ed25519
//! key held by the host plays that part. The key belongs to the provider (host side), never
//! to the enclave's secrets, and its public half is what verifiers are configured with
//! ([`TrustAnchor::Simulation`]). This proves nothing about the code that runs (whoever
//! holds the key can sign any identity): it exists so the verifier, the channel and the
//! report checks run exactly as they would with hardware evidence. See
//! `docs/threat-model.md`.

use crate::error::Result;
use crate::evidence::{EnclaveIdentity, Evidence, ReportData, SimEvidence, UnixSeconds};
use crate::verifier::TrustAnchor;
use ed25519_dalek::{Signer as _, SigningKey};
use rand_core::{CryptoRng, RngCore};

/// Produces evidence for report data chosen by the enclave.
pub trait Provider: Send + Sync {
    /// Evidence that `identity`-the-enclave made `report_data`, timestamped now.
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence>;
}

/// A shared provider (a service picks one at start: simulated, or configfs-tsm inside a
/// confidential VM).
impl<P: Provider + ?Sized> Provider for std::sync::Arc<P> {
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence> {
        (**self).evidence(report_data)
    }
}

/// The simulation provider: signs evidence with an Ed25519 quoting key.
pub struct SimProvider {
    quoting_key: SigningKey,
    identity: EnclaveIdentity,
    clock: fn() -> UnixSeconds,
}

impl core::fmt::Debug for SimProvider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimProvider")
            .field("quoting_public_key", &self.quoting_key.verifying_key())
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl SimProvider {
    /// A provider with a fresh random quoting key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R, identity: EnclaveIdentity) -> Self {
        Self::from_quoting_key(SigningKey::generate(rng), identity)
    }

    /// A provider with the given quoting key, using the host clock.
    pub fn from_quoting_key(quoting_key: SigningKey, identity: EnclaveIdentity) -> Self {
        Self {
            quoting_key,
            identity,
            clock: UnixSeconds::now,
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: fn() -> UnixSeconds) -> Self {
        self.clock = clock;
        self
    }

    /// The trust anchor a verifier needs for this provider's evidence.
    pub fn trust_anchor(&self) -> TrustAnchor {
        TrustAnchor::Simulation(self.quoting_key.verifying_key())
    }

    /// The identity this provider vouches for.
    pub fn identity(&self) -> &EnclaveIdentity {
        &self.identity
    }

    /// Evidence with an explicit timestamp.
    pub fn evidence_at(&self, report_data: &ReportData, timestamp: UnixSeconds) -> Evidence {
        self.evidence_for(self.identity, report_data, timestamp)
    }

    /// Evidence for another identity (tests of the policy: the simulation key can sign
    /// anything, which is exactly what it does not protect against).
    pub fn evidence_for(
        &self,
        identity: EnclaveIdentity,
        report_data: &ReportData,
        timestamp: UnixSeconds,
    ) -> Evidence {
        let mut e = SimEvidence {
            identity,
            timestamp,
            report_data: *report_data,
            signature: [0u8; 64],
        };
        e.signature = self.quoting_key.sign(&e.signed_bytes()).to_bytes();
        Evidence::Simulation(e)
    }
}

impl Provider for SimProvider {
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence> {
        Ok(self.evidence_at(report_data, (self.clock)()))
    }
}

/// Which Fog enclave a simulated identity names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FogEnclave {
    /// The ingest enclave (its evidence also binds the ingress key).
    Ingest,
    /// The view enclave.
    View,
    /// The fog ledger (key-image) enclave.
    Ledger,
}

/// The simulated identity of one of Fog's enclaves at this version: the measurement is a hash
/// of the enclave's name and the crate version (a new release is a new measurement, as a new
/// build would be on hardware); all share one simulated signer. Verifier policies (clients,
/// senders) name these.
pub fn fog_identity(enclave: FogEnclave) -> crate::EnclaveIdentity {
    use crate::evidence::{ConfigId, Measurement, SignerId};
    use fog_crypto::hash::blake2b256;
    let name: &[u8] = match enclave {
        FogEnclave::Ingest => b"fog-ingest-enclave-sim ",
        FogEnclave::View => b"fog-view-enclave-sim ",
        FogEnclave::Ledger => b"fog-ledger-enclave-sim ",
    };
    crate::EnclaveIdentity {
        measurement: Measurement(blake2b256(&[name, env!("CARGO_PKG_VERSION").as_bytes()])),
        signer_id: SignerId(blake2b256(&[b"fog-sim-signer"])),
        product_id: match enclave {
            FogEnclave::Ingest => 1,
            FogEnclave::View => 2,
            FogEnclave::Ledger => 3,
        },
        security_version: 1,
        config_id: ConfigId([0; 64]),
    }
}
