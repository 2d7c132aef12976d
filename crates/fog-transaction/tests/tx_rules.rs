//! Every validation rule, each broken by a transaction that breaks exactly that rule, and the
//! builder's transactions valid before and after a protobuf round trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use curve25519_dalek::scalar::Scalar;
use fog_account::AccountKey;
use fog_crypto::RistrettoPrivate;
use fog_transaction::{
    builder::{
        sign_prefix, InputCredentials, InputSecret, OutputSecret, TransactionBuilder,
        TxBuilderError,
    },
    membership::{self, Range, TxOutMembershipProof},
    ring_signature::RingSignatureError,
    tx::Tx,
    validation::{
        self, validate, RingCtError, TransactionValidationError as E, ValidationContext,
        MOB_MINIMUM_FEE, RING_SIZE,
    },
    Amount, BlockVersion, EncryptedFogHint, FogHint, KeyImage, TokenId, TxOut,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const BV: BlockVersion = BlockVersion::THREE;
const MOB: u64 = 1_000_000_000_000;
const CURRENT: u64 = 10;

struct Ledger {
    tx_outs: Vec<TxOut>,
    store: BTreeMap<Range, [u8; 32]>,
    sender: AccountKey,
    recipient: AccountKey,
    /// Ledger indices the sender owns, with their values and tokens.
    owned: Vec<(usize, Amount)>,
}

impl Ledger {
    fn new(seed: u8) -> (Self, ChaCha20Rng) {
        let seed = [seed; 32];
        println!("seed {seed:?}");
        let mut rng = ChaCha20Rng::from_seed(seed);
        let sender = AccountKey::random(&mut rng);
        let recipient = AccountKey::random(&mut rng).with_fog("fog://fog.example", "", b"spki");
        let mut ledger = Self {
            tx_outs: Vec::new(),
            store: BTreeMap::new(),
            sender,
            recipient,
            owned: Vec::new(),
        };
        for i in 0..60usize {
            let (to, amount) = if i % 7 == 3 {
                let token = if i == 52 { TokenId(1) } else { TokenId::MOB };
                (
                    ledger.sender.default_subaddress(),
                    Amount::new((i as u64 + 1) * MOB, token),
                )
            } else {
                (
                    AccountKey::random(&mut rng).default_subaddress(),
                    Amount::new(5 * MOB, TokenId::MOB),
                )
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
            if i % 7 == 3 {
                ledger.owned.push((i, amount));
            }
            ledger.push(t);
        }
        (ledger, rng)
    }

    fn push(&mut self, t: TxOut) {
        membership::append_leaf(
            &mut self.store,
            self.tx_outs.len() as u64,
            t.merkle_leaf_hash(),
        )
        .unwrap();
        self.tx_outs.push(t);
    }

    fn proof(&self, i: usize) -> TxOutMembershipProof {
        membership::membership_proof(&self.store, self.tx_outs.len() as u64, i as u64).unwrap()
    }

    /// Credentials for the owned TxOut at ledger index `idx`, with mixins from `mixins`.
    fn input(&self, idx: usize, mixins: impl Iterator<Item = usize>) -> InputCredentials {
        let mut ring = vec![self.tx_outs[idx].clone()];
        let mut proofs = vec![self.proof(idx)];
        for m in mixins.take(RING_SIZE - 1) {
            ring.push(self.tx_outs[m].clone());
            proofs.push(self.proof(m));
        }
        let a = self.sender.view_private_key();
        let x = self.tx_outs[idx]
            .onetime_private_key(a, &self.sender.subaddress_spend_private(0))
            .unwrap();
        InputCredentials {
            ring,
            membership_proofs: proofs,
            real_index: 0,
            onetime_private_key: x,
            view_private_key: RistrettoPrivate::from_bytes(&a.to_bytes()[..]).unwrap(),
        }
    }

    fn mixins(&self, skip: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.tx_outs.len()).filter(|i| i % 7 != 3).skip(skip)
    }

    /// A valid MOB payment from the owned inputs at positions `which` of `owned`.
    fn payment(&self, which: &[usize], pay: u64, rng: &mut ChaCha20Rng) -> Tx {
        let mut b = TransactionBuilder::new(BV, Amount::new(MOB_MINIMUM_FEE, TokenId::MOB));
        b.set_tombstone_block(CURRENT + 50);
        let mut total = 0;
        for (n, w) in which.iter().enumerate() {
            let (idx, amount) = self.owned[*w];
            total += amount.value;
            b.add_input(self.input(idx, self.mixins(n * (RING_SIZE - 1))));
        }
        let ingest = RistrettoPrivate::from_bytes_mod_order(&[42; 32]).public_key();
        b.add_output(
            Amount::new(pay, TokenId::MOB),
            &self.recipient.default_subaddress(),
            Some(&ingest),
        );
        b.add_change_output(
            Amount::new(total - pay - MOB_MINIMUM_FEE, TokenId::MOB),
            &self.sender,
            None,
        );
        b.set_sender_memo_credential(fog_transaction::memo::SenderMemoCredential::from_account(
            &self.sender,
        ));
        b.build(rng).unwrap()
    }

    fn root_proofs(&self, tx: &Tx) -> Vec<TxOutMembershipProof> {
        tx.prefix
            .membership_proof_highest_indices()
            .iter()
            .filter(|h| **h < self.tx_outs.len() as u64)
            .map(|h| self.proof(*h as usize))
            .collect()
    }

    fn check(&self, tx: &Tx) -> Result<(), E> {
        self.check_with(tx, &validation::default_fee_map())
    }

    fn check_with(&self, tx: &Tx, fee_map: &BTreeMap<u64, u64>) -> Result<(), E> {
        let root_proofs = self.root_proofs(tx);
        let ctx = ValidationContext {
            block_version: BV,
            current_block_index: CURRENT,
            fee_map,
            root_proofs: &root_proofs,
            ring_size: RING_SIZE,
        };
        validate(tx, &ctx, &mut ChaCha20Rng::from_seed([1; 32]))
    }

    /// The secrets to re-sign `tx` after its prefix was changed: every input is owned by the
    /// sender; outputs to the recipient or the sender's change.
    fn secrets(&self, tx: &Tx) -> (Vec<InputSecret>, Vec<OutputSecret>) {
        let a = self.sender.view_private_key();
        let inputs = tx
            .prefix
            .inputs
            .iter()
            .map(|input| {
                let (real_index, t) = input
                    .ring
                    .iter()
                    .enumerate()
                    .find(|(_, t)| t.view_key_match(a).is_ok())
                    .unwrap();
                let (amount, shared) = t.view_key_match(a).unwrap();
                let (_, blinding) = t.masked_amount().unwrap().get_value(&shared).unwrap();
                InputSecret {
                    onetime_private_key: t
                        .onetime_private_key(a, &self.sender.subaddress_spend_private(0))
                        .unwrap(),
                    real_index,
                    amount,
                    blinding,
                }
            })
            .collect();
        let outputs = tx
            .prefix
            .outputs
            .iter()
            .map(|o| self.output_secret(o))
            .collect();
        (inputs, outputs)
    }

    fn output_secret(&self, o: &TxOut) -> OutputSecret {
        for key in [
            self.recipient.view_private_key(),
            self.sender.view_private_key(),
        ] {
            if let Ok((amount, shared)) = o.view_key_match(key) {
                let (_, blinding) = o.masked_amount().unwrap().get_value(&shared).unwrap();
                return OutputSecret { amount, blinding };
            }
        }
        panic!("output belongs to nobody we know");
    }

    fn resign(&self, tx: &Tx, rng: &mut ChaCha20Rng) -> Tx {
        let (inputs, outputs) = self.secrets(tx);
        sign_prefix(tx.prefix.clone(), &inputs, &outputs, rng).unwrap()
    }

    /// A new output of `value` to the recipient.
    fn output(&self, value: u64, rng: &mut ChaCha20Rng) -> TxOut {
        let r = RistrettoPrivate::random(rng);
        TxOut::new(
            BV,
            Amount::new(value, TokenId::MOB),
            &self.recipient.default_subaddress(),
            &r,
            EncryptedFogHint::fake_onetime_hint(rng),
        )
        .unwrap()
    }
}

fn sig(e: RingCtError) -> E {
    E::InvalidTransactionSignature(e)
}

#[test]
fn built_transactions_validate_and_pay_the_recipient() {
    let (ledger, mut rng) = Ledger::new(1);
    for which in [vec![0usize], vec![1, 2], vec![0, 1, 2, 3]] {
        let tx = ledger.payment(&which, 3 * MOB / 2, &mut rng);
        ledger.check(&tx).unwrap();
        // From protobuf bytes, as a node receives it.
        let decoded = Tx::decode(&tx.encode_to_vec()).unwrap();
        assert_eq!(decoded, tx);
        assert_eq!(decoded.hash(), tx.hash());
        ledger.check(&decoded).unwrap();
        // The recipient's view key finds exactly the payment; its fog hint names the
        // recipient's view key.
        let found: Vec<&TxOut> = tx
            .prefix
            .outputs
            .iter()
            .filter(|o| {
                o.view_key_match(ledger.recipient.view_private_key())
                    .is_ok()
            })
            .collect();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0]
                .view_key_match(ledger.recipient.view_private_key())
                .unwrap()
                .0
                .value,
            3 * MOB / 2
        );
        let ingest = RistrettoPrivate::from_bytes_mod_order(&[42; 32]);
        let mut out = [0u8; 32];
        assert!(bool::from(FogHint::ct_decrypt(
            &ingest,
            &found[0].e_fog_hint,
            &mut out
        )));
        assert_eq!(
            &out,
            ledger
                .recipient
                .default_subaddress()
                .view_public_key()
                .as_bytes()
        );
        // The sender's change is at its change subaddress.
        let change = tx
            .prefix
            .outputs
            .iter()
            .find(|o| {
                o.subaddress_spend_public_key(ledger.sender.view_private_key())
                    .unwrap()
                    == *ledger.sender.change_subaddress().spend_public_key()
            })
            .unwrap();
        assert!(change
            .view_key_match(ledger.sender.view_private_key())
            .is_ok());
    }
}

