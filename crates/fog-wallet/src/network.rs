//! Where the services are and whom to trust: the wallet's [`NetworkSettings`], how command
//! line flags change them ([`NetworkOverrides`]), and the client configuration built from them.
//!
//! Whom to trust is an attestation policy ([`fog_attest::policy_file::PolicyFile`], given with
//! `--attestation-policy FILE` and kept in the wallet as its TOML text): for each service
//! (view, fog ledger, and ingest for the fog reports of recipients) the accepted platforms and
//! measurements, and the roots that vouch for them (Intel, AMD, or a simulated quoting key on
//! development networks). A wallet may instead hold only a simulated quoting key
//! (`--attestation-key`, the Ed25519 public half in `sim-quoting.pub` in the services' state
//! directory): it trusts what [`PolicyFile::simulated`] gives for that key, each enclave's
//! simulated identity at this version of Fog (`docs/threat-model.md`).

use std::{io::Read as _, path::Path};

use fog_attest::{ed25519_dalek::VerifyingKey, policy_file::PolicyFile, FogEnclave, Verifier};
use fog_client::{ClientConfig, GrpcConfig};
use serde::{Deserialize, Serialize};

use crate::WalletError;

/// The oldest simulated enclave evidence accepted by the policy of a lone attestation key, in
/// seconds (the services renew theirs every hour).
pub const EVIDENCE_MAX_AGE_SECS: u64 = fog_attest::policy_file::DEFAULT_MAX_EVIDENCE_AGE_SECS;

/// The largest attestation policy file read, in bytes.
const MAX_POLICY_FILE: u64 = 1 << 20;

/// The services a wallet talks to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSettings {
    /// The ledger node (submit, ledger info), `http://host:port`.
    pub node_url: String,
    /// The fog view service.
    pub view_url: String,
    /// The fog ledger service (key images, outputs with proofs, blocks).
    pub ledger_url: String,
    /// The simulated quoting public key that signs the enclaves' evidence: 32 bytes, hex.
    /// Without a policy, the wallet trusts [`PolicyFile::simulated`] of this key. Empty when
    /// the wallet holds a policy (kept for wallet files written before policies).
    #[serde(default)]
    pub attestation_key: String,
    /// The attestation policy's TOML text, as given with `--attestation-policy` (kept here so
    /// the wallet stays pinned when the file moves). When present it decides whom to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation_policy: Option<String>,
}

/// Flags that replace stored settings, one field at a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkOverrides {
    /// `--node-url`.
    pub node_url: Option<String>,
    /// `--view-url`.
    pub view_url: Option<String>,
    /// `--ledger-url`.
    pub ledger_url: Option<String>,
    /// `--attestation-key`, already read (hex). Replaces a stored policy.
    pub attestation_key: Option<String>,
    /// `--attestation-policy`, already read and checked (the file's text). Replaces a stored
    /// attestation key.
    pub attestation_policy: Option<String>,
}

impl NetworkOverrides {
    /// Whether no flag was given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The settings these flags give on top of `stored`. Without stored settings every flag
    /// is needed (an attestation key or a policy); the error names the missing ones. A given
    /// policy replaces a stored key, and a given key a stored policy.
    pub fn apply(
        &self,
        stored: Option<&NetworkSettings>,
        wallet: &Path,
    ) -> Result<NetworkSettings, WalletError> {
        if self.attestation_key.is_some() && self.attestation_policy.is_some() {
            return Err(WalletError::Usage(
                "give --attestation-key or --attestation-policy, not both".into(),
            ));
        }
        let mut settings = match stored {
            Some(s) => NetworkSettings {
                node_url: self.node_url.clone().unwrap_or_else(|| s.node_url.clone()),
                view_url: self.view_url.clone().unwrap_or_else(|| s.view_url.clone()),
                ledger_url: self
                    .ledger_url
                    .clone()
                    .unwrap_or_else(|| s.ledger_url.clone()),
                attestation_key: s.attestation_key.clone(),
                attestation_policy: s.attestation_policy.clone(),
            },
            None => {
                let missing: Vec<&str> = [
                    ("--node-url", self.node_url.is_none()),
                    ("--view-url", self.view_url.is_none()),
                    ("--ledger-url", self.ledger_url.is_none()),
                    (
                        "--attestation-key or --attestation-policy",
                        self.attestation_key.is_none() && self.attestation_policy.is_none(),
                    ),
                ]
                .into_iter()
                .filter_map(|(flag, absent)| absent.then_some(flag))
                .collect();
                if !missing.is_empty() {
                    return Err(WalletError::NoNetwork {
                        path: wallet.to_owned(),
                        missing: missing.join(", "),
                    });
                }
                NetworkSettings {
                    node_url: self.node_url.clone().unwrap_or_default(),
                    view_url: self.view_url.clone().unwrap_or_default(),
                    ledger_url: self.ledger_url.clone().unwrap_or_default(),
                    attestation_key: String::new(),
                    attestation_policy: None,
                }
            }
        };
        if let Some(key) = &self.attestation_key {
            settings.attestation_key = key.clone();
            settings.attestation_policy = None;
        }
        if let Some(policy) = &self.attestation_policy {
            settings.attestation_key = String::new();
            settings.attestation_policy = Some(policy.clone());
        }
        settings.check().map_err(WalletError::Usage)?;
        Ok(settings)
    }
}

