//! Following ledger nodes: `--node URL` for `fogd ingest` and `fogd ledger`, and
//! `fogd ledger-tool sync`.

use std::{path::Path, sync::Arc, time::Duration};

use clap::Args;
use fog_ledger_db::{LedgerDb, LedgerError};
use fog_ledger_follower::{Follower, FollowerConfig, FollowerError, FollowerStats};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{failed, input, CliError};

/// The flags that make a service's `--ledger-db` its own copy, kept in step with nodes.
#[derive(Clone, Debug, Args)]
pub struct FollowArgs {
    /// A ledger node to follow (`http://host:port`; repeatable, tried in order). With it,
    /// `--ledger-db` is this service's own copy of the ledger, created if absent and kept in
    /// step with the nodes, every block verified. Without it, `--ledger-db` is read as it
    /// is, and must not be open in another process.
    #[arg(long = "node", value_name = "URL")]
    pub nodes: Vec<String>,
    /// How often to ask the nodes for new blocks once caught up (milliseconds).
    #[arg(long = "node-poll-ms", value_name = "MS", default_value_t = 100)]
    pub poll_ms: u64,
}

impl FollowArgs {
    /// Whether any node is named.
    pub fn following(&self) -> bool {
        !self.nodes.is_empty()
    }

    fn config(&self) -> Result<FollowerConfig, CliError> {
        if self.poll_ms == 0 || self.poll_ms > 60_000 {
            return Err(input("--node-poll-ms must be between 1 and 60000"));
        }
        for url in &self.nodes {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(input(format!(
                    "--node {url:?}: give the node's URL, http://host:port"
                )));
            }
        }
        Ok(FollowerConfig::new(self.nodes.clone())
            .with_poll_interval(Duration::from_millis(self.poll_ms)))
    }
}

fn not_found(path: &Path) -> CliError {
    input(format!(
        "no ledger DB at {}: create one with `fogd ledger-tool init` or `fogd generate-ledger`, \
         or give --node URL to follow a ledger node",
        path.display()
    ))
}

/// Opens the ledger DB at `path`; when following, creates it if there is none.
pub fn open_ledger(path: &Path, follow: &FollowArgs) -> Result<LedgerDb, CliError> {
    match LedgerDb::open(path) {
        Ok(db) => Ok(db),
        Err(LedgerError::NotFound(_)) if follow.following() => {
            LedgerDb::create(path).map_err(|e| {
                input(format!(
                    "cannot create the ledger DB {}: {e}",
                    path.display()
                ))
            })
        }
        Err(LedgerError::NotFound(_)) => Err(not_found(path)),
        Err(e) => Err(input(format!(
            "cannot open the ledger DB {}: {e}",
            path.display()
        ))),
    }
}

/// A follower running as a task.
pub struct Running {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), FollowerError>>,
    /// Its counters.
    pub stats: Arc<FollowerStats>,
}

impl Running {
    /// Stops the follower and waits for it; its error, if it failed.
    pub async fn stop(self) -> Result<(), CliError> {
        let _ = self.stop.send(());
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            blocks = load(&self.stats.blocks_appended),
            contradictions = load(&self.stats.contradictions),
            node_errors = load(&self.stats.node_errors),
            "the ledger follower stops"
        );
        match self.handle.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(failed(format!("following the ledger failed: {e}"))),
            Err(_) => Err(failed("the ledger follower panicked")),
        }
    }
}

/// Starts following `follow.nodes` into `ledger` on the current runtime, when any is named.
pub async fn start(ledger: &LedgerDb, follow: &FollowArgs) -> Result<Option<Running>, CliError> {
    if !follow.following() {
        return Ok(None);
    }
    let config = follow.config()?;
    let follower = Follower::new(ledger.clone(), config)
        .await
        .map_err(|e| input(format!("--node: {e}")))?;
    let stats = follower.stats();
    let (stop, stopped) = oneshot::channel();
    let handle = tokio::spawn(follower.run(async {
        let _ = stopped.await;
    }));
    Ok(Some(Running {
        stop,
        handle,
        stats,
    }))
}

/// Checks `follow` before anything is opened.
pub fn check(follow: &FollowArgs) -> Result<(), CliError> {
    if follow.following() {
        follow.config()?;
    }
    Ok(())
}

/// `fogd ledger-tool sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The ledger DB to bring up to date (created if absent).
    #[arg(long = "ledger-db", value_name = "PATH")]
    ledger_db: std::path::PathBuf,
    /// A ledger node to copy from (repeatable, tried in order).
    #[arg(long = "node", value_name = "URL", required = true)]
    nodes: Vec<String>,
    /// Keep following until Ctrl-C or SIGTERM, instead of stopping once caught up.
    #[arg(long)]
    follow: bool,
}

/// Copies what the nodes have into the ledger DB, verifying every block; prints the block
/// count as JSON when caught up (`--follow`: keeps going).
pub fn sync(args: SyncArgs) -> Result<(), CliError> {
    crate::init_tracing();
    let follow = FollowArgs {
        nodes: args.nodes,
        poll_ms: 100,
    };
    let config = follow.config()?;
    let ledger = open_ledger(&args.ledger_db, &follow)?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let shutdown = crate::shutdown_signal();
        let mut follower = Follower::new(ledger, config)
            .await
            .map_err(|e| input(format!("--node: {e}")))?;
        let start = follower
            .stats()
            .local_blocks
            .load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("fogd: the ledger holds {start} blocks");
        let mut progress = follower.subscribe();
        let printer = tokio::spawn(async move {
            while progress.changed().await.is_ok() {
                let n = *progress.borrow_and_update();
                eprintln!("fogd: the ledger holds {n} blocks");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let result = if args.follow {
            follower.run(shutdown).await.map(|()| None)
        } else {
            tokio::select! {
                r = follower.catch_up() => r.map(Some),
                () = shutdown => Ok(None),
            }
        };
        printer.abort();
        match result {
            Ok(Some(n)) => {
                println!("{}", serde_json::json!({ "block_count": n }));
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(FollowerError::NoNodeAnswered(why)) => {
                Err(failed(format!("no ledger node answered: {why}")))
            }
            Err(e) => Err(failed(e.to_string())),
        }
    })
}
