//! An open wallet connected to the services: balance, history and send, with the client state
//! written back to the wallet file after every call that changed it.
//!
//! The wallet file is rewritten atomically (a temporary file in the same directory, flushed to
//! disk, renamed over the old one), so a crash leaves the previous state or the new one. A
//! failed balance check writes nothing: the file keeps the state of the last complete check.
//! Two processes using one wallet file at once are not coordinated: the last to write wins.

use std::path::{Path, PathBuf};

use fog_account::{b58_decode_public_address, AccountKey, PublicAddress};
use fog_client::{
    client::default_fee, AccountState, Balance, ClientError, FogClient, GrpcTransport,
    HistoryEntry, SendReceipt, Service, SignedPayment, SyncProgress, Transport, TransportStats,
};
use fog_transaction::{Amount, TokenId};

use crate::{
    network::{NetworkOverrides, NetworkSettings},
    wallet::WalletFile,
    WalletError,
};

/// An open wallet and its client.
pub struct Session {
    path: PathBuf,
    file: WalletFile,
    network: NetworkSettings,
    contacts: Vec<(String, PublicAddress)>,
    client: FogClient<GrpcTransport>,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("path", &self.path)
            .field("network", &self.network)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens the wallet at `path` with its stored service addresses, each replaced by a flag
    /// given in `overrides` (the result is kept in the file at the next write). With
    /// `rescan`, the stored client state is dropped and the next check starts from nothing.
    pub fn open(
        path: &Path,
        overrides: &NetworkOverrides,
        rescan: bool,
    ) -> Result<Self, WalletError> {
        let mut file = WalletFile::load(path)?;
        let network = overrides.apply(file.network.as_ref(), path)?;
        let account = file.fog_account_key().map_err(WalletError::Mnemonic)?;
        let state = match (&file.client_state, rescan) {
            (Some(bytes), false) => {
                AccountState::from_bytes(bytes).map_err(|e| WalletError::WalletContent {
                    path: path.to_owned(),
                    reason: format!(
                        "the client state does not load ({e}); `balance --rescan` starts over"
                    ),
                })?
            }
            _ => AccountState::new(),
        };
        let grpc = network.grpc_config().map_err(WalletError::Usage)?;
        let config = network.client_config().map_err(WalletError::Usage)?;
        file.network = Some(network.clone());
        let contacts = file.contact_addresses();
        let client = FogClient::new(GrpcTransport::new(grpc), account, state, config);
        Ok(Self {
            path: path.to_owned(),
            file,
            network,
            contacts,
            client,
        })
    }

    /// The wallet file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The service addresses in use.
    pub fn network(&self) -> &NetworkSettings {
        &self.network
    }

    /// The account, with the wallet's fog settings.
    pub fn account(&self) -> &AccountKey {
        self.client.account()
    }

    /// The default address (subaddress 0, with fog when the wallet has fog settings).
    pub fn address(&self) -> PublicAddress {
        self.client.account().default_subaddress()
    }

    /// The client (its state, pending sends).
    pub fn client(&self) -> &FogClient<GrpcTransport> {
        &self.client
    }

    /// The client, for calls the session does not wrap (swaps); [`Self::save`] writes what
    /// they changed.
    pub fn client_mut(&mut self) -> &mut FogClient<GrpcTransport> {
        &mut self.client
    }

    /// Round trips and bytes so far.
    pub fn stats(&self) -> TransportStats {
        self.client.transport().stats()
    }