/// Reads `--attestation-key`: 64 hex digits, or a file holding them (such as the services'
/// `sim-quoting.pub`).
pub fn read_attestation_key(arg: &str) -> Result<String, WalletError> {
    let hex_text = if is_key_hex(arg) {
        arg.to_owned()
    } else {
        let text = std::fs::read_to_string(arg).map_err(|source| WalletError::Read {
            path: arg.into(),
            source,
        })?;
        text.trim().to_owned()
    };
    parse_attestation_key(&hex_text)
        .map_err(|reason| WalletError::Usage(format!("--attestation-key {arg}: {reason}")))?;
    Ok(hex_text.to_ascii_lowercase())
}

/// Reads `--attestation-policy FILE` and checks it: its text, to keep in the wallet. Errors
/// name the file.
pub fn read_attestation_policy(path: &Path) -> Result<String, WalletError> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_POLICY_FILE + 1).read_to_string(&mut text))
        .map_err(|source| WalletError::Read {
            path: path.to_owned(),
            source,
        })?;
    if text.len() as u64 > MAX_POLICY_FILE {
        return Err(WalletError::Usage(format!(
            "--attestation-policy {}: larger than {MAX_POLICY_FILE} bytes",
            path.display()
        )));
    }
    PolicyFile::parse(&text).map_err(|e| {
        WalletError::Usage(format!(
            "--attestation-policy {}: {}",
            path.display(),
            one_line(&e.0)
        ))
    })?;
    Ok(text)
}

/// A policy error on one line: a TOML syntax error comes as a snippet of the file over several
/// lines (`TOML parse error at line L, column C`, the line, a caret, the reason); keep the
/// first and the last.
fn one_line(msg: &str) -> String {
    let mut lines = msg.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    match lines.next_back() {
        Some(last) => format!("{first}: {last}"),
        None => first.to_owned(),
    }
}

fn is_key_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_attestation_key(hex_text: &str) -> Result<VerifyingKey, String> {
    if !is_key_hex(hex_text) {
        return Err("the attestation key is not 64 hex digits".into());
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut bytes)
        .map_err(|_| "the attestation key is not 64 hex digits".to_string())?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "the attestation key is not an Ed25519 public key".into())
}

/// A service URL: `http://host:port` or `https://host[:port]`, nothing after the authority.
fn check_service_url(flag: &str, url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{flag} {url:?} must start with http:// or https://"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains('/') || rest.chars().any(char::is_whitespace) {
        return Err(format!("{flag} {url:?} is not http://host:port"));
    }
    Ok(())
}

impl NetworkSettings {
    /// Checks the URLs, and the policy if there is one, else the key.
    pub fn check(&self) -> Result<(), String> {
        check_service_url("--node-url", &self.node_url)?;
        check_service_url("--view-url", &self.view_url)?;
        check_service_url("--ledger-url", &self.ledger_url)?;
        self.policy()?;
        Ok(())
    }

    /// The attestation policy in force: the stored policy, else the simulated policy of the
    /// attestation key.
    pub fn policy(&self) -> Result<PolicyFile, String> {
        match &self.attestation_policy {
            Some(text) => PolicyFile::parse(text).map_err(|e| one_line(&e.to_string())),
            None => Ok(PolicyFile::simulated(&parse_attestation_key(
                &self.attestation_key,
            )?)),
        }
    }

    /// The verifier for one kind of enclave, from the policy in force ([`Self::policy`]).
    pub fn verifier(&self, enclave: FogEnclave) -> Result<Verifier, String> {
        self.policy()?.verifier(enclave).map_err(|e| e.to_string())
    }

    /// The gRPC transport's configuration.
    pub fn grpc_config(&self) -> Result<GrpcConfig, String> {
        Ok(GrpcConfig::new(
            self.view_url.trim_end_matches('/'),
            self.ledger_url.trim_end_matches('/'),
            self.node_url.trim_end_matches('/'),
            self.verifier(FogEnclave::View)?,
            self.verifier(FogEnclave::Ledger)?,
        ))
    }

