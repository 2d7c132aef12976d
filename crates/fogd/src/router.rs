//! `fogd view-router`, `fogd ledger-router` and `fogd router-admin`, and what the router and
//! store commands share: block ranges on the command line, the attested store channels, the
//! admin listener and the probes.
//!
//! A router listens for clients on `--listen` (the same API as the service it fronts) and for
//! its admin API (`fog_router.RouterAdminAPI`) on `--admin-listen`, loopback unless a token
//! guards it (`--admin-token-file` or `FOG_ROUTER_ADMIN_TOKEN`).

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use clap::{Args, Subcommand};
use fog_api::fog_router::{
    router_admin_api_client::RouterAdminApiClient, AddStoreRequest, GetStoresRequest,
    RemoveStoreRequest, StoresResponse,
};
use fog_attest::FogEnclave;

use crate::attestation::Attestation;
use fog_host::admin::AdminAccess;
use fog_router::{Probe, StoreChannels, Stores};
use fog_types::common::BlockRange;
use serde_json::json;

use crate::ingest_admin::{refused, request, token};
use crate::{failed, host::ServeArgs, input, CliError};

/// The environment variable read for a router's admin token.
pub const ROUTER_TOKEN_ENV: &str = "FOG_ROUTER_ADMIN_TOKEN";

/// Parses `START..END` or `START..` (open-ended) into a range of at least one block.
pub fn parse_blocks(text: &str) -> Result<BlockRange, String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("{text:?}: expected START..END or START.."))?;
    let start: u64 = start
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: the start is not a block number"))?;
    let end: u64 = match end.trim() {
        "" => u64::MAX,
        e => e
            .parse()
            .map_err(|_| format!("{text:?}: the end is not a block number"))?,
    };
    if end <= start {
        return Err(format!(
            "{text:?}: the range holds no block (END must be above START)"
        ));
    }
    Ok(BlockRange::new(start, end))
}

/// `START..END`, or `START..` when open-ended.
pub fn show_blocks(b: BlockRange) -> String {
    if b.end_block == u64::MAX {
        format!("{}..", b.start_block)
    } else {
        format!("{}..{}", b.start_block, b.end_block)
    }
}

/// Flags every router takes.
#[derive(Debug, Args)]
pub struct RouterArgs {
    /// Where the simulated quoting key lives (shared with the stores of the deployment).
    #[arg(long = "state-dir", value_name = "DIR")]
    pub state_dir: PathBuf,
    #[command(flatten)]
    pub attestation: crate::attestation::EvidenceArgs,
    /// Address of the client API.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// A store's address (`http://host:port`, its service listener); repeat for each. More
    /// can be added while running (`fogd router-admin add-store`).
    #[arg(long = "store", value_name = "URI")]
    pub stores: Vec<String>,
    /// Address of the admin API (`fog_router.RouterAdminAPI`). Loopback by default (port 3229
    /// for the view router, 3230 for the ledger router); any other address needs an admin
    /// token.
    #[arg(
        long = "admin-listen",
        value_name = "ADDR",
        default_value = "127.0.0.1:3229"
    )]
    pub admin_listen: SocketAddr,
    /// File holding the admin API's bearer token; `FOG_ROUTER_ADMIN_TOKEN` is read when not
    /// given.
    #[arg(long = "admin-token-file", value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,
    /// How often every store is probed for what it covers, in milliseconds.
    #[arg(long = "probe-interval-ms", value_name = "MS", default_value_t = 1000)]
    pub probe_interval_ms: u64,
    /// The longest a store may take to answer, in milliseconds (then one retry on a new
    /// channel, then the store counts as down for that query).
    #[arg(long = "store-timeout-ms", value_name = "MS", default_value_t = 10_000)]
    pub store_timeout_ms: u64,
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl RouterArgs {
    fn check(&self) -> Result<fog_router::StoresConfig, CliError> {
        self.serve.check()?;
        if !(10..=3_600_000).contains(&self.probe_interval_ms) {
            return Err(input("--probe-interval-ms must be between 10 and 3600000"));
        }
        if !(10..=600_000).contains(&self.store_timeout_ms) {
            return Err(input("--store-timeout-ms must be between 10 and 600000"));
        }
        Ok(fog_router::StoresConfig {
            timeout: Duration::from_millis(self.store_timeout_ms),
            ..fog_router::StoresConfig::default()
        })
    }

    /// Checks the flags and reads the admin token: how the router asks its stores, and who
    /// may call its admin API.
    fn prepare(&self) -> Result<(fog_router::StoresConfig, AdminAccess), CliError> {
        let config = self.check()?;
        let access = crate::ingest::admin_access(
            self.admin_listen,
            self.admin_token_file.as_deref(),
            ROUTER_TOKEN_ENV,
        )?;
        Ok((config, access))
    }

    /// Adds the `--store` stores (on a runtime: their lazy connections need one).
    fn add_stores<L: StoreChannels>(&self, stores: &Stores<L>) -> Result<(), CliError> {
        for uri in &self.stores {
            stores
                .add(uri)
                .map_err(|e| input(format!("--store: {e}")))?;
        }
        Ok(())
    }

    /// Binds the client and admin listeners and says where they are.
    async fn bind(
        &self,
        command: &str,
        api: &str,
    ) -> Result<(tokio::net::TcpListener, tokio::net::TcpListener), CliError> {
        let listener = crate::ledger::bind(self.listen).await?;
        let admin_listener = crate::ledger::bind(self.admin_listen).await?;
        eprintln!(
            "fogd {command}: {api} on {}, admin API on {}, {} store(s)",
            listener.local_addr().map_err(|e| failed(e.to_string()))?,
            admin_listener
                .local_addr()
                .map_err(|e| failed(e.to_string()))?,
            self.stores.len()
        );
        Ok((listener, admin_listener))
    }

    /// Starts `router`'s probes and its admin API over `stores` on `listener`.
    fn start<L: StoreChannels, P: Probe>(
        &self,
        router: &Arc<P>,
        stores: Arc<Stores<L>>,
        listener: tokio::net::TcpListener,
        access: AdminAccess,
    ) -> Running {
        let probes =
            fog_router::spawn_probes(router, Duration::from_millis(self.probe_interval_ms));
        let admin = fog_router::RouterAdmin::new(stores, fog_router::probe_hook(router));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let admin = tokio::spawn(serve_admin(listener, admin, access, async move {
            let _ = stopped.await;
        }));
        Running {
            probes,
            stop,
            admin,
        }
    }
}

