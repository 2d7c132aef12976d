//! Atomic swaps between tokens with signed contingent inputs (MCIP 31, partial fills
//! MCIP 42).
//!
//! The maker offers one owned TxOut of token A for an amount of token B
//! ([`make_offer`]): the input is signed over its own digest with rules that require the
//! payment in B (all of it, or, for a partial fill, in proportion to how much of A the taker
//! keeps, with a minimum). The offer is MobileCoin's `SignedContingentInput` protobuf
//! ([`Offer::bytes`]): it can travel by any channel, and it reveals the amounts it trades.
//!
//! The taker checks it ([`check_offer`]: signature, rules, block version; clear errors) and
//! fills it ([`fill_offer`]) with their own inputs: fresh membership proofs for the offer's
//! ring, the maker's required outputs as signed, their own inputs of token B (and of the fee
//! token when A is not it), the part of A they take and their change back to themselves,
//! and the fee. The node checks the maker's rules; either the whole swap lands or nothing
//! does.
//!
//! Both drivers work through the existing [`Transport`] like a send does: ledger info, the
//! account's own fog report (for the fog hints of outputs to itself), `GetOutputs` for rings
//! and proofs, and `SubmitTx`. The pieces between the I/O are plain functions
//! ([`build_offer`], [`build_fill`]).
//!
//! Limits: a fill does not reserve its inputs in the account state (the state's pending
//! sends describe payments with a change memo; a swap has none), so a payment started
//! before the fill lands may pick the same inputs and be refused as a double spend. A
//! maker's offered TxOut stays spendable: spending it elsewhere cancels the offer.

use std::collections::{BTreeMap, BTreeSet};

use fog_account::{AccountKey, PublicAddress};
use fog_attest::{validate_report, UnixSeconds, ValidatedFogPubkey, Verifier};
use fog_crypto::RistrettoPublic;
use fog_transaction::{
    builder::TransactionBuilder,
    membership::TxOutMembershipProof,
    sci::{SciError, SignedContingentInput, SignedContingentInputBuilder},
    tx::Tx,
    Amount, BlockVersion, KeyImage, TokenId, TxOut,
};
use fog_types::ledger::GetOutputsRequest;
use rand::{CryptoRng, RngCore};

use crate::{
    client::FogClient,
    error::{ClientError, Result},
    send::{check_outputs, choose_rings, select_inputs},
    state::{OwnedTxOut, SpentStatus},
    transport::Transport,
};

/// How an offer may be filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// All of it or nothing.
    Full,
    /// Any part, the taker keeping at least `min_fill` of the offered token (0 = no
    /// minimum).
    Partial {
        /// The least of the offered token a taker must take.
        min_fill: u64,
    },
}

/// What an offer trades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfferTerms {
    /// What the maker gives (token A).
    pub give: Amount,
    /// What the maker asks for all of it (token B).
    pub ask: Amount,
    /// Full or partial fill.
    pub fill: Fill,
    /// The first block in which the offer can no longer be filled.
    pub max_tombstone_block: u64,
}

/// A signed offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The signed contingent input.
    pub sci: SignedContingentInput,
    /// Its protobuf bytes (MobileCoin's `SignedContingentInput`).
    pub bytes: Vec<u8>,
    /// The key image of the offered TxOut: once spent, the offer is filled or cancelled.
    pub key_image: KeyImage,
    /// What it trades.
    pub terms: OfferTerms,
}

/// What a checked offer says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferSummary {
    /// What the taker gets for a full fill (the offered input less any change required back
    /// to the maker).
    pub give: Amount,
    /// What the maker asks for a full fill, per output.
    pub ask: Vec<Amount>,
    /// Full, or partial with the minimum the taker must take.
    pub fill: Fill,
    /// The latest tombstone a filling transaction may have (0 = none).
    pub max_tombstone_block: u64,
    /// The offered TxOut's key image.
    pub key_image: KeyImage,
    /// The block version it was signed for.
    pub block_version: BlockVersion,
}

