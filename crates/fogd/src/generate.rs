//! `fogd generate-ledger`: a ledger DB of real TxOuts to generated accounts.

use std::{
    collections::BTreeMap,
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use clap::Args;
use curve25519_dalek::ristretto::RistrettoPoint;
use fog_account::{AccountKey, PublicAddress};
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use fog_ledger_db::{Durability, LedgerDb};
use fog_node::make_tx_out;
use fog_transaction::{
    block::{Block, BlockContents},
    Amount, KeyImage, TokenId, TxOut,
};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::{
    accounts::{parse_ingest_key, AccountJson, GeneratedAccount},
    failed, input, CliError,
};

/// The version of the generated blocks after the origin block.
const BLOCK_VERSION: u32 = 3;
/// Timestamp of the origin block; block `i` is stamped `GENESIS_TIME + 5·i` so the ledger is
/// the same for the same seed.
const GENESIS_TIME: u64 = 1_700_000_000;
/// Fog accounts' report URL, as in the test vectors.
const FOG_URL: &str = "fog://fog.example.com";

/// `fogd generate-ledger`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Accounts receiving TxOuts.
    #[arg(long, value_name = "U")]
    users: u32,
    /// How many of them (the first F) are fog accounts, whose TxOuts carry real fog hints.
    #[arg(long = "fog-users", value_name = "F")]
    fog_users: u32,
    /// Blocks, the origin block included.
    #[arg(long, value_name = "B")]
    blocks: u64,
    /// TxOuts per block.
    #[arg(long = "txouts-per-block", value_name = "T")]
    txouts_per_block: u32,
    /// The seed: the same seed gives the same accounts, TxOuts and blocks.
    #[arg(long, value_name = "S")]
    seed: u64,
    /// The directory to write `ledger.redb` and `accounts.jsonl` into (created if missing;
    /// must not hold a ledger already).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// The ingest public key (64 hex digits) fog hints are encrypted to. Without it, a fresh
    /// ingest key pair is made from the seed and saved beside the ledger
    /// (`ingest-private.hex`, mode 0600, and `ingest-public.hex`).
    #[arg(long = "ingest-pubkey", value_name = "HEX")]
    ingest_pubkey: Option<String>,
}

struct User {
    address: PublicAddress,
    is_fog: bool,
}

/// One generated block's contents and whom it paid.
struct Generated {
    contents: BlockContents,
    /// (user, token, value) per TxOut.
    credits: Vec<(usize, u64, u64)>,
}

/// Reports progress: a bar on a terminal, otherwise a plain line every 10 seconds.
struct Progress {
    bar: ProgressBar,
    plain: bool,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    fn new(total: u64) -> Self {
        let plain = !std::io::stderr().is_terminal();
        let bar = if plain {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} TxOuts ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        };
        let now = Instant::now();
        Self {
            bar,
            plain,
            total,
            done: 0,
            started: now,
            last_line: now,
        }
    }

    fn inc(&mut self, n: u64) {
        self.done += n;
        self.bar.inc(n);
        if self.plain && self.last_line.elapsed() >= Duration::from_secs(10) {
            self.last_line = Instant::now();
            self.line();
        }
    }

    fn line(&self) {
        let pct = (self.done * 100).checked_div(self.total).unwrap_or(100);
        eprintln!(
            "generate-ledger: {}/{} TxOuts ({pct}%), {:.0} s",
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
        if self.plain {
            self.line();
        }
    }
}

fn check(args: &GenerateArgs) -> Result<(), CliError> {
    if args.users == 0 {
        return Err(input("--users must be at least 1"));
    }
    if args.fog_users > args.users {
        return Err(input("--fog-users cannot exceed --users"));
    }
    if args.blocks == 0 || args.txouts_per_block == 0 {
        return Err(input("--blocks and --txouts-per-block must be at least 1"));
    }
    if args
        .blocks
        .checked_mul(u64::from(args.txouts_per_block))
        .is_none()
    {
        return Err(input("--blocks × --txouts-per-block is too large"));
    }
    Ok(())
}

fn write_file(path: &Path, text: &str, private: bool) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .map_err(|e| input(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| failed(format!("writing {}: {e}", path.display())))
}

/// The RNG of block `index`: the same for the same seed, whichever thread makes the block.
fn block_rng(base: &[u8; 32], index: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(*base);
    rng.set_stream(index);
    rng
}

fn generate_block(
    index: u64,
    base: &[u8; 32],
    users: &[User],
    per_block: u32,
    ingest: &RistrettoPublic,
) -> Result<Generated, CliError> {
    let mut rng = block_rng(base, index);
    let mut outputs = Vec::with_capacity(per_block as usize);
    let mut credits = Vec::with_capacity(per_block as usize);
    for _ in 0..per_block {
        let user = rng.gen_range(0..users.len());
        // Mostly MOB; one TxOut in ten of token 1. Values from 10^6 to 10^12.
        let token = if rng.gen_ratio(1, 10) { 1 } else { 0 };
        let value = rng.gen_range(1_000_000..=1_000_000_000_000u64);
        let u = &users[user];
        let key = u.is_fog.then_some(ingest);
        let t: TxOut = make_tx_out(
            &u.address,
            Amount::new(value, TokenId(token)),
            key,
            &mut rng,
        )
        .map_err(|e| failed(format!("making a TxOut: {e}")))?;
        outputs.push(t);
        credits.push((user, token, value));
    }
    outputs.sort_by_key(|t| t.public_key);
    // Every block after the origin spends random key images: valid points that no TxOut's
    // key image will ever be. One per two outputs, as a ledger of 1-input, 2-output payments.
    let key_images = if index == 0 {
        Vec::new()
    } else {
        let mut images: Vec<KeyImage> = (0..per_block.div_ceil(2))
            .map(|_| {
                let mut wide = [0u8; 64];
                rng.fill_bytes(&mut wide);
                KeyImage(
                    RistrettoPoint::from_uniform_bytes(&wide)
                        .compress()
                        .to_bytes(),
                )
            })
            .collect();
        images.sort();
        images.dedup();
        images
    };
    Ok(Generated {
        contents: BlockContents {
            key_images,
            outputs,
        },
        credits,
    })
}

