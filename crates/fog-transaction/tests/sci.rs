//! Atomic swaps with signed contingent inputs (MCIP 31/42), built as the two parties and as
//! an attacker would: Alice offers MOB for token 1, Bob completes the transaction with his
//! own token-1 input. Valid full and partial fills validate; each broken rule is refused with
//! its own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use fog_account::AccountKey;
use fog_crypto::RistrettoPrivate;
use fog_transaction::{
    builder::{
        sign_prefix_with_presigned, InputCredentials, InputSecret, InputSigner, OutputSecret,
        PresignedInput, TransactionBuilder,
    },
    input_rules::{eq_ignoring_amount, try_reveal_amount, InputRuleError as R, RevealedTxOut},
    membership::{self, Range, TxOutMembershipProof},
    ring_signature::RingSignatureError,
    sci::{SciError, SignedContingentInput, SignedContingentInputBuilder},
    tx::Tx,
    validation::{
        validate, validate_all_input_rules, RingCtError, TransactionValidationError as E,
        ValidationContext, MOB_MINIMUM_FEE, RING_SIZE,
    },
    Amount, BlockVersion, EncryptedFogHint, TokenId, TxOut,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const BV: BlockVersion = BlockVersion::THREE;
const MOB: u64 = 1_000_000_000_000;
const CURRENT: u64 = 10;
const T1: TokenId = TokenId(1);
const T1_FEE: u64 = 1024;
/// What the full offer asks for.
const ASK: u64 = 100_000;
/// Where Bob's mixins start among the ledger's (after the ones Alice's ring uses).
const BOB_SKIP: usize = RING_SIZE - 1;

struct Ledger {
    tx_outs: Vec<TxOut>,
    store: BTreeMap<Range, [u8; 32]>,
    alice: AccountKey,
    bob: AccountKey,
    /// (ledger index, amount) of Alice's MOB.
    alice_owned: Vec<(usize, Amount)>,
    /// (ledger index, amount) of Bob's token 1.
    bob_owned: Vec<(usize, Amount)>,
}

impl Ledger {
    fn new(seed: u8) -> (Self, ChaCha20Rng) {
        let seed = [seed; 32];
        println!("seed {seed:?}");
        let mut rng = ChaCha20Rng::from_seed(seed);
        let alice = AccountKey::random(&mut rng);
        let bob = AccountKey::random(&mut rng);
        let mut l = Self {
            tx_outs: Vec::new(),
            store: BTreeMap::new(),
            alice,
            bob,
            alice_owned: Vec::new(),
            bob_owned: Vec::new(),
        };
        for i in 0..60usize {
            let (to, amount) = match i % 7 {
                3 => (
                    l.alice.default_subaddress(),
                    Amount::new((i as u64 + 1) * MOB, TokenId::MOB),
                ),
                5 => (
                    l.bob.default_subaddress(),
                    Amount::new((i as u64 + 1) * 1_000_000, T1),
                ),
                _ => (
                    AccountKey::random(&mut rng).default_subaddress(),
                    Amount::new(5 * MOB, TokenId::MOB),
                ),
            };
            let r = RistrettoPrivate::random(&mut rng);
            let t = TxOut::new(
                BV,
                amount,
                &to,
                &r,
                EncryptedFogHint::fake_onetime_hint(&mut rng),
            )
            .unwrap();
            match i % 7 {
                3 => l.alice_owned.push((i, amount)),
                5 => l.bob_owned.push((i, amount)),
                _ => {}
            }
            membership::append_leaf(&mut l.store, i as u64, t.merkle_leaf_hash()).unwrap();
            l.tx_outs.push(t);
        }
        (l, rng)
    }

    fn proof(&self, i: usize) -> TxOutMembershipProof {
        membership::membership_proof(&self.store, self.tx_outs.len() as u64, i as u64).unwrap()
    }

    fn mixins(&self, skip: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.tx_outs.len())
            .filter(|i| i % 7 != 3 && i % 7 != 5)
            .skip(skip)
    }

    fn input(&self, owner: &AccountKey, idx: usize, skip: usize) -> InputCredentials {
        let mut ring = vec![self.tx_outs[idx].clone()];
        let mut proofs = vec![self.proof(idx)];
        for m in self.mixins(skip).take(RING_SIZE - 1) {
            ring.push(self.tx_outs[m].clone());
            proofs.push(self.proof(m));
        }
        let a = owner.view_private_key();
        InputCredentials {
            ring,
            membership_proofs: proofs,
            real_index: 0,
            onetime_private_key: self.tx_outs[idx]
                .onetime_private_key(a, &owner.subaddress_spend_private(0))
                .unwrap(),
            view_private_key: RistrettoPrivate::from_bytes(&a.to_bytes()[..]).unwrap(),
        }
    }

    /// Alice's offer of her MOB input `which` for `ask` of token 1, in full, not yet built.
    fn full_offer_builder(
        &self,
        which: usize,
        ask: u64,
        rng: &mut ChaCha20Rng,
    ) -> SignedContingentInputBuilder {
        let (idx, _) = self.alice_owned[which];
        let mut b = SignedContingentInputBuilder::new(BV, self.input(&self.alice, idx, 0));
        b.add_required_output(
            Amount::new(ask, T1),
            &self.alice.default_subaddress(),
            None,
            rng,
        )
        .unwrap();
        b
    }

    /// Alice offers her MOB input `which` for `ASK` of token 1, in full.
    fn full_offer(
        &self,
        which: usize,
        max_tombstone: u64,
        rng: &mut ChaCha20Rng,
    ) -> SignedContingentInput {
        let mut b = self.full_offer_builder(which, ASK, rng);
        b.set_max_tombstone_block(max_tombstone);
        b.build(rng).unwrap()
    }

    /// Alice's offer of her MOB input `which` (value C) for `ask` of token 1, partly
    /// fillable (the partial fill change is all of C), not yet built.
    fn partial_offer_builder(
        &self,
        which: usize,
        ask: u64,
        rng: &mut ChaCha20Rng,
    ) -> SignedContingentInputBuilder {
        let (idx, amount) = self.alice_owned[which];
        let mut b = SignedContingentInputBuilder::new(BV, self.input(&self.alice, idx, 0));
        b.add_partial_fill_output(
            Amount::new(ask, T1),
            &self.alice.default_subaddress(),
            None,
            rng,
        )
        .unwrap();
        b.add_partial_fill_change_output(amount, &self.alice, None, rng)
            .unwrap();
        b
    }

    /// Alice offers her MOB input `which` (value C) for `ask` of token 1, partly fillable,
    /// keeping at least `min_fill` of it traded.
    fn partial_offer(
        &self,
        which: usize,
        ask: u64,
        min_fill: u64,
        rng: &mut ChaCha20Rng,
    ) -> SignedContingentInput {
        let mut b = self.partial_offer_builder(which, ask, rng);
        b.set_min_partial_fill_value(min_fill);
        b.build(rng).unwrap()
    }

    /// The offer with fresh membership proofs, as a taker prepares it.
    fn with_proofs(&self, sci: &SignedContingentInput) -> SignedContingentInput {
        let mut sci = sci.clone();
        let proofs = sci
            .tx_out_global_indices
            .iter()
            .map(|i| self.proof(*i as usize))
            .collect();
        sci.set_membership_proofs(proofs).unwrap();
        sci
    }

    /// Bob's builder with his token-1 input (its mixins from the `skip`th on), paying the fee
    /// in MOB out of what he receives.
    fn bob_builder(&self, skip: usize) -> (TransactionBuilder, Amount) {
        let (idx, amount) = self.bob_owned[0];
        let mut b = TransactionBuilder::new(BV, Amount::new(MOB_MINIMUM_FEE, TokenId::MOB));
        b.set_tombstone_block(CURRENT + 50);
        b.add_input(self.input(&self.bob, idx, skip));
        (b, amount)
    }

    /// Bob completes a full offer (his mixins from the `skip`th on): he pays Alice `t1_paid`
    /// of token 1 and keeps all the offered MOB less the fee.
    fn complete(
        &self,
        sci: &SignedContingentInput,
        skip: usize,
        t1_paid: u64,
        rng: &mut ChaCha20Rng,
    ) -> Tx {
        let offered = sci.pseudo_output_amount.value;
        let (mut b, bob_t1) = self.bob_builder(skip);
        b.add_presigned_input(self.with_proofs(sci)).unwrap();
        b.add_change_output(Amount::new(bob_t1.value - t1_paid, T1), &self.bob, None);
        b.add_change_output(
            Amount::new(offered - MOB_MINIMUM_FEE, TokenId::MOB),
            &self.bob,
            None,
        );
        b.build(rng).unwrap()
    }

    /// Bob completes a full offer of `offered` MOB, paying `ASK`.
    fn take_full(&self, sci: &SignedContingentInput, rng: &mut ChaCha20Rng) -> Tx {
        self.complete(sci, BOB_SKIP, ASK, rng)
    }

    /// Bob completes a partial offer, returning `change` MOB to Alice; checks that it pays
    /// her `paid` of token 1 and validates.
    fn take_partial(
        &self,
        sci: &SignedContingentInput,
        change: u64,
        paid: u64,
        rng: &mut ChaCha20Rng,
    ) -> Tx {
        let offered = sci.pseudo_output_amount.value;
        let (mut b, bob_t1) = self.bob_builder(BOB_SKIP);
        let owed = b
            .add_presigned_partial_fill_input(
                self.with_proofs(sci),
                Amount::new(change, TokenId::MOB),
            )
            .unwrap();
        assert_eq!(owed, vec![Amount::new(paid, T1)]);
        b.add_change_output(
            Amount::new(bob_t1.value - owed[0].value, T1),
            &self.bob,
            None,
        );
        b.add_change_output(
            Amount::new(offered - change - MOB_MINIMUM_FEE, TokenId::MOB),
            &self.bob,
            None,
        );
        let tx = b.build(rng).unwrap();
        assert_eq!(self.check(&tx), Ok(()));
        tx
    }

    fn check(&self, tx: &Tx) -> Result<(), E> {
        let fee_map = BTreeMap::from([(0, MOB_MINIMUM_FEE), (1, T1_FEE)]);
        let root_proofs: Vec<TxOutMembershipProof> = tx
            .prefix
            .membership_proof_highest_indices()
            .iter()
            .map(|h| self.proof(*h as usize))
            .collect();
        let ctx = ValidationContext {
            block_version: BV,
            current_block_index: CURRENT,
            fee_map: &fee_map,
            root_proofs: &root_proofs,
            ring_size: RING_SIZE,
        };
        validate(tx, &ctx, &mut ChaCha20Rng::from_seed([1; 32]))
    }

    /// The secret of an output: Bob's own (view key), or one the offer reveals (required
    /// amounts, partial-fill templates by their amount shared secret).
    fn output_secret(&self, o: &TxOut, sci: &SignedContingentInput) -> OutputSecret {
        if let Ok((amount, shared)) = o.view_key_match(self.bob.view_private_key()) {
            let (_, blinding) = o.masked_amount().unwrap().get_value(&shared).unwrap();
            return OutputSecret { amount, blinding };
        }
        let rules = sci.rules().unwrap();
        for (r, a) in rules
            .required_outputs
            .iter()
            .zip(&sci.required_output_amounts)
        {
            if r.masked_amount().unwrap().commitment == o.masked_amount().unwrap().commitment {
                return OutputSecret {
                    amount: a.amount(),
                    blinding: a.blinding,
                };
            }
        }
        for r in rules
            .partial_fill_outputs
            .iter()
            .chain(rules.partial_fill_change.iter())
        {
            if eq_ignoring_amount(&r.tx_out, o) {
                let (amount, blinding) = try_reveal_amount(o, &r.amount_shared_secret).unwrap();
                return OutputSecret { amount, blinding };
            }
        }
        panic!("output known to nobody");
    }

    /// Re-signs a prefix an attacker changed: Bob's inputs are re-signed, the offer's input
    /// keeps its presigned MLSAG (taken from `sci`), outputs balance with their secrets.
    fn resign(&self, tx: &Tx, sci: &SignedContingentInput, rng: &mut ChaCha20Rng) -> Tx {
        let a = self.bob.view_private_key();
        let mut owned = Vec::new();
        let mut presigned = Vec::new();
        for input in &tx.prefix.inputs {
            if input.input_rules.is_some() {
                presigned.push(PresignedInput {
                    mlsag: sci.mlsag.clone(),
                    amount: sci.pseudo_output_amount.amount(),
                    pseudo_output_blinding: sci.pseudo_output_amount.blinding,
                });
                continue;
            }
            let (real_index, t) = input
                .ring
                .iter()
                .enumerate()
                .find(|(_, t)| t.view_key_match(a).is_ok())
                .unwrap();
            let (amount, shared) = t.view_key_match(a).unwrap();
            let (_, blinding) = t.masked_amount().unwrap().get_value(&shared).unwrap();
            owned.push(InputSecret {
                onetime_private_key: t
                    .onetime_private_key(a, &self.bob.subaddress_spend_private(0))
                    .unwrap(),
                real_index,
                amount,
                blinding,
            });
        }
        let (mut o, mut p) = (owned.iter(), presigned.iter());
        let signers: Vec<InputSigner<'_>> = tx
            .prefix
            .inputs
            .iter()
            .map(|i| match i.input_rules {
                Some(_) => InputSigner::Presigned(p.next().unwrap()),
                None => InputSigner::Owned(o.next().unwrap()),
            })
            .collect();
        let outputs: Vec<OutputSecret> = tx
            .prefix
            .outputs
            .iter()
            .map(|out| self.output_secret(out, sci))
            .collect();
        sign_prefix_with_presigned(tx.prefix.clone(), &signers, &outputs, rng).unwrap()
    }

    /// What the node says of `bad`, an attacker's change to a transaction: its outputs sorted
    /// again and the whole re-signed ([`Self::resign`]).
    fn check_resigned(
        &self,
        mut bad: Tx,
        sci: &SignedContingentInput,
        rng: &mut ChaCha20Rng,
    ) -> Result<(), E> {
        bad.prefix.outputs.sort_by_key(|o| o.public_key);
        self.check(&self.resign(&bad, sci, rng))
    }

    /// Index of Bob's output of `token` in `tx`.
    fn bob_output_at(&self, tx: &Tx, token: TokenId) -> usize {
        tx.prefix
            .outputs
            .iter()
            .position(|o| {
                o.view_key_match(self.bob.view_private_key())
                    .is_ok_and(|(a, _)| a.token_id == token)
            })
            .unwrap()
    }

    /// `tx` with the partial fill output (`template`) recommitted to `paid` of token 1, and
    /// Bob's token-1 change a fresh output of the rest of his input.
    fn repay(&self, tx: &Tx, template: &RevealedTxOut, paid: u64, rng: &mut ChaCha20Rng) -> Tx {
        let mut bad = tx.clone();
        let (at, bob_t1_at) = (find(tx, &template.tx_out), self.bob_output_at(tx, T1));
        bad.prefix.outputs[at] = template
            .change_committed_amount(Amount::new(paid, T1))
            .unwrap();
        bad.prefix.outputs[bob_t1_at] = self.output(
            Amount::new(self.bob_owned[0].1.value - paid, T1),
            &self.bob,
            rng,
        );
        bad
    }

    /// A fresh output of `amount` to `to`, with its secret.
    fn output(&self, amount: Amount, to: &AccountKey, rng: &mut ChaCha20Rng) -> TxOut {
        let r = RistrettoPrivate::random(rng);
        TxOut::new(
            BV,
            amount,
            &to.default_subaddress(),
            &r,
            EncryptedFogHint::fake_onetime_hint(rng),
        )
        .unwrap()
    }
}

