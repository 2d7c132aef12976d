//! Atomic swaps between tokens (MobileCoin's signed contingent inputs, MCIP 31; partial
//! fills, MCIP 42), over fog-client's `swap` module: the records of an offer and of a fill,
//! and [`check_offer`]. The async calls that make and fill offers are methods of
//! [`crate::Wallet`] ([`crate::Wallet::make_offer`], [`crate::Wallet::fill_offer`]).
//!
//! An offer is MobileCoin's `SignedContingentInput` protobuf, as fog-client encodes it: the
//! maker's TxOut of one token, signed over rules that require a payment in another token to
//! the maker. It holds no secret but reveals the amounts it trades; it can travel by any
//! channel. (`fog-wallet offer` wraps the same bytes in a file with a header and a checksum.)

use fog_client::{
    swap::{self, Fill, Take},
    ClientError,
};
use fog_transaction::Amount;

use crate::{
    error::{FogError, Result},
    wallet::Balance,
};

/// A value of one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TokenAmount {
    /// The value in the token's smallest unit (picoMOB for MOB).
    pub value: u64,
    /// The token (0 is MOB).
    pub token_id: u64,
}

impl From<Amount> for TokenAmount {
    fn from(a: Amount) -> Self {
        Self {
            value: a.value,
            token_id: a.token_id.0,
        }
    }
}

/// What a checked offer trades.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct OfferSummary {
    /// What a full fill gives the taker (the offered TxOut less any change the offer
    /// requires back to the maker).
    pub give: TokenAmount,
    /// What a full fill pays the maker, per required output (one for offers this library
    /// makes).
    pub want: Vec<TokenAmount>,
    /// Whether a taker may fill part of it, paying in proportion (rounded up).
    pub partial: bool,
    /// The least of the offered token a partial fill must take (0 for a full-fill offer, or
    /// a partial offer without a minimum).
    pub min_fill: u64,
    /// The first block in which the offer can no longer be filled (0: no limit).
    pub max_tombstone_block: u64,
    /// The offered TxOut's key image, hex: once it is spent, the offer is filled or
    /// cancelled.
    pub key_image: String,
    /// The block version the offer was signed for.
    pub block_version: u32,
}

impl From<&swap::OfferSummary> for OfferSummary {
    fn from(s: &swap::OfferSummary) -> Self {
        let (partial, min_fill) = match s.fill {
            Fill::Full => (false, 0),
            Fill::Partial { min_fill } => (true, min_fill),
        };
        Self {
            give: s.give.into(),
            want: s.ask.iter().map(|a| TokenAmount::from(*a)).collect(),
            partial,
            min_fill,
            max_tombstone_block: s.max_tombstone_block,
            key_image: hex::encode(s.key_image.0),
            block_version: s.block_version.get(),
        }
    }
}

/// What a fill did, once it landed.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FillReceipt {
    /// The transaction's hash, hex.
    pub tx_hash: String,
    /// What this account took of the offered token (the fee is not deducted here).
    pub received: TokenAmount,
    /// What it paid the maker, per required output.
    pub paid: Vec<TokenAmount>,
    /// The fee, in MOB (as given to [`crate::Wallet::fill_offer`], or the ledger node's
    /// minimum).
    pub fee: TokenAmount,
    /// The first block in which the fill could no longer have landed.
    pub tombstone_block: u64,
    /// The block that holds it.
    pub block_index: u64,
    /// This account's balance once the fill showed up through view.
    pub balance: Balance,
}

/// fog-client's refusal of an offer's bytes, as [`FogError::InvalidOffer`].
pub(crate) fn invalid_offer(e: ClientError) -> FogError {
    match e {
        ClientError::InvalidRequest(reason) => FogError::InvalidOffer {
            reason: match reason.strip_prefix("the offer is not valid: ") {
                Some(rest) => rest.to_owned(),
                None => reason,
            },
        },
        other => FogError::InvalidOffer {
            reason: other.to_string(),
        },
    }
}