/// What a fill did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FillReceipt {
    /// The transaction's hash.
    pub tx_hash: [u8; 32],
    /// The submitted transaction.
    pub tx: Tx,
    /// What this account receives of the offered token, before the fee.
    pub received: Amount,
    /// What it pays the maker, per output.
    pub paid: Vec<Amount>,
    /// The fee.
    pub fee: Amount,
    /// The key images of this account's inputs.
    pub key_images: Vec<KeyImage>,
    /// The transaction's tombstone block.
    pub tombstone_block: u64,
}

/// How much of an offer to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// All of it (the only choice for a full-fill offer).
    All,
    /// This much of the offered token (partial-fill offers only).
    Value(u64),
}

fn offer_error(e: SciError) -> ClientError {
    ClientError::InvalidRequest(format!("the offer is not valid: {e}"))
}

/// Decodes and checks an offer: the encoding, the block version, the ring signature over
/// the input and its rules, the required outputs' claimed amounts and the partial-fill
/// rules. Says what it trades.
pub fn check_offer(bytes: &[u8]) -> Result<(SignedContingentInput, OfferSummary)> {
    let sci = SignedContingentInput::decode(bytes).map_err(offer_error)?;
    sci.validate().map_err(offer_error)?;
    let block_version = BlockVersion::new(sci.block_version).ok_or(offer_error(
        SciError::FeatureNotSupportedAtBlockVersion(sci.block_version),
    ))?;
    let rules = sci.rules().ok_or(offer_error(SciError::MissingRules))?;
    let offered = sci.pseudo_output_amount.amount();
    // Outputs of the offered token required back to the maker reduce what the taker gets.
    let mut give = offered.value;
    let mut ask = Vec::new();
    for a in &sci.required_output_amounts {
        if a.token_id == offered.token_id.0 {
            give = give.checked_sub(a.value).ok_or_else(|| {
                ClientError::InvalidRequest(
                    "the offer requires more of its token back than it offers".into(),
                )
            })?;
        } else {
            ask.push(a.amount());
        }
    }
    let fill = match &rules.partial_fill_change {
        None => Fill::Full,
        Some(change) => {
            let (c, _) = change.reveal_amount().map_err(|e| offer_error(e.into()))?;
            if c.token_id != offered.token_id || c.value > give {
                return Err(ClientError::InvalidRequest(
                    "the offer's partial fill change is not of what it offers".into(),
                ));
            }
            for t in &rules.partial_fill_outputs {
                let (a, _) = t.reveal_amount().map_err(|e| offer_error(e.into()))?;
                ask.push(a);
            }
            Fill::Partial {
                min_fill: rules.min_partial_fill_value,
            }
        }
    };
    let summary = OfferSummary {
        give: Amount::new(give, offered.token_id),
        ask,
        fill,
        max_tombstone_block: rules.max_tombstone_block,
        key_image: sci.key_image(),
        block_version,
    };
    Ok((sci, summary))
}

/// Signs an offer of `input` (an owned TxOut of `terms.give`'s token worth at least
/// `terms.give`) with its `ring` (the input first) and the checked `outputs`. The maker's
/// outputs pay its default subaddress (fog hint to `maker_ingress` for a fog account); any
/// excess of the input comes back to its change subaddress as a required output.
#[allow(clippy::too_many_arguments)]
pub fn build_offer<R: RngCore + CryptoRng>(
    account: &AccountKey,
    input: &OwnedTxOut,
    ring: &[u64],
    outputs: &BTreeMap<u64, (TxOut, TxOutMembershipProof)>,
    terms: &OfferTerms,
    maker_ingress: Option<&RistrettoPublic>,
    block_version: BlockVersion,
    rng: &mut R,
) -> Result<Offer> {
    check_terms(terms)?;
    if input.amount.token_id != terms.give.token_id || input.amount.value < terms.give.value {
        return Err(ClientError::InvalidRequest(
            "the offered TxOut does not hold what the offer gives".into(),
        ));
    }
    let creds = crate::send::input_credentials(account, input, ring, outputs)?;
    let me = account.default_subaddress();
    let mut b = SignedContingentInputBuilder::new(block_version, creds);
    let excess = input.amount.value - terms.give.value;
    let sci_err = |e: SciError| ClientError::InvalidRequest(format!("making the offer: {e}"));
    if excess > 0 {
        b.add_required_change_output(
            Amount::new(excess, terms.give.token_id),
            account,
            maker_ingress,
            rng,
        )
        .map_err(sci_err)?;
    }
    match terms.fill {
        Fill::Full => {
            b.add_required_output(terms.ask, &me, maker_ingress, rng)
                .map_err(sci_err)?;
        }
        Fill::Partial { min_fill } => {
            b.add_partial_fill_output(terms.ask, &me, maker_ingress, rng)
                .map_err(sci_err)?;
            b.add_partial_fill_change_output(terms.give, account, maker_ingress, rng)
                .map_err(sci_err)?;
            b.set_min_partial_fill_value(min_fill);
        }
    }
    b.set_max_tombstone_block(terms.max_tombstone_block);
    let sci = b.build(rng).map_err(sci_err)?;
    Ok(Offer {
        bytes: sci.encode_to_vec(),
        key_image: sci.key_image(),
        sci,
        terms: *terms,
    })
}

