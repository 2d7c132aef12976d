#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod authority;
mod recovery;

pub use recovery::{report_from_row, RecoveryDbReports};

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::SigningKey;
use fog_api::report::report_api_server::{ReportApi, ReportApiServer};
use fog_attest::report::sign_reports;
use fog_attest::wire::{ReportRequest, ReportResponse};
use fog_attest::Report;
use fog_host::{BoxFuture, Observation, Observe, Readiness};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tonic::{Request, Response, Status};
use x509_cert::der::Encode;
use x509_cert::Certificate;

/// Errors of the report server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate chain PEM does not parse or is empty.
    #[error("certificate chain file is not a PEM chain")]
    ChainPem,
    /// The signing key PEM is not an Ed25519 PKCS#8 key.
    #[error("signing key file is not an Ed25519 PKCS#8 PEM key")]
    KeyPem,
    /// The signing key is not the chain's leaf key.
    #[error("signing key does not match the chain's leaf certificate")]
    KeyMismatch,
    /// The reports could not be read from their source.
    #[error("report source unavailable")]
    Source,
    /// Building the authority failed.
    #[error("authority: {0}")]
    Attest(#[from] fog_attest::Error),
    /// The gRPC server failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Where the reports come from. The recovery DB (a later issue) implements it over its
/// `reports` table; until then [`InMemoryReportSource`] does. Each call returns every
/// current report; the server signs them as one list.
pub trait ReportSource: Send + Sync + 'static {
    /// All current reports, in a stable order (the signature covers the order).
    fn reports(&self) -> Result<Vec<Report>, Error>;
}

/// Reports held in memory, keyed (and so ordered) by report id.
#[derive(Debug, Default)]
pub struct InMemoryReportSource {
    reports: RwLock<BTreeMap<String, Report>>,
}

impl InMemoryReportSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the report with this report's id.
    pub fn set(&self, report: Report) {
        if let Ok(mut m) = self.reports.write() {
            m.insert(report.fog_report_id.clone(), report);
        }
    }

    /// Removes a report.
    pub fn remove(&self, fog_report_id: &str) {
        if let Ok(mut m) = self.reports.write() {
            m.remove(fog_report_id);
        }
    }
}

impl ReportSource for InMemoryReportSource {
    fn reports(&self) -> Result<Vec<Report>, Error> {
        let m = self.reports.read().map_err(|_| Error::Source)?;
        Ok(m.values().cloned().collect())
    }
}

/// The operator's signing configuration: the chain (DER, root first) and the leaf key.
pub struct SigningConfig {
    chain: Vec<Vec<u8>>,
    leaf_key: SigningKey,
}

impl core::fmt::Debug for SigningConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningConfig")
            .field("chain_len", &self.chain.len())
            .field("leaf_public_key", &self.leaf_key.verifying_key())
            .finish_non_exhaustive()
    }
}

impl SigningConfig {
    /// From a chain (DER, root first) and the leaf key; the key must be the leaf's.
    pub fn new(chain: Vec<Vec<u8>>, leaf_key: SigningKey) -> Result<Self, Error> {
        let leaf = chain
            .last()
            .and_then(|der| <Certificate as x509_cert::der::Decode>::from_der(der).ok())
            .ok_or(Error::ChainPem)?;
        let leaf_spki = leaf
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|_| Error::ChainPem)?;
        if leaf_spki != fog_attest::chain::ed25519_spki_der(&leaf_key.verifying_key())? {
            return Err(Error::KeyMismatch);
        }
        Ok(Self { chain, leaf_key })
    }

    /// Loads a PEM chain file (root first, as `fog_report_server::authority` writes
    /// `chain.pem`) and a PKCS#8 PEM Ed25519 key file.
    pub fn load(chain_pem: &Path, key_pem: &Path) -> Result<Self, Error> {
        let chain_bytes = std::fs::read(chain_pem).map_err(|source| Error::Io {
            path: chain_pem.display().to_string(),
            source,
        })?;
        let certs = Certificate::load_pem_chain(&chain_bytes).map_err(|_| Error::ChainPem)?;
        if certs.is_empty() {
            return Err(Error::ChainPem);
        }
        let chain = certs
            .iter()
            .map(|c| c.to_der().map_err(|_| Error::ChainPem))
            .collect::<Result<Vec<_>, _>>()?;
        let key_text =
            zeroize::Zeroizing::new(std::fs::read_to_string(key_pem).map_err(|source| {
                Error::Io {
                    path: key_pem.display().to_string(),
                    source,
                }
            })?);
        let key = SigningKey::from_pkcs8_pem(&key_text).map_err(|_| Error::KeyPem)?;
        Self::new(chain, key)
    }

    /// Signs the current reports.
    pub fn sign(&self, reports: &[Report]) -> ReportResponse {
        sign_reports(reports, self.chain.clone(), &self.leaf_key)
    }
}

