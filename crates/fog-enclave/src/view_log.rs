//! What the view enclave vouches for: the user events and block marks the host fed it, each
//! checked on arrival, and the highest processed block count computed from them alone.
//!
//! The host (the loader) streams two things from the recovery DB, in order:
//! - **user events** (new RNG records, decommissions, missed ranges). The enclave keeps its own
//!   copy and numbers it itself (the `n`-th event it accepted has id `n`), so the event part
//!   of every answer, and the next event id a client is told, come from this copy and not
//!   from the host per request;
//! - **block marks**: "block `b` of invocation `i` is complete", with that block's records.
//!   Per invocation the marks must start at its start block and come one after another;
//!   a gap, a repeat, a block of an invocation the events never announced, or a block past
//!   the invocation's decommission is refused.
//!
//! Block `b` is *processed* when it lies in a missed range (clients scan it with their view
//! key), or when some invocation has loaded it and every invocation responsible for it has
//! loaded it too, or is excused because a later invocation (higher id) has loaded `b`. An
//! invocation is responsible for `[start, ∞)` while live and `[start, last]` once
//! decommissioned; the excuse is what lets an invocation that stopped without a
//! decommission (an ingest restarted without its state), or one whose decommission says 0
//! (it scanned nothing), be followed by its successor. The processed count is the end of
//! the run of processed blocks from 0, and never beyond the highest block loaded (a missed
//! range may reach past the ledger's end); it never goes backwards.
//!
//! # A store of one block range
//! A store that serves blocks `start..end` only ([`LoadLog::for_blocks`], behind a view
//! router) takes every event (events are small and every answer carries them) but only the
//! block marks of its range, refusing any other ([`LoadError::OutOfRange`]); each invocation's
//! marks start at the later of its start block and `start`. Its processed count is then the
//! end of the run of processed blocks from `start` (`start` itself when none is), never past
//! `end`. A store with an end never loads the blocks after it, so for missed ranges it may go
//! past its highest loaded block up to the ledger's end as the host reports it
//! ([`LoadLog::set_known_end`]); a host that inflates that end makes it vouch only for missed
//! blocks, which clients scan themselves, and never past `end`.
//!
//! A decommission is checked against what was loaded: its last block may not be below the
//! invocation's highest loaded block, and once accepted no block after it is taken for that
//! invocation. So a host that invents an early decommission can only stop the count (the
//! invocation's later blocks are refused and nothing else covers them), not make clients
//! retire an RNG whose later records are counted.
//!
//! What remains host-chosen: which events and blocks exist at all. The enclave cannot tell a
//! dropped event or block from one never written; it can only refuse to vouch for blocks
//! nobody loaded. With two invocations scanning the same blocks at once (two ingress keys),
//! a host that withholds the older one's blocks while feeding the newer one's is not caught.
//!
//! Trust side: trusted. No I/O.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
pub use fog_enclave_api::errors::LoadError;

use fog_types::common::BlockRange;
use fog_types::view::{DecommissionedIngestInvocation, RngRecord};

/// The most events one answer carries; a client asks again from the next event id.
pub const MAX_EVENTS_PER_ANSWER: usize = 4096;

/// One user event as the recovery DB holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserEvent {
    /// A new ingest invocation (egress key): clients add an RNG.
    NewRng(RngRecord),
    /// An invocation stopped after `last_ingested_block` (0 if it stored none).
    Decommission(DecommissionedIngestInvocation),
    /// Blocks no ingest scanned.
    Missing(BlockRange),
}

/// "Block `block_index` of `invocation` is complete" (its records travel beside the mark).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMark {
    /// The ingest invocation that wrote the block.
    pub invocation: i64,
    /// The block.
    pub block_index: u64,
    /// Its block signature timestamp (public; reported with the processed count).
    pub timestamp: u64,
}

#[derive(Clone, Copy, Debug)]
struct Invocation {
    start: u64,
    /// The first block this log takes for it: the later of `start` and the range's start.
    from: u64,
    /// One past the highest block loaded (`start` when none).
    next: u64,
    /// The last block, once decommissioned.
    last: Option<u64>,
}