fn mlsag_error() -> E {
    E::InvalidTransactionSignature(RingCtError::RingSignature(
        RingSignatureError::InvalidSignature,
    ))
}

/// The offer's signature does not verify.
fn sci_signature_error() -> SciError {
    SciError::RingSignature(RingSignatureError::InvalidSignature)
}

/// Index of the input with rules (the offer's) or of the one without.
fn input_at(tx: &Tx, with_rules: bool) -> usize {
    tx.prefix
        .inputs
        .iter()
        .position(|i| i.input_rules.is_some() == with_rules)
        .unwrap()
}

/// Index of the output that is the rules' (required or template) output, ignoring amount.
fn find(tx: &Tx, template: &TxOut) -> usize {
    tx.prefix
        .outputs
        .iter()
        .position(|o| eq_ignoring_amount(template, o))
        .unwrap()
}

fn value_to(tx: &Tx, key: &AccountKey, token: TokenId) -> u64 {
    tx.prefix
        .outputs
        .iter()
        .filter_map(|o| o.view_key_match(key.view_private_key()).ok())
        .filter(|(a, _)| a.token_id == token)
        .map(|(a, _)| a.value)
        .sum()
}

#[test]
fn full_fill_swap_validates_and_pays_both() {
    let (l, mut rng) = Ledger::new(1);
    let sci = l.full_offer(0, 0, &mut rng);
    sci.validate().unwrap();
    // The offer travels as MobileCoin's protobuf and comes back the same.
    let bytes = sci.encode_to_vec();
    let back = SignedContingentInput::decode(&bytes).unwrap();
    assert_eq!(back, sci);
    back.validate().unwrap();

    let tx = l.take_full(&back, &mut rng);
    assert_eq!(l.check(&tx), Ok(()));
    // Through the wire too (rules included).
    let decoded = Tx::decode(&tx.encode_to_vec()).unwrap();
    assert_eq!(decoded, tx);
    assert_eq!(l.check(&decoded), Ok(()));

    let offered = l.alice_owned[0].1.value;
    assert_eq!(value_to(&tx, &l.alice, T1), ASK);
    assert_eq!(
        value_to(&tx, &l.bob, TokenId::MOB),
        offered - MOB_MINIMUM_FEE
    );
    assert!(tx.key_images().contains(&sci.key_image()));
}