/// A router's probes and admin API, running beside its client API.
struct Running {
    probes: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
    admin: tokio::task::JoinHandle<Result<(), CliError>>,
}

impl Running {
    /// Stops the admin API (waiting for it) and the probes.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.admin.await;
        self.probes.abort();
    }
}

/// Serves a router's admin API on `listener` until `shutdown`.
async fn serve_admin<L: fog_router::StoreChannels>(
    listener: tokio::net::TcpListener,
    admin: fog_router::RouterAdmin<L>,
    access: AdminAccess,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), CliError> {
    tonic::transport::Server::builder()
        .add_service(admin.into_server(access))
        .serve_with_incoming_shutdown(fog_host::incoming(listener), shutdown)
        .await
        .map_err(|e| failed(format!("the admin API failed: {e}")))
}

/// Runs the view router until Ctrl-C or SIGTERM.
pub fn run_view(args: RouterArgs) -> Result<(), CliError> {
    crate::init_tracing();
    let (config, access) = args.prepare()?;
    std::fs::create_dir_all(&args.state_dir).map_err(|e| input(format!("state directory: {e}")))?;
    let attestation = Attestation::new(&args.attestation, &args.state_dir, FogEnclave::View)?;
    let provider = attestation.provider();
    eprintln!("fogd view-router: {} evidence", attestation.source());
    // The enclave makes its channel keys inside; its stores must present view evidence. Its
    // table of held queries holds at least the requests served at once.
    let mut enclave_config = fog_view_server::router::enclave_config();
    enclave_config.max_pending_queries = enclave_config
        .max_pending_queries
        .max(args.serve.max_concurrent_requests);
    let enclave = fog_enclave::boundary::view_router::ViewRouterBoundary::simulated(
        &enclave_config,
        attestation.peer_verifier(FogEnclave::View)?,
    )
    .map_err(|e| failed(format!("view router enclave: {e}")))?;
    let server = Arc::new(fog_view_server::ViewRouterServer::new(enclave, config));
    server
        .enclave()
        .attest(&provider)
        .map_err(|e| failed(format!("view router enclave evidence: {e}")))?;
    let keys = server
        .enclave()
        .channel_keys()
        .map_err(|e| failed(format!("view router enclave: {e}")))?;
    let (client_key, link_key) = (
        keys.client,
        keys.peers
            .ok_or_else(|| failed("view router enclave: no store channel key"))?,
    );
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        // Inside the runtime: a store's connection is made there.
        args.add_stores(server.stores())?;
        let shutdown = crate::shutdown_signal();
        let (listener, admin_listener) = args.bind("view-router", "FogViewAPI").await?;
        let spec = args
            .serve
            .spec("view-router", fog_view_server::router::PREFIX, listener)
            .await?;
        let running = args.start(&server, server.stores().clone(), admin_listener, access);
        let refreshers = [
            {
                let server = server.clone();
                crate::host::refresh_evidence(
                    "view router evidence",
                    crate::host::maker(provider.clone(), client_key),
                    move |e| server.enclave().set_evidence(&e).is_ok(),
                )
            },
            {
                let server = server.clone();
                crate::host::refresh_evidence(
                    "view router store evidence",
                    crate::host::maker(provider, link_key),
                    move |e| server.enclave().set_store_evidence(&e).is_ok(),
                )
            },
        ];
        let service = fog_view_server::ViewRouterService::new(server.clone()).into_server();
        let mut spec = spec;
        spec.health_names = vec!["fog_view.FogViewAPI"];
        let served = fog_host::serve(spec, fog_host::Routes::new(service), server, shutdown).await;
        running.stop().await;
        for r in refreshers {
            r.abort();
        }
        eprintln!("fogd view-router stopped");
        served.map_err(|e| failed(format!("the view router failed: {e}")))
    })
}

