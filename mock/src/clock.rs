//! The mock's clock: wall time plus an offset that tests push forward.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far the clock may be pushed (about a century); keeps every `SystemTime` sum in range.
const MAX_OFFSET: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Wall-clock time plus an adjustable offset. Every expiry in the mock (codes, tokens,
/// tickets, rate windows) is computed against this clock.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset: Mutex<Duration>,
}

impl Clock {
    /// The mock's idea of "now".
    pub(crate) fn now(&self) -> SystemTime {
        let offset = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        let real = SystemTime::now();
        real.checked_add(offset).unwrap_or(real)
    }

    /// The mock's "now" and the real wall-clock time it was computed from (one reading, so
    /// the two agree to the second while the clock has not been moved).
    pub(crate) fn now_and_wall(&self) -> (SystemTime, SystemTime) {
        let offset = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        let real = SystemTime::now();
        (real.checked_add(offset).unwrap_or(real), real)
    }

    /// Moves the clock forward by `by` (saturating at about a century in total).
    pub(crate) fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset = offset.saturating_add(by).min(MAX_OFFSET);
    }
}

/// `t + d`, never panicking (stays at `t` on overflow, which cannot happen for the
/// durations the mock uses).
pub(crate) fn after(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d).unwrap_or(t)
}

/// Unix seconds of `t` (0 before the epoch).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// Whole seconds from `now` until `t` (0 when `t` is past).
pub(crate) fn secs_until(now: SystemTime, t: SystemTime) -> u64 {
    t.duration_since(now).unwrap_or_default().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_and_saturates() {
        let c = Clock::default();
        let before = c.now();
        c.advance(Duration::from_secs(3600));
        assert!(c.now().duration_since(before).unwrap() >= Duration::from_secs(3600));
        let (mock, wall) = c.now_and_wall();
        assert!(mock.duration_since(wall).unwrap() >= Duration::from_secs(3600));
        assert!(SystemTime::now().duration_since(wall).unwrap() < Duration::from_secs(60));
        c.advance(Duration::MAX);
        let _ = c.now(); // no panic
        assert_eq!(secs_until(c.now(), before), 0);
    }
}
