//! `fogd recovery-db`: what an operator inspects in the recovery DB (ingress keys,
//! invocations and the blocks each wrote, missed ranges, reports), and one clean-up.
//!
//! Read-only, except `prune-empty-invocations --yes`. Text for people, `--json` for scripts.

use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};
use fog_recovery_db::{BlockIndex, IngressPublicKeyFilters, RecoveryDb, ReportDb};
use serde_json::{json, Value};

use crate::{failed, input, CliError};

/// Arguments of `fogd recovery-db`.
#[derive(Debug, Args)]
pub struct RecoveryDbArgs {
    /// The recovery DB (`postgres://...`, `sqlite:///path` or a path).
    #[arg(long = "recovery-db", value_name = "URL")]
    recovery_db: String,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    what: What,
}

/// What to show or do.
#[derive(Debug, Subcommand)]
pub enum What {
    /// Every ingress key: start, published expiry, retired and lost flags, last scanned block.
    Keys,
    /// Every ingest invocation: its key, the blocks it wrote, live or decommissioned, when it
    /// was last active.
    Invocations {
        /// Only the invocations of this ingress key (64 hex digits).
        #[arg(long, value_name = "HEX")]
        key: Option<String>,
    },
    /// The missed block ranges (user events clients scan with their view keys).
    MissedRanges,
    /// The published reports: id, invocation, expiry.
    Reports,
    /// Remove invocations decommissioned long ago that wrote no block (and their two user
    /// events): every restart and failover leaves one, and each costs every client a
    /// search key per sync forever. Lists them; `--yes` removes them.
    PruneEmptyInvocations {
        /// Only invocations decommissioned at least this many days ago.
        #[arg(long = "older-than-days", value_name = "DAYS", default_value_t = 30)]
        older_than_days: u64,
        /// Remove them (without it: only list).
        #[arg(long)]
        yes: bool,
    },
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn emit(as_json: bool, value: Value, text: impl FnOnce()) {
    if as_json {
        println!("{value}");
    } else {
        text();
    }
}

/// Runs the command.
pub fn run(args: RecoveryDbArgs) -> Result<(), CliError> {
    let key = match &args.what {
        What::Invocations { key: Some(k) } => {
            let bytes = hex::decode(k.trim()).map_err(|_| input("--key: 64 hex digits"))?;
            Some(
                fog_recovery_db::IngressPublicKey::from_bytes(&bytes)
                    .map_err(|_| input("--key: an ingress key is 32 bytes (64 hex digits)"))?,
            )
        }
        _ => None,
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let db = fog_recovery_db::open(&args.recovery_db)
            .await
            .map_err(|e| input(format!("cannot open the recovery DB: {e}")))?;
        let dbf = |e: fog_recovery_db::RecoveryDbError| failed(format!("recovery DB: {e}"));
        match args.what {
            What::Keys => {
                let all = IngressPublicKeyFilters {
                    should_include_lost_keys: true,
                    should_include_retired_keys: true,
                    should_only_include_unexpired_keys: false,
                };
                let keys = db
                    .get_ingress_key_records(BlockIndex(0), &all)
                    .await
                    .map_err(dbf)?;
                let list: Vec<Value> = keys
                    .iter()
                    .map(|k| {
                        json!({
                            "key": hex::encode(k.key.0),
                            "start_block": k.status.start_block.0,
                            "pubkey_expiry": k.status.pubkey_expiry.0,
                            "retired": k.status.retired,
                            "lost": k.status.lost,
                            "last_scanned_block": k.last_scanned_block.map(|b| b.0),
                        })
                    })
                    .collect();
                emit(args.json, json!({ "keys": list }), || {
                    if keys.is_empty() {
                        println!("no ingress keys");
                    }
                    for k in &keys {
                        println!(
                            "{}  start {}  expiry {}  last scanned {}{}{}",
                            hex::encode(k.key.0),
                            k.status.start_block,
                            k.status.pubkey_expiry,
                            k.last_scanned_block
                                .map_or("none".to_owned(), |b| b.to_string()),
                            if k.status.retired { "  retired" } else { "" },
                            if k.status.lost { "  lost" } else { "" },
                        );
                    }
                });
            }
            What::Invocations { .. } => {
                let invs = db.get_invocations(key.as_ref()).await.map_err(dbf)?;
                let list: Vec<Value> = invs
                    .iter()
                    .map(|i| {
                        json!({
                            "id": i.id.0,
                            "ingress_key": hex::encode(i.ingress_key.0),
                            "egress_public_key": hex::encode(&i.egress_public_key.public_key),
                            "start_block": i.start_block.0,
                            "last_ingested_block": i.last_ingested_block.map(|b| b.0),
                            "decommissioned": i.decommissioned,
                            "last_active_at_ms": millis(i.last_active_at),
                        })
                    })
                    .collect();
                emit(args.json, json!({ "invocations": list }), || {
                    if invs.is_empty() {
                        println!("no ingest invocations");
                    }
                    for i in &invs {
                        let wrote = match i.last_ingested_block {
                            Some(last) => format!("wrote blocks {}..={}", i.start_block, last),
                            None => format!("from block {}, wrote none", i.start_block),
                        };
                        let age = SystemTime::now()
                            .duration_since(i.last_active_at)
                            .unwrap_or(Duration::ZERO);
                        println!(
                            "{:>6}  key {}…  {}  {}  last active {:.1} s ago",
                            i.id.0,
                            &hex::encode(i.ingress_key.0)[..16],
                            wrote,
                            if i.decommissioned {
                                "decommissioned"
                            } else {
                                "live"
                            },
                            age.as_secs_f64()
                        );
                    }
                });
            }
            What::MissedRanges => {
                let ranges = db.get_missed_block_ranges().await.map_err(dbf)?;
                let list: Vec<Value> = ranges
                    .iter()
                    .map(|r| json!({ "start": r.start().0, "end": r.end().0 }))
                    .collect();
                emit(args.json, json!({ "missed_ranges": list }), || {
                    if ranges.is_empty() {
                        println!("no missed block ranges");
                    }
                    for r in &ranges {
                        println!("blocks {}..{} (end excluded)", r.start(), r.end());
                    }
                });
            }
            What::Reports => {
                let reports = db.get_all_reports().await.map_err(dbf)?;
                let list: Vec<Value> = reports
                    .iter()
                    .map(|(id, r)| {
                        json!({
                            "report_id": id,
                            "invocation": r.ingest_invocation_id.map(|i| i.0),
                            "pubkey_expiry": r.pubkey_expiry.0,
                            "evidence_bytes": r.evidence.len(),
                        })
                    })
                    .collect();
                emit(args.json, json!({ "reports": list }), || {
                    if reports.is_empty() {
                        println!("no reports");
                    }
                    for (id, r) in &reports {
                        println!(
                            "{:?}  invocation {}  expiry {}  evidence {} bytes",
                            id,
                            r.ingest_invocation_id
                                .map_or("none".to_owned(), |i| i.0.to_string()),
                            r.pubkey_expiry,
                            r.evidence.len()
                        );
                    }
                });
            }
            What::PruneEmptyInvocations {
                older_than_days,
                yes,
            } => {
                let before = SystemTime::now()
                    .checked_sub(Duration::from_secs(older_than_days.saturating_mul(86_400)))
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                let ids: Vec<i64> = if yes {
                    db.prune_empty_invocations(before)
                        .await
                        .map_err(dbf)?
                        .into_iter()
                        .map(|i| i.0)
                        .collect()
                } else {
                    // The same rule, read-only.
                    let reports = db.get_all_reports().await.map_err(dbf)?;
                    db.get_invocations(None)
                        .await
                        .map_err(dbf)?
                        .into_iter()
                        .filter(|i| {
                            i.decommissioned
                                && i.last_ingested_block.is_none()
                                && i.last_active_at < before
                                && !reports
                                    .iter()
                                    .any(|(_, r)| r.ingest_invocation_id == Some(i.id))
                        })
                        .map(|i| i.id.0)
                        .collect()
                };
                emit(
                    args.json,
                    json!({ "removed": yes, "invocations": ids }),
                    || {
                        let verb = if yes {
                            "removed"
                        } else {
                            "would remove (--yes to do it)"
                        };
                        println!("{verb} {} empty invocations: {:?}", ids.len(), ids);
                    },
                );
            }
        }
        Ok(())
    })
}