/// Arguments of `fogd ledger-router`: a fog ledger's ledger flags and the router flags.
#[derive(Debug, Args)]
#[command(mut_arg("admin_listen", |a| a.default_value("127.0.0.1:3230")))]
pub struct LedgerRouterArgs {
    #[command(flatten)]
    source: crate::ledger::LedgerSource,
    #[command(flatten)]
    router: RouterArgs,
}

/// Runs the ledger router until Ctrl-C or SIGTERM: a fog ledger of its own (its own ledger DB
/// copy, its enclave keeping no key image) whose key-image checks the key-image stores answer.
pub fn run_ledger(args: LedgerRouterArgs) -> Result<(), CliError> {
    let LedgerRouterArgs { source, router } = args;
    let (config, access) = router.prepare()?;
    let (parts, host) = crate::ledger::prepare(&source, &router.state_dir, &router.attestation)?;
    // The simulated ledger router enclave, loaded here and handed to the server; its table
    // of open checks holds at least the requests served at once.
    let mut enclave_config =
        fog_enclave::boundary::ledger_router::LedgerRouterConfig::new(parts.peers);
    enclave_config.max_open_checks = enclave_config
        .max_open_checks
        .max(router.serve.max_concurrent_requests);
    let enclave =
        fog_enclave::boundary::ledger_router::LedgerRouterBoundary::simulated(enclave_config)
            .map_err(|e| failed(format!("ledger router enclave: {e}")))?;
    let server = Arc::new(
        fog_ledger_server::LedgerServer::new_router(
            parts.ledger,
            enclave,
            &parts.provider,
            parts.config,
            config,
        )
        .map_err(|e| failed(format!("ledger router enclave: {e}")))?,
    );
    let stores = server
        .router()
        .ok_or_else(|| failed("not a ledger router"))?
        .clone();
    let link_key = stores
        .store_channel_key()
        .map_err(|e| failed(format!("ledger router enclave: {e}")))?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        router.add_stores(stores.stores())?;
        let (listener, admin_listener) = router.bind("ledger-router", "gRPC").await?;
        let spec = router
            .serve
            .spec("ledger-router", fog_ledger_server::router::PREFIX, listener)
            .await?;
        let running = router.start(&stores, stores.stores().clone(), admin_listener, access);
        let served = host
            .serve("ledger-router", server, spec, link_key, |s, e| {
                s.router().is_some_and(|r| r.set_store_evidence(e).is_ok())
            })
            .await;
        running.stop().await;
        served
    })
}

/// Arguments of `fogd router-admin`.
#[derive(Debug, Args)]
pub struct RouterAdminArgs {
    /// The router's admin listener (a ledger router's is `http://127.0.0.1:3230` by default).
    #[arg(long, value_name = "URI", default_value = "http://127.0.0.1:3229")]
    uri: String,
    /// File holding the admin token; `FOG_ROUTER_ADMIN_TOKEN` is read when not given.
    #[arg(long = "token-file", value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    call: RouterCall,
}

/// The router admin calls.
#[derive(Debug, Subcommand)]
pub enum RouterCall {
    /// The stores, what each covers, and the router's cover.
    Stores,
    /// Add a store (its service listener, `http://host:port`).
    AddStore {
        /// The store's address.
        #[arg(value_name = "URI")]
        uri: String,
    },
    /// Stop asking a store.
    RemoveStore {
        /// The store's address.
        #[arg(value_name = "URI")]
        uri: String,
    },
}

