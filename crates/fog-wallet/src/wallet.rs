//! The wallet file: what it holds, where it lives, and how it is read and written.
//!
//! The file is JSON with a `version` field. Version 1 holds the BIP39 mnemonic, the account
//! index and, optionally, the fog settings that addresses carry. Later versions add client
//! state (sync position, known TxOuts) as further fields of [`WalletFile`].
//!
//! The mnemonic is stored in plain text, protected only by the file's 0600 permissions (on
//! Unix). Writes are atomic: a temporary file in the same directory is written, flushed to
//! disk and renamed over the target, so a crash leaves the old wallet or the new one, never a
//! mix.

use std::{
    fmt,
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

use fog_account::AccountKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::WalletError;

/// The version this program writes and the newest it reads.
pub const WALLET_FILE_VERSION: u32 = 1;

/// The environment variable naming the wallet file.
pub const WALLET_ENV: &str = "FOG_WALLET";

/// The wallet file when neither `--wallet` nor `$FOG_WALLET` is given.
pub const DEFAULT_WALLET_FILE: &str = "fog-wallet.json";

/// The largest wallet file we read, as a guard against reading something else by mistake.
const MAX_WALLET_FILE_LEN: u64 = 16 << 20;

/// The contents of a wallet file. Holds the mnemonic: `Debug` masks it and it is zeroized
/// on drop.
#[derive(Serialize, Deserialize)]
pub struct WalletFile {
    /// The file format version ([`WALLET_FILE_VERSION`]).
    pub version: u32,
    /// The English BIP39 phrase, words separated by single spaces.
    #[serde(with = "secret_string")]
    pub mnemonic: Zeroizing<String>,
    /// The SLIP-10 account index (`m/44'/866'/index'`).
    pub account_index: u32,
    /// The fog settings that addresses carry by default; absent for a wallet without fog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fog: Option<FogSettings>,
}

/// The fog fields of an address: where senders fetch the fog report, which report, and the
/// fog operator's authority key that the address signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FogSettings {
    /// `fog://host[:port]` (or `insecure-fog://` for local test networks).
    pub report_url: String,
    /// The report id (often empty).
    #[serde(default)]
    pub report_id: String,
    /// The authority SubjectPublicKeyInfo, DER, hex-encoded.
    #[serde(with = "hex_bytes")]
    pub authority_spki: Vec<u8>,
}

impl fmt::Debug for WalletFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletFile")
            .field("version", &self.version)
            .field("mnemonic", &"<secret>")
            .field("account_index", &self.account_index)
            .field("fog", &self.fog)
            .finish()
    }
}

impl WalletFile {
    /// A version-1 wallet.
    pub fn new(mnemonic: Zeroizing<String>, account_index: u32, fog: Option<FogSettings>) -> Self {
        Self {
            version: WALLET_FILE_VERSION,
            mnemonic,
            account_index,
            fog,
        }
    }

    /// The account keys, without fog settings.
    pub fn account_key(&self) -> Result<AccountKey, fog_account::AccountError> {
        AccountKey::from_mnemonic(&self.mnemonic, self.account_index)
    }

    /// Reads and checks the wallet at `path`: known version, valid mnemonic and fog settings.
    pub fn load(path: &Path) -> Result<Self, WalletError> {
        let read_err = |source| WalletError::Read {
            path: path.to_owned(),
            source,
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(WalletError::WalletMissing(path.to_owned()))
            }
            Err(e) => return Err(read_err(e)),
        };
        let len = file.metadata().map_err(read_err)?.len();
        if len > MAX_WALLET_FILE_LEN {
            return Err(content_err(path, "the file is too large".into()));
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(len as usize + 1));
        io::Read::read_to_end(&mut io::Read::take(file, MAX_WALLET_FILE_LEN), &mut bytes)
            .map_err(read_err)?;

        // Look at the version first, so a newer file gets a clear message rather than an
        // error about a field this version does not know.
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let version = serde_json::from_slice::<VersionOnly>(&bytes)
            .map_err(|e| syntax_err(path, &e))?
            .version;
        if version != WALLET_FILE_VERSION {
            return Err(content_err(
                path,
                format!("version {version} is not supported (this fog-wallet reads version {WALLET_FILE_VERSION})"),
            ));
        }
        let wallet: WalletFile =
            serde_json::from_slice(&bytes).map_err(|e| syntax_err(path, &e))?;
        if let Err(e) = wallet.account_key() {
            return Err(content_err(
                path,
                format!("the stored mnemonic is invalid: {e}"),
            ));
        }
        if let Some(fog) = &wallet.fog {
            check_fog_url(&fog.report_url)
                .map_err(|reason| content_err(path, format!("fog.report_url: {reason}")))?;
        }
        Ok(wallet)
    }

    /// Writes the wallet to `path` atomically with mode 0600. Unless `force`, refuses to
    /// replace an existing file.
    pub fn save(&self, path: &Path, force: bool) -> Result<(), WalletError> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(4096));
        serde_json::to_writer_pretty(&mut *bytes, self).map_err(|e| WalletError::Write {
            path: path.to_owned(),
            source: io::Error::other(e.to_string()),
        })?;
        bytes.push(b'\n');
        write_atomic(path, &bytes, force)
    }
}

