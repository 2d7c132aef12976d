//! [`FogClient`]: one account, its state and a [`Transport`]; checks balances, reads history
//! and sends.

use std::time::{Duration, Instant};

use fog_account::{AccountKey, PublicAddress};
use fog_api::fog_node::SubmitTxResult;
use fog_attest::{validate_report, UnixSeconds, ValidatedFogPubkey, Verifier};
use fog_transaction::{validation::MOB_MINIMUM_FEE, Amount, BlockVersion, KeyImage, TokenId};
use fog_types::ledger::GetOutputsRequest;
use rand::{CryptoRng, RngCore};

use crate::{
    error::{ClientError, Result},
    history::{history, HistoryEntry},
    send::{check_outputs, choose_rings, select_inputs, sign_payment, Payment, SignedPayment},
    state::{AccountState, Balance, PendingSend, SpentStatus},
    sync::{Step, Sync, SyncLimits, SyncProgress},
    transport::{call, Transport},
};

/// The node's rule for a transaction whose tombstone block has passed.
const RULE_TOMBSTONE_EXCEEDED: &str = "TombstoneBlockExceeded";

/// The fee a payment of `token` pays when none is given: the node's published minimum for
/// that token (`LedgerInfo.minimum_fees`, as MobileCoin's `GetLastBlockInfo` publishes them).
/// A node that publishes none (older than the field) leaves MOB at MobileCoin's minimum and
/// other tokens unknown. A published MOB fee above MobileCoin's minimum is not paid without
/// being asked for: a node could otherwise raise the fee of every wallet that trusts it; the
/// caller gives such a fee explicitly.
pub fn default_fee(
    minimum_fees: &std::collections::HashMap<u64, u64>,
    token: TokenId,
) -> Result<Amount> {
    match minimum_fees.get(&token.0) {
        Some(&fee) if token == TokenId::MOB && fee > MOB_MINIMUM_FEE => {
            Err(ClientError::InvalidRequest(format!(
                "the ledger node asks a MOB fee of {fee}, above MobileCoin's minimum of \
                 {MOB_MINIMUM_FEE}: give the fee explicitly to pay it"
            )))
        }
        Some(&fee) => Ok(Amount::new(fee, token)),
        None if !minimum_fees.is_empty() => Err(ClientError::InvalidRequest(format!(
            "the ledger node does not accept token {}",
            token.0
        ))),
        None if token == TokenId::MOB => Ok(Amount::new(MOB_MINIMUM_FEE, token)),
        None => Err(ClientError::InvalidRequest(format!(
            "the ledger node publishes no minimum fees: give the fee for token {}",
            token.0
        ))),
    }
}

/// How a client behaves.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Request sizes of a balance check.
    pub limits: SyncLimits,
    /// The verifier for ingest enclaves' evidence in fog reports (senders check it before
    /// encrypting a fog hint).
    pub ingest_verifier: Verifier,
    /// A sent transaction's tombstone: this many blocks past the ledger's current count (then
    /// lowered to the fog keys' expiry).
    pub tombstone_blocks: u64,
    /// How long [`FogClient::send`] waits for the payment to land and the change to show up.
    pub confirm_timeout: Duration,
    /// How often it checks while waiting.
    pub poll_interval: Duration,
}

