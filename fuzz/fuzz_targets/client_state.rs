//! The client state a wallet file stores (`fog_client::AccountState::from_bytes`): whatever
//! loads stores back to the same state, and the balance, history and input selection that a
//! wallet computes from it never panic.
#![no_main]

use std::sync::OnceLock;

use fog_account::AccountKey;
use fog_client::{send::select_inputs, AccountState};
use fog_crypto::RistrettoPrivate;
use fog_transaction::TokenId;
use libfuzzer_sys::fuzz_target;

fn account() -> &'static AccountKey {
    static A: OnceLock<AccountKey> = OnceLock::new();
    A.get_or_init(|| {
        AccountKey::new(
            RistrettoPrivate::from_bytes_mod_order(&[0x5e; 32]),
            RistrettoPrivate::from_bytes_mod_order(&[0xa1; 32]),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut state) = AccountState::from_bytes(data) else {
        return;
    };
    let again = AccountState::from_bytes(&state.to_bytes());
    assert_eq!(again.ok().as_ref(), Some(&state));

    let balance = state.balance();
    let _ = fog_client::history::history(account(), &state, balance.block_count, &[]);
    for (&token, &value) in balance.balances.iter().take(4) {
        let _ = select_inputs(&state, TokenId(token), value, balance.block_count);
    }
    state.settle_pending_sends(balance.block_count);
    // What the wallet saves after a check still loads.
    let saved = AccountState::from_bytes(&state.to_bytes());
    assert_eq!(saved.ok().as_ref(), Some(&state));
});
