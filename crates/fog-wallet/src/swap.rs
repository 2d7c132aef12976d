//! `offer`, `check-offer` and `fill`: atomic swaps between tokens with signed contingent
//! inputs (MobileCoin's SCI, MCIP 31; partial fills, MCIP 42), through `fog_client::swap`.
//!
//! The maker signs one of its TxOuts over rules that require the payment it wants; the taker
//! adds its own inputs, pays the maker as the rules say, takes the offered TxOut's value (all,
//! or part of a partial offer) and pays the fee (in MOB, MobileCoin's minimum unless the node
//! asks more). The ledger node checks the rules: the whole swap lands or nothing does.
//!
//! # Offer files
//!
//! `offer --out FILE` writes a new file (mode 0600): an 8-byte magic `FOG-SCI\n`, a
//! big-endian u32 version (1), a big-endian u32 body length, the body (MobileCoin's
//! `SignedContingentInput` protobuf, exactly as `fog_client::swap::Offer::bytes`), and a
//! BLAKE2b-256 checksum of the domain `fog-wallet offer v1` and everything before it. Reading
//! checks all of it, then the offer itself (its signature, rules and amounts), so a truncated,
//! corrupt or tampered file is refused before anything is sent. The file holds no secret: it
//! reveals the amounts traded and the offered TxOut's ring.

use std::{
    io::{self, Write},
    path::{Path, PathBuf},
    time::Instant,
};

use clap::Args;
use fog_client::{
    client::spent_blocks,
    swap::{check_offer, fill_offer, make_offer, Fill, FillReceipt, OfferSummary, Take},
    Balance, ClientError, Transport,
};
use fog_transaction::{Amount, TokenId};
use fog_wallet::{
    amount::{format_amount, parse_amount},
    Session, WalletError,
};
use serde::Serialize;

use crate::{
    commands::{overrides, print_out, push_token_lines, runtime},
    NetworkArgs,
};

/// The offer file's magic.
const MAGIC: &[u8; 8] = b"FOG-SCI\n";
/// The offer file's version.
const VERSION: u32 = 1;
/// The checksum's domain.
const CHECKSUM_DOMAIN: &[u8] = b"fog-wallet offer v1";
/// The largest body read (an SCI with a ring of 11 and its rules is a few KiB).
const MAX_BODY: usize = 1 << 20;
/// Header (magic, version, length) and checksum.
const HEADER: usize = 16;
const CHECKSUM: usize = 32;

#[derive(Debug, Args)]
pub(crate) struct OfferArgs {
    /// What to give: MOB for token 0 (`2.5`, `2.5MOB`, `400000000pMOB`), else whole units.
    /// One TxOut of the wallet must hold at least this much.
    #[arg(long, value_name = "X")]
    give: String,
    /// The token given.
    #[arg(long, value_name = "T", default_value_t = 0)]
    give_token: u64,
    /// What to ask for all of it, in the units of --want-token.
    #[arg(long, value_name = "X")]
    want: String,
    /// The token asked for.
    #[arg(long, value_name = "U")]
    want_token: u64,
    /// Let a taker fill part of the offer, paying in proportion (rounded up).
    #[arg(long)]
    partial: bool,
    /// The least of the given token a partial fill must take, in the units of --give.
    #[arg(long, value_name = "X", requires = "partial")]
    min_fill: Option<String>,
    /// Blocks from now during which the offer can be filled (at most until this wallet's
    /// fog key expires).
    #[arg(long, value_name = "BLOCKS", default_value_t = 100)]
    valid_for: u64,
    /// The offer file to write (a new file).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// No progress on standard error.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    network: NetworkArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CheckOfferArgs {
    /// The offer file (written by `offer`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print JSON (smallest units): `{"give": {...}, "want": [...], "fill": "full"|"partial",
    /// ...}`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    network: NetworkArgs,
}

#[derive(Debug, Args)]
pub(crate) struct FillArgs {
    /// The offer file (written by `offer`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// How much of the offered token to take (partial offers only; in the units of the
    /// offered token) [default: all of it].
    #[arg(long, value_name = "X")]
    take: Option<String>,
    /// The fee, in MOB [default: the ledger node's minimum].
    #[arg(long, value_name = "X")]
    fee: Option<String>,
    /// Return once the node accepted the swap, without waiting for it to land.
    #[arg(long)]
    no_wait: bool,
    /// No progress on standard error.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    network: NetworkArgs,
}

/// The offer file's bytes for an SCI's protobuf `body`.
fn encode_offer_file(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len() + CHECKSUM);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    let len = u32::try_from(body.len()).expect("an offer is far below 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    let sum = fog_crypto::hash::blake2b256(&[CHECKSUM_DOMAIN, &out]);
    out.extend_from_slice(&sum);
    out
}

