//! The reports ingest published to the recovery DB, as a [`ReportSource`].

use fog_attest::{BoundEvidence, Report};
use fog_recovery_db::ReportDb;

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
            match BoundEvidence::decode(&data.evidence) {
                Ok(evidence) => reports.push(Report {
                    fog_report_id: id,
                    evidence,
                    pubkey_expiry: data.pubkey_expiry.0,
                }),
                Err(e) => tracing::warn!(report_id = %id, "report evidence does not decode: {e}"),
            }
        }
        Ok(reports)
    }
}
