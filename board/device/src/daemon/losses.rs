//! What the daemon loses or refuses beyond the wire `Status`, counted and warned about.
//!
//! The wire `Status` is fixed by protocol v1 (a v1 decoder refuses trailing bytes), so these counters go into the
//! JSON status line and the summary instead ([`DaemonCounters`]). Each kind of loss is also warned about as it
//! happens, at most once per [`WARN_EVERY`] per kind, with how many there were since the previous warning: a
//! sender's bug (a wrong layout, a clock going backwards) repeats on every frame, and a line per frame would bury
//! the journal.

use std::time::Instant;

use skelact_links::ratelimit::{RateLimit, WARN_EVERY};

/// Counters the JSON status line and [`super::DaemonSummary`] carry besides the wire `Status`. All count from the
/// start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaemonCounters {
    /// Whether the port is open now.
    pub link_connected: bool,
    /// Successful opens of the port, the first one included.
    pub connects: u32,
    /// Times the open port failed and was closed.
    pub disconnects: u32,
    /// Open attempts that failed (an absent port, a regular file, no permission).
    pub failed_opens: u32,
    /// Times the port path (a symlink) was found leading to another device, which was then opened.
    pub port_repointed: u32,
    /// Events and status dropped because the sensor host did not read the back channel.
    pub events_dropped: u64,
    pub status_dropped: u64,
    /// Events and status dropped because the link was down.
    pub events_unsent: u64,
    pub status_unsent: u64,
    /// Frames dropped whole because a body's joint count differs from the layout the latest `Hello` announced.
    pub joint_count_errors: u32,
    /// Bodies left out of their frame because their joints do not fit the layout in use (before any `Hello`,
    /// Kinect v2's 25 joints are assumed).
    pub bodies_rejected: u32,
    /// Times the sensor clock went backwards: taken as a sensor restart, every track was cleared.
    pub clock_restarts: u32,
    /// `Hello`s refused for announcing another protocol major version; the previous layout stayed in use.
    pub hellos_refused: u32,
    /// Joints farther than `layout::MAX_JOINT_DISTANCE_M` from the sensor, treated as missing.
    pub joints_implausible: u32,
    /// The rate the sensor's `Hello` announced, and the rate its timestamps show, in millihertz (0: unknown).
    pub sensor_rate_announced_millihertz: u32,
    pub sensor_rate_measured_millihertz: u32,
    /// Times the measured rate moved more than 20 % away from the announced one (windows follow the timestamps).
    pub rate_mismatches: u32,
    /// Windows classified with at least one missing joint sample (`docs/preprocessing.md`, "The missing mask").
    pub windows_with_missing: u64,
    /// Windows whose missing joints the bundle's reconstruction model completed before the encoder (REC).
    pub windows_reconstructed: u64,
    /// Windows REC was due on but failed; they were classified with their interpolated joints.
    pub reconstructions_failed: u64,
}

/// One kind of loss: where its counter is and what to say about it.
struct Watched {
    count: fn(&DaemonCounters) -> u64,
    warning: &'static str,
    seen: u64,
    limit: RateLimit,
}

/// Warns about each kind of loss when its counter moves, rate-limited per kind.
pub struct LossWarnings {
    watched: [Watched; 7],
}

impl std::fmt::Debug for LossWarnings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LossWarnings").finish_non_exhaustive()
    }
}

impl Default for LossWarnings {
    fn default() -> Self {
        let watch = |count: fn(&DaemonCounters) -> u64, warning: &'static str| Watched {
            count,
            warning,
            seen: 0,
            limit: RateLimit::new(WARN_EVERY),
        };
        LossWarnings {
            watched: [
                watch(
                    |c| c.events_dropped + c.status_dropped,
                    "the sensor host is not reading the back channel: the oldest queued events and status were dropped",
                ),
                watch(
                    |c| u64::from(c.joint_count_errors),
                    "frames whose bodies do not have the joint count of the layout the sensor announced were dropped",
                ),
                watch(
                    |c| u64::from(c.bodies_rejected),
                    "bodies that do not fit the layout in use were left out of their frames",
                ),
                watch(
                    |c| u64::from(c.clock_restarts),
                    "the sensor clock went backwards: taken as a sensor restart, every track was cleared",
                ),
                watch(
                    |c| u64::from(c.hellos_refused),
                    "a Hello announcing another protocol major version was refused; the previous layout stays in use",
                ),
                watch(
                    |c| u64::from(c.joints_implausible),
                    "joints implausibly far from the sensor (over 100 m) were treated as missing",
                ),
                watch(
                    |c| u64::from(c.rate_mismatches),
                    "the sensor's timestamps disagree with the rate its Hello announced (by over 20 %); windows follow the timestamps",
                ),
            ],
        }
    }
}

impl LossWarnings {
    /// Warns about the kinds whose counters moved since the previous call, unless one was warned about less than
    /// [`WARN_EVERY`] ago. Returns how many lines it wrote.
    pub fn check(&mut self, now: Instant, counters: &DaemonCounters) -> usize {
        let mut lines = 0;
        for watched in &mut self.watched {
            let total = (watched.count)(counters);
            let new = total.saturating_sub(watched.seen);
            if new == 0 {
                continue;
            }
            watched.seen = total;
            if let Some(held_back) = watched.limit.check(now, new) {
                tracing::warn!(since_last_warning = new + held_back, total, "{}", watched.warning);
                lines += 1;
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_kind_is_warned_about_when_it_moves_and_at_most_once_per_interval() {
        let mut warnings = LossWarnings::default();
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut counters = DaemonCounters::default();
        assert_eq!(warnings.check(at(0), &counters), 0, "nothing lost, nothing said");
        counters.clock_restarts = 1;
        counters.joint_count_errors = 5;
        assert_eq!(warnings.check(at(0), &counters), 2);
        counters.joint_count_errors = 9;
        assert_eq!(warnings.check(at(1), &counters), 0, "held back within the interval");
        counters.hellos_refused = 1;
        assert_eq!(warnings.check(at(2), &counters), 1, "another kind has its own limit");
        assert_eq!(warnings.check(at(20), &counters), 0, "no new losses, no line");
        counters.joint_count_errors = 10;
        assert_eq!(warnings.check(at(21), &counters), 1);
    }
}
