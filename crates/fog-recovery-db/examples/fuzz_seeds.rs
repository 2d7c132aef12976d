//! Writes the seed corpus of the `recovery_db_rows` fuzz target: valid stored values in the
//! layout that target reads (a selector byte, then the value).
//!
//! `cargo run -p fog-recovery-db --example fuzz_seeds -- fuzz/seeds` (from the workspace
//! root) writes `fuzz/seeds/recovery_db_rows/*.bin`.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use fog_recovery_db::fuzzing::{
    encode_records, EventRow, EVENT_DECOMMISSION, EVENT_MISSING_BLOCKS, EVENT_NEW_INVOCATION,
};
use fog_recovery_db::ETxOutRecord;

/// The target's selectors.
const RECORDS: u8 = 0;
const EVENT: u8 = 1;
const KEY: u8 = 2;
const STATUS: u8 = 3;
const INTEGER: u8 = 4;

fn write(dir: &Path, name: &str, selector: u8, body: &[u8]) {
    let mut bytes = vec![selector];
    bytes.extend_from_slice(body);
    std::fs::write(dir.join(format!("{name}.bin")), bytes).expect("write a seed");
}

/// An event row in the target's layout: id, type byte, then each nullable column as a flag
/// byte and its value (the egress key with a length byte).
fn event_row(row: &EventRow) -> Vec<u8> {
    let mut out = row.id.to_le_bytes().to_vec();
    out.push(u8::try_from(row.event_type).expect("a known event type"));
    let int = |out: &mut Vec<u8>, v: Option<i64>| match v {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None => out.push(0),
    };
    int(&mut out, row.new_id);
    match &row.egress {
        Some(e) => {
            out.push(1);
            out.push(u8::try_from(e.len()).expect("a short key"));
            out.extend_from_slice(e);
        }
        None => out.push(0),
    }
    for v in [
        row.rng_version,
        row.start_block,
        row.decommission_id,
        row.last_block,
        row.missing_start,
        row.missing_end,
    ] {
        int(&mut out, v);
    }
    out
}

fn empty_row(id: i64, event_type: i64) -> EventRow {
    EventRow {
        id,
        event_type,
        new_id: None,
        egress: None,
        rng_version: None,
        start_block: None,
        decommission_id: None,
        last_block: None,
        missing_start: None,
        missing_end: None,
    }
}

fn main() {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| "fuzz/seeds".into(), Into::into);
    let dir = root.join("recovery_db_rows");
    std::fs::create_dir_all(&dir).expect("create the seed directory");

    for (name, n) in [("records-0", 0u8), ("records-1", 1), ("records-6", 6)] {
        let records: Vec<ETxOutRecord> = (0..n)
            .map(|i| ETxOutRecord {
                search_key: vec![i.wrapping_mul(37) ^ 0x5a; 16],
                payload: vec![i; 60 + 30 * usize::from(i)],
            })
            .collect();
        write(&dir, name, RECORDS, &encode_records(&records));
    }

    let mut new_rng = empty_row(1, EVENT_NEW_INVOCATION);
    new_rng.new_id = Some(7);
    new_rng.egress = Some(vec![0x2a; 32]);
    new_rng.rng_version = Some(0);
    new_rng.start_block = Some(100);
    let mut decommission = empty_row(2, EVENT_DECOMMISSION);
    decommission.decommission_id = Some(7);
    decommission.last_block = Some(250);
    let mut missing = empty_row(3, EVENT_MISSING_BLOCKS);
    missing.missing_start = Some(250);
    missing.missing_end = Some(260);
    for (name, row) in [
        ("event-new-rng", &new_rng),
        ("event-decommission", &decommission),
        ("event-missing", &missing),
    ] {
        write(&dir, name, EVENT, &event_row(row));
    }

    write(&dir, "key", KEY, &[0xe2; 32]);

    let status = |start: i64, expiry: i64, flags: u8| {
        let mut b = start.to_le_bytes().to_vec();
        b.extend_from_slice(&expiry.to_le_bytes());
        b.push(flags);
        b
    };
    write(&dir, "status-live", STATUS, &status(0, 110, 0));
    write(&dir, "status-retired-lost", STATUS, &status(40, 90, 3));

    for (name, v) in [
        ("integer-zero", 0i64),
        ("integer-millis", 1_750_000_000_000),
        ("integer-max", i64::MAX),
    ] {
        write(&dir, name, INTEGER, &v.to_le_bytes());
    }
}