/// The wallet path: `--wallet`, else `$FOG_WALLET`, else `./fog-wallet.json`.
pub fn wallet_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os(WALLET_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(|| PathBuf::from(DEFAULT_WALLET_FILE))
}

/// Fails early, before any secret is made or asked for, if `path` exists and `force` is off.
pub fn refuse_existing(path: &Path, force: bool) -> Result<(), WalletError> {
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(WalletError::WalletExists(path.to_owned()));
    }
    Ok(())
}

/// A fog report URL is `fog://host...` or `insecure-fog://host...`.
pub fn check_fog_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("fog://")
        .or_else(|| url.strip_prefix("insecure-fog://"))
        .ok_or("the fog report URL must start with fog:// or insecure-fog://")?;
    if rest.is_empty() || rest.starts_with('/') || rest.chars().any(char::is_whitespace) {
        return Err("the fog report URL has no host or contains spaces");
    }
    Ok(())
}

fn content_err(path: &Path, reason: String) -> WalletError {
    WalletError::WalletContent {
        path: path.to_owned(),
        reason,
    }
}

/// serde_json's messages can quote the offending value, which could be a secret: report
/// only the kind of error and where it is.
fn syntax_err(path: &Path, e: &serde_json::Error) -> WalletError {
    use serde_json::error::Category;
    WalletError::WalletSyntax {
        path: path.to_owned(),
        what: match e.classify() {
            Category::Io => "read error",
            Category::Syntax => "JSON syntax error",
            Category::Data => "missing or wrongly typed field",
            Category::Eof => "truncated file",
        },
        line: e.line(),
        column: e.column(),
    }
}

fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<(), WalletError> {
    let write_err = |source| WalletError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| write_err(io::Error::other("the path names no file")))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}-{nanos}", std::process::id()));
    let tmp = dir.join(tmp_name);

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(write_err)?;
    let result = (|| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        if !force && fs::symlink_metadata(path).is_ok() {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        // Best effort: the temporary file holds the secret too.
        let _ = fs::remove_file(&tmp);
        return Err(if e.kind() == io::ErrorKind::AlreadyExists {
            WalletError::WalletExists(path.to_owned())
        } else {
            write_err(e)
        });
    }
    // Make the rename itself durable. Not every platform can open a directory; the file is
    // already complete either way.
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

mod secret_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(s: &Zeroizing<String>, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Zeroizing<String>, D::Error> {
        String::deserialize(de).map(Zeroizing::new)
    }
}

mod hex_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(de)?;
        hex::decode(s).map_err(|_| D::Error::custom("authority_spki is not hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn debug_masks_the_mnemonic() {
        let w = WalletFile::new(Zeroizing::new(PHRASE.into()), 0, None);
        let shown = format!("{w:?}");
        assert!(!shown.contains("abandon"), "{shown}");
        assert!(shown.contains("<secret>"));
    }

    #[test]
    fn json_round_trip() {
        let fog = FogSettings {
            report_url: "fog://fog.example.com".into(),
            report_id: "1".into(),
            authority_spki: vec![0x30, 0x00],
        };
        let w = WalletFile::new(Zeroizing::new(PHRASE.into()), 3, Some(fog.clone()));
        let text = serde_json::to_string(&w).unwrap();
        assert!(text.contains("\"authority_spki\":\"3000\""), "{text}");
        let back: WalletFile = serde_json::from_str(&text).unwrap();
        assert_eq!(back.version, WALLET_FILE_VERSION);
        assert_eq!(back.mnemonic.as_str(), PHRASE);
        assert_eq!(back.account_index, 3);
        assert_eq!(back.fog, Some(fog));
    }

    #[test]
    fn fog_urls() {
        assert!(check_fog_url("fog://fog.example.com").is_ok());
        assert!(check_fog_url("insecure-fog://localhost:3225").is_ok());
        for bad in [
            "",
            "fog://",
            "https://fog.example.com",
            "fog:///x",
            "fog://a b",
        ] {
            assert!(check_fog_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn syntax_errors_do_not_quote_values() {
        let text = format!("{{\"version\": 1, \"mnemonic\": 5, \"account_index\": \"{PHRASE}\"}}");
        let e = serde_json::from_str::<WalletFile>(&text).err().unwrap();
        let msg = syntax_err(Path::new("w.json"), &e).to_string();
        assert!(!msg.contains("abandon"), "{msg}");
    }
}
