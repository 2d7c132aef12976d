//! `fogd ingest-admin`: every call of an ingest server's admin API from the command line,
//! printed for people or, with `--json`, as one JSON object.
//!
//! Exit codes: 0 done; 2 bad input here (a key that is not 64 hex digits, a bad URI), nothing
//! sent; 1 the server could not be reached or refused the call, with its reason.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand};
use fog_api::fog_ingest::{
    ingest_admin_client::IngestAdminClient, ActivateRequest, GetIngressKeyRecordsRequest,
    GetMissedBlockRangesRequest, GetStatusRequest, IngestStatus, Mode, NewKeysRequest,
    ReportLostIngressKeyRequest, RotateEgressKeyRequest, SetPeersRequest,
    SetPubkeyExpiryWindowRequest, SetRetiredRequest, SyncKeysFromRemoteRequest,
};
use serde_json::{json, Value};
use tonic::{metadata::MetadataValue, Request, Status};

use crate::{failed, ingest::ADMIN_TOKEN_ENV, input, CliError};

/// Arguments of `fogd ingest-admin`.
#[derive(Debug, Args)]
pub struct IngestAdminArgs {
    /// The ingest server's listener.
    #[arg(long, value_name = "URI", default_value = "http://127.0.0.1:3226")]
    uri: String,
    /// File holding the admin token; `FOG_INGEST_ADMIN_TOKEN` is read when not given. None:
    /// no token is sent (a server on loopback needs none).
    #[arg(long = "token-file", value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    call: Call,
}

/// The admin calls.
#[derive(Debug, Subcommand)]
pub enum Call {
    /// Mode, keys, invocation, progress, peers.
    Status,
    /// Make this idle server active (refused if a peer is active, or the key is retired).
    Activate,
    /// Retire the ingress key: the server scans to the key's expiry, then goes idle.
    Retire,
    /// Undo a retire that has not taken effect.
    Unretire,
    /// Give this idle server a fresh ingress key.
    NewKeys,
    /// Replace the peer list (no URIs: no peers).
    SetPeers {
        /// Peer listener URIs.
        #[arg(value_name = "URI")]
        peers: Vec<String>,
    },
    /// Copy a peer's ingress key into this idle server, enclave to enclave.
    SyncKeysFrom {
        /// The peer's listener URI.
        #[arg(value_name = "URI")]
        peer: String,
    },
    /// Report an ingress key lost: its unscanned promised blocks become a missed range.
    ReportLostKey {
        /// The ingress public key, 64 hex digits.
        #[arg(value_name = "HEX")]
        key: String,
    },
    /// The missed block ranges in the recovery DB.
    MissedRanges,
    /// The ingress keys in the recovery DB.
    KeyRecords {
        /// Only keys starting at this block or later.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Include keys reported lost.
        #[arg(long = "include-lost")]
        include_lost: bool,
        /// Include retired keys.
        #[arg(long = "include-retired")]
        include_retired: bool,
        /// Only keys that scanned a block below their expiry.
        #[arg(long = "only-unexpired")]
        only_unexpired: bool,
    },
    /// Set how many blocks past the next one a published report promises.
    SetExpiryWindow {
        /// Blocks, at least 1.
        #[arg(value_name = "BLOCKS")]
        window: u64,
    },
    /// Start a new egress key (RNG record) from the next block.
    RotateEgressKey,
}

/// The bearer token from `file` or, failing that, the environment variable `env_name`.
pub(crate) fn token(
    file: Option<&std::path::Path>,
    env_name: &str,
) -> Result<Option<MetadataValue<tonic::metadata::Ascii>>, CliError> {
    let text = match file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| input(format!("cannot read {}: {e}", path.display())))?,
        ),
        None => std::env::var(env_name)
            .ok()
            .filter(|t| !t.trim().is_empty()),
    };
    text.map(|t| {
        format!("Bearer {}", t.trim())
            .parse()
            .map_err(|_| input("the admin token must be visible ASCII"))
    })
    .transpose()
}

pub(crate) fn request<T>(
    msg: T,
    token: &Option<MetadataValue<tonic::metadata::Ascii>>,
) -> Request<T> {
    let mut r = Request::new(msg);
    r.set_timeout(Duration::from_secs(60));
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", t.clone());
    }
    r
}

