//! The `fog-wallet` command line (see the library's README for every command).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod commands;
mod swap;

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use fog_account::{CHANGE_SUBADDRESS_INDEX, GIFT_CODE_SUBADDRESS_INDEX, INVALID_SUBADDRESS_INDEX};

/// The Fog wallet: keys, addresses, balance, history and send.
#[derive(Debug, Parser)]
#[command(name = "fog-wallet", version, max_term_width = 100)]
struct Cli {
    /// The wallet file [default: $FOG_WALLET, else ./fog-wallet.json].
    #[arg(long, global = true, value_name = "FILE")]
    wallet: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or restore the wallet's keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print a b58 public address of the wallet.
    Address(AddressArgs),
    /// Check the balance with the fog services (exact for the block count it names).
    Balance(BalanceArgs),
    /// Received and spent TxOuts, with blocks, amounts and authenticated senders.
    History(HistoryArgs),
    /// Pay an address or a contact, and wait until the payment has landed (or, with
    /// --save-tx, only build and sign it).
    Send(SendArgs),
    /// Submit a transaction saved by `send --save-tx`, and wait until it has landed.
    Submit(SubmitArgs),
    /// Names for addresses: `send --to NAME`, and history names authenticated senders.
    #[command(subcommand)]
    Contact(ContactCommand),
    /// Offer a swap: sign one TxOut of --give-token over rules that require --want of
    /// --want-token, and write the offer to --out (see `check-offer`, `fill`).
    Offer(swap::OfferArgs),
    /// Check an offer file: its signature and rules, what it gives and wants, its expiry.
    CheckOffer(swap::CheckOfferArgs),
    /// Fill an offer (all of it, or --take part of a partial one), paying the fee in MOB,
    /// and wait until the swap has landed.
    Fill(swap::FillArgs),
}

#[derive(Debug, Subcommand)]
enum ContactCommand {
    /// Add a contact: a name and a b58 address.
    Add {
        /// 1 to 32 ASCII letters, digits, '-', '_' or '.', not starting with a digit.
        name: String,
        /// The contact's b58 public address.
        address: String,
    },
    /// Remove a contact.
    Remove {
        /// The contact's name.
        name: String,
    },
    /// List the contacts: one `NAME ADDRESS` line each.
    List,
}

/// Where the services are. Given flags replace the stored ones and are kept in the wallet.
#[derive(Debug, Args)]
struct NetworkArgs {
    /// The ledger node, `http://host:port`.
    #[arg(long, value_name = "URL")]
    node_url: Option<String>,
    /// The fog view service, `http://host:port`.
    #[arg(long, value_name = "URL")]
    view_url: Option<String>,
    /// The fog ledger service, `http://host:port`.
    #[arg(long, value_name = "URL")]
    ledger_url: Option<String>,
    /// The services' simulated attestation key: 64 hex digits, or a file holding them
    /// (`sim-quoting.pub` in their state directory). Trusts each service's simulated identity
    /// under that key; replaces a stored attestation policy.
    #[arg(long, value_name = "HEX|FILE", conflicts_with = "attestation_policy")]
    attestation_key: Option<String>,
    /// The attestation policy: a TOML file naming, for each service (view, ledger, ingest),
    /// the accepted platforms and measurements and the roots that vouch for them
    /// (`attestation-policy.toml` in a local network's state directory). Its text is kept in
    /// the wallet; it replaces a stored attestation key.
    #[arg(long, value_name = "FILE")]
    attestation_policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BalanceArgs {
    /// Print `{"block_count": N, "balances": {"<token id>": amount}}` (smallest units).
    #[arg(long)]
    json: bool,
    /// Forget the stored client state and find everything again.
    #[arg(long)]
    rescan: bool,
    /// No progress on standard error.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    network: NetworkArgs,
}

#[derive(Debug, Args)]
struct HistoryArgs {
    /// Print JSON: `{"block_count": N, "entries": [...]}` (smallest units).
    #[arg(long)]
    json: bool,
    /// Do not check the balance first: show what the wallet file knows.
    #[arg(long)]
    offline: bool,
    /// No progress on standard error.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    network: NetworkArgs,
}

#[derive(Debug, Args)]
struct SendArgs {
    /// The recipient: a contact's name or a b58 address.
    #[arg(long, value_name = "ADDRESS|CONTACT")]
    to: String,
    /// The amount: MOB for token 0 (`2.5`, `2.5MOB`, `400000000pMOB`), else whole units.
    #[arg(long, value_name = "X")]
    amount: String,
    /// The token id.
    #[arg(long, value_name = "T", default_value_t = 0)]
    token: u64,
    /// The fee, in the same units as the amount and paid in the token sent [default: the
    /// ledger node's minimum fee for the token, from GetLedgerInfo; 0.0004 MOB for MOB from a
    /// node that publishes none].
    #[arg(long, value_name = "X")]
    fee: Option<String>,
    /// Return once the node accepted the transaction, without waiting for it to land.
    #[arg(long)]
    no_wait: bool,
    /// Build and sign the transaction and write it to FILE (a new file) without submitting
    /// it; `fog-wallet submit FILE` submits it. Reserves nothing.
    #[arg(long, value_name = "FILE", conflicts_with = "no_wait")]
    save_tx: Option<PathBuf>,
    /// No progress on standard error.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    network: NetworkArgs,
}

#[derive(Debug, Args)]
struct SubmitArgs {
    /// The file written by `send --save-tx`.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Return once the node accepted the transaction, without waiting for it to land.
    #[arg(long)]
    no_wait: bool,
    /// No progress on standard error.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    network: NetworkArgs,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a new 24-word mnemonic, write the wallet file and print the phrase once.
    New(KeysArgs),
    /// Restore a wallet from a BIP39 mnemonic read from standard input (one line).
    FromMnemonic(KeysArgs),
}

#[derive(Debug, Args)]
struct KeysArgs {
    /// The SLIP-10 account index (m/44'/866'/N'), below 2^31.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = parse_account_index)]
    account_index: u32,
    /// Replace an existing wallet file.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    fog: FogArgs,
    #[command(flatten)]
    network: NetworkArgs,
}

#[derive(Debug, Args)]
struct AddressArgs {
    /// The subaddress: a number, or `default` (0), `change` or `gift-code`.
    #[arg(long, value_name = "N", default_value = "0", value_parser = parse_subaddress)]
    subaddress: u64,
    /// Print the address without fog even if the wallet has fog settings.
    #[arg(long, conflicts_with_all = ["fog_report_url", "fog_authority_spki", "fog_report_id"])]
    no_fog: bool,
    #[command(flatten)]
    fog: FogArgs,
}

/// Fog settings for addresses. `--fog-report-url` and `--fog-authority-spki` go together.
#[derive(Debug, Args)]
struct FogArgs {
    /// The fog report server, `fog://host[:port]`.
    #[arg(long, value_name = "URL")]
    fog_report_url: Option<String>,
    /// The fog operator's authority key: a SubjectPublicKeyInfo file, DER or PEM.
    #[arg(long, value_name = "FILE")]
    fog_authority_spki: Option<PathBuf>,
    /// The fog report id [default: empty].
    #[arg(long, value_name = "ID")]
    fog_report_id: Option<String>,
}

fn parse_account_index(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n < 1 << 31 => Ok(n),
        _ => Err("expected a whole number below 2147483648".into()),
    }
}

