//! The TxOut Merkle tree and membership proofs, as MobileCoin's ledger builds and checks them.
//!
//! Leaves are the TxOuts in global index order: `leaf = BLAKE2b-256("mc_tx_out_merkle_leaf" ||
//! TxOut hash)`; inner nodes `BLAKE2b-256("mc_tx_out_merkle_node" || left || right)`. For a
//! ledger of `N` TxOuts the tree spans `[0, next_pow2(N) − 1]`, and a right child whose range
//! starts at or past `N` is the constant `NIL = BLAKE2b-256("mc_tx_out_merkle_nil")`.
//!
//! A proof lists the leaf's element, then the sibling of each level up to the root. The
//! [`NodeStore`] functions keep the node hashes incrementally (the ledger DB backs them with
//! its own table); [`verify_membership_proof`] checks a proof against a root hash.

use alloc::vec::Vec;

use fog_crypto::hash;
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::{wire, TxOut};

/// An inclusive range of global TxOut indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Range {
    /// First index.
    pub from: u64,
    /// Last index.
    pub to: u64,
}

impl Range {
    /// A range; `from > to` is refused.
    pub fn new(from: u64, to: u64) -> Result<Self, MembershipProofError> {
        if from > to {
            return Err(MembershipProofError::InvalidRange);
        }
        Ok(Self { from, to })
    }
}

/// A node of the tree: a range and its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxOutMembershipElement {
    /// The range the node covers.
    pub range: Range,
    /// Its hash.
    pub hash: [u8; 32],
}

/// A proof that the TxOut at `index` is in a ledger of `highest_index + 1` TxOuts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxOutMembershipProof {
    /// The TxOut's global index.
    pub index: u64,
    /// The ledger's last index when the proof was made.
    pub highest_index: u64,
    /// The leaf, then one sibling per level.
    pub elements: Vec<TxOutMembershipElement>,
}

/// Why a proof was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MembershipProofError {
    /// The index is above the highest index.
    #[error("the proof's index is above its highest index")]
    IndexAboveHighest,
    /// The proof has no elements.
    #[error("the proof has no elements")]
    Empty,
    /// The first element is not the leaf's range.
    #[error("the first element is not the leaf")]
    LeafRangeMismatch,
    /// The first element's hash is not the TxOut's leaf hash.
    #[error("the leaf hash does not match the TxOut")]
    LeafHashMismatch,
    /// A range with `from > to`.
    #[error("a range has from > to")]
    InvalidRange,
    /// An element is not adjacent to the ranges before it.
    #[error("the proof's ranges are not contiguous")]
    NotContiguous,
    /// The ranges do not end at a root covering the ledger.
    #[error("the proof does not reach a root covering the ledger")]
    DoesNotReachRoot,
    /// The implied root differs from the expected one.
    #[error("the implied root does not match")]
    RootMismatch,
    /// A node the store should hold is absent.
    #[error("the tree is missing node {0:?}")]
    MissingNode(Range),
    /// An index past the end of the ledger.
    #[error("index {index} is past the ledger's {len} TxOuts")]
    IndexOutOfBounds {
        /// Requested index.
        index: u64,
        /// TxOuts in the ledger.
        len: u64,
    },
    /// A malformed protobuf.
    #[error("malformed membership proof protobuf")]
    Protobuf,
}

/// The leaf hash of a TxOut hash.
pub fn hash_leaf(tx_out_hash: &[u8; 32]) -> [u8; 32] {
    hash::blake2b256(&[hash::domain::TX_OUT_MERKLE_LEAF, tx_out_hash])
}

/// The hash of an inner node.
pub fn hash_nodes(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    hash::blake2b256(&[hash::domain::TX_OUT_MERKLE_NODE, left, right])
}

/// The hash standing for an empty right subtree.
pub fn nil_hash() -> [u8; 32] {
    hash::blake2b256(&[hash::domain::TX_OUT_MERKLE_NIL])
}

/// The range of the root of a tree over `len` leaves. Past 2^63 leaves the next power of two
/// is 2^64, which `u64` cannot hold; the range then ends at `u64::MAX` all the same.
fn root_range(len: u64) -> Range {
    Range {
        from: 0,
        to: len
            .max(1)
            .checked_next_power_of_two()
            .map_or(u64::MAX, |p| p - 1),
    }
}