#[test]
fn partial_fill_swap_validates_with_the_exact_fraction() {
    let (l, mut rng) = Ledger::new(2);
    let offered = l.alice_owned[1].1.value; // 11 MOB
    let sci = l.partial_offer(1, 110_000, MOB, &mut rng);
    sci.validate().unwrap();
    let sci = SignedContingentInput::decode(&sci.encode_to_vec()).unwrap();

    // Take 1/3 of it: 11 MOB - 7.333.. MOB returned; 110000/3 = 36666.67 → 36667.
    let change = offered - offered / 3;
    let tx = l.take_partial(&sci, change, 36_667, &mut rng);
    assert_eq!(value_to(&tx, &l.alice, T1), 36_667);
    assert_eq!(value_to(&tx, &l.alice, TokenId::MOB), change);

    // Take it all: change 0, pays the whole ask.
    l.take_partial(&sci, 0, 110_000, &mut rng);

    // Take exactly the minimum.
    l.take_partial(&sci, offered - MOB, 10_000, &mut rng);
}

#[test]
fn required_output_missing_or_altered_is_refused() {
    let (l, mut rng) = Ledger::new(3);
    let sci = l.full_offer(0, 0, &mut rng);
    let tx = l.take_full(&sci, &mut rng);
    let required = sci.rules().unwrap().required_outputs[0].clone();
    let at = find(&tx, &required);

    // Dropped: Bob keeps the token 1 he owed Alice.
    let mut bad = tx.clone();
    bad.prefix.outputs.remove(at);
    let bob_t1 = l.bob_owned[0].1.value;
    let bob_change = l.bob_output_at(&bad, T1);
    bad.prefix.outputs[bob_change] = l.output(Amount::new(bob_t1, T1), &l.bob, &mut rng);
    assert_eq!(
        l.check_resigned(bad, &sci, &mut rng),
        Err(E::InputRule(R::MissingRequiredOutput))
    );

    // Altered: same amount and keys, another memo (nothing else changes the balance).
    let mut bad = tx.clone();
    let memo = bad.prefix.outputs[at].e_memo.as_mut().unwrap();
    memo.0[0] ^= 1;
    assert_eq!(
        l.check_resigned(bad, &sci, &mut rng),
        Err(E::InputRule(R::MissingRequiredOutput))
    );

    // Redirected: the same value of token 1 paid to a fresh output of Bob's.
    let mut bad = tx.clone();
    bad.prefix.outputs[at] = l.output(Amount::new(ASK, T1), &l.bob, &mut rng);
    assert_eq!(
        l.check_resigned(bad, &sci, &mut rng),
        Err(E::InputRule(R::MissingRequiredOutput))
    );
}