#[test]
fn counts_and_ring_sizes() {
    let (ledger, mut rng) = Ledger::new(2);
    let tx = ledger.payment(&[0], MOB, &mut rng);
    let mut t = tx.clone();
    t.prefix.inputs.clear();
    assert_eq!(ledger.check(&t), Err(E::NoInputs));
    let mut t = tx.clone();
    t.prefix.inputs = vec![tx.prefix.inputs[0].clone(); 17];
    assert_eq!(ledger.check(&t), Err(E::TooManyInputs));
    let mut t = tx.clone();
    t.prefix.outputs.clear();
    assert_eq!(ledger.check(&t), Err(E::NoOutputs));
    let mut t = tx.clone();
    t.prefix.outputs = vec![tx.prefix.outputs[0].clone(); 17];
    assert_eq!(ledger.check(&t), Err(E::TooManyOutputs));
    let mut t = tx.clone();
    t.prefix.inputs[0].ring.pop();
    assert_eq!(ledger.check(&t), Err(E::InsufficientRingSize));
    let mut t = tx.clone();
    t.prefix.inputs[0].ring.push(ledger.tx_outs[0].clone());
    assert_eq!(ledger.check(&t), Err(E::ExcessiveRingSize));
}

#[test]
fn ring_uniqueness_and_order() {
    let (ledger, mut rng) = Ledger::new(3);
    let tx = ledger.payment(&[0, 1], MOB, &mut rng);
    let mut t = tx.clone();
    t.prefix.inputs[0].ring[1] = t.prefix.inputs[0].ring[0].clone();
    assert_eq!(ledger.check(&t), Err(E::DuplicateRingElements));
    let mut t = tx.clone();
    t.prefix.inputs[1].ring[4] = t.prefix.inputs[0].ring[4].clone();
    assert_eq!(ledger.check(&t), Err(E::DuplicateRingElements));
    let mut t = tx.clone();
    t.prefix.inputs[0].ring.swap(2, 3);
    t.prefix.inputs[0].proofs.swap(2, 3);
    assert_eq!(ledger.check(&t), Err(E::UnsortedRingElements));
    let mut t = tx.clone();
    t.prefix.inputs.swap(0, 1);
    assert_eq!(ledger.check(&t), Err(E::UnsortedInputs));
}

