//! Hardware evidence: what a verified Intel DCAP quote or AMD SEV-SNP report says, and how
//! it is read.
//!
//! [`dcap`] checks SGX and TDX quotes with their collateral up to Intel's SGX root CA;
//! [`snp`] checks SEV-SNP reports with their VCEK up to AMD's pinned ARK and ASK. Both take
//! the clock as an argument and return [`VerifiedQuote`]: the claims the policy is checked
//! against, the report data and the TCB status. The policy itself is [`crate::Verifier`]'s.
//!
//! Trust side: both (an enclave verifies its peers' evidence). Nothing here is secret.

pub mod dcap;
pub mod snp;

use crate::error::VerifyError;
use crate::evidence::{EnclaveIdentity, EvidenceKind, ReportData};

/// The TCB status of verified hardware evidence: for DCAP, Intel's status of the platform
/// and quoting enclave against the TCB info; for SNP, [`TcbStatus::UpToDate`] when the
/// VCEK's TCB meets the policy's floor and [`TcbStatus::OutOfDate`] otherwise. Simulated
/// evidence has no TCB and counts as up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcbStatus {
    /// Fully patched.
    UpToDate,
    /// Patched; software mitigations are needed (the advisories say which).
    SwHardeningNeeded,
    /// Patched; the platform's configuration needs a change.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSwHardeningNeeded,
    /// A newer TCB exists: the platform is missing security updates.
    OutOfDate,
    /// Out of date, and the configuration needs a change.
    OutOfDateConfigurationNeeded,
    /// TDX: the platform is up to date but this TD runs on an older TDX module; relaunching
    /// the TD would pick up the fix.
    TdRelaunchAdvised,
    /// TDX: relaunch advised, and the configuration needs a change.
    TdRelaunchAdvisedConfigurationNeeded,
}

impl TcbStatus {
    /// Intel's name of the status, as TCB info writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::SwHardeningNeeded => "SWHardeningNeeded",
            Self::ConfigurationNeeded => "ConfigurationNeeded",
            Self::ConfigurationAndSwHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            Self::OutOfDate => "OutOfDate",
            Self::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            Self::TdRelaunchAdvised => "TDRelaunchAdvised",
            Self::TdRelaunchAdvisedConfigurationNeeded => "TDRelaunchAdvisedConfigurationNeeded",
        }
    }

    /// From Intel's name. `Revoked` is not a status a verifier can accept: it is
    /// [`VerifyError::Revoked`].
    pub fn from_name(name: &str) -> Result<Self, VerifyError> {
        Ok(match name {
            "UpToDate" => Self::UpToDate,
            "SWHardeningNeeded" => Self::SwHardeningNeeded,
            "ConfigurationNeeded" => Self::ConfigurationNeeded,
            "ConfigurationAndSWHardeningNeeded" => Self::ConfigurationAndSwHardeningNeeded,
            "OutOfDate" => Self::OutOfDate,
            "OutOfDateConfigurationNeeded" => Self::OutOfDateConfigurationNeeded,
            "TDRelaunchAdvised" => Self::TdRelaunchAdvised,
            "TDRelaunchAdvisedConfigurationNeeded" => Self::TdRelaunchAdvisedConfigurationNeeded,
            "Revoked" => return Err(VerifyError::Revoked),
            _ => return Err(VerifyError::Malformed),
        })
    }
}

/// A 48-byte measurement register (TDX MRTD and RTMRs, the SNP launch measurement).
pub type Measurement48 = [u8; 48];

/// An SEV-SNP TCB version: the security versions of the firmware parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SnpTcb {
    /// The PSP bootloader's SVN.
    pub bootloader: u8,
    /// The PSP OS's SVN.
    pub tee: u8,
    /// The SNP firmware's SVN.
    pub snp: u8,
    /// The lowest microcode patch level of the cores.
    pub microcode: u8,
    /// The FMC firmware's SVN (Turin and later).
    pub fmc: Option<u8>,
}

impl SnpTcb {
    /// Whether every part is at least `floor`'s.
    pub fn meets(&self, floor: &SnpTcb) -> bool {
        self.bootloader >= floor.bootloader
            && self.tee >= floor.tee
            && self.snp >= floor.snp
            && self.microcode >= floor.microcode
            && self.fmc.unwrap_or(0) >= floor.fmc.unwrap_or(0)
    }
}

/// What verified hardware evidence says about the code that runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claims {
    /// An SGX enclave: MRENCLAVE as the measurement, MRSIGNER as the signer, ISVPRODID,
    /// ISVSVN and CONFIGID.
    Sgx(EnclaveIdentity),
    /// A TDX trust domain.
    Tdx {
        /// The TD's build-time measurement.
        mrtd: Measurement48,
        /// The run-time measurement registers 0 to 3 (firmware, kernel, command line,
        /// application, in the usual layout).
        rtmrs: [Measurement48; 4],
        /// The host-chosen configuration id.
        mr_config_id: Measurement48,
    },
    /// An SEV-SNP guest.
    Snp {
        /// The launch measurement.
        measurement: Measurement48,
        /// The guest policy the guest was launched with.
        guest_policy: u64,
        /// The VM privilege level that asked for the report (0 is the most privileged).
        vmpl: u32,
        /// The host-provided data fixed at launch.
        host_data: [u8; 32],
        /// The TCB the VCEK certifies.
        tcb: SnpTcb,
    },
}

/// Hardware evidence whose signatures verified up to a pinned vendor root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedQuote {
    /// What runs.
    pub claims: Claims,
    /// The 64 bytes the enclave or guest put in its report.
    pub report_data: ReportData,
    /// The platform's TCB status.
    pub tcb_status: TcbStatus,
    /// Intel's security advisories that apply (DCAP), e.g. `INTEL-SA-00615`.
    pub advisory_ids: Vec<String>,
}

/// The report data of a quote or report, read without verifying anything.
pub fn unverified_report_data(kind: EvidenceKind, quote: &[u8]) -> Result<ReportData, VerifyError> {
    match kind {
        EvidenceKind::SgxDcap | EvidenceKind::TdxDcap => dcap::report_data(quote),
        EvidenceKind::SevSnp => snp::report_data(quote),
        EvidenceKind::Simulation => Err(VerifyError::Malformed),
    }
}

/// Seconds since the epoch of an X.509 time.
pub(crate) fn x509_secs(t: &x509_cert::time::Time) -> u64 {
    t.to_unix_duration().as_secs()
}

/// The validity window of one certificate at `now`.
pub(crate) fn check_validity(cert: &x509_cert::Certificate, now: u64) -> Result<(), VerifyError> {
    let v = &cert.tbs_certificate.validity;
    if now < x509_secs(&v.not_before) {
        return Err(VerifyError::CollateralNotYetValid);
    }
    if now > x509_secs(&v.not_after) {
        return Err(VerifyError::CollateralExpired);
    }
    Ok(())
}
