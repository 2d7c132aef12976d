//! Attestation policy files: which platforms, roots and measurements a wallet accepts from
//! each of Fog's services (feature `policy-file`; host side only).
//!
//! ```toml
//! max_evidence_age_secs = 86400          # simulated evidence only
//! accepted_tcb = ["SWHardeningNeeded"]  # besides UpToDate; Intel's status names
//! snp_tcb_floor = { bootloader = 3, tee = 0, snp = 8, microcode = 115 }
//!
//! # Which roots vouch for evidence. Intel's SGX root and AMD's ARKs are pinned in
//! # fog-attest; `simulation_key` accepts simulated evidence (development networks only).
//! [anchors]
//! intel = true
//! amd = true
//! # simulation_key = "<64 hex digits>"
//!
//! [[view]]
//! platform = "sgx"
//! mrenclave = "<64 hex digits>"
//! [[view]]
//! platform = "tdx"
//! mrtd = "<96 hex digits>"
//! rtmr1 = "<96 hex digits>"           # rtmr0 to rtmr3, each optional
//! [[ledger]]
//! platform = "snp"
//! measurement = "<96 hex digits>"
//! [[ingest]]
//! platform = "sgx"
//! mrsigner = "<64 hex digits>"
//! product_id = 1
//! min_svn = 2
//! ```
//!
//! Every service (`view`, `ledger`, `ingest`: the last checks the ingest evidence in
//! recipients' fog reports) needs at least one rule, and every rule's platform needs its
//! anchor. Parsing checks all of it, so a policy that loads is one a wallet can use.

use crate::evidence::{Measurement, SignerId};
use crate::platform::{Measurement48, SnpTcb, TcbStatus};
use crate::sim::{fog_identity, FogEnclave};
use crate::verifier::{IdentityRule, Policy, TrustAnchor, Verifier};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

/// The oldest simulated evidence accepted by default, in seconds (services renew theirs
/// every hour).
pub const DEFAULT_MAX_EVIDENCE_AGE_SECS: u64 = 24 * 3600;

/// Why a policy file was refused: the message names the field or rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attestation policy: {0}")]
pub struct PolicyFileError(pub String);

/// Which roots vouch for evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchors {
    /// Intel's SGX root CA (SGX and TDX quotes).
    #[serde(default)]
    pub intel: bool,
    /// AMD's ARKs (SEV-SNP reports).
    #[serde(default)]
    pub amd: bool,
    /// The simulated quoting key (64 hex digits), for development networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation_key: Option<String>,
}

/// The lowest SEV-SNP TCB that counts as up to date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpTcbFloor {
    /// PSP bootloader SVN.
    #[serde(default)]
    pub bootloader: u8,
    /// PSP OS SVN.
    #[serde(default)]
    pub tee: u8,
    /// SNP firmware SVN.
    #[serde(default)]
    pub snp: u8,
    /// Microcode patch level.
    #[serde(default)]
    pub microcode: u8,
    /// FMC SVN (Turin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
}

/// One accepted identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "lowercase", deny_unknown_fields)]
pub enum RuleEntry {
    /// Simulated evidence with this measurement.
    Sim {
        /// 64 hex digits.
        measurement: String,
    },
    /// An SGX enclave: exactly `mrenclave`, or `mrsigner` with `product_id` and at least
    /// `min_svn`.
    Sgx {
        /// 64 hex digits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mrenclave: Option<String>,
        /// 64 hex digits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mrsigner: Option<String>,
        /// ISVPRODID (with `mrsigner`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product_id: Option<u16>,
        /// Lowest ISVSVN (with `mrsigner`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_svn: Option<u16>,
    },
    /// A TDX trust domain.
    Tdx {
        /// 96 hex digits.
        mrtd: String,
        /// 96 hex digits, optional.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rtmr0: Option<String>,
        /// 96 hex digits, optional.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rtmr1: Option<String>,
        /// 96 hex digits, optional.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rtmr2: Option<String>,
        /// 96 hex digits, optional.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rtmr3: Option<String>,
    },
    /// An SEV-SNP guest.
    Snp {
        /// 96 hex digits: the launch measurement.
        measurement: String,
    },
}