/// Where the tree's node hashes live. The ledger DB implements it over its table; tests use a
/// map.
pub trait NodeStore {
    /// The hash of a node, if stored.
    fn get(&self, range: Range) -> Option<[u8; 32]>;
    /// Stores the hash of a node.
    fn put(&mut self, range: Range, hash: [u8; 32]);
}

impl NodeStore for alloc::collections::BTreeMap<Range, [u8; 32]> {
    fn get(&self, range: Range) -> Option<[u8; 32]> {
        self.get(&range).copied()
    }
    fn put(&mut self, range: Range, hash: [u8; 32]) {
        self.insert(range, hash);
    }
}

/// Adds the leaf at index `len` (the ledger had `len` TxOuts) and rehashes its path to the
/// root. Touches `log2(len) + 1` nodes.
pub fn append_leaf<S: NodeStore + ?Sized>(
    store: &mut S,
    len: u64,
    leaf: [u8; 32],
) -> Result<(), MembershipProofError> {
    let index = len;
    store.put(Range::new(index, index)?, leaf);
    let root = root_range(len + 1);
    let mut h = 1u32;
    while h <= 63 && (1u64 << h) - 1 <= root.to {
        let size = 1u64 << h;
        let low = (index >> h) << h;
        let mid = low + size / 2 - 1;
        let left_range = Range::new(low, mid)?;
        let left = store
            .get(left_range)
            .ok_or(MembershipProofError::MissingNode(left_range))?;
        let right = if mid + 1 > index {
            nil_hash()
        } else {
            let r = Range::new(mid + 1, low + size - 1)?;
            store.get(r).ok_or(MembershipProofError::MissingNode(r))?
        };
        store.put(Range::new(low, low + size - 1)?, hash_nodes(&left, &right));
        h += 1;
    }
    Ok(())
}

/// The root element of a ledger of `len` TxOuts (`NIL` over `[0, 0]` when empty).
pub fn root_element<S: NodeStore + ?Sized>(
    store: &S,
    len: u64,
) -> Result<TxOutMembershipElement, MembershipProofError> {
    let range = root_range(len);
    if len == 0 {
        return Ok(TxOutMembershipElement {
            range,
            hash: nil_hash(),
        });
    }
    let hash = store
        .get(range)
        .ok_or(MembershipProofError::MissingNode(range))?;
    Ok(TxOutMembershipElement { range, hash })
}

/// The proof for the TxOut at `index` in a ledger of `len` TxOuts.
pub fn membership_proof<S: NodeStore + ?Sized>(
    store: &S,
    len: u64,
    index: u64,
) -> Result<TxOutMembershipProof, MembershipProofError> {
    if index >= len {
        return Err(MembershipProofError::IndexOutOfBounds { index, len });
    }
    let leaf_range = Range::new(index, index)?;
    let leaf = store
        .get(leaf_range)
        .ok_or(MembershipProofError::MissingNode(leaf_range))?;
    let mut elements = alloc::vec![TxOutMembershipElement {
        range: leaf_range,
        hash: leaf,
    }];
    let root = root_range(len);
    let mut h = 0u32;
    while h < 63 && (1u64 << (h + 1)) - 1 <= root.to {
        let size = 1u64 << h;
        let sib_low = ((index >> h) ^ 1) << h;
        let range = Range::new(sib_low, sib_low + size - 1)?;
        let hash = if sib_low >= len {
            nil_hash()
        } else {
            store
                .get(range)
                .ok_or(MembershipProofError::MissingNode(range))?
        };
        elements.push(TxOutMembershipElement { range, hash });
        h += 1;
    }
    Ok(TxOutMembershipProof {
        index,
        highest_index: len - 1,
        elements,
    })
}

