//! The in-memory backend: a `Mutex`-guarded model. It is the reference for the semantics the
//! SQL backends implement, and the backend for tests of the services. Nothing survives the
//! process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::codec::{check_records, check_report_id, millis_to_time, now_millis, to_i64};
use crate::traits::{RecoveryDb, ReportDb, Result};
use crate::types::*;
use crate::RecoveryDbError;

/// The in-memory recovery database. Clones share the same data.
#[derive(Clone, Default)]
pub struct MemoryRecoveryDb {
    model: Arc<Mutex<Model>>,
}

impl core::fmt::Debug for MemoryRecoveryDb {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MemoryRecoveryDb")
    }
}

#[derive(Default)]
struct Model {
    keys: BTreeMap<IngressPublicKey, IngressPublicKeyStatus>,
    invocations: BTreeMap<i64, Invocation>,
    egress_keys: HashSet<Vec<u8>>,
    blocks: Vec<IngestedBlock>,
    by_key_block: HashMap<(IngressPublicKey, u64), usize>,
    by_invocation_block: HashSet<(i64, u64)>,
    events: Vec<(i64, Event)>,
    reports: BTreeMap<String, (IngressPublicKey, ReportData)>,
    /// The last event id and invocation id handed out: ids are never reused, even after
    /// [`RecoveryDb::prune_empty_invocations`] removed the newest (clients keep both).
    last_event_id: i64,
    last_invocation_id: i64,
}

struct Invocation {
    ingress_key: IngressPublicKey,
    egress: KexRngPubkey,
    start_block: BlockIndex,
    decommissioned: bool,
    /// The last block stored under this invocation when it was decommissioned: frozen then,
    /// so the decommission event never moves.
    frozen_last_block: Option<BlockIndex>,
    last_active_at: i64,
}

enum Event {
    New(i64),
    Decommission(i64),
    Missing(BlockRange),
}

impl MemoryRecoveryDb {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        // A panic while holding the lock cannot leave the model half-updated in a way that
        // matters more than the panic itself; keep serving.
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Model {
    fn last_scanned(&self, key: &IngressPublicKey) -> Option<BlockIndex> {
        self.blocks
            .iter()
            .filter(|b| b.ingress_key == *key)
            .map(|b| b.block_index)
            .max()
    }

    fn last_ingested(&self, id: i64) -> Option<BlockIndex> {
        self.blocks
            .iter()
            .filter(|b| b.ingest_invocation_id.0 == id)
            .map(|b| b.block_index)
            .max()
    }

    fn highest_known(&self) -> Option<BlockIndex> {
        self.blocks.iter().map(|b| b.block_index).max()
    }

    fn next_event_id(&mut self) -> i64 {
        self.last_event_id += 1;
        self.last_event_id
    }

    fn next_invocation_id(&mut self) -> i64 {
        self.last_invocation_id += 1;
        self.last_invocation_id
    }

    /// A live invocation starting at `start_block` and its `NewRngRecord` event; its id.
    fn open_invocation(
        &mut self,
        key: &IngressPublicKey,
        egress: &KexRngPubkey,
        start_block: BlockIndex,
    ) -> i64 {
        let id = self.next_invocation_id();
        self.invocations.insert(
            id,
            Invocation {
                ingress_key: *key,
                egress: egress.clone(),
                start_block,
                decommissioned: false,
                frozen_last_block: None,
                last_active_at: now_millis(),
            },
        );
        self.egress_keys.insert(egress.public_key.clone());
        let eid = self.next_event_id();
        self.events.push((eid, Event::New(id)));
        id
    }

    fn decommission(&mut self, id: i64) -> Result<()> {
        let last = self.last_ingested(id);
        let inv = self
            .invocations
            .get_mut(&id)
            .ok_or(RecoveryDbError::UnknownIngestInvocation(id))?;
        if inv.decommissioned {
            return Ok(());
        }
        inv.decommissioned = true;
        inv.frozen_last_block = last;
        inv.last_active_at = now_millis();
        let eid = self.next_event_id();
        self.events.push((eid, Event::Decommission(id)));
        Ok(())
    }
}

impl ReportDb for MemoryRecoveryDb {
    async fn get_all_reports(&self) -> Result<Vec<(String, ReportData)>> {
        let m = self.lock();
        Ok(m.reports
            .iter()
            .map(|(id, (_, data))| (id.clone(), data.clone()))
            .collect())
    }