/// Writes the ledger and the accounts file.
pub fn run(args: GenerateArgs) -> Result<(), CliError> {
    check(&args)?;
    let started = Instant::now();
    let ingest_arg = args
        .ingest_pubkey
        .as_deref()
        .map(parse_ingest_key)
        .transpose()?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| input(format!("cannot create {}: {e}", args.out.display())))?;
    let ledger_path = args.out.join("ledger.redb");
    let accounts_path = args.out.join("accounts.jsonl");
    for p in [&ledger_path, &accounts_path] {
        if p.exists() {
            return Err(input(format!("{} already exists", p.display())));
        }
    }

    // Accounts, then the ingest key, then the per-block base seed: all from the seed.
    let mut master = ChaCha20Rng::seed_from_u64(args.seed);
    let mut keys = Vec::with_capacity(args.users as usize);
    let mut users = Vec::with_capacity(args.users as usize);
    for i in 0..args.users {
        let account = AccountKey::random(&mut master);
        let is_fog = i < args.fog_users;
        let account = if is_fog {
            let mut spki = [0u8; 44];
            master.fill_bytes(&mut spki);
            account.with_fog(FOG_URL, "", &spki)
        } else {
            account
        };
        users.push(User {
            address: account.default_subaddress(),
            is_fog,
        });
        keys.push(AccountJson::from_account(&account));
    }
    let generated_ingest = RistrettoPrivate::random(&mut master);
    let mut base = [0u8; 32];
    master.fill_bytes(&mut base);
    let ingest = match ingest_arg {
        Some(key) => key,
        None => {
            let public = generated_ingest.public_key();
            let private_path = args.out.join("ingest-private.hex");
            write_file(
                &private_path,
                &format!("{}\n", hex::encode(&generated_ingest.to_bytes()[..])),
                true,
            )?;
            write_file(
                &args.out.join("ingest-public.hex"),
                &format!("{}\n", hex::encode(public.as_bytes())),
                false,
            )?;
            public
        }
    };

    let ledger = LedgerDb::create(&ledger_path)
        .map_err(|e| input(format!("cannot create {}: {e}", ledger_path.display())))?
        .with_durability(Durability::Eventual);
    let total = args.blocks * u64::from(args.txouts_per_block);
    let mut progress = Progress::new(total);
    let mut balances: Vec<(BTreeMap<u64, u64>, u64)> = vec![Default::default(); users.len()];

    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 16);
    let next = AtomicU64::new(0);
    let result = std::thread::scope(|s| -> Result<(), CliError> {
        let (sender, receiver) = mpsc::sync_channel::<(u64, Result<Generated, CliError>)>(4);
        for _ in 0..workers {
            let sender = sender.clone();
            let (next, base, users, ingest) = (&next, &base, &users, &ingest);
            s.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= args.blocks {
                    break;
                }
                let made = generate_block(index, base, users, args.txouts_per_block, ingest);
                if sender.send((index, made)).is_err() {
                    break;
                }
            });
        }
        drop(sender);
        // Append in order; blocks made out of order wait here.
        let mut waiting = BTreeMap::new();
        let mut expected = 0u64;
        let mut parent: Option<Block> = None;
        let mut num_txos = 0u64;
        for (index, made) in receiver.iter() {
            waiting.insert(index, made);
            while let Some(made) = waiting.remove(&expected) {
                let g = made?;
                let block = match &parent {
                    None => Block::new_origin(&g.contents),
                    Some(p) => Block::new(
                        BLOCK_VERSION,
                        p.id,
                        expected,
                        num_txos + g.contents.outputs.len() as u64,
                        ledger
                            .root_element()
                            .map_err(|e| failed(format!("reading the ledger: {e}")))?,
                        &g.contents,
                    ),
                };
                ledger
                    .append_block(&block, &g.contents, GENESIS_TIME + 5 * expected)
                    .map_err(|e| failed(format!("appending block {expected}: {e}")))?;
                for (user, token, value) in g.credits {
                    let (by_token, count) = &mut balances[user];
                    *by_token.entry(token).or_default() += value;
                    *count += 1;
                }
                num_txos += g.contents.outputs.len() as u64;
                progress.inc(g.contents.outputs.len() as u64);
                parent = Some(block);
                expected += 1;
            }
        }
        // Dropping the receiver (on an error above) stops the workers at their next send.
        Ok(())
    });
    progress.finish();
    result?;
    ledger
        .sync()
        .map_err(|e| failed(format!("flushing the ledger: {e}")))?;
    drop(ledger);

    let mut lines = String::new();
    for ((keys, user), (expected_balance, tx_out_count)) in
        keys.into_iter().zip(&users).zip(balances)
    {
        let line = GeneratedAccount {
            keys,
            is_fog: user.is_fog,
            expected_balance,
            tx_out_count,
        };
        lines.push_str(&serde_json::to_string(&line).map_err(|e| failed(e.to_string()))?);
        lines.push('\n');
    }
    write_file(&accounts_path, &lines, true)?;

    let bytes = std::fs::metadata(&ledger_path)
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "ledger": ledger_path.display().to_string(),
            "accounts": accounts_path.display().to_string(),
            "blocks": args.blocks,
            "tx_outs": total,
            "seconds": started.elapsed().as_secs_f64(),
            "ledger_bytes": bytes,
        })
    );
    Ok(())
}
