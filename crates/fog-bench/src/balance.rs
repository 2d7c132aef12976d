//! The client workloads: `balance-check` (a fresh wallet's balance through the real view,
//! fog ledger and ingest over loopback) and `view-key-scan` (the same balance found by
//! trial-scanning every TxOut of the same ledger with the view key, which is what a user
//! without Fog must do).

use std::sync::Arc;
use std::time::Instant;

use fog_account::AccountKey;
use fog_attest::{FogEnclave, IdentityRule, Policy, SimProvider, Verifier};
use fog_client::{
    scan::OwnerKeys, state::Discovery, AccountState, ClientConfig, FogClient, GrpcConfig,
    GrpcTransport,
};
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use fog_ingest_server::{IngestConfig, IngestServer, NoEvidence, StateDir};
use fog_ledger_db::LedgerDb;
use fog_ledger_server::{LedgerServer, LedgerServerConfig};
use fog_recovery_db::SqliteRecoveryDb;
use fog_transaction::{
    block::{Block, BlockContents},
    Amount, BlockVersion, EncryptedFogHint, FogHint, KeyImage, TokenId, TxOut,
};
use fog_view_server::{ViewConfig, ViewServer, ViewService};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::{emit, get, round2, round5, Args};

/// The value of each of the wallet's TxOuts.
const AMOUNT: u64 = 1_000_000;
/// TxOuts per block.
const PER_BLOCK: u64 = 1000;

fn sim(seed: u64, enclave: FogEnclave) -> (SimProvider, Verifier) {
    let identity = fog_attest::fog_identity(enclave);
    let p = SimProvider::generate(&mut ChaCha20Rng::seed_from_u64(seed), identity);
    let v = Verifier::new(
        p.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    (p, v)
}

/// The bench wallet: the same keys for the same seed.
fn wallet(seed: u64) -> AccountKey {
    AccountKey::random(&mut ChaCha20Rng::seed_from_u64(seed ^ 0x5eed)).with_fog(
        "insecure-fog://127.0.0.1:1",
        "",
        b"bench authority",
    )
}

/// One block's TxOuts: `mine` of them to `user` (fog hints to `ingest`), the rest to random
/// accounts with fake hints; sorted by public key as blocks are.
fn block_outputs(
    block: u64,
    n: u64,
    mine: u64,
    user: &AccountKey,
    ingest: &RistrettoPublic,
    seed: u64,
) -> Result<Vec<TxOut>, String> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ (block << 20));
    let to_user = user.default_subaddress();
    let stranger = AccountKey::random(&mut rng).default_subaddress();
    let mut out = (0..n)
        .map(|i| {
            let (to, hint) = if i < mine {
                let hint = FogHint::from_address(&to_user).encrypt(ingest, &mut rng);
                (&to_user, hint)
            } else {
                (&stranger, EncryptedFogHint::fake_onetime_hint(&mut rng))
            };
            let r = RistrettoPrivate::random(&mut rng);
            TxOut::new(
                BlockVersion::THREE,
                Amount::new(AMOUNT, TokenId::MOB),
                to,
                &r,
                hint,
            )
            .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|t| t.public_key);
    Ok(out)
}

