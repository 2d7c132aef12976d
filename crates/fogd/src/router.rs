//! `fogd view-router` and `fogd router-admin`, and what the router and store commands share:
//! block ranges on the command line, the attested store channels, the admin listener.
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
use fog_attest::{EnclaveResponder, FogEnclave, IdentityRule, Policy, SimProvider, Verifier};
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

/// Peers accepted on a store channel: `identity`'s measurement under the simulated quoting
/// key (on hardware, the vendor's root), evidence up to a day old.
fn peer_verifier(provider: &SimProvider, identity: FogEnclave) -> Verifier {
    Verifier::new(
        provider.trust_anchor(),
        Policy::new(
            vec![IdentityRule::Measurement(
                fog_attest::fog_identity(identity).measurement,
            )],
            24 * 3600,
        ),
    )
}

/// A view enclave's side of the router–store channels, and the channel key its evidence must
/// bind (for the refresh).
pub(crate) fn view_link(
    provider: &SimProvider,
) -> Result<(fog_view_server::PeerChannels, [u8; 32]), CliError> {
    let responder = EnclaveResponder::from_provider(provider)
        .map_err(|e| failed(format!("store channel: {e}")))?;
    let key = *responder.channel_key();
    Ok((
        fog_view_server::store_link(responder, peer_verifier(provider, FogEnclave::View)),
        key,
    ))
}

/// Flags every router takes.
#[derive(Debug, Args)]
pub struct RouterArgs {
    /// Where the simulated quoting key lives (shared with the stores of the deployment).
    #[arg(long = "state-dir", value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Address of the client API.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// A store's address (`http://host:port`, its service listener); repeat for each. More
    /// can be added while running (`fogd router-admin add-store`).
    #[arg(long = "store", value_name = "URI")]
    pub stores: Vec<String>,
    /// Address of the admin API (`fog_router.RouterAdminAPI`). Loopback by default; any other
    /// address needs an admin token.
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
}

/// Serves a router's admin API on `listener` until `shutdown`.
async fn serve_admin<L: fog_router::StoreChannels>(
    listener: tokio::net::TcpListener,
    admin: fog_router::RouterAdmin<L>,
    access: fog_host::admin::AdminAccess,
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
    let config = args.check()?;
    let access = crate::ingest::admin_access(
        args.admin_listen,
        args.admin_token_file.as_deref(),
        ROUTER_TOKEN_ENV,
    )?;
    std::fs::create_dir_all(&args.state_dir).map_err(|e| input(format!("state directory: {e}")))?;
    let quoting = crate::ingest::sim_quoting_key(&args.state_dir)?;
    let view_provider = || {
        SimProvider::from_quoting_key(quoting.clone(), fog_attest::fog_identity(FogEnclave::View))
    };
    let provider = view_provider();
    let responder = EnclaveResponder::from_provider(&provider)
        .map_err(|e| failed(format!("view router enclave: {e}")))?;
    let client_key = *responder.channel_key();
    let (link, link_key) = view_link(&provider)?;
    let enclave = fog_view_server::build_router(responder, link);
    let server = Arc::new(fog_view_server::ViewRouterServer::new(enclave, config));
    for uri in &args.stores {
        server
            .stores()
            .add(uri)
            .map_err(|e| input(format!("--store: {e}")))?;
    }
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let shutdown = crate::shutdown_signal();
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| input(format!("cannot listen on {}: {e}", args.listen)))?;
        let admin_listener = tokio::net::TcpListener::bind(args.admin_listen)
            .await
            .map_err(|e| input(format!("cannot listen on {}: {e}", args.admin_listen)))?;
        eprintln!(
            "fogd view-router: FogViewAPI on {}, admin API on {}, {} store(s)",
            listener.local_addr().map_err(|e| failed(e.to_string()))?,
            admin_listener
                .local_addr()
                .map_err(|e| failed(e.to_string()))?,
            args.stores.len()
        );
        let spec = args
            .serve
            .spec("view-router", fog_view_server::router::PREFIX, listener)
            .await?;
        let probes = server.spawn_probes(Duration::from_millis(args.probe_interval_ms));
        let refreshers = [
            {
                let server = server.clone();
                crate::host::refresh_evidence(
                    "view router evidence",
                    crate::host::sim_maker(view_provider(), client_key),
                    move |e| server.enclave().sessions().set_evidence(e).is_ok(),
                )
            },
            {
                let server = server.clone();
                crate::host::refresh_evidence(
                    "view router store evidence",
                    crate::host::sim_maker(provider, link_key),
                    move |e| server.enclave().set_store_evidence(e).is_ok(),
                )
            },
        ];
        let admin = fog_router::RouterAdmin::new(server.stores().clone(), server.probe_hook());
        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin_task = tokio::spawn(serve_admin(admin_listener, admin, access, async move {
            let _ = admin_stopped.await;
        }));
        let service = fog_view_server::ViewRouterService::new(server.clone()).into_server();
        let mut spec = spec;
        spec.health_names = vec!["fog_view.FogViewAPI"];
        let served = fog_host::serve(spec, fog_host::Routes::new(service), server, shutdown).await;
        let _ = stop_admin.send(());
        let _ = admin_task.await;
        probes.abort();
        for r in refreshers {
            r.abort();
        }
        eprintln!("fogd view-router stopped");
        served.map_err(|e| failed(format!("the view router failed: {e}")))
    })
}

/// Arguments of `fogd router-admin`.
#[derive(Debug, Args)]
pub struct RouterAdminArgs {
    /// The router's admin listener.
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
}
