//! Authority tooling: creates the operator's fog authority (root → intermediate → leaf,
//! Ed25519) as files, for `fogd authority new`.
//!
//! Files written to the output directory (which must not already contain them):
//! - `root.pem`, `intermediate.pem`, `leaf.pem`: the certificates;
//! - `chain.pem`: the three certificates, root first (what the report server serves);
//! - `leaf.key`: the leaf's PKCS#8 PEM private key, mode 0600 (the report server's key);
//! - `root.key`, `intermediate.key`: PKCS#8 PEM, mode 0600. Move them offline: they are only
//!   needed to issue a new intermediate or leaf;
//! - `root.spki.hex`: the root's SubjectPublicKeyInfo DER in hex, the value that goes into
//!   account keys (`fog_authority_spki`) so that addresses carry a signature over it.

use crate::Error;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use fog_attest::chain::GeneratedAuthority;
use fog_attest::UnixSeconds;
use std::io::Write;
use std::path::{Path, PathBuf};
use x509_cert::der::pem::LineEnding;
use x509_cert::der::EncodePem;

/// What [`new_authority`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityFiles {
    /// `chain.pem`.
    pub chain_pem: PathBuf,
    /// `leaf.key`.
    pub leaf_key: PathBuf,
    /// The root's SubjectPublicKeyInfo DER: what a fog address's authority signature
    /// signs (`AccountKey::with_fog(url, id, &root_spki_der)`).
    pub root_spki_der: Vec<u8>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn write_new(path: &Path, contents: &[u8], secret: bool) -> Result<(), Error> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts.open(path).map_err(io(path))?;
    f.write_all(contents).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn key_pem(key: &SigningKey) -> Result<zeroize::Zeroizing<String>, Error> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| Error::Attest(fog_attest::Error::CertificateEncoding))
}

/// Creates a new authority named `name` (a plain CN value) in `out_dir`, valid from now for
/// `validity_days`. Refuses to overwrite existing files.
pub fn new_authority(
    out_dir: &Path,
    name: &str,
    validity_days: u64,
) -> Result<AuthorityFiles, Error> {
    let now = UnixSeconds::now();
    // Backdate a little for clock skew between operator and senders.
    let not_before = UnixSeconds(now.0.saturating_sub(3600));
    let not_after = UnixSeconds(now.0.saturating_add(validity_days.saturating_mul(86400)));
    let a = GeneratedAuthority::generate(&mut rand_core::OsRng, name, not_before, not_after)?;
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let names = ["root.pem", "intermediate.pem", "leaf.pem"];
    let mut chain_pem = String::new();
    for (der, file) in a.chain.iter().zip(names) {
        let cert = <x509_cert::Certificate as x509_cert::der::Decode>::from_der(der)
            .map_err(|_| Error::ChainPem)?;
        let pem = cert.to_pem(LineEnding::LF).map_err(|_| Error::ChainPem)?;
        write_new(&out_dir.join(file), pem.as_bytes(), false)?;
        chain_pem.push_str(&pem);
    }
    let chain_path = out_dir.join("chain.pem");
    write_new(&chain_path, chain_pem.as_bytes(), false)?;
    let leaf_path = out_dir.join("leaf.key");
    write_new(&leaf_path, key_pem(&a.leaf_key)?.as_bytes(), true)?;
    write_new(
        &out_dir.join("intermediate.key"),
        key_pem(&a.intermediate_key)?.as_bytes(),
        true,
    )?;
    write_new(
        &out_dir.join("root.key"),
        key_pem(&a.root_key)?.as_bytes(),
        true,
    )?;
    let root_spki_der = a.root_spki_der()?;
    let hex: String = root_spki_der.iter().map(|b| format!("{b:02x}")).collect();
    write_new(
        &out_dir.join("root.spki.hex"),
        format!("{hex}\n").as_bytes(),
        false,
    )?;
    Ok(AuthorityFiles {
        chain_pem: chain_path,
        leaf_key: leaf_path,
        root_spki_der,
    })
}