/// Writes a ledger of `txouts` TxOuts in blocks of 1000, `wallet_txouts` of them to `user`
/// (spread over the blocks), TxOuts made on every core. Returns the block count.
fn build_ledger(
    ledger: &LedgerDb,
    user: &AccountKey,
    ingest: &RistrettoPublic,
    txouts: u64,
    wallet_txouts: u64,
    seed: u64,
) -> Result<u64, String> {
    let blocks = txouts.div_ceil(PER_BLOCK);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    // Wallet TxOut j goes to block j·blocks/W.
    let mine = |b: u64| -> u64 {
        (0..wallet_txouts)
            .filter(|j| j * blocks / wallet_txouts.max(1) == b)
            .count() as u64
    };
    let started = Instant::now();
    let mut b = 0;
    while b < blocks {
        let group: Vec<u64> = (b..(b + cores * 4).min(blocks)).collect();
        let made: Vec<Result<Vec<Vec<TxOut>>, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .chunks(4)
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|&blk| {
                                let n = PER_BLOCK.min(txouts - blk * PER_BLOCK);
                                block_outputs(blk, n, mine(blk), user, ingest, seed)
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
                .collect()
        });
        for outputs in made
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
        {
            append(ledger, outputs, seed ^ b)?;
            b += 1;
        }
        if b % 100 == 0 || b == blocks {
            eprintln!(
                "ledger: {b}/{blocks} blocks ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(blocks)
}

fn append(ledger: &LedgerDb, outputs: Vec<TxOut>, seed: u64) -> Result<(), String> {
    let e = |e: fog_ledger_db::LedgerError| e.to_string();
    let (block, contents) = match ledger.last_block().map_err(e)? {
        None => {
            let contents = BlockContents {
                key_images: vec![],
                outputs,
            };
            (Block::new_origin(&contents), contents)
        }
        Some(last) => {
            let mut ki = [0u8; 32];
            ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut ki);
            let contents = BlockContents {
                key_images: vec![KeyImage(ki)],
                outputs,
            };
            let n = contents.outputs.len() as u64;
            let block = Block::new(
                3,
                last.id,
                last.index + 1,
                last.cumulative_txo_count + n,
                ledger.root_element().map_err(e)?,
                &contents,
            );
            (block, contents)
        }
    };
    let ts = 1_700_000_000 + block.index;
    ledger.append_block(&block, &contents, ts).map_err(e)
}

/// `balance-check --ledger-txouts M --wallet-txouts W [--seed S]`: builds a ledger of M
/// TxOuts (W to a fog wallet), runs the real ingest over it into a SQLite recovery DB, loads
/// view and the fog ledger's key-image store, serves both over loopback gRPC, then times a
/// fresh wallet's balance check (`seconds`, `round_trips`, `bytes` sent + received) and an
/// incremental check with nothing new.
pub fn balance_check(args: &Args) -> Result<(), String> {
    let txouts: u64 = get(args, "ledger-txouts", Some(100_000))?;
    let wallet_txouts: u64 = get(args, "wallet-txouts", Some(100))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    if txouts == 0 || wallet_txouts > txouts {
        return Err("need 0 < --wallet-txouts <= --ledger-txouts".into());
    }
    let dir = std::env::temp_dir().join(format!("fog-bench-balance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let result = rt.block_on(balance_check_in(&dir, txouts, wallet_txouts, seed));
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn balance_check_in(
    dir: &std::path::Path,
    txouts: u64,
    wallet_txouts: u64,
    seed: u64,
) -> Result<(), String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    let ledger = LedgerDb::create(dir.join("ledger.redb")).map_err(|e| s(&e))?;
    let db = SqliteRecoveryDb::open(dir.join("recovery.db")).map_err(|e| s(&e))?;
    let users = (txouts + txouts / 4)
        .next_power_of_two()
        .clamp(1 << 10, 1 << 24);
    let config = IngestConfig {
        user_capacity: users,
        ..IngestConfig::default()
    };
    let state = StateDir::new(dir.join("state")).map_err(|e| s(&e))?;
    let (sealing, _) = fog_enclave::sealing::SealingKeyProvider::simulated_generate(
        &mut ChaCha20Rng::from_entropy(),
    );
    let enclave = fog_enclave::boundary::ingest::IngestBoundary::simulated(sealing, None)
        .map_err(|e| s(&e))?;
    let mut ingest = IngestServer::open(
        ledger.clone(),
        db.clone(),
        state,
        config,
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .map_err(|e| s(&e))?;
    let user = wallet(seed);
    let blocks = build_ledger(
        &ledger,
        &user,
        &ingest.ingress_public_key(),
        txouts,
        wallet_txouts,
        seed,
    )?;
    let started = Instant::now();
    while ingest.process_next_block().await.map_err(|e| s(&e))? {
        let next = ingest.status().next_block;
        if next % 100 == 0 {
            eprintln!(
                "ingest: {next}/{blocks} blocks ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    drop(ingest);

    let (view_p, view_v) = sim(seed ^ 1, FogEnclave::View);
    let (ledger_p, ledger_v) = sim(seed ^ 2, FogEnclave::Ledger);
    let (_, ingest_v) = sim(seed ^ 3, FogEnclave::Ingest);
    let partitions = std::thread::available_parallelism().map_or(1, |n| n.get());
    let view_config = ViewConfig {
        partitions,
        capacity_per_partition: crate::view::capacity_for(txouts, partitions),
        ..ViewConfig::default()
    };
    let enclave =
        fog_enclave::boundary::view::ViewBoundary::simulated(&view_config.enclave(), None)
            .map_err(|e| s(&e))?;
    fog_enclave_api::view::ViewClient::new(enclave.clone())
        .attest(&view_p)
        .map_err(|e| s(&e))?;
    let view = Arc::new(ViewServer::new(Arc::new(db), enclave, view_config));
    let t = Instant::now();
    view.poll().await.map_err(|e| s(&e))?;
    eprintln!("view: loaded in {:.1} s", t.elapsed().as_secs_f64());
    let ledger_enclave = fog_enclave::boundary::ledger::LedgerBoundary::simulated(
        fog_enclave::boundary::ledger::LedgerConfig::default(),
    )
    .map_err(|e| s(&e))?;
    let fog_ledger = Arc::new(
        LedgerServer::new(
            ledger.clone(),
            ledger_enclave,
            &ledger_p,
            LedgerServerConfig::default(),
        )
        .map_err(|e| s(&e))?,
    );
    fog_ledger.catch_up(u64::MAX).map_err(|e| s(&e))?;

    let view_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| s(&e))?;
    let view_addr = view_listener.local_addr().map_err(|e| s(&e))?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ViewService::new(view.clone()).into_server())
            .serve_with_incoming(fog_host::incoming(view_listener)),
    );
    let ledger_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| s(&e))?;
    let ledger_addr = ledger_listener.local_addr().map_err(|e| s(&e))?;
    tokio::spawn(fog_ledger_server::run(
        fog_ledger.clone(),
        ledger_listener,
        std::future::pending(),
    ));

    // The node is not asked during a balance check.
    let grpc = GrpcConfig::new(
        format!("http://{view_addr}"),
        format!("http://{ledger_addr}"),
        "http://127.0.0.1:1",
        view_v,
        ledger_v,
    );
    let mut client = FogClient::new(
        GrpcTransport::new(grpc),
        user,
        AccountState::new(),
        ClientConfig::new(ingest_v),
    );
    let t = Instant::now();
    let balance = client.check_balance().await.map_err(|e| s(&e))?;
    let fresh_s = t.elapsed().as_secs_f64();
    let fresh = client.transport().stats();
    let want = u128::from(wallet_txouts) * u128::from(AMOUNT);
    if balance.block_count != blocks || balance.of(0) != want {
        return Err(format!(
            "wrong balance: {} at {} blocks, expected {want} at {blocks}",
            balance.of(0),
            balance.block_count
        ));
    }
    let t = Instant::now();
    client.check_balance().await.map_err(|e| s(&e))?;
    let again_s = t.elapsed().as_secs_f64();
    let total = client.transport().stats();
    emit(json!({
        "workload": "balance-check",
        "ledger_txouts": txouts,
        "wallet_txouts": wallet_txouts,
        "blocks": blocks,
        "seconds": round5(fresh_s),
        "round_trips": fresh.round_trips,
        "bytes": fresh.bytes_sent + fresh.bytes_received,
        "bytes_sent": fresh.bytes_sent,
        "bytes_received": fresh.bytes_received,
        "incremental_seconds": round5(again_s),
        "incremental_round_trips": total.round_trips - fresh.round_trips,
        "incremental_bytes": (total.bytes_sent + total.bytes_received)
            - (fresh.bytes_sent + fresh.bytes_received),
        "view_partitions": partitions,
    }));
    Ok(())
}

/// `view-key-scan --ledger-txouts M [--wallet-txouts W] [--seed S]`: builds the same ledger
/// as `balance-check` and times finding the wallet's TxOuts by trial-decrypting every TxOut
/// with the view key on one core (`seconds`).
pub fn view_key_scan(args: &Args) -> Result<(), String> {
    let txouts: u64 = get(args, "ledger-txouts", Some(100_000))?;
    let wallet_txouts: u64 = get(args, "wallet-txouts", Some(100))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    if txouts == 0 || wallet_txouts > txouts {
        return Err("need 0 < --wallet-txouts <= --ledger-txouts".into());
    }
    let dir = std::env::temp_dir().join(format!("fog-bench-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = (|| {
        let ledger = LedgerDb::create(dir.join("ledger.redb")).map_err(|e| e.to_string())?;
        let user = wallet(seed);
        // The hints' recipient does not matter to a view-key scan.
        let ingest = RistrettoPrivate::random(&mut ChaCha20Rng::seed_from_u64(seed)).public_key();
        let blocks = build_ledger(&ledger, &user, &ingest, txouts, wallet_txouts, seed)?;
        let keys = OwnerKeys::new(&user);
        let t = Instant::now();
        let mut found = 0u64;
        let mut value = 0u128;
        let mut global = 0u64;
        for b in 0..blocks {
            let contents = ledger
                .get_block_contents(b)
                .map_err(|e| e.to_string())?
                .ok_or("missing block")?;
            for o in &contents.outputs {
                if let Some(owned) = keys.recognize(o, global, b, 0, Discovery::MissedRangeScan) {
                    found += 1;
                    value += u128::from(owned.amount.value);
                }
                global += 1;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        if found != wallet_txouts || value != u128::from(wallet_txouts) * u128::from(AMOUNT) {
            return Err(format!("scan found {found} TxOuts worth {value}"));
        }
        emit(json!({
            "workload": "view-key-scan",
            "ledger_txouts": txouts,
            "wallet_txouts": wallet_txouts,
            "seconds": round5(secs),
            "txouts_per_s": round2(txouts as f64 / secs),
        }));
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
