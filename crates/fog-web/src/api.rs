//! The JavaScript API (`wasm-bindgen`): one `Wallet` per account.
//!
//! ```js
//! const w = Wallet.restore(networkJson, mnemonic, 0);
//! const b = await w.checkBalance(p => show(p.viewRequests, p.viewBlockCount));
//! // b = { blockCount: 17, balances: [{ tokenId: 0, value: "100000000000000" }] }
//! const h = w.history();
//! const r = await w.send(address, "1000000000000", s => show(s.stage));
//! ```
//!
//! Values are picoMOB as decimal strings (they exceed 2^53). A wallet runs one call at a
//! time; a second while one is running is refused ("busy"). Errors are `Error`s whose
//! message is fog-client's.

use std::{cell::RefCell, rc::Rc};

use fog_account::{b58_decode_public_address, b58_encode_public_address};
use fog_client::{
    client::landed,
    history::{EntryKind, Sender},
    AccountState, Balance, ClientConfig, ClientError, FogClient, SendReceipt, SyncProgress,
};
use fog_transaction::{Amount, TokenId};
use js_sys::{Array, Function, Object, Promise, Reflect};
use send_wrapper::SendWrapper;
use wasm_bindgen::{prelude::*, JsCast};
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::{network::WebNetwork, transport::WebTransport};

/// How long `send` waits for the payment to land and its change to show up.
const CONFIRM_TIMEOUT_MS: f64 = 120_000.0;
/// How often it checks while waiting.
const POLL_MS: i32 = 500;

type Client = FogClient<WebTransport>;

/// A wallet: one account and its client.
#[wasm_bindgen]
pub struct Wallet {
    client: Rc<RefCell<Option<Client>>>,
    address: String,
}

fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

fn error(text: impl core::fmt::Display) -> JsValue {
    js_sys::Error::new(&text.to_string()).into()
}

fn balance_value(b: &Balance) -> JsValue {
    let list = Array::new();
    for (token, value) in &b.balances {
        list.push(&object(&[
            ("tokenId", JsValue::from_f64(*token as f64)),
            ("value", JsValue::from_str(&value.to_string())),
        ]));
    }
    object(&[
        ("blockCount", JsValue::from_f64(b.block_count as f64)),
        ("balances", list.into()),
    ])
}

