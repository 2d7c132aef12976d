//! The reports ingest published to the recovery DB, as a [`ReportSource`].

use fog_attest::{BoundEvidence, Report, VerifyError};
use fog_recovery_db::{ReportData, ReportDb};

use crate::{Error, ReportSource};

/// Reads the reports that ingest published to the recovery DB (`fogd report`, `fogd
/// local-network` and the tests that run the system). `runtime` runs the recovery DB's
/// calls: the report service asks on a blocking thread, where blocking on it is allowed.
pub struct RecoveryDbReports<D> {
    db: D,
    runtime: tokio::runtime::Handle,
}

impl<D> RecoveryDbReports<D> {
    /// Reports from `db`, read on `runtime`.
    pub fn new(db: D, runtime: tokio::runtime::Handle) -> Self {
        Self { db, runtime }
    }
}

impl<D: ReportDb> ReportSource for RecoveryDbReports<D> {
    fn reports(&self) -> Result<Vec<Report>, Error> {
        let rows = self
            .runtime
            .block_on(self.db.get_all_reports())
            .map_err(|e| {
                tracing::warn!("recovery DB: {e}");
                Error::Source
            })?;
        let mut reports = Vec::with_capacity(rows.len());
        for (id, data) in rows {
            // A report whose evidence does not decode is left out (and logged): a sender could
            // not validate it anyway.
            match report_from_row(&id, &data) {
                Ok(report) => reports.push(report),
                Err(e) => tracing::warn!(report_id = %id, "report evidence does not decode: {e}"),
            }
        }
        Ok(reports)
    }
}

/// One row of the recovery DB's `reports` table as the report served: its evidence bytes
/// decoded (an error if they do not decode). Public for the fuzz targets (`fuzz/`); not part
/// of the API.
#[doc(hidden)]
pub fn report_from_row(id: &str, data: &ReportData) -> Result<Report, VerifyError> {
    Ok(Report {
        fog_report_id: id.to_owned(),
        evidence: BoundEvidence::decode(&data.evidence)?,
        pubkey_expiry: data.pubkey_expiry.0,
    })
}
