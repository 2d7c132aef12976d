//! The verifier: checks evidence against trust anchors and a policy.
//!
//! The rules run in a fixed order and the first that fails names itself:
//! 1. the evidence kind has a trust anchor here ([`VerifyError::UntrustedKind`]);
//! 2. the evidence verifies up to that anchor: the simulated quote's signature
//!    ([`VerifyError::BadSignature`]); for hardware evidence the collateral's validity
//!    ([`VerifyError::CollateralExpired`], [`VerifyError::CollateralNotYetValid`]), the
//!    certificate chain ([`VerifyError::BadChain`], [`VerifyError::Revoked`]), the quote's
//!    signature ([`VerifyError::BadSignature`]) and the platform's safety attributes
//!    ([`VerifyError::UnsafeAttributes`]) — see [`crate::platform`];
//! 3. the identity matches a policy rule ([`VerifyError::UnknownMeasurement`],
//!    [`VerifyError::WrongRuntimeMeasurement`], [`VerifyError::WrongSigner`],
//!    [`VerifyError::WrongProduct`], [`VerifyError::SecurityVersionTooOld`]);
//! 4. the platform's TCB is one the policy accepts ([`VerifyError::TcbOutOfDate`]): up to
//!    date always, others only when listed, and then the [`Verdict`] reports it;
//! 5. simulated evidence is fresh ([`VerifyError::Stale`], [`VerifyError::FromTheFuture`]);
//!    hardware evidence carries no clock of its own, so its freshness is its collateral's
//!    validity (step 2) and the channel handshake, which proves the key it binds is live;
//! 6. the report data equals the binding of the expected keys
//!    ([`VerifyError::ReportDataMismatch`]).
//!
//! The clock is an argument.

use crate::error::VerifyError;
use crate::evidence::UnixSeconds;
use crate::evidence::{
    BoundEvidence, Collateral, EnclaveIdentity, Evidence, EvidenceKind, Measurement, ReportData,
    SignerId,
};
use crate::platform::{self, snp::AmdRoot, Claims, Measurement48, SnpTcb, TcbStatus};
use ed25519_dalek::{Signature, VerifyingKey};
use subtle::ConstantTimeEq;

/// What the verifier trusts to sign evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustAnchor {
    /// The simulation provider's Ed25519 quoting public key.
    Simulation(VerifyingKey),
    /// A root CA for Intel DCAP quotes (SGX and TDX), DER: Intel's SGX Root CA in
    /// production ([`TrustAnchor::intel`]).
    IntelSgxRoot(Vec<u8>),
    /// AMD's ARK and ASK per product line, for SEV-SNP reports ([`TrustAnchor::amd`]).
    AmdRoots(Vec<AmdRoot>),
}

impl TrustAnchor {
    /// Intel's SGX Root CA (pinned in this crate, see `roots/README.md`).
    pub fn intel() -> Self {
        Self::IntelSgxRoot(platform::dcap::INTEL_SGX_ROOT_CA_DER.to_vec())
    }

    /// AMD's Milan, Genoa and Turin roots.
    pub fn amd() -> Self {
        Self::AmdRoots(platform::snp::amd_roots())
    }

    fn covers(&self, kind: EvidenceKind) -> bool {
        matches!(
            (self, kind),
            (Self::Simulation(_), EvidenceKind::Simulation)
                | (
                    Self::IntelSgxRoot(_),
                    EvidenceKind::SgxDcap | EvidenceKind::TdxDcap
                )
                | (Self::AmdRoots(_), EvidenceKind::SevSnp)
        )
    }
}

/// One way an enclave identity can be allowed. Each rule names its platform: a rule of one
/// platform never admits another's evidence (so a simulation key cannot pass an SGX rule).
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
    /// An SGX enclave with exactly this MRENCLAVE.
    SgxMrEnclave(Measurement),
    /// Any SGX enclave by this MRSIGNER with this ISVPRODID and at least this ISVSVN.
    SgxMrSigner {
        /// The allowed MRSIGNER.
        mrsigner: SignerId,
        /// The allowed ISVPRODID.
        isv_prod_id: u16,
        /// The lowest allowed ISVSVN.
        min_isv_svn: u16,
    },
    /// A TDX trust domain with this MRTD and, for each RTMR given, exactly that value.
    Tdx {
        /// The TD's build-time measurement.
        mrtd: Measurement48,
        /// RTMR 0 to 3; `None` accepts any value.
        rtmrs: [Option<Measurement48>; 4],
    },
    /// An SEV-SNP guest with this launch measurement.
    Snp {
        /// The launch measurement.
        measurement: Measurement48,
    },
}

