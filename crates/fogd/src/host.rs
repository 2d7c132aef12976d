//! What every `fogd` service command shares: the operations endpoint and request limits
//! (`fog_host`), and the evidence refresh.

use std::{net::SocketAddr, time::Duration};

use clap::Args;
use fog_attest::{BoundEvidence, Provider};
use tokio::net::TcpListener;

use crate::{failed, input, CliError};

/// How often an enclave's evidence is renewed (clients refuse evidence older than their
/// policy's maximum age, a day by default).
pub const EVIDENCE_REFRESH: Duration = Duration::from_secs(3600);

/// The flags every service takes for its operations endpoint and its limits.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// A TOML file of flags (`recovery-db = "…"`, at the top level or in a `[view]`-style
    /// table); `FOG_CONFIG` names one too. Flags on the command line win, then `FOG_<FLAG>`
    /// environment variables, then the file (see the README).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Address of the operations endpoint: `/metrics` (Prometheus text), `/ready` (200 once
    /// caught up or loaded, else 503) and `/live`. gRPC health (`grpc.health.v1.Health`) is
    /// always served beside the service itself.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Seconds a call may take before it is given up (the client gets CANCELLED).
    #[arg(long = "request-timeout-secs", value_name = "S", default_value_t = 60)]
    pub request_timeout_secs: u64,
    /// Calls served at once across all connections; more wait their turn.
    #[arg(
        long = "max-concurrent-requests",
        value_name = "N",
        default_value_t = 256
    )]
    pub max_concurrent_requests: usize,
    /// A browser origin (`https://wallet.example.com`) whose pages may call this service
    /// over grpc-web (CORS); repeat for several. Without it, browsers are refused (gRPC and
    /// grpc-web clients that send no origin are served).
    #[arg(long = "web-origin", value_name = "ORIGIN")]
    pub web_origins: Vec<String>,
}

impl ServeArgs {
    /// Refuses limits out of range.
    pub fn check(&self) -> Result<(), CliError> {
        if self.request_timeout_secs == 0 || self.request_timeout_secs > 3600 {
            return Err(input("--request-timeout-secs must be between 1 and 3600"));
        }
        if self.max_concurrent_requests == 0 || self.max_concurrent_requests > 100_000 {
            return Err(input(
                "--max-concurrent-requests must be between 1 and 100000",
            ));
        }
        for origin in &self.web_origins {
            fog_host::check_web_origin(origin).map_err(input)?;
        }
        Ok(())
    }

    /// The serving spec for `grpc`: binds the operations endpoint (and says where).
    pub async fn spec(
        &self,
        name: &str,
        prefix: &'static str,
        grpc: TcpListener,
    ) -> Result<fog_host::Serve, CliError> {
        let mut spec = fog_host::Serve::new(prefix, grpc);
        spec.limits = fog_host::Limits {
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            max_concurrent_requests: self.max_concurrent_requests,
            ..fog_host::Limits::default()
        };
        spec.web_origins.extend(self.web_origins.iter().cloned());
        if let Some(addr) = self.metrics {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| input(format!("cannot listen on {addr}: {e}")))?;
            eprintln!(
                "fogd {name}: metrics on http://{}/metrics, readiness on /ready",
                listener.local_addr().map_err(|e| failed(e.to_string()))?
            );
            spec.ops = Some(listener);
        }
        Ok(spec)
    }
}

/// Renews an enclave's evidence every [`EVIDENCE_REFRESH`]: `make` binds the
/// channel key, `apply` installs it.
pub fn refresh_evidence(
    what: &'static str,
    make: impl Fn() -> Result<BoundEvidence, CliError> + Send + 'static,
    apply: impl Fn(BoundEvidence) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    fog_host::spawn_refresh(EVIDENCE_REFRESH, what, move || {
        let evidence = make().map_err(|_| "no evidence".to_string())?;
        if apply(evidence) {
            Ok(())
        } else {
            Err("the enclave refused the evidence".into())
        }
    })
}

/// `make` for [`refresh_evidence`] from a provider and a channel key.
pub fn maker(
    provider: std::sync::Arc<dyn Provider>,
    channel_key: [u8; 32],
) -> impl Fn() -> Result<BoundEvidence, CliError> + Send + 'static {
    move || crate::view::bound_evidence(&provider, &channel_key)
}
