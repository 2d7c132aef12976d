//! The sans-IO half of a send: choosing inputs, choosing ring members, checking the fog
//! ledger's outputs and proofs, and building the signed transaction with a fog hint for the
//! recipient and change back to this account.
//!
//! The driver ([`crate::client::FogClient::send`]) does the I/O between these steps: ledger
//! info, the recipient's report (validated with `fog_attest::validate_report`), `GetOutputs`
//! for the rings, submit, and the wait for the change.

use std::collections::{BTreeMap, BTreeSet};

use fog_account::{AccountKey, PublicAddress, CHANGE_SUBADDRESS_INDEX};
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use fog_transaction::{
    builder::{InputCredentials, TransactionBuilder},
    membership::{compute_implied_merkle_root, hash_leaf, TxOutMembershipProof},
    memo::SenderMemoCredential,
    tx::Tx,
    validation::{MAX_INPUTS, RING_SIZE},
    Amount, BlockVersion, KeyImage, TokenId, TxOut,
};
use fog_types::ledger::{GetOutputsResponse, OutputResultCode, MAX_GET_OUTPUTS};
use rand::{seq::index::sample, CryptoRng, RngCore};

use crate::{
    error::{ClientError, Result, Service},
    scan::OwnerKeys,
    state::{AccountState, Discovery, OwnedTxOut, PendingSend, SpentStatus},
};

/// Chooses inputs worth at least `needed` of `token`, largest first: owned TxOuts in blocks
/// below `block_count` (the balance's count, so only confirmed funds), never seen spent,
/// and not reserved by a pending send.
pub fn select_inputs(
    state: &AccountState,
    token: TokenId,
    needed: u128,
    block_count: u64,
) -> Result<Vec<OwnedTxOut>> {
    let reserved = state.reserved_key_images();
    let mut candidates: Vec<&OwnedTxOut> = state
        .tx_outs
        .values()
        .filter(|t| {
            t.amount.token_id == token
                && t.block_index < block_count
                && !matches!(t.spent, SpentStatus::Spent { .. })
                && !reserved.contains(&t.key_image)
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.amount
            .value
            .cmp(&a.amount.value)
            .then(a.global_index.cmp(&b.global_index))
    });
    let available: u128 = candidates.iter().map(|t| u128::from(t.amount.value)).sum();
    if available < needed {
        return Err(ClientError::InsufficientFunds {
            token: token.0,
            available,
            needed,
        });
    }
    let mut chosen = Vec::new();
    let mut total = 0u128;
    for t in candidates {
        if total >= needed {
            break;
        }
        total += u128::from(t.amount.value);
        chosen.push(t.clone());
    }
    if chosen.len() > MAX_INPUTS {
        return Err(ClientError::InvalidRequest(format!(
            "paying {needed} needs {} inputs, more than the {MAX_INPUTS} a transaction may have; \
             send a smaller amount first to merge TxOuts",
            chosen.len()
        )));
    }
    Ok(chosen)
}

/// One ring per input: the input's global index first, then `RING_SIZE - 1` distinct mixins
/// drawn uniformly from the ledger's `txo_count` TxOuts, none of them an input nor a member
/// of another ring (a transaction's ring members must all differ: MobileCoin's
/// `DuplicateRingElements` rule).
pub fn choose_rings<R: RngCore + CryptoRng>(
    inputs: &[u64],
    txo_count: u64,
    rng: &mut R,
) -> Result<Vec<Vec<u64>>> {
    // Inputs and the mixins drawn so far.
    let mut used: BTreeSet<u64> = inputs.iter().copied().collect();
    let mixins = RING_SIZE - 1;
    let pool = usize::try_from(txo_count)
        .map_err(|_| ClientError::InvalidRequest("the ledger is too large".into()))?;
    if pool < used.len() + mixins * inputs.len() {
        return Err(ClientError::InvalidRequest(format!(
            "the ledger has {txo_count} TxOuts, too few for {} disjoint rings of {RING_SIZE}",
            inputs.len()
        )));
    }
    let mut rings = Vec::with_capacity(inputs.len());
    for &real in inputs {
        let draw = sample(rng, pool, mixins + used.len());
        let chosen: Vec<u64> = draw
            .into_iter()
            .map(|i| i as u64)
            .filter(|i| !used.contains(i))
            .take(mixins)
            .collect();
        used.extend(chosen.iter().copied());
        let mut ring = vec![real];
        ring.extend(chosen);
        rings.push(ring);
    }
    Ok(rings)
}