/// A verifier policy: which identities, how old, how far in the future, which TCBs.
///
/// `Measurement` and `Signer` rules apply to simulated evidence; `SgxMrEnclave` and
/// `SgxMrSigner` to SGX quotes (MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN); `Tdx` rules to TDX
/// quotes; `Snp` rules to SEV-SNP reports. A rule of another platform never matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Evidence is allowed when any rule matches.
    pub rules: Vec<IdentityRule>,
    /// The oldest simulated evidence accepted, in seconds before `now`.
    pub max_age_secs: u64,
    /// How far past `now` a timestamp may be (clock skew), in seconds.
    pub max_future_skew_secs: u64,
    /// TCB statuses accepted besides [`TcbStatus::UpToDate`] (for example
    /// `SwHardeningNeeded` where the enclave carries the mitigations). A revoked TCB is
    /// never accepted.
    pub accepted_tcb: Vec<TcbStatus>,
    /// The lowest SEV-SNP TCB (as the VCEK certifies it) that counts as up to date; `None`
    /// counts every TCB AMD certified as up to date.
    pub snp_tcb_floor: Option<SnpTcb>,
}

impl Policy {
    /// A policy with the given rules, a maximum age, 60 s of allowed clock skew, only
    /// up-to-date TCBs and no SNP floor.
    pub fn new(rules: Vec<IdentityRule>, max_age_secs: u64) -> Self {
        Self {
            rules,
            max_age_secs,
            max_future_skew_secs: 60,
            accepted_tcb: Vec::new(),
            snp_tcb_floor: None,
        }
    }
}

/// What an accepted piece of evidence was, and what its TCB is: a policy that accepts a TCB
/// that is not up to date gets it reported here, so the caller can log or surface it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The evidence kind.
    pub kind: EvidenceKind,
    /// The platform's TCB status (simulated evidence: up to date).
    pub tcb_status: TcbStatus,
    /// Intel's advisories that apply (DCAP only).
    pub advisory_ids: Vec<String>,
}

impl Verdict {
    /// Whether the TCB was accepted by policy although it is not up to date.
    pub fn tcb_below_date(&self) -> bool {
        self.tcb_status != TcbStatus::UpToDate
    }
}

/// Checks evidence against [`TrustAnchor`]s and a [`Policy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    anchors: Vec<TrustAnchor>,
    policy: Policy,
}

impl Verifier {
    /// A verifier with one anchor.
    pub fn new(anchor: TrustAnchor, policy: Policy) -> Self {
        Self::with_anchors(vec![anchor], policy)
    }