impl Invocation {
    fn responsible_for(&self, b: u64) -> bool {
        self.start <= b && self.last.is_none_or(|l| b <= l)
    }

    fn has(&self, b: u64) -> bool {
        self.start <= b && b < self.next
    }
}

/// A consistent view of the log for one answer.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The published batch epoch: records stored with a later epoch are not yet visible.
    pub epoch: u64,
    /// The processed block count the enclave vouches for.
    pub processed: u64,
    /// The timestamp of block `processed - 1` (0 if unknown).
    pub processed_timestamp: u64,
    /// The events of the page asked for.
    pub events: Vec<UserEvent>,
    /// The id to ask from next time.
    pub next_event_id: i64,
    /// Whether more events follow the page.
    pub truncated: bool,
}

/// The loaded state.
#[derive(Debug)]
pub struct LoadLog {
    /// The blocks this log takes: `start..end`.
    range_start: u64,
    range_end: u64,
    events: Vec<UserEvent>,
    invocations: BTreeMap<i64, Invocation>,
    missed: Vec<(u64, u64)>,
    timestamps: BTreeMap<u64, u64>,
    /// One past the highest block any invocation loaded.
    loaded_end: u64,
    /// The ledger's block count as the host reports it (closed ranges only).
    known_end: u64,
    processed: u64,
    epoch: u64,
}

impl Default for LoadLog {
    fn default() -> Self {
        Self::for_blocks(0, u64::MAX)
    }
}

impl LoadLog {
    /// A log that takes the blocks `start..end` only (`end` = `u64::MAX`: open-ended).
    pub fn for_blocks(start: u64, end: u64) -> Self {
        Self {
            range_start: start,
            range_end: end.max(start),
            events: Vec::new(),
            invocations: BTreeMap::new(),
            missed: Vec::new(),
            timestamps: BTreeMap::new(),
            loaded_end: start,
            known_end: 0,
            processed: start,
            epoch: 0,
        }
    }

    /// The blocks this log takes, `(start, end)`.
    pub fn blocks(&self) -> (u64, u64) {
        (self.range_start, self.range_end)
    }

    /// One past the highest block loaded (0 when none was).
    pub fn loaded_end(&self) -> u64 {
        if self.loaded_end > self.range_start {
            self.loaded_end
        } else {
            0
        }
    }

    /// The timestamp of block `b`, if it was loaded.
    pub fn timestamp(&self, b: u64) -> Option<u64> {
        self.timestamps.get(&b).copied()
    }

    /// Whether no event or block was taken yet.
    pub fn is_untouched(&self) -> bool {
        self.events.is_empty() && self.epoch == 0
    }

    /// Events accepted.
    pub fn event_count(&self) -> u64 {
        self.events.len() as u64
    }

    /// The processed block count (see the module docs).
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// The published epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Checks and appends events, all or nothing.
    pub fn add_events(&mut self, events: &[UserEvent]) -> Result<(), LoadError> {
        let mut invs = self.invocations.clone();
        for e in events {
            match e {
                UserEvent::NewRng(r) => {
                    let newest = invs.keys().next_back().copied();
                    if r.pubkey.is_none() || newest.is_some_and(|n| n >= r.ingest_invocation_id) {
                        return Err(LoadError::BadRngRecord);
                    }
                    let from = r.start_block.max(self.range_start);
                    invs.insert(
                        r.ingest_invocation_id,
                        Invocation {
                            start: r.start_block,
                            from,
                            next: from,
                            last: None,
                        },
                    );
                }
                UserEvent::Decommission(d) => {
                    let inv = invs
                        .get_mut(&d.ingest_invocation_id)
                        .filter(|i| i.last.is_none())
                        .ok_or(LoadError::BadDecommission)?;
                    if inv.next > inv.from && d.last_ingested_block < inv.next - 1 {
                        return Err(LoadError::DecommissionBelowLoaded);
                    }
                    inv.last = Some(d.last_ingested_block);
                }
                UserEvent::Missing(r) => {
                    if r.end_block < r.start_block {
                        return Err(LoadError::BadRange);
                    }
                }
            }
        }
        self.invocations = invs;
        for e in events {
            if let UserEvent::Missing(r) = e {
                self.missed.push((r.start_block, r.end_block));
            }
        }
        self.events.extend_from_slice(events);
        self.advance();
        Ok(())
    }

