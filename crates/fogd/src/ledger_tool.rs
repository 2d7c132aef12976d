//! `fogd ledger-tool init` and `fogd ledger-tool add-block`.

use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args};
use fog_account::{AccountKey, PublicAddress};
use fog_api::fog_node::{
    ledger_node_client::LedgerNodeClient,
    ledger_node_test_blocks_client::LedgerNodeTestBlocksClient, BlockData, GetLedgerInfoRequest,
};
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use fog_ledger_db::{LedgerDb, LedgerError};
use fog_node::{make_tx_out, write_origin_block, ORIGIN_TXOUT_VERSION};
use fog_transaction::{
    block::{Block, BlockContents},
    membership::TxOutMembershipElement,
    Amount, KeyImage, TxOut,
};
use prost::Message;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::{
    accounts::{now_secs, parse_credit, parse_ingest_key, parse_key_image},
    failed, input, CliError, LedgerPath,
};

/// `fogd ledger-tool init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    ledger: LedgerPath,
    /// An output of the origin block: a key file (one JSON account object), the amount in the
    /// token's smallest unit, and the token id (0, MOB, by default). Repeatable.
    #[arg(long = "fund", value_name = "KEYFILE:AMOUNT[:TOKEN]", required = true)]
    fund: Vec<String>,
    /// The ingest public key (64 hex digits) that fog accounts' hints are encrypted to;
    /// without it fog accounts get fake hints.
    #[arg(long = "ingest-pubkey", value_name = "HEX")]
    ingest_pubkey: Option<String>,
}

/// `fogd ledger-tool add-block`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["ledger_db", "node"])))]
pub struct AddBlockArgs {
    /// The ledger DB file to append to (no process may hold it open).
    #[arg(long = "ledger-db", value_name = "PATH", conflicts_with = "node")]
    ledger_db: Option<PathBuf>,
    /// A ledger node started with `--allow-test-blocks` to give the block to. Repeatable:
    /// the block is built on the first node's ledger and each node gets the same block.
    #[arg(long = "node", value_name = "URL")]
    node: Vec<String>,
    /// Also write the block (a `fog_node.BlockData` protobuf) to this file, for
    /// `fogd ledger-tool append-block` to give to another ledger later.
    #[arg(long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// A new TxOut: key file, amount, token id (0 by default). Repeatable.
    #[arg(
        long = "credit",
        value_name = "KEYFILE:AMOUNT[:TOKEN]",
        required = true
    )]
    credit: Vec<String>,
    /// A key image (64 hex digits) the block spends. Repeatable. Without any, the block spends
    /// one fresh random key image (the ledger needs one in every block after the origin).
    #[arg(long = "spend", value_name = "KEY_IMAGE_HEX")]
    spend: Vec<String>,
    /// The ingest public key (64 hex digits) that fog accounts' hints are encrypted to;
    /// without it fog accounts get fake hints.
    #[arg(long = "ingest-pubkey", value_name = "HEX")]
    ingest_pubkey: Option<String>,
}

/// `fogd ledger-tool append-block`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["ledger_db", "node"])))]
pub struct AppendBlockArgs {
    /// The ledger DB file to append to (no process may hold it open).
    #[arg(long = "ledger-db", value_name = "PATH", conflicts_with = "node")]
    ledger_db: Option<PathBuf>,
    /// A ledger node started with `--allow-test-blocks` (repeatable).
    #[arg(long = "node", value_name = "URL")]
    node: Vec<String>,
    /// The block, as `fogd ledger-tool add-block --out` wrote it.
    #[arg(value_name = "FILE")]
    block: PathBuf,
}

/// One line of the JSON that `init` and `add-block` print, per credit in order.
#[derive(Debug, Serialize)]
struct Credited {
    key_image: String,
    global_index: u64,
    block_index: u64,
}

fn ledger_error(path: &Path, e: LedgerError) -> CliError {
    match e {
        LedgerError::NotFound(_) => input(format!(
            "no ledger DB at {}: create one with `fogd ledger-tool init` or `fogd generate-ledger`",
            path.display()
        )),
        LedgerError::AlreadyExists(_) => input(format!(
            "{} already exists; ledger-tool init only creates new ledgers",
            path.display()
        )),
        e if e.is_invalid_block() => input(format!("the ledger refused the block: {e}")),
        e => failed(format!("ledger DB {}: {e}", path.display())),
    }
}

fn credits(specs: &[String]) -> Result<Vec<(AccountKey, Amount)>, CliError> {
    specs.iter().map(|s| parse_credit(s)).collect()
}