    /// A verifier with several anchors (one per platform it accepts).
    pub fn with_anchors(anchors: Vec<TrustAnchor>, policy: Policy) -> Self {
        Self { anchors, policy }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The anchors.
    pub fn anchors(&self) -> &[TrustAnchor] {
        &self.anchors
    }

    /// Checks `evidence`, requiring its report data to equal `expected`, at time `now`.
    pub fn verify(
        &self,
        evidence: &Evidence,
        expected: &ReportData,
        now: UnixSeconds,
    ) -> Result<Verdict, VerifyError> {
        let kind = evidence.kind();
        let anchor = self
            .anchors
            .iter()
            .find(|a| a.covers(kind))
            .ok_or(VerifyError::UntrustedKind)?;
        let (report_data, verdict) = match (anchor, evidence) {
            (TrustAnchor::Simulation(key), Evidence::Simulation(sim)) => {
                let sig = Signature::from_bytes(&sim.signature);
                key.verify_strict(&sim.signed_bytes(), &sig)
                    .map_err(|_| VerifyError::BadSignature)?;
                self.check_identity(&sim.identity, false)?;
                self.check_time(sim.timestamp, now)?;
                (
                    sim.report_data,
                    Verdict {
                        kind,
                        tcb_status: TcbStatus::UpToDate,
                        advisory_ids: Vec::new(),
                    },
                )
            }
            (TrustAnchor::IntelSgxRoot(_) | TrustAnchor::AmdRoots(_), Evidence::Quote(q)) => {
                let v = match (anchor, &q.collateral) {
                    (TrustAnchor::IntelSgxRoot(root), Collateral::Dcap(c)) => {
                        platform::dcap::verify(q.kind, &q.quote, c, root, now.0)?
                    }
                    (TrustAnchor::AmdRoots(roots), Collateral::Snp(c)) => platform::snp::verify(
                        &q.quote,
                        c,
                        roots,
                        self.policy.snp_tcb_floor.as_ref(),
                        now.0,
                    )?,
                    _ => return Err(VerifyError::Malformed),
                };
                self.check_claims(&v.claims)?;
                self.check_tcb(v.tcb_status)?;
                (
                    v.report_data,
                    Verdict {
                        kind,
                        tcb_status: v.tcb_status,
                        advisory_ids: v.advisory_ids,
                    },
                )
            }
            _ => return Err(VerifyError::UntrustedKind),
        };
        if bool::from(report_data.0.ct_eq(&expected.0)) {
            Ok(verdict)
        } else {
            Err(VerifyError::ReportDataMismatch)
        }
    }

    /// Checks bound evidence: its report data must bind its own channel key and custom
    /// identity. Callers then compare those keys with the ones they use (the handshake's
    /// static key, the ingress key of a report).
    pub fn verify_bound(
        &self,
        bound: &BoundEvidence,
        now: UnixSeconds,
    ) -> Result<Verdict, VerifyError> {
        self.verify(&bound.evidence, &bound.expected_report_data(), now)
    }

    fn check_tcb(&self, status: TcbStatus) -> Result<(), VerifyError> {
        if status == TcbStatus::UpToDate || self.policy.accepted_tcb.contains(&status) {
            Ok(())
        } else {
            Err(VerifyError::TcbOutOfDate)
        }
    }

    fn check_claims(&self, claims: &Claims) -> Result<(), VerifyError> {
        match claims {
            Claims::Sgx(identity) => self.check_identity(identity, true),
            Claims::Tdx { mrtd, rtmrs, .. } => self.first_match(|rule| match rule {
                IdentityRule::Tdx {
                    mrtd: want,
                    rtmrs: want_rtmrs,
                } => {
                    if !bool::from(want.ct_eq(mrtd)) {
                        Err(VerifyError::UnknownMeasurement)
                    } else if want_rtmrs
                        .iter()
                        .zip(rtmrs)
                        .any(|(w, got)| w.is_some_and(|w| !bool::from(w.ct_eq(got))))
                    {
                        Err(VerifyError::WrongRuntimeMeasurement)
                    } else {
                        Ok(())
                    }
                }
                _ => Err(VerifyError::UnknownMeasurement),
            }),
            Claims::Snp { measurement, .. } => self.first_match(|rule| match rule {
                IdentityRule::Snp { measurement: want } if bool::from(want.ct_eq(measurement)) => {
                    Ok(())
                }
                _ => Err(VerifyError::UnknownMeasurement),
            }),
        }
    }

    /// Simulated evidence against the `Measurement` and `Signer` rules, SGX evidence against
    /// the `SgxMrEnclave` and `SgxMrSigner` rules.
    fn check_identity(&self, id: &EnclaveIdentity, sgx: bool) -> Result<(), VerifyError> {
        self.first_match(|rule| {
            let (measurement, signer) = match (rule, sgx) {
                (IdentityRule::Measurement(m), false) | (IdentityRule::SgxMrEnclave(m), true) => {
                    (Some(m), None)
                }
                (
                    IdentityRule::Signer {
                        signer_id,
                        product_id,
                        min_security_version,
                    },
                    false,
                ) => (None, Some((signer_id, *product_id, *min_security_version))),
                (
                    IdentityRule::SgxMrSigner {
                        mrsigner,
                        isv_prod_id,
                        min_isv_svn,
                    },
                    true,
                ) => (None, Some((mrsigner, *isv_prod_id, *min_isv_svn))),
                _ => return Err(VerifyError::UnknownMeasurement),
            };
            if let Some(m) = measurement {
                return if m.0.ct_eq(&id.measurement.0).into() {
                    Ok(())
                } else {
                    Err(VerifyError::UnknownMeasurement)
                };
            }
            let Some((signer_id, product_id, min_security_version)) = signer else {
                return Err(VerifyError::UnknownMeasurement);
            };
            if !bool::from(signer_id.0.ct_eq(&id.signer_id.0)) {
                Err(VerifyError::WrongSigner)
            } else if product_id != id.product_id {
                Err(VerifyError::WrongProduct)
            } else if id.security_version < min_security_version {
                Err(VerifyError::SecurityVersionTooOld)
            } else {
                Ok(())
            }
        })
    }

    /// Ok when any rule accepts; otherwise the refusal of the rule that came closest (a
    /// matching signer with an old version says more than an unknown measurement).
    fn first_match(
        &self,
        check: impl Fn(&IdentityRule) -> Result<(), VerifyError>,
    ) -> Result<(), VerifyError> {
        let mut best: Option<VerifyError> = None;
        for rule in &self.policy.rules {
            match check(rule) {
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
        VerifyError::WrongRuntimeMeasurement => 2,
        VerifyError::WrongSigner => 2,
        VerifyError::WrongProduct => 3,
        VerifyError::SecurityVersionTooOld => 4,
        _ => 0,
    }
}