/// Folds a proof's elements into the root they imply, checking the ranges (not the leaf).
pub fn compute_implied_merkle_root(
    proof: &TxOutMembershipProof,
) -> Result<TxOutMembershipElement, MembershipProofError> {
    if proof.index > proof.highest_index {
        return Err(MembershipProofError::IndexAboveHighest);
    }
    let (first, rest) = proof
        .elements
        .split_first()
        .ok_or(MembershipProofError::Empty)?;
    if first.range.from > first.range.to {
        return Err(MembershipProofError::InvalidRange);
    }
    if first.range
        != (Range {
            from: proof.index,
            to: proof.index,
        })
    {
        return Err(MembershipProofError::LeafRangeMismatch);
    }
    let mut acc = *first;
    for e in rest {
        if e.range.from > e.range.to {
            return Err(MembershipProofError::InvalidRange);
        }
        acc = if e.range.to.checked_add(1) == Some(acc.range.from) {
            TxOutMembershipElement {
                range: Range {
                    from: e.range.from,
                    to: acc.range.to,
                },
                hash: hash_nodes(&e.hash, &acc.hash),
            }
        } else if acc.range.to.checked_add(1) == Some(e.range.from) {
            TxOutMembershipElement {
                range: Range {
                    from: acc.range.from,
                    to: e.range.to,
                },
                hash: hash_nodes(&acc.hash, &e.hash),
            }
        } else {
            return Err(MembershipProofError::NotContiguous);
        };
    }
    if acc.range.from != 0 || acc.range.to < proof.highest_index {
        return Err(MembershipProofError::DoesNotReachRoot);
    }
    Ok(acc)
}

/// Checks that `tx_out` is in the ledger whose root hash is `root_hash`.
pub fn verify_membership_proof(
    tx_out: &TxOut,
    proof: &TxOutMembershipProof,
    root_hash: &[u8; 32],
) -> Result<(), MembershipProofError> {
    let implied = compute_implied_merkle_root(proof)?;
    if proof.elements[0].hash != hash_leaf(&tx_out.hash()) {
        return Err(MembershipProofError::LeafHashMismatch);
    }
    if bool::from(implied.hash.ct_eq(root_hash)) {
        Ok(())
    } else {
        Err(MembershipProofError::RootMismatch)
    }
}

/// From a current proof for index `k`, the proof as it stood when the ledger had `k + 1`
/// TxOuts: elements beyond that ledger's root are dropped and those starting past `k` become
/// `NIL`. Its implied root is the root at that size, which a validator compares client proofs
/// with (MobileCoin's `derive_proof_at_index`).
pub fn derive_proof_at_index(proof: &TxOutMembershipProof) -> TxOutMembershipProof {
    let k = proof.index;
    // `k + 1` TxOuts; an index of `u64::MAX` (only a forged proof has one) saturates.
    let root = root_range(k.saturating_add(1));
    let elements = proof
        .elements
        .iter()
        .filter(|e| e.range.to <= root.to)
        .map(|e| {
            if e.range.from > k {
                TxOutMembershipElement {
                    range: e.range,
                    hash: nil_hash(),
                }
            } else {
                *e
            }
        })
        .collect();
    TxOutMembershipProof {
        index: k,
        highest_index: k,
        elements,
    }
}

impl TxOutMembershipElement {
    /// The protobuf form.
    pub fn to_wire(&self) -> wire::TxOutMembershipElement {
        wire::TxOutMembershipElement {
            range: Some(wire::Range {
                from: self.range.from,
                to: self.range.to,
            }),
            hash: Some(wire::TxOutMembershipHash {
                data: self.hash.to_vec(),
            }),
        }
    }

    /// From the protobuf form.
    pub fn try_from_wire(w: &wire::TxOutMembershipElement) -> Result<Self, MembershipProofError> {
        let r = w.range.clone().unwrap_or_default();
        let hash = w
            .hash
            .as_ref()
            .and_then(|h| <[u8; 32]>::try_from(h.data.as_slice()).ok())
            .ok_or(MembershipProofError::Protobuf)?;
        Ok(Self {
            range: Range {
                from: r.from,
                to: r.to,
            },
            hash,
        })
    }
}

impl TxOutMembershipProof {
    /// The protobuf form.
    pub fn to_wire(&self) -> wire::TxOutMembershipProof {
        wire::TxOutMembershipProof {
            index: self.index,
            highest_index: self.highest_index,
            elements: self.elements.iter().map(|e| e.to_wire()).collect(),
        }
    }

