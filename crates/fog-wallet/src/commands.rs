//! The commands: each reads its inputs, does its work and prints its result.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::{self, BufRead, IsTerminal, Read, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use fog_account::{b58_decode_public_address, b58_encode_public_address, AccountKey};
use fog_client::{
    history::{EntryKind, Sender},
    Balance, SyncProgress, TransportStats,
};
use fog_transaction::{Amount, TokenId};
use fog_wallet::{
    amount::{format_amount, parse_amount},
    network::{read_attestation_key, read_attestation_policy},
    saved_tx::{read_saved_tx, write_saved_tx},
    spki::read_spki_file,
    wallet::{check_contact_name, check_fog_url, refuse_existing, wallet_path},
    FogSettings, NetworkOverrides, Session, WalletError, WalletFile,
};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::{
    AddressArgs, BalanceArgs, Cli, Command, ContactCommand, FogArgs, HistoryArgs, KeysArgs,
    KeysCommand, NetworkArgs, SendArgs, SubmitArgs,
};

/// The longest line read from standard input; a 24-word phrase is under 220 bytes.
const MAX_PHRASE_LINE: u64 = 4096;

/// Runs the parsed command line.
pub(crate) fn run(cli: Cli) -> Result<(), WalletError> {
    let path = wallet_path(cli.wallet);
    match cli.command {
        Command::Keys(KeysCommand::New(args)) => keys_new(&path, &args),
        Command::Keys(KeysCommand::FromMnemonic(args)) => keys_from_mnemonic(&path, &args),
        Command::Address(args) => address(&path, args),
        Command::Balance(args) => balance(&path, &args),
        Command::History(args) => history(&path, &args),
        Command::Send(args) => send(&path, &args),
        Command::Submit(args) => submit(&path, &args),
        Command::Contact(command) => contact(&path, command),
        Command::Offer(args) => crate::swap::offer(&path, &args),
        Command::CheckOffer(args) => crate::swap::check(&path, &args),
        Command::Fill(args) => crate::swap::fill(&path, &args),
    }
}

fn keys_new(path: &Path, args: &KeysArgs) -> Result<(), WalletError> {
    refuse_existing(path, args.force)?;
    let fog = fog_from_keys_args(&args.fog)?;
    let network = network_from_keys_args(path, &args.network)?;

    let mut wallet = WalletFile::generate(args.account_index, fog)?;
    wallet.network = network;
    let account = wallet.account_key().map_err(WalletError::Mnemonic)?;
    wallet.save(path, args.force)?;

    let address = default_address(account, wallet.fog.as_ref());
    let words = wallet.mnemonic.split(' ').count();
    print_out(format_args!(
        "Wallet written to {path} (account index {index}).\n\
         \n\
         Write down this {words}-word recovery phrase now and keep it offline. It is shown only\n\
         this once. Anyone who has it can spend this account's funds; without it, a lost or\n\
         damaged wallet file cannot be restored.\n\
         \n\
         \x20   {phrase}\n\
         \n\
         Default address (subaddress 0):\n\
         {address}\n",
        path = path.display(),
        index = wallet.account_index,
        phrase = wallet.mnemonic.as_str(),
    ))
}

fn keys_from_mnemonic(path: &Path, args: &KeysArgs) -> Result<(), WalletError> {
    refuse_existing(path, args.force)?;
    let fog = fog_from_keys_args(&args.fog)?;
    let network = network_from_keys_args(path, &args.network)?;
    let phrase = read_phrase()?;
    let account =
        AccountKey::from_mnemonic(&phrase, args.account_index).map_err(WalletError::Mnemonic)?;

    let mut wallet = WalletFile::new(phrase, args.account_index, fog);
    wallet.network = network;
    wallet.save(path, args.force)?;

    let address = default_address(account, wallet.fog.as_ref());
    print_out(format_args!(
        "Wallet written to {path} (account index {index}).\n\
         Default address (subaddress 0):\n\
         {address}\n",
        path = path.display(),
        index = wallet.account_index,
    ))
}

