//! Fog's web wallet core: [`fog_client`] compiled to WebAssembly, with a grpc-web transport
//! over the browser's `fetch` and a small JavaScript API (`Wallet`: restore from a
//! mnemonic, check the balance with progress, history, send with progress).
//!
//! - [`grpc_web`]: the grpc-web framing of unary calls, no I/O (tested natively);
//! - [`network`]: the network settings a page is given, as JSON, checked (tested natively);
//! - `transport` and `api` (wasm32 only): the [`fog_client::Transport`] over `fetch`, and
//!   the `wasm-bindgen` API the page calls.
//!
//! Build it with `scripts/web.sh build` (wasm32-unknown-unknown, then `wasm-bindgen`); the
//! page is `web/`, served by `fogd local-network --web ADDR`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod grpc_web;
pub mod network;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod api;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod transport;
