//! Blocks: contents, contents hash and block id, as MobileCoin computes them.
//!
//! `contents_hash = digest32("block_contents", BlockContents)`; the block id is a Merlin
//! transcript labelled `"mobilecoin-block-id"` over the version, parent id, index, cumulative
//! TxOut count, root element and contents hash. Block signatures and metadata are Fog's own
//! ground (we run one validating node) and live with the ledger.

use alloc::vec::Vec;

use fog_crypto::digestible::{DigestTranscript, Digestible};
use prost::Message;

use crate::{
    membership::{Range, TxOutMembershipElement},
    wire, KeyImage, TxOut, TxOutError,
};

/// What a block adds to the ledger: the key images it spends and the TxOuts it creates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockContents {
    /// Spent key images (sorted).
    pub key_images: Vec<KeyImage>,
    /// New TxOuts (sorted by public key).
    pub outputs: Vec<TxOut>,
}

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The block id.
    pub id: [u8; 32],
    /// Block version.
    pub version: u32,
    /// The parent's id (zeros for the origin block).
    pub parent_id: [u8; 32],
    /// Height, from 0.
    pub index: u64,
    /// TxOuts in the ledger including this block's.
    pub cumulative_txo_count: u64,
    /// The TxOut tree's root before this block (the one its transactions proved against).
    pub root_element: TxOutMembershipElement,
    /// The contents hash.
    pub contents_hash: [u8; 32],
}

struct KeyImageDigest<'a>(&'a KeyImage);
impl Digestible for KeyImageDigest<'_> {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.primitive(ctx, b"ristretto", &self.0 .0);
    }
}

impl Digestible for BlockContents {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        let key_images: Vec<KeyImageDigest<'_>> =
            self.key_images.iter().map(KeyImageDigest).collect();
        t.agg(ctx, b"BlockContents", |f| {
            f.seq(b"key_images", &key_images)
                .seq(b"outputs", &self.outputs);
        });
    }
}

impl Digestible for Range {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"Range", |f| {
            f.u64(b"from", self.from).u64(b"to", self.to);
        });
    }
}

impl Digestible for TxOutMembershipElement {
    fn append_to(&self, ctx: &'static [u8], t: &mut DigestTranscript) {
        t.agg(ctx, b"TxOutMembershipElement", |f| {
            f.field(b"range", &self.range).bytes(b"hash", &self.hash);
        });
    }
}

impl BlockContents {
    /// `digest32("block_contents")`.
    pub fn hash(&self) -> [u8; 32] {
        self.digest32(b"block_contents")
    }

    /// The protobuf form.
    pub fn to_wire(&self) -> wire::BlockContents {
        wire::BlockContents {
            key_images: self
                .key_images
                .iter()
                .map(|k| wire::KeyImage { data: k.0.to_vec() })
                .collect(),
            outputs: self.outputs.iter().map(TxOut::to_wire).collect(),
        }
    }

    /// From the protobuf form.
    pub fn try_from_wire(w: &wire::BlockContents) -> Result<Self, TxOutError> {
        Ok(Self {
            key_images: w
                .key_images
                .iter()
                .map(|k| {
                    <[u8; 32]>::try_from(k.data.as_slice())
                        .map(KeyImage)
                        .map_err(|_| TxOutError::MissingField("key image (32 bytes)"))
                })
                .collect::<Result<_, _>>()?,
            outputs: w
                .outputs
                .iter()
                .map(TxOut::try_from_wire)
                .collect::<Result<_, _>>()?,
        })
    }

    /// From protobuf bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TxOutError> {
        Self::try_from_wire(&wire::BlockContents::decode(bytes).map_err(|_| TxOutError::Protobuf)?)
    }
}

