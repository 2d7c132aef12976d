//! [`Wallet`]: one account connected to a fog network, its balance, history and sends, and the
//! state that makes the next balance check incremental.
//!
//! Calls that reach a service are async (a Python coroutine, a Kotlin `suspend fun`, a Swift
//! `async` function). They run on this library's own tokio runtime (two worker threads), so
//! any executor can await them; calls on one wallet run one at a time, in the order they
//! were made. Dropping the awaiting future does not stop a call that has started: it
//! finishes in the background and its result is kept in the wallet's state (a send may
//! already be with the ledger node).
//!
//! Local calls (addresses, [`Wallet::last_balance`], [`Wallet::history`], [`Wallet::state`],
//! [`Wallet::save_file`]) read a copy of the state taken when the last async call finished,
//! so they never wait for the network.
//!
//! **What is stored.** [`Wallet::state`] is fog-client's `AccountState` in its stored form
//! (a versioned protobuf): the confirmed view block count, the RNGs followed, the owned
//! TxOuts with amounts and key images, pending sends and the last balance. It holds no key,
//! but it lists the account's funds: keep it as privately as the mnemonic. Give it back to
//! [`Wallet::new`] and the next check is incremental; a state that does not load is refused
//! whole ([`FogError::InvalidState`]). [`Wallet::open_file`] and [`Wallet::save_file`] read
//! and write fog-wallet's wallet file instead (JSON: mnemonic, account index, fog settings,
//! network settings, contacts and the same state), so a wallet moves between the
//! `fog-wallet` command and an app unchanged.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex as StdMutex},
};

use fog_account::{b58_decode_public_address, b58_encode_public_address, AccountKey};
use fog_client::{
    history::{self, EntryKind as ClientEntryKind, Sender as ClientSender},
    AccountState, FogClient, GrpcTransport,
};
use fog_transaction::{Amount, TokenId};
use fog_wallet::{NetworkSettings, WalletFile};
use tokio::sync::Mutex as AsyncMutex;
use zeroize::Zeroizing;

use crate::{
    error::{FogError, Result},
    keys::{Account, FogSettings},
    on_runtime,
    swap::{self, FillReceipt, TokenAmount},
};

/// Where the services are and whom to trust.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NetworkConfig {
    /// The ledger node, `http://host:port`.
    pub node_url: String,
    /// The fog view service.
    pub view_url: String,
    /// The fog ledger service (key images, outputs with proofs, blocks).
    pub ledger_url: String,
    /// The attestation policy's TOML text (fog-attest's policy file: accepted platforms,
    /// measurements and roots for view, fog ledger and ingest). Give this or
    /// `attestation_key`.
    pub attestation_policy: Option<String>,
    /// A simulated quoting public key (64 hex digits) for development networks: trusts each
    /// enclave's simulated identity at this version of Fog.
    pub attestation_key: Option<String>,
}

impl NetworkConfig {
    fn to_settings(&self) -> Result<NetworkSettings> {
        let settings = match (&self.attestation_policy, &self.attestation_key) {
            (Some(policy), None) => NetworkSettings {
                node_url: self.node_url.clone(),
                view_url: self.view_url.clone(),
                ledger_url: self.ledger_url.clone(),
                attestation_key: String::new(),
                attestation_policy: Some(policy.clone()),
            },
            (None, Some(key)) => NetworkSettings {
                node_url: self.node_url.clone(),
                view_url: self.view_url.clone(),
                ledger_url: self.ledger_url.clone(),
                attestation_key: key.trim().to_ascii_lowercase(),
                attestation_policy: None,
            },
            _ => {
                return Err(FogError::InvalidSettings {
                    reason: "give an attestation policy or an attestation key, exactly one".into(),
                })
            }
        };
        settings
            .check()
            .map_err(|reason| FogError::InvalidSettings { reason })?;
        Ok(settings)
    }

    fn from_settings(s: &NetworkSettings) -> Self {
        Self {
            node_url: s.node_url.clone(),
            view_url: s.view_url.clone(),
            ledger_url: s.ledger_url.clone(),
            attestation_policy: s.attestation_policy.clone(),
            attestation_key: s
                .attestation_policy
                .is_none()
                .then(|| s.attestation_key.clone()),
        }
    }
}