pub(crate) fn refused(uri: &str, s: Status) -> CliError {
    match s.code() {
        tonic::Code::Unavailable if s.message().starts_with("error trying to connect") => {
            failed(format!("cannot reach {uri}: {}", s.message()))
        }
        code => failed(format!("{uri} refused ({code:?}): {}", s.message())),
    }
}

fn parse_key(hex_key: &str) -> Result<Vec<u8>, CliError> {
    let bytes =
        hex::decode(hex_key.trim()).map_err(|_| input("an ingress key is 64 hex digits"))?;
    if bytes.len() != 32 {
        return Err(input(format!(
            "an ingress key is 32 bytes (64 hex digits); this one is {} bytes",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The status as JSON (also what the text form prints from).
pub fn status_json(s: &IngestStatus) -> Value {
    json!({
        "mode": if s.mode == Mode::Active as i32 { "active" } else { "idle" },
        "ingress_public_key": hex::encode(&s.ingress_public_key),
        "egress_public_key": hex::encode(&s.egress_public_key),
        "invocation": (s.ingest_invocation_id != 0).then_some(s.ingest_invocation_id),
        "next_block": s.next_block,
        "ledger_block_count": s.ledger_block_count,
        "key_registered": s.key_registered,
        "retired": s.retired,
        "lost": s.lost,
        "pubkey_expiry": s.pubkey_expiry,
        "pubkey_expiry_window": s.pubkey_expiry_window,
        "peers": s.peers,
        "map_capacity": s.map_capacity,
        "map_load_percent": s.map_load_percent,
        "takeovers": s.takeovers,
        "fenced": s.fenced,
        "keys_received": s.keys_received,
        "keys_sent": s.keys_sent,
    })
}

fn print_status(s: &IngestStatus, as_json: bool) {
    let v = status_json(s);
    if as_json {
        println!("{v}");
        return;
    }
    println!("mode:             {}", v["mode"].as_str().unwrap_or(""));
    println!("ingress key:      {}", hex::encode(&s.ingress_public_key));
    match s.ingest_invocation_id {
        0 => println!("invocation:       none (idle)"),
        i => println!("invocation:       {i}"),
    }
    println!(
        "next block:       {} of {} in the ledger",
        s.next_block, s.ledger_block_count
    );
    if s.key_registered {
        println!(
            "key:              {}{}, expiry {} (window {})",
            if s.retired { "retired" } else { "in use" },
            if s.lost { ", lost" } else { "" },
            s.pubkey_expiry,
            s.pubkey_expiry_window
        );
    } else {
        println!(
            "key:              not in the recovery DB yet (window {})",
            s.pubkey_expiry_window
        );
    }
    if s.peers.is_empty() {
        println!("peers:            none");
    } else {
        println!("peers:            {}", s.peers.join(" "));
    }
    println!(
        "since start:      {} takeovers, fenced {} times, {} keys received, {} sent",
        s.takeovers, s.fenced, s.keys_received, s.keys_sent
    );
    println!(
        "RNG store:        {} % of {}",
        s.map_load_percent, s.map_capacity
    );
}

/// Runs one admin call.
pub fn run(args: IngestAdminArgs) -> Result<(), CliError> {
    let token = token(args.token_file.as_deref(), ADMIN_TOKEN_ENV)?;
    if let Call::SetPeers { peers } = &args.call {
        for p in peers {
            fog_ingest_server::cluster::check_peer_uri(p)
                .map_err(|_| input(format!("{p}: expected http://host:port")))?;
        }
    }
    if let Call::SyncKeysFrom { peer } = &args.call {
        fog_ingest_server::cluster::check_peer_uri(peer)
            .map_err(|_| input(format!("{peer}: expected http://host:port")))?;
    }
    let key = match &args.call {
        Call::ReportLostKey { key } => Some(parse_key(key)?),
        _ => None,
    };
    let endpoint = tonic::transport::Endpoint::from_shared(args.uri.clone())
        .map_err(|_| input(format!("--uri {}: expected http://host:port", args.uri)))?
        .connect_timeout(Duration::from_secs(5));
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))?;
    let uri = args.uri.clone();
    runtime.block_on(async move {
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| failed(format!("cannot reach {uri}: {e}")))?;
        let mut c = IngestAdminClient::new(channel);
        let t = &token;
        let status = match args.call {
            Call::Status => c.get_status(request(GetStatusRequest {}, t)).await,
            Call::Activate => c.activate(request(ActivateRequest {}, t)).await,
            Call::Retire => {
                c.set_retired(request(SetRetiredRequest { retired: true }, t))
                    .await
            }
            Call::Unretire => {
                c.set_retired(request(SetRetiredRequest { retired: false }, t))
                    .await
            }
            Call::NewKeys => c.new_keys(request(NewKeysRequest {}, t)).await,
            Call::SetPeers { peers } => c.set_peers(request(SetPeersRequest { peers }, t)).await,
            Call::SyncKeysFrom { peer } => {
                c.sync_keys_from_remote(request(SyncKeysFromRemoteRequest { peer }, t))
                    .await
            }
            Call::SetExpiryWindow { window } => {
                c.set_pubkey_expiry_window(request(SetPubkeyExpiryWindowRequest { window }, t))
                    .await
            }
            Call::RotateEgressKey => {
                c.rotate_egress_key(request(RotateEgressKeyRequest {}, t))
                    .await
            }
            Call::ReportLostKey { .. } => {
                let key = key.unwrap_or_default();
                let hex_key = hex::encode(&key);
                c.report_lost_ingress_key(request(ReportLostIngressKeyRequest { key }, t))
                    .await
                    .map_err(|s| refused(&uri, s))?;
                if args.json {
                    println!("{}", json!({ "reported_lost": hex_key }));
                } else {
                    println!("ingress key {hex_key} reported lost");
                }
                return Ok(());
            }
            Call::MissedRanges => {
                let ranges = c
                    .get_missed_block_ranges(request(GetMissedBlockRangesRequest {}, t))
                    .await
                    .map_err(|s| refused(&uri, s))?
                    .into_inner()
                    .ranges;
                if args.json {
                    let list: Vec<Value> = ranges
                        .iter()
                        .map(|r| json!({ "start": r.start, "end": r.end }))
                        .collect();
                    println!("{}", json!({ "missed_ranges": list }));
                } else if ranges.is_empty() {
                    println!("no missed block ranges");
                } else {
                    for r in ranges {
                        println!("blocks {}..{} (end excluded)", r.start, r.end);
                    }
                }
                return Ok(());
            }
            Call::KeyRecords {
                start,
                include_lost,
                include_retired,
                only_unexpired,
            } => {
                let records = c
                    .get_ingress_key_records(request(
                        GetIngressKeyRecordsRequest {
                            start_block_at_least: start,
                            should_include_lost_keys: include_lost,
                            should_include_retired_keys: include_retired,
                            should_only_include_unexpired_keys: only_unexpired,
                        },
                        t,
                    ))
                    .await
                    .map_err(|s| refused(&uri, s))?
                    .into_inner()
                    .records;
                if args.json {
                    let list: Vec<Value> = records
                        .iter()
                        .map(|r| {
                            json!({
                                "key": hex::encode(&r.key),
                                "start_block": r.start_block,
                                "pubkey_expiry": r.pubkey_expiry,
                                "retired": r.retired,
                                "lost": r.lost,
                                "last_scanned_block":
                                    r.has_last_scanned_block.then_some(r.last_scanned_block),
                            })
                        })
                        .collect();
                    println!("{}", json!({ "keys": list }));
                } else if records.is_empty() {
                    println!("no ingress keys match");
                } else {
                    for r in records {
                        let last = if r.has_last_scanned_block {
                            r.last_scanned_block.to_string()
                        } else {
                            "none".to_owned()
                        };
                        println!(
                            "{}  start {}  expiry {}  last scanned {}{}{}",
                            hex::encode(&r.key),
                            r.start_block,
                            r.pubkey_expiry,
                            last,
                            if r.retired { "  retired" } else { "" },
                            if r.lost { "  lost" } else { "" },
                        );
                    }
                }
                return Ok(());
            }
        }
        .map_err(|s| refused(&uri, s))?
        .into_inner();
        print_status(&status, args.json);
        Ok(())
    })
}