    /// One line for each service whose platform's TCB the attestation policy accepted
    /// although it is not up to date (none when every TCB is up to date).
    pub fn attestation_notes(&self) -> Vec<String> {
        self.client
            .transport()
            .verdicts()
            .into_iter()
            .filter(|(_, v)| v.tcb_below_date())
            .map(|(service, v)| {
                let advisories = if v.advisory_ids.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", v.advisory_ids.join(", "))
                };
                format!(
                    "{service} runs on a {} platform whose TCB is {}{advisories}: accepted by this \
                     wallet's attestation policy",
                    v.kind.name(),
                    v.tcb_status.name()
                )
            })
            .collect()
    }

    /// The contact names, in the order history's `Sender::Authenticated` indexes them.
    pub fn contact_name(&self, index: usize) -> Option<&str> {
        self.contacts.get(index).map(|(n, _)| n.as_str())
    }

    /// The name of the contact whose address has this short address hash (as destination
    /// memos name a recipient).
    pub fn contact_with_hash(&self, hash: &fog_account::ShortAddressHash) -> Option<&str> {
        self.contacts
            .iter()
            .find(|(_, a)| a.short_address_hash() == *hash)
            .map(|(n, _)| n.as_str())
    }

    /// The name of the contact with this address, if any.
    pub fn contact_with_address(&self, address: &PublicAddress) -> Option<&str> {
        self.contacts
            .iter()
            .find(|(_, a)| a == address)
            .map(|(n, _)| n.as_str())
    }

    /// A recipient: a contact's name or a b58 address.
    pub fn recipient(&self, to: &str) -> Result<PublicAddress, WalletError> {
        if let Some((_, address)) = self.contacts.iter().find(|(n, _)| n == to) {
            return Ok(address.clone());
        }
        b58_decode_public_address(to.trim()).map_err(|e| {
            WalletError::Usage(format!(
                "--to {to:?} is neither a contact of this wallet nor a b58 address ({e})"
            ))
        })
    }

    /// Checks the balance (services.md 3.4), calling `progress` after every answer, and
    /// writes the new state to the wallet file. The pair is exact for blocks below its
    /// `block_count`.
    pub async fn balance(
        &mut self,
        progress: impl FnMut(&SyncProgress) + Send,
    ) -> Result<Balance, WalletError> {
        let balance = self
            .client
            .check_balance_with_progress(progress)
            .await
            .map_err(|e| self.client_error(e))?;
        self.save()?;
        Ok(balance)
    }

    /// The last balance checked (from the wallet file or this session), without asking anyone.
    pub fn last_balance(&self) -> Option<&Balance> {
        self.client.last_balance()
    }

    /// History for the blocks the last balance covers; authenticated senders are matched
    /// against the contacts ([`Self::contact_name`]).
    pub fn history(&self) -> Vec<HistoryEntry> {
        let contacts: Vec<PublicAddress> = self.contacts.iter().map(|(_, a)| a.clone()).collect();
        self.client.history(&contacts)
    }

    /// The smallest fee the ledger node accepts for `token` (in its smallest unit), as it
    /// publishes it in `GetLedgerInfo`: what `send` pays when no fee is given. A node that
    /// publishes minimum fees without this token does not accept it
    /// ([`WalletError::TokenNotAccepted`]). A node that publishes none (one older than the
    /// field) leaves MOB at MobileCoin's minimum, 0.0004 MOB, and other tokens unknown: then
    /// the fee must be given ([`WalletError::Usage`]).
    pub async fn minimum_fee(&mut self, token: TokenId) -> Result<Amount, WalletError> {
        let info = self
            .client
            .transport_mut()
            .ledger_info()
            .await
            .map_err(|e| self.client_error(e))?;
        published_fee(&info.minimum_fees, token, &self.network.node_url)
    }

    /// Builds and submits a payment (the fee is MobileCoin's minimum for MOB unless given)
    /// and writes the state, which now reserves the inputs, to the wallet file.
    pub async fn submit(
        &mut self,
        to: &PublicAddress,
        amount: Amount,
        fee: Option<Amount>,
    ) -> Result<SendReceipt, WalletError> {
        let receipt = self
            .client
            .submit_payment(to, amount, fee, &mut rand::rngs::OsRng)
            .await
            .map_err(|e| self.client_error(e))?;
        self.save()?;
        Ok(receipt)
    }

    /// Builds and signs a payment without submitting it (`send --save-tx`), and writes the
    /// state of the balance check it made. Nothing is reserved.
    pub async fn build(
        &mut self,
        to: &PublicAddress,
        amount: Amount,
        fee: Option<Amount>,
    ) -> Result<SignedPayment, WalletError> {
        let result = self
            .client
            .build_payment(to, amount, fee, &mut rand::rngs::OsRng)
            .await;
        let payment = result.map_err(|e| self.client_error(e))?;
        self.save()?;
        Ok(payment)
    }

    /// Submits a payment built earlier (read from a saved file) and writes the state, which
    /// now reserves its inputs, to the wallet file. A refused payment writes nothing.
    pub async fn submit_signed(
        &mut self,
        payment: &SignedPayment,
    ) -> Result<SendReceipt, WalletError> {
        let receipt = self
            .client
            .submit_signed(payment)
            .await
            .map_err(|e| self.client_error(e))?;
        self.save()?;
        Ok(receipt)
    }

    /// Waits until a submitted payment has landed and its change shows up, then writes the
    /// state. The state is written even when waiting fails, since the payment may still land.
    pub async fn wait(&mut self, receipt: &mut SendReceipt) -> Result<Balance, WalletError> {
        let result = self.client.wait_for(receipt).await;
        let saved = self.save();
        let balance = result.map_err(|e| self.client_error(e))?;
        saved?;
        Ok(balance)
    }

    /// Writes the wallet file with the current client state (atomically).
    pub fn save(&mut self) -> Result<(), WalletError> {
        self.file.client_state = Some(self.client.state().to_bytes());
        self.file.save(&self.path, true)
    }

    /// The client's error, with the service's address when its message lacks it (for calls
    /// made through [`Self::client_mut`]).
    pub fn client_error(&self, source: ClientError) -> WalletError {
        let service = match &source {
            ClientError::Refused { service, .. } | ClientError::BadResponse { service, .. } => {
                Some(*service)
            }
            _ => None,
        };
        let at = service.and_then(|s| match s {
            Service::View => Some(self.network.view_url.clone()),
            Service::KeyImages | Service::MerkleProofs | Service::Blocks | Service::BlockIds => {
                Some(self.network.ledger_url.clone())
            }
            Service::Node => Some(self.network.node_url.clone()),
            _ => None,
        });
        WalletError::Client { source, at }
    }
}