/// A parsed, checked policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Which roots vouch for evidence.
    #[serde(default)]
    pub anchors: Anchors,
    /// The oldest simulated evidence accepted, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_evidence_age_secs: Option<u64>,
    /// TCB statuses accepted besides `UpToDate`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_tcb: Vec<String>,
    /// The SEV-SNP TCB floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp_tcb_floor: Option<SnpTcbFloor>,
    /// Rules for the view service.
    #[serde(default)]
    pub view: Vec<RuleEntry>,
    /// Rules for the fog ledger service.
    #[serde(default)]
    pub ledger: Vec<RuleEntry>,
    /// Rules for the ingest enclaves behind recipients' fog reports.
    #[serde(default)]
    pub ingest: Vec<RuleEntry>,
}

fn err(msg: impl Into<String>) -> PolicyFileError {
    PolicyFileError(msg.into())
}

fn hex_array<const N: usize>(field: &str, text: &str) -> Result<[u8; N], PolicyFileError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text.trim(), &mut out)
        .map_err(|_| err(format!("{field} must be {} hex digits", 2 * N)))?;
    Ok(out)
}

fn service_name(service: FogEnclave) -> &'static str {
    match service {
        FogEnclave::View => "view",
        FogEnclave::Ledger => "ledger",
        FogEnclave::Ingest => "ingest",
    }
}

impl PolicyFile {
    /// Parses and checks a policy file's text.
    pub fn parse(text: &str) -> Result<Self, PolicyFileError> {
        let file: Self = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        for service in [FogEnclave::View, FogEnclave::Ledger, FogEnclave::Ingest] {
            file.verifier(service)?;
        }
        Ok(file)
    }