/// One token's balance.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TokenBalance {
    /// The token (0 is MOB).
    pub token_id: u64,
    /// The value in the token's smallest unit (picoMOB for MOB), decimal: a sum of 64-bit
    /// values may not fit in 64 bits.
    pub value: String,
}

/// A balance: exact for the ledger of blocks `0..block_count`, never wrong, only late.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Balance {
    /// The balances are exact for the blocks below this count.
    pub block_count: u64,
    /// By token, in token order; a token the account never received is absent (0).
    pub balances: Vec<TokenBalance>,
}

impl From<&fog_client::Balance> for Balance {
    fn from(b: &fog_client::Balance) -> Self {
        Self {
            block_count: b.block_count,
            balances: b
                .balances
                .iter()
                .map(|(token_id, value)| TokenBalance {
                    token_id: *token_id,
                    value: value.to_string(),
                })
                .collect(),
        }
    }
}

/// The value of `token_id` in `balance`, decimal ("0" when absent).
#[uniffi::export]
pub fn balance_of(balance: &Balance, token_id: u64) -> String {
    balance
        .balances
        .iter()
        .find(|b| b.token_id == token_id)
        .map_or_else(|| "0".to_owned(), |b| b.value.clone())
}

/// Counters of a balance check in progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    /// View requests sent.
    pub view_requests: u64,
    /// Search keys sent.
    pub search_keys: u64,
    /// This account's records found and opened.
    pub records_found: u64,
    /// Records found under this account's search keys that did not open to a TxOut it owns.
    pub records_rejected: u64,
    /// Missed blocks scanned with the view key and authenticated.
    pub blocks_scanned: u64,
    /// Key images checked.
    pub key_images_checked: u64,
    /// The view service's block count in its last answer.
    pub view_block_count: u64,
    /// The fog ledger's TxOut count in its last key-image answer.
    pub ledger_txo_count: u64,
}

impl From<&fog_client::SyncProgress> for SyncProgress {
    fn from(p: &fog_client::SyncProgress) -> Self {
        Self {
            view_requests: p.view_requests,
            search_keys: p.search_keys,
            records_found: p.records_found,
            records_rejected: p.records_rejected,
            blocks_scanned: p.blocks_scanned,
            key_images_checked: p.key_images_checked,
            view_block_count: p.view_block_count,
            ledger_txo_count: p.ledger_txo_count,
        }
    }
}

/// Told about a balance check's progress after every answer of a service. Called on one of
/// this library's threads, never concurrently for one check; it should return quickly.
///
/// If it raises (any exception), it is not called again for that check; the check goes on
/// to its end and keeps what it found (the wallet's state and [`Wallet::last_balance`] are
/// as after a check without a callback), then [`Wallet::check_balance`] raises
/// [`FogError::Callback`] with the exception's text (or the check's own error, if the check
/// failed). Nothing panics (crates/fog-ffi/README.md says why it does not stop the check).
#[uniffi::export(with_foreign)]
pub trait BalanceProgress: Send + Sync {
    /// The counters so far. An implementation in Rust returns `Err` where a foreign one
    /// raises.
    fn on_progress(&self, progress: SyncProgress) -> Result<()>;
}

/// What a history line records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum EntryKind {
    /// A TxOut received.
    Received,
    /// A TxOut spent.
    Spent,
}

/// Who sent a received TxOut, from its memo.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Sender {
    /// No sender memo (or a spent entry).
    Unknown,
    /// An authenticated sender memo that verified against this contact's address (b58).
    Authenticated {
        /// The contact's address, as given to [`Wallet::history`].
        address: String,
    },
    /// A sender memo naming an address that matches no contact (or did not verify): the
    /// claimed short address hash, hex.
    Claimed {
        /// 16 bytes, hex.
        short_address_hash: String,
    },
}

/// What the destination memo of a change TxOut says about the payment that made it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Destination {
    /// What the payment cost in all: the value sent plus the fee.
    pub total_outlay: u64,
    /// The fee.
    pub fee: u64,
    /// How many recipients it paid.
    pub num_recipients: u8,
    /// The recipient's short address hash, hex (all zero for several recipients).
    pub recipient_short_address_hash: String,
}