#[test]
fn membership_proofs() {
    let (ledger, mut rng) = Ledger::new(4);
    let tx = ledger.payment(&[0], MOB, &mut rng);
    let mut t = tx.clone();
    t.prefix.inputs[0].proofs.pop();
    assert_eq!(ledger.check(&t), Err(E::MissingTxOutMembershipProof));
    let mut t = tx.clone();
    t.prefix.inputs[0].proofs[3].elements[1].hash[0] ^= 1;
    assert!(matches!(
        ledger.check(&t),
        Err(E::InvalidTxOutMembershipProof(_))
    ));
    // A proof for a ledger that never existed (stale or forged): another ledger's proof of a
    // TxOut at the same index.
    let (other, _) = Ledger::new(40);
    let mut t = tx.clone();
    let idx = t.prefix.inputs[0].proofs[5].index as usize;
    t.prefix.inputs[0].proofs[5] = other.proof(idx);
    assert!(matches!(
        ledger.check(&t),
        Err(E::InvalidTxOutMembershipProof(_))
    ));
    // A proof claiming a ledger larger than ours has no root to check against.
    let mut t = tx;
    t.prefix.inputs[0].proofs[0].highest_index = 10_000;
    assert_eq!(ledger.check(&t), Err(E::MissingTxOutMembershipProof));
}