#[test]
fn tombstone_beyond_the_rules_maximum_is_refused() {
    let (l, mut rng) = Ledger::new(4);
    let sci = l.full_offer(0, CURRENT + 20, &mut rng);
    // The builder lowers its tombstone to the offer's limit.
    let tx = l.take_full(&sci, &mut rng);
    assert_eq!(tx.prefix.tombstone_block, CURRENT + 20);
    assert_eq!(l.check(&tx), Ok(()));

    let mut bad = tx.clone();
    bad.prefix.tombstone_block = CURRENT + 21;
    assert_eq!(
        l.check_resigned(bad, &sci, &mut rng),
        Err(E::InputRule(R::MaxTombstoneBlockExceeded))
    );
}

#[test]
fn partial_fill_rules_are_each_refused() {
    let (l, mut rng) = Ledger::new(5);
    let offered = l.alice_owned[1].1.value;
    let ask = 110_000;
    let sci = l.partial_offer(1, ask, MOB, &mut rng);
    let rules = sci.rules().unwrap().clone();
    let template = rules.partial_fill_outputs[0].clone();
    let change_template = rules.partial_fill_change.clone().unwrap();

    // The taker's builder refuses to keep less than the minimum or to return more than
    // was offered, or change in another token.
    let (mut b, _) = l.bob_builder(BOB_SKIP);
    assert_eq!(
        b.add_presigned_partial_fill_input(
            l.with_proofs(&sci),
            Amount::new(offered - MOB + 1, TokenId::MOB)
        ),
        Err(SciError::ChangeLimitExceeded)
    );
    assert_eq!(
        b.add_presigned_partial_fill_input(
            l.with_proofs(&sci),
            Amount::new(offered + 1, TokenId::MOB)
        ),
        Err(SciError::ChangeLimitExceeded)
    );
    assert_eq!(
        b.add_presigned_partial_fill_input(l.with_proofs(&sci), Amount::new(5, T1)),
        Err(SciError::TokenIdMismatch)
    );
    // A partial offer through the full-fill call.
    assert_eq!(
        b.add_presigned_input(l.with_proofs(&sci)),
        Err(SciError::PartialFillInputNotAllowedHere)
    );

    // Half taken: 5.5 MOB back to Alice, 55000 token 1 owed.
    let change = offered / 2;
    let tx = l.take_partial(&sci, change, 55_000, &mut rng);
    let out_at = find(&tx, &template.tx_out);
    let change_at = find(&tx, &change_template.tx_out);
    let bob_t1_at = l.bob_output_at(&tx, T1);
    let bob_mob_at = l.bob_output_at(&tx, TokenId::MOB);
    let bob_t1_total = l.bob_owned[0].1.value;

    // Paying one unit less than the fraction: Bob keeps it.
    let bad = l.repay(&tx, &template, 54_999, &mut rng);
    assert_eq!(
        l.check_resigned(bad, &sci, &mut rng),
        Err(E::InputRule(
            R::FractionalOutputAmountDoesNotRespectFillFraction
        ))
    );

    // Keeping less than the minimum fill (returning more than C - min).
    let mut bad = tx.clone();
    let too_much_back = offered - MOB + 1;
    bad.prefix.outputs[change_at] = change_template
        .change_committed_amount(Amount::new(too_much_back, TokenId::MOB))
        .unwrap();
    bad.prefix.outputs[bob_mob_at] = l.output(
        Amount::new(offered - too_much_back - MOB_MINIMUM_FEE, TokenId::MOB),
        &l.bob,
        &mut rng,
    );
    assert_eq!(
        l.check_resigned(bad, &sci, &mut rng),
        Err(E::InputRule(R::FractionalChangeOutputAmountExceedsLimit))
    );

    // The fractional change dropped: Bob takes the whole input (and pays the whole ask,
    // so only the rule stops it).
    let mut bad = l.repay(&tx, &template, ask, &mut rng);
    bad.prefix.outputs[bob_mob_at] = l.output(
        Amount::new(offered - MOB_MINIMUM_FEE, TokenId::MOB),
        &l.bob,
        &mut rng,
    );
    bad.prefix.outputs.remove(change_at);
    assert_eq!(
        l.check_resigned(bad, &sci, &mut rng),
        Err(E::InputRule(R::MissingFractionalChangeOutput))
    );

    // The fractional output dropped.
    let mut bad = tx.clone();
    bad.prefix.outputs[bob_t1_at] = l.output(Amount::new(bob_t1_total, T1), &l.bob, &mut rng);
    bad.prefix.outputs.remove(out_at);
    assert_eq!(
        l.check_resigned(bad, &sci, &mut rng),
        Err(E::InputRule(R::MissingFractionalOutput))
    );

    // The fractional change recommitted in token 1 (Bob balances both tokens).
    let mut bad = tx.clone();
    bad.prefix.outputs[change_at] = change_template
        .change_committed_amount(Amount::new(10, T1))
        .unwrap();
    bad.prefix.outputs[bob_t1_at] = l.output(
        Amount::new(bob_t1_total - 55_000 - 10, T1),
        &l.bob,
        &mut rng,
    );
    bad.prefix.outputs[bob_mob_at] = l.output(
        Amount::new(offered - MOB_MINIMUM_FEE, TokenId::MOB),
        &l.bob,
        &mut rng,
    );
    assert_eq!(
        l.check_resigned(bad, &sci, &mut rng),
        Err(E::InputRule(R::FractionalOutputTokenIdMismatch))
    );
}

