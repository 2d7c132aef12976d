//! Where a service's evidence comes from, and whom it accepts as a peer (routers and stores,
//! ingest peers): `--evidence sim` (the simulated quoting key in the state directory, the
//! default) or `--evidence configfs-tsm` (inside an AMD SEV-SNP or Intel TDX confidential
//! VM, peers checked against `--peer-policy`).

use std::{path::Path, path::PathBuf, sync::Arc};

use clap::{Args, ValueEnum};
use fog_attest::policy_file::PolicyFile;
use fog_attest::tsm::{TsmProvider, DEFAULT_TSM_REPORT_DIR};
use fog_attest::{
    FogEnclave, IdentityRule, Policy, Provider, ReportData, SimProvider, TrustAnchor, Verifier,
};

use crate::{failed, input, CliError};

/// How long peers' simulated evidence stays acceptable (they renew it hourly).
const PEER_EVIDENCE_MAX_AGE_SECS: u64 = 24 * 3600;

/// Where evidence comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EvidenceSource {
    /// Signed by the simulated quoting key in the state directory (development, tests).
    Sim,
    /// The Linux configfs-tsm report interface of an SEV-SNP or TDX guest.
    ConfigfsTsm,
}

/// The evidence flags of every enclave service.
#[derive(Clone, Debug, Args)]
pub struct EvidenceArgs {
    /// Where this service's attestation evidence comes from: `sim`, or `configfs-tsm` when
    /// it runs in an AMD SEV-SNP or Intel TDX confidential VM.
    #[arg(long, value_enum, value_name = "SOURCE", default_value_t = EvidenceSource::Sim)]
    pub evidence: EvidenceSource,
    /// The configfs-tsm report directory (`configfs-tsm`).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_TSM_REPORT_DIR)]
    pub tsm_report_dir: PathBuf,
    /// Intel's collateral for this platform, DCAP `QuoteCollateralV3` JSON (`configfs-tsm`
    /// on TDX); re-read each time evidence is made, so a job refreshing it from Intel's PCS
    /// or a PCCS is picked up.
    #[arg(long, value_name = "FILE")]
    pub dcap_collateral: Option<PathBuf>,
    /// This chip's VCEK certificate, DER (`configfs-tsm` on SEV-SNP, when the host does not
    /// hand it to the guest with the report).
    #[arg(long, value_name = "FILE")]
    pub snp_vcek: Option<PathBuf>,
    /// The attestation policy file peers' evidence is checked against (routers and stores,
    /// ingest peers; the same format as wallets'). Needed with `configfs-tsm`; with `sim`,
    /// peers must show Fog's simulated identities under the same quoting key.
    #[arg(long, value_name = "FILE")]
    pub peer_policy: Option<PathBuf>,
}

/// What peers must show.
enum Peers {
    Sim(TrustAnchor),
    Policy(Box<PolicyFile>),
}

/// A service's evidence provider and its peers' verifier.
pub struct Attestation {
    provider: Arc<dyn Provider>,
    peers: Peers,
    source: EvidenceSource,
}

impl Attestation {
    /// The attestation of `enclave` as `args` configure it; `state_dir` keeps the simulated
    /// quoting key. With configfs-tsm one report is made at once, so a service outside a
    /// confidential VM (or without its collateral) stops at start with the reason.
    pub fn new(
        args: &EvidenceArgs,
        state_dir: &Path,
        enclave: FogEnclave,
    ) -> Result<Self, CliError> {
        match args.evidence {
            EvidenceSource::Sim => {
                let quoting = crate::ingest::sim_quoting_key(state_dir)?;
                let provider =
                    SimProvider::from_quoting_key(quoting, fog_attest::fog_identity(enclave));
                let peers = match &args.peer_policy {
                    Some(path) => Peers::Policy(Box::new(read_policy(path)?)),
                    None => Peers::Sim(provider.trust_anchor()),
                };
                Ok(Self {
                    provider: Arc::new(provider),
                    peers,
                    source: args.evidence,
                })
            }
            EvidenceSource::ConfigfsTsm => {
                let Some(path) = &args.peer_policy else {
                    return Err(input(
                        "--evidence configfs-tsm needs --peer-policy FILE (whom to accept as a peer)",
                    ));
                };
                let peers = Peers::Policy(Box::new(read_policy(path)?));
                let provider = TsmProvider::new(
                    args.tsm_report_dir.clone(),
                    args.dcap_collateral.clone(),
                    args.snp_vcek.clone(),
                );
                provider
                    .evidence(&ReportData([0; 64]))
                    .map_err(|e| failed(format!("no evidence from configfs-tsm: {e}")))?;
                Ok(Self {
                    provider: Arc::new(provider),
                    peers,
                    source: args.evidence,
                })
            }
        }
    }

    /// The provider, shared by the service's responders and its evidence refresh.
    pub fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    /// Where evidence comes from (for the start-up line).
    pub fn source(&self) -> &'static str {
        match self.source {
            EvidenceSource::Sim => "simulated",
            EvidenceSource::ConfigfsTsm => "configfs-tsm",
        }
    }

    /// The verifier of peers that are `peer` enclaves.
    pub fn peer_verifier(&self, peer: FogEnclave) -> Result<Verifier, CliError> {
        match &self.peers {
            Peers::Sim(anchor) => Ok(Verifier::new(
                anchor.clone(),
                Policy::new(
                    vec![IdentityRule::Measurement(
                        fog_attest::fog_identity(peer).measurement,
                    )],
                    PEER_EVIDENCE_MAX_AGE_SECS,
                ),
            )),
            Peers::Policy(p) => p.verifier(peer).map_err(|e| input(e.to_string())),
        }
    }
}

fn read_policy(path: &Path) -> Result<PolicyFile, CliError> {
    PolicyFile::read(path).map_err(|e| input(format!("--peer-policy: {e}")))
}
