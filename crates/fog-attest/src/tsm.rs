//! Evidence from inside a confidential VM, through the Linux configfs-tsm report interface
//! (`/sys/kernel/config/tsm/report`, Linux 6.7 and later; AMD SEV-SNP guests through
//! `sev-guest`, Intel TDX guests through `tdx-guest`).
//!
//! One report: make a directory under the interface's root, write the 64 bytes of report
//! data to its `inblob`, read `generation`, `provider` (`sev_guest` or `tdx_guest`),
//! `outblob` (the SNP attestation report, or the TDX quote) and, for SNP, `auxblob` (the
//! host's certificate table, which carries the VCEK when the host provides it), read
//! `generation` again (a change means another writer raced this one: refused), remove the
//! directory. [`TsmProvider`] does that; [`evidence_from_report`] turns what was read into
//! [`Evidence`] with its collateral:
//!
//! - TDX: Intel's collateral for the platform, read from a file in the JSON form of
//!   [`crate::platform::dcap::collateral_from_json`] each time evidence is made (so an
//!   operator's job that refreshes it from Intel's PCS or a PCCS is picked up);
//! - SNP: the VCEK from `auxblob`'s certificate table, or else from a DER file (AMD's KDS
//!   serves it per chip and TCB).
//!
//! The provider runs on the host side of the service (inside the confidential VM, whose
//! whole memory is the trusted boundary). Nothing it reads is trusted: verifiers check it.

use crate::error::{Error, Result};
use crate::evidence::{Collateral, Evidence, EvidenceKind, QuoteEvidence, ReportData};
use crate::sim::Provider;
use crate::wire::{DcapCollateral, SnpCollateral};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the kernel exposes configfs-tsm reports.
pub const DEFAULT_TSM_REPORT_DIR: &str = "/sys/kernel/config/tsm/report";

/// The GUID of the VCEK in an SNP certificate table (byte order as in the table).
const VCEK_GUID: [u8; 16] = [
    0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd,
];

/// What one configfs-tsm report gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsmReport {
    /// `provider`: `sev_guest` or `tdx_guest`.
    pub provider: String,
    /// `outblob`: the SNP report or the TDX quote.
    pub outblob: Vec<u8>,
    /// `auxblob`: SNP's certificate table (empty when absent).
    pub auxblob: Vec<u8>,
}

fn provider_error(msg: impl Into<String>) -> Error {
    Error::Provider(msg.into())
}

/// The VCEK in an SNP certificate table: entries of a 16-byte GUID, a 4-byte offset and a
/// 4-byte length (little-endian, offsets from the table's start), ended by an all-zero
/// entry. `None` when the table has no VCEK; an error when it is malformed.
pub fn vcek_from_cert_table(table: &[u8]) -> Result<Option<Vec<u8>>> {
    const ENTRY: usize = 24;
    let mut at = 0;
    loop {
        let entry = table
            .get(at..at + ENTRY)
            .ok_or_else(|| provider_error("SNP certificate table has no terminating entry"))?;
        if entry.iter().all(|b| *b == 0) {
            return Ok(None);
        }
        let offset = u32::from_le_bytes([entry[16], entry[17], entry[18], entry[19]]) as usize;
        let length = u32::from_le_bytes([entry[20], entry[21], entry[22], entry[23]]) as usize;
        if entry[..16] == VCEK_GUID {
            let end = offset
                .checked_add(length)
                .filter(|end| *end <= table.len())
                .ok_or_else(|| provider_error("SNP certificate table entry out of bounds"))?;
            return Ok(Some(table[offset..end].to_vec()));
        }
        at += ENTRY;
    }
}