    /// From the protobuf form.
    pub fn try_from_wire(w: &wire::TxOutMembershipProof) -> Result<Self, MembershipProofError> {
        Ok(Self {
            index: w.index,
            highest_index: w.highest_index,
            elements: w
                .elements
                .iter()
                .map(TxOutMembershipElement::try_from_wire)
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    /// The tree by its definition, recursively.
    fn reference_hash(leaves: &[[u8; 32]], range: Range) -> [u8; 32] {
        if range.from == range.to {
            return leaves[range.from as usize];
        }
        let mid = range.from + (range.to - range.from) / 2;
        let left = reference_hash(
            leaves,
            Range {
                from: range.from,
                to: mid,
            },
        );
        let right = if mid + 1 >= leaves.len() as u64 {
            nil_hash()
        } else {
            reference_hash(
                leaves,
                Range {
                    from: mid + 1,
                    to: range.to,
                },
            )
        };
        hash_nodes(&left, &right)
    }

    #[test]
    fn incremental_tree_matches_the_definition_and_proofs_verify() {
        let mut store = BTreeMap::new();
        let mut leaves = Vec::new();
        for n in 0u64..70 {
            let leaf = hash::blake2b256(&[&n.to_le_bytes()]);
            append_leaf(&mut store, n, leaf).unwrap();
            leaves.push(leaf);
            let len = n + 1;
            let root = root_element(&store, len).unwrap();
            assert_eq!(root.range, root_range(len));
            assert_eq!(root.hash, reference_hash(&leaves, root.range));
            for i in 0..len {
                let proof = membership_proof(&store, len, i).unwrap();
                assert_eq!(compute_implied_merkle_root(&proof).unwrap(), root);
                // The proof of the last index, derived, gives the root at every earlier size.
                let derived = derive_proof_at_index(&proof);
                let old_root = reference_hash(&leaves[..=i as usize], root_range(i + 1));
                assert_eq!(
                    compute_implied_merkle_root(&derived).unwrap().hash,
                    old_root
                );
            }
        }
        assert!(matches!(
            membership_proof(&store, 70, 70),
            Err(MembershipProofError::IndexOutOfBounds { .. })
        ));
    }

    /// Found while writing the `membership_proof` fuzz target: a proof whose index is
    /// `u64::MAX` overflowed `index + 1` in `derive_proof_at_index`, and a size past 2^63
    /// overflowed the next power of two in `root_range`.
    #[test]
    fn extreme_indices_do_not_overflow() {
        assert_eq!(root_range(0).to, 0);
        assert_eq!(root_range(1 << 63).to, (1 << 63) - 1);
        assert_eq!(root_range((1 << 63) + 1).to, u64::MAX);
        assert_eq!(root_range(u64::MAX).to, u64::MAX);
        let leaf = TxOutMembershipElement {
            range: Range {
                from: u64::MAX,
                to: u64::MAX,
            },
            hash: [1; 32],
        };
        let proof = TxOutMembershipProof {
            index: u64::MAX,
            highest_index: u64::MAX,
            elements: alloc::vec![leaf],
        };
        let derived = derive_proof_at_index(&proof);
        assert_eq!(derived.index, u64::MAX);
        assert_eq!(derived.elements, alloc::vec![leaf]);
        assert_eq!(
            compute_implied_merkle_root(&derived),
            Err(MembershipProofError::DoesNotReachRoot)
        );
    }

    #[test]
    fn broken_proofs_are_refused() {
        let mut store = BTreeMap::new();
        for n in 0u64..9 {
            append_leaf(&mut store, n, [n as u8; 32]).unwrap();
        }
        let good = membership_proof(&store, 9, 4).unwrap();
        let mut p = good.clone();
        p.index = 10;
        assert_eq!(
            compute_implied_merkle_root(&p),
            Err(MembershipProofError::IndexAboveHighest)
        );
        let mut p = good.clone();
        p.elements.swap(1, 2);
        assert_eq!(
            compute_implied_merkle_root(&p),
            Err(MembershipProofError::NotContiguous)
        );
        let mut p = good.clone();
        p.elements.pop();
        assert_eq!(
            compute_implied_merkle_root(&p),
            Err(MembershipProofError::DoesNotReachRoot)
        );
        let mut p = good.clone();
        p.elements[2].range = Range { from: 3, to: 1 };
        assert_eq!(
            compute_implied_merkle_root(&p),
            Err(MembershipProofError::InvalidRange)
        );
        let mut p = good;
        p.elements.clear();
        assert_eq!(
            compute_implied_merkle_root(&p),
            Err(MembershipProofError::Empty)
        );
    }
}