fn address(path: &Path, args: AddressArgs) -> Result<(), WalletError> {
    let wallet = WalletFile::load(path)?;
    let fog = if args.no_fog {
        None
    } else {
        match fog_from_args(&args.fog)? {
            Some(fog) => Some(fog),
            None => match (wallet.fog.clone(), args.fog.fog_report_id) {
                (fog, None) => fog,
                (Some(fog), Some(id)) => Some(FogSettings {
                    report_id: id,
                    ..fog
                }),
                (None, Some(_)) => {
                    return Err(WalletError::Usage(
                        "--fog-report-id needs --fog-report-url and --fog-authority-spki: the \
                         wallet has no fog settings"
                            .into(),
                    ))
                }
            },
        }
    };
    let account = with_fog(
        wallet.account_key().map_err(WalletError::Mnemonic)?,
        fog.as_ref(),
    );
    let text = b58_encode_public_address(&account.subaddress(args.subaddress));
    print_out(format_args!("{text}\n"))
}

/// The fog settings given on the command line, if any: URL and key file together, or neither.
fn fog_from_args(args: &FogArgs) -> Result<Option<FogSettings>, WalletError> {
    match (&args.fog_report_url, &args.fog_authority_spki) {
        (Some(url), Some(spki)) => {
            check_fog_url(url).map_err(|e| WalletError::Usage(format!("--fog-report-url: {e}")))?;
            Ok(Some(FogSettings {
                report_url: url.clone(),
                report_id: args.fog_report_id.clone().unwrap_or_default(),
                authority_spki: read_spki_file(spki)?,
            }))
        }
        (Some(_), None) => Err(WalletError::Usage(
            "--fog-report-url needs --fog-authority-spki FILE (the fog operator's public key)"
                .into(),
        )),
        (None, Some(_)) => Err(WalletError::Usage(
            "--fog-authority-spki needs --fog-report-url URL".into(),
        )),
        (None, None) => Ok(None),
    }
}

/// As [`fog_from_args`], but a lone `--fog-report-id` is an error (there is nothing stored to
/// apply it to).
fn fog_from_keys_args(args: &FogArgs) -> Result<Option<FogSettings>, WalletError> {
    let fog = fog_from_args(args)?;
    if fog.is_none() && args.fog_report_id.is_some() {
        return Err(WalletError::Usage(
            "--fog-report-id needs --fog-report-url and --fog-authority-spki".into(),
        ));
    }
    Ok(fog)
}

fn with_fog(account: AccountKey, fog: Option<&FogSettings>) -> AccountKey {
    match fog {
        Some(f) => account.with_fog(&f.report_url, &f.report_id, &f.authority_spki),
        None => account,
    }
}

fn default_address(account: AccountKey, fog: Option<&FogSettings>) -> String {
    b58_encode_public_address(&with_fog(account, fog).default_subaddress())
}

/// Reads the phrase from one line of standard input and normalizes it: words separated by
/// single spaces, ASCII lower case. Never echoes it anywhere.
fn read_phrase() -> Result<Zeroizing<String>, WalletError> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        eprintln!("Enter the BIP39 recovery phrase on one line, then press Enter:");
    }
    let mut line = Zeroizing::new(String::with_capacity(MAX_PHRASE_LINE as usize + 1));
    stdin
        .lock()
        .take(MAX_PHRASE_LINE)
        .read_line(&mut line)
        .map_err(|source| WalletError::Read {
            path: PathBuf::from("standard input"),
            source,
        })?;
    let mut phrase = Zeroizing::new(String::with_capacity(line.len()));
    for word in line.split_whitespace() {
        if !phrase.is_empty() {
            phrase.push(' ');
        }
        phrase.extend(word.chars().map(|c| c.to_ascii_lowercase()));
    }
    if phrase.is_empty() {
        return Err(WalletError::NoMnemonicInput);
    }
    Ok(phrase)
}

