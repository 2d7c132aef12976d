#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Test support: a panic is how a helper fails the test that called it.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

pub mod chain;
pub mod node;
pub mod postgres;
