//! Input rules (MCIP 31, partial fills MCIP 42): conditions the signer of one input puts on
//! the transaction that spends it, so that a counterparty can complete the transaction
//! without being trusted.
//!
//! An input carrying [`InputRules`] is signed over its own digest ([`crate::tx::TxIn::signed_digest`])
//! instead of the whole transaction, and the node checks the rules against the transaction
//! ([`InputRules::verify`]), in MobileCoin's order:
//!
//! 1. `max_tombstone_block` (0 = none): the tombstone may not exceed it;
//! 2. every `required_outputs` entry appears among the outputs exactly (equal TxOut);
//! 3. partial fills, when `partial_fill_change` is present: its revealed value `C` must be
//!    at least `min_partial_fill_value` and nonzero; the output equal to it except for the
//!    amount (the "fractional change") must have the same token and a value
//!    `c ≤ C − min_partial_fill_value`; the fill fraction is `f = (C − c) / C`; every
//!    `partial_fill_outputs` entry (value `P`) needs an output equal to it except for the
//!    amount, with the same token and a value `p` with `p / P ≥ f`, compared exactly as
//!    `p·C ≥ (C − c)·P` in 128 bits;
//! 4. without `partial_fill_change`, `partial_fill_outputs` must be empty and
//!    `min_partial_fill_value` zero.
//!
//! Amounts of partial-fill outputs are revealed with the amount shared secret carried in a
//! [`RevealedTxOut`]; a fractional output reuses the blinding of its template (only the
//! value changes), so whoever holds the secret can recommit it
//! ([`RevealedTxOut::change_committed_amount`]).

use alloc::{collections::BTreeMap, vec::Vec};
use core::fmt;

use curve25519_dalek::scalar::Scalar;
use fog_crypto::digestible::{DigestTranscript, Digestible};
use thiserror::Error;

use crate::{
    amount::MaskedAmount,
    tx::{TxDecodeError, TxPrefix},
    wire, Amount, AmountError, BlockVersion, TxOut,
};

/// A TxOut together with its amount shared secret, so that anyone holding it can read the
/// amount (and recommit another value with the same blinding).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RevealedTxOut {
    /// The TxOut.
    pub tx_out: TxOut,
    /// Its amount shared secret (32 bytes in a well-formed one).
    pub amount_shared_secret: Vec<u8>,
}

impl fmt::Debug for RevealedTxOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevealedTxOut")
            .field("tx_out", &self.tx_out)
            .field("amount_shared_secret", &"<redacted>")
            .finish()
    }
}

/// Why a revealed TxOut's amount could not be read or recommitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RevealedTxOutError {
    /// The amount shared secret is not 32 bytes.
    #[error("the amount shared secret is not 32 bytes")]
    InvalidAmountSharedSecret,
    /// The amount does not open with the secret, or is malformed.
    #[error("amount: {0}")]
    Amount(#[from] AmountError),
}

fn secret32(s: &[u8]) -> Result<&[u8; 32], RevealedTxOutError> {
    s.try_into()
        .map_err(|_| RevealedTxOutError::InvalidAmountSharedSecret)
}

/// Reads the amount and blinding of `tx_out` with an amount shared secret.
pub fn try_reveal_amount(
    tx_out: &TxOut,
    amount_shared_secret: &[u8],
) -> Result<(Amount, Scalar), RevealedTxOutError> {
    let ss = secret32(amount_shared_secret)?;
    let masked = tx_out
        .masked_amount
        .as_ref()
        .ok_or(AmountError::MissingMaskedAmount)?;
    Ok(masked.get_value_from_amount_shared_secret(ss)?)
}

impl RevealedTxOut {
    /// The amount and blinding.
    pub fn reveal_amount(&self) -> Result<(Amount, Scalar), RevealedTxOutError> {
        try_reveal_amount(&self.tx_out, &self.amount_shared_secret)
    }