/// Checks a `GetOutputs` answer for the indices `asked`: one `Exists` result per index in
/// order, each with its TxOut and a proof of that index whose leaf is the TxOut's hash, all
/// proofs implying the same root.
pub fn check_outputs(
    asked: &[u64],
    r: &GetOutputsResponse,
) -> Result<BTreeMap<u64, (TxOut, TxOutMembershipProof)>> {
    let bad = |what: String| ClientError::bad(Service::MerkleProofs, what);
    if asked.len() > MAX_GET_OUTPUTS {
        return Err(ClientError::InvalidRequest(format!(
            "{} outputs asked at once (at most {MAX_GET_OUTPUTS})",
            asked.len()
        )));
    }
    if r.results.len() != asked.len() {
        return Err(bad(format!(
            "{} results for {} indices",
            r.results.len(),
            asked.len()
        )));
    }
    let mut out = BTreeMap::new();
    let mut root = None;
    for (&index, res) in asked.iter().zip(&r.results) {
        if res.index != index {
            return Err(bad(format!(
                "result for index {} where {index} was asked",
                res.index
            )));
        }
        if res.result_code != OutputResultCode::Exists as u32 {
            return Err(bad(format!(
                "TxOut {index} does not exist or failed (code {})",
                res.result_code
            )));
        }
        let tx_out = res
            .output
            .as_ref()
            .and_then(|w| TxOut::try_from_wire(w).ok())
            .ok_or_else(|| bad(format!("TxOut {index} is missing or malformed")))?;
        let proof = res
            .proof
            .as_ref()
            .and_then(|w| TxOutMembershipProof::try_from_wire(w).ok())
            .ok_or_else(|| {
                bad(format!(
                    "the proof of TxOut {index} is missing or malformed"
                ))
            })?;
        if proof.index != index
            || proof.elements.first().map(|e| e.hash) != Some(hash_leaf(&tx_out.hash()))
        {
            return Err(bad(format!(
                "the proof of TxOut {index} is for another TxOut"
            )));
        }
        let implied = compute_implied_merkle_root(&proof)
            .map_err(|e| bad(format!("the proof of TxOut {index} does not verify: {e}")))?;
        match &root {
            None => root = Some(implied),
            Some(r) if *r == implied => {}
            Some(_) => return Err(bad("proofs against different roots".into())),
        }
        out.insert(index, (tx_out, proof));
    }
    Ok(out)
}

/// What a payment pays and under which rules.
#[derive(Clone, Debug)]
pub struct Payment<'a> {
    /// The recipient.
    pub recipient: &'a PublicAddress,
    /// The recipient's validated ingress key (fog recipients only).
    pub recipient_ingress: Option<RistrettoPublic>,
    /// This account's validated ingress key, for the change's fog hint (fog accounts only).
    pub change_ingress: Option<RistrettoPublic>,
    /// What the recipient gets.
    pub amount: Amount,
    /// The fee (same token as `amount`).
    pub fee: Amount,
    /// The first block in which the transaction can no longer land.
    pub tombstone_block: u64,
    /// The block version to build for.
    pub block_version: BlockVersion,
}

/// Builds and signs the payment: `inputs` with their `rings` (from [`choose_rings`]) and the
/// checked `outputs` (from [`check_outputs`]); the recipient's output with a fog hint to its
/// ingress key and an authenticated sender memo; the change to this account's change
/// subaddress with a fog hint naming its default subaddress. Returns the transaction and the
/// pending send to remember.
pub fn build_payment<R: RngCore + CryptoRng>(
    account: &AccountKey,
    inputs: &[OwnedTxOut],
    rings: &[Vec<u64>],
    outputs: &BTreeMap<u64, (TxOut, TxOutMembershipProof)>,
    payment: &Payment<'_>,
    rng: &mut R,
) -> Result<(Tx, PendingSend)> {
    if payment.fee.token_id != payment.amount.token_id {
        return Err(ClientError::InvalidRequest(
            "the fee must be paid in the token sent".into(),
        ));
    }
    if inputs.len() != rings.len() {
        return Err(ClientError::Misuse("one ring per input"));
    }
    let keys = OwnerKeys::new(account);
    let mut builder = TransactionBuilder::new(payment.block_version, payment.fee);
    builder.set_tombstone_block(payment.tombstone_block);
    builder.set_sender_memo_credential(SenderMemoCredential::from_account(account));
    let mut total = 0u128;
    for (input, ring_indices) in inputs.iter().zip(rings) {
        total += u128::from(input.amount.value);
        builder.add_input(input_credentials(account, input, ring_indices, outputs)?);
    }
    let needed = u128::from(payment.amount.value) + u128::from(payment.fee.value);
    let change = total
        .checked_sub(needed)
        .and_then(|c| u64::try_from(c).ok())
        .ok_or_else(|| {
            ClientError::InvalidRequest("the inputs do not cover the payment and fee".into())
        })?;
    builder.add_output(
        payment.amount,
        payment.recipient,
        payment.recipient_ingress.as_ref(),
    );
    builder.add_change_output(
        Amount::new(change, payment.amount.token_id),
        account,
        payment.change_ingress.as_ref(),
    );
    let tx = builder.build(rng)?;
    let change_public_key = tx
        .prefix
        .outputs
        .iter()
        .find_map(|o| {
            keys.recognize(o, 0, 0, 0, Discovery::View)
                .filter(|t| t.subaddress_index == CHANGE_SUBADDRESS_INDEX)
                .map(|t| t.public_key)
        })
        .ok_or(ClientError::Misuse(
            "the built transaction has no change output",
        ))?;
    let pending = PendingSend {
        key_images: inputs.iter().map(|i| i.key_image).collect(),
        tombstone_block: payment.tombstone_block,
        change_public_key,
        amount: payment.amount,
        fee: payment.fee,
    };
    Ok((tx, pending))
}