/// One line of history.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HistoryEntry {
    /// The block where it happened.
    pub block_index: u64,
    /// The TxOut's global index in the ledger.
    pub global_index: u64,
    /// The TxOut's value, in the token's smallest unit.
    pub value: u64,
    /// The TxOut's token.
    pub token_id: u64,
    /// Received or spent.
    pub kind: EntryKind,
    /// On a received TxOut: whether it is change of this account's own payment.
    pub change: bool,
    /// On a received TxOut: its sender, from the memo.
    pub sender: Sender,
    /// On received change: what its destination memo says about the payment (total outlay,
    /// fee, recipient).
    pub destination: Option<Destination>,
}

/// What a send did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SendReceipt {
    /// The transaction's hash, hex.
    pub tx_hash: String,
    /// What the recipient gets.
    pub value: u64,
    /// The token sent.
    pub token_id: u64,
    /// The fee paid (in the token sent).
    pub fee: u64,
    /// The first block in which it could no longer have landed.
    pub tombstone_block: u64,
    /// The block that holds it.
    pub block_index: Option<u64>,
    /// The balance once the change showed up.
    pub balance: Option<Balance>,
}

impl From<&fog_client::SendReceipt> for SendReceipt {
    fn from(r: &fog_client::SendReceipt) -> Self {
        Self {
            tx_hash: hex::encode(r.tx_hash),
            value: r.amount.value,
            token_id: r.amount.token_id.0,
            fee: r.fee.value,
            tombstone_block: r.tombstone_block,
            block_index: r.block_index,
            balance: r.balance.as_ref().map(Balance::from),
        }
    }
}

/// A contact kept in a wallet file: a name for an address.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Contact {
    /// The name.
    pub name: String,
    /// The b58 address.
    pub address: String,
}

/// What the async calls share with the task that runs them.
struct Shared {
    client: AsyncMutex<FogClient<GrpcTransport>>,
    /// The state as the last async call left it.
    state: StdMutex<AccountState>,
}

impl Shared {
    fn snapshot(&self) -> AccountState {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn keep(&self, state: &AccountState) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state.clone();
    }
}

/// One account connected to a fog network. It keeps the mnemonic in memory (zeroized when
/// the wallet is dropped) to write wallet files; `Debug` shows only the default address.
#[derive(uniffi::Object)]
pub struct Wallet {
    mnemonic: Zeroizing<String>,
    account_index: u32,
    fog: Option<FogSettings>,
    network: NetworkSettings,
    contacts: BTreeMap<String, String>,
    /// A second derivation of the keys, for local reads while a call holds the client.
    account: AccountKey,
    shared: Arc<Shared>,
}

impl core::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Wallet")
            .field("account", &self.account)
            .field("account_index", &self.account_index)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

impl Wallet {
    fn build(
        mnemonic: Zeroizing<String>,
        account_index: u32,
        fog: Option<FogSettings>,
        network: NetworkSettings,
        contacts: BTreeMap<String, String>,
        state: AccountState,
    ) -> Result<Self> {
        let client_key = Account::derive(&mnemonic, account_index, fog.as_ref())?;
        let account = Account::derive(&mnemonic, account_index, fog.as_ref())?;
        let grpc = network
            .grpc_config()
            .map_err(|reason| FogError::InvalidSettings { reason })?;
        let config = network
            .client_config()
            .map_err(|reason| FogError::InvalidSettings { reason })?;
        let client = FogClient::new(GrpcTransport::new(grpc), client_key, state.clone(), config);
        Ok(Self {
            mnemonic,
            account_index,
            fog,
            network,
            contacts,
            account,
            shared: Arc::new(Shared {
                client: AsyncMutex::new(client),
                state: StdMutex::new(state),
            }),
        })
    }

    fn to_file(&self) -> WalletFile {
        let mut file = WalletFile::new(
            self.mnemonic.clone(),
            self.account_index,
            self.fog.as_ref().map(FogSettings::to_wallet),
        );
        file.network = Some(self.network.clone());
        file.contacts = self.contacts.clone();
        file.client_state = Some(self.shared.snapshot().to_bytes());
        file
    }
}