#[test]
fn signature_rules() {
    let (ledger, mut rng) = Ledger::new(5);
    let tx = ledger.payment(&[0, 1], MOB, &mut rng);
    let mut t = tx.clone();
    t.signature.ring_signatures[0].responses[3] += Scalar::ONE;
    assert_eq!(
        ledger.check(&t),
        Err(sig(RingCtError::RingSignature(
            RingSignatureError::InvalidSignature
        )))
    );
    let mut t = tx.clone();
    t.prefix.fee += 1;
    assert_eq!(ledger.check(&t), Err(sig(RingCtError::ValueNotConserved)));
    let mut t = tx.clone();
    t.signature.ring_signatures[1].key_image = t.signature.ring_signatures[0].key_image;
    assert_eq!(ledger.check(&t), Err(sig(RingCtError::DuplicateKeyImage)));
    let mut t = tx.clone();
    t.signature.range_proofs[0][200] ^= 1;
    assert!(matches!(
        ledger.check(&t),
        Err(E::InvalidTransactionSignature(RingCtError::RangeProof(_)))
    ));
    let mut t = tx.clone();
    t.signature.pseudo_output_token_ids.pop();
    assert_eq!(ledger.check(&t), Err(sig(RingCtError::LengthMismatch)));
    let mut t = tx.clone();
    t.signature.range_proof_bytes = vec![1, 2, 3];
    assert_eq!(
        ledger.check(&t),
        Err(sig(RingCtError::UnexpectedRangeProof))
    );
    let mut t = tx.clone();
    t.signature.range_proofs.push(vec![0; 10]);
    assert_eq!(
        ledger.check(&t),
        Err(sig(RingCtError::MissingRangeProofs {
            expected: 1,
            found: 2
        }))
    );
    let mut t = tx.clone();
    t.signature.pseudo_output_commitments[0] = [0xff; 32];
    assert_eq!(ledger.check(&t), Err(sig(RingCtError::InvalidCommitment)));
    // A forged output key: the MLSAGs signed the old one.
    let mut t = tx.clone();
    t.prefix.outputs[0].target_key = ledger.output(1, &mut rng).target_key;
    assert_eq!(
        ledger.check(&t),
        Err(sig(RingCtError::RingSignature(
            RingSignatureError::InvalidSignature
        )))
    );
    // More value out than in, signed by the sender: the commitments do not balance.
    let mut t = tx.clone();
    let big = ledger.output(100 * MOB, &mut rng);
    let (inputs, mut outputs) = ledger.secrets(&t);
    t.prefix.outputs[0] = big.clone();
    outputs[0] = ledger.output_secret(&big);
    let forged = sign_prefix(t.prefix.clone(), &inputs, &outputs, &mut rng).unwrap();
    assert_eq!(
        ledger.check(&forged),
        Err(sig(RingCtError::ValueNotConserved))
    );
}