/// Writes `args` to standard output and flushes it.
pub(crate) fn print_out(args: std::fmt::Arguments<'_>) -> Result<(), WalletError> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(|source| WalletError::Write {
            path: PathBuf::from("standard output"),
            source,
        })
}

/// The network flags as overrides (the attestation key or policy file, if named, is read and
/// checked now).
pub(crate) fn overrides(args: &NetworkArgs) -> Result<NetworkOverrides, WalletError> {
    Ok(NetworkOverrides {
        node_url: args.node_url.clone(),
        view_url: args.view_url.clone(),
        ledger_url: args.ledger_url.clone(),
        attestation_key: args
            .attestation_key
            .as_deref()
            .map(read_attestation_key)
            .transpose()?,
        attestation_policy: args
            .attestation_policy
            .as_deref()
            .map(read_attestation_policy)
            .transpose()?,
    })
}

/// Network flags given to `keys`: the three URLs and an attestation key or policy, or none.
fn network_from_keys_args(
    path: &Path,
    args: &NetworkArgs,
) -> Result<Option<fog_wallet::NetworkSettings>, WalletError> {
    let o = overrides(args)?;
    if o.is_empty() {
        return Ok(None);
    }
    o.apply(None, path).map(Some)
}

/// The runtime the commands' network calls run on (one thread).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, WalletError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| WalletError::Runtime(e.to_string()))
}

/// Progress of a balance check on standard error: one line rewritten in place on a terminal,
/// a line a second otherwise, and a summary at the end.
struct Progress {
    enabled: bool,
    terminal: bool,
    started: Instant,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        let terminal = io::stderr().is_terminal();
        let started = Instant::now();
        Self {
            enabled: !quiet,
            terminal,
            started,
            // Off a terminal, the first line comes after a second: a quick check prints only
            // its summary.
            last: (!terminal).then_some(started),
            drawn: false,
        }
    }

    fn line(p: &SyncProgress) -> String {
        // Records skipped are named only when there are any: a sender who named this
        // wallet in someone else's TxOut, or a faulty service.
        let skipped = match p.records_rejected {
            0 => String::new(),
            n => format!(" ({n} skipped: not this wallet's)"),
        };
        format!(
            "view at block count {}, {} view request(s), {} record(s) found{skipped}, {} \
             block(s) scanned, {} key image(s) checked",
            p.view_block_count,
            p.view_requests,
            p.records_found,
            p.blocks_scanned,
            p.key_images_checked
        )
    }

    fn update(&mut self, p: &SyncProgress) {
        if !self.enabled {
            return;
        }
        let every = if self.terminal {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        if self.last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        if self.terminal {
            eprint!("\r\x1b[2Ksyncing: {}", Self::line(p));
            self.drawn = true;
        } else {
            eprintln!("syncing: {}", Self::line(p));
        }
    }

    fn finish(&mut self, balance: &Balance, stats: TransportStats) {
        if !self.enabled {
            return;
        }
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
        eprintln!(
            "synced to block count {} in {:.2} s ({} round trips, {} bytes sent, {} received)",
            balance.block_count,
            self.started.elapsed().as_secs_f64(),
            stats.round_trips,
            stats.bytes_sent,
            stats.bytes_received
        );
    }

    fn note(&self, text: &str) {
        if self.enabled {
            eprintln!("{text}");
        }
    }
}

/// The `--json` form of a balance: amounts in smallest units; token 0 is always present.
#[derive(Serialize)]
struct BalanceJson {
    block_count: u64,
    balances: BTreeMap<String, u128>,
}

fn balance_json(b: &Balance) -> String {
    let mut balances: BTreeMap<String, u128> = b
        .balances
        .iter()
        .map(|(t, v)| (t.to_string(), *v))
        .collect();
    balances.entry("0".into()).or_insert(0);
    let json = BalanceJson {
        block_count: b.block_count,
        balances,
    };
    serde_json::to_string(&json).expect("a map of strings to numbers serializes")
}