fn decode_recipient(b58: &str) -> Result<fog_account::PublicAddress> {
    b58_decode_public_address(b58).map_err(|e| FogError::InvalidAddress {
        reason: format!("{e}"),
    })
}

#[uniffi::export]
impl Wallet {
    /// A wallet for the account of `mnemonic` at `account_index`, whose addresses carry
    /// `fog`, talking to `network`. `state` is what [`Self::state`] returned earlier (`None`
    /// for a new wallet: the first check starts from nothing). Connects to nothing yet.
    #[uniffi::constructor]
    pub fn new(
        mnemonic: String,
        account_index: u32,
        fog: Option<FogSettings>,
        network: NetworkConfig,
        state: Option<Vec<u8>>,
    ) -> Result<Arc<Self>> {
        let mnemonic = Zeroizing::new(mnemonic);
        let network = network.to_settings()?;
        let state = match state {
            Some(bytes) => AccountState::from_bytes(&bytes)?,
            None => AccountState::new(),
        };
        Self::build(
            mnemonic,
            account_index,
            fog,
            network,
            BTreeMap::new(),
            state,
        )
        .map(Arc::new)
    }

    /// Opens a fog-wallet wallet file (as `fog-wallet --wallet PATH` reads it, and as
    /// `fogd local-network` writes its demo wallets). `network` replaces the file's service
    /// settings; without it the file must hold them.
    #[uniffi::constructor]
    pub fn open_file(path: String, network: Option<NetworkConfig>) -> Result<Arc<Self>> {
        let path = PathBuf::from(path);
        let file = WalletFile::load(&path)?;
        let network = match (network, &file.network) {
            (Some(n), _) => n.to_settings()?,
            (None, Some(stored)) => stored.clone(),
            (None, None) => {
                return Err(FogError::InvalidSettings {
                    reason: format!(
                        "the wallet at {} has no service settings: give a network",
                        path.display()
                    ),
                })
            }
        };
        let state = match &file.client_state {
            Some(bytes) => AccountState::from_bytes(bytes)?,
            None => AccountState::new(),
        };
        let fog = file.fog.as_ref().map(FogSettings::from_wallet);
        Self::build(
            file.mnemonic.clone(),
            file.account_index,
            fog,
            network,
            file.contacts.clone(),
            state,
        )
        .map(Arc::new)
    }

    /// Writes the wallet as a fog-wallet wallet file (mode 0600, atomically: a crash leaves
    /// the old file or the new one). It holds the mnemonic in plain text. Unless `overwrite`,
    /// an existing file is refused ([`FogError::WalletFile`]) and left as it is.
    pub fn save_file(&self, path: String, overwrite: bool) -> Result<()> {
        self.to_file()
            .save(&PathBuf::from(path), overwrite)
            .map_err(FogError::from)
    }

    /// The stored form of the client state as the last call left it (see the module docs):
    /// give it to [`Self::new`] to resume.
    pub fn state(&self) -> Vec<u8> {
        self.shared.snapshot().to_bytes()
    }

    /// The default address, b58: what others pay.
    pub fn address(&self) -> String {
        b58_encode_public_address(&self.account.default_subaddress())
    }

    /// The account index of the keys.
    pub fn account_index(&self) -> u32 {
        self.account_index
    }

    /// The fog settings the addresses carry.
    pub fn fog(&self) -> Option<FogSettings> {
        self.fog.clone()
    }

    /// The service settings in use.
    pub fn network(&self) -> NetworkConfig {
        NetworkConfig::from_settings(&self.network)
    }

    /// The contacts kept in the wallet file (empty for a wallet made with [`Self::new`]), in
    /// name order.
    pub fn contacts(&self) -> Vec<Contact> {
        self.contacts
            .iter()
            .map(|(name, address)| Contact {
                name: name.clone(),
                address: address.clone(),
            })
            .collect()
    }

    /// The last balance checked (kept in the state), without asking anyone.
    pub fn last_balance(&self) -> Option<Balance> {
        self.shared
            .snapshot()
            .last_balance
            .as_ref()
            .map(Balance::from)
    }