fn progress_value(p: &SyncProgress) -> JsValue {
    let n = |v: u64| JsValue::from_f64(v as f64);
    object(&[
        ("stage", JsValue::from_str("balance")),
        ("viewRequests", n(p.view_requests)),
        ("searchKeys", n(p.search_keys)),
        ("recordsFound", n(p.records_found)),
        ("blocksScanned", n(p.blocks_scanned)),
        ("keyImagesChecked", n(p.key_images_checked)),
        ("viewBlockCount", n(p.view_block_count)),
    ])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Resolves after `ms` milliseconds (the page's timer).
async fn sleep_ms(ms: i32) {
    let promise = Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global();
        if let Some(w) = global.dyn_ref::<web_sys::Window>() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        } else if let Some(w) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        } else {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Calls the optional progress callback (its errors are ignored: progress is advisory).
fn report(progress: &Option<Function>, value: &JsValue) {
    if let Some(f) = progress {
        let _ = f.call1(&JsValue::NULL, value);
    }
}

/// `FogClient::wait_for` with the page's clock and timer: checks until
/// [`fog_client::client::landed`] says the payment's inputs are seen spent and its change
/// shows up below the balance's block count.
async fn wait_landed(
    client: &mut Client,
    receipt: &mut SendReceipt,
    progress: &Option<Function>,
) -> Result<Balance, ClientError> {
    let started = js_sys::Date::now();
    loop {
        let balance = client.check_balance().await?;
        if landed(client.state(), &balance, receipt)? {
            return Ok(balance);
        }
        if js_sys::Date::now() - started >= CONFIRM_TIMEOUT_MS {
            return Err(ClientError::Timeout {
                what: "the payment to land and its change to show up in fog view",
                seconds: (CONFIRM_TIMEOUT_MS / 1000.0) as u64,
            });
        }
        report(
            progress,
            &object(&[
                ("stage", JsValue::from_str("waiting")),
                ("blockCount", JsValue::from_f64(balance.block_count as f64)),
            ]),
        );
        sleep_ms(POLL_MS).await;
    }
}

impl Wallet {
    /// Takes the client for one call ("busy" if another call holds it).
    fn take(&self) -> Result<Client, JsValue> {
        self.client
            .borrow_mut()
            .take()
            .ok_or_else(|| error("the wallet is busy with another call"))
    }
}

#[wasm_bindgen]
impl Wallet {
    /// A wallet from a BIP39 mnemonic at a SLIP-10 account index, for the network described
    /// by `network_json` (see the `network` module). Nothing is sent yet.
    pub fn restore(
        network_json: &str,
        mnemonic: &str,
        account_index: u32,
    ) -> Result<Wallet, JsValue> {
        let net = WebNetwork::parse(network_json).map_err(error)?;
        let account = net.account(mnemonic, account_index).map_err(error)?;
        let address = b58_encode_public_address(&account.default_subaddress());
        let config = ClientConfig::new(net.ingest_verifier.clone());
        let client = FogClient::new(WebTransport::new(net), account, AccountState::new(), config);
        Ok(Wallet {
            client: Rc::new(RefCell::new(Some(client))),
            address,
        })
    }

    /// The account's default address (b58).
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// Checks the balance; `progress` (optional) is called after every answer with
    /// `{stage: "balance", viewRequests, searchKeys, recordsFound, blocksScanned,
    /// keyImagesChecked, viewBlockCount}`. Resolves to `{blockCount, balances}`.
    #[wasm_bindgen(js_name = checkBalance)]
    pub fn check_balance(&self, progress: Option<Function>) -> Promise {
        let cell = Rc::clone(&self.client);
        let taken = self.take();
        future_to_promise(async move {
            let mut client = taken?;
            let callback = SendWrapper::new(progress);
            let result = client
                .check_balance_with_progress(move |p| report(&callback, &progress_value(p)))
                .await;
            *cell.borrow_mut() = Some(client);
            result.map(|b| balance_value(&b)).map_err(error)
        })
    }

    /// The history the last balance check covers: `[{blockIndex, globalIndex, tokenId,
    /// value, kind: "received"|"spent", change, sender, totalOutlay?, fee?}]`, oldest first.
    pub fn history(&self) -> Result<Array, JsValue> {
        let guard = self.client.borrow();
        let client = guard
            .as_ref()
            .ok_or_else(|| error("the wallet is busy with another call"))?;
        let list = Array::new();
        for e in client.history(&[]) {
            let (kind, change, sender) = match &e.kind {
                EntryKind::Received { sender, change } => (
                    "received",
                    *change,
                    match sender {
                        Sender::Unknown => String::new(),
                        Sender::Authenticated(i) => format!("contact {i}"),
                        Sender::Claimed(hash) => hex(&hash.0),
                    },
                ),
                EntryKind::Spent => ("spent", false, String::new()),
            };
            let mut fields = vec![
                ("blockIndex", JsValue::from_f64(e.block_index as f64)),
                ("globalIndex", JsValue::from_f64(e.global_index as f64)),
                ("tokenId", JsValue::from_f64(e.amount.token_id.0 as f64)),
                ("value", JsValue::from_str(&e.amount.value.to_string())),
                ("kind", JsValue::from_str(kind)),
                ("change", JsValue::from_bool(change)),
                ("sender", JsValue::from_str(&sender)),
            ];
            if let Some(d) = &e.destination {
                fields.push((
                    "totalOutlay",
                    JsValue::from_str(&d.total_outlay.to_string()),
                ));
                fields.push(("fee", JsValue::from_str(&d.fee.to_string())));
            }
            list.push(&object(&fields));
        }
        Ok(list)
    }

    /// Pays `value` picoMOB (a decimal string) to the b58 address `to` with the minimum fee,
    /// and waits until it has landed and the change shows up. `progress` (optional) is
    /// called with `{stage}`: "building" (balance, inputs, rings, fog reports, signing; the
    /// balance check's own progress objects too), "submitting", "submitted" (with
    /// `txHash`), "waiting" (with `blockCount`), "landed" (with `blockIndex`). Resolves to
    /// `{txHash, value, fee, blockIndex, blockCount, balances}`.
    pub fn send(&self, to: &str, value: &str, progress: Option<Function>) -> Promise {
        let cell = Rc::clone(&self.client);
        let parsed = b58_decode_public_address(to.trim())
            .map_err(|e| error(format!("the recipient's address: {e}")))
            .and_then(|addr| {
                let v: u64 = value.trim().parse().map_err(|_| {
                    error(format!(
                        "the amount {value:?} is not a whole number of picoMOB"
                    ))
                })?;
                Ok((addr, v))
            });
        let taken = parsed.and_then(|p| self.take().map(|c| (p, c)));
        future_to_promise(async move {
            let ((to, value), mut client) = taken?;
            let outcome = send_and_wait(&mut client, &to, value, &progress).await;
            *cell.borrow_mut() = Some(client);
            outcome.map_err(error)
        })
    }

    /// `{roundTrips, bytesSent, bytesReceived, sessionsOpened}` of this wallet's transport.
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        let guard = self.client.borrow();
        let client = guard
            .as_ref()
            .ok_or_else(|| error("the wallet is busy with another call"))?;
        let s = client.transport().stats();
        let n = |v: u64| JsValue::from_f64(v as f64);
        Ok(object(&[
            ("roundTrips", n(s.round_trips)),
            ("bytesSent", n(s.bytes_sent)),
            ("bytesReceived", n(s.bytes_received)),
            ("sessionsOpened", n(s.sessions_opened)),
        ]))
    }
}

async fn send_and_wait(
    client: &mut Client,
    to: &fog_account::PublicAddress,
    value: u64,
    progress: &Option<Function>,
) -> Result<JsValue, ClientError> {
    let stage = |s: &str| object(&[("stage", JsValue::from_str(s))]);
    report(progress, &stage("building"));
    let mut rng = rand::rngs::OsRng;
    let payment = client
        .build_payment(to, Amount::new(value, TokenId::MOB), None, &mut rng)
        .await?;
    report(progress, &stage("submitting"));
    let mut receipt = client.submit_signed(&payment).await?;
    let tx_hash = hex(&receipt.tx_hash);
    report(
        progress,
        &object(&[
            ("stage", JsValue::from_str("submitted")),
            ("txHash", JsValue::from_str(&tx_hash)),
        ]),
    );
    let balance = wait_landed(client, &mut receipt, progress).await?;
    let block_index = receipt
        .block_index
        .map_or(JsValue::NULL, |b| JsValue::from_f64(b as f64));
    report(
        progress,
        &object(&[
            ("stage", JsValue::from_str("landed")),
            ("blockIndex", block_index.clone()),
        ]),
    );
    let b = balance_value(&balance);
    Ok(object(&[
        ("txHash", JsValue::from_str(&tx_hash)),
        (
            "value",
            JsValue::from_str(&receipt.amount.value.to_string()),
        ),
        ("fee", JsValue::from_str(&receipt.fee.value.to_string())),
        ("blockIndex", block_index),
        (
            "blockCount",
            Reflect::get(&b, &"blockCount".into()).unwrap_or(JsValue::NULL),
        ),
        (
            "balances",
            Reflect::get(&b, &"balances".into()).unwrap_or(JsValue::NULL),
        ),
    ]))
}
