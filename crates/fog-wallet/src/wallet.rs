//! The wallet file: what it holds, where it lives, and how it is read and written.
//!
//! The file is JSON with a `version` field. Version 1 holds the BIP39 mnemonic, the account
//! index and, optionally, the fog settings that addresses carry. Version 2 adds the service
//! addresses ([`NetworkSettings`]), contacts (names for addresses, whose sender memos history
//! can authenticate) and the client state (`fog_client::AccountState`, so the next balance
//! check is incremental). Version 1 files are read and written back as version 2.
//!
//! The mnemonic is stored in plain text, protected only by the file's 0600 permissions (on
//! Unix). Writes are atomic: a temporary file in the same directory is written, flushed to
//! disk and renamed over the target, so a crash leaves the old wallet or the new one, never a
//! mix.

use std::{
    collections::BTreeMap,
    fmt,
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

use fog_account::{b58_decode_public_address, AccountKey, PublicAddress};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{network::NetworkSettings, WalletError};

/// The version this program writes and the newest it reads.
pub const WALLET_FILE_VERSION: u32 = 2;

/// The oldest version this program reads.
pub const OLDEST_WALLET_FILE_VERSION: u32 = 1;

/// The environment variable naming the wallet file.
pub const WALLET_ENV: &str = "FOG_WALLET";

/// The wallet file when neither `--wallet` nor `$FOG_WALLET` is given.
pub const DEFAULT_WALLET_FILE: &str = "fog-wallet.json";

/// The largest wallet file we read, as a guard against reading something else by mistake.
/// The client state of an account with 10^5 TxOuts is about 25 MB in the file.
const MAX_WALLET_FILE_LEN: u64 = 256 << 20;

/// The longest contact name.
pub const MAX_CONTACT_NAME: usize = 32;

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
    /// Where the services are and whom to trust (an attestation policy or key); absent until
    /// given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSettings>,
    /// Contact name → b58 public address.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contacts: BTreeMap<String, String>,
    /// The client's sync state (`fog_client::AccountState::to_bytes`), base64; absent before
    /// the first balance check. No secret, but it lists this account's TxOuts and amounts.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_bytes"
    )]
    pub client_state: Option<Vec<u8>>,
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
            .field("network", &self.network)
            .field("contacts", &self.contacts.len())
            .field(
                "client_state_bytes",
                &self.client_state.as_ref().map(Vec::len),
            )
            .finish()
    }
}

impl WalletFile {
    /// A new wallet: keys and fog settings, no network, contacts or client state.
    pub fn new(mnemonic: Zeroizing<String>, account_index: u32, fog: Option<FogSettings>) -> Self {
        Self {
            version: WALLET_FILE_VERSION,
            mnemonic,
            account_index,
            fog,
            network: None,
            contacts: BTreeMap::new(),
            client_state: None,
        }
    }

    /// A new wallet with a fresh 24-word mnemonic: 32 bytes from the operating system's
    /// random number generator.
    pub fn generate(account_index: u32, fog: Option<FogSettings>) -> Result<Self, WalletError> {
        use rand::RngCore;
        let mut entropy = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(&mut *entropy)
            .map_err(|e| WalletError::Randomness(e.to_string()))?;
        let mnemonic = bip39::Mnemonic::from_entropy(&*entropy)
            .map_err(|e| WalletError::Randomness(format!("no mnemonic from the entropy: {e}")))?;
        let mut phrase = Zeroizing::new(String::with_capacity(256));
        for (i, word) in mnemonic.words().enumerate() {
            if i > 0 {
                phrase.push(' ');
            }
            phrase.push_str(word);
        }
        drop(mnemonic);
        Ok(Self::new(phrase, account_index, fog))
    }

    /// The account keys, without fog settings.
    pub fn account_key(&self) -> Result<AccountKey, fog_account::AccountError> {
        AccountKey::from_mnemonic(&self.mnemonic, self.account_index)
    }

    /// The account keys with the wallet's fog settings (what its addresses carry).
    pub fn fog_account_key(&self) -> Result<AccountKey, fog_account::AccountError> {
        let account = self.account_key()?;
        Ok(match &self.fog {
            Some(f) => account.with_fog(&f.report_url, &f.report_id, &f.authority_spki),
            None => account,
        })
    }

    /// The contacts as addresses, in name order (invalid entries are refused by [`Self::load`]).
    pub fn contact_addresses(&self) -> Vec<(String, PublicAddress)> {
        self.contacts
            .iter()
            .filter_map(|(name, b58)| {
                b58_decode_public_address(b58)
                    .ok()
                    .map(|a| (name.clone(), a))
            })
            .collect()
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
        Self::from_bytes(&bytes, path)
    }