/// The key image and place of each TxOut, for the account credited by it.
fn describe(
    credited: &[(AccountKey, Amount)],
    tx_outs: &[TxOut],
    sorted: &[TxOut],
    first_index: u64,
    block_index: u64,
) -> Result<Vec<Credited>, CliError> {
    credited
        .iter()
        .zip(tx_outs)
        .map(|((account, _), t)| {
            let key_image = t
                .key_image(
                    account.view_private_key(),
                    &account.subaddress_spend_private(0),
                )
                .map_err(|e| failed(format!("computing a key image: {e}")))?;
            let position = sorted
                .iter()
                .position(|s| s.public_key == t.public_key)
                .ok_or_else(|| failed("a new TxOut is missing from its block"))?;
            Ok(Credited {
                key_image: hex::encode(key_image.as_bytes()),
                global_index: first_index + position as u64,
                block_index,
            })
        })
        .collect()
}

fn print_json(credited: &[Credited]) -> Result<(), CliError> {
    let text = serde_json::to_string(credited).map_err(|e| failed(e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn ingest_key(arg: &Option<String>) -> Result<Option<RistrettoPublic>, CliError> {
    arg.as_deref().map(parse_ingest_key).transpose()
}

fn warn_fake_hints(credited: &[(AccountKey, Amount)], ingest: Option<&RistrettoPublic>) {
    if ingest.is_none() && credited.iter().any(|(a, _)| !a.fog_report_url().is_empty()) {
        eprintln!("fogd: no --ingest-pubkey: fog accounts get fake fog hints");
    }
}

/// Creates the ledger with its origin block and prints the new TxOuts' key images.
pub fn init(args: InitArgs) -> Result<(), CliError> {
    let funding = credits(&args.fund)?;
    let ingest = ingest_key(&args.ingest_pubkey)?;
    warn_fake_hints(&funding, ingest.as_ref());
    let path = &args.ledger.ledger_db;
    let ledger = LedgerDb::create(path).map_err(|e| ledger_error(path, e))?;
    let to: Vec<(PublicAddress, Amount)> = funding
        .iter()
        .map(|(a, amount)| (a.default_subaddress(), *amount))
        .collect();
    let mut rng = ChaCha20Rng::from_entropy();
    let written = write_origin_block(&ledger, &to, ingest.as_ref(), &mut rng);
    let (_, tx_outs) = match written {
        Ok(w) => w,
        Err(e) => {
            drop(ledger);
            let _ = std::fs::remove_file(path);
            return Err(match e {
                fog_node::NodeError::BadFunding(why) => input(why),
                e => failed(format!("writing the origin block: {e}")),
            });
        }
    };
    let sorted = ledger
        .get_block_contents(0)
        .map_err(|e| ledger_error(path, e))?
        .ok_or_else(|| failed("the origin block is missing after writing it"))?
        .outputs;
    print_json(&describe(&funding, &tx_outs, &sorted, 0, 0)?)
}

/// Where a new block goes on: the ledger's counts, last block and root element.
struct Tip {
    num_blocks: u64,
    num_txos: u64,
    last: Block,
    root: TxOutMembershipElement,
}

fn local_tip(path: &Path, ledger: &LedgerDb) -> Result<Tip, CliError> {
    let read = |e| ledger_error(path, e);
    let snapshot = ledger.snapshot().map_err(read)?;
    let last = snapshot.last_block().map_err(read)?.ok_or_else(|| {
        input(format!(
            "{} has no origin block: use `fogd ledger-tool init`",
            path.display()
        ))
    })?;
    Ok(Tip {
        num_blocks: snapshot.num_blocks().map_err(read)?,
        num_txos: snapshot.num_txos().map_err(read)?,
        last,
        root: snapshot.root_element().map_err(read)?,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(format!("cannot start the runtime: {e}")))
}

fn node_status(url: &str, status: &tonic::Status) -> CliError {
    use tonic::Code;
    let msg = format!("{url}: {}", status.message());
    match status.code() {
        Code::FailedPrecondition | Code::InvalidArgument => input(msg),
        _ => failed(format!("{url}: {:?}: {}", status.code(), status.message())),
    }
}

async fn node_tip(url: &str) -> Result<Tip, CliError> {
    let mut client = LedgerNodeClient::connect(url.to_string())
        .await
        .map_err(|e| failed(format!("cannot reach the node {url}: {e}")))?;
    let info = client
        .get_ledger_info(GetLedgerInfoRequest {})
        .await
        .map_err(|s| node_status(url, &s))?
        .into_inner();
    let bad = |what: &str| failed(format!("{url}: the node's ledger info has {what}"));
    let last = info
        .last_block
        .as_ref()
        .ok_or_else(|| bad("no last block"))
        .and_then(|b| Block::try_from_wire(b).map_err(|_| bad("a malformed last block")))?;
    let root = info
        .root_element
        .as_ref()
        .ok_or_else(|| bad("no root element"))
        .and_then(|r| {
            TxOutMembershipElement::try_from_wire(r).map_err(|_| bad("a malformed root element"))
        })?;
    Ok(Tip {
        num_blocks: info.block_count,
        num_txos: info.txo_count,
        last,
        root,
    })
}

/// Gives `data` to each node in turn; stops at the first that refuses (saying which took it).
async fn give_to_nodes(urls: &[String], data: &BlockData) -> Result<(), CliError> {
    for url in urls {
        let mut client = LedgerNodeTestBlocksClient::connect(url.clone())
            .await
            .map_err(|e| failed(format!("cannot reach the node {url}: {e}")))?
            .max_encoding_message_size(8 << 20);
        let answer = client
            .append_block(data.clone())
            .await
            .map_err(|s| node_status(url, &s))?
            .into_inner();
        eprintln!(
            "fogd: {url} took the block; it holds {} blocks",
            answer.block_count
        );
    }
    Ok(())
}

fn write_block(path: &Path, data: &BlockData) -> Result<(), CliError> {
    std::fs::write(path, data.encode_to_vec())
        .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))
}

/// Appends one block of new TxOuts to the credited accounts, spending the given key images
/// (or one fresh random one), and prints the new TxOuts' key images. The block goes to a
/// ledger DB or to nodes (and to a file with `--out`).
pub fn add_block(args: AddBlockArgs) -> Result<(), CliError> {
    let credited = credits(&args.credit)?;
    let ingest = ingest_key(&args.ingest_pubkey)?;
    let mut key_images: Vec<KeyImage> = args
        .spend
        .iter()
        .map(|s| parse_key_image(s))
        .collect::<Result<_, _>>()?;
    let local = match &args.ledger_db {
        Some(path) => Some((
            path,
            LedgerDb::open(path).map_err(|e| ledger_error(path, e))?,
        )),
        None => None,
    };
    let rt = if local.is_none() {
        Some(runtime()?)
    } else {
        None
    };
    let tip = match (&local, &rt) {
        (Some((path, ledger)), _) => local_tip(path, ledger)?,
        (None, Some(rt)) => rt.block_on(node_tip(&args.node[0]))?,
        (None, None) => return Err(failed("no ledger to append to")),
    };
    warn_fake_hints(&credited, ingest.as_ref());

    let mut rng = ChaCha20Rng::from_entropy();
    if key_images.is_empty() {
        // Every block after the origin must spend something: a random point, which no TxOut
        // can ever have as its key image.
        let point = RistrettoPrivate::random(&mut rng).public_key();
        key_images.push(KeyImage(point.to_bytes()));
        eprintln!("fogd: no --spend given: the block spends one fresh random key image");
    }
    key_images.sort();

    let tx_outs = credited
        .iter()
        .map(|(account, amount)| {
            make_tx_out(
                &account.default_subaddress(),
                *amount,
                ingest.as_ref(),
                &mut rng,
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| input(format!("cannot make a TxOut of that amount: {e}")))?;
    let mut sorted = tx_outs.clone();
    sorted.sort_by_key(|t| t.public_key);
    let contents = BlockContents {
        key_images,
        outputs: sorted,
    };
    let version = ORIGIN_TXOUT_VERSION.get().max(tip.last.version);
    let block = Block::new(
        version,
        tip.last.id,
        tip.num_blocks,
        tip.num_txos + contents.outputs.len() as u64,
        tip.root,
        &contents,
    );
    let timestamp = now_secs();
    let data = BlockData::encode_block(&block, &contents, timestamp);
    match (&local, &rt) {
        (Some((path, ledger)), _) => ledger
            .append_block(&block, &contents, timestamp)
            .map_err(|e| ledger_error(path, e))?,
        (None, Some(rt)) => rt.block_on(give_to_nodes(&args.node, &data))?,
        (None, None) => return Err(failed("no ledger to append to")),
    }
    if let Some(out) = &args.out {
        write_block(out, &data)?;
    }
    print_json(&describe(
        &credited,
        &tx_outs,
        &contents.outputs,
        tip.num_txos,
        tip.num_blocks,
    )?)
}

/// Appends a block saved by `add-block --out` to a ledger DB or to nodes; prints its index.
pub fn append_block(args: AppendBlockArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.block)
        .map_err(|e| input(format!("cannot read {}: {e}", args.block.display())))?;
    let data = BlockData::decode(bytes.as_slice()).map_err(|e| {
        input(format!(
            "{} is not a block written by add-block --out: {e}",
            args.block.display()
        ))
    })?;
    let (block, contents) = data.decode_block().map_err(|what| {
        input(format!(
            "{} holds a malformed block: {what}",
            args.block.display()
        ))
    })?;
    match &args.ledger_db {
        Some(path) => {
            let ledger = LedgerDb::open(path).map_err(|e| ledger_error(path, e))?;
            ledger
                .append_block(&block, &contents, data.timestamp)
                .map_err(|e| ledger_error(path, e))?;
        }
        None => runtime()?.block_on(give_to_nodes(&args.node, &data))?,
    }
    println!("{}", serde_json::json!({ "block_index": block.index }));
    Ok(())
}