#[test]
fn fee_and_tokens() {
    let (ledger, mut rng) = Ledger::new(6);
    let tx = ledger.payment(&[0], MOB, &mut rng);
    // Fee one below the minimum, balanced by a larger payment, properly signed.
    let mut t = tx.clone();
    t.prefix.fee -= 1;
    let pay = t
        .prefix
        .outputs
        .iter()
        .position(|o| {
            o.view_key_match(ledger.recipient.view_private_key())
                .is_ok()
        })
        .unwrap();
    t.prefix.outputs[pay] = ledger.output(MOB + 1, &mut rng);
    t.prefix.outputs.sort_by_key(|o| o.public_key);
    let t = ledger.resign(&t, &mut rng);
    assert_eq!(ledger.check(&t), Err(E::TxFeeError));
    assert_eq!(ledger.check(&tx.clone()), Ok(()));
    assert_eq!(
        ledger.check_with(&tx, &BTreeMap::from([(7, 128)])),
        Err(E::TokenNotYetConfigured)
    );
}

#[test]
fn output_rules() {
    let (ledger, mut rng) = Ledger::new(7);
    let tx = ledger.payment(&[0], MOB, &mut rng);
    // Two outputs with one public key, properly signed.
    let mut t = tx.clone();
    let value = tx
        .prefix
        .outputs
        .iter()
        .map(|o| ledger.output_secret(o).amount.value)
        .sum::<u64>();
    assert_eq!(
        value % 2,
        0,
        "test setup: the outputs' total must split in two"
    );
    let half = ledger.output(value / 2, &mut rng);
    t.prefix.outputs = vec![half.clone(), half];
    assert_eq!(
        ledger.check(&ledger.resign(&t, &mut rng)),
        Err(E::DuplicateOutputPublicKey)
    );
    let mut t = tx.clone();
    t.prefix.tombstone_block = CURRENT;
    assert_eq!(
        ledger.check(&ledger.resign(&t, &mut rng)),
        Err(E::TombstoneBlockExceeded)
    );
    let mut t = tx.clone();
    t.prefix.tombstone_block = CURRENT + validation::MAX_TOMBSTONE_BLOCKS + 1;
    assert_eq!(
        ledger.check(&ledger.resign(&t, &mut rng)),
        Err(E::TombstoneBlockTooFar)
    );
    let mut t = tx.clone();
    t.prefix.outputs[0].e_memo = None;
    assert_eq!(
        ledger.check(&ledger.resign(&t, &mut rng)),
        Err(E::MissingMemo)
    );
    let mut t = tx.clone();
    t.prefix.outputs[1]
        .masked_amount
        .as_mut()
        .unwrap()
        .masked_token_id
        .clear();
    let secrets = ledger.secrets(&tx);
    let t = sign_prefix(t.prefix, &secrets.0, &secrets.1, &mut rng).unwrap();
    assert_eq!(ledger.check(&t), Err(E::MissingMaskedTokenId));
    let mut t = tx.clone();
    t.prefix.outputs.reverse();
    assert_eq!(
        ledger.check(&ledger.resign(&t, &mut rng)),
        Err(E::UnsortedOutputs)
    );
}