fn check_terms(terms: &OfferTerms) -> Result<()> {
    if terms.give.value == 0 || terms.ask.value == 0 {
        return Err(ClientError::InvalidRequest(
            "an offer gives and asks nonzero amounts".into(),
        ));
    }
    if terms.give.token_id == terms.ask.token_id {
        return Err(ClientError::InvalidRequest(
            "an offer swaps two different tokens".into(),
        ));
    }
    if let Fill::Partial { min_fill } = terms.fill {
        if min_fill > terms.give.value {
            return Err(ClientError::InvalidRequest(
                "the minimum fill exceeds what the offer gives".into(),
            ));
        }
    }
    Ok(())
}

/// What a fill of `take` costs: (change returned to the maker for a partial offer, amounts
/// paid to the maker, value of the offered token taken).
fn fill_plan(
    sci: &SignedContingentInput,
    summary: &OfferSummary,
    take: Take,
) -> Result<(Option<Amount>, Vec<Amount>, Amount)> {
    let rules = sci.rules().ok_or(offer_error(SciError::MissingRules))?;
    match (summary.fill, take) {
        (Fill::Full, Take::All) => Ok((None, summary.ask.clone(), summary.give)),
        (Fill::Full, Take::Value(_)) => Err(ClientError::InvalidRequest(
            "this offer can only be filled in full".into(),
        )),
        (Fill::Partial { min_fill }, take) => {
            let change_template = rules
                .partial_fill_change
                .as_ref()
                .ok_or(offer_error(SciError::MissingPartialFillChange))?;
            let (c, _) = change_template
                .reveal_amount()
                .map_err(|e| offer_error(e.into()))?;
            let taken = match take {
                Take::All => c.value,
                Take::Value(v) => v,
            };
            if taken > c.value || taken < min_fill || taken == 0 {
                return Err(ClientError::InvalidRequest(format!(
                    "take between {} and {} of token {}",
                    min_fill.max(1),
                    c.value,
                    c.token_id.0
                )));
            }
            let change = c.value - taken;
            // The fill fraction, rounded up per output as the builder pays it.
            let paid = rules
                .partial_fill_outputs
                .iter()
                .map(|t| {
                    let (a, _) = t.reveal_amount().map_err(|e| offer_error(e.into()))?;
                    let v = (u128::from(a.value) * u128::from(taken)).div_ceil(u128::from(c.value));
                    Ok(Amount::new(
                        u64::try_from(v).map_err(|_| ClientError::Misuse("fill overflow"))?,
                        a.token_id,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            // Required outputs (not partial) are paid in full as well.
            let mut all_paid: Vec<Amount> = sci
                .required_output_amounts
                .iter()
                .filter(|a| a.token_id != c.token_id.0)
                .map(|a| a.amount())
                .collect();
            all_paid.extend(paid);
            Ok((
                Some(Amount::new(change, c.token_id)),
                all_paid,
                Amount::new(taken, c.token_id),
            ))
        }
    }
}

/// What this account must put in per token to fill: payments to the maker plus the fee,
/// less what it takes from the offer (negative: it receives that much net).
fn needs(paid: &[Amount], fee: Amount, received: Amount) -> BTreeMap<u64, i128> {
    let mut need: BTreeMap<u64, i128> = BTreeMap::new();
    for a in paid {
        *need.entry(a.token_id.0).or_default() += i128::from(a.value);
    }
    *need.entry(fee.token_id.0).or_default() += i128::from(fee.value);
    *need.entry(received.token_id.0).or_default() -= i128::from(received.value);
    need
}

/// Builds the filling transaction: the offer (with membership proofs) and this account's
/// `inputs` with their `rings` (from the checked `outputs`); each token this account ends
/// with more of (its change, or what it takes) comes back to its change subaddress with a
/// fog hint to `own_ingress`.
#[allow(clippy::too_many_arguments)]
pub fn build_fill<R: RngCore + CryptoRng>(
    account: &AccountKey,
    sci: SignedContingentInput,
    summary: &OfferSummary,
    take: Take,
    inputs: &[OwnedTxOut],
    rings: &[Vec<u64>],
    outputs: &BTreeMap<u64, (TxOut, TxOutMembershipProof)>,
    fee: Amount,
    tombstone_block: u64,
    own_ingress: Option<&RistrettoPublic>,
    rng: &mut R,
) -> Result<(Tx, Vec<Amount>, Amount)> {
    if inputs.len() != rings.len() || inputs.is_empty() {
        return Err(ClientError::Misuse(
            "one ring per input, at least one input",
        ));
    }
    let (change, paid, received) = fill_plan(&sci, summary, take)?;
    let mut b = TransactionBuilder::new(summary.block_version, fee);
    b.set_tombstone_block(tombstone_block);
    let sci_err = |e: SciError| ClientError::InvalidRequest(format!("filling the offer: {e}"));
    let paid = match change {
        None => {
            b.add_presigned_input(sci).map_err(sci_err)?;
            paid
        }
        Some(change) => {
            let fractional = b
                .add_presigned_partial_fill_input(sci, change)
                .map_err(sci_err)?;
            let mut all: Vec<Amount> = paid[..paid.len() - fractional.len()].to_vec();
            all.extend(fractional);
            all
        }
    };
    let mut have: BTreeMap<u64, i128> = BTreeMap::new();
    for (input, ring) in inputs.iter().zip(rings) {
        b.add_input(crate::send::input_credentials(
            account, input, ring, outputs,
        )?);
        *have.entry(input.amount.token_id.0).or_default() += i128::from(input.amount.value);
    }
    let need = needs(&paid, fee, received);
    let tokens: BTreeSet<u64> = need.keys().chain(have.keys()).copied().collect();
    for token in tokens {
        let back = have.get(&token).copied().unwrap_or(0) - need.get(&token).copied().unwrap_or(0);
        if back < 0 {
            return Err(ClientError::InvalidRequest(format!(
                "the inputs fall {} short in token {token}",
                -back
            )));
        }
        if back > 0 {
            let value = u64::try_from(back).map_err(|_| ClientError::Misuse("change overflow"))?;
            b.add_change_output(Amount::new(value, TokenId(token)), account, own_ingress);
        }
    }
    let tx = b.build(rng)?;
    Ok((tx, paid, received))
}

async fn own_key<T: Transport>(
    client: &mut FogClient<T>,
    verifier: &Verifier,
    block_count: u64,
) -> Result<Option<ValidatedFogPubkey>> {
    let own: PublicAddress = client.account().default_subaddress();
    let Some(url) = own.fog_report_url() else {
        return Ok(None);
    };
    let url = url.to_owned();
    let reports = client.transport_mut().get_reports(&url).await?;
    validate_report(&own, &reports, verifier, UnixSeconds::now(), block_count)
        .map(Some)
        .map_err(ClientError::Report)
}

fn block_version_of(info: &fog_api::fog_node::LedgerInfo) -> BlockVersion {
    info.last_block
        .as_ref()
        .and_then(|b| BlockVersion::new(b.version))
        .filter(|v| *v >= BlockVersion::THREE)
        .unwrap_or(BlockVersion::THREE)
}

/// Makes an offer of `give` for `ask` (full, or partial with a minimum) from one owned,
/// confirmed TxOut of `give`'s token (the smallest that covers it), valid for
/// `valid_for_blocks` blocks (capped by this account's fog key expiry). `verifier` checks
/// this account's own fog report (its outputs carry fog hints to it).
pub async fn make_offer<T: Transport, R: RngCore + CryptoRng + Send>(
    client: &mut FogClient<T>,
    verifier: &Verifier,
    give: Amount,
    ask: Amount,
    fill: Fill,
    valid_for_blocks: u64,
    rng: &mut R,
) -> Result<Offer> {
    let balance = client.check_balance().await?;
    let info = client.transport_mut().ledger_info().await?;
    let reserved = client.state().reserved_key_images();
    let input = client
        .state()
        .tx_outs
        .values()
        .filter(|t| {
            t.amount.token_id == give.token_id
                && t.amount.value >= give.value
                && t.block_index < balance.block_count
                && !matches!(t.spent, SpentStatus::Spent { .. })
                && !reserved.contains(&t.key_image)
        })
        .min_by_key(|t| (t.amount.value, t.global_index))
        .cloned()
        .ok_or_else(|| {
            ClientError::InvalidRequest(format!(
                "no single confirmed TxOut of token {} holds {}",
                give.token_id.0, give.value
            ))
        })?;
    let key = own_key(client, verifier, info.block_count).await?;
    let mut max_tombstone = info.block_count.saturating_add(valid_for_blocks.max(1));
    if let Some(k) = &key {
        max_tombstone = max_tombstone.min(k.pubkey_expiry);
    }
    let txo_count = match client.last_progress().ledger_txo_count {
        0 => info.txo_count,
        fog => fog.min(info.txo_count),
    };
    let rings = choose_rings(&[input.global_index], txo_count, rng)?;
    let outputs = fetch_outputs(client, rings.iter().flatten().copied()).await?;
    let terms = OfferTerms {
        give,
        ask,
        fill,
        max_tombstone_block: max_tombstone,
    };
    build_offer(
        client.account(),
        &input,
        &rings[0],
        &outputs,
        &terms,
        key.as_ref().map(|k| &k.ingress_pubkey),
        block_version_of(&info),
        rng,
    )
}

async fn fetch_outputs<T: Transport>(
    client: &mut FogClient<T>,
    indices: impl Iterator<Item = u64>,
) -> Result<BTreeMap<u64, (TxOut, TxOutMembershipProof)>> {
    let mut asked: Vec<u64> = indices.collect();
    asked.sort_unstable();
    asked.dedup();
    let answer = client
        .transport_mut()
        .get_outputs(GetOutputsRequest {
            indices: asked.clone(),
            merkle_root_block: 0,
        })
        .await?;
    check_outputs(&asked, &answer)
}

/// Checks an offer ([`check_offer`]) and fills it: `take` of the offered token (all of a
/// full-fill offer), paying the maker and `fee` (the node's minimum in MOB unless given)
/// with this account's confirmed inputs, then submits it to the node. `verifier` checks this
/// account's own fog report. The node's refusals become [`ClientError::DoubleSpend`] (the
/// offer or an input is already spent), [`ClientError::Expired`] or [`ClientError::Submit`].
pub async fn fill_offer<T: Transport, R: RngCore + CryptoRng + Send>(
    client: &mut FogClient<T>,
    verifier: &Verifier,
    offer: &[u8],
    take: Take,
    fee: Option<Amount>,
    rng: &mut R,
) -> Result<FillReceipt> {
    let (mut sci, summary) = check_offer(offer)?;
    let balance = client.check_balance().await?;
    let info = client.transport_mut().ledger_info().await?;
    let fee = match fee {
        Some(fee) => fee,
        None => crate::client::default_fee(&info.minimum_fees, TokenId::MOB)?,
    };
    // The fill is built at the ledger's block version: an offer signed for another one is
    // refused here, with its reason, rather than by the node.
    let ledger_version = block_version_of(&info);
    if ledger_version != summary.block_version {
        return Err(ClientError::InvalidRequest(format!(
            "the offer was signed for block version {}, the ledger is at {}",
            summary.block_version.get(),
            ledger_version.get()
        )));
    }
    if summary.max_tombstone_block != 0 && summary.max_tombstone_block <= info.block_count {
        return Err(ClientError::Expired {
            tombstone_block: summary.max_tombstone_block,
            block_count: info.block_count,
        });
    }
    // Proofs for the offer's ring, and the ring must be what the ledger holds there.
    let ring_outputs = fetch_outputs(client, sci.tx_out_global_indices.iter().copied()).await?;
    let mut proofs = Vec::with_capacity(sci.tx_in.ring.len());
    for (i, member) in sci.tx_out_global_indices.iter().zip(&sci.tx_in.ring) {
        let (t, p) = ring_outputs
            .get(i)
            .ok_or(ClientError::Misuse("a ring member was not fetched"))?;
        if t != member {
            return Err(ClientError::InvalidRequest(format!(
                "the offer's ring member at index {i} is not the ledger's TxOut there"
            )));
        }
        proofs.push(p.clone());
    }
    sci.set_membership_proofs(proofs).map_err(offer_error)?;

    // Inputs per token this account must put in.
    let (_, paid, received) = fill_plan(&sci, &summary, take)?;
    let mut inputs = Vec::new();
    for (token, need) in needs(&paid, fee, received) {
        if need > 0 {
            let chosen = select_inputs(
                client.state(),
                TokenId(token),
                u128::try_from(need).map_err(|_| ClientError::Misuse("negative need"))?,
                balance.block_count,
            )?;
            inputs.extend(chosen);
        }
    }
    if inputs.is_empty() {
        return Err(ClientError::InvalidRequest(
            "the offer asks for nothing this account would pay".into(),
        ));
    }
    let key = own_key(client, verifier, info.block_count).await?;
    let mut tombstone =
        info.block_count
            .saturating_add(50)
            .min(if summary.max_tombstone_block == 0 {
                u64::MAX
            } else {
                summary.max_tombstone_block
            });
    if let Some(k) = &key {
        tombstone = tombstone.min(k.pubkey_expiry);
    }
    let txo_count = match client.last_progress().ledger_txo_count {
        0 => info.txo_count,
        fog => fog.min(info.txo_count),
    };
    // Own rings are disjoint from each other (choose_rings); they may share members with
    // the offer's ring (MCIP 57), but inputs sort strictly by their smallest member, so no
    // own ring may have the offer ring's smallest member as its own smallest.
    let offer_min = sci
        .tx_in
        .ring
        .iter()
        .map(|t| t.public_key)
        .min()
        .ok_or(offer_error(SciError::MissingRules))?;
    let real: Vec<u64> = inputs.iter().map(|i| i.global_index).collect();
    let mut tries = 0;
    let (rings, outputs) = loop {
        let rings = choose_rings(&real, txo_count, rng)?;
        let outputs = fetch_outputs(client, rings.iter().flatten().copied()).await?;
        let clash = rings.iter().any(|ring| {
            ring.iter()
                .filter_map(|i| outputs.get(i).map(|(t, _)| t.public_key))
                .min()
                == Some(offer_min)
        });
        tries += 1;
        if !clash {
            break (rings, outputs);
        }
        if tries >= 32 {
            return Err(ClientError::InvalidRequest(
                "no ring found that sorts apart from the offer's ring".into(),
            ));
        }
    };
    let (tx, paid, received) = build_fill(
        client.account(),
        sci,
        &summary,
        take,
        &inputs,
        &rings,
        &outputs,
        fee,
        tombstone,
        key.as_ref().map(|k| &k.ingress_pubkey),
        rng,
    )?;
    let answer = client.transport_mut().submit_tx(tx.to_wire()).await?;
    use fog_api::fog_node::SubmitTxResult;
    match answer.result() {
        SubmitTxResult::Accepted => {}
        SubmitTxResult::DoubleSpend => return Err(ClientError::DoubleSpend { rule: answer.rule }),
        SubmitTxResult::Invalid if answer.rule == "TombstoneBlockExceeded" => {
            return Err(ClientError::Expired {
                tombstone_block: tx.prefix.tombstone_block,
                block_count: answer.block_count,
            })
        }
        other => {
            return Err(ClientError::Submit {
                result: format!("{other:?}"),
                rule: answer.rule,
            })
        }
    }
    Ok(FillReceipt {
        tx_hash: tx.hash(),
        received,
        paid,
        fee,
        key_images: inputs.iter().map(|i| i.key_image).collect(),
        tombstone_block: tx.prefix.tombstone_block,
        tx,
    })
}
