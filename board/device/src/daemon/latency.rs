//! Latency percentiles in fixed memory: a histogram of 0.1 ms buckets up to 1 s, then 10 ms buckets up to 60 s,
//! plus an overflow count, so a daemon that runs for months keeps a constant footprint.

use std::time::Duration;

/// Fine buckets: 0.1 ms wide, up to 1 s.
const FINE_US: u64 = 100;
const FINE: u64 = 10_000;
/// Coarse buckets: 10 ms wide, from 1 s to 60 s.
const COARSE_US: u64 = 10_000;
const COARSE: u64 = 5_900;
const BUCKETS: usize = (FINE + COARSE) as usize;

/// The bucket of a latency in microseconds.
fn bucket(us: u64) -> usize {
    if us < FINE * FINE_US {
        (us / FINE_US) as usize
    } else {
        (FINE + (us - FINE * FINE_US) / COARSE_US) as usize
    }
}

/// The upper edge of bucket `i`, in microseconds.
fn upper_edge(i: usize) -> u64 {
    let i = i as u64;
    if i < FINE {
        (i + 1) * FINE_US
    } else {
        FINE * FINE_US + (i - FINE + 1) * COARSE_US
    }
}

/// A latency histogram.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    counts: Vec<u32>,
    overflow: u64,
    count: u64,
    max: Duration,
    sum_us: u128,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram { counts: vec![0; BUCKETS], overflow: 0, count: 0, max: Duration::ZERO, sum_us: 0 }
    }
}

/// Summary of a histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl LatencyHistogram {
    pub fn record(&mut self, latency: Duration) {
        let us = latency.as_micros() as u64;
        match self.counts.get_mut(bucket(us)) {
            Some(bucket) => *bucket = bucket.saturating_add(1),
            None => self.overflow += 1,
        }
        self.count += 1;
        self.max = self.max.max(latency);
        self.sum_us += u128::from(us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q`-quantile (0..=1) by nearest rank, as the upper edge of its bucket (at most 0.1 ms high below 1 s,
    /// 10 ms above); samples past 60 s report the maximum.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                let edge = Duration::from_micros(upper_edge(i));
                return Some(edge.min(self.max));
            }
        }
        Some(self.max)
    }

    pub fn summary(&self) -> LatencySummary {
        // Whole microseconds over 1000: the figures print as `78.841`, not as the float noise of `78.84056100000001`
        // that nanoseconds times 1e-6 leave in logs and JSON.
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_micros() as f64 / 1e3);
        LatencySummary {
            count: self.count,
            p50_ms: ms(self.quantile(0.50)),
            p90_ms: ms(self.quantile(0.90)),
            p99_ms: ms(self.quantile(0.99)),
            max_ms: ms(Some(self.max)),
            mean_ms: if self.count == 0 { 0.0 } else { (self.sum_us as f64 / self.count as f64).round() / 1e3 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank_within_a_bucket() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        h.record(Duration::from_millis(2_345)); // a coarse bucket
        h.record(Duration::from_secs(100)); // past the last bucket
        let q = |q| h.quantile(q).unwrap().as_secs_f64() * 1e3;
        assert!((q(0.5) - 51.1).abs() < 0.11, "{}", q(0.5));
        assert!((q(0.9) - 92.1).abs() < 0.11, "{}", q(0.9));
        assert!((q(100.5 / 102.0) - 2_350.0).abs() < 0.01, "{}", q(100.5 / 102.0));
        assert_eq!(h.quantile(1.0).unwrap(), Duration::from_secs(100));
        assert_eq!(h.summary().count, 102);

        // Summaries are whole microseconds, so they print without float noise.
        let mut h = LatencyHistogram::default();
        h.record(Duration::from_nanos(78_840_561));
        h.record(Duration::from_nanos(1_000_001));
        let summary = h.summary();
        assert_eq!(summary.max_ms.to_string(), "78.84");
        assert_eq!(summary.mean_ms.to_string(), "39.92");
    }
}