    async fn set_report(
        &self,
        ingress_key: &IngressPublicKey,
        report_id: &str,
        data: &ReportData,
    ) -> Result<IngressPublicKeyStatus> {
        check_report_id(report_id)?;
        to_i64(data.pubkey_expiry.0)?;
        let mut m = self.lock();
        if let Some(iid) = data.ingest_invocation_id {
            if !m.invocations.contains_key(&iid.0) {
                return Err(RecoveryDbError::UnknownIngestInvocation(iid.0));
            }
        }
        let status = m
            .keys
            .get_mut(ingress_key)
            .ok_or(RecoveryDbError::UnknownIngressKey)?;
        if !status.retired && status.pubkey_expiry < data.pubkey_expiry {
            status.pubkey_expiry = data.pubkey_expiry;
        }
        let status = *status;
        if !status.retired {
            m.reports
                .insert(report_id.to_owned(), (*ingress_key, data.clone()));
        }
        Ok(status)
    }

    async fn remove_report(&self, report_id: &str) -> Result<()> {
        self.lock().reports.remove(report_id);
        Ok(())
    }
}

impl RecoveryDb for MemoryRecoveryDb {
    async fn get_ingress_key_status(
        &self,
        key: &IngressPublicKey,
    ) -> Result<Option<IngressPublicKeyStatus>> {
        Ok(self.lock().keys.get(key).copied())
    }

    async fn new_ingress_key(
        &self,
        key: &IngressPublicKey,
        start_block: BlockIndex,
    ) -> Result<BlockIndex> {
        to_i64(start_block.0)?;
        let mut m = self.lock();
        let accepted = match m.highest_known() {
            Some(h) => start_block.max(BlockIndex(h.0 + 1)),
            None => start_block,
        };
        if m.keys.contains_key(key) {
            return Err(RecoveryDbError::DuplicateIngressKey);
        }
        m.keys.insert(
            *key,
            IngressPublicKeyStatus {
                start_block: accepted,
                pubkey_expiry: BlockIndex(0),
                retired: false,
                lost: false,
            },
        );
        Ok(accepted)
    }

    async fn retire_ingress_key(&self, key: &IngressPublicKey, set_retired: bool) -> Result<()> {
        let mut m = self.lock();
        let status = m
            .keys
            .get_mut(key)
            .ok_or(RecoveryDbError::UnknownIngressKey)?;
        status.retired = set_retired;
        Ok(())
    }

    async fn report_lost_ingress_key(&self, key: &IngressPublicKey) -> Result<()> {
        let mut m = self.lock();
        let last = m.last_scanned(key);
        let status = m
            .keys
            .get_mut(key)
            .ok_or(RecoveryDbError::UnknownIngressKey)?;
        status.lost = true;
        let start = match last {
            Some(l) => status.start_block.max(BlockIndex(l.0 + 1)),
            None => status.start_block,
        };
        let end = status.pubkey_expiry;
        if start < end {
            let range = BlockRange::new(start, end)?;
            let exists = m
                .events
                .iter()
                .any(|(_, e)| matches!(e, Event::Missing(r) if *r == range));
            if !exists {
                let eid = m.next_event_id();
                m.events.push((eid, Event::Missing(range)));
            }
        }
        Ok(())
    }

    async fn get_last_scanned_block_index(
        &self,
        key: &IngressPublicKey,
    ) -> Result<Option<BlockIndex>> {
        Ok(self.lock().last_scanned(key))
    }