    /// The same TxOut committing to `new_amount` with the same blinding: only the masked
    /// amount changes. V1 amounts have no amount shared secret and are refused.
    pub fn change_committed_amount(&self, new_amount: Amount) -> Result<TxOut, RevealedTxOutError> {
        let ss = secret32(&self.amount_shared_secret)?;
        let old = self
            .tx_out
            .masked_amount
            .as_ref()
            .ok_or(AmountError::MissingMaskedAmount)?;
        if old.version != crate::amount::MaskedAmountVersion::V2 {
            return Err(AmountError::AmountVersionTooOld.into());
        }
        let mut out = self.tx_out.clone();
        out.masked_amount = Some(MaskedAmount::new_from_amount_shared_secret(new_amount, ss));
        Ok(out)
    }

    /// Protobuf form.
    pub fn to_wire(&self) -> wire::RevealedTxOut {
        wire::RevealedTxOut {
            tx_out: Some(self.tx_out.to_wire()),
            amount_shared_secret: self.amount_shared_secret.clone(),
        }
    }

    /// From the protobuf form.
    pub fn try_from_wire(w: &wire::RevealedTxOut) -> Result<Self, TxDecodeError> {
        let tx_out = w
            .tx_out
            .as_ref()
            .ok_or(TxDecodeError::Field("revealed_tx_out.tx_out"))?;
        Ok(Self {
            tx_out: TxOut::try_from_wire(tx_out)?,
            amount_shared_secret: w.amount_shared_secret.clone(),
        })
    }
}

/// Equal except possibly in the masked amount.
pub fn eq_ignoring_amount(a: &TxOut, b: &TxOut) -> bool {
    a.target_key == b.target_key
        && a.public_key == b.public_key
        && a.e_fog_hint == b.e_fog_hint
        && a.e_memo == b.e_memo
}

/// The rules one input imposes on its transaction (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct InputRules {
    /// Outputs the transaction must contain exactly.
    pub required_outputs: Vec<TxOut>,
    /// The latest tombstone block allowed; 0 means no limit.
    pub max_tombstone_block: u64,
    /// Outputs that may be filled in proportion to the fill fraction.
    pub partial_fill_outputs: Vec<RevealedTxOut>,
    /// The change that defines the fill fraction; required for partial fills.
    pub partial_fill_change: Option<RevealedTxOut>,
    /// The least value of the offered input the counterparty must take; 0 means none.
    pub min_partial_fill_value: u64,
}

/// Why a transaction breaks an input's rules. One variant per check, as MobileCoin's
/// `InputRuleError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InputRuleError {
    /// A required output is not among the outputs (or was altered).
    #[error("the transaction is missing a required output")]
    MissingRequiredOutput,
    /// The tombstone block is beyond the rules' maximum.
    #[error("the tombstone block exceeds the input rules' maximum")]
    MaxTombstoneBlockExceeded,
    /// Partial fill outputs without a partial fill change.
    #[error("partial fill outputs without partial fill change")]
    PartialFillOutputsNotExpected,
    /// A minimum fill value without a partial fill change.
    #[error("min partial fill value without partial fill change")]
    MinPartialFillValueNotExpected,
    /// No output matches the partial fill change.
    #[error("missing fractional change output")]
    MissingFractionalChangeOutput,
    /// No output matches a partial fill output.
    #[error("missing fractional output")]
    MissingFractionalOutput,
    /// A fractional output has another token than its template.
    #[error("fractional output token id mismatch")]
    FractionalOutputTokenIdMismatch,
    /// The partial fill change is zero.
    #[error("zero partial fill change")]
    ZeroPartialFillChange,
    /// The minimum fill value exceeds the partial fill change.
    #[error("min partial fill value exceeds partial fill change")]
    MinPartialFillValueExceedsPartialFillChange,
    /// A fractional output pays less than the fill fraction of its template.
    #[error("fractional output amount does not respect the fill fraction")]
    FractionalOutputAmountDoesNotRespectFillFraction,
    /// The fractional change returns more than the partial fill change less the minimum fill.
    #[error("fractional change output amount exceeds the limit")]
    FractionalChangeOutputAmountExceedsLimit,
    /// A revealed amount could not be read.
    #[error("revealed TxOut: {0}")]
    RevealedTxOut(#[from] RevealedTxOutError),
}

