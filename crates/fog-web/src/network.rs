//! The network a web wallet talks to, as JSON (what `fogd local-network --web` serves at
//! `/local-network.json`; another operator writes the same by hand):
//!
//! ```json
//! {
//!   "network": {
//!     "node_url": "http://127.0.0.1:3223",
//!     "view_url": "http://127.0.0.1:3225",
//!     "ledger_url": "http://127.0.0.1:3226",
//!     "attestation_policy": "…TOML text of fog-wallet's --attestation-policy…"
//!   },
//!   "fog": { "report_url": "insecure-fog://127.0.0.1:3227", "report_id": "",
//!            "authority_spki": "30…(hex DER)" }
//! }
//! ```
//!
//! `fog` is what the wallet's own addresses carry (absent: an address without fog). Other
//! fields (a local network's demo wallets) are for the page and ignored here.

use fog_account::AccountKey;
use fog_attest::{policy_file::PolicyFile, FogEnclave, Verifier};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The services and whom to trust.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Services {
    /// The ledger node, `http(s)://host:port`.
    pub node_url: String,
    /// Fog view.
    pub view_url: String,
    /// Fog ledger (key images, outputs, blocks).
    pub ledger_url: String,
    /// The attestation policy (TOML, `fog_attest::policy_file`).
    pub attestation_policy: String,
}

/// The fog fields of the wallet's addresses.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Fog {
    /// `fog://host[:port]` or `insecure-fog://host:port`.
    pub report_url: String,
    /// The report id (often empty).
    #[serde(default)]
    pub report_id: String,
    /// The fog authority's SubjectPublicKeyInfo, DER, hex.
    pub authority_spki: String,
}

/// The JSON document.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct WebNetwork {
    /// The services.
    pub network: Services,
    /// The wallet's fog settings.
    #[serde(default)]
    pub fog: Option<Fog>,
}

/// What a wallet needs from a [`WebNetwork`], checked.
#[derive(Clone, Debug)]
pub struct Checked {
    /// Service URLs without a trailing slash.
    pub node_url: String,
    /// Fog view.
    pub view_url: String,
    /// Fog ledger.
    pub ledger_url: String,
    /// The view enclave's verifier.
    pub view_verifier: Verifier,
    /// The fog ledger enclave's verifier.
    pub ledger_verifier: Verifier,
    /// The ingest enclave's verifier (recipients' fog reports).
    pub ingest_verifier: Verifier,
    /// `(report_url, report_id, authority_spki)`.
    pub fog: Option<(String, String, Vec<u8>)>,
}