fn balance_lines(b: &Balance) -> String {
    let mut out = format!(
        "Balance at block count {} (exact for blocks 0 to {}):\n",
        b.block_count,
        b.block_count.saturating_sub(1)
    );
    push_token_lines(&mut out, b);
    out
}

/// Appends a line for each token with a balance, and for MOB always (`  0 MOB` when there
/// is nothing else).
pub(crate) fn push_token_lines(out: &mut String, b: &Balance) {
    let mut any = false;
    for (token, value) in &b.balances {
        if *value > 0 || *token == 0 {
            let _ = writeln!(out, "  {}", format_amount(*value, *token));
            any = true;
        }
    }
    if !any {
        out.push_str("  0 MOB\n");
    }
}

fn balance(path: &Path, args: &BalanceArgs) -> Result<(), WalletError> {
    let overrides = overrides(&args.network)?;
    let mut session = Session::open(path, &overrides, args.rescan)?;
    let mut progress = Progress::new(args.quiet);
    let b = runtime()?.block_on(session.balance(|p| progress.update(p)))?;
    progress.finish(&b, session.stats());
    for note in session.attestation_notes() {
        eprintln!("note: {note}");
    }
    let pending = session.client().pending_sends().len();
    if args.json {
        return print_out(format_args!("{}\n", balance_json(&b)));
    }
    let mut text = balance_lines(&b);
    if pending > 0 {
        let _ = writeln!(
            text,
            "  ({pending} payment(s) sent and not yet seen in a block: their inputs are reserved)"
        );
    }
    print_out(format_args!("{text}"))
}

#[derive(Serialize)]
struct HistoryJson {
    block_count: u64,
    entries: Vec<EntryJson>,
}

#[derive(Serialize)]
struct EntryJson {
    block_index: u64,
    global_index: u64,
    kind: &'static str,
    token_id: u64,
    amount: u64,
    change: bool,
    /// A contact's name when the sender memo verified against it.
    sender: Option<String>,
    /// The short address hash an unverified sender memo claims, hex.
    claimed_sender: Option<String>,
    /// On change: what the destination memo says about the payment that made it.
    destination: Option<DestinationJson>,
}

/// A destination memo in history's JSON (amounts in the entry's token, smallest units).
#[derive(Serialize)]
struct DestinationJson {
    /// The value sent plus the fee.
    total_outlay: u64,
    fee: u64,
    num_recipients: u8,
    /// The recipient's short address hash, hex (all zero for several recipients).
    recipient_hash: String,
    /// The contact with that hash, if any.
    recipient: Option<String>,
}