fn parse_subaddress(s: &str) -> Result<u64, String> {
    match s {
        "default" => Ok(0),
        "change" => Ok(CHANGE_SUBADDRESS_INDEX),
        "gift-code" => Ok(GIFT_CODE_SUBADDRESS_INDEX),
        _ => match s.parse::<u64>() {
            Ok(n) if n != INVALID_SUBADDRESS_INDEX => Ok(n),
            Ok(_) => Err("this index is reserved as invalid".into()),
            Err(_) => Err("expected a number, `default`, `change` or `gift-code`".into()),
        },
    }
}

/// One line from a clap error: its message lines joined, without usage or hints.
fn one_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let mut parts = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line.strip_prefix("error:").unwrap_or(line).trim());
        }
    }
    format!("{} (see --help)", parts.join(" "))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    // Help and version are not errors; `fog-wallet` alone shows help, exit 2.
                    let _ = e.print();
                    ExitCode::from(e.exit_code().clamp(0, 255) as u8)
                }
                _ => {
                    eprintln!("error: {}", one_line(&e));
                    ExitCode::from(2)
                }
            };
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code().clamp(1, 255) as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn subaddress_words() {
        assert_eq!(parse_subaddress("0").unwrap(), 0);
        assert_eq!(parse_subaddress("default").unwrap(), 0);
        assert_eq!(parse_subaddress("17").unwrap(), 17);
        assert_eq!(parse_subaddress("change").unwrap(), u64::MAX - 1);
        assert_eq!(parse_subaddress("gift-code").unwrap(), u64::MAX - 2);
        assert!(parse_subaddress(&u64::MAX.to_string()).is_err());
        assert!(parse_subaddress("gift").is_err());
        assert!(parse_subaddress("-1").is_err());
    }

    #[test]
    fn account_index_range() {
        assert_eq!(parse_account_index("0").unwrap(), 0);
        assert_eq!(parse_account_index("2147483647").unwrap(), (1 << 31) - 1);
        assert!(parse_account_index("2147483648").is_err());
        assert!(parse_account_index("x").is_err());
    }

    #[test]
    fn clap_errors_become_one_line() {
        let e = Cli::try_parse_from(["fog-wallet", "address", "--bogus"]).unwrap_err();
        let line = one_line(&e);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("--bogus"), "{line}");
    }
}
