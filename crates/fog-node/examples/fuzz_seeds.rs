//! Writes the seed corpora of the transaction-layer fuzz targets in `fuzz/fuzz_targets/`:
//! `tx_submit`, `tx_proofs`, `membership_proof`, `memo`, `block` and `ledger_db_stored`.
//!
//! ```sh
//! cargo run -p fog-node --example fuzz_seeds -- fuzz/seeds
//! ```
//!
//! Every seed is a valid encoding made by the real crates from seeded randomness, so a second
//! run writes the same bytes. The program empties and refills those six folders under the
//! given one and touches nothing else there.
//!
//! The transactions spend TxOuts of the same small ledger that `fuzz/fuzz_targets/tx_submit.rs`
//! validates against ([`fixture_ledger`]), and the memos use the fixed keys of
//! `fuzz/fuzz_targets/memo.rs` ([`memo_keys`]). Both sides build these with the same calls in
//! the same order; change them together.

use std::{
    error::Error,
    fs,
    path::{Path, PathBuf},
};

use curve25519_dalek::scalar::Scalar;
use fog_account::{AccountKey, ShortAddressHash};
use fog_api::fog_node::{BlockData, SubmitTxRequest};
use fog_crypto::{RistrettoPrivate, RistrettoPublic};
use fog_ledger_db::{
    fuzz_encode_stored_block, fuzz_encode_stored_key_images, LedgerDb, LedgerSnapshot,
};
use fog_node::{write_origin_block, Node, NodeConfig, Verdict};
use fog_transaction::{
    builder::{InputCredentials, TransactionBuilder},
    memo::{self, AuthenticatedId, Memo, MemoPayload, SenderMemoCredential},
    range_proof,
    sci::SignedContingentInputBuilder,
    tx::Tx,
    validation::{MOB_MINIMUM_FEE, RING_SIZE},
    Amount, BlockVersion, TokenId,
};
use prost::Message;
use rand::{seq::SliceRandom, SeedableRng};
use rand_chacha::ChaCha20Rng;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const MOB: u64 = 1_000_000_000_000;

/// The ledger of the `tx_submit` target: an origin block of 32 TxOuts, every fourth one paying
/// `sender` (`(i + 1)` MOB for the `i`-th), the others one MOB each to a fresh stranger.
/// `fuzz/fuzz_targets/tx_submit.rs` has the same function; they must stay identical.
fn fixture_ledger() -> Result<(AccountKey, LedgerDb)> {
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
    let ledger = LedgerDb::create_in_memory()?;
    write_origin_block(&ledger, &funding, None, &mut rng)?;
    Ok((sender, ledger))
}

/// The keys of the `memo` target: the sender and recipient of authenticated sender memos,
/// the TxOut public key they bind to, and the shared secret memos are encrypted with.
/// `fuzz/fuzz_targets/memo.rs` has the same function; they must stay identical.
fn memo_keys() -> (AccountKey, AccountKey, [u8; 32], RistrettoPublic) {
    let key = |b: u8| RistrettoPrivate::from_bytes_mod_order(&[b; 32]);
    let sender = AccountKey::new(key(0x21), key(0x22));
    let recipient = AccountKey::new(key(0x23), key(0x24));
    let tx_out_public_key = key(0x25).public_key().to_bytes();
    (sender, recipient, tx_out_public_key, key(0x26).public_key())
}

/// One seed folder, emptied on creation.
struct Seeds {
    dir: PathBuf,
    count: usize,
}

impl Seeds {
    fn new(root: &Path, target: &str) -> Result<Self> {
        let dir = root.join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        Ok(Self { dir, count: 0 })
    }

    fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        fs::write(self.dir.join(name), bytes)?;
        self.count += 1;
        Ok(())
    }

    fn done(self) {
        println!("{}: {} seeds", self.dir.display(), self.count);
    }
}

/// The ledger TxOuts `account` owns: global index and value.
fn owned(snapshot: &LedgerSnapshot, account: &AccountKey) -> Result<Vec<(u64, u64)>> {
    let n = snapshot.num_txos()?;
    Ok(snapshot
        .tx_outs(0..n)?
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let (amount, _) = t.view_key_match(account.view_private_key()).ok()?;
            Some((i as u64, amount.value))
        })
        .collect())
}