/// [`build_payment`], returning the [`SignedPayment`] to submit now or save.
pub fn sign_payment<R: RngCore + CryptoRng>(
    account: &AccountKey,
    inputs: &[OwnedTxOut],
    rings: &[Vec<u64>],
    outputs: &BTreeMap<u64, (TxOut, TxOutMembershipProof)>,
    payment: &Payment<'_>,
    rng: &mut R,
) -> Result<SignedPayment> {
    let (tx, pending) = build_payment(account, inputs, rings, outputs, payment, rng)?;
    let total: u128 = inputs.iter().map(|i| u128::from(i.amount.value)).sum();
    let change_value = total
        .checked_sub(u128::from(payment.amount.value) + u128::from(payment.fee.value))
        .and_then(|c| u64::try_from(c).ok())
        .ok_or(ClientError::Misuse(
            "the change does not fit after building",
        ))?;
    Ok(SignedPayment {
        tx,
        recipient: payment.recipient.clone(),
        amount: payment.amount,
        fee: payment.fee,
        input_global_indices: inputs.iter().map(|i| i.global_index).collect(),
        key_images: pending.key_images,
        change_public_key: pending.change_public_key,
        change_value,
        tombstone_block: pending.tombstone_block,
    })
}

/// A payment built and signed but not submitted (`fog-wallet send --save-tx`): the
/// transaction and what this account records when it submits it. Holds no secret; it does
/// reveal the payment (see [`crate::stored`] for its file form and what it shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPayment {
    /// The signed transaction.
    pub tx: Tx,
    /// The recipient.
    pub recipient: PublicAddress,
    /// What the recipient gets.
    pub amount: Amount,
    /// The fee (same token).
    pub fee: Amount,
    /// The global indices of the TxOuts it spends, in the order of `key_images`.
    pub input_global_indices: Vec<u64>,
    /// Their key images.
    pub key_images: Vec<KeyImage>,
    /// The public key of its change output (to this account's change subaddress).
    pub change_public_key: [u8; 32],
    /// The change's value.
    pub change_value: u64,
    /// The first block in which it can no longer land.
    pub tombstone_block: u64,
}

impl SignedPayment {
    /// The transaction's hash.
    pub fn tx_hash(&self) -> [u8; 32] {
        self.tx.hash()
    }

    /// The pending send this account records once it is submitted.
    pub fn pending(&self) -> PendingSend {
        PendingSend {
            key_images: self.key_images.clone(),
            tombstone_block: self.tombstone_block,
            change_public_key: self.change_public_key,
            amount: self.amount,
            fee: self.fee,
        }
    }