    /// Checks block marks without taking them.
    pub fn check_marks(&self, marks: &[BlockMark]) -> Result<(), LoadError> {
        let mut next: BTreeMap<i64, u64> = BTreeMap::new();
        for m in marks {
            if m.block_index < self.range_start || m.block_index >= self.range_end {
                return Err(LoadError::OutOfRange);
            }
            let inv = self
                .invocations
                .get(&m.invocation)
                .ok_or(LoadError::UnknownInvocation)?;
            let n = next.entry(m.invocation).or_insert(inv.next);
            if inv.last.is_some_and(|l| m.block_index > l) {
                return Err(LoadError::AfterDecommission);
            }
            if m.block_index != *n {
                return Err(LoadError::OutOfOrder);
            }
            *n += 1;
        }
        Ok(())
    }

    /// Takes checked block marks (whose records are stored with `epoch`) and publishes the
    /// epoch.
    pub fn publish(&mut self, marks: &[BlockMark], epoch: u64) -> Result<(), LoadError> {
        self.check_marks(marks)?;
        for m in marks {
            if let Some(inv) = self.invocations.get_mut(&m.invocation) {
                inv.next = m.block_index + 1;
            }
            self.timestamps.entry(m.block_index).or_insert(m.timestamp);
            self.loaded_end = self.loaded_end.max(m.block_index + 1);
        }
        self.epoch = self.epoch.max(epoch);
        self.advance();
        Ok(())
    }

    fn processed_block(&self, b: u64) -> bool {
        if self.missed.iter().any(|&(s, e)| s <= b && b < e) {
            return true;
        }
        let mut loaded = false;
        for (id, inv) in &self.invocations {
            if inv.has(b) {
                loaded = true;
            } else if inv.responsible_for(b)
                && !self
                    .invocations
                    .range(id + 1..)
                    .any(|(_, later)| later.has(b))
            {
                return false;
            }
        }
        loaded
    }

    /// The ledger's block count as the host knows it (see the module docs); only a store with
    /// a closed range uses it.
    pub fn set_known_end(&mut self, blocks: u64) {
        self.known_end = self.known_end.max(blocks);
        self.advance();
    }

    fn advance(&mut self) {
        let limit = if self.range_end == u64::MAX {
            self.loaded_end
        } else {
            self.loaded_end.max(self.known_end).min(self.range_end)
        };
        while self.processed < limit && self.processed_block(self.processed) {
            self.processed += 1;
        }
    }

    /// The answer to a client that asks for events after `since` and has confirmed
    /// `client_count` blocks. A page that leaves events out vouches for no more than
    /// `client_count`: the client has not yet seen every RNG record that blocks up to the
    /// processed count may need.
    pub fn snapshot(&self, since: i64, client_count: u64, page: usize) -> Snapshot {
        let len = self.events.len();
        let from = usize::try_from(since.max(0)).unwrap_or(usize::MAX).min(len);
        let to = from.saturating_add(page).min(len);
        let events = self.events[from..to].to_vec();
        let truncated = to < len;
        let next_event_id = if events.is_empty() {
            since
        } else {
            i64::try_from(to).unwrap_or(i64::MAX)
        };
        let processed = if truncated {
            self.processed.min(client_count)
        } else {
            self.processed
        };
        let processed_timestamp = processed
            .checked_sub(1)
            .filter(|&b| b >= self.range_start)
            .and_then(|b| self.timestamps.get(&b).copied())
            .unwrap_or(0);
        Snapshot {
            epoch: self.epoch,
            processed,
            processed_timestamp,
            events,
            next_event_id,
            truncated,
        }
    }
}