    async fn get_ingress_key_records(
        &self,
        start_block_at_least: BlockIndex,
        filters: &IngressPublicKeyFilters,
    ) -> Result<Vec<IngressPublicKeyRecord>> {
        let m = self.lock();
        let mut out: Vec<IngressPublicKeyRecord> = m
            .keys
            .iter()
            .filter(|(_, s)| s.start_block >= start_block_at_least)
            .filter(|(_, s)| filters.should_include_lost_keys || !s.lost)
            .filter(|(_, s)| filters.should_include_retired_keys || !s.retired)
            .map(|(k, s)| IngressPublicKeyRecord {
                key: *k,
                status: *s,
                last_scanned_block: m.last_scanned(k),
            })
            .filter(|r| {
                !filters.should_only_include_unexpired_keys
                    || r.last_scanned_block
                        .is_some_and(|l| r.status.pubkey_expiry > l)
            })
            .collect();
        out.sort_by_key(|r| (r.status.start_block, r.key));
        Ok(out)
    }

    async fn new_ingest_invocation(
        &self,
        prev: Option<IngestInvocationId>,
        ingress_key: &IngressPublicKey,
        egress: &KexRngPubkey,
        start_block: BlockIndex,
    ) -> Result<IngestInvocationId> {
        to_i64(start_block.0)?;
        let mut m = self.lock();
        if let Some(p) = prev {
            if !m.invocations.contains_key(&p.0) {
                return Err(RecoveryDbError::UnknownIngestInvocation(p.0));
            }
        }
        if !m.keys.contains_key(ingress_key) {
            return Err(RecoveryDbError::UnknownIngressKey);
        }
        if m.egress_keys.contains(&egress.public_key) {
            return Err(RecoveryDbError::DuplicateEgressKey);
        }
        if let Some(p) = prev {
            m.decommission(p.0)?;
        }
        let id = m.open_invocation(ingress_key, egress, start_block);
        Ok(IngestInvocationId(id))
    }

    async fn decommission_ingest_invocation(&self, id: IngestInvocationId) -> Result<()> {
        self.lock().decommission(id.0)
    }

    async fn update_last_active_at(&self, id: IngestInvocationId) -> Result<()> {
        let mut m = self.lock();
        let inv = m
            .invocations
            .get_mut(&id.0)
            .ok_or(RecoveryDbError::UnknownIngestInvocation(id.0))?;
        inv.last_active_at = now_millis();
        Ok(())
    }

    async fn get_expired_invocations(&self, before: SystemTime) -> Result<Vec<ExpiredInvocation>> {
        let before = crate::codec::time_to_millis(before);
        let m = self.lock();
        Ok(m.invocations
            .iter()
            .filter(|(_, inv)| inv.last_active_at < before)
            .map(|(id, inv)| ExpiredInvocation {
                ingest_invocation_id: IngestInvocationId(*id),
                egress_public_key: inv.egress.clone(),
                last_active_at: millis_to_time(inv.last_active_at),
            })
            .collect())
    }

    async fn get_ingestable_ranges(&self) -> Result<Vec<IngestableRange>> {
        let m = self.lock();
        Ok(m.invocations
            .iter()
            .map(|(id, inv)| IngestableRange {
                id: IngestInvocationId(*id),
                start_block: inv.start_block,
                decommissioned: inv.decommissioned,
                last_ingested_block: m.last_ingested(*id),
            })
            .collect())
    }

    async fn take_over_ingress_key(
        &self,
        key: &IngressPublicKey,
        egress: &KexRngPubkey,
        condition: TakeOver,
    ) -> Result<Option<TookOver>> {
        let mut m = self.lock();
        let status = m.keys.get(key).ok_or(RecoveryDbError::UnknownIngressKey)?;
        if status.lost {
            return Err(RecoveryDbError::IngressKeyLost);
        }
        let key_start = status.start_block;
        if m.egress_keys.contains(&egress.public_key) {
            return Err(RecoveryDbError::DuplicateEgressKey);
        }
        let live: Vec<i64> = m
            .invocations
            .iter()
            .filter(|(_, inv)| inv.ingress_key == *key && !inv.decommissioned)
            .map(|(id, _)| *id)
            .collect();
        if let TakeOver::IfIdleSince(t) = condition {
            let t = crate::codec::time_to_millis(t);
            if live.iter().any(|id| m.invocations[id].last_active_at >= t) {
                return Ok(None);
            }
        }
        let start_block = match m.last_scanned(key) {
            Some(b) => BlockIndex(b.0.checked_add(1).ok_or(RecoveryDbError::InvalidInput(
                "the key has scanned the last block there is",
            ))?),
            None => key_start,
        };
        to_i64(start_block.0)?;
        for id in &live {
            m.decommission(*id)?;
        }
        let id = m.open_invocation(key, egress, start_block);
        Ok(Some(TookOver {
            invocation: IngestInvocationId(id),
            start_block,
            decommissioned: live.into_iter().map(IngestInvocationId).collect(),
        }))
    }