    /// Checks that the recorded facts agree with the transaction: its fee and fee token, its
    /// tombstone block, its key images, a change output with that public key, one input per
    /// key image, and a non-zero amount. Returns what disagrees.
    pub fn check(&self) -> core::result::Result<(), String> {
        let p = &self.tx.prefix;
        if self.amount.value == 0 {
            return Err("the amount is zero".into());
        }
        if self.fee.token_id != self.amount.token_id {
            return Err("the fee is in another token than the amount".into());
        }
        if p.fee != self.fee.value || p.fee_token_id != self.fee.token_id.0 {
            return Err(format!(
                "the recorded fee {} (token {}) is not the transaction's {} (token {})",
                self.fee.value, self.fee.token_id.0, p.fee, p.fee_token_id
            ));
        }
        if p.tombstone_block != self.tombstone_block {
            return Err(format!(
                "the recorded tombstone block {} is not the transaction's {}",
                self.tombstone_block, p.tombstone_block
            ));
        }
        let mut recorded = self.key_images.clone();
        let mut signed = self.tx.key_images();
        recorded.sort();
        signed.sort();
        if recorded.is_empty() || recorded != signed {
            return Err("the recorded key images are not the transaction's".into());
        }
        if self.input_global_indices.len() != self.key_images.len() {
            return Err("one input index per key image".into());
        }
        if !self
            .tx
            .output_public_keys()
            .contains(&self.change_public_key)
        {
            return Err("the recorded change output is not in the transaction".into());
        }
        Ok(())
    }

    /// Checks that this account made it: its change output pays this account's change
    /// subaddress the recorded value, and its inputs are TxOuts this account owns (in
    /// `state`, when `state` knows them). Returns what is wrong.
    pub fn check_owner(
        &self,
        account: &AccountKey,
        state: &AccountState,
    ) -> core::result::Result<(), String> {
        let keys = OwnerKeys::new(account);
        let change = self
            .tx
            .prefix
            .outputs
            .iter()
            .find(|o| o.public_key.0 == self.change_public_key)
            .and_then(|o| keys.recognize(o, 0, 0, 0, Discovery::View));
        let change = match change {
            Some(c)
                if c.subaddress_index == CHANGE_SUBADDRESS_INDEX
                    && c.amount.value == self.change_value
                    && c.amount.token_id == self.amount.token_id =>
            {
                c
            }
            _ => {
                return Err(
                    "its change does not come back to this wallet: it was built by another \
                     wallet"
                        .into(),
                )
            }
        };
        // The recipient, amount and fee shown to the user come from the file, which anyone
        // could have edited (the checksum is no MAC): they must be what the signed
        // transaction's own change memo says this wallet paid.
        let paid = self.amount.value.checked_add(self.fee.value);
        match crate::history::destination_of(&change) {
            Some(d)
                if Some(d.total_outlay) == paid
                    && d.fee == self.fee.value
                    && d.num_recipients == 1
                    && d.recipient == self.recipient.short_address_hash() => {}
            _ => {
                return Err(
                    "its recipient, amount or fee are not what the transaction's change memo \
                     records"
                        .into(),
                )
            }
        }
        let mut inputs_known = 0u128;
        let mut all_known = true;
        for (index, key_image) in self.input_global_indices.iter().zip(&self.key_images) {
            match state.tx_outs.get(index) {
                Some(t) if t.key_image != *key_image => {
                    return Err(format!(
                        "its input {index} is not the TxOut this wallet owns at that index"
                    ));
                }
                Some(t) => inputs_known += u128::from(t.amount.value),
                None => all_known = false,
            }
        }
        let spends = paid.map(|p| u128::from(p) + u128::from(self.change_value));
        if all_known && Some(inputs_known) != spends {
            return Err("its inputs do not add up to the amount, the fee and the change".into());
        }
        Ok(())
    }
}