#[test]
fn rules_arithmetic_at_the_rounding_edge() {
    // p / P >= (C - c) / C exactly: with C = 3 units of fill, P = 100, c = 2 → 33.33..:
    // 34 passes, 33 fails.
    let (l, mut rng) = Ledger::new(6);
    let offered = l.alice_owned[1].1.value; // 11 MOB
    let sci = l.partial_offer(1, 100, 0, &mut rng);
    let change = offered - offered / 3; // fill fraction (offered/3)/offered
                                        // 100 * 3666666666666 / 11000000000000 = 33.33.. → 34
    let tx = l.take_partial(&sci, change, 34, &mut rng);
    let template = sci.rules().unwrap().partial_fill_outputs[0].clone();
    let bad = l.repay(&tx, &template, 33, &mut rng);
    assert_eq!(
        l.check_resigned(bad, &sci, &mut rng),
        Err(E::InputRule(
            R::FractionalOutputAmountDoesNotRespectFillFraction
        ))
    );
}

#[test]
fn signature_over_other_rules_is_refused() {
    let (l, mut rng) = Ledger::new(7);
    let sci = l.full_offer(0, 0, &mut rng);

    // Bob rewrites the rules to ask for nothing but the tombstone (the required output
    // gone): the MLSAG signed the original rules.
    let mut forged = sci.clone();
    let rules = forged.tx_in.input_rules.as_mut().unwrap();
    rules.required_outputs.clear();
    forged.required_output_amounts.clear();
    assert_eq!(forged.validate(), Err(sci_signature_error()));
    let tx = l.complete(&forged, BOB_SKIP, 0, &mut rng);
    assert_eq!(l.check(&tx), Err(mlsag_error()));

    // Rules removed altogether: the input then needs a signature over the whole
    // transaction, which the maker never made.
    let tx = l.take_full(&sci, &mut rng);
    let mut bad = tx.clone();
    for i in &mut bad.prefix.inputs {
        i.input_rules = None;
    }
    assert_eq!(l.check(&bad), Err(mlsag_error()));

    // Rules attached to Bob's own input after he signed: now no input signs the whole
    // transaction.
    let mut bad = tx;
    let own = input_at(&bad, false);
    bad.prefix.inputs[own].input_rules = sci.rules().cloned();
    assert_eq!(
        l.check(&bad),
        Err(E::InvalidTransactionSignature(
            RingCtError::AllRingsPresigned
        ))
    );
}

