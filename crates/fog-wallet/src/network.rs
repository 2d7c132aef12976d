//! Where the services are and whom to trust: the wallet's [`NetworkSettings`], how command
//! line flags change them ([`NetworkOverrides`]), and the client configuration built from them.
//!
//! The attestation today is simulated (`docs/threat-model.md`): the services' evidence is
//! signed by a simulated quoting key whose Ed25519 public half (`sim-quoting.pub` in the
//! services' state directory) is the trust anchor, and each enclave must show the simulated
//! identity of its kind (`fog_attest::fog_identity`). The same key and identities check the
//! ingest evidence in the fog reports of recipients.

use std::path::Path;

use fog_attest::{
    ed25519_dalek::VerifyingKey, fog_identity, FogEnclave, IdentityRule, Policy, TrustAnchor,
    Verifier,
};
use fog_client::{ClientConfig, GrpcConfig};
use serde::{Deserialize, Serialize};

use crate::WalletError;

/// The oldest enclave evidence accepted, in seconds (the services renew theirs every hour).
pub const EVIDENCE_MAX_AGE_SECS: u64 = 24 * 3600;

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
    pub attestation_key: String,
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
    /// `--attestation-key`, already read (hex).
    pub attestation_key: Option<String>,
}

impl NetworkOverrides {
    /// Whether no flag was given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The settings these flags give on top of `stored`. Without stored settings every flag
    /// is needed; the error names the missing ones.
    pub fn apply(
        &self,
        stored: Option<&NetworkSettings>,
        wallet: &Path,
    ) -> Result<NetworkSettings, WalletError> {
        let settings = match stored {
            Some(s) => NetworkSettings {
                node_url: self.node_url.clone().unwrap_or_else(|| s.node_url.clone()),
                view_url: self.view_url.clone().unwrap_or_else(|| s.view_url.clone()),
                ledger_url: self
                    .ledger_url
                    .clone()
                    .unwrap_or_else(|| s.ledger_url.clone()),
                attestation_key: self
                    .attestation_key
                    .clone()
                    .unwrap_or_else(|| s.attestation_key.clone()),
            },
            None => {
                let missing: Vec<&str> = [
                    ("--node-url", self.node_url.is_none()),
                    ("--view-url", self.view_url.is_none()),
                    ("--ledger-url", self.ledger_url.is_none()),
                    ("--attestation-key", self.attestation_key.is_none()),
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
                    attestation_key: self.attestation_key.clone().unwrap_or_default(),
                }
            }
        };
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
    /// Checks the URLs and the key.
    pub fn check(&self) -> Result<(), String> {
        check_service_url("--node-url", &self.node_url)?;
        check_service_url("--view-url", &self.view_url)?;
        check_service_url("--ledger-url", &self.ledger_url)?;
        parse_attestation_key(&self.attestation_key)?;
        Ok(())
    }

    /// The verifier for one kind of enclave: the simulated quoting key, the enclave's
    /// simulated measurement, evidence at most a day old.
    pub fn verifier(&self, enclave: FogEnclave) -> Result<Verifier, String> {
        let key = parse_attestation_key(&self.attestation_key)?;
        Ok(Verifier::new(
            TrustAnchor::Simulation(key),
            Policy::new(
                vec![IdentityRule::Measurement(fog_identity(enclave).measurement)],
                EVIDENCE_MAX_AGE_SECS,
            ),
        ))
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
        }
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
            e.contains("--node-url") && e.contains("--attestation-key"),
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
}
