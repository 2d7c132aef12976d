//! `fogd authority new`: the fog operator's certificate chain and keys.

use std::path::PathBuf;

use clap::Args;

use crate::{failed, input, CliError};

/// Arguments of `fogd authority new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Directory to write the chain and keys into (created; existing files are never
    /// overwritten).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Common name of the certificates.
    #[arg(long, default_value = "Fog authority")]
    name: String,
    /// Validity of the certificates, in days.
    #[arg(long, default_value_t = 365)]
    days: u64,
}

/// Creates root → intermediate → leaf (Ed25519) and prints the root's SubjectPublicKeyInfo,
/// which fog addresses sign.
pub fn new(args: NewArgs) -> Result<(), CliError> {
    if args.days == 0 || args.days > 36_500 {
        return Err(input("--days must be between 1 and 36500"));
    }
    if args.name.trim().is_empty() || args.name.len() > 64 {
        return Err(input("--name must be 1 to 64 characters"));
    }
    let files = fog_report_server::authority::new_authority(&args.out, &args.name, args.days)
        .map_err(|e| {
            failed(format!(
                "cannot create the authority in {}: {e}",
                args.out.display()
            ))
        })?;
    println!("{}", hex::encode(&files.root_spki_der));
    eprintln!(
        "wrote the chain to {} and the leaf key to {}; the line above is the root \
         SubjectPublicKeyInfo (hex) that fog addresses sign (`fog-wallet address \
         --fog-authority-spki`). Move root.key and intermediate.key offline.",
        files.chain_pem.display(),
        files.leaf_key.display()
    );
    Ok(())
}