#[test]
fn sci_reused_with_another_ring_or_pseudo_output_is_refused() {
    let (l, mut rng) = Ledger::new(8);
    let sci = l.full_offer(0, 0, &mut rng);

    // Another ring: one mixin swapped for another TxOut (ring stays sorted).
    let mut other_ring = sci.clone();
    let replacement = l
        .mixins(3 * RING_SIZE)
        .find(|m| !other_ring.tx_out_global_indices.contains(&(*m as u64)))
        .unwrap();
    let real_key = l.tx_outs[l.alice_owned[0].0].public_key;
    let victim = other_ring
        .tx_in
        .ring
        .iter()
        .position(|t| t.public_key != real_key)
        .unwrap();
    other_ring.tx_in.ring[victim] = l.tx_outs[replacement].clone();
    other_ring.tx_out_global_indices[victim] = replacement as u64;
    let mut pairs: Vec<(TxOut, u64)> = other_ring
        .tx_in
        .ring
        .drain(..)
        .zip(other_ring.tx_out_global_indices.drain(..))
        .collect();
    pairs.sort_by_key(|p| p.0.public_key);
    (other_ring.tx_in.ring, other_ring.tx_out_global_indices) = pairs.into_iter().unzip();
    assert_eq!(other_ring.validate(), Err(sci_signature_error()));
    // And at the node, in a transaction otherwise complete.
    let tx = l.take_full(&sci, &mut rng);
    let mut bad = tx.clone();
    let at = input_at(&bad, true);
    bad.prefix.inputs[at] = l.with_proofs(&other_ring).tx_in;
    bad.prefix.inputs.sort_by_key(|i| i.ring[0].public_key);
    assert_eq!(l.check_resigned(bad, &sci, &mut rng), Err(mlsag_error()));

    // Another pseudo-output: the MLSAG binds the commitment, so a claimed larger value
    // (or another blinding) does not verify.
    let mut richer = sci.clone();
    richer.pseudo_output_amount.value += MOB;
    assert_eq!(richer.validate(), Err(sci_signature_error()));
    let tx = l.take_full(&richer, &mut rng);
    assert_eq!(l.check(&tx), Err(mlsag_error()));

    let mut reblinded = sci.clone();
    reblinded.pseudo_output_amount.blinding += curve25519_dalek::scalar::Scalar::ONE;
    assert_eq!(reblinded.validate(), Err(sci_signature_error()));
}

