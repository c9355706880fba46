//! Block timestamps: the wall clock in seconds, never behind the parent block, shifted in `dev`
//! by time travel (`evm_increaseTime`, `evm_setNextBlockTimestamp`).
//!
//! Everything that judges a transaction against the block it will land in — the builder, the
//! admission's epoch check, calls "now", the x402 adapter — reads the same clock, so a shifted
//! clock moves all of them together.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// A [`BlockClock`]'s shift from the wall clock and its pinned next timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockState {
    offset: i64,
    pinned: Option<u64>,
}

/// The clock blocks are stamped with (one per ledger).
#[derive(Debug, Default)]
pub struct BlockClock {
    /// Seconds added to the wall clock.
    offset: AtomicI64,
    /// The exact timestamp of the next block, when one was set.
    pinned: Mutex<Option<u64>>,
}

fn wall_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl BlockClock {
    /// The wall clock, unshifted.
    pub fn new() -> Self {
        Self::default()
    }

    /// The clock now: wall clock plus the offset.
    pub fn now(&self) -> u64 {
        wall_secs().saturating_add_signed(self.offset.load(Ordering::Relaxed))
    }

    /// The timestamp of a block cut now on a parent stamped `parent`: the pinned timestamp if
    /// one was set, else the clock; never before the parent.
    pub fn next_timestamp(&self, parent: u64) -> u64 {
        self.pinned.lock().unwrap_or_else(|| self.now()).max(parent)
    }

    /// Moves the clock forward by `seconds` (`evm_increaseTime`); returns the whole offset.
    pub fn advance(&self, seconds: u64) -> i64 {
        let by = i64::try_from(seconds).unwrap_or(i64::MAX);
        let before = self
            .offset
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(by))
            })
            .unwrap_or_else(|o| o);
        before.saturating_add(by)
    }

    /// The next block gets exactly `timestamp` (`evm_setNextBlockTimestamp`), and the clock
    /// carries on from there.
    pub fn pin_next(&self, timestamp: u64) {
        let wall = i64::try_from(wall_secs()).unwrap_or(i64::MAX);
        let at = i64::try_from(timestamp).unwrap_or(i64::MAX);
        self.offset
            .store(at.saturating_sub(wall), Ordering::Relaxed);
        *self.pinned.lock() = Some(timestamp);
    }

    /// Called once a block stamped `timestamp` is committed: a pin it used is spent.
    pub fn block_committed(&self, timestamp: u64) {
        let mut pinned = self.pinned.lock();
        if pinned.is_some_and(|p| p <= timestamp) {
            *pinned = None;
        }
    }

    /// The clock's shift and pin, to put back with [`BlockClock::restore`].
    pub fn state(&self) -> ClockState {
        ClockState {
            offset: self.offset(),
            pinned: *self.pinned.lock(),
        }
    }

    /// Puts back a shift and pin taken with [`BlockClock::state`] (`evm_revert`).
    pub fn restore(&self, state: ClockState) {
        let mut pinned = self.pinned.lock();
        self.offset.store(state.offset, Ordering::Relaxed);
        *pinned = state.pinned;
    }

    /// The offset from the wall clock, in seconds.
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_never_goes_behind_the_parent_and_moves_by_time_travel() {
        let c = BlockClock::new();
        let now = c.now();
        assert!(now >= wall_secs().saturating_sub(1));
        assert_eq!(c.next_timestamp(now + 100), now + 100);
        assert_eq!(c.advance(3600), 3600);
        assert_eq!(c.advance(60), 3660);
        assert!(c.next_timestamp(0) >= now + 3660);
        c.pin_next(now + 10_000);
        assert_eq!(c.next_timestamp(0), now + 10_000);
        assert_eq!(c.next_timestamp(now + 20_000), now + 20_000);
        c.block_committed(now + 10_000);
        // The pin is spent; the clock carries on from it.
        let after = c.next_timestamp(0);
        assert!((now + 10_000..now + 10_005).contains(&after), "{after}");
        let saved = c.state();
        c.pin_next(now + 50_000);
        c.restore(saved);
        assert_eq!(c.state(), saved);
        assert!(c.next_timestamp(0) < now + 10_010);
    }
}