    async fn get_invocations(
        &self,
        key: Option<&IngressPublicKey>,
    ) -> Result<Vec<InvocationRecord>> {
        let m = self.lock();
        Ok(m.invocations
            .iter()
            .filter(|(_, inv)| key.is_none_or(|k| inv.ingress_key == *k))
            .map(|(id, inv)| InvocationRecord {
                id: IngestInvocationId(*id),
                ingress_key: inv.ingress_key,
                egress_public_key: inv.egress.clone(),
                start_block: inv.start_block,
                last_ingested_block: m.last_ingested(*id),
                decommissioned: inv.decommissioned,
                last_active_at: millis_to_time(inv.last_active_at),
            })
            .collect())
    }

    async fn prune_empty_invocations(
        &self,
        decommissioned_before: SystemTime,
    ) -> Result<Vec<IngestInvocationId>> {
        let before = crate::codec::time_to_millis(decommissioned_before);
        let mut m = self.lock();
        let named: HashSet<i64> = m
            .reports
            .values()
            .filter_map(|(_, d)| d.ingest_invocation_id.map(|i| i.0))
            .collect();
        let gone: Vec<i64> = m
            .invocations
            .iter()
            .filter(|(id, inv)| {
                inv.decommissioned
                    && inv.last_active_at < before
                    && !named.contains(id)
                    && m.last_ingested(**id).is_none()
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            m.invocations.remove(id);
        }
        m.events.retain(|(_, e)| match e {
            Event::New(i) | Event::Decommission(i) => !gone.contains(i),
            Event::Missing(_) => true,
        });
        Ok(gone.into_iter().map(IngestInvocationId).collect())
    }

    async fn add_block_data(
        &self,
        invocation: IngestInvocationId,
        block_index: BlockIndex,
        cumulative_txo_count: u64,
        block_signature_timestamp: u64,
        records: &[ETxOutRecord],
    ) -> Result<AddBlockDataStatus> {
        check_records(records)?;
        to_i64(block_index.0)?;
        to_i64(cumulative_txo_count)?;
        to_i64(block_signature_timestamp)?;
        let mut m = self.lock();
        let inv = m
            .invocations
            .get(&invocation.0)
            .ok_or(RecoveryDbError::UnknownIngestInvocation(invocation.0))?;
        if inv.decommissioned {
            return Err(RecoveryDbError::InvocationDecommissioned(invocation.0));
        }
        let key = inv.ingress_key;
        if m.by_key_block.contains_key(&(key, block_index.0))
            || m.by_invocation_block
                .contains(&(invocation.0, block_index.0))
        {
            return Ok(AddBlockDataStatus {
                block_already_scanned_with_this_key: true,
            });
        }
        let pos = m.blocks.len();
        m.blocks.push(IngestedBlock {
            ingress_key: key,
            ingest_invocation_id: invocation,
            block_index,
            cumulative_txo_count,
            block_signature_timestamp,
            records: records.to_vec(),
        });
        m.by_key_block.insert((key, block_index.0), pos);
        m.by_invocation_block.insert((invocation.0, block_index.0));
        if let Some(inv) = m.invocations.get_mut(&invocation.0) {
            inv.last_active_at = now_millis();
        }
        Ok(AddBlockDataStatus {
            block_already_scanned_with_this_key: false,
        })
    }

    async fn get_tx_outs_by_block_and_key(
        &self,
        key: &IngressPublicKey,
        block_index: BlockIndex,
    ) -> Result<Option<Vec<ETxOutRecord>>> {
        let m = self.lock();
        Ok(m.by_key_block
            .get(&(*key, block_index.0))
            .map(|&i| m.blocks[i].records.clone()))
    }

    async fn get_tx_outs_by_block_range_and_key(
        &self,
        key: &IngressPublicKey,
        range: BlockRange,
    ) -> Result<Vec<Vec<ETxOutRecord>>> {
        let m = self.lock();
        let mut out = Vec::new();
        let mut b = range.start().0;
        while b < range.end().0 {
            match m.by_key_block.get(&(*key, b)) {
                Some(&i) => out.push(m.blocks[i].records.clone()),
                None => break,
            }
            b += 1;
        }
        Ok(out)
    }

    async fn get_records_since_in(
        &self,
        cursor: RecordCursor,
        max_records: usize,
        blocks: BlockSpan,
    ) -> Result<RecordBatch> {
        let m = self.lock();
        // Block `i` of the write log has cursor position `i + 1`.
        let from = usize::try_from(cursor.0.max(0)).unwrap_or(usize::MAX);
        let mut batch = RecordBatch {
            blocks: Vec::new(),
            next: cursor,
        };
        let mut count = 0;
        let in_span = m
            .blocks
            .iter()
            .enumerate()
            .skip(from)
            .filter(|(_, block)| blocks.contains(block.block_index));
        for (i, block) in in_span {
            if !batch.blocks.is_empty() && count >= max_records {
                break;
            }
            count += block.records.len();
            batch.blocks.push(block.clone());
            batch.next = RecordCursor(i64::try_from(i + 1).unwrap_or(i64::MAX));
        }
        Ok(batch)
    }

    async fn get_highest_known_block_index(&self) -> Result<Option<BlockIndex>> {
        Ok(self.lock().highest_known())
    }

    async fn get_missed_block_ranges(&self) -> Result<Vec<BlockRange>> {
        Ok(self
            .lock()
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Missing(r) => Some(*r),
                _ => None,
            })
            .collect())
    }