    /// Reads and checks a policy file.
    pub fn read(path: &std::path::Path) -> Result<Self, PolicyFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| err(format!("{}: {}", path.display(), e.0)))
    }

    /// The policy as TOML. (Every field is a string, a number, a table or an array of
    /// tables, which TOML always writes; were it ever refused, the text says so in a comment
    /// and parses as a policy without rules, which every reader refuses.)
    pub fn to_toml(&self) -> String {
        toml::to_string(self)
            .unwrap_or_else(|e| format!("# this policy could not be written as TOML: {e}\n"))
    }

    /// The policy of a simulated network: its quoting key, and each service's simulated
    /// identity at this version of Fog (what `fogd local-network` writes).
    pub fn simulated(quoting_key: &VerifyingKey) -> Self {
        let rule = |e| {
            vec![RuleEntry::Sim {
                measurement: hex::encode(fog_identity(e).measurement.0),
            }]
        };
        Self {
            anchors: Anchors {
                intel: false,
                amd: false,
                simulation_key: Some(hex::encode(quoting_key.as_bytes())),
            },
            max_evidence_age_secs: Some(DEFAULT_MAX_EVIDENCE_AGE_SECS),
            accepted_tcb: Vec::new(),
            snp_tcb_floor: None,
            view: rule(FogEnclave::View),
            ledger: rule(FogEnclave::Ledger),
            ingest: rule(FogEnclave::Ingest),
        }
    }

    /// The verifier this policy gives for `service`.
    pub fn verifier(&self, service: FogEnclave) -> Result<Verifier, PolicyFileError> {
        let name = service_name(service);
        let entries = match service {
            FogEnclave::View => &self.view,
            FogEnclave::Ledger => &self.ledger,
            FogEnclave::Ingest => &self.ingest,
        };
        if entries.is_empty() {
            return Err(err(format!(
                "no [[{name}]] rule: no {name} service would be trusted"
            )));
        }
        let mut anchors = Vec::new();
        if let Some(key) = &self.anchors.simulation_key {
            let bytes = hex_array::<32>("anchors.simulation_key", key)?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| err("anchors.simulation_key is not an Ed25519 public key"))?;
            anchors.push(TrustAnchor::Simulation(key));
        }
        if self.anchors.intel {
            anchors.push(TrustAnchor::intel());
        }
        if self.anchors.amd {
            anchors.push(TrustAnchor::amd());
        }
        let mut rules = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("[[{name}]] rule {}", i + 1);
            let (rule, needs) = self.rule(entry, &at)?;
            if !needs {
                return Err(err(format!(
                    "{at}: its platform has no anchor (set anchors.{})",
                    match entry {
                        RuleEntry::Sim { .. } => "simulation_key",
                        RuleEntry::Sgx { .. } | RuleEntry::Tdx { .. } => "intel = true",
                        RuleEntry::Snp { .. } => "amd = true",
                    }
                )));
            }
            rules.push(rule);
        }
        let mut policy = Policy::new(
            rules,
            self.max_evidence_age_secs
                .unwrap_or(DEFAULT_MAX_EVIDENCE_AGE_SECS),
        );
        for status in &self.accepted_tcb {
            let s = TcbStatus::from_name(status).map_err(|_| {
                err(format!(
                    "accepted_tcb: {status:?} is not a TCB status one can accept \
                     (SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, \
                     OutOfDate, OutOfDateConfigurationNeeded)"
                ))
            })?;
            policy.accepted_tcb.push(s);
        }
        if entries.iter().any(|e| matches!(e, RuleEntry::Snp { .. }))
            && self.snp_tcb_floor.is_none()
        {
            return Err(err(format!(
                "[[{name}]] has an snp rule but the policy sets no snp_tcb_floor (the lowest \
                 firmware TCB to trust, e.g. snp_tcb_floor = {{ bootloader = 3, tee = 0, snp = 8, \
                 microcode = 115 }})"
            )));
        }
        policy.snp_tcb_floor = self.snp_tcb_floor.map(|f| SnpTcb {
            bootloader: f.bootloader,
            tee: f.tee,
            snp: f.snp,
            microcode: f.microcode,
            fmc: f.fmc,
        });
        Ok(Verifier::with_anchors(anchors, policy))
    }

    /// One rule, and whether its platform has an anchor.
    fn rule(&self, entry: &RuleEntry, at: &str) -> Result<(IdentityRule, bool), PolicyFileError> {
        Ok(match entry {
            RuleEntry::Sim { measurement } => (
                IdentityRule::Measurement(Measurement(hex_array(
                    &format!("{at}: measurement"),
                    measurement,
                )?)),
                self.anchors.simulation_key.is_some(),
            ),
            RuleEntry::Sgx {
                mrenclave,
                mrsigner,
                product_id,
                min_svn,
            } => {
                let rule = match (mrenclave, mrsigner, product_id) {
                    (Some(m), None, None) if min_svn.is_none() => IdentityRule::SgxMrEnclave(
                        Measurement(hex_array(&format!("{at}: mrenclave"), m)?),
                    ),
                    (None, Some(s), Some(p)) => IdentityRule::SgxMrSigner {
                        mrsigner: SignerId(hex_array(&format!("{at}: mrsigner"), s)?),
                        isv_prod_id: *p,
                        min_isv_svn: min_svn.unwrap_or(0),
                    },
                    _ => {
                        return Err(err(format!(
                            "{at}: give mrenclave alone, or mrsigner with product_id (and min_svn)"
                        )))
                    }
                };
                (rule, self.anchors.intel)
            }
            RuleEntry::Tdx {
                mrtd,
                rtmr0,
                rtmr1,
                rtmr2,
                rtmr3,
            } => {
                if [rtmr0, rtmr1, rtmr2, rtmr3].iter().all(|r| r.is_none()) {
                    return Err(err(format!(
                        "{at}: pin at least one RTMR (rtmr1/rtmr2: the kernel and its command \
                         line); MRTD alone measures only the firmware"
                    )));
                }
                let mut rtmrs: [Option<Measurement48>; 4] = [None; 4];
                for (i, r) in [rtmr0, rtmr1, rtmr2, rtmr3].into_iter().enumerate() {
                    if let Some(r) = r {
                        rtmrs[i] = Some(hex_array(&format!("{at}: rtmr{i}"), r)?);
                    }
                }
                (
                    IdentityRule::Tdx {
                        mrtd: hex_array(&format!("{at}: mrtd"), mrtd)?,
                        rtmrs,
                    },
                    self.anchors.intel,
                )
            }
            RuleEntry::Snp { measurement } => (
                IdentityRule::Snp {
                    measurement: hex_array(&format!("{at}: measurement"), measurement)?,
                },
                self.anchors.amd,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Collateral, Evidence, EvidenceKind, QuoteEvidence, UnixSeconds};
    use crate::platform::{dcap, Claims};
    use crate::sim::{Provider as _, SimProvider};
    use crate::VerifyError;

    fn sim_provider(e: FogEnclave) -> SimProvider {
        SimProvider::from_quoting_key(
            ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
            fog_identity(e),
        )
    }

    #[test]
    fn the_simulated_policy_round_trips_and_pins_each_service() {
        let key = sim_provider(FogEnclave::View).trust_anchor();
        let TrustAnchor::Simulation(key) = key else {
            unreachable!()
        };
        let policy = PolicyFile::simulated(&key);
        let text = policy.to_toml();
        assert_eq!(PolicyFile::parse(&text), Ok(policy.clone()));
        let rd = crate::ReportData([3; 64]);
        let view = sim_provider(FogEnclave::View).evidence(&rd).unwrap();
        let ledger = sim_provider(FogEnclave::Ledger).evidence(&rd).unwrap();
        let now = UnixSeconds::now();
        assert!(policy
            .verifier(FogEnclave::View)
            .unwrap()
            .verify(&view, &rd, now)
            .is_ok());
        assert_eq!(
            policy
                .verifier(FogEnclave::View)
                .unwrap()
                .verify(&ledger, &rd, now),
            Err(VerifyError::UnknownMeasurement)
        );
    }

    #[test]
    fn a_hardware_policy_accepts_the_real_tdx_sample() {
        let quote = include_bytes!("../tests/data/tdx_quote").to_vec();
        let collateral =
            dcap::collateral_from_json(include_bytes!("../tests/data/tdx_quote_collateral.json"))
                .unwrap();
        let now = 1_750_377_600;
        let v = dcap::verify(
            EvidenceKind::TdxDcap,
            &quote,
            &collateral,
            dcap::INTEL_SGX_ROOT_CA_DER,
            now,
        )
        .unwrap();
        let Claims::Tdx { mrtd, rtmrs, .. } = v.claims else {
            unreachable!()
        };
        let text = format!(
            "max_evidence_age_secs = 600\naccepted_tcb = [\"SWHardeningNeeded\"]\n\
             snp_tcb_floor = {{ bootloader = 3, tee = 0, snp = 8, microcode = 115 }}\n\
             [anchors]\nintel = true\namd = true\n\n\
             [[view]]\nplatform = \"tdx\"\nmrtd = \"{}\"\nrtmr1 = \"{}\"\n\
             [[ledger]]\nplatform = \"snp\"\nmeasurement = \"{}\"\n\
             [[ingest]]\nplatform = \"sgx\"\nmrsigner = \"{}\"\nproduct_id = 1\nmin_svn = 2\n",
            hex::encode(mrtd),
            hex::encode(rtmrs[1]),
            "ab".repeat(48),
            "cd".repeat(32),
        );
        let policy = PolicyFile::parse(&text).unwrap();
        let v = policy.verifier(FogEnclave::View).unwrap();
        assert_eq!(v.policy().accepted_tcb, vec![TcbStatus::SwHardeningNeeded]);
        assert_eq!(v.policy().max_age_secs, 600);
        assert_eq!(v.policy().snp_tcb_floor.map(|f| f.microcode), Some(115));
        let evidence = Evidence::Quote(QuoteEvidence {
            kind: EvidenceKind::TdxDcap,
            quote,
            collateral: Collateral::Dcap(Box::new(collateral)),
        });
        let rd = evidence.report_data().unwrap();
        let verdict = policy
            .verifier(FogEnclave::View)
            .unwrap()
            .verify(&evidence, &rd, UnixSeconds(now))
            .unwrap();
        assert_eq!(verdict.kind, EvidenceKind::TdxDcap);
        assert_eq!(
            policy
                .verifier(FogEnclave::Ledger)
                .unwrap()
                .verify(&evidence, &rd, UnixSeconds(now)),
            Err(VerifyError::UnknownMeasurement)
        );
    }

    #[test]
    fn a_simulation_key_never_passes_an_sgx_rule() {
        // One policy trusting both a simulation key and Intel: simulated evidence carrying the
        // very MRENCLAVE an sgx rule names is still refused (the key's holder could sign it).
        let provider = sim_provider(FogEnclave::View);
        let TrustAnchor::Simulation(key) = provider.trust_anchor() else {
            unreachable!()
        };
        let m = hex::encode(fog_identity(FogEnclave::View).measurement.0);
        let sgx = format!("platform = \"sgx\"\nmrenclave = \"{m}\"\n");
        let text = format!(
            "[anchors]\nintel = true\nsimulation_key = \"{}\"\n[[view]]\n{sgx}[[ledger]]\n{sgx}\
             [[ingest]]\n{sgx}",
            hex::encode(key.as_bytes())
        );
        let policy = PolicyFile::parse(&text).unwrap();
        let rd = crate::ReportData([3; 64]);
        let evidence = provider.evidence(&rd).unwrap();
        assert_eq!(
            policy
                .verifier(FogEnclave::View)
                .unwrap()
                .verify(&evidence, &rd, UnixSeconds::now()),
            Err(VerifyError::UnknownMeasurement)
        );
    }

    #[test]
    fn bad_policies_are_refused_with_the_field_named() {
        let sgx = format!("platform = \"sgx\"\nmrenclave = \"{}\"\n", "11".repeat(32));
        let ok =
            format!("[anchors]\nintel = true\n[[view]]\n{sgx}[[ledger]]\n{sgx}[[ingest]]\n{sgx}");
        assert!(PolicyFile::parse(&ok).is_ok());
        for (text, needle) in [
            (
                format!("[anchors]\nintel = true\n[[view]]\n{sgx}[[ledger]]\n{sgx}"),
                "[[ingest]]",
            ),
            (
                format!("[[view]]\n{sgx}[[ledger]]\n{sgx}[[ingest]]\n{sgx}"),
                "intel = true",
            ),
            (ok.replace(&"11".repeat(32), "1234"), "64 hex digits"),
            (ok.replace("intel = true", "intel = true\nintl = 1"), "intl"),
            (
                format!("accepted_tcb = [\"Revoked\"]\n{ok}"),
                "accepted_tcb",
            ),
            (
                ok.replacen(
                    "platform = \"sgx\"",
                    "platform = \"sgx\"\nproduct_id = 3",
                    1,
                ),
                "mrsigner",
            ),
            (ok.replacen("\"sgx\"", "\"sev\"", 1), "sev"),
            (
                format!(
                    "[anchors]\nintel = true\n[[view]]\nplatform = \"tdx\"\nmrtd = \"{}\"\n\
                     [[ledger]]\n{sgx}[[ingest]]\n{sgx}",
                    "22".repeat(48)
                ),
                "RTMR",
            ),
            (
                format!(
                    "[anchors]\nintel = true\namd = true\n[[view]]\nplatform = \"snp\"\n\
                     measurement = \"{}\"\n[[ledger]]\n{sgx}[[ingest]]\n{sgx}",
                    "33".repeat(48)
                ),
                "snp_tcb_floor",
            ),
        ] {
            let e = PolicyFile::parse(&text).unwrap_err();
            assert!(e.0.contains(needle), "{needle}: {e}");
        }
    }
}