/// The credentials to spend `input`, with its ring (`ring_indices`, the real input first) and
/// proofs from the fetched `outputs`; the ledger's TxOut must be the one this account owns.
pub(crate) fn input_credentials(
    account: &AccountKey,
    input: &OwnedTxOut,
    ring_indices: &[u64],
    outputs: &BTreeMap<u64, (TxOut, TxOutMembershipProof)>,
) -> Result<InputCredentials> {
    let keys = OwnerKeys::new(account);
    let mut ring = Vec::with_capacity(ring_indices.len());
    let mut proofs = Vec::with_capacity(ring_indices.len());
    for i in ring_indices {
        let (t, p) = outputs
            .get(i)
            .ok_or(ClientError::Misuse("a ring member was not fetched"))?;
        ring.push(t.clone());
        proofs.push(p.clone());
    }
    let real = ring.first().ok_or(ClientError::Misuse("an empty ring"))?;
    let ours = keys.recognize(
        real,
        input.global_index,
        input.block_index,
        input.timestamp,
        Discovery::View,
    );
    if real.public_key.0 != input.public_key
        || ours.as_ref().map(|o| o.key_image) != Some(input.key_image)
    {
        return Err(ClientError::bad(
            Service::MerkleProofs,
            format!(
                "the ledger's TxOut {} is not the one this account owns",
                input.global_index
            ),
        ));
    }
    let spend = keys
        .subaddress_spend_private(input.subaddress_index)
        .ok_or(ClientError::Misuse("an input on an untracked subaddress"))?;
    let onetime_private_key = real
        .onetime_private_key(keys.view_private(), spend)
        .map_err(|_| ClientError::Misuse("an input without a valid public key"))?;
    Ok(InputCredentials {
        ring,
        membership_proofs: proofs,
        real_index: 0,
        onetime_private_key,
        view_private_key: RistrettoPrivate::from_scalar(*keys.view_private().as_scalar()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Discovery;
    use fog_transaction::{KeyImage, MemoPayload};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn owned(index: u64, block: u64, value: u64, spent: SpentStatus) -> OwnedTxOut {
        OwnedTxOut {
            global_index: index,
            block_index: block,
            timestamp: 0,
            amount: Amount::new(value, TokenId::MOB),
            subaddress_index: 0,
            key_image: KeyImage([index as u8; 32]),
            public_key: [index as u8; 32],
            memo: MemoPayload::default(),
            spent,
            discovery: Discovery::View,
        }
    }

    #[test]
    fn inputs_are_confirmed_unspent_unreserved_and_largest_first() {
        let mut s = AccountState::new();
        s.add_tx_out(owned(1, 1, 5, SpentStatus::NotSpent { as_of: 10 }));
        s.add_tx_out(owned(2, 2, 50, SpentStatus::NotSpent { as_of: 10 }));
        s.add_tx_out(owned(3, 3, 500, SpentStatus::Spent { block_index: 12 }));
        s.add_tx_out(owned(4, 4, 30, SpentStatus::NotSpent { as_of: 10 }));
        s.add_tx_out(owned(5, 11, 900, SpentStatus::Unknown)); // not confirmed at 10
        s.add_tx_out(owned(6, 5, 40, SpentStatus::NotSpent { as_of: 10 }));
        s.pending_sends.push(PendingSend {
            key_images: vec![KeyImage([6; 32])],
            tombstone_block: 20,
            change_public_key: [0; 32],
            amount: Amount::new(1, TokenId::MOB),
            fee: Amount::new(1, TokenId::MOB),
        });
        let picked = |needed| {
            select_inputs(&s, TokenId::MOB, needed, 10)
                .map(|v| v.iter().map(|t| t.global_index).collect::<Vec<_>>())
        };
        assert_eq!(picked(40).unwrap(), vec![2]);
        assert_eq!(picked(60).unwrap(), vec![2, 4]);
        assert_eq!(picked(85).unwrap(), vec![2, 4, 1]);
        assert!(matches!(
            picked(86),
            Err(ClientError::InsufficientFunds {
                available: 85,
                needed: 86,
                ..
            })
        ));
        assert!(matches!(
            select_inputs(&s, TokenId(1), 1, 10),
            Err(ClientError::InsufficientFunds { available: 0, .. })
        ));
        let mut many = AccountState::new();
        for i in 0..20 {
            many.add_tx_out(owned(i, 1, 1, SpentStatus::NotSpent { as_of: 5 }));
        }
        assert!(matches!(
            select_inputs(&many, TokenId::MOB, 17, 5),
            Err(ClientError::InvalidRequest(_))
        ));
        assert_eq!(select_inputs(&many, TokenId::MOB, 16, 5).unwrap().len(), 16);
    }

    #[test]
    fn rings_have_distinct_members_and_never_other_inputs() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let inputs = [3, 7, 8];
        // 3 inputs and 3 × 10 mixins: the smallest ledger that has them, and a larger one.
        for pool in [33, 40] {
            for _ in 0..50 {
                let rings = choose_rings(&inputs, pool, &mut rng).unwrap();
                for (ring, real) in rings.iter().zip(inputs) {
                    assert_eq!(ring.len(), RING_SIZE);
                    assert_eq!(ring[0], real);
                    assert!(ring[1..].iter().all(|i| *i < pool && !inputs.contains(i)));
                }
                // No member in two rings (nor twice in one).
                let all: BTreeSet<u64> = rings.iter().flatten().copied().collect();
                assert_eq!(all.len(), RING_SIZE * inputs.len());
            }
        }
        for pool in [12, 25, 32] {
            assert!(matches!(
                choose_rings(&inputs, pool, &mut rng),
                Err(ClientError::InvalidRequest(_))
            ));
        }
    }
}