/// Builds transactions over the fixture ledger: each input's ring holds its real TxOut and
/// mixins no other ring of the same transaction uses.
struct Wallet {
    rng: ChaCha20Rng,
    sender: AccountKey,
    recipient: AccountKey,
    fog_recipient: AccountKey,
    ledger: LedgerDb,
}

impl Wallet {
    fn inputs(&mut self, real: &[u64]) -> Result<Vec<InputCredentials>> {
        let snapshot = self.ledger.snapshot()?;
        let n = snapshot.num_txos()?;
        let mut free: Vec<u64> = (0..n).filter(|i| !real.contains(i)).collect();
        free.shuffle(&mut self.rng);
        let a = self.sender.view_private_key();
        let mut inputs = Vec::new();
        for (k, &index) in real.iter().enumerate() {
            let mut indices = vec![index];
            indices.extend_from_slice(&free[k * (RING_SIZE - 1)..(k + 1) * (RING_SIZE - 1)]);
            let ring = indices
                .iter()
                .map(|i| snapshot.tx_out(*i)?.ok_or_else(|| "a ring member".into()))
                .collect::<Result<Vec<_>>>()?;
            let x = ring[0].onetime_private_key(a, &self.sender.subaddress_spend_private(0))?;
            inputs.push(InputCredentials {
                ring,
                membership_proofs: snapshot.membership_proofs(&indices)?,
                real_index: 0,
                onetime_private_key: x,
                view_private_key: RistrettoPrivate::from_bytes(&a.to_bytes()[..])?,
            });
        }
        Ok(inputs)
    }

    /// Spends the owned TxOuts `real` (global index, value): `pays` to the recipient (the fog
    /// one when `fog` gives its ingest key), the rest minus `fee` back as change.
    fn pay(
        &mut self,
        real: &[(u64, u64)],
        pays: &[u64],
        fee: u64,
        tombstone: u64,
        memos: bool,
        fog: Option<&RistrettoPublic>,
    ) -> Result<Tx> {
        let indices: Vec<u64> = real.iter().map(|r| r.0).collect();
        let total: u64 = real.iter().map(|r| r.1).sum();
        let mut b = TransactionBuilder::new(BlockVersion::THREE, Amount::new(fee, TokenId::MOB));
        b.set_tombstone_block(tombstone);
        if memos {
            b.set_sender_memo_credential(SenderMemoCredential::from_account(&self.sender));
        }
        for input in self.inputs(&indices)? {
            b.add_input(input);
        }
        let to = match fog {
            Some(_) => self.fog_recipient.default_subaddress(),
            None => self.recipient.default_subaddress(),
        };
        for pay in pays {
            b.add_output(Amount::new(*pay, TokenId::MOB), &to, fog);
        }
        let change = total - pays.iter().sum::<u64>() - fee;
        b.add_change_output(Amount::new(change, TokenId::MOB), &self.sender, None);
        Ok(b.build(&mut self.rng)?)
    }
}

impl Wallet {
    /// A swap-shaped transaction: the first of `real` offered as a signed contingent input
    /// (rules: one MOB to the recipient, tombstone at most 100), completed with the second.
    fn swap(&mut self, real: &[(u64, u64)], fee: u64) -> Result<Tx> {
        let indices: Vec<u64> = real.iter().map(|r| r.0).collect();
        let mut creds = self.inputs(&indices)?.into_iter();
        let offered = creds.next().ok_or("two inputs")?;
        let filler = creds.next().ok_or("two inputs")?;
        let mut maker = SignedContingentInputBuilder::new(BlockVersion::THREE, offered);
        maker.add_required_output(
            Amount::new(MOB, TokenId::MOB),
            &self.recipient.default_subaddress(),
            None,
            &mut self.rng,
        )?;
        maker.set_max_tombstone_block(100);
        let mut sci = maker.build(&mut self.rng)?;
        let proofs = self
            .ledger
            .snapshot()?
            .membership_proofs(&sci.tx_out_global_indices)?;
        sci.set_membership_proofs(proofs)?;
        let mut b = TransactionBuilder::new(BlockVersion::THREE, Amount::new(fee, TokenId::MOB));
        b.set_tombstone_block(100);
        b.add_input(filler);
        b.add_presigned_input(sci)?;
        let total: u64 = real.iter().map(|r| r.1).sum();
        b.add_change_output(
            Amount::new(total - MOB - fee, TokenId::MOB),
            &self.sender,
            None,
        );
        Ok(b.build(&mut self.rng)?)
    }
}