    /// The client's configuration (the ingest verifier checks recipients' fog reports).
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        Ok(ClientConfig::new(self.verifier(FogEnclave::Ingest)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_hex() -> String {
        let key = fog_attest::ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        hex::encode(key.verifying_key().as_bytes())
    }

    fn settings() -> NetworkSettings {
        NetworkSettings {
            node_url: "http://127.0.0.1:3223".into(),
            view_url: "http://127.0.0.1:3225".into(),
            ledger_url: "http://127.0.0.1:3226/".into(),
            attestation_key: key_hex(),
            attestation_policy: None,
        }
    }

    fn quoting() -> fog_attest::ed25519_dalek::SigningKey {
        fog_attest::ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
    }

    /// The simulated policy of [`quoting`], as TOML.
    fn simulated_policy() -> PolicyFile {
        PolicyFile::simulated(&quoting().verifying_key())
    }

    /// Checks fresh simulated evidence of `enclave` (signed by `quoting()`) with `settings`.
    fn verify(
        settings: &NetworkSettings,
        enclave: FogEnclave,
    ) -> Result<(), fog_attest::VerifyError> {
        use fog_attest::{ReportData, SimProvider, UnixSeconds};
        let provider = SimProvider::from_quoting_key(quoting(), fog_attest::fog_identity(enclave));
        let data = ReportData([7; 64]);
        let evidence = provider.evidence_at(&data, UnixSeconds::now());
        settings
            .verifier(enclave)
            .unwrap()
            .verify(&evidence, &data, UnixSeconds::now())
            .map(|_| ())
    }

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn checks_urls_and_key() {
        assert!(settings().check().is_ok());
        let mut s = settings();
        s.view_url = "127.0.0.1:3225".into();
        assert!(s.check().unwrap_err().contains("--view-url"));
        let mut s = settings();
        s.node_url = "http://host/path".into();
        assert!(s.check().unwrap_err().contains("--node-url"));
        let mut s = settings();
        s.attestation_key = "00".repeat(31);
        assert!(s.check().is_err());
        assert!(settings().grpc_config().is_ok());
        assert!(settings().client_config().is_ok());
    }

    #[test]
    fn overrides_replace_fields_and_name_what_is_missing() {
        let stored = settings();
        let o = NetworkOverrides {
            view_url: Some("http://10.0.0.1:1".into()),
            ..NetworkOverrides::default()
        };
        let s = o.apply(Some(&stored), Path::new("w.json")).unwrap();
        assert_eq!(s.view_url, "http://10.0.0.1:1");
        assert_eq!(s.node_url, stored.node_url);
        let e = o.apply(None, Path::new("w.json")).unwrap_err().to_string();
        assert!(
            e.contains("--node-url") && e.contains("--attestation-key or --attestation-policy"),
            "{e}"
        );
        assert!(!e.contains("--view-url"), "{e}");
        assert!(NetworkOverrides::default().is_empty());
    }

    #[test]
    fn attestation_key_from_hex_or_file() {
        let hex_key = key_hex();
        assert_eq!(read_attestation_key(&hex_key).unwrap(), hex_key);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sim-quoting.pub");
        std::fs::write(&file, format!("{}\n", hex_key.to_uppercase())).unwrap();
        assert_eq!(
            read_attestation_key(file.to_str().unwrap()).unwrap(),
            hex_key
        );
        assert!(read_attestation_key("nonexistent-file").is_err());
    }

    #[test]
    fn a_lone_key_trusts_the_simulated_policy_of_the_key() {
        let s = settings();
        assert_eq!(s.policy().unwrap(), simulated_policy());
        for enclave in [FogEnclave::View, FogEnclave::Ledger, FogEnclave::Ingest] {
            verify(&s, enclave).unwrap();
        }
        // Old wallet files (no policy) still load, and a keyed wallet writes no policy.
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("attestation_policy"), "{text}");
        let old = r#"{"node_url":"http://a:1","view_url":"http://a:2","ledger_url":"http://a:3","attestation_key":"00"}"#;
        let back: NetworkSettings = serde_json::from_str(old).unwrap();
        assert_eq!(back.attestation_policy, None);
    }

    #[test]
    fn a_given_policy_replaces_the_key_and_builds_the_verifiers() {
        let dir = tempfile::tempdir().unwrap();
        // A policy that trusts view and ingest as simulated, and the fog ledger only as an
        // SNP guest: simulated ledger evidence is then refused.
        let mut policy = simulated_policy();
        policy.anchors.amd = true;
        policy.snp_tcb_floor = Some(fog_attest::policy_file::SnpTcbFloor::default());
        policy.ledger = vec![fog_attest::policy_file::RuleEntry::Snp {
            measurement: "ab".repeat(48),
        }];
        let file = write(dir.path(), "policy.toml", &policy.to_toml());
        let text = read_attestation_policy(&file).unwrap();
        let o = NetworkOverrides {
            attestation_policy: Some(text.clone()),
            ..NetworkOverrides::default()
        };
        let s = o.apply(Some(&settings()), Path::new("w.json")).unwrap();
        assert_eq!(s.attestation_policy.as_deref(), Some(text.as_str()));
        assert_eq!(s.attestation_key, "", "the policy replaces the stored key");
        assert!(s.check().is_ok());
        verify(&s, FogEnclave::View).unwrap();
        verify(&s, FogEnclave::Ingest).unwrap();
        assert!(verify(&s, FogEnclave::Ledger).is_err());
        assert!(s.grpc_config().is_ok() && s.client_config().is_ok());

        // A view rule with another measurement refuses the view enclave.
        let mut other = simulated_policy();
        other.view = vec![fog_attest::policy_file::RuleEntry::Sim {
            measurement: "11".repeat(32),
        }];
        let s2 = NetworkSettings {
            attestation_policy: Some(other.to_toml()),
            ..s.clone()
        };
        assert_eq!(
            verify(&s2, FogEnclave::View),
            Err(fog_attest::VerifyError::UnknownMeasurement)
        );

        // First settings: the policy stands in for the key.
        let first = NetworkOverrides {
            node_url: Some("http://127.0.0.1:1".into()),
            view_url: Some("http://127.0.0.1:2".into()),
            ledger_url: Some("http://127.0.0.1:3".into()),
            attestation_policy: Some(text),
            ..NetworkOverrides::default()
        };
        let made = first.apply(None, Path::new("w.json")).unwrap();
        assert_eq!(made.attestation_key, "");
        // Stored in the wallet file and read back.
        let json = serde_json::to_string(&made).unwrap();
        let back: NetworkSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, made);
        assert!(back.check().is_ok());

        // Key and policy together are refused.
        let both = NetworkOverrides {
            attestation_key: Some(key_hex()),
            ..first
        };
        let e = both
            .apply(None, Path::new("w.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn a_given_key_drops_a_stored_policy() {
        let stored = NetworkSettings {
            attestation_key: String::new(),
            attestation_policy: Some(simulated_policy().to_toml()),
            ..settings()
        };
        assert!(stored.check().is_ok());
        let o = NetworkOverrides {
            attestation_key: Some(key_hex()),
            ..NetworkOverrides::default()
        };
        let s = o.apply(Some(&stored), Path::new("w.json")).unwrap();
        assert_eq!(s.attestation_policy, None);
        assert_eq!(s.attestation_key, key_hex());
        // Neither given: the stored policy stays.
        let kept = NetworkOverrides::default()
            .apply(Some(&stored), Path::new("w.json"))
            .unwrap();
        assert_eq!(kept, stored);
    }

    #[test]
    fn a_policy_without_an_ingest_rule_or_unreadable_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut policy = simulated_policy();
        policy.ingest.clear();
        let file = write(dir.path(), "no-ingest.toml", &policy.to_toml());
        let e = read_attestation_policy(&file).unwrap_err().to_string();
        assert!(
            e.contains("[[ingest]]")
                && e.contains("no-ingest.toml")
                && e.contains("--attestation-policy"),
            "{e}"
        );
        // Stored in a wallet (edited by hand), the same policy fails the check.
        let stored = NetworkSettings {
            attestation_key: String::new(),
            attestation_policy: Some(policy.to_toml()),
            ..settings()
        };
        assert!(stored.check().unwrap_err().contains("[[ingest]]"));

        let bad = write(dir.path(), "bad.toml", "[anchors]\nintel = \"yes\"\n");
        let e = read_attestation_policy(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && !e.contains('\n'), "{e}");
        let missing = dir.path().join("missing.toml");
        let e = read_attestation_policy(&missing).unwrap_err().to_string();
        assert!(e.contains("missing.toml"), "{e}");
        let o = NetworkOverrides {
            attestation_policy: Some("view = 3".into()),
            ..NetworkOverrides::default()
        };
        assert!(o.apply(Some(&settings()), Path::new("w.json")).is_err());
    }

    #[test]
    fn the_simulated_policy_round_trips_through_toml() {
        let p = simulated_policy();
        assert_eq!(PolicyFile::parse(&p.to_toml()).unwrap(), p);
    }
}
