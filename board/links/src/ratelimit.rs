//! At most one log line per kind of trouble per interval.
//!
//! A fault that repeats (a port that stays absent, a sensor that keeps sending a wrong layout) would otherwise
//! write a line per occurrence and bury everything else in the journal, or, warned once, go quiet for good while
//! the losses go on. [`RateLimit`] sits between the two: the first occurrence is written at once, later ones at most
//! once per interval, and each line says how many occurrences were held back since the previous one.
//!
//! It lives here, in the lowest crate that logs, so that the links and the daemon share it.

use std::time::{Duration, Instant};

/// The interval the device uses for its warnings: often enough to notice in a journal, rare enough to read it.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// Decides when the next line about one kind of trouble may be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    every: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(WARN_EVERY)
    }
}

impl RateLimit {
    /// At most one line per `every`.
    pub const fn new(every: Duration) -> Self {
        RateLimit { every, last: None, held_back: 0 }
    }

    /// Records `occurrences` at `now`. Returns `Some(held_back)` when a line may be written now, where `held_back`
    /// counts the occurrences since the previous line that no line mentioned; `None` means stay quiet (they are
    /// counted for the next line).
    pub fn check(&mut self, now: Instant, occurrences: u64) -> Option<u64> {
        let due = self.last.is_none_or(|last| now.saturating_duration_since(last) >= self.every);
        if due {
            self.last = Some(now);
            Some(std::mem::take(&mut self.held_back))
        } else {
            self.held_back = self.held_back.saturating_add(occurrences);
            None
        }
    }

    /// Forgets the previous line, so that the next occurrence is written at once (the trouble changed its kind).
    /// Occurrences held back so far are still reported by that line.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_written_then_one_per_interval_with_what_was_held_back() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut limit = RateLimit::new(Duration::from_secs(10));
        assert_eq!(limit.check(at(0), 1), Some(0));
        assert_eq!(limit.check(at(1), 3), None);
        assert_eq!(limit.check(at(9), 2), None);
        assert_eq!(limit.check(at(10), 1), Some(5), "3 + 2 held back since the first line");
        assert_eq!(limit.check(at(11), 1), None);
        limit.reset();
        assert_eq!(limit.check(at(12), 1), Some(1), "a reset writes the next line at once, with what was held back");
        assert_eq!(limit.check(at(13), 1), None);
    }
}
