#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
mod node;
mod origin;
mod service;

pub use config::{check_fee_map, NodeConfig, ACCEPTABLE_MOB_FEES, SMALLEST_MINIMUM_FEE_LOG2};
pub use error::NodeError;
pub use node::{
    rule_name, BlockCutter, Node, NodeCounters, SubmitOutcome, Verdict,
    RULE_KEY_IMAGE_ALREADY_PENDING, RULE_OUTPUT_PUBLIC_KEY_ALREADY_PENDING, RULE_PENDING_SET_FULL,
};
pub use origin::{init_ledger, make_tx_out, write_origin_block, ORIGIN_TXOUT_VERSION};
pub use service::{
    observation, run, run_spec, serve, serve_spec, serve_with_shutdown, LedgerNodeService,
    MAX_BLOCKS_PER_CALL, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_TXOUTS_PER_CALL,
    METRICS_PREFIX,
};
