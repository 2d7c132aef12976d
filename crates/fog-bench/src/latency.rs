//! Block to wallet: how long after the node cuts a block a wallet sees it through view.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use fog_api::fog_node::{ledger_node_client::LedgerNodeClient, GetLedgerInfoRequest};
use fog_transaction::{Amount, TokenId};
use fog_wallet::{NetworkOverrides, Session};
use serde_json::json;

use crate::{get, round2, stats, Args};

/// A running `fogd local-network`, stopped with SIGTERM when dropped (also `load`'s).
pub(crate) struct Network(pub(crate) Child);

impl Drop for Network {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let _ = self.0.wait();
    }
}

/// The `fogd` to start: `--fogd PATH`, else the one beside this program.
pub(crate) fn fogd_path(args: &Args) -> Result<PathBuf, String> {
    if let Ok(p) = get::<String>(args, "fogd", None) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let sibling = exe.with_file_name("fogd");
    if sibling.exists() {
        Ok(sibling)
    } else {
        Err(format!(
            "no fogd beside {}: build it (cargo build --release -p fogd) or give --fogd PATH",
            exe.display()
        ))
    }
}

/// `block-to-wallet [--mode processes|in-process] [--samples N] [--fogd PATH]`: starts
/// `fogd local-network` (as five processes, or in one), then N times: one demo wallet pays
/// the other (alternating), the node's block count is watched every 2 ms to time the block's
/// cut, and the payee checks its balance until it covers that block. The latency is from the
/// cut to the end of the first balance check that covers it: ingest's follower, ingest, the
/// recovery DB, view's poll and one attested balance check.
pub fn block_to_wallet(args: &Args) -> Result<(), String> {
    let mode: String = get(args, "mode", Some("processes".to_string()))?;
    let samples: usize = get(args, "samples", Some(30))?;
    if samples == 0 {
        return Err("--samples must be at least 1".into());
    }
    let fogd = fogd_path(args)?;
    let dir = std::env::temp_dir().join(format!(
        "fog-bench-latency-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let network = start_local_network(&fogd, &dir, &mode)?;
    let result = measure(&dir, samples, &mode);
    drop(network);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Starts `fogd local-network --base-port 0 --dir DIR` (`mode`: `processes` for five
/// processes, `in-process` for one) and waits until it prints that it is ready; its later
/// output is drained on a thread of its own. Dropping what it returns stops the network.
pub(crate) fn start_local_network(
    fogd: &std::path::Path,
    dir: &std::path::Path,
    mode: &str,
) -> Result<Network, String> {
    let mut command = Command::new(fogd);
    command
        .args(["local-network", "--base-port", "0", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    match mode {
        "processes" => {
            command.arg("--processes");
        }
        "in-process" => {}
        other => return Err(format!("unknown --mode {other}: processes or in-process")),
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", fogd.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let network = Network(child);
    // Ready once it prints the wallet commands.
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("Ctrl-C stops the network") => break,
            Some(Ok(_)) => {}
            _ => return Err("fogd local-network stopped before it was ready".into()),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok(network)
}

fn measure(dir: &std::path::Path, samples: usize, mode: &str) -> Result<(), String> {
    let layout: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("local-network.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let node_url = format!(
        "http://{}",
        layout["node"].as_str().ok_or("no node address")?
    );
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let open = |name: &str| {
            Session::open(
                &dir.join("wallets").join(format!("{name}.json")),
                &NetworkOverrides::default(),
                false,
            )
            .map_err(|e| format!("wallet {name}: {e}"))
        };
        let mut wallets = [open("alice")?, open("bob")?];
        for w in &mut wallets {
            w.balance(|_| {}).await.map_err(|e| e.to_string())?;
        }
        // When each block count was first seen at the node.
        let cuts: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let watcher = {
            let cuts = Arc::clone(&cuts);
            let mut node = LedgerNodeClient::connect(node_url)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let mut last = 0;
                loop {
                    if let Ok(info) = node.get_ledger_info(GetLedgerInfoRequest {}).await {
                        let n = info.into_inner().block_count;
                        if n > last {
                            last = n;
                            if let Ok(mut c) = cuts.lock() {
                                c.push((n, Instant::now()));
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        let mut latencies = Vec::with_capacity(samples);
        let mut check_ms = Vec::new();
        for i in 0..samples {
            let (payer, payee) = if i % 2 == 0 { (0, 1) } else { (1, 0) };
            let to = wallets[payee].address();
            let before = cuts
                .lock()
                .map_err(|_| "poisoned")?
                .last()
                .map_or(0, |c| c.0);
            let mut receipt = wallets[payer]
                .submit(&to, Amount::new(1_000_000_000, TokenId::MOB), None)
                .await
                .map_err(|e| format!("payment {i}: {e}"))?;
            // The next block the node cuts holds the payment (nothing else is pending).
            let (count, cut) = loop {
                let last = cuts.lock().map_err(|_| "poisoned")?.last().copied();
                if let Some((n, t)) = last {
                    if n > before {
                        break (n, t);
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            // The payee checks until its balance covers that block.
            loop {
                let started = Instant::now();
                let b = wallets[payee]
                    .balance(|_| {})
                    .await
                    .map_err(|e| format!("balance: {e}"))?;
                check_ms.push(started.elapsed().as_secs_f64() * 1e3);
                if b.block_count >= count {
                    latencies.push(cut.elapsed().as_secs_f64() * 1e3);
                    break;
                }
            }
            // The payer's change, before the next payment.
            wallets[payer]
                .wait(&mut receipt)
                .await
                .map_err(|e| format!("payment {i}: {e}"))?;
        }
        watcher.abort();
        let (median, p99) = stats(&mut latencies);
        let (check_median, _) = stats(&mut check_ms);
        println!(
            "{}",
            json!({
                "workload": "block-to-wallet",
                "mode": mode,
                "samples": samples,
                "median_ms": round2(median),
                "p99_ms": round2(p99),
                "max_ms": round2(latencies.iter().cloned().fold(0.0, f64::max)),
                "balance_check_median_ms": round2(check_median),
            })
        );
        Ok(())
    })
}