impl ClientConfig {
    /// Defaults with the given ingest verifier: MobileCoin's request sizes, a tombstone 50
    /// blocks ahead, a 120 s wait polled every 500 ms.
    pub fn new(ingest_verifier: Verifier) -> Self {
        Self {
            limits: SyncLimits::default(),
            ingest_verifier,
            tombstone_blocks: 50,
            confirm_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// What a send did.
#[derive(Clone, PartialEq)]
pub struct SendReceipt {
    /// The transaction's hash.
    pub tx_hash: [u8; 32],
    /// The transaction as submitted (public data: rings, outputs, signatures).
    pub tx: fog_transaction::wire::Tx,
    /// What the recipient gets.
    pub amount: Amount,
    /// The fee paid.
    pub fee: Amount,
    /// The inputs' key images.
    pub key_images: Vec<KeyImage>,
    /// The change output's public key.
    pub change_public_key: [u8; 32],
    /// The first block in which it could no longer have landed.
    pub tombstone_block: u64,
    /// The block that holds it (set once it has landed).
    pub block_index: Option<u64>,
    /// The balance once the change showed up (set once it has landed).
    pub balance: Option<Balance>,
}

impl core::fmt::Debug for SendReceipt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SendReceipt")
            .field("tx_hash", &hex32(&self.tx_hash))
            .field("amount", &self.amount)
            .field("fee", &self.fee)
            .field("tombstone_block", &self.tombstone_block)
            .field("block_index", &self.block_index)
            .field("balance", &self.balance)
            .finish_non_exhaustive()
    }
}

fn hex32(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether a submitted payment has landed, judged from the state just after a balance check
/// that gave `balance` (sans-IO: [`FogClient::wait_for`] and the web wallet call it after
/// each check, each with its own clock and timer).
///
/// `Ok(true)`: its inputs are seen spent and its change shows up below the balance's block
/// count; the receipt's block (the highest block its inputs were spent in) and balance are
/// filled in. `Ok(false)`: not yet. [`ClientError::Expired`]: the balance has reached the
/// tombstone block and the change has not shown up.
pub fn landed(state: &AccountState, balance: &Balance, receipt: &mut SendReceipt) -> Result<bool> {
    let spent_at = spent_blocks(state, &receipt.key_images);
    let change = state
        .tx_outs
        .values()
        .find(|t| t.public_key == receipt.change_public_key);
    if let (Some(blocks), Some(change)) = (spent_at, change) {
        if change.block_index < balance.block_count {
            receipt.block_index = blocks.into_iter().max();
            receipt.balance = Some(balance.clone());
            return Ok(true);
        }
    }
    if balance.block_count >= receipt.tombstone_block && change.is_none() {
        return Err(ClientError::Expired {
            tombstone_block: receipt.tombstone_block,
            block_count: balance.block_count,
        });
    }
    Ok(false)
}

/// The blocks in which `key_images` were seen spent, in their order, judged from `state`;
/// `None` while any of them is not seen spent (or is not of a TxOut this account owns).
/// [`landed`] and the wait for a swap to land (which has no change to wait for) use it.
pub fn spent_blocks(state: &AccountState, key_images: &[KeyImage]) -> Option<Vec<u64>> {
    key_images
        .iter()
        .map(|k| {
            state
                .tx_outs
                .values()
                .find(|t| t.key_image == *k)
                .and_then(|t| match t.spent {
                    SpentStatus::Spent { block_index } => Some(block_index),
                    _ => None,
                })
        })
        .collect()
}

/// A fog client for one account.
pub struct FogClient<T> {
    transport: T,
    account: AccountKey,
    state: AccountState,
    config: ClientConfig,
    last_progress: SyncProgress,
}

impl<T> core::fmt::Debug for FogClient<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FogClient")
            .field("account", &self.account)
            .field("view_block_count", &self.state.view_block_count)
            .field("tx_outs", &self.state.tx_outs.len())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> FogClient<T> {
    /// A client for `account`, resuming from `state` (use [`AccountState::new`] for a fresh
    /// wallet).
    pub fn new(
        transport: T,
        account: AccountKey,
        state: AccountState,
        config: ClientConfig,
    ) -> Self {
        Self {
            transport,
            account,
            state,
            config,
            last_progress: SyncProgress::default(),
        }
    }

    /// The account.
    pub fn account(&self) -> &AccountKey {
        &self.account
    }

    /// The state (save it with [`AccountState::to_bytes`] after each call).
    pub fn state(&self) -> &AccountState {
        &self.state
    }

    /// The transport (for its statistics).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The account, the state and the transport back.
    pub fn into_parts(self) -> (AccountKey, AccountState, T) {
        (self.account, self.state, self.transport)
    }

    /// Checks the balance: view, missed ranges, key images (services.md 3.4). Returns the
    /// `(block_count, balances)` pair, exact for blocks below `block_count`.
    pub async fn check_balance(&mut self) -> Result<Balance> {
        self.check_balance_with_progress(|_| {}).await
    }

    /// [`Self::check_balance`], calling `progress` after every answer.
    pub async fn check_balance_with_progress(
        &mut self,
        mut progress: impl FnMut(&SyncProgress) + Send,
    ) -> Result<Balance> {
        let mut sync = Sync::new(&self.account, &self.state, self.config.limits)?;
        let mut step = sync.start(&mut self.state)?;
        loop {
            match step {
                Step::Send(request) => {
                    let response = call(&mut self.transport, request).await?;
                    step = sync.handle(&mut self.state, response)?;
                    progress(sync.progress());
                }
                Step::Done(balance) => {
                    self.last_progress = *sync.progress();
                    return Ok(balance);
                }
            }
        }
    }

    /// The counters of the last complete balance check.
    pub fn last_progress(&self) -> &SyncProgress {
        &self.last_progress
    }

    /// The last balance checked, without asking anyone.
    pub fn last_balance(&self) -> Option<&Balance> {
        self.state.last_balance.as_ref()
    }

    /// History for the blocks the last balance covers. `contacts` are addresses whose
    /// authenticated sender memos are verified.
    pub fn history(&self, contacts: &[PublicAddress]) -> Vec<HistoryEntry> {
        let block_count = self
            .state
            .last_balance
            .as_ref()
            .map_or(0, |b| b.block_count);
        history(&self.account, &self.state, block_count, contacts)
    }

    async fn validated_key(
        &mut self,
        address: &PublicAddress,
        block_count: u64,
    ) -> Result<Option<ValidatedFogPubkey>> {
        let Some(url) = address.fog_report_url() else {
            return Ok(None);
        };
        let url = url.to_owned();
        let reports = self.transport.get_reports(&url).await?;
        validate_report(
            address,
            &reports,
            &self.config.ingest_verifier,
            UnixSeconds::now(),
            block_count,
        )
        .map(Some)
        .map_err(ClientError::Report)
    }

    /// Builds and signs a payment of `amount` to `to` (fee: [`default_fee`] unless given) without submitting it: checks the balance, selects inputs, validates the
    /// fog reports, gets rings and proofs. Reserves nothing: until it is submitted
    /// ([`Self::submit_signed`]), another payment may spend the same inputs.
    pub async fn build_payment<R: RngCore + CryptoRng + Send>(
        &mut self,
        to: &PublicAddress,
        amount: Amount,
        fee: Option<Amount>,
        rng: &mut R,
    ) -> Result<SignedPayment> {
        if amount.value == 0 {
            return Err(ClientError::InvalidRequest("the amount is zero".into()));
        }
        let balance = self.check_balance().await?;
        let info = self.transport.ledger_info().await?;
        let fee = match fee {
            Some(fee) => fee,
            None => default_fee(&info.minimum_fees, amount.token_id)?,
        };
        let needed = u128::from(amount.value) + u128::from(fee.value);
        if fee.token_id != amount.token_id {
            return Err(ClientError::InvalidRequest(
                "the fee must be paid in the token sent".into(),
            ));
        }
        let inputs = select_inputs(&self.state, amount.token_id, needed, balance.block_count)?;

        let recipient_key = self.validated_key(to, info.block_count).await?;
        let own = self.account.default_subaddress();
        let change_key = self.validated_key(&own, info.block_count).await?;
        let mut tombstone = info
            .block_count
            .saturating_add(self.config.tombstone_blocks.max(1));
        for k in [recipient_key, change_key].iter().flatten() {
            tombstone = tombstone.min(k.pubkey_expiry);
        }

        // Ring members must exist for the fog ledger too, which may follow the node's ledger
        // from behind.
        let txo_count = match self.last_progress.ledger_txo_count {
            0 => info.txo_count,
            fog => fog.min(info.txo_count),
        };
        let real: Vec<u64> = inputs.iter().map(|i| i.global_index).collect();
        let rings = choose_rings(&real, txo_count, rng)?;
        let mut asked: Vec<u64> = rings.iter().flatten().copied().collect();
        asked.sort_unstable();
        asked.dedup();
        let answer = self
            .transport
            .get_outputs(GetOutputsRequest {
                indices: asked.clone(),
                merkle_root_block: 0,
            })
            .await?;
        let outputs = check_outputs(&asked, &answer)?;

        let block_version = info
            .last_block
            .as_ref()
            .and_then(|b| BlockVersion::new(b.version))
            .filter(|v| *v >= BlockVersion::THREE)
            .unwrap_or(BlockVersion::THREE);
        let payment = Payment {
            recipient: to,
            recipient_ingress: recipient_key.map(|k| k.ingress_pubkey),
            change_ingress: change_key.map(|k| k.ingress_pubkey),
            amount,
            fee,
            tombstone_block: tombstone,
            block_version,
        };
        sign_payment(&self.account, &inputs, &rings, &outputs, &payment, rng)
    }

    /// Submits a payment built by [`Self::build_payment`] (now or by an earlier process, from
    /// its saved form) and records it as pending: its inputs are reserved until they are seen
    /// spent or the tombstone block passes. Refuses a payment this account did not build; the
    /// node's refusals become [`ClientError::DoubleSpend`] (inputs already spent, or spent by
    /// a pending transaction), [`ClientError::Expired`] (the tombstone block has passed) or
    /// [`ClientError::Submit`].
    pub async fn submit_signed(&mut self, payment: &SignedPayment) -> Result<SendReceipt> {
        payment.check().map_err(ClientError::SavedTx)?;
        payment
            .check_owner(&self.account, &self.state)
            .map_err(ClientError::SavedTx)?;
        let wire = payment.tx.to_wire();
        let answer = self.transport.submit_tx(wire.clone()).await?;
        match answer.result() {
            SubmitTxResult::Accepted => {}
            SubmitTxResult::DoubleSpend => {
                return Err(ClientError::DoubleSpend { rule: answer.rule });
            }
            SubmitTxResult::Invalid if answer.rule == RULE_TOMBSTONE_EXCEEDED => {
                return Err(ClientError::Expired {
                    tombstone_block: payment.tombstone_block,
                    block_count: answer.block_count,
                });
            }
            other => {
                return Err(ClientError::Submit {
                    result: format!("{other:?}"),
                    rule: answer.rule,
                })
            }
        }
        let pending = payment.pending();
        if !self.state.pending_sends.contains(&pending) {
            self.state.pending_sends.push(pending);
        }
        Ok(SendReceipt {
            tx_hash: payment.tx_hash(),
            tx: wire,
            amount: payment.amount,
            fee: payment.fee,
            key_images: payment.key_images.clone(),
            change_public_key: payment.change_public_key,
            tombstone_block: payment.tombstone_block,
            block_index: None,
            balance: None,
        })
    }

    /// Builds and submits a payment of `amount` to `to` (fee: MobileCoin's minimum for MOB
    /// unless given), without waiting for it to land ([`Self::build_payment`] then
    /// [`Self::submit_signed`]). The inputs are reserved in the state until they are seen
    /// spent or the tombstone block passes.
    pub async fn submit_payment<R: RngCore + CryptoRng + Send>(
        &mut self,
        to: &PublicAddress,
        amount: Amount,
        fee: Option<Amount>,
        rng: &mut R,
    ) -> Result<SendReceipt> {
        let payment = self.build_payment(to, amount, fee, rng).await?;
        self.submit_signed(&payment).await
    }

    /// Waits until a submitted payment has landed (its inputs are seen spent) and its change
    /// shows up through view below the balance's block count; fills in the receipt's block
    /// and balance. Fails with [`ClientError::Timeout`] after the configured wait, and with
    /// [`ClientError::Expired`] if the tombstone block passes first.
    pub async fn wait_for(&mut self, receipt: &mut SendReceipt) -> Result<Balance> {
        let started = Instant::now();
        loop {
            let balance = self.check_balance().await?;
            if landed(&self.state, &balance, receipt)? {
                return Ok(balance);
            }
            if started.elapsed() >= self.config.confirm_timeout {
                return Err(ClientError::Timeout {
                    what: "the payment to land and its change to show up in fog view",
                    seconds: self.config.confirm_timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    /// Sends `amount` to `to` and waits until the change shows up ([`Self::submit_payment`]
    /// then [`Self::wait_for`]).
    pub async fn send<R: RngCore + CryptoRng + Send>(
        &mut self,
        to: &PublicAddress,
        amount: Amount,
        fee: Option<Amount>,
        rng: &mut R,
    ) -> Result<SendReceipt> {
        let mut receipt = self.submit_payment(to, amount, fee, rng).await?;
        self.wait_for(&mut receipt).await?;
        Ok(receipt)
    }

    /// Pending sends in the state.
    pub fn pending_sends(&self) -> &[PendingSend] {
        &self.state.pending_sends
    }
}