    /// Payments submitted whose inputs are not yet seen spent (their inputs stay reserved).
    pub fn pending_sends(&self) -> u32 {
        u32::try_from(self.shared.snapshot().pending_sends.len()).unwrap_or(u32::MAX)
    }

    /// History for the blocks the last balance covers, ordered by block, received before
    /// spent, then global index. `contacts` are b58 addresses whose authenticated sender memos
    /// are verified (a bad one is refused before anything is read).
    pub fn history(&self, contacts: Vec<String>) -> Result<Vec<HistoryEntry>> {
        let addresses = contacts
            .iter()
            .map(|c| decode_recipient(c))
            .collect::<Result<Vec<_>>>()?;
        let state = self.shared.snapshot();
        let block_count = state.last_balance.as_ref().map_or(0, |b| b.block_count);
        Ok(
            history::history(&self.account, &state, block_count, &addresses)
                .into_iter()
                .map(|e| {
                    let (kind, change, sender) = match e.kind {
                        ClientEntryKind::Received { sender, change } => (
                            EntryKind::Received,
                            change,
                            match sender {
                                ClientSender::Unknown => Sender::Unknown,
                                ClientSender::Authenticated(i) => Sender::Authenticated {
                                    address: b58_encode_public_address(&addresses[i]),
                                },
                                ClientSender::Claimed(hash) => Sender::Claimed {
                                    short_address_hash: hex::encode(hash.0),
                                },
                            },
                        ),
                        ClientEntryKind::Spent => (EntryKind::Spent, false, Sender::Unknown),
                    };
                    HistoryEntry {
                        block_index: e.block_index,
                        global_index: e.global_index,
                        value: e.amount.value,
                        token_id: e.amount.token_id.0,
                        kind,
                        change,
                        sender,
                        destination: e.destination.map(|d| Destination {
                            total_outlay: d.total_outlay,
                            fee: d.fee,
                            num_recipients: d.num_recipients,
                            recipient_short_address_hash: hex::encode(d.recipient.0),
                        }),
                    }
                })
                .collect(),
        )
    }

    /// Checks the balance with view, the fog ledger and (for missed block ranges) the block
    /// service, calling `progress` after every answer. The result is exact for blocks below
    /// its `block_count`. A failed check keeps what it learned and leaves the last balance
    /// as it was. A `progress` that raises is not called again; the check still completes
    /// and keeps its balance, then this raises [`FogError::Callback`] ([`BalanceProgress`]).
    pub async fn check_balance(
        &self,
        progress: Option<Arc<dyn BalanceProgress>>,
    ) -> Result<Balance> {
        let shared = Arc::clone(&self.shared);
        on_runtime(async move {
            let mut client = shared.client.lock().await;
            let mut raised = None;
            let result = client
                .check_balance_with_progress(|p| {
                    if let (Some(cb), None) = (&progress, &raised) {
                        raised = cb.on_progress(SyncProgress::from(p)).err();
                    }
                })
                .await;
            shared.keep(client.state());
            let balance = result?;
            match raised {
                None => Ok(Balance::from(&balance)),
                Some(e @ FogError::Callback { .. }) => Err(e),
                // A FogError the app raised itself is still the app's callback failing.
                Some(other) => Err(FogError::Callback {
                    reason: other.to_string(),
                }),
            }
        })
        .await
    }

    /// Pays `value` of `token_id` to the b58 address `to` (the fee is paid in the same token:
    /// MobileCoin's minimum MOB fee unless `fee` is given) and waits until the payment has
    /// landed and its change shows up through view. The receipt carries the block and the
    /// balance after it.
    pub async fn send(
        &self,
        to: String,
        value: u64,
        token_id: u64,
        fee: Option<u64>,
    ) -> Result<SendReceipt> {
        let recipient = decode_recipient(&to)?;
        let amount = Amount::new(value, TokenId(token_id));
        let fee = fee.map(|f| Amount::new(f, TokenId(token_id)));
        let shared = Arc::clone(&self.shared);
        on_runtime(async move {
            let mut client = shared.client.lock().await;
            let result = client
                .send(&recipient, amount, fee, &mut rand::rngs::OsRng)
                .await;
            shared.keep(client.state());
            Ok(SendReceipt::from(&result?))
        })
        .await
    }