fn print_stores(r: &StoresResponse, as_json: bool) {
    if as_json {
        let stores: Vec<_> = r
            .stores
            .iter()
            .map(|s| {
                json!({
                    "uri": s.uri, "up": s.up, "range_start": s.range_start,
                    "range_end": (s.range_end != u64::MAX).then_some(s.range_end),
                    "processed": s.processed, "queries": s.queries, "errors": s.errors,
                    "mean_latency_ms": s.mean_latency_ms, "last_error": s.last_error,
                })
            })
            .collect();
        println!("{}", json!({ "cover": r.cover, "stores": stores }));
        return;
    }
    println!("cover: blocks 0..{}", r.cover);
    for s in &r.stores {
        println!(
            "{} {} blocks {} processed to {} queries {} errors {} mean {:.1} ms{}",
            s.uri,
            if s.up { "up" } else { "DOWN" },
            show_blocks(BlockRange::new(s.range_start, s.range_end)),
            s.processed,
            s.queries,
            s.errors,
            s.mean_latency_ms,
            if s.last_error.is_empty() {
                String::new()
            } else {
                format!(" (last error: {})", s.last_error)
            }
        );
    }
}

/// Runs one admin call.
pub fn run_admin(args: RouterAdminArgs) -> Result<(), CliError> {
    let token = token(args.token_file.as_deref(), ROUTER_TOKEN_ENV)?;
    if !args.uri.starts_with("http://") {
        return Err(input(format!("{}: expected http://host:port", args.uri)));
    }
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let mut client = RouterAdminApiClient::connect(args.uri.clone())
            .await
            .map_err(|e| failed(format!("cannot reach {}: {e}", args.uri)))?;
        let r = match &args.call {
            RouterCall::Stores => {
                client
                    .get_stores(request(GetStoresRequest {}, &token))
                    .await
            }
            RouterCall::AddStore { uri } => {
                client
                    .add_store(request(AddStoreRequest { uri: uri.clone() }, &token))
                    .await
            }
            RouterCall::RemoveStore { uri } => {
                client
                    .remove_store(request(RemoveStoreRequest { uri: uri.clone() }, &token))
                    .await
            }
        }
        .map_err(|s| refused(&args.uri, s))?;
        print_stores(&r.into_inner(), args.json);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ranges_parse_and_bad_ones_say_why() {
        assert_eq!(parse_blocks("0..").unwrap(), BlockRange::new(0, u64::MAX));
        assert_eq!(parse_blocks("100..400").unwrap(), BlockRange::new(100, 400));
        assert_eq!(show_blocks(parse_blocks("7..").unwrap()), "7..");
        assert_eq!(show_blocks(parse_blocks(" 3 .. 9 ").unwrap()), "3..9");
        for bad in ["", "5", "a..", "5..b", "9..9", "9..3", "-1..4"] {
            assert!(parse_blocks(bad).is_err(), "{bad:?}");
        }
        assert!(parse_blocks("9..3").unwrap_err().contains("holds no block"));
    }

    #[test]
    fn ledger_router_takes_ledger_and_router_flags_with_its_own_admin_port() {
        use clap::Parser as _;
        let parse = |words: &[&str]| {
            crate::Cli::try_parse_from(std::iter::once("fogd").chain(words.iter().copied()))
        };
        let cli = parse(&[
            "ledger-router",
            "--ledger-db",
            "l.redb",
            "--node",
            "http://n:3223",
            "--state-dir",
            "s",
            "--listen",
            "127.0.0.1:3225",
            "--store",
            "http://a:3225",
            "--store",
            "http://b:3225",
        ])
        .unwrap();
        let crate::Command::LedgerRouter(args) = cli.command else {
            panic!("not ledger-router");
        };
        assert_eq!(args.router.admin_listen, "127.0.0.1:3230".parse().unwrap());
        assert_eq!(args.router.stores, ["http://a:3225", "http://b:3225"]);
        assert_eq!(args.router.probe_interval_ms, 1000);
        // The view router keeps its port.
        let cli = parse(&["view-router", "--state-dir", "s", "--listen", "127.0.0.1:1"]).unwrap();
        let crate::Command::ViewRouter(args) = cli.command else {
            panic!("not view-router");
        };
        assert_eq!(args.admin_listen, "127.0.0.1:3229".parse().unwrap());
        // A ledger store of a range; an empty range is refused.
        let store = [
            "ledger",
            "--ledger-db",
            "l",
            "--state-dir",
            "s",
            "--listen",
            "127.0.0.1:1",
        ];
        let with = |blocks: &str| {
            let mut words = store.to_vec();
            words.extend(["--key-image-blocks", blocks]);
            parse(&words)
        };
        assert!(with("100..").is_ok());
        assert!(with("5..5").is_err());
        assert!(parse(&store).is_ok());
    }
}