fn history(path: &Path, args: &HistoryArgs) -> Result<(), WalletError> {
    let overrides = overrides(&args.network)?;
    let mut session = Session::open(path, &overrides, false)?;
    if !args.offline {
        let mut progress = Progress::new(args.quiet);
        let b = runtime()?.block_on(session.balance(|p| progress.update(p)))?;
        progress.finish(&b, session.stats());
    }
    let block_count = session.last_balance().map_or(0, |b| b.block_count);
    let entries = session.history();
    let mut json = HistoryJson {
        block_count,
        entries: Vec::with_capacity(entries.len()),
    };
    for e in &entries {
        let (kind, change, sender, claimed) = match &e.kind {
            EntryKind::Received { sender, change } => {
                let (name, claimed) = match sender {
                    Sender::Authenticated(i) => (session.contact_name(*i).map(str::to_owned), None),
                    Sender::Claimed(hash) => (None, Some(hex::encode(hash.0))),
                    _ => (None, None),
                };
                ("received", *change, name, claimed)
            }
            _ => ("spent", false, None, None),
        };
        json.entries.push(EntryJson {
            block_index: e.block_index,
            global_index: e.global_index,
            kind,
            token_id: e.amount.token_id.0,
            amount: e.amount.value,
            change,
            sender,
            claimed_sender: claimed,
            destination: e.destination.map(|d| DestinationJson {
                total_outlay: d.total_outlay,
                fee: d.fee,
                num_recipients: d.num_recipients,
                recipient_hash: hex::encode(d.recipient.0),
                recipient: session.contact_with_hash(&d.recipient).map(str::to_owned),
            }),
        });
    }
    if args.json {
        let text = serde_json::to_string(&json).expect("history serializes");
        return print_out(format_args!("{text}\n"));
    }
    let mut text = format!("History up to block count {block_count}:\n");
    if json.entries.is_empty() {
        text.push_str("  nothing yet\n");
    }
    for e in &json.entries {
        let amount = format_amount(u128::from(e.amount), e.token_id);
        let who = match (&e.sender, &e.claimed_sender, e.change) {
            (_, _, true) => "  change".to_string(),
            (Some(name), _, _) => format!("  from {name} (authenticated)"),
            (None, Some(hash), _) => {
                format!("  from unverified sender {hash} (not a contact)")
            }
            _ => String::new(),
        };
        let sent = e.destination.as_ref().map_or_else(String::new, |d| {
            let to = match &d.recipient {
                Some(name) => format!("{name} ({})", d.recipient_hash),
                None => d.recipient_hash.clone(),
            };
            format!(
                "; sent {} in all (fee {}) to {} recipient(s): {to}",
                format_amount(u128::from(d.total_outlay), e.token_id),
                format_amount(u128::from(d.fee), e.token_id),
                d.num_recipients,
            )
        });
        let _ = writeln!(
            text,
            "  block {:>6}  {:<8}  {amount}{who}{sent}",
            e.block_index, e.kind
        );
    }
    print_out(format_args!("{text}"))
}

fn send(path: &Path, args: &SendArgs) -> Result<(), WalletError> {
    let overrides = overrides(&args.network)?;
    let amount = parse_amount(&args.amount, args.token)
        .map_err(|e| WalletError::Usage(format!("--amount: {e}")))?;
    let given_fee = args
        .fee
        .as_ref()
        .map(|f| {
            parse_amount(f, args.token)
                .map(|v| Amount::new(v, TokenId(args.token)))
                .map_err(|e| WalletError::Usage(format!("--fee: {e}")))
        })
        .transpose()?;
    let mut session = Session::open(path, &overrides, false)?;
    let to = session.recipient(&args.to)?;
    let amount = Amount::new(amount, TokenId(args.token));
    let progress = Progress::new(args.quiet);
    let runtime = runtime()?;
    if let Some(file) = &args.save_tx {
        // Refuse an existing file before doing any work.
        if std::fs::symlink_metadata(file).is_ok() {
            return Err(WalletError::FileExists(file.clone()));
        }
    }
    // Without --fee, the node's minimum fee for the token (paid in the token sent).
    let fee = match given_fee {
        Some(fee) => fee,
        None => runtime.block_on(session.minimum_fee(amount.token_id))?,
    };
    let fee_shown = u128::from(fee.value);
    let fee = Some(fee);
    if let Some(file) = &args.save_tx {
        progress.note(
            "checking the balance, fetching the recipient's fog report, building the payment...",
        );
        let payment = runtime.block_on(session.build(&to, amount, fee))?;
        write_saved_tx(file, &payment)?;
        return print_out(format_args!(
            "Signed {} to {} (fee {}), transaction {}, valid until block {}.\n\
             Saved to {} and NOT submitted: `fog-wallet submit {}` submits it.\n",
            format_amount(u128::from(amount.value), args.token),
            args.to,
            format_amount(fee_shown, args.token),
            hex::encode(payment.tx_hash()),
            payment.tombstone_block.saturating_sub(1),
            file.display(),
            file.display(),
        ));
    }
    progress
        .note("checking the balance, fetching the recipient's fog report, building the payment...");
    let receipt = runtime.block_on(session.submit(&to, amount, fee))?;
    let text = format!(
        "Sent {} to {} (fee {}), transaction {}\n",
        format_amount(u128::from(amount.value), args.token),
        args.to,
        format_amount(fee_shown, args.token),
        hex::encode(receipt.tx_hash),
    );
    finish_send(
        &mut session,
        &runtime,
        receipt,
        text,
        args.no_wait,
        &progress,
    )
}