    /// Makes a swap offer (a signed contingent input): `give_value` of `give_token` for
    /// `want_value` of `want_token`, from one confirmed TxOut of `give_token` that holds at
    /// least `give_value` (the smallest such; any excess comes back to this account when the
    /// offer is filled). `partial`: `None` for all or nothing, else partial fills allowed,
    /// each taking at least this much of `give_token` and paying in proportion (rounded up).
    /// It can be filled for `valid_for_blocks` blocks from now (at most until this account's
    /// fog key expires). Returns the offer's bytes ([`crate::check_offer`] reads them); the
    /// offered TxOut stays spendable, and spending it cancels the offer. Bad terms raise
    /// [`FogError::InvalidRequest`] before anything is asked.
    pub async fn make_offer(
        &self,
        give_value: u64,
        give_token: u64,
        want_value: u64,
        want_token: u64,
        partial: Option<u64>,
        valid_for_blocks: u64,
    ) -> Result<Vec<u8>> {
        let give = Amount::new(give_value, TokenId(give_token));
        let want = Amount::new(want_value, TokenId(want_token));
        let fill = swap::offer_terms(give, want, partial, valid_for_blocks)?;
        let config = self.client_config()?;
        let shared = Arc::clone(&self.shared);
        on_runtime(async move {
            let mut client = shared.client.lock().await;
            let result = fog_client::swap::make_offer(
                &mut client,
                &config.ingest_verifier,
                give,
                want,
                fill,
                valid_for_blocks,
                &mut rand::rngs::OsRng,
            )
            .await;
            shared.keep(client.state());
            Ok(result?.bytes)
        })
        .await
    }

    /// Fills a swap offer (bytes from [`Self::make_offer`]): takes `take` of the offered
    /// token (`None`: all of it; a full-fill offer only in full), pays the maker what its
    /// rules require with this account's confirmed inputs, pays the fee in MOB (`fee`, in
    /// picoMOB; `None`: the ledger node's minimum, which is not paid unasked above
    /// MobileCoin's minimum, as in [`Self::send`]) out of the MOB taken when the offer gives
    /// MOB, submits it and waits until it has landed and shows up through view. The offer is
    /// checked first: bytes that do not check raise [`FogError::InvalidOffer`], a `take` out
    /// of its bounds [`FogError::InvalidRequest`], both before anything is sent. An offer
    /// already filled or cancelled raises [`FogError::DoubleSpend`], one past its last block
    /// [`FogError::Expired`].
    pub async fn fill_offer(
        &self,
        offer: Vec<u8>,
        take: Option<u64>,
        fee: Option<u64>,
    ) -> Result<FillReceipt> {
        let (_, summary) = fog_client::swap::check_offer(&offer).map_err(swap::invalid_offer)?;
        let take = swap::take_of(&summary, take)?;
        let fee = fee.map(|f| Amount::new(f, TokenId::MOB));
        let config = self.client_config()?;
        let shared = Arc::clone(&self.shared);
        on_runtime(async move {
            let mut client = shared.client.lock().await;
            let result = fill_and_wait(&mut client, &config, &offer, take, fee).await;
            shared.keep(client.state());
            result
        })
        .await
    }
}

impl Wallet {
    fn client_config(&self) -> Result<fog_client::ClientConfig> {
        self.network
            .client_config()
            .map_err(|reason| FogError::InvalidSettings { reason })
    }
}

