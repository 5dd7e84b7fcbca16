//! Latency percentiles in fixed memory: a histogram of 0.1 ms buckets up to 2 s, plus an overflow count, so a
//! daemon that runs for months keeps a constant footprint.

use std::time::Duration;

/// Bucket width.
const BUCKET_US: u64 = 100;
/// Buckets: 0 to 2 s.
const BUCKETS: usize = 20_000;

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
        match self.counts.get_mut((us / BUCKET_US) as usize) {
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

    /// The `q`-quantile (0..=1) by nearest rank, as the upper edge of its bucket (so at most 0.1 ms high);
    /// samples past 2 s report the maximum.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                let edge = Duration::from_micros((i as u64 + 1) * BUCKET_US);
                return Some(edge.min(self.max));
            }
        }
        Some(self.max)
    }

    pub fn summary(&self) -> LatencySummary {
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
        LatencySummary {
            count: self.count,
            p50_ms: ms(self.quantile(0.50)),
            p90_ms: ms(self.quantile(0.90)),
            p99_ms: ms(self.quantile(0.99)),
            max_ms: ms(Some(self.max)),
            mean_ms: if self.count == 0 { 0.0 } else { self.sum_us as f64 / self.count as f64 / 1e3 },
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
        h.record(Duration::from_secs(5)); // past the last bucket
        let q = |q| h.quantile(q).unwrap().as_secs_f64() * 1e3;
        assert!((q(0.5) - 51.1).abs() < 0.11, "{}", q(0.5));
        assert!((q(0.9) - 91.1).abs() < 0.11, "{}", q(0.9));
        assert_eq!(h.quantile(1.0).unwrap(), Duration::from_secs(5));
        assert_eq!(h.summary().count, 101);
    }
}