    /// Parses and checks the contents of a wallet file, as [`Self::load`] does once it has
    /// read them: known version, valid mnemonic, fog settings, network settings and contacts.
    /// `path` only names the file in errors. Version 1 contents come back as version 2.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, WalletError> {
        if bytes.len() as u64 > MAX_WALLET_FILE_LEN {
            return Err(content_err(path, "the file is too large".into()));
        }
        // Look at the version first, so a newer file gets a clear message rather than an
        // error about a field this version does not know.
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let version = serde_json::from_slice::<VersionOnly>(bytes)
            .map_err(|e| syntax_err(path, &e))?
            .version;
        if !(OLDEST_WALLET_FILE_VERSION..=WALLET_FILE_VERSION).contains(&version) {
            return Err(content_err(
                path,
                format!("version {version} is not supported (this fog-wallet reads versions {OLDEST_WALLET_FILE_VERSION} to {WALLET_FILE_VERSION})"),
            ));
        }
        let mut wallet: WalletFile =
            serde_json::from_slice(bytes).map_err(|e| syntax_err(path, &e))?;
        if version < 2
            && (wallet.network.is_some()
                || !wallet.contacts.is_empty()
                || wallet.client_state.is_some())
        {
            return Err(content_err(
                path,
                "a version 1 wallet cannot hold network settings, contacts or client state".into(),
            ));
        }
        // Written back as the current version.
        wallet.version = WALLET_FILE_VERSION;
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
        if let Some(network) = &wallet.network {
            network
                .check()
                .map_err(|reason| content_err(path, format!("network: {reason}")))?;
        }
        for (name, address) in &wallet.contacts {
            check_contact_name(name)
                .map_err(|reason| content_err(path, format!("contact {name:?}: {reason}")))?;
            b58_decode_public_address(address).map_err(|e| {
                content_err(path, format!("contact {name:?}: not a b58 address: {e}"))
            })?;
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

/// A contact name: 1 to [`MAX_CONTACT_NAME`] ASCII letters, digits, `-`, `_` or `.`, not
/// starting with a digit (so it is never mistaken for an amount or an index).
pub fn check_contact_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_CONTACT_NAME {
        return Err("a contact name has 1 to 32 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("a contact name uses only ASCII letters, digits, '-', '_' and '.'");
    }
    if name.as_bytes()[0].is_ascii_digit() {
        return Err("a contact name does not start with a digit");
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

pub(crate) fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<(), WalletError> {
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

mod base64_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, ser: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => ser.serialize_str(&crate::spki::base64_encode(b)),
            None => ser.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s = String::deserialize(de)?;
        crate::spki::base64_decode(&s)
            .map(Some)
            .ok_or_else(|| D::Error::custom("client_state is not base64"))
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
    fn version_1_is_read_and_version_2_keeps_network_contacts_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.json");
        std::fs::write(
            &path,
            format!("{{\"version\": 1, \"mnemonic\": \"{PHRASE}\", \"account_index\": 0}}"),
        )
        .unwrap();
        let mut w = WalletFile::load(&path).unwrap();
        assert_eq!(w.version, WALLET_FILE_VERSION);
        assert!(w.network.is_none() && w.contacts.is_empty() && w.client_state.is_none());

        let address =
            fog_account::b58_encode_public_address(&w.account_key().unwrap().default_subaddress());
        w.contacts.insert("me".into(), address);
        w.client_state = Some(vec![1, 2, 3, 250]);
        w.network = Some(NetworkSettings {
            node_url: "http://127.0.0.1:1".into(),
            view_url: "http://127.0.0.1:2".into(),
            ledger_url: "http://127.0.0.1:3".into(),
            attestation_key: String::new(),
            attestation_policy: Some(
                fog_attest::policy_file::PolicyFile::simulated(
                    &fog_attest::ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key(),
                )
                .to_toml(),
            ),
        });
        w.save(&path, true).unwrap();
        let back = WalletFile::load(&path).unwrap();
        assert_eq!(back.client_state, w.client_state);
        assert_eq!(back.network, w.network);
        assert_eq!(back.contacts, w.contacts);
        assert_eq!(back.contact_addresses().len(), 1);
        let shown = format!("{back:?}");
        assert!(!shown.contains("abandon") && shown.contains("client_state_bytes: Some(4)"));

        // A version 1 file cannot carry version 2 fields; a bad contact is refused.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"version\": 2", "\"version\": 1")).unwrap();
        assert!(WalletFile::load(&path).is_err());
        std::fs::write(&path, text.replace("\"me\"", "\"9lives\"")).unwrap();
        let e = WalletFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("9lives"), "{e}");
    }

    #[test]
    fn contact_names() {
        assert!(check_contact_name("bob").is_ok());
        assert!(check_contact_name("Bob_2.x-y").is_ok());
        for bad in ["", "2bob", "bob smith", "bøb", &"x".repeat(33)] {
            assert!(check_contact_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_wallets_have_24_words() {
        let w = WalletFile::generate(0, None).unwrap();
        assert_eq!(w.mnemonic.split(' ').count(), 24);
        assert!(w.account_key().is_ok());
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