/// Prints what was sent, then (unless `no_wait`) waits for it to land and prints the balance.
fn finish_send(
    session: &mut Session,
    runtime: &tokio::runtime::Runtime,
    mut receipt: fog_client::SendReceipt,
    mut text: String,
    no_wait: bool,
    progress: &Progress,
) -> Result<(), WalletError> {
    if no_wait {
        text.push_str("Not waiting for it to land; `fog-wallet balance` shows it once it has.\n");
        return print_out(format_args!("{text}"));
    }
    print_out(format_args!("{text}"))?;
    progress.note("waiting for it to land and for the change to show up in fog view...");
    let b = runtime.block_on(session.wait(&mut receipt))?;
    let landed = receipt
        .block_index
        .map_or_else(|| "a block".into(), |i| format!("block {i}"));
    print_out(format_args!("Landed in {landed}. {}", balance_lines(&b)))
}

fn submit(path: &Path, args: &SubmitArgs) -> Result<(), WalletError> {
    let overrides = overrides(&args.network)?;
    // The file is read and checked before the wallet is opened or anything is sent.
    let payment = read_saved_tx(&args.file)?;
    let mut session = Session::open(path, &overrides, false)?;
    let to = session
        .contact_with_address(&payment.recipient)
        .map_or_else(
            || b58_encode_public_address(&payment.recipient),
            str::to_owned,
        );
    let progress = Progress::new(args.quiet);
    let runtime = runtime()?;
    progress.note("submitting the saved transaction...");
    let receipt = runtime
        .block_on(session.submit_signed(&payment))
        .map_err(|e| match e {
            WalletError::Client {
                source: fog_client::ClientError::SavedTx(reason),
                ..
            } => WalletError::SavedTx {
                path: args.file.clone(),
                reason,
            },
            e => e,
        })?;
    let token = payment.amount.token_id.0;
    let text = format!(
        "Sent {} to {to} (fee {}), transaction {}\n",
        format_amount(u128::from(payment.amount.value), token),
        format_amount(u128::from(payment.fee.value), token),
        hex::encode(receipt.tx_hash),
    );
    finish_send(
        &mut session,
        &runtime,
        receipt,
        text,
        args.no_wait,
        &progress,
    )
}

fn contact(path: &Path, command: ContactCommand) -> Result<(), WalletError> {
    let mut wallet = WalletFile::load(path)?;
    match command {
        ContactCommand::Add { name, address } => {
            check_contact_name(&name)
                .map_err(|e| WalletError::Usage(format!("contact name {name:?}: {e}")))?;
            let address = address.trim();
            b58_decode_public_address(address).map_err(|e| {
                WalletError::Usage(format!("{address:?} is not a b58 public address: {e}"))
            })?;
            if wallet.contacts.contains_key(&name) {
                return Err(WalletError::Usage(format!(
                    "{name:?} is already a contact: `fog-wallet contact remove {name}` first"
                )));
            }
            wallet.contacts.insert(name, address.to_owned());
            wallet.save(path, true)
        }
        ContactCommand::Remove { name } => {
            if wallet.contacts.remove(&name).is_none() {
                return Err(WalletError::Usage(format!("{name:?} is not a contact")));
            }
            wallet.save(path, true)
        }
        ContactCommand::List => {
            let mut text = String::new();
            for (name, address) in &wallet.contacts {
                let _ = writeln!(text, "{name} {address}");
            }
            print_out(format_args!("{text}"))
        }
    }
}
