//! Seeded corruption of a byte stream: bit flips, dropped bytes and bursts of garbage.
//!
//! [`FaultInjector`] transforms bytes and logs every fault at its offset in the clean stream, so that a test can
//! work out exactly which packets were hit and check that only those were lost. [`FaultyLink`] applies it to
//! everything a link reads.

use skelact_runtime::rng::SplitMix64;
use std::collections::VecDeque;
use std::time::Duration;

use super::{ByteLink, LinkError};

/// How often each kind of fault happens, per clean byte. Probabilities are checked in this order, and at most one
/// fault hits a byte: garbage is inserted before the byte, which then may still be flipped or dropped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultConfig {
    pub seed: u64,
    /// Probability that one bit of a byte is inverted.
    pub bit_flip: f64,
    /// Probability that a byte is lost.
    pub drop: f64,
    /// Probability that a burst of random bytes is inserted before a byte.
    pub garbage: f64,
    /// Longest garbage burst (at least 1).
    pub garbage_max_len: usize,
}

impl FaultConfig {
    /// No faults at all.
    pub const fn clean(seed: u64) -> Self {
        FaultConfig { seed, bit_flip: 0.0, drop: 0.0, garbage: 0.0, garbage_max_len: 1 }
    }
}

/// One fault, at `offset` (0-based) in the clean stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub offset: u64,
    pub kind: FaultKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Bit `bit` (0 = least significant) of the byte was inverted.
    BitFlip { bit: u8 },
    /// The byte was lost.
    Dropped,
    /// `len` random bytes were inserted before the byte.
    Garbage { len: usize },
}

/// Corrupts a stream according to a [`FaultConfig`], remembering what it did.
#[derive(Clone, Debug)]
pub struct FaultInjector {
    config: FaultConfig,
    rng: SplitMix64,
    offset: u64,
    log: Vec<Fault>,
}

impl FaultInjector {
    pub fn new(config: FaultConfig) -> Self {
        FaultInjector { config, rng: SplitMix64(config.seed), offset: 0, log: Vec::new() }
    }

    /// Appends the corrupted form of `clean` to `out`. Calls may split the stream anywhere: the result is the same
    /// as for one call with all the bytes.
    pub fn corrupt(&mut self, clean: &[u8], out: &mut impl Extend<u8>) {
        for &byte in clean {
            let offset = self.offset;
            self.offset += 1;
            if self.rng.unit() < self.config.garbage {
                let len = 1 + self.rng.below(self.config.garbage_max_len.max(1) as u64) as usize;
                out.extend((0..len).map(|_| self.rng.next_u64() as u8));
                self.log.push(Fault { offset, kind: FaultKind::Garbage { len } });
            }
            if self.rng.unit() < self.config.bit_flip {
                let bit = self.rng.below(8) as u8;
                out.extend([byte ^ (1 << bit)]);
                self.log.push(Fault { offset, kind: FaultKind::BitFlip { bit } });
            } else if self.rng.unit() < self.config.drop {
                self.log.push(Fault { offset, kind: FaultKind::Dropped });
            } else {
                out.extend([byte]);
            }
        }
    }

    /// Every fault so far, in stream order.
    pub fn faults(&self) -> &[Fault] {
        &self.log
    }
}

/// A link whose reads pass through a [`FaultInjector`]. Writes pass unharmed.
#[derive(Debug)]
pub struct FaultyLink<L> {
    inner: L,
    injector: FaultInjector,
    scratch: Vec<u8>,
    pending: VecDeque<u8>,
}

impl<L: ByteLink> FaultyLink<L> {
    pub fn new(inner: L, config: FaultConfig) -> Self {
        FaultyLink { inner, injector: FaultInjector::new(config), scratch: vec![0; 4096], pending: VecDeque::new() }
    }

    /// Every fault injected so far.
    pub fn faults(&self) -> &[Fault] {
        self.injector.faults()
    }

    pub fn into_inner(self) -> L {
        self.inner
    }
}

impl<L: ByteLink> ByteLink for FaultyLink<L> {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        // Garbage can make the corrupted stream longer than what the caller has room for; the rest waits here.
        while self.pending.is_empty() {
            let n = self.inner.read(&mut self.scratch, timeout)?;
            if n == 0 {
                return Ok(0);
            }
            self.injector.corrupt(&self.scratch[..n], &mut self.pending);
        }
        let n = buf.len().min(self.pending.len());
        for (slot, byte) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.inner.write_all(bytes)
    }

    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        self.inner.write_now(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_config_changes_nothing() {
        let mut injector = FaultInjector::new(FaultConfig::clean(1));
        let mut out = Vec::new();
        injector.corrupt(b"abc\0def\0", &mut out);
        assert_eq!(out, b"abc\0def\0");
        assert!(injector.faults().is_empty());
    }

    #[test]
    fn same_seed_same_faults_however_the_stream_is_split() {
        let config = FaultConfig { seed: 7, bit_flip: 0.05, drop: 0.05, garbage: 0.05, garbage_max_len: 5 };
        let clean: Vec<u8> = (0..2000u32).map(|i| (i * 7) as u8).collect();
        let mut whole = FaultInjector::new(config);
        let mut whole_out = Vec::new();
        whole.corrupt(&clean, &mut whole_out);
        let mut split = FaultInjector::new(config);
        let mut split_out = Vec::new();
        for chunk in clean.chunks(37) {
            split.corrupt(chunk, &mut split_out);
        }
        assert_eq!(whole_out, split_out);
        assert_eq!(whole.faults(), split.faults());
        // Each kind happened, and the log accounts for every length change.
        let count = |f: fn(&FaultKind) -> bool| whole.faults().iter().filter(|x| f(&x.kind)).count();
        assert!(count(|k| matches!(k, FaultKind::BitFlip { .. })) > 0);
        assert!(count(|k| matches!(k, FaultKind::Dropped)) > 0);
        assert!(count(|k| matches!(k, FaultKind::Garbage { .. })) > 0);
        let inserted: usize =
            whole.faults().iter().map(|f| if let FaultKind::Garbage { len } = f.kind { len } else { 0 }).sum();
        assert_eq!(whole_out.len(), clean.len() + inserted - count(|k| matches!(k, FaultKind::Dropped)));
        let mut other = FaultInjector::new(FaultConfig { seed: 8, ..config });
        other.corrupt(&clean, &mut Vec::new());
        assert_ne!(other.faults(), whole.faults());
    }
}
