//! `fogd local-network --web ADDR`: the web wallet's page (`web/`, with the wasm that
//! `scripts/web.sh build` puts in `web/pkg/`) and `/local-network.json` (the services, the
//! attestation policy, the fog settings and the demo wallets' mnemonics), over HTTP/1.1 on a
//! loopback address of its own. The page's origin is allowed (CORS) by every service the
//! network starts; the services answer its grpc-web calls directly.
//!
//! Loopback only: the demo wallets' mnemonics are served to the page.

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    body::Incoming, header, server::conn::http1, service::service_fn, Method, Request, Response,
    StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinHandle};

use crate::{failed, input, CliError};

/// The page's files in this source tree (`--web-root` overrides it).
pub const DEFAULT_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web");

/// The path of the network settings.
const NETWORK_PATH: &str = "/local-network.json";

/// Connections served at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 32;
/// The longest a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one connection may stay open.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest file served.
const MAX_FILE: u64 = 64 << 20;

/// The bound listener, before the network's settings are known.
pub struct WebServer {
    listener: TcpListener,
    addr: SocketAddr,
    root: PathBuf,
}

/// Binds `addr` (loopback only) for the page in `root` (default [`DEFAULT_ROOT`]), checks
/// that the page and its wasm are there, and allows the page's origins
/// (`http://ADDR`, and `http://localhost:PORT` for 127.0.0.1) in every service this process
/// starts from now on.
pub async fn bind(addr: SocketAddr, root: Option<PathBuf>) -> Result<WebServer, CliError> {
    if !addr.ip().is_loopback() {
        return Err(input(format!(
            "--web {addr}: the page serves the demo wallets' mnemonics, so it listens on a \
             loopback address only (127.0.0.1 or [::1])"
        )));
    }
    let root = root.unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
    let root = std::path::absolute(&root)
        .map_err(|e| input(format!("--web-root {}: {e}", root.display())))?;
    for file in [
        "index.html",
        "app.js",
        "pkg/fog_web.js",
        "pkg/fog_web_bg.wasm",
    ] {
        if !root.join(file).is_file() {
            return Err(input(format!(
                "{} is missing: the web wallet is not built (run `bash scripts/web.sh build`, \
                 or give --web-root DIR)",
                root.join(file).display()
            )));
        }
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| input(format!("cannot listen on {addr} for the web wallet: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| failed(format!("web wallet listener: {e}")))?;
    let mut origins = vec![format!("http://{addr}")];
    if addr.ip() == std::net::Ipv4Addr::LOCALHOST {
        origins.push(format!("http://localhost:{}", addr.port()));
    }
    for origin in &origins {
        fog_host::allow_web_origin(origin).map_err(failed)?;
    }
    Ok(WebServer {
        listener,
        addr,
        root,
    })
}

/// One demo wallet as the page sees it.
#[derive(serde::Serialize)]
struct DemoWallet {
    name: String,
    mnemonic: String,
    account_index: u32,
}

/// What the page is served with: its network settings and its Content-Security-Policy.
pub struct PageSettings {
    /// `/local-network.json`.
    pub json: String,
    /// The page may run its own scripts and wasm, and talk to its own origin and the
    /// network's services only.
    pub csp: String,
}

/// The scheme and authority of a URL (`http://host:port` of `http://host:port/x`).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// `/local-network.json` from the demo wallets' files (the first one's network and fog
/// settings, which they all share, and every wallet's mnemonic), and the policy that lets
/// the page reach those services.
pub fn page_settings(wallets: &[(String, PathBuf)]) -> Result<PageSettings, CliError> {
    let mut origins: Vec<String> = Vec::new();
    let mut network = None;
    let mut fog = None;
    let mut demo = Vec::new();
    for (name, path) in wallets {
        let w = fog_wallet::wallet::WalletFile::load(path)
            .map_err(|e| failed(format!("demo wallet {}: {e}", path.display())))?;
        if network.is_none() {
            let n = w
                .network
                .as_ref()
                .ok_or_else(|| failed(format!("{} has no network settings", path.display())))?;
            for url in [&n.node_url, &n.view_url, &n.ledger_url] {
                origins.extend(origin_of(url));
            }
            if let Some(f) = &w.fog {
                if let Some(rest) = f.report_url.strip_prefix("insecure-fog://") {
                    origins.push(format!("http://{}", rest.trim_end_matches('/')));
                } else if let Some(rest) = f.report_url.strip_prefix("fog://") {
                    origins.push(format!("https://{}", rest.trim_end_matches('/')));
                }
            }
            network = Some(serde_json::json!({
                "node_url": n.node_url,
                "view_url": n.view_url,
                "ledger_url": n.ledger_url,
                "attestation_policy": n.policy().map_err(failed)?.to_toml(),
            }));
            fog = w.fog.as_ref().map(|f| {
                serde_json::json!({
                    "report_url": f.report_url,
                    "report_id": f.report_id,
                    "authority_spki": hex::encode(&f.authority_spki),
                })
            });
        }
        demo.push(DemoWallet {
            name: name.clone(),
            mnemonic: w.mnemonic.as_str().to_owned(),
            account_index: w.account_index,
        });
    }
    let network = network.ok_or_else(|| failed("the network has no demo wallet"))?;
    let doc = serde_json::json!({ "network": network, "fog": fog, "demo_wallets": demo });
    let json =
        serde_json::to_string_pretty(&doc).map_err(|e| failed(format!("network settings: {e}")))?;
    origins.sort();
    origins.dedup();
    // Origins come from the network's own files; anything that could break out of the
    // header is dropped.
    origins.retain(|o| {
        o.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.' | '-' | '[' | ']'))
    });
    let csp = format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self' {}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        origins.join(" ")
    );
    Ok(PageSettings { json, csp })
}

impl WebServer {
    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Serves the page with `settings` (from [`page_settings`]) until the task is
    /// dropped or aborted.
    pub fn spawn(self, settings: PageSettings) -> JoinHandle<()> {
        let network: Arc<PageSettings> = Arc::new(settings);
        let root: Arc<Path> = Arc::from(self.root.as_path());
        let hosts: Arc<[String]> = page_hosts(self.addr).into();
        let listener = self.listener;
        tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            loop {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    return;
                };
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (root, network) = (Arc::clone(&root), Arc::clone(&network));
                let hosts = Arc::clone(&hosts);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        handle(
                            request,
                            Arc::clone(&root),
                            Arc::clone(&network),
                            Arc::clone(&hosts),
                        )
                    });
                    let connection = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service);
                    let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
                    drop(permit);
                });
            }
        })
    }
}

