//! `fogd local-network --processes`: the same network, each service a `fogd` child process.
//!
//! The parent makes or opens the network exactly as the one-process mode does (authority,
//! wallets, origin block funded with fog hints to this ingest's key, layout), closes every
//! store, and starts `fogd node`, `ingest`, `view`, `ledger` and `report` on the layout's
//! addresses, as an operator would on separate hosts: ingest and fog ledger follow the node
//! (`--node`) into ledger copies of their own, view and report read only the recovery DB. It
//! waits until each answers SERVING on `grpc.health.v1`, keeps its own followed copy of the
//! ledger for the demo's view-key scans, and stops the children with SIGTERM.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fog_ledger_db::LedgerDb;
use fog_ledger_follower::{Follower, FollowerConfig};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

use super::{
    demo, prepare, print_summary, Layout, LocalNetworkArgs, Paths, Prepared, READY_TIMEOUT,
};
use crate::{failed, input, CliError};

/// How long a child may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// One child service.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// The running children, stopped (SIGTERM, then SIGKILL) when dropped.
struct Procs(Vec<Proc>);

impl Procs {
    /// A child that exited, with its status and log.
    fn failure(&mut self) -> Option<String> {
        self.0.iter_mut().find_map(|p| match p.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "the {} process exited ({status}); its log: {}",
                p.name,
                p.log.display()
            )),
            Ok(None) => None,
            Err(e) => Some(format!("the {} process: {e}", p.name)),
        })
    }

    /// SIGTERM to every child (the node last, so that the others stop following first), then
    /// waits; the errors of those that did not stop cleanly.
    fn stop(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for p in self.0.iter_mut().rev() {
            if let Ok(Some(_)) = p.child.try_wait() {
                continue;
            }
            if let Some(pid) = rustix::process::Pid::from_raw(p.child.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            loop {
                match p.child.try_wait() {
                    Ok(Some(status)) if status.success() => break,
                    Ok(Some(status)) => {
                        errors.push(format!("{} stopped with {status}", p.name));
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => {
                        let _ = p.child.kill();
                        let _ = p.child.wait();
                        errors.push(format!(
                            "{} did not stop within {} s",
                            p.name,
                            STOP_TIMEOUT.as_secs()
                        ));
                        break;
                    }
                }
            }
        }
        errors
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for p in &mut self.0 {
            if let Ok(None) = p.child.try_wait() {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
        }
    }
}

fn spawn(logs: &Path, name: &'static str, args: &[String], db_url: &str) -> Result<Proc, CliError> {
    let exe =
        std::env::current_exe().map_err(|e| failed(format!("cannot find the fogd binary: {e}")))?;
    let log = logs.join(format!("{name}.log"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| failed(format!("cannot open {}: {e}", log.display())))?;
    let err = file
        .try_clone()
        .map_err(|e| failed(format!("{}: {e}", log.display())))?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err);
    // The recovery DB's URL may hold a password: hand it over in the environment, never on
    // a command line that `ps` shows.
    if !db_url.is_empty() {
        command.env("FOG_RECOVERY_DB", db_url);
    }
    // The children read their flags from these arguments only.
    command.env_remove("FOG_CONFIG");
    let child = command
        .spawn()
        .map_err(|e| failed(format!("cannot start fogd {name}: {e}")))?;
    Ok(Proc { name, child, log })
}

/// Waits until the gRPC health of `addr` says SERVING.
async fn serving(addr: std::net::SocketAddr) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{addr}")) else {
        return false;
    };
    let Ok(channel) = endpoint
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .is_ok_and(|r| r.into_inner().status() == ServingStatus::Serving)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Runs the network as child processes until Ctrl-C or SIGTERM, or through the demo.
pub(super) async fn run(
    args: &LocalNetworkArgs,
    paths: &Paths,
    mut layout: Layout,
    existing: bool,
) -> Result<(), CliError> {
    let db_url = match (&args.recovery_db, layout.postgres, existing) {
        (Some(url), _, _) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            if existing && !layout.postgres {
                return Err(input(
                    "this network's recovery DB is its SQLite file: leave out --recovery-db",
                ));
            }
            layout.postgres = true;
            url.clone()
        }
        (Some(_), _, _) => {
            return Err(input(
                "--recovery-db takes a postgres:// URL (the default is the network's SQLite file)",
            ))
        }
        (None, true, _) => {
            return Err(input(
                "this network keeps its recovery DB in Postgres: give --recovery-db URL",
            ))
        }
        (None, false, _) => format!("sqlite://{}", paths.recovery().display()),
    };

    // Make or open the network, then close every store for the children.
    let db = fog_recovery_db::open(&db_url)
        .await
        .map_err(|e| input(format!("cannot open the recovery DB: {e}")))?;
    let Prepared {
        ledger,
        ingest,
        attestation_key,
        ..
    } = prepare(paths, &layout, existing, db).await?;
    drop(ingest);
    drop(ledger);

    let logs = paths.dir.join("logs");
    std::fs::create_dir_all(&logs)
        .map_err(|e| failed(format!("cannot create {}: {e}", logs.display())))?;
    let node_url = format!("http://{}", layout.node);
    let state = s(&paths.state());
    let own = |name: &str| -> Result<String, CliError> {
        let dir = paths.dir.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
        Ok(s(&dir.join("ledger.redb")))
    };
    let authority = paths.authority();
    let plans: [(&'static str, Vec<String>, bool); 5] = [
        (
            "node",
            vec![
                "node".into(),
                "--ledger-db".into(),
                s(&paths.ledger()),
                "--listen".into(),
                layout.node.to_string(),
                "--block-interval-ms".into(),
                "250".into(),
            ]
            .into_iter()
            .chain(fog_system::network::node_fee_args())
            .collect(),
            false,
        ),
        (
            "ingest",
            vec![
                "ingest".into(),
                "--node".into(),
                node_url.clone(),
                "--ledger-db".into(),
                own("ingest")?,
                "--state-dir".into(),
                state.clone(),
                "--listen".into(),
                layout.ingest_admin.to_string(),
                "--user-capacity".into(),
                (1u64 << 12).to_string(),
            ],
            true,
        ),
        (
            "view",
            vec![
                "view".into(),
                "--state-dir".into(),
                state.clone(),
                "--listen".into(),
                layout.view.to_string(),
                "--partitions".into(),
                "2".into(),
                "--capacity-per-partition".into(),
                (1u64 << 14).to_string(),
            ],
            true,
        ),
        (
            "ledger",
            vec![
                "ledger".into(),
                "--node".into(),
                node_url.clone(),
                "--ledger-db".into(),
                own("fog-ledger")?,
                "--state-dir".into(),
                state.clone(),
                "--listen".into(),
                layout.ledger.to_string(),
                "--key-image-capacity".into(),
                (1u64 << 14).to_string(),
            ],
            false,
        ),
        (
            "report",
            vec![
                "report".into(),
                "--chain".into(),
                s(&authority.join("chain.pem")),
                "--key".into(),
                s(&authority.join("leaf.key")),
                "--listen".into(),
                layout.report.to_string(),
            ],
            true,
        ),
    ];
    let mut procs = Procs(Vec::new());
    for (name, args, needs_db) in plans {
        let url = if needs_db { db_url.as_str() } else { "" };
        procs.0.push(spawn(&logs, name, &args, url)?);
    }

    // The parent's own copy of the ledger, for the demo's view-key scans.
    let copy_path = paths.dir.join("demo-ledger.redb");
    let copy = match LedgerDb::open(&copy_path) {
        Ok(db) => db,
        Err(_) => {
            let _ = std::fs::remove_file(&copy_path);
            LedgerDb::create(&copy_path)
                .map_err(|e| failed(format!("cannot create {}: {e}", copy_path.display())))?
        }
    };
    let follower = Follower::new(
        copy.clone(),
        FollowerConfig::new(vec![node_url]).with_poll_interval(Duration::from_millis(50)),
    )
    .await
    .map_err(|e| failed(format!("the demo's ledger copy: {e}")))?;
    let follower_stats = follower.stats();
    let (stop_follower, follower_stopped) = tokio::sync::oneshot::channel::<()>();
    let following = tokio::spawn(follower.run(async {
        let _ = follower_stopped.await;
    }));

    // Ready: every child SERVING, and the copy caught up.
    let started = Instant::now();
    let addrs = [
        layout.node,
        layout.ingest_admin,
        layout.view,
        layout.ledger,
        layout.report,
    ];
    loop {
        if let Some(e) = procs.failure() {
            procs.stop();
            return Err(failed(e));
        }
        let mut all = follower_stats.is_caught_up();
        for addr in addrs {
            all = all && serving(addr).await;
        }
        if all {
            break;
        }
        if started.elapsed() > READY_TIMEOUT {
            procs.stop();
            return Err(failed(format!(
                "the services were not ready within {} s (logs in {})",
                READY_TIMEOUT.as_secs(),
                logs.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let blocks = copy.num_blocks().unwrap_or(0);
    print_summary(
        paths,
        &layout,
        &attestation_key,
        existing,
        blocks,
        args.demo,
    );
    println!(
        "  (each service is a fogd process: node, ingest, view, ledger, report; logs in {})",
        logs.display()
    );

    let outcome = if args.demo {
        let flags = if layout.postgres {
            "--processes --recovery-db URL "
        } else {
            "--processes "
        };
        demo(paths, &layout, &copy, flags).await
    } else {
        tokio::select! {
            () = crate::shutdown_signal() => Ok(()),
            e = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if let Some(e) = procs.failure() {
                        break e;
                    }
                }
            } => Err(failed(e)),
        }
    };
    eprintln!("stopping the local network...");
    let _ = stop_follower.send(());
    let _ = following.await;
    for e in procs.stop() {
        eprintln!("fogd local-network: {e}");
    }
    if !args.demo {
        println!(
            "Stopped. `fogd local-network --processes --dir {}` starts it again.",
            paths.dir.display()
        );
    }
    outcome
}