impl Block {
    /// The block id of these fields.
    pub fn compute_id(
        version: u32,
        parent_id: &[u8; 32],
        index: u64,
        cumulative_txo_count: u64,
        root_element: &TxOutMembershipElement,
        contents_hash: &[u8; 32],
    ) -> [u8; 32] {
        let mut t = DigestTranscript::with_label(b"mobilecoin-block-id");
        t.primitive(b"version", b"uint", &version.to_le_bytes());
        t.primitive(b"parent_id", b"bytes", parent_id);
        t.primitive(b"index", b"uint", &index.to_le_bytes());
        t.primitive(
            b"cumulative_txo_count",
            b"uint",
            &cumulative_txo_count.to_le_bytes(),
        );
        root_element.append_to(b"root_element", &mut t);
        t.primitive(b"contents_hash", b"bytes", contents_hash);
        t.finalize()
    }

    /// A block with its id computed.
    pub fn new(
        version: u32,
        parent_id: [u8; 32],
        index: u64,
        cumulative_txo_count: u64,
        root_element: TxOutMembershipElement,
        contents: &BlockContents,
    ) -> Self {
        let contents_hash = contents.hash();
        let id = Self::compute_id(
            version,
            &parent_id,
            index,
            cumulative_txo_count,
            &root_element,
            &contents_hash,
        );
        Self {
            id,
            version,
            parent_id,
            index,
            cumulative_txo_count,
            root_element,
            contents_hash,
        }
    }

    /// The block after `parent` holding `contents`: index and cumulative TxOut count follow
    /// from the parent, the id is computed.
    pub fn new_with_parent(
        version: u32,
        parent: &Block,
        root_element: TxOutMembershipElement,
        contents: &BlockContents,
    ) -> Self {
        Self::new(
            version,
            parent.id,
            parent.index + 1,
            parent.cumulative_txo_count + contents.outputs.len() as u64,
            root_element,
            contents,
        )
    }

    /// The origin block: version 0, index 0, zero parent, default root element.
    pub fn new_origin(contents: &BlockContents) -> Self {
        Self::new(
            0,
            [0; 32],
            0,
            contents.outputs.len() as u64,
            TxOutMembershipElement {
                range: Range { from: 0, to: 0 },
                hash: [0; 32],
            },
            contents,
        )
    }

    /// Whether the stored id matches the fields.
    pub fn is_id_valid(&self) -> bool {
        self.id
            == Self::compute_id(
                self.version,
                &self.parent_id,
                self.index,
                self.cumulative_txo_count,
                &self.root_element,
                &self.contents_hash,
            )
    }

    /// The protobuf form.
    pub fn to_wire(&self) -> wire::Block {
        wire::Block {
            id: Some(wire::Bytes32 {
                data: self.id.to_vec(),
            }),
            version: self.version,
            parent_id: Some(wire::Bytes32 {
                data: self.parent_id.to_vec(),
            }),
            index: self.index,
            cumulative_txo_count: self.cumulative_txo_count,
            root_element: Some(self.root_element.to_wire()),
            contents_hash: Some(wire::Bytes32 {
                data: self.contents_hash.to_vec(),
            }),
        }
    }

    /// From the protobuf form.
    pub fn try_from_wire(w: &wire::Block) -> Result<Self, TxOutError> {
        let b32 = |b: &Option<wire::Bytes32>, name| {
            b.as_ref()
                .and_then(|b| <[u8; 32]>::try_from(b.data.as_slice()).ok())
                .ok_or(TxOutError::MissingField(name))
        };
        let root = w
            .root_element
            .as_ref()
            .ok_or(TxOutError::MissingField("root_element"))?;
        Ok(Self {
            id: b32(&w.id, "id")?,
            version: w.version,
            parent_id: b32(&w.parent_id, "parent_id")?,
            index: w.index,
            cumulative_txo_count: w.cumulative_txo_count,
            root_element: TxOutMembershipElement::try_from_wire(root)
                .map_err(|_| TxOutError::MissingField("root_element"))?,
            contents_hash: b32(&w.contents_hash, "contents_hash")?,
        })
    }

    /// From protobuf bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TxOutError> {
        Self::try_from_wire(&wire::Block::decode(bytes).map_err(|_| TxOutError::Protobuf)?)
    }
}