/// Decodes and checks an offer without asking anyone: its encoding, block version, the ring
/// signature over the input and its rules, the required outputs' amounts and the
/// partial-fill rules. Bytes that do not pass raise [`FogError::InvalidOffer`]. Whether it is
/// still unfilled (and unexpired at the ledger's height) shows only when filling it.
#[uniffi::export]
pub fn check_offer(offer: Vec<u8>) -> Result<OfferSummary> {
    let (_, summary) = swap::check_offer(&offer).map_err(invalid_offer)?;
    Ok(OfferSummary::from(&summary))
}

/// The local checks of an offer's terms, before anything is asked of a service:
/// `(give, want, fill)`.
pub(crate) fn offer_terms(
    give: Amount,
    want: Amount,
    partial: Option<u64>,
    valid_for_blocks: u64,
) -> Result<Fill> {
    let invalid = |reason: &str| {
        Err(FogError::InvalidRequest {
            reason: reason.into(),
        })
    };
    if give.value == 0 || want.value == 0 {
        return invalid("an offer gives and asks nonzero amounts");
    }
    if give.token_id == want.token_id {
        return invalid("an offer swaps two different tokens: give_token and want_token differ");
    }
    if valid_for_blocks == 0 {
        return invalid("an offer is valid for at least 1 block");
    }
    match partial {
        None => Ok(Fill::Full),
        Some(min_fill) if min_fill > give.value => {
            invalid("the minimum fill is more than the offer gives")
        }
        Some(min_fill) => Ok(Fill::Partial { min_fill }),
    }
}

/// How much of a checked offer to take: all of it (`None`, or the whole of a full-fill
/// offer), or `value` of the offered token from a partial offer, within its bounds.
pub(crate) fn take_of(summary: &swap::OfferSummary, take: Option<u64>) -> Result<Take> {
    let give = summary.give;
    match (take, summary.fill) {
        (None, _) => Ok(Take::All),
        (Some(v), Fill::Full) if v == give.value => Ok(Take::All),
        (Some(_), Fill::Full) => Err(FogError::InvalidRequest {
            reason: format!(
                "this offer can only be filled in full ({} of token {})",
                give.value, give.token_id.0
            ),
        }),
        (Some(v), Fill::Partial { min_fill }) if v < min_fill.max(1) || v > give.value => {
            Err(FogError::InvalidRequest {
                reason: format!(
                    "take between {} and {} of token {}",
                    min_fill.max(1),
                    give.value,
                    give.token_id.0
                ),
            })
        }
        (Some(v), Fill::Partial { .. }) => Ok(Take::Value(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fog_transaction::TokenId;

    #[test]
    fn bad_offers_and_terms_are_refused() {
        for bytes in [vec![], vec![0xff; 40], b"not an offer".to_vec()] {
            let e = check_offer(bytes).unwrap_err();
            assert!(matches!(e, FogError::InvalidOffer { .. }), "{e:?}");
            assert!(e.message().contains("offer"), "{}", e.message());
        }
        let mob = |v| Amount::new(v, TokenId::MOB);
        let t1 = |v| Amount::new(v, TokenId(1));
        assert_eq!(offer_terms(mob(5), t1(7), None, 10), Ok(Fill::Full));
        assert_eq!(
            offer_terms(mob(5), t1(7), Some(2), 10),
            Ok(Fill::Partial { min_fill: 2 })
        );
        for (give, want, partial, blocks) in [
            (mob(0), t1(7), None, 10),
            (mob(5), t1(0), None, 10),
            (mob(5), mob(7), None, 10),
            (mob(5), t1(7), None, 0),
            (mob(5), t1(7), Some(6), 10),
        ] {
            let e = offer_terms(give, want, partial, blocks).unwrap_err();
            assert!(matches!(e, FogError::InvalidRequest { .. }), "{e:?}");
        }
    }
}