/// Fills `offer`, paying `fee` in MOB (`None`: the default rule), and waits until every
/// input of this account is seen spent in a block the balance covers (as [`FogClient::send`]
/// waits for a payment).
async fn fill_and_wait(
    client: &mut FogClient<GrpcTransport>,
    config: &fog_client::ClientConfig,
    offer: &[u8],
    take: fog_client::swap::Take,
    fee: Option<Amount>,
) -> Result<FillReceipt> {
    let receipt = fog_client::swap::fill_offer(
        client,
        &config.ingest_verifier,
        offer,
        take,
        fee,
        &mut rand::rngs::OsRng,
    )
    .await?;
    let started = std::time::Instant::now();
    loop {
        let balance = client.check_balance().await?;
        let blocks = fog_client::client::spent_blocks(client.state(), &receipt.key_images);
        if let Some(block) = blocks.and_then(|b| b.into_iter().max()) {
            if block < balance.block_count {
                return Ok(FillReceipt {
                    tx_hash: hex::encode(receipt.tx_hash),
                    received: receipt.received.into(),
                    paid: receipt.paid.iter().map(|a| TokenAmount::from(*a)).collect(),
                    fee: receipt.fee.into(),
                    tombstone_block: receipt.tombstone_block,
                    block_index: block,
                    balance: Balance::from(&balance),
                });
            }
        }
        if balance.block_count >= receipt.tombstone_block {
            return Err(FogError::Expired {
                tombstone_block: receipt.tombstone_block,
                block_count: balance.block_count,
            });
        }
        if started.elapsed() >= config.confirm_timeout {
            return Err(FogError::Timeout {
                what: "the swap to land and show up in fog view".into(),
                seconds: config.confirm_timeout.as_secs(),
            });
        }
        tokio::time::sleep(config.poll_interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    /// A loopback port nothing listens on.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn network() -> NetworkConfig {
        let port = closed_port();
        NetworkConfig {
            node_url: format!("http://127.0.0.1:{port}"),
            view_url: format!("http://127.0.0.1:{port}"),
            ledger_url: format!("http://127.0.0.1:{port}"),
            attestation_policy: None,
            attestation_key: Some("11".repeat(32)),
        }
    }

    #[test]
    fn settings_are_checked() {
        let mut n = network();
        n.attestation_key = None;
        let e = Wallet::new(PHRASE.into(), 0, None, n, None).unwrap_err();
        assert!(matches!(e, FogError::InvalidSettings { .. }), "{e:?}");
        let mut n = network();
        n.view_url = "127.0.0.1:2".into();
        assert!(Wallet::new(PHRASE.into(), 0, None, network(), None).is_ok());
        let e = Wallet::new(PHRASE.into(), 0, None, n, None).unwrap_err();
        assert!(e.to_string().contains("--view-url"), "{e}");
        let e = Wallet::new(PHRASE.into(), 0, None, network(), Some(vec![0xff; 9])).unwrap_err();
        assert!(matches!(e, FogError::InvalidState { .. }), "{e:?}");
    }

    #[test]
    fn a_fresh_wallet_round_trips_through_its_state_and_file() {
        let net = network();
        let w = Wallet::new(PHRASE.into(), 2, None, net.clone(), None).unwrap();
        assert_eq!(w.last_balance(), None);
        assert!(w.history(vec![]).unwrap().is_empty());
        let state = w.state();
        let back = Wallet::new(PHRASE.into(), 2, None, net.clone(), Some(state.clone())).unwrap();
        assert_eq!(back.state(), state);
        assert_eq!(back.address(), w.address());
        assert_eq!(back.network(), net);

        let dir = std::env::temp_dir().join(format!("fog-ffi-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.json").to_string_lossy().into_owned();
        let _ = std::fs::remove_file(&path);
        w.save_file(path.clone(), false).unwrap();
        let e = w.save_file(path.clone(), false).unwrap_err();
        assert!(matches!(e, FogError::WalletFile { .. }), "{e:?}");
        let opened = Wallet::open_file(path.clone(), None).unwrap();
        assert_eq!(opened.address(), w.address());
        assert_eq!(opened.account_index(), 2);
        assert_eq!(opened.state(), state);
        let shown = format!("{opened:?}");
        assert!(!shown.contains("abandon"), "{shown}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreachable_service_is_named() {
        let w = Wallet::new(PHRASE.into(), 0, None, network(), None).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let e = rt.block_on(w.check_balance(None)).unwrap_err();
        assert_eq!(
            e.failed_service(),
            Some(crate::error::Service::View),
            "{e:?}"
        );
        assert!(matches!(e, FogError::Unavailable { .. }), "{e:?}");
        let e = rt.block_on(w.send("nope".into(), 1, 0, None)).unwrap_err();
        assert!(matches!(e, FogError::InvalidAddress { .. }), "{e:?}");
    }
}