/// Serves the page for the demo wallets `names` (files at `wallet(name)`) and says where.
pub fn start(
    server: WebServer,
    names: &[String],
    wallet: impl Fn(&str) -> PathBuf,
) -> Result<JoinHandle<()>, CliError> {
    let wallets: Vec<(String, PathBuf)> = names.iter().map(|n| (n.clone(), wallet(n))).collect();
    let settings = page_settings(&wallets)?;
    println!(
        "Web wallet: {} (its origin may call every service)",
        server.url()
    );
    Ok(server.spawn(settings))
}

fn answer(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    answer(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(body.as_bytes()),
    )
}

/// The file a request path names under the root, or `None` for anything that could leave
/// it (`..`, hidden names, characters outside `[A-Za-z0-9._-]`).
pub fn file_path(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = path.strip_prefix('/')?;
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let mut out = root.to_path_buf();
    for part in rel.split('/') {
        if part.is_empty()
            || part.starts_with('.')
            || !part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// The `Host` values the page answers to: its own address and, on 127.0.0.1, `localhost`.
fn page_hosts(addr: SocketAddr) -> Vec<String> {
    let mut hosts = vec![addr.to_string()];
    if addr.ip() == std::net::Ipv4Addr::LOCALHOST {
        hosts.push(format!("localhost:{}", addr.port()));
    }
    hosts
}

/// Whether a request names one of the page's own hosts. A page elsewhere whose name an
/// attacker re-resolves to 127.0.0.1 (DNS rebinding) would otherwise be same-origin with
/// this server and could read the demo wallets' mnemonics: its requests carry its own name.
fn host_allowed<B>(request: &Request<B>, hosts: &[String]) -> bool {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h)))
}

async fn handle(
    request: Request<Incoming>,
    root: Arc<Path>,
    network: Arc<PageSettings>,
    hosts: Arc<[String]>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if !host_allowed(&request, &hosts) {
        return Ok(text(
            StatusCode::MISDIRECTED_REQUEST,
            "this server answers only to its own address\n",
        ));
    }
    let mut response = serve_file(request, root, &network.json).await;
    if let Ok(v) = header::HeaderValue::from_str(&network.csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(response)
}

async fn serve_file(
    request: Request<Incoming>,
    root: Arc<Path>,
    network_json: &str,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    let path = request.uri().path();
    if path == NETWORK_PATH {
        return answer(
            StatusCode::OK,
            "application/json",
            Bytes::from(network_json.as_bytes().to_vec()),
        );
    }
    let Some(file) = file_path(&root, path) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    // Off the runtime's threads: a file read blocks.
    let read = tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&file).ok()?;
        if !meta.is_file() || meta.len() > MAX_FILE {
            return None;
        }
        std::fs::read(&file)
            .ok()
            .map(|bytes| (content_type(&file), bytes))
    })
    .await
    .ok()
    .flatten();
    match read {
        Some((kind, bytes)) => answer(StatusCode::OK, kind, Bytes::from(bytes)),
        None => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pages_own_host_is_answered() {
        let addr: SocketAddr = "127.0.0.1:4321".parse().expect("an address");
        let hosts = page_hosts(addr);
        let with_host = |h: Option<&str>| {
            let mut b = Request::builder().uri(NETWORK_PATH);
            if let Some(h) = h {
                b = b.header(header::HOST, h);
            }
            b.body(()).expect("a request")
        };
        assert!(host_allowed(&with_host(Some("127.0.0.1:4321")), &hosts));
        assert!(host_allowed(&with_host(Some("localhost:4321")), &hosts));
        // A rebound name, another port, or no Host at all.
        assert!(!host_allowed(
            &with_host(Some("attacker.example:4321")),
            &hosts
        ));
        assert!(!host_allowed(&with_host(Some("127.0.0.1:4322")), &hosts));
        assert!(!host_allowed(&with_host(None), &hosts));
    }

    #[test]
    fn paths_stay_under_the_root() {
        let root = Path::new("/srv/web");
        assert_eq!(file_path(root, "/"), Some(root.join("index.html")));
        assert_eq!(
            file_path(root, "/pkg/fog_web_bg.wasm"),
            Some(root.join("pkg/fog_web_bg.wasm"))
        );
        for bad in [
            "",
            "/..",
            "/../etc/passwd",
            "/pkg/../../x",
            "/.git/config",
            "/a//b",
            "/a%2f..",
            "/a\\b",
        ] {
            assert_eq!(file_path(root, bad), None, "{bad}");
        }
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(
            origin_of("http://127.0.0.1:3225/").as_deref(),
            Some("http://127.0.0.1:3225")
        );
        assert_eq!(origin_of("no scheme"), None);
        assert_eq!(
            content_type(Path::new("a.js")),
            "text/javascript; charset=utf-8"
        );
    }
}