/// The `ReportAPI` gRPC service.
pub struct ReportService<S> {
    source: Arc<S>,
    signing: Arc<SigningConfig>,
    stats: Arc<ReportStats>,
}

/// What the report service counts.
#[derive(Debug, Default)]
pub struct ReportStats {
    /// `GetReports` calls answered.
    pub answered: AtomicU64,
    /// Calls that failed (the source was unavailable).
    pub failed: AtomicU64,
    /// Reports in the last answer.
    pub reports: AtomicU64,
}

/// The prefix of the report service's metric names.
pub const METRICS_PREFIX: &str = "fog_report";

impl Observe for ReportStats {
    fn observe(&self) -> BoxFuture<'_, Observation> {
        Box::pin(async move {
            let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let mut o = Observation::new(Readiness::ready("serving reports"));
            o.counter(
                "answered",
                "GetReports calls answered.",
                get(&self.answered),
            )
            .counter(
                "failed",
                "GetReports calls that failed (source unavailable).",
                get(&self.failed),
            )
            .gauge("reports", "Reports in the last answer.", get(&self.reports));
            o
        })
    }
}

impl<S> core::fmt::Debug for ReportService<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReportService")
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}

impl<S: ReportSource> ReportService<S> {
    /// A service over a source and a signing configuration.
    pub fn new(source: Arc<S>, signing: Arc<SigningConfig>) -> Self {
        Self {
            source,
            signing,
            stats: Arc::default(),
        }
    }

    /// The counters, shared.
    pub fn stats(&self) -> Arc<ReportStats> {
        Arc::clone(&self.stats)
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> ReportApiServer<Self> {
        ReportApiServer::new(self)
    }
}

/// The one place errors become gRPC statuses: a fixed message, never the detail.
fn to_status(e: &Error) -> Status {
    match e {
        Error::Source => Status::unavailable("reports unavailable"),
        _ => Status::internal("internal error"),
    }
}

#[tonic::async_trait]
impl<S: ReportSource> ReportApi for ReportService<S> {
    async fn get_reports(
        &self,
        _request: Request<ReportRequest>,
    ) -> Result<Response<ReportResponse>, Status> {
        let source = self.source.clone();
        let signing = self.signing.clone();
        // The source may block (a database); keep it off the async workers.
        let response = tokio::task::spawn_blocking(move || {
            source.reports().map(|reports| signing.sign(&reports))
        })
        .await
        .map_err(|_| Status::internal("internal error"))?;
        match response {
            Ok(response) => {
                self.stats.answered.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .reports
                    .store(response.reports.len() as u64, Ordering::Relaxed);
                Ok(Response::new(response))
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                Err(to_status(&e))
            }
        }
    }
}

/// Serves `ReportAPI` on `listener` until `shutdown` completes.
pub async fn serve<S: ReportSource>(
    listener: tokio::net::TcpListener,
    source: Arc<S>,
    signing: SigningConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), Error> {
    serve_spec(
        fog_host::Serve::new(METRICS_PREFIX, listener),
        source,
        signing,
        shutdown,
    )
    .await
}

/// [`serve`] as `spec` says: limits, an operations endpoint.
pub async fn serve_spec<S: ReportSource>(
    mut spec: fog_host::Serve,
    source: Arc<S>,
    signing: SigningConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), Error> {
    let service = ReportService::new(source, Arc::new(signing));
    let stats = service.stats();
    if spec.health_names.is_empty() {
        spec.health_names = vec!["report.ReportAPI"];
    }
    fog_host::serve(
        spec,
        fog_host::Routes::new(service.into_server()),
        stats,
        shutdown,
    )
    .await?;
    Ok(())
}
