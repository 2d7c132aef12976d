//! A new network: its authority, wallets and origin block.

use std::path::{Path, PathBuf};

use fog_account::{b58_encode_public_address, AccountKey};
use fog_crypto::RistrettoPublic;
use fog_ledger_db::LedgerDb;
use fog_node::write_origin_block;
use fog_transaction::{Amount, TokenId};
use fog_wallet::{FogSettings, NetworkSettings, WalletFile};

/// One MOB in its smallest unit (picoMOB).
pub const MOB: u64 = 1_000_000_000_000;

/// Where a network's files go, under one directory.
#[derive(Clone, Debug)]
pub struct Files {
    /// The directory.
    pub dir: PathBuf,
}

impl Files {
    /// The fog authority's directory (`fogd authority new`).
    pub fn authority(&self) -> PathBuf {
        self.dir.join("authority")
    }
    /// The authority's root SubjectPublicKeyInfo (DER): what fog addresses sign.
    pub fn root_spki(&self) -> PathBuf {
        self.authority().join("root-spki.der")
    }
    /// A wallet file.
    pub fn wallet(&self, name: &str) -> PathBuf {
        self.dir.join("wallets").join(format!("{name}.json"))
    }
}

/// What a new network is made of.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The wallets' names.
    pub wallets: Vec<String>,
    /// The report service's URL, as fog addresses carry it (`insecure-fog://host:port`).
    pub report_url: String,
    /// The services' URLs and attestation key, stored in each wallet.
    pub network: NetworkSettings,
    /// TxOuts of [`Plan::funding_value`] each wallet gets in the origin block.
    pub funding_txouts: usize,
    /// The value of each.
    pub funding_value: u64,
    /// TxOuts of 1 MOB to random accounts, so that rings have members.
    pub strangers: usize,
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Makes the authority and the wallets in `files.dir`, and writes the origin block to
/// `ledger` (which must be empty), funding each wallet with fog hints to `ingress`.
pub fn create(
    files: &Files,
    plan: &Plan,
    ingress: &RistrettoPublic,
    ledger: &LedgerDb,
) -> Result<(), String> {
    let authority =
        fog_report_server::authority::new_authority(&files.authority(), "Fog local network", 3650)
            .map_err(|e| format!("cannot create the fog authority: {e}"))?;
    write_file(&files.root_spki(), &authority.root_spki_der)?;

    // The wallets: fresh mnemonics, fog addresses under this authority, the services'
    // addresses, and each other as contacts.
    std::fs::create_dir_all(files.dir.join("wallets"))
        .map_err(|e| format!("cannot create the wallets directory: {e}"))?;
    let fog = FogSettings {
        report_url: plan.report_url.clone(),
        report_id: String::new(),
        authority_spki: authority.root_spki_der.clone(),
    };
    let mut wallets = Vec::new();
    for name in &plan.wallets {
        let mut w = WalletFile::generate(0, Some(fog.clone()))
            .map_err(|e| format!("wallet {name}: {e}"))?;
        w.network = Some(plan.network.clone());
        let account = w
            .fog_account_key()
            .map_err(|e| format!("wallet {name}: {e}"))?;
        wallets.push((name.clone(), w, account));
    }
    let addresses: Vec<(String, String)> = wallets
        .iter()
        .map(|(n, _, a)| {
            (
                n.clone(),
                b58_encode_public_address(&a.default_subaddress()),
            )
        })
        .collect();
    for (name, w, _) in &mut wallets {
        for (other, address) in &addresses {
            if other != name {
                w.contacts.insert(other.clone(), address.clone());
            }
        }
        w.save(&files.wallet(name), false)
            .map_err(|e| format!("wallet {name}: {e}"))?;
    }

    // The origin block.
    let mut rng = rand::rngs::OsRng;
    let mut funding = Vec::new();
    for (_, _, account) in &wallets {
        for _ in 0..plan.funding_txouts {
            funding.push((
                account.default_subaddress(),
                Amount::new(plan.funding_value, TokenId::MOB),
            ));
        }
    }
    for _ in 0..plan.strangers {
        let stranger = AccountKey::random(&mut rng).default_subaddress();
        funding.push((stranger, Amount::new(MOB, TokenId::MOB)));
    }
    write_origin_block(ledger, &funding, Some(ingress), &mut rng)
        .map_err(|e| format!("cannot write the origin block: {e}"))?;
    Ok(())
}