#[test]
fn sci_validate_refuses_malformed_offers() {
    let (l, mut rng) = Ledger::new(9);
    let sci = l.full_offer(0, 0, &mut rng);

    let mut bad = sci.clone();
    bad.required_output_amounts[0].value += 1;
    assert_eq!(bad.validate(), Err(SciError::RequiredOutputMismatch));

    let mut bad = sci.clone();
    bad.required_output_amounts.clear();
    // Clearing the amounts leaves the signed rules intact: only the count is wrong.
    assert_eq!(
        bad.validate(),
        Err(SciError::WrongNumberOfRequiredOutputAmounts)
    );

    let mut bad = sci.clone();
    bad.tx_out_global_indices.pop();
    assert_eq!(bad.validate(), Err(SciError::WrongNumberOfGlobalIndices));

    let mut bad = sci.clone();
    bad.tx_in.input_rules = None;
    assert_eq!(bad.validate(), Err(SciError::MissingRules));

    // Proofs for other indices than claimed.
    let mut bad = sci.clone();
    let wrong: Vec<TxOutMembershipProof> = (0..RING_SIZE).map(|i| l.proof(i)).collect();
    assert_eq!(
        bad.set_membership_proofs(wrong),
        Err(SciError::MissingProofs)
    );
    // Without proofs the builder refuses it.
    let (mut b, _) = l.bob_builder(BOB_SKIP);
    assert_eq!(
        b.add_presigned_input(sci.clone()),
        Err(SciError::MissingProofs)
    );

    // Garbage bytes.
    assert!(matches!(
        SignedContingentInput::decode(&[0xff, 0xff, 0xff]),
        Err(SciError::Decode(_))
    ));
    // A partial offer whose minimum exceeds its change cannot be built.
    let mut b = l.partial_offer_builder(1, 10, &mut rng);
    b.set_min_partial_fill_value(l.alice_owned[1].1.value + 1);
    assert!(matches!(
        b.build(&mut rng),
        Err(SciError::MinPartialFillValueExceedsPartialChange)
    ));
    // A partial fill output that asks for nothing (every fill of it would be refused).
    let b = l.partial_offer_builder(1, 0, &mut rng);
    assert!(matches!(
        b.build(&mut rng),
        Err(SciError::ZeroPartialFillOutput)
    ));
    // A minimum without partial fill change.
    let mut b = l.full_offer_builder(1, 10, &mut rng);
    b.set_min_partial_fill_value(1);
    assert!(matches!(
        b.build(&mut rng),
        Err(SciError::MissingPartialFillChange)
    ));
}

