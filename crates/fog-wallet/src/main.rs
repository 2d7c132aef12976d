#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod commands;
mod error;
mod spki;
mod wallet;

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use fog_account::{CHANGE_SUBADDRESS_INDEX, GIFT_CODE_SUBADDRESS_INDEX, INVALID_SUBADDRESS_INDEX};

pub use error::WalletError;

/// The Fog wallet: keys and addresses (balance, history and send come later).
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
