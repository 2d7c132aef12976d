//! Conversions shared by the SQL backends: the records blob, integers and times, and the
//! checks every backend makes on its input.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::types::{BlockSpan, ETxOutRecord, MAX_REPORT_ID_CHARS, SEARCH_KEY_LEN};
use crate::RecoveryDbError;

/// The stored form of one block's records: protobuf
/// `{ repeated ETxOutRecord e_tx_out_records = 1; }`, as MobileCoin stores them.
#[derive(Clone, PartialEq, prost::Message)]
struct IngestedBlockData {
    #[prost(message, repeated, tag = "1")]
    e_tx_out_records: Vec<ETxOutRecord>,
}

/// Encodes records without copying them into a message first.
pub fn encode_records(records: &[ETxOutRecord]) -> Vec<u8> {
    let len: usize = records
        .iter()
        .map(|r| prost::encoding::message::encoded_len(1, r))
        .sum();
    let mut buf = Vec::with_capacity(len);
    for r in records {
        prost::encoding::message::encode(1, r, &mut buf);
    }
    buf
}

/// Decodes a records blob.
pub fn decode_records(blob: &[u8]) -> Result<Vec<ETxOutRecord>, RecoveryDbError> {
    IngestedBlockData::decode(blob)
        .map(|d| d.e_tx_out_records)
        .map_err(|_| RecoveryDbError::Corrupt("records blob does not decode"))
}

/// Every search key must be 16 bytes.
pub fn check_records(records: &[ETxOutRecord]) -> Result<(), RecoveryDbError> {
    if records.iter().any(|r| r.search_key.len() != SEARCH_KEY_LEN) {
        return Err(RecoveryDbError::InvalidInput(
            "a search key is not 16 bytes",
        ));
    }
    Ok(())
}

/// `fog_report_id` is at most 64 characters.
pub(crate) fn check_report_id(id: &str) -> Result<(), RecoveryDbError> {
    let n = id.chars().count();
    if n > MAX_REPORT_ID_CHARS {
        return Err(RecoveryDbError::ReportIdTooLong(n));
    }
    Ok(())
}

/// A block index, count or timestamp as a SQL `BIGINT`.
pub fn to_i64(v: u64) -> Result<i64, RecoveryDbError> {
    i64::try_from(v).map_err(|_| RecoveryDbError::InvalidInput("value exceeds i64::MAX"))
}

/// A stored `BIGINT` back to `u64`.
pub fn to_u64(v: i64) -> Result<u64, RecoveryDbError> {
    u64::try_from(v).map_err(|_| RecoveryDbError::Corrupt("negative value stored"))
}

/// A time as milliseconds since the Unix epoch (times before it clamp to 0).
pub fn time_to_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch back to a time.
pub fn millis_to_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The first and last block of a span as SQL `BIGINT`s, both inclusive, or `None` if no
/// storable block lies in it (blocks above `i64::MAX` are refused when written). Inclusive, so
/// that an open span still holds block `i64::MAX`.
pub(crate) fn span_bounds(span: BlockSpan) -> Option<(i64, i64)> {
    let first = i64::try_from(span.start.0).ok()?;
    let last = match span.end {
        None => i64::MAX,
        Some(end) => i64::try_from(end.0.checked_sub(1)?).unwrap_or(i64::MAX),
    };
    (first <= last).then_some((first, last))
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    time_to_millis(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BlockIndex;

    #[test]
    fn records_blob_round_trips() {
        let records: Vec<ETxOutRecord> = (0..50u8)
            .map(|i| ETxOutRecord {
                search_key: vec![i; 16],
                payload: vec![i ^ 0x5a; usize::from(i) * 3],
            })
            .collect();
        let blob = encode_records(&records);
        let whole = IngestedBlockData {
            e_tx_out_records: records.clone(),
        };
        assert_eq!(
            blob,
            whole.encode_to_vec(),
            "same bytes as the message encoder"
        );
        assert_eq!(decode_records(&blob).unwrap(), records);
        assert!(decode_records(&[]).unwrap().is_empty());
        assert!(decode_records(&[0x0a, 0x05, 1]).is_err());
    }

    #[test]
    fn span_bounds_are_inclusive_and_clamped() {
        let span = |start: u64, end: Option<u64>| BlockSpan {
            start: BlockIndex(start),
            end: end.map(BlockIndex),
        };
        let top = i64::MAX as u64;
        assert_eq!(span_bounds(BlockSpan::ALL), Some((0, i64::MAX)));
        assert_eq!(span_bounds(span(8, Some(16))), Some((8, 15)));
        assert_eq!(span_bounds(span(8, Some(9))), Some((8, 8)));
        assert_eq!(span_bounds(span(8, Some(8))), None);
        assert_eq!(span_bounds(span(9, Some(8))), None);
        assert_eq!(span_bounds(span(0, Some(0))), None);
        assert_eq!(span_bounds(span(top, None)), Some((i64::MAX, i64::MAX)));
        assert_eq!(span_bounds(span(0, Some(u64::MAX))), Some((0, i64::MAX)));
        assert_eq!(span_bounds(span(5, Some(top + 1))), Some((5, i64::MAX)));
        assert_eq!(span_bounds(span(top + 1, None)), None);
    }

    #[test]
    fn report_id_limit_counts_characters() {
        assert!(check_report_id(&"é".repeat(64)).is_ok());
        assert!(matches!(
            check_report_id(&"a".repeat(65)),
            Err(RecoveryDbError::ReportIdTooLong(65))
        ));
    }
}
