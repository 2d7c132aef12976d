//! Recovery-DB rows as the SQL backends read them back (the database is not trusted to hold
//! what was written): records blobs, user-event rows, ingress-key and status columns, stored
//! integers and times. The first byte picks the decoder; whatever decodes must encode back to
//! the same value.
#![no_main]

use fog_recovery_db::fuzzing::{
    check_records, decode_records, encode_records, key_from, millis_to_time, status_from,
    time_to_millis, to_i64, to_u64, EventRow, EVENT_DECOMMISSION, EVENT_MISSING_BLOCKS,
    EVENT_NEW_INVOCATION,
};
use fog_recovery_db::FogUserEvent;
use libfuzzer_sys::fuzz_target;

/// Reads the fixed-width fields of a row from the fuzzer's bytes.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    fn i64(&mut self) -> Option<i64> {
        self.bytes(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// A nullable column: a flag byte (odd: present), then the value.
    fn opt_i64(&mut self) -> Option<Option<i64>> {
        if self.byte()? & 1 == 1 {
            self.i64().map(Some)
        } else {
            Some(None)
        }
    }

    /// A nullable blob: a flag byte, a length byte, the bytes.
    fn opt_blob(&mut self) -> Option<Option<Vec<u8>>> {
        if self.byte()? & 1 == 1 {
            let n = usize::from(self.byte()?);
            self.bytes(n).map(|b| Some(b.to_vec()))
        } else {
            Some(None)
        }
    }
}

fn event_row(r: &mut Reader<'_>) -> Option<EventRow> {
    Some(EventRow {
        id: r.i64()?,
        // One byte: the known types and some unknown ones, negative included.
        event_type: i64::from(r.byte()? as i8),
        new_id: r.opt_i64()?,
        egress: r.opt_blob()?,
        rng_version: r.opt_i64()?,
        start_block: r.opt_i64()?,
        decommission_id: r.opt_i64()?,
        last_block: r.opt_i64()?,
        missing_start: r.opt_i64()?,
        missing_end: r.opt_i64()?,
    })
}

/// The row a backend writes for `event` (the columns the event does not use left empty).
fn row_of(event: &FogUserEvent) -> EventRow {
    let col = |v: u64| Some(to_i64(v).expect("a decoded value came from an i64"));
    let mut row = EventRow {
        id: 1,
        event_type: 0,
        new_id: None,
        egress: None,
        rng_version: None,
        start_block: None,
        decommission_id: None,
        last_block: None,
        missing_start: None,
        missing_end: None,
    };
    match event {
        FogUserEvent::NewRngRecord(r) => {
            row.event_type = EVENT_NEW_INVOCATION;
            row.new_id = Some(r.ingest_invocation_id.0);
            row.egress = Some(r.pubkey.public_key.clone());
            row.rng_version = Some(i64::from(r.pubkey.version));
            row.start_block = col(r.start_block.0);
        }
        FogUserEvent::DecommissionIngestInvocation {
            id,
            last_ingested_block,
        } => {
            row.event_type = EVENT_DECOMMISSION;
            row.decommission_id = Some(id.0);
            row.last_block = col(last_ingested_block.0);
        }
        FogUserEvent::MissingBlocks(range) => {
            row.event_type = EVENT_MISSING_BLOCKS;
            row.missing_start = col(range.start().0);
            row.missing_end = col(range.end().0);
        }
    }
    row
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let mut r = Reader(rest);
    match which % 5 {
        // A block's records blob.
        0 => {
            if let Ok(records) = decode_records(rest) {
                let _ = check_records(&records);
                let again = decode_records(&encode_records(&records));
                assert_eq!(again.ok().as_ref(), Some(&records));
            }
        }
        // A user-event row.
        1 => {
            let Some(row) = event_row(&mut r) else {
                return;
            };
            if let Ok(event) = row.into_event() {
                let again = row_of(&event).into_event();
                assert_eq!(again.ok().as_ref(), Some(&event));
            }
        }
        // An ingress-key column.
        2 => {
            if let Ok(key) = key_from(rest) {
                assert_eq!(&key.0[..], rest);
            }
        }
        // The status columns of an ingress key.
        3 => {
            let (Some(start), Some(expiry), Some(flags)) = (r.i64(), r.i64(), r.byte()) else {
                return;
            };
            let (retired, lost) = (flags & 1 == 1, flags & 2 == 2);
            if let Ok(s) = status_from(start, expiry, retired, lost) {
                assert_eq!(to_i64(s.start_block.0).ok(), Some(start));
                assert_eq!(to_i64(s.pubkey_expiry.0).ok(), Some(expiry));
                assert_eq!((s.retired, s.lost), (retired, lost));
            }
        }
        // A stored count or block index, and a stored time.
        _ => {
            let Some(v) = r.i64() else {
                return;
            };
            if let Ok(u) = to_u64(v) {
                assert_eq!(to_i64(u).ok(), Some(v));
            }
            assert_eq!(time_to_millis(millis_to_time(v)), v.max(0));
        }
    }
});