/// The SCI protobuf in an offer file's bytes, or why not.
fn decode_offer_file(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not an offer file (written by `fog-wallet offer`)".into());
    }
    if bytes.len() < HEADER + CHECKSUM {
        return Err("truncated offer file".into());
    }
    let version = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(format!(
            "offer file version {version}: this wallet reads version {VERSION}"
        ));
    }
    let len = u32::from_be_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    if len > MAX_BODY || bytes.len() != HEADER + len + CHECKSUM {
        return Err("truncated or corrupt offer file: its length does not match".into());
    }
    let (signed, sum) = bytes.split_at(HEADER + len);
    if fog_crypto::hash::blake2b256(&[CHECKSUM_DOMAIN, signed]) != sum {
        return Err("corrupt offer file: the checksum does not match".into());
    }
    Ok(&signed[HEADER..])
}

/// Writes `bytes` to a new file at `path` (mode 0600): a temporary file in the same
/// directory, flushed, then linked to `path`, which fails rather than replace a file.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), WalletError> {
    use std::os::unix::fs::OpenOptionsExt;
    let write_err = |source| WalletError::Write {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| WalletError::Usage(format!("--out {}: not a file name", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(write_err)?;
    let linked = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::hard_link(&tmp, path));
    drop(file);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(WalletError::FileExists(path.to_owned()))
        }
        Err(e) => Err(write_err(e)),
    }
}

/// Reads an offer file and checks the offer in it (offline): its bytes and summary.
fn read_offer(path: &Path) -> Result<(Vec<u8>, OfferSummary), WalletError> {
    use std::io::Read;
    let read_err = |source| WalletError::Read {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read_err)?
        .take((HEADER + MAX_BODY + CHECKSUM + 1) as u64)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let bad = |reason: String| {
        WalletError::Usage(format!("{}: {reason}; nothing was done", path.display()))
    };
    let body = decode_offer_file(&bytes).map_err(bad)?;
    let (_, summary) = check_offer(body).map_err(|e| match e {
        ClientError::InvalidRequest(m) => bad(m),
        other => bad(other.to_string()),
    })?;
    Ok((body.to_vec(), summary))
}

fn note(quiet: bool, text: &str) {
    if !quiet {
        eprintln!("{text}");
    }
}

fn amount_text(a: Amount) -> String {
    format_amount(u128::from(a.value), a.token_id.0)
}