/// `num/denom` compared exactly, as MobileCoin's `U64Ratio`: `a/b < c/d` iff `a·d < c·b` in
/// 128 bits. `None` when the denominator is zero.
fn ratio_less(a: u64, b: u64, c: u64, d: u64) -> Option<bool> {
    if b == 0 || d == 0 {
        return None;
    }
    Some(u128::from(a) * u128::from(d) < u128::from(c) * u128::from(b))
}

impl InputRules {
    /// The MCIP 52 canonical digest (`"mc-input-rules"`), which the transaction summary
    /// carries for each input with rules.
    pub fn canonical_digest(&self) -> [u8; 32] {
        self.digest32(b"mc-input-rules")
    }

    /// Public key → target key of every TxOut these rules name (required, partial fill and
    /// partial fill change), later entries replacing earlier ones as in MobileCoin.
    pub fn associated_tx_outs(&self) -> BTreeMap<[u8; 32], [u8; 32]> {
        let mut map = BTreeMap::new();
        let all = self
            .required_outputs
            .iter()
            .chain(self.partial_fill_outputs.iter().map(|r| &r.tx_out))
            .chain(self.partial_fill_change.iter().map(|r| &r.tx_out));
        for t in all {
            map.insert(t.public_key.0, t.target_key.0);
        }
        map
    }

    /// Checks the prefix against the rules (see the module docs for the order).
    pub fn verify(
        &self,
        _block_version: BlockVersion,
        prefix: &TxPrefix,
    ) -> Result<(), InputRuleError> {
        if self.max_tombstone_block != 0 && prefix.tombstone_block > self.max_tombstone_block {
            return Err(InputRuleError::MaxTombstoneBlockExceeded);
        }
        for required in &self.required_outputs {
            if !prefix.outputs.iter().any(|o| o == required) {
                return Err(InputRuleError::MissingRequiredOutput);
            }
        }
        self.verify_partial_fill_rules(prefix)
    }

    fn verify_partial_fill_rules(&self, prefix: &TxPrefix) -> Result<(), InputRuleError> {
        let Some(change) = self.partial_fill_change.as_ref() else {
            if !self.partial_fill_outputs.is_empty() {
                return Err(InputRuleError::PartialFillOutputsNotExpected);
            }
            if self.min_partial_fill_value != 0 {
                return Err(InputRuleError::MinPartialFillValueNotExpected);
            }
            return Ok(());
        };
        let (change_amount, _) = change.reveal_amount()?;
        if change_amount.value < self.min_partial_fill_value {
            return Err(InputRuleError::MinPartialFillValueExceedsPartialFillChange);
        }
        if change_amount.value == 0 {
            return Err(InputRuleError::ZeroPartialFillChange);
        }
        let fractional_change = prefix
            .outputs
            .iter()
            .find(|o| eq_ignoring_amount(&change.tx_out, o))
            .ok_or(InputRuleError::MissingFractionalChangeOutput)?;
        let (fractional_change_amount, _) =
            try_reveal_amount(fractional_change, &change.amount_shared_secret)?;
        if fractional_change_amount.token_id != change_amount.token_id {
            return Err(InputRuleError::FractionalOutputTokenIdMismatch);
        }
        if fractional_change_amount.value > change_amount.value - self.min_partial_fill_value {
            return Err(InputRuleError::FractionalChangeOutputAmountExceedsLimit);
        }
        // Fill fraction (C - c) / C; C is nonzero here.
        let fill_num = change_amount.value - fractional_change_amount.value;
        let fill_denom = change_amount.value;
        for template in &self.partial_fill_outputs {
            let (template_amount, _) = template.reveal_amount()?;
            let fractional = prefix
                .outputs
                .iter()
                .find(|o| eq_ignoring_amount(&template.tx_out, o))
                .ok_or(InputRuleError::MissingFractionalOutput)?;
            let (fractional_amount, _) =
                try_reveal_amount(fractional, &template.amount_shared_secret)?;
            if fractional_amount.token_id != template_amount.token_id {
                return Err(InputRuleError::FractionalOutputTokenIdMismatch);
            }
            // p / P < (C - c) / C is a failure; P = 0 also fails, as in MobileCoin.
            let less = ratio_less(
                fractional_amount.value,
                template_amount.value,
                fill_num,
                fill_denom,
            )
            .unwrap_or(true);
            if less {
                return Err(InputRuleError::FractionalOutputAmountDoesNotRespectFillFraction);
            }
        }
        Ok(())
    }

