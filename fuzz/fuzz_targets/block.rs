//! Blocks from untrusted bytes: `Block` and `BlockContents` protobufs (`decode`, which runs
//! `try_from_wire`), and `fog_node.BlockData` through `decode_block`, as the node takes test
//! blocks and clients read `GetBlocks` answers. Nothing panics, ids and contents hashes are
//! computed, and whatever decodes re-encodes to the same value.
#![no_main]

use fog_api::fog_node::BlockData;
use fog_transaction::block::{Block, BlockContents};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode(data) {
        assert_eq!(
            Block::decode(&block.to_wire().encode_to_vec()).as_ref(),
            Ok(&block)
        );
        if block.is_id_valid() {
            let again = Block::compute_id(
                block.version,
                &block.parent_id,
                block.index,
                block.cumulative_txo_count,
                &block.root_element,
                &block.contents_hash,
            );
            assert_eq!(again, block.id);
        }
    }
    if let Ok(contents) = BlockContents::decode(data) {
        assert_eq!(
            BlockContents::decode(&contents.to_wire().encode_to_vec()).as_ref(),
            Ok(&contents)
        );
        let _ = contents.hash();
    }
    if let Ok(wire) = BlockData::decode(data) {
        if let Ok((block, contents)) = wire.decode_block() {
            let again = BlockData::encode_block(&block, &contents, wire.timestamp);
            assert_eq!(again.timestamp, wire.timestamp);
            let decoded = BlockData::decode(again.encode_to_vec().as_slice())
                .expect("an encoding decodes")
                .decode_block();
            assert_eq!(decoded, Ok((block, contents)));
        }
    }
});
