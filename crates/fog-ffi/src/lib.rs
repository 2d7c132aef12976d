#![doc = include_str!("../README.md")]
// The scaffolding UniFFI generates (`setup_scaffolding!`, `#[uniffi::export]`) is
// `extern "C"` functions with `#[no_mangle]` and `unsafe` blocks; no `unsafe` is written by
// hand in this crate.
#![allow(unsafe_code)]
#![deny(missing_docs)]

use std::{future::Future, sync::OnceLock};

pub mod error;
pub mod keys;
pub mod swap;
pub mod wallet;

pub use error::{FogError, Result, Service};
pub use keys::{Account, AddressInfo, FogSettings};
pub use swap::{check_offer, FillReceipt, OfferSummary, TokenAmount};
pub use wallet::{
    Balance, BalanceProgress, Contact, Destination, EntryKind, HistoryEntry, NetworkConfig,
    SendReceipt, Sender, SyncProgress, TokenBalance, Wallet,
};

uniffi::setup_scaffolding!("fog");

/// The runtime every async call runs on: two worker threads, started at the first call.
static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("fog-ffi")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the async runtime: {e}"))
        })
        .as_ref()
        .map_err(|reason| FogError::Internal {
            reason: reason.clone(),
        })
}

/// Runs `call` on [`runtime`] and waits for it from whatever executor polls the returned
/// future (a foreign language's event loop). The call goes on if that future is dropped.
pub(crate) async fn on_runtime<T, F>(call: F) -> Result<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    runtime()?
        .spawn(call)
        .await
        .map_err(|e| FogError::Internal {
            reason: if e.is_panic() {
                "the call panicked".into()
            } else {
                "the call was cancelled".into()
            },
        })?
}