    /// Protobuf form.
    pub fn to_wire(&self) -> wire::InputRules {
        wire::InputRules {
            required_outputs: self.required_outputs.iter().map(TxOut::to_wire).collect(),
            max_tombstone_block: self.max_tombstone_block,
            partial_fill_outputs: self
                .partial_fill_outputs
                .iter()
                .map(RevealedTxOut::to_wire)
                .collect(),
            partial_fill_change: self
                .partial_fill_change
                .as_ref()
                .map(RevealedTxOut::to_wire),
            min_partial_fill_value: self.min_partial_fill_value,
        }
    }

    /// From the protobuf form. Amount shared secrets are kept as given; a malformed one
    /// fails when the rules are checked ([`RevealedTxOutError::InvalidAmountSharedSecret`]).
    pub fn try_from_wire(w: &wire::InputRules) -> Result<Self, TxDecodeError> {
        Ok(Self {
            required_outputs: w
                .required_outputs
                .iter()
                .map(TxOut::try_from_wire)
                .collect::<Result<_, _>>()?,
            max_tombstone_block: w.max_tombstone_block,
            partial_fill_outputs: w
                .partial_fill_outputs
                .iter()
                .map(RevealedTxOut::try_from_wire)
                .collect::<Result<_, _>>()?,
            partial_fill_change: w
                .partial_fill_change
                .as_ref()
                .map(RevealedTxOut::try_from_wire)
                .transpose()?,
            min_partial_fill_value: w.min_partial_fill_value,
        })
    }
}

impl Digestible for RevealedTxOut {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"RevealedTxOut", |f| {
            f.field(b"tx_out", &self.tx_out)
                .bytes(b"amount_shared_secret", &self.amount_shared_secret);
        });
    }
}

impl Digestible for InputRules {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"InputRules", |f| {
            f.seq(b"required_outputs", &self.required_outputs)
                .u64(b"max_tombstone_block", self.max_tombstone_block)
                .seq(b"partial_fill_outputs", &self.partial_fill_outputs)
                .option(b"partial_fill_change", self.partial_fill_change.as_ref())
                .u64(b"min_partial_fill_value", self.min_partial_fill_value);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::ratio_less;

    #[test]
    fn ratio_compare_is_exact_at_the_edges() {
        assert_eq!(ratio_less(1, 5, 1, 4), Some(true));
        assert_eq!(ratio_less(1, 4, 2, 8), Some(false));
        assert_eq!(ratio_less(2, 8, 1, 4), Some(false));
        // Would be equal in f64, not in exact arithmetic.
        assert_eq!(ratio_less(u64::MAX - 1, u64::MAX, 1, 1), Some(true));
        assert_eq!(ratio_less(u64::MAX, u64::MAX, 1, 1), Some(false));
        assert_eq!(ratio_less(1, 0, 1, 1), None);
    }
}
