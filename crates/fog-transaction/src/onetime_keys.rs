//! One-time keys of TxOuts (CryptoNote style, with MobileCoin's subaddresses).
//!
//! Sender with tx private key `r`, recipient subaddress `(C, D)`:
//! target key `P = Hs(r·C)·G + D`, public key `R = r·D`, shared secret `S = r·C`.
//! Recipient with account view key `a`: `S = a·R`, `D' = P − Hs(a·R)·G`, one-time private key
//! `x = Hs(a·R) + d_i`.

use curve25519_dalek::{constants::RISTRETTO_BASEPOINT_TABLE, scalar::Scalar};
use fog_crypto::{hash, RistrettoPrivate, RistrettoPublic};

fn hs(point: &RistrettoPublic) -> Scalar {
    hash::hash_to_scalar(&[hash::domain::ONETIME_KEY_HASH_TO_SCALAR, point.as_bytes()])
}

/// `P = Hs(r·C)·G + D`.
pub fn create_tx_out_target_key(
    tx_private_key: &RistrettoPrivate,
    recipient_view_public: &RistrettoPublic,
    recipient_spend_public: &RistrettoPublic,
) -> RistrettoPublic {
    let s = create_shared_secret(recipient_view_public, tx_private_key);
    RistrettoPublic::from_point(
        &hs(&s) * RISTRETTO_BASEPOINT_TABLE + recipient_spend_public.as_point(),
    )
}

/// `R = r·D`.
pub fn create_tx_out_public_key(
    tx_private_key: &RistrettoPrivate,
    recipient_spend_public: &RistrettoPublic,
) -> RistrettoPublic {
    RistrettoPublic::from_point(tx_private_key.as_scalar() * recipient_spend_public.as_point())
}

/// `S = x·P` as a point: `r·C` for the sender, `a·R` for the recipient.
pub fn create_shared_secret(
    public: &RistrettoPublic,
    private: &RistrettoPrivate,
) -> RistrettoPublic {
    RistrettoPublic::from_point(private.as_scalar() * public.as_point())
}

/// The recipient's shared secret `a·R`.
pub fn get_tx_out_shared_secret(
    view_private: &RistrettoPrivate,
    tx_out_public_key: &RistrettoPublic,
) -> RistrettoPublic {
    create_shared_secret(tx_out_public_key, view_private)
}

/// `D' = P − Hs(a·R)·G`: the spend public key of the subaddress the TxOut was sent to, if it
/// was sent to this account.
pub fn recover_public_subaddress_spend_key(
    view_private: &RistrettoPrivate,
    target_key: &RistrettoPublic,
    tx_out_public_key: &RistrettoPublic,
) -> RistrettoPublic {
    let s = get_tx_out_shared_secret(view_private, tx_out_public_key);
    RistrettoPublic::from_point(target_key.as_point() - &hs(&s) * RISTRETTO_BASEPOINT_TABLE)
}

/// `x = Hs(a·R) + d_i`.
pub fn recover_onetime_private_key(
    tx_out_public_key: &RistrettoPublic,
    view_private: &RistrettoPrivate,
    subaddress_spend_private: &RistrettoPrivate,
) -> RistrettoPrivate {
    let s = get_tx_out_shared_secret(view_private, tx_out_public_key);
    RistrettoPrivate::from_scalar(hs(&s) + subaddress_spend_private.as_scalar())
}
