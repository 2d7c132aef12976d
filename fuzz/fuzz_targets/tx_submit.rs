//! Transactions as the ledger node receives them: a `SubmitTxRequest` protobuf, then
//! `Tx::try_from_wire`, then everything the node runs on a submitted transaction
//! (`Node::submit_tx`: MobileCoin's validation rules with root proofs from the ledger, the
//! ledger's spent key images and output public keys, the pending set) against a small fixed
//! ledger. Also `Tx::decode` on the raw bytes. Nothing panics, the node answers with a
//! verdict (never a storage error), and whatever decodes re-encodes to the same value.
#![no_main]

use std::sync::OnceLock;

use fog_account::AccountKey;
use fog_api::fog_node::SubmitTxRequest;
use fog_ledger_db::LedgerDb;
use fog_node::{write_origin_block, Node, NodeConfig, Verdict};
use fog_transaction::{tx::Tx, Amount, TokenId};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use rand_chacha::{rand_core::SeedableRng, ChaCha20Rng};

const MOB: u64 = 1_000_000_000_000;

/// The node's ledger: an origin block of 32 TxOuts, every fourth one paying one sender.
/// `crates/fog-node/examples/fuzz_seeds.rs` builds it with the same calls in the same order,
/// so the transactions it writes to `fuzz/seeds/tx_submit` are valid here: change both
/// together.
fn fixture_ledger() -> LedgerDb {
    let mut rng = ChaCha20Rng::from_seed([0x4c; 32]);
    let sender = AccountKey::random(&mut rng);
    let funding: Vec<_> = (0..32u64)
        .map(|i| {
            if i % 4 == 0 {
                (
                    sender.default_subaddress(),
                    Amount::new((i + 1) * MOB, TokenId::MOB),
                )
            } else {
                (
                    AccountKey::random(&mut rng).default_subaddress(),
                    Amount::new(MOB, TokenId::MOB),
                )
            }
        })
        .collect();
    let ledger = LedgerDb::create_in_memory().expect("an in-memory ledger");
    write_origin_block(&ledger, &funding, None, &mut rng).expect("the origin block");
    ledger
}

fn ledger() -> &'static LedgerDb {
    static LEDGER: OnceLock<LedgerDb> = OnceLock::new();
    LEDGER.get_or_init(fixture_ledger)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = Tx::decode(data) {
        assert_eq!(Tx::decode(&tx.encode_to_vec()).as_ref(), Ok(&tx));
    }
    // The service's path: a request without a transaction is refused before the node.
    let Ok(request) = SubmitTxRequest::decode(data) else {
        return;
    };
    let Some(wire) = request.tx else {
        return;
    };
    let Ok(tx) = Tx::try_from_wire(&wire) else {
        return;
    };
    assert_eq!(Tx::decode(&tx.encode_to_vec()).as_ref(), Ok(&tx));
    // A fresh node each time, so one input's pending transaction never decides another's.
    let node = Node::new(ledger().clone(), NodeConfig::default()).expect("a node on the fixture");
    let outcome = node
        .submit_tx(tx)
        .expect("an in-memory ledger has no storage trouble");
    assert_eq!(outcome.block_count, 1);
    match outcome.verdict {
        Verdict::Invalid { rule } | Verdict::DoubleSpend { rule } => assert!(!rule.is_empty()),
        _ => {}
    }
});