/// A service URL: `http://host:port` or `https://host[:port]`, nothing after the authority.
fn service_url(what: &str, url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{what} {url:?} must start with http:// or https://"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains('/') || rest.chars().any(char::is_whitespace) {
        return Err(format!("{what} {url:?} is not http://host:port"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

impl WebNetwork {
    /// Parses and checks the JSON: URLs, the policy (each enclave's verifier), the fog
    /// fields.
    pub fn parse(json: &str) -> Result<Checked, String> {
        let doc: WebNetwork =
            serde_json::from_str(json).map_err(|e| format!("the network settings: {e}"))?;
        let n = &doc.network;
        let policy = PolicyFile::parse(&n.attestation_policy)
            .map_err(|e| format!("the attestation policy: {e}"))?;
        let verifier = |e: FogEnclave| {
            policy
                .verifier(e)
                .map_err(|err| format!("the attestation policy ({e:?}): {err}"))
        };
        let fog = match &doc.fog {
            None => None,
            Some(f) => {
                if !(f.report_url.starts_with("fog://")
                    || f.report_url.starts_with("insecure-fog://"))
                {
                    return Err(format!(
                        "the fog report URL {:?} is not fog:// or insecure-fog://",
                        f.report_url
                    ));
                }
                let spki = hex::decode(f.authority_spki.trim())
                    .map_err(|_| "the fog authority SPKI is not hex".to_string())?;
                if spki.is_empty() {
                    return Err("the fog authority SPKI is empty".into());
                }
                Some((f.report_url.clone(), f.report_id.clone(), spki))
            }
        };
        Ok(Checked {
            node_url: service_url("node_url", &n.node_url)?,
            view_url: service_url("view_url", &n.view_url)?,
            ledger_url: service_url("ledger_url", &n.ledger_url)?,
            view_verifier: verifier(FogEnclave::View)?,
            ledger_verifier: verifier(FogEnclave::Ledger)?,
            ingest_verifier: verifier(FogEnclave::Ingest)?,
            fog,
        })
    }
}

impl Checked {
    /// The account of a BIP39 phrase (English, words separated by whitespace) at a SLIP-10
    /// account index, with this network's fog settings.
    pub fn account(&self, phrase: &str, account_index: u32) -> Result<AccountKey, String> {
        let words: Zeroizing<String> =
            Zeroizing::new(phrase.split_whitespace().collect::<Vec<_>>().join(" "));
        let account = AccountKey::from_mnemonic(&words, account_index)
            .map_err(|e| format!("the mnemonic: {e}"))?;
        Ok(match &self.fog {
            Some((url, id, spki)) => account.with_fog(url, id, spki),
            None => account,
        })
    }
}

/// Maps a fog report URL to the URL its report server answers on: `insecure-fog://host:port`
/// is `http://host:port`, `fog://host[:port]` is `https://host[:port]` (443 by default).
pub fn report_url(fog_report_url: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "fog report URL {fog_report_url:?} is not fog://host[:port] or insecure-fog://host:port"
        )
    };
    let (rest, secure) = if let Some(r) = fog_report_url.strip_prefix("insecure-fog://") {
        (r, false)
    } else if let Some(r) = fog_report_url.strip_prefix("fog://") {
        (r, true)
    } else {
        return Err(bad());
    };
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    Ok(match (secure, has_port) {
        (false, true) => format!("http://{host}"),
        (false, false) => return Err(bad()),
        (true, true) => format!("https://{host}"),
        (true, false) => format!("https://{host}:443"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> String {
        let key = fog_attest::ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        PolicyFile::simulated(&key.verifying_key()).to_toml()
    }

    fn doc(view_url: &str, policy: &str, fog: &str) -> String {
        serde_json::json!({
            "network": {
                "node_url": "http://127.0.0.1:3223",
                "view_url": view_url,
                "ledger_url": "http://127.0.0.1:3226/",
                "attestation_policy": policy,
            },
            "fog": serde_json::from_str::<serde_json::Value>(fog).unwrap(),
            "demo_wallets": [],
        })
        .to_string()
    }

    const FOG: &str =
        r#"{"report_url": "insecure-fog://127.0.0.1:3227", "authority_spki": "3059"}"#;

    #[test]
    fn a_good_document_parses() {
        let c = WebNetwork::parse(&doc("http://127.0.0.1:3225", &policy(), FOG)).unwrap();
        assert_eq!(c.ledger_url, "http://127.0.0.1:3226");
        assert_eq!(c.view_url, "http://127.0.0.1:3225");
        let (url, id, spki) = c.fog.clone().unwrap();
        assert_eq!(
            (url.as_str(), id.as_str(), spki),
            ("insecure-fog://127.0.0.1:3227", "", vec![0x30, 0x59])
        );
        let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                      abandon abandon about";
        let a = c.account(phrase, 0).unwrap();
        let b = c
            .account(&format!("  {}\n", phrase.replace(' ', "  ")), 0)
            .unwrap();
        assert_eq!(a.default_subaddress(), b.default_subaddress());
        assert_eq!(
            a.default_subaddress().fog_report_url(),
            Some("insecure-fog://127.0.0.1:3227")
        );
        assert!(c.account("abandon abandon", 0).is_err());
    }

    #[test]
    fn bad_documents_are_refused() {
        assert!(WebNetwork::parse("{").is_err());
        assert!(WebNetwork::parse(&doc("ftp://x", &policy(), FOG)).is_err());
        assert!(WebNetwork::parse(&doc("http://x/path", &policy(), FOG)).is_err());
        assert!(WebNetwork::parse(&doc("http://x:1", "not toml [", FOG)).is_err());
        let bad_fog = r#"{"report_url": "http://x", "authority_spki": "3059"}"#;
        assert!(WebNetwork::parse(&doc("http://x:1", &policy(), bad_fog)).is_err());
        let bad_spki = r#"{"report_url": "fog://x", "authority_spki": "zz"}"#;
        assert!(WebNetwork::parse(&doc("http://x:1", &policy(), bad_spki)).is_err());
    }

    #[test]
    fn report_urls_map() {
        assert_eq!(
            report_url("insecure-fog://127.0.0.1:3227").unwrap(),
            "http://127.0.0.1:3227"
        );
        assert_eq!(
            report_url("fog://f.example").unwrap(),
            "https://f.example:443"
        );
        assert_eq!(
            report_url("fog://f.example:8443/").unwrap(),
            "https://f.example:8443"
        );
        for bad in [
            "http://x",
            "fog://",
            "insecure-fog://a/b",
            "insecure-fog://a",
            "",
        ] {
            assert!(report_url(bad).is_err(), "{bad}");
        }
    }
}