fn submit_request(tx: &Tx) -> Vec<u8> {
    SubmitTxRequest {
        tx: Some(tx.to_wire()),
    }
    .encode_to_vec()
}

fn main() -> Result<()> {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: fuzz_seeds <seed folder, e.g. fuzz/seeds>")?;
    let (sender, ledger) = fixture_ledger()?;
    let mut rng = ChaCha20Rng::from_seed([0x5e; 32]);
    let recipient = AccountKey::random(&mut rng);
    let fog_recipient =
        AccountKey::random(&mut rng).with_fog("fog://fog.example.com", "", b"seed authority");
    let ingest = RistrettoPrivate::random(&mut rng);
    let mine = owned(&ledger.snapshot()?, &sender)?;
    let mut wallet = Wallet {
        rng,
        sender,
        recipient,
        fog_recipient,
        ledger: ledger.clone(),
    };
    let fee = MOB_MINIMUM_FEE;

    // Valid transactions, each spending different owned TxOuts, so all can share a block.
    let mut valid = vec![
        (
            "one_input_memos",
            wallet.pay(&mine[0..1], &[MOB / 2], fee, 100, true, None)?,
        ),
        (
            "one_input_no_memos",
            wallet.pay(&mine[1..2], &[MOB / 3], fee, 50, false, None)?,
        ),
        (
            "two_inputs",
            wallet.pay(&mine[2..4], &[3 * MOB / 2], fee, 20_000, true, None)?,
        ),
        (
            "three_outputs",
            wallet.pay(&mine[4..5], &[MOB / 4, MOB / 5], 2 * fee, 2, true, None)?,
        ),
        (
            "fog_recipient",
            wallet.pay(
                &mine[5..6],
                &[3 * MOB / 4],
                fee,
                1000,
                true,
                Some(&ingest.public_key()),
            )?,
        ),
    ];
    // Well-formed transactions the node refuses, each for another rule.
    let mut refused = vec![
        (
            "tombstone_exceeded",
            wallet.pay(&mine[6..7], &[MOB / 2], fee, 1, true, None)?,
        ),
        (
            "fee_below_minimum",
            wallet.pay(&mine[6..7], &[MOB / 2], fee - 1, 100, true, None)?,
        ),
        (
            "tombstone_too_far",
            wallet.pay(&mine[7..8], &[MOB / 2], fee, 30_000, false, None)?,
        ),
    ];
    let mut t = valid[0].1.clone();
    t.prefix.fee += 1;
    refused.push(("fee_changed_after_signing", t));
    let mut t = valid[0].1.clone();
    t.signature.ring_signatures[0].responses.swap(0, 1);
    refused.push(("ring_signature_responses_swapped", t));
    let mut t = valid[0].1.clone();
    t.prefix.inputs[0].ring.swap(0, 1);
    t.prefix.inputs[0].proofs.swap(0, 1);
    refused.push(("unsorted_ring", t));
    let mut t = valid[2].1.clone();
    t.signature.range_proofs[0][40] ^= 1;
    refused.push(("range_proof_byte_flipped", t));
    let mut t = valid[3].1.clone();
    t.prefix.outputs.swap(0, 1);
    refused.push(("outputs_swapped", t));
    // A signed contingent input (MCIP 31) on the TxOuts only the refused ones above spend,
    // made last so that the seeds above stay as they were.
    valid.push(("signed_contingent_input", wallet.swap(&mine[6..8], fee)?));
    let mut t = valid[valid.len() - 1].1.clone();
    for input in &mut t.prefix.inputs {
        if let Some(rules) = input.input_rules.as_mut() {
            rules.max_tombstone_block = 0;
        }
    }
    refused.push(("input_rules_changed_after_signing", t));

    // The node must take exactly the valid ones.
    let node = Node::new(ledger.clone(), NodeConfig::default())?;
    for (name, tx) in &valid {
        let outcome = node.submit_tx(tx.clone())?;
        if outcome.verdict != Verdict::Accepted {
            return Err(format!("{name}: refused: {:?}", outcome.verdict).into());
        }
    }
    for (name, tx) in &refused {
        let check = Node::new(ledger.clone(), NodeConfig::default())?;
        if check.submit_tx(tx.clone())?.verdict == Verdict::Accepted {
            return Err(format!("{name}: accepted").into());
        }
    }

    let mut s = Seeds::new(&root, "tx_submit")?;
    for (name, tx) in valid.iter().chain(&refused) {
        s.write(name, &submit_request(tx))?;
    }
    s.write("bare_tx_one_input", &valid[0].1.encode_to_vec())?;
    s.write("bare_tx_two_inputs", &valid[2].1.encode_to_vec())?;
    s.write("no_tx", &SubmitTxRequest { tx: None }.encode_to_vec())?;
    s.done();

    // tx_proofs: selector 0 and a Tx; selector 1 and a raw range proof case.
    let mut s = Seeds::new(&root, "tx_proofs")?;
    for (name, tx) in valid.iter().chain(&refused[3..]) {
        let mut bytes = vec![0];
        bytes.extend(tx.encode_to_vec());
        s.write(&format!("tx_{name}"), &bytes)?;
    }
    let mut rng = ChaCha20Rng::from_seed([0x9f; 32]);
    for (values, token) in [
        (&[5u64][..], 0u64),
        (&[0, u64::MAX][..], 0),
        (&[1, 2, 3][..], 1),
        (&[7, 7, 7, 7, 7][..], 8192),
        (&[MOB; 8][..], 0),
    ] {
        let blindings: Vec<Scalar> = values.iter().map(|_| Scalar::random(&mut rng)).collect();
        let (proof, commitments) =
            range_proof::prove(values, &blindings, TokenId(token), &mut rng)?;
        let mut bytes = vec![1];
        bytes.extend(token.to_le_bytes());
        bytes.push(u8::try_from(commitments.len())?);
        for c in &commitments {
            bytes.extend(c);
        }
        bytes.extend(&proof);
        s.write(
            &format!("range_proof_{}_values_token_{token}", values.len()),
            &bytes,
        )?;
    }
    s.done();

    // membership_proof: proofs and elements from the ledger, and whole inputs (ring + proofs).
    let snapshot = ledger.snapshot()?;
    let mut s = Seeds::new(&root, "membership_proof")?;
    for index in [0u64, 1, 6, 17, 31] {
        let proof = snapshot.membership_proof(index)?;
        s.write(
            &format!("proof_{index}_of_32"),
            &proof.to_wire().encode_to_vec(),
        )?;
        if index == 17 {
            s.write(
                "leaf_element_17",
                &proof.elements[0].to_wire().encode_to_vec(),
            )?;
            s.write(
                "sibling_element_17",
                &proof.elements[3].to_wire().encode_to_vec(),
            )?;
        }
    }
    s.write(
        "root_element_32",
        &snapshot.root_element()?.to_wire().encode_to_vec(),
    )?;
    drop(snapshot);
    for (name, k) in [("one_input_memos", 0), ("two_inputs", 2)] {
        let wire = valid[k].1.to_wire();
        let input = &wire.prefix.as_ref().ok_or("a prefix")?.inputs[0];
        s.write(&format!("tx_in_{name}"), &input.encode_to_vec())?;
    }

    // Block 1: the valid transactions, cut by the node.
    let block1 = node.cut_block()?.ok_or("the node cut no block")?;
    let snapshot = ledger.snapshot()?;
    let block0 = snapshot.block(0)?.ok_or("block 0")?;
    let contents0 = snapshot.block_contents(0)?.ok_or("contents 0")?;
    let contents1 = snapshot.block_contents(1)?.ok_or("contents 1")?;
    let n = snapshot.num_txos()?;
    let proof = snapshot.membership_proof(n - 1)?;
    s.write(
        &format!("proof_{}_of_{n}", n - 1),
        &proof.to_wire().encode_to_vec(),
    )?;
    s.done();

    let mut s = Seeds::new(&root, "block")?;
    for (i, (block, contents)) in [(&block0, &contents0), (&block1, &contents1)]
        .into_iter()
        .enumerate()
    {
        s.write(&format!("block_{i}"), &block.to_wire().encode_to_vec())?;
        s.write(
            &format!("contents_{i}"),
            &contents.to_wire().encode_to_vec(),
        )?;
        let data = BlockData::encode_block(block, contents, 1_750_000_000 + i as u64);
        s.write(&format!("block_data_{i}"), &data.encode_to_vec())?;
    }
    s.done();

    let mut s = Seeds::new(&root, "ledger_db_stored")?;
    for (i, (block, contents)) in [(&block0, &contents0), (&block1, &contents1)]
        .into_iter()
        .enumerate()
    {
        s.write(&format!("block_{i}"), &fuzz_encode_stored_block(block))?;
        s.write(
            &format!("key_images_{i}"),
            &fuzz_encode_stored_key_images(&contents.key_images),
        )?;
    }
    for index in [0, 1, n - 1] {
        let tx_out = snapshot.tx_out(index)?.ok_or("a TxOut")?;
        s.write(&format!("tx_out_{index}"), &tx_out.encode_to_vec())?;
    }
    s.done();

    // memo: selector 0 and an encrypted memo, selector 1 and a payload.
    let (memo_sender, memo_recipient, tx_out_public_key, shared_secret) = memo_keys();
    let credential = SenderMemoCredential::from_account(&memo_sender);
    let to = memo_recipient.default_subaddress();
    let mut payloads: Vec<(String, MemoPayload)> = Vec::new();
    for (name, id) in [
        ("authenticated_sender", AuthenticatedId::None),
        (
            "authenticated_sender_request",
            AuthenticatedId::PaymentRequest(23),
        ),
        (
            "authenticated_sender_intent",
            AuthenticatedId::PaymentIntent(u64::MAX),
        ),
    ] {
        let p = memo::authenticated_sender_memo(
            &credential,
            to.view_public_key(),
            &tx_out_public_key,
            id,
        );
        payloads.push((name.into(), p));
    }
    let address_hash = ShortAddressHash([4; 16]);
    let typed = [
        ("unused", Memo::Unused),
        ("burn_redemption", Memo::BurnRedemption([3; 64])),
        (
            "gift_code_sender",
            Memo::GiftCodeSender {
                fee,
                note: "thanks".into(),
            },
        ),
        (
            "defragmentation",
            Memo::Defragmentation {
                fee: (1 << 56) - 1,
                total_outlay: u64::MAX,
                defrag_id: 9,
            },
        ),
        (
            "destination",
            Memo::destination(address_hash, 100 * MOB, fee),
        ),
        (
            "destination_request",
            Memo::Destination {
                address_hash,
                num_recipients: 2,
                fee,
                total_outlay: 5,
                id: AuthenticatedId::PaymentRequest(7),
            },
        ),
        (
            "destination_intent",
            Memo::Destination {
                address_hash,
                num_recipients: 255,
                fee: 0,
                total_outlay: 0,
                id: AuthenticatedId::PaymentIntent(8),
            },
        ),
        (
            "gift_code_funding",
            Memo::GiftCodeFunding {
                tx_out_public_key_hash: memo::gift_funding_hash(&tx_out_public_key),
                fee,
                note: "for you, with a note long enough to fill the field".into(),
            },
        ),
        (
            "gift_code_cancellation",
            Memo::GiftCodeCancellation {
                global_index: 77,
                fee,
            },
        ),
    ];
    for (name, memo) in typed {
        payloads.push((name.into(), memo.to_payload()?));
    }
    payloads.push((
        "unknown_type".into(),
        MemoPayload::new([0x7f, 0x01], [0xaa; 64]),
    ));
    let mut s = Seeds::new(&root, "memo")?;
    for (name, payload) in &payloads {
        let mut plain = vec![1];
        plain.extend(payload.0);
        s.write(&format!("payload_{name}"), &plain)?;
        let mut encrypted = vec![0];
        encrypted.extend(payload.encrypt(&shared_secret).0);
        s.write(&format!("encrypted_{name}"), &encrypted)?;
    }
    s.done();
    Ok(())
}
