//! The verifier: checks evidence against a trust anchor and a policy.
//!
//! The rules run in a fixed order and the first that fails names itself:
//! 1. the evidence kind has a trust anchor here ([`VerifyError::UntrustedKind`]);
//! 2. the quote signature verifies ([`VerifyError::BadSignature`]);
//! 3. the identity matches a policy rule ([`VerifyError::UnknownMeasurement`],
//!    [`VerifyError::WrongSigner`], [`VerifyError::WrongProduct`],
//!    [`VerifyError::SecurityVersionTooOld`]);
//! 4. the timestamp is fresh ([`VerifyError::Stale`], [`VerifyError::FromTheFuture`]);
//! 5. the report data equals the binding of the expected keys
//!    ([`VerifyError::ReportDataMismatch`]).
//!
//! The same logic would run on hardware evidence: only step 2 (and how the identity fields
//! are read from the quote) depends on the provider. The clock is an argument.

use crate::error::VerifyError;
use crate::evidence::UnixSeconds;
use crate::evidence::{BoundEvidence, Evidence, EvidenceKind, Measurement, ReportData, SignerId};
use ed25519_dalek::{Signature, VerifyingKey};
use subtle::ConstantTimeEq;

/// What the verifier trusts to sign evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustAnchor {
    /// The simulation provider's Ed25519 quoting public key.
    Simulation(VerifyingKey),
}

/// One way an enclave identity can be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityRule {
    /// Exactly this code measurement.
    Measurement(Measurement),
    /// Any enclave by this signer with this product id and at least this security version.
    Signer {
        /// The allowed signer.
        signer_id: SignerId,
        /// The allowed product id.
        product_id: u16,
        /// The lowest allowed security version.
        min_security_version: u16,
    },
}

/// A verifier policy: which identities, how old, how far in the future.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Evidence is allowed when any rule matches.
    pub rules: Vec<IdentityRule>,
    /// The oldest evidence accepted, in seconds before `now`.
    pub max_age_secs: u64,
    /// How far past `now` a timestamp may be (clock skew), in seconds.
    pub max_future_skew_secs: u64,
}

impl Policy {
    /// A policy with the given rules, a maximum age and 60 s of allowed clock skew.
    pub fn new(rules: Vec<IdentityRule>, max_age_secs: u64) -> Self {
        Self {
            rules,
            max_age_secs,
            max_future_skew_secs: 60,
        }
    }
}

/// Checks evidence against a [`TrustAnchor`] and a [`Policy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    anchor: TrustAnchor,
    policy: Policy,
}

impl Verifier {
    /// A verifier.
    pub fn new(anchor: TrustAnchor, policy: Policy) -> Self {
        Self { anchor, policy }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks `evidence`, requiring its report data to equal `expected`, at time `now`.
    pub fn verify(
        &self,
        evidence: &Evidence,
        expected: &ReportData,
        now: UnixSeconds,
    ) -> Result<(), VerifyError> {
        self.check_signature(evidence)?;
        self.check_identity(evidence)?;
        self.check_time(evidence.timestamp, now)?;
        if bool::from(evidence.report_data.0.ct_eq(&expected.0)) {
            Ok(())
        } else {
            Err(VerifyError::ReportDataMismatch)
        }
    }

    /// Checks bound evidence: its report data must bind its own channel key and custom
    /// identity. Callers then compare those keys with the ones they use (the handshake's
    /// static key, the ingress key of a report).
    pub fn verify_bound(&self, bound: &BoundEvidence, now: UnixSeconds) -> Result<(), VerifyError> {
        self.verify(&bound.evidence, &bound.expected_report_data(), now)
    }

    fn check_signature(&self, evidence: &Evidence) -> Result<(), VerifyError> {
        match (&self.anchor, evidence.kind) {
            (TrustAnchor::Simulation(key), EvidenceKind::Simulation) => {
                let sig = Signature::from_bytes(&evidence.signature);
                key.verify_strict(&evidence.signed_bytes(), &sig)
                    .map_err(|_| VerifyError::BadSignature)
            }
        }
    }

    fn check_identity(&self, evidence: &Evidence) -> Result<(), VerifyError> {
        let id = &evidence.identity;
        // When no rule matches, report the rule that came closest: a matching signer with
        // an old version says more than an unknown measurement.
        let mut best: Option<VerifyError> = None;
        for rule in &self.policy.rules {
            let outcome = match rule {
                IdentityRule::Measurement(m) => {
                    if m.0.ct_eq(&id.measurement.0).into() {
                        Ok(())
                    } else {
                        Err(VerifyError::UnknownMeasurement)
                    }
                }
                IdentityRule::Signer {
                    signer_id,
                    product_id,
                    min_security_version,
                } => {
                    if !bool::from(signer_id.0.ct_eq(&id.signer_id.0)) {
                        Err(VerifyError::WrongSigner)
                    } else if *product_id != id.product_id {
                        Err(VerifyError::WrongProduct)
                    } else if id.security_version < *min_security_version {
                        Err(VerifyError::SecurityVersionTooOld)
                    } else {
                        Ok(())
                    }
                }
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if best.is_none_or(|b| rank(e) > rank(b)) {
                        best = Some(e);
                    }
                }
            }
        }
        Err(best.unwrap_or(VerifyError::EmptyPolicy))
    }

    fn check_time(&self, ts: UnixSeconds, now: UnixSeconds) -> Result<(), VerifyError> {
        if ts.0 > now.0.saturating_add(self.policy.max_future_skew_secs) {
            return Err(VerifyError::FromTheFuture);
        }
        if now.0.saturating_sub(ts.0) > self.policy.max_age_secs {
            return Err(VerifyError::Stale);
        }
        Ok(())
    }
}

fn rank(e: VerifyError) -> u8 {
    match e {
        VerifyError::UnknownMeasurement => 1,
        VerifyError::WrongSigner => 2,
        VerifyError::WrongProduct => 3,
        VerifyError::SecurityVersionTooOld => 4,
        _ => 0,
    }
}
