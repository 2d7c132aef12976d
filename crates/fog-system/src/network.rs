//! A new network: its authority, wallets and origin block (MOB and, where the plan says,
//! other tokens), and the fees its node accepts.

use std::path::{Path, PathBuf};

use fog_account::{b58_encode_public_address, AccountKey};
use fog_crypto::RistrettoPublic;
use fog_ledger_db::LedgerDb;
use fog_node::{write_origin_block, NodeConfig};
use fog_transaction::{Amount, TokenId};
use fog_wallet::{FogSettings, NetworkSettings, WalletFile};

/// One MOB in its smallest unit (picoMOB).
pub const MOB: u64 = 1_000_000_000_000;

/// The second token a local network holds besides MOB: token id 1, whose amounts are whole
/// numbers of its smallest unit (Fog knows no decimals for it).
pub const TOKEN_1: TokenId = TokenId(1);

/// The minimum fee of [`TOKEN_1`] on a local network's node, in its smallest unit: a multiple
/// of 128, as MobileCoin requires of every minimum fee.
pub const TOKEN_1_MINIMUM_FEE: u64 = 1024;

/// The node settings of a local network on top of `config`: MOB at its default minimum fee,
/// and [`TOKEN_1`] accepted at [`TOKEN_1_MINIMUM_FEE`]. `fogd node` gets the same with
/// [`node_fee_args`].
pub fn node_config(config: NodeConfig) -> NodeConfig {
    config.with_minimum_fee(TOKEN_1.0, TOKEN_1_MINIMUM_FEE)
}

/// The `fogd node` flags that give a node the fees of [`node_config`].
pub fn node_fee_args() -> Vec<String> {
    vec![
        "--minimum-fee".into(),
        format!("{}={TOKEN_1_MINIMUM_FEE}", TOKEN_1.0),
    ]
}

/// Origin-block funding of a token other than MOB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenFunding {
    /// The token.
    pub token_id: TokenId,
    /// TxOuts of [`TokenFunding::value`] each wallet gets.
    pub txouts: usize,
    /// The value of each, in the token's smallest unit.
    pub value: u64,
}

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
    /// Other tokens each wallet gets in the origin block, beside MOB (the node must accept
    /// them to spend them: [`node_config`]).
    pub other_tokens: Vec<TokenFunding>,
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
        for t in &plan.other_tokens {
            for _ in 0..t.txouts {
                funding.push((
                    account.default_subaddress(),
                    Amount::new(t.value, t.token_id),
                ));
            }
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
