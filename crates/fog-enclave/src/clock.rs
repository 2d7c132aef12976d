//! The host's clock, as trusted code takes it.
//!
//! Trusted code reads no clock: every call that needs the time takes `now` from the host,
//! which may lie. What a lie could buy is a time at which something stale looks fresh: a
//! peer's evidence past its policy's maximum age, collateral past its `nextUpdate`, a session
//! past its lifetime. So an enclave never lets the host's time run backwards: [`HostClock`]
//! keeps the latest time it was given and answers every later call with at least that. Once
//! the enclave has seen the real time (any honest call), rewinding the clock does not make
//! stale evidence acceptable again. A host that lies from the very first call can still pick
//! the enclave's notion of "now" then; it can only move it forward afterwards, which ends
//! sessions early (a denial of service the host can cause anyway).

use core::sync::atomic::{AtomicU64, Ordering};

use fog_attest::UnixSeconds;

/// The latest time the host gave; never goes back.
#[derive(Debug, Default)]
pub struct HostClock(AtomicU64);

impl HostClock {
    /// A clock that has seen nothing yet.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Takes the host's `now` and gives the time to use: the latest of it and every time given
    /// before.
    pub fn observe(&self, host_now: UnixSeconds) -> UnixSeconds {
        let before = self.0.fetch_max(host_now.0, Ordering::Relaxed);
        UnixSeconds(before.max(host_now.0))
    }

    /// The latest time seen.
    pub fn latest(&self) -> UnixSeconds {
        UnixSeconds(self.0.load(Ordering::Relaxed))
    }
}