#[test]
fn ledger_state_rules() {
    let (mut ledger, mut rng) = Ledger::new(8);
    let tx = ledger.payment(&[0], MOB, &mut rng);
    let spent: Vec<KeyImage> = tx.key_images();
    assert_eq!(
        validation::validate_against_ledger(&tx, |k| spent.contains(k), |_| false),
        Err(E::ContainsSpentKeyImage)
    );
    let first = tx.prefix.outputs[0].clone();
    ledger.push(first.clone());
    assert_eq!(
        validation::validate_against_ledger(
            &tx,
            |_| false,
            |p| ledger.tx_outs.iter().any(|t| t.public_key.0 == *p)
        ),
        Err(E::ContainsExistingOutputPublicKey)
    );
    assert_eq!(
        validation::validate_against_ledger(&tx, |_| false, |_| false),
        Ok(())
    );
}

#[test]
fn builder_refuses_what_it_cannot_sign() {
    let (ledger, mut rng) = Ledger::new(9);
    let (idx, amount) = ledger.owned[0];
    // Unbalanced.
    let mut b = TransactionBuilder::new(BV, Amount::new(MOB_MINIMUM_FEE, TokenId::MOB));
    b.add_input(ledger.input(idx, ledger.mixins(0)));
    b.add_output(
        Amount::new(amount.value, TokenId::MOB),
        &ledger.sender.default_subaddress(),
        None,
    );
    assert!(matches!(
        b.build(&mut rng),
        Err(TxBuilderError::ValueNotConserved { token: 0, .. })
    ));
    // A fog recipient without an ingest key.
    let mut b = TransactionBuilder::new(BV, Amount::new(MOB_MINIMUM_FEE, TokenId::MOB));
    b.add_input(ledger.input(idx, ledger.mixins(0)));
    b.add_output(
        Amount::new(amount.value - MOB_MINIMUM_FEE, TokenId::MOB),
        &ledger.recipient.default_subaddress(),
        None,
    );
    assert_eq!(
        b.build(&mut rng).unwrap_err(),
        TxBuilderError::MissingFogKey
    );
    // Keys that do not own the input.
    let mut creds = ledger.input(idx, ledger.mixins(0));
    creds.real_index = 1;
    let mut b = TransactionBuilder::new(BV, Amount::new(MOB_MINIMUM_FEE, TokenId::MOB));
    b.add_input(creds);
    b.add_output(
        Amount::new(amount.value - MOB_MINIMUM_FEE, TokenId::MOB),
        &ledger.sender.default_subaddress(),
        None,
    );
    assert_eq!(b.build(&mut rng).unwrap_err(), TxBuilderError::NotOwner(0));
}

#[test]
fn mixed_token_transactions_validate() {
    let (ledger, mut rng) = Ledger::new(10);
    // owned[7] is the token-1 TxOut (ledger index 52); pay it on, fee in MOB from owned[0].
    let (i_tok, tok) = ledger.owned[7];
    assert_eq!(tok.token_id, TokenId(1));
    let (i_mob, mob) = ledger.owned[0];
    let mut b = TransactionBuilder::new(BV, Amount::new(MOB_MINIMUM_FEE, TokenId::MOB));
    b.set_tombstone_block(CURRENT + 5);
    b.add_input(ledger.input(i_mob, ledger.mixins(0)));
    b.add_input(ledger.input(i_tok, ledger.mixins(10)));
    b.add_output(tok, &ledger.sender.default_subaddress(), None);
    b.add_change_output(
        Amount::new(mob.value - MOB_MINIMUM_FEE, TokenId::MOB),
        &ledger.sender,
        None,
    );
    let tx = b.build(&mut rng).unwrap();
    assert_eq!(tx.signature.range_proofs.len(), 2);
    let fee_map = BTreeMap::from([(0, MOB_MINIMUM_FEE), (1, 1024)]);
    assert_eq!(ledger.check_with(&tx, &fee_map), Ok(()));
    // Without token 1 configured it is refused.
    assert_eq!(ledger.check(&tx), Err(E::TokenNotYetConfigured));
}