fn amounts_text(v: &[Amount]) -> String {
    v.iter()
        .map(|a| amount_text(*a))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn fill_text(fill: Fill, give_token: u64) -> String {
    match fill {
        Fill::Full => "full fill only".into(),
        Fill::Partial { min_fill: 0 } => "partial fills allowed".into(),
        Fill::Partial { min_fill } => format!(
            "partial fills allowed, taking at least {}",
            format_amount(u128::from(min_fill), give_token)
        ),
    }
}

/// `fog-wallet offer`.
pub(crate) fn offer(path: &Path, args: &OfferArgs) -> Result<(), WalletError> {
    let overrides = overrides(&args.network)?;
    let give = parse_amount(&args.give, args.give_token)
        .map_err(|e| WalletError::Usage(format!("--give: {e}")))?;
    let want = parse_amount(&args.want, args.want_token)
        .map_err(|e| WalletError::Usage(format!("--want: {e}")))?;
    if args.give_token == args.want_token {
        return Err(WalletError::Usage(
            "--give-token and --want-token must differ: an offer swaps two tokens".into(),
        ));
    }
    if args.valid_for == 0 {
        return Err(WalletError::Usage("--valid-for: at least 1 block".into()));
    }
    let fill = if args.partial {
        let min_fill = args
            .min_fill
            .as_deref()
            .map(|m| parse_amount(m, args.give_token))
            .transpose()
            .map_err(|e| WalletError::Usage(format!("--min-fill: {e}")))?
            .unwrap_or(0);
        if min_fill > give {
            return Err(WalletError::Usage(
                "--min-fill is more than the offer gives".into(),
            ));
        }
        Fill::Partial { min_fill }
    } else {
        Fill::Full
    };
    if std::fs::symlink_metadata(&args.out).is_ok() {
        return Err(WalletError::FileExists(args.out.clone()));
    }
    let mut session = Session::open(path, &overrides, false)?;
    let verifier = session
        .network()
        .client_config()
        .map_err(WalletError::Usage)?
        .ingest_verifier;
    let runtime = runtime()?;
    note(
        args.quiet,
        "checking the balance, fetching a ring and this wallet's fog report, signing the offer...",
    );
    let give = Amount::new(give, TokenId(args.give_token));
    let want = Amount::new(want, TokenId(args.want_token));
    let result = runtime.block_on(make_offer(
        session.client_mut(),
        &verifier,
        give,
        want,
        fill,
        args.valid_for,
        &mut rand::rngs::OsRng,
    ));
    let offer = result.map_err(|e| session.client_error(e))?;
    session.save()?;
    if std::fs::symlink_metadata(&args.out).is_ok() {
        return Err(WalletError::FileExists(args.out.clone()));
    }
    write_new(&args.out, &encode_offer_file(&offer.bytes))?;
    print_out(format_args!(
        "Offer written to {}: gives {} for {} ({}), fillable until block {}.\n\
         Anyone with the file can fill it. Spending the offered TxOut (a send may pick it) \
         cancels the offer.\n",
        args.out.display(),
        amount_text(give),
        amount_text(want),
        fill_text(fill, args.give_token),
        offer.terms.max_tombstone_block.saturating_sub(1),
    ))
}

#[derive(Serialize)]
struct AmountJson {
    token_id: u64,
    amount: u64,
}

impl From<Amount> for AmountJson {
    fn from(a: Amount) -> Self {
        Self {
            token_id: a.token_id.0,
            amount: a.value,
        }
    }
}

#[derive(Serialize)]
struct OfferJson {
    /// What a full fill takes.
    give: AmountJson,
    /// What a full fill pays the maker.
    want: Vec<AmountJson>,
    fill: &'static str,
    /// The least a partial fill takes (0 for a full-fill offer: all of it).
    min_fill: u64,
    /// The first block in which it can no longer be filled (0: none).
    max_tombstone_block: u64,
    /// The ledger's block count when checked.
    block_count: u64,
    key_image: String,
    block_version: u32,
}

/// The offer is expired at `block_count`.
fn expired(summary: &OfferSummary, block_count: u64) -> bool {
    summary.max_tombstone_block != 0 && summary.max_tombstone_block <= block_count
}

/// `fog-wallet check-offer`.
pub(crate) fn check(path: &Path, args: &CheckOfferArgs) -> Result<(), WalletError> {
    let overrides = overrides(&args.network)?;
    let (_, summary) = read_offer(&args.file)?;
    let mut session = Session::open(path, &overrides, false)?;
    let runtime = runtime()?;
    let info = runtime.block_on(session.client_mut().transport_mut().ledger_info());
    let block_count = info.map_err(|e| session.client_error(e))?.block_count;
    if expired(&summary, block_count) {
        return Err(WalletError::Client {
            source: ClientError::Expired {
                tombstone_block: summary.max_tombstone_block,
                block_count,
            },
            at: None,
        });
    }
    let give_token = summary.give.token_id.0;
    if args.json {
        let json = OfferJson {
            give: summary.give.into(),
            want: summary.ask.iter().map(|a| (*a).into()).collect(),
            fill: match summary.fill {
                Fill::Full => "full",
                Fill::Partial { .. } => "partial",
            },
            min_fill: match summary.fill {
                Fill::Full => 0,
                Fill::Partial { min_fill } => min_fill,
            },
            max_tombstone_block: summary.max_tombstone_block,
            block_count,
            key_image: hex::encode(summary.key_image.0),
            block_version: summary.block_version.get(),
        };
        let text = serde_json::to_string(&json).expect("an offer summary serializes");
        return print_out(format_args!("{text}\n"));
    }
    let until = match summary.max_tombstone_block {
        0 => "no expiry".to_string(),
        m => format!(
            "fillable until block {} (the ledger has {block_count} blocks)",
            m - 1
        ),
    };
    print_out(format_args!(
        "A valid offer: gives {} for {} ({}); {until}.\n\
         Its signature and rules check; whether it is still unfilled shows when filling it.\n",
        amount_text(summary.give),
        amounts_text(&summary.ask),
        fill_text(summary.fill, give_token),
    ))
}

/// `fog-wallet fill`.
pub(crate) fn fill(path: &Path, args: &FillArgs) -> Result<(), WalletError> {
    let overrides = overrides(&args.network)?;
    // The file and the offer are checked before the wallet is opened or anything is sent.
    let (bytes, summary) = read_offer(&args.file)?;
    let give_token = summary.give.token_id.0;
    let take = match (&args.take, summary.fill) {
        (None, _) => Take::All,
        (Some(t), fill) => {
            let v = parse_amount(t, give_token)
                .map_err(|e| WalletError::Usage(format!("--take: {e}")))?;
            match fill {
                Fill::Full if v == summary.give.value => Take::All,
                Fill::Full => {
                    return Err(WalletError::Usage(format!(
                        "--take: this offer can only be filled in full ({})",
                        amount_text(summary.give)
                    )))
                }
                Fill::Partial { min_fill } if v < min_fill.max(1) || v > summary.give.value => {
                    return Err(WalletError::Usage(format!(
                        "--take: take between {} and {}",
                        format_amount(u128::from(min_fill.max(1)), give_token),
                        amount_text(summary.give)
                    )))
                }
                Fill::Partial { .. } => Take::Value(v),
            }
        }
    };
    let fee = args
        .fee
        .as_deref()
        .map(|f| parse_amount(f, 0).map_err(|e| WalletError::Usage(format!("--fee: {e}"))))
        .transpose()?;
    let mut session = Session::open(path, &overrides, false)?;
    let config = session
        .network()
        .client_config()
        .map_err(WalletError::Usage)?;
    let runtime = runtime()?;
    // The fee is paid in MOB: as given, or the node's minimum.
    let fee = match fee {
        Some(v) => Amount::new(v, TokenId::MOB),
        None => runtime.block_on(session.minimum_fee(TokenId::MOB))?,
    };
    note(
        args.quiet,
        "checking the balance, fetching rings and proofs, building and submitting the swap...",
    );
    let result = runtime.block_on(fill_offer(
        session.client_mut(),
        &config.ingest_verifier,
        &bytes,
        take,
        Some(fee),
        &mut rand::rngs::OsRng,
    ));
    // The balance check it made is kept whether or not the node took the swap.
    let saved = session.save();
    let receipt = result.map_err(|e| session.client_error(e))?;
    saved?;
    let text = format!(
        "Filled the offer: took {}, paid {} (fee {}), transaction {}\n",
        amount_text(receipt.received),
        amounts_text(&receipt.paid),
        amount_text(receipt.fee),
        hex::encode(receipt.tx_hash),
    );
    if args.no_wait {
        return print_out(format_args!(
            "{text}Not waiting for it to land; `fog-wallet balance` shows it once it has.\n"
        ));
    }
    print_out(format_args!("{text}"))?;
    note(
        args.quiet,
        "waiting for it to land and show up in fog view...",
    );
    let (block, balance) = runtime.block_on(wait_for_fill(&mut session, &receipt, &config))?;
    let mut text = format!(
        "Landed in block {block}. Balance at block count {}:\n",
        balance.block_count
    );
    push_token_lines(&mut text, &balance);
    print_out(format_args!("{text}"))
}

/// Waits until every input of the fill is seen spent in a block that the balance covers:
/// (that block, the balance). The wallet file is written after every check.
async fn wait_for_fill(
    session: &mut Session,
    receipt: &FillReceipt,
    config: &fog_client::ClientConfig,
) -> Result<(u64, Balance), WalletError> {
    let started = Instant::now();
    loop {
        let balance = session.balance(|_| {}).await?;
        let spent = spent_blocks(session.client().state(), &receipt.key_images);
        if let Some(block) = spent.and_then(|b| b.into_iter().max()) {
            if block < balance.block_count {
                return Ok((block, balance));
            }
        }
        if balance.block_count >= receipt.tombstone_block {
            return Err(WalletError::Client {
                source: ClientError::Expired {
                    tombstone_block: receipt.tombstone_block,
                    block_count: balance.block_count,
                },
                at: None,
            });
        }
        if started.elapsed() >= config.confirm_timeout {
            return Err(WalletError::Client {
                source: ClientError::Timeout {
                    what: "the swap to land and show up in fog view",
                    seconds: config.confirm_timeout.as_secs(),
                },
                at: None,
            });
        }
        tokio::time::sleep(config.poll_interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_files_round_trip_and_refuse_damage() {
        let body = b"an SCI's protobuf bytes".to_vec();
        let file = encode_offer_file(&body);
        assert_eq!(&file[..8], MAGIC);
        assert_eq!(decode_offer_file(&file).unwrap(), &body[..]);
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            assert!(
                decode_offer_file(&bad).is_err(),
                "a flip at {i} was accepted"
            );
        }
        for n in 0..file.len() {
            assert!(decode_offer_file(&file[..n]).is_err(), "truncated to {n}");
        }
        let mut longer = file.clone();
        longer.push(0);
        assert!(decode_offer_file(&longer).is_err());
        let e = decode_offer_file(b"{\"not\": \"an offer\"}").unwrap_err();
        assert!(e.contains("not an offer file"), "{e}");
    }
}
