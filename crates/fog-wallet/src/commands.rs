//! The commands: each reads its inputs, does its work and prints its result.

use std::{
    fmt::Write as _,
    io::{self, BufRead, IsTerminal, Read, Write},
    path::{Path, PathBuf},
};

use fog_account::{b58_encode_public_address, AccountKey};
use rand::{rngs::OsRng, RngCore};
use zeroize::Zeroizing;

use crate::{
    spki::read_spki_file,
    wallet::{check_fog_url, refuse_existing, wallet_path, FogSettings, WalletFile},
    AddressArgs, Cli, Command, FogArgs, KeysArgs, KeysCommand, WalletError,
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
    }
}

fn keys_new(path: &Path, args: &KeysArgs) -> Result<(), WalletError> {
    refuse_existing(path, args.force)?;
    let fog = fog_from_keys_args(&args.fog)?;

    let mut entropy = Zeroizing::new([0u8; 32]);
    OsRng
        .try_fill_bytes(&mut *entropy)
        .map_err(|e| WalletError::Randomness(e.to_string()))?;
    let mnemonic =
        bip39::Mnemonic::from_entropy(&*entropy).expect("32 bytes is a valid BIP39 entropy length");
    let mut phrase = Zeroizing::new(String::with_capacity(256));
    write!(&mut *phrase, "{mnemonic}").expect("writing to a String cannot fail");
    drop(mnemonic);

    let wallet = WalletFile::new(phrase, args.account_index, fog);
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
    let phrase = read_phrase()?;
    let account =
        AccountKey::from_mnemonic(&phrase, args.account_index).map_err(WalletError::Mnemonic)?;

    let wallet = WalletFile::new(phrase, args.account_index, fog);
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

fn print_out(args: std::fmt::Arguments<'_>) -> Result<(), WalletError> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(|source| WalletError::Write {
            path: PathBuf::from("standard output"),
            source,
        })
}