/// Evidence from one report. `dcap_collateral` is needed for TDX; `vcek` for SNP when the
/// certificate table has none. The report must carry `report_data`.
pub fn evidence_from_report(
    report: &TsmReport,
    report_data: &ReportData,
    dcap_collateral: Option<&DcapCollateral>,
    vcek: Option<&[u8]>,
) -> Result<Evidence> {
    let (kind, collateral) = match report.provider.trim() {
        "tdx_guest" => (
            EvidenceKind::TdxDcap,
            Collateral::Dcap(Box::new(
                dcap_collateral
                    .ok_or_else(|| {
                        provider_error("a TDX quote needs Intel's collateral (--dcap-collateral)")
                    })?
                    .clone(),
            )),
        ),
        "sev_guest" => {
            let from_table = if report.auxblob.is_empty() {
                None
            } else {
                vcek_from_cert_table(&report.auxblob)?
            };
            let vcek = from_table
                .or_else(|| vcek.map(<[u8]>::to_vec))
                .ok_or_else(|| {
                    provider_error(
                        "the host gave no VCEK with the SNP report: name one with --snp-vcek",
                    )
                })?;
            (
                EvidenceKind::SevSnp,
                Collateral::Snp(SnpCollateral { vcek }),
            )
        }
        other => {
            return Err(provider_error(format!(
                "configfs-tsm provider {other:?} is not supported (sev_guest, tdx_guest)"
            )))
        }
    };
    let evidence = Evidence::Quote(QuoteEvidence {
        kind,
        quote: report.outblob.clone(),
        collateral,
    });
    match evidence.report_data() {
        Ok(got) if got == *report_data => Ok(evidence),
        Ok(_) => Err(provider_error(
            "configfs-tsm returned a report for other report data",
        )),
        Err(_) => Err(provider_error(
            "configfs-tsm returned a report that does not parse",
        )),
    }
}

/// Makes evidence through configfs-tsm.
#[derive(Debug)]
pub struct TsmProvider {
    root: PathBuf,
    dcap_collateral: Option<PathBuf>,
    vcek: Option<PathBuf>,
    counter: AtomicU64,
}

impl TsmProvider {
    /// A provider on the interface at `root` ([`DEFAULT_TSM_REPORT_DIR`]), with the TDX
    /// collateral file and the SNP VCEK file it may need.
    pub fn new(root: PathBuf, dcap_collateral: Option<PathBuf>, vcek: Option<PathBuf>) -> Self {
        Self {
            root,
            dcap_collateral,
            vcek,
            counter: AtomicU64::new(0),
        }
    }

    /// One raw report for `report_data`.
    pub fn report(&self, report_data: &ReportData) -> Result<TsmReport> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let dir = self.root.join(format!("fog-{}-{n}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| {
            provider_error(format!(
                "cannot create {} (is this a confidential VM with configfs-tsm mounted?): {e}",
                dir.display()
            ))
        })?;
        struct Remove<'a>(&'a Path);
        impl Drop for Remove<'_> {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir(self.0);
            }
        }
        let _remove = Remove(&dir);
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                provider_error(format!("cannot read {}: {e}", dir.join(name).display()))
            })
        };
        std::fs::write(dir.join("inblob"), report_data.0).map_err(|e| {
            provider_error(format!(
                "cannot write {}: {e}",
                dir.join("inblob").display()
            ))
        })?;
        let generation = read("generation")?;
        let provider = String::from_utf8_lossy(&read("provider")?).into_owned();
        let outblob = read("outblob")?;
        let auxblob = match std::fs::read(dir.join("auxblob")) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(provider_error(format!(
                    "cannot read {}: {e}",
                    dir.join("auxblob").display()
                )))
            }
        };
        if read("generation")? != generation {
            return Err(provider_error(
                "configfs-tsm report changed while it was read (another writer)",
            ));
        }
        Ok(TsmReport {
            provider,
            outblob,
            auxblob,
        })
    }
}

impl Provider for TsmProvider {
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence> {
        let report = self.report(report_data)?;
        let collateral = match (&self.dcap_collateral, report.provider.trim()) {
            (Some(path), "tdx_guest") => {
                let json = std::fs::read(path)
                    .map_err(|e| provider_error(format!("cannot read {}: {e}", path.display())))?;
                Some(
                    crate::platform::dcap::collateral_from_json(&json).map_err(|_| {
                        provider_error(format!(
                            "{} is not DCAP collateral JSON (QuoteCollateralV3)",
                            path.display()
                        ))
                    })?,
                )
            }
            _ => None,
        };
        let vcek = match &self.vcek {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| provider_error(format!("cannot read {}: {e}", path.display())))?,
            ),
            None => None,
        };
        evidence_from_report(&report, report_data, collateral.as_ref(), vcek.as_deref())
    }
}