/// The fee of `token` by the minimum fees a node at `node_url` published (see
/// [`Session::minimum_fee`]): fog-client's [`default_fee`], its refusals worded for the
/// command line.
fn published_fee(
    minimum_fees: &std::collections::HashMap<u64, u64>,
    token: TokenId,
    node_url: &str,
) -> Result<Amount, WalletError> {
    // `default_fee` refuses for one of three reasons; the fees it was given say which.
    default_fee(minimum_fees, token).map_err(|_| match minimum_fees.get(&token.0) {
        // A published MOB fee above MobileCoin's minimum.
        Some(fee) => WalletError::Usage(format!(
            "the ledger node at {node_url} asks a MOB fee of {}, above MobileCoin's minimum \
             of 0.0004 MOB: give --fee to pay it",
            crate::amount::format_amount(u128::from(*fee), 0)
        )),
        None if !minimum_fees.is_empty() => {
            let mut accepted: Vec<u64> = minimum_fees.keys().copied().collect();
            accepted.sort_unstable();
            WalletError::TokenNotAccepted {
                token: token.0,
                accepted,
                at: node_url.to_owned(),
            }
        }
        None => WalletError::Usage(format!(
            "the ledger node at {node_url} does not publish minimum fees: give --fee for token {} \
             (the fee is paid in the token sent)",
            token.0
        )),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use fog_transaction::validation::MOB_MINIMUM_FEE;

    use super::*;

    const NODE: &str = "http://127.0.0.1:3223";

    #[test]
    fn the_fee_is_the_published_minimum_of_the_token() {
        let fees = HashMap::from([(0, 400_000_000), (1, 1024)]);
        let fee = published_fee(&fees, TokenId(1), NODE).unwrap();
        assert_eq!((fee.value, fee.token_id), (1024, TokenId(1)));
        let fee = published_fee(&fees, TokenId::MOB, NODE).unwrap();
        assert_eq!((fee.value, fee.token_id), (400_000_000, TokenId::MOB));
        // A node that raised MOB's minimum above MobileCoin's is not paid it unasked.
        let raised = HashMap::from([(0, 1_000_000_000)]);
        let e = published_fee(&raised, TokenId::MOB, NODE).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("give --fee"), "{e}");
    }

    #[test]
    fn a_token_the_node_does_not_take_is_refused_naming_those_it_does() {
        let fees = HashMap::from([(5, 2560), (0, 400_000_000), (1, 1024)]);
        let e = published_fee(&fees, TokenId(2), NODE).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "the ledger node at http://127.0.0.1:3223 does not accept token 2: it takes \
             token(s) 0, 1, 5"
        );
    }

    #[test]
    fn a_node_publishing_no_fees_leaves_mob_at_its_minimum_and_others_to_the_user() {
        let none = HashMap::new();
        let fee = published_fee(&none, TokenId::MOB, NODE).unwrap();
        assert_eq!(fee.value, MOB_MINIMUM_FEE);
        let e = published_fee(&none, TokenId(1), NODE).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .contains("does not publish minimum fees: give --fee for token 1"),
            "{e}"
        );
    }
}