    async fn get_cumulative_txo_count_for_block(
        &self,
        block_index: BlockIndex,
    ) -> Result<Option<u64>> {
        Ok(self
            .lock()
            .blocks
            .iter()
            .find(|b| b.block_index == block_index)
            .map(|b| b.cumulative_txo_count))
    }

    async fn get_block_signature_timestamp_for_block(
        &self,
        block_index: BlockIndex,
    ) -> Result<Option<u64>> {
        Ok(self
            .lock()
            .blocks
            .iter()
            .find(|b| b.block_index == block_index)
            .map(|b| b.block_signature_timestamp))
    }

    async fn search_user_events(
        &self,
        since: UserEventId,
    ) -> Result<(Vec<FogUserEvent>, UserEventId)> {
        let m = self.lock();
        let mut next = since;
        let mut out = Vec::new();
        for (id, e) in m.events.iter().filter(|(id, _)| *id > since.0) {
            next = UserEventId(*id);
            out.push(match e {
                Event::New(iid) => {
                    let inv = m.invocations.get(iid).ok_or(RecoveryDbError::Corrupt(
                        "event names an unknown invocation",
                    ))?;
                    FogUserEvent::NewRngRecord(RngRecord {
                        ingest_invocation_id: IngestInvocationId(*iid),
                        pubkey: inv.egress.clone(),
                        start_block: inv.start_block,
                    })
                }
                Event::Decommission(iid) => FogUserEvent::DecommissionIngestInvocation {
                    id: IngestInvocationId(*iid),
                    last_ingested_block: m
                        .invocations
                        .get(iid)
                        .and_then(|inv| inv.frozen_last_block)
                        .unwrap_or(BlockIndex(0)),
                },
                Event::Missing(r) => FogUserEvent::MissingBlocks(*r),
            });
        }
        Ok((out, next))
    }
}