#[test]
fn sci_at_a_block_version_without_it_is_refused() {
    let (l, mut rng) = Ledger::new(10);
    let sci = l.full_offer(0, 0, &mut rng);

    // The offer claims block version 2 (no signed contingent inputs).
    let mut old = sci.clone();
    old.block_version = 2;
    assert_eq!(
        old.validate(),
        Err(SciError::FeatureNotSupportedAtBlockVersion(2))
    );
    let mut unknown = sci.clone();
    unknown.block_version = 99;
    assert_eq!(
        unknown.validate(),
        Err(SciError::FeatureNotSupportedAtBlockVersion(99))
    );
    // A version-4 builder will not take a version-3 offer.
    let mut b = TransactionBuilder::new(
        BlockVersion::FOUR,
        Amount::new(MOB_MINIMUM_FEE, TokenId::MOB),
    );
    assert_eq!(
        b.add_presigned_input(l.with_proofs(&sci)),
        Err(SciError::BlockVersionMismatch { builder: 4, sci: 3 })
    );
    // Nor can one be made for version 2.
    let b = SignedContingentInputBuilder::new(
        BlockVersion::TWO,
        l.input(&l.alice, l.alice_owned[0].0, 0),
    );
    assert!(matches!(
        b.build(&mut rng),
        Err(SciError::FeatureNotSupportedAtBlockVersion(2))
    ));
    // And the rule check refuses rules below version 3.
    let tx = l.take_full(&sci, &mut rng);
    assert_eq!(
        validate_all_input_rules(&tx, BlockVersion::TWO),
        Err(E::InputRulesNotAllowed)
    );
    assert_eq!(validate_all_input_rules(&tx, BV), Ok(()));
}

#[test]
fn a_transaction_of_presigned_inputs_only_is_refused() {
    let (l, mut rng) = Ledger::new(11);
    let sci = l.full_offer(0, 0, &mut rng);
    let tx = l.take_full(&sci, &mut rng);
    let mut bad = tx.clone();
    let at = input_at(&bad, false);
    bad.prefix.inputs.remove(at);
    bad.signature.ring_signatures.remove(at);
    bad.signature.pseudo_output_commitments.remove(at);
    bad.signature.pseudo_output_token_ids.remove(at);
    assert_eq!(
        l.check(&bad),
        Err(E::InvalidTransactionSignature(
            RingCtError::AllRingsPresigned
        ))
    );
}

#[test]
fn an_offer_ring_may_share_members_with_the_takers_ring() {
    // MCIP 57: only rings without rules must be disjoint.
    let (l, mut rng) = Ledger::new(12);
    let sci = l.full_offer(0, 0, &mut rng);
    let (idx, _) = l.bob_owned[0];
    let alice_min = sci.tx_in.ring[0].public_key;
    // Bob's mixins overlap Alice's ring; inputs are sorted by their smallest member, which
    // must differ.
    let skip = (1..RING_SIZE)
        .find(|s| {
            let ring = l.input(&l.bob, idx, *s).ring;
            let min = ring.iter().map(|t| t.public_key).min().unwrap();
            min != alice_min
        })
        .unwrap();
    let shared = l
        .input(&l.bob, idx, skip)
        .ring
        .iter()
        .filter(|t| sci.tx_in.ring.contains(t))
        .count();
    assert!(shared > 0, "the rings share {shared} members");
    let tx = l.complete(&sci, skip, ASK, &mut rng);
    assert_eq!(l.check(&tx), Ok(()));
}
