//! Two connected in-memory link ends, so that link logic is tested on the host without a port.
//!
//! What one end writes, the other reads, in order. Dropping an end (or calling [`LoopbackLink::hang_up`]) is an
//! unplug: the other end reads what was already sent, then gets [`LinkError::Disconnected`].

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{ByteLink, LinkError};

#[derive(Debug, Default)]
struct Pipe {
    bytes: VecDeque<u8>,
    closed: bool,
}

#[derive(Debug, Default)]
struct Channel {
    pipe: Mutex<Pipe>,
    ready: Condvar,
}

impl Channel {
    fn lock(&self) -> MutexGuard<'_, Pipe> {
        // A panic while holding this lock can only come from a test; the bytes are still consistent.
        self.pipe.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// One end of an in-memory link.
#[derive(Debug)]
pub struct LoopbackLink {
    incoming: Arc<Channel>,
    outgoing: Arc<Channel>,
}

/// Two ends: bytes written to one are read from the other.
pub fn loopback_pair() -> (LoopbackLink, LoopbackLink) {
    let a_to_b = Arc::new(Channel::default());
    let b_to_a = Arc::new(Channel::default());
    (
        LoopbackLink { incoming: Arc::clone(&b_to_a), outgoing: Arc::clone(&a_to_b) },
        LoopbackLink { incoming: a_to_b, outgoing: b_to_a },
    )
}

impl LoopbackLink {
    /// Closes both directions, as an unplug does. Also happens on drop.
    pub fn hang_up(&self) {
        self.outgoing.close();
        self.incoming.close();
    }
}

impl Drop for LoopbackLink {
    fn drop(&mut self) {
        self.hang_up();
    }
}

impl ByteLink for LoopbackLink {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        let deadline = Instant::now() + timeout;
        let mut pipe = self.incoming.lock();
        loop {
            if !pipe.bytes.is_empty() {
                let n = buf.len().min(pipe.bytes.len());
                for (slot, byte) in buf.iter_mut().zip(pipe.bytes.drain(..n)) {
                    *slot = byte;
                }
                return Ok(n);
            }
            if pipe.closed {
                return Err(LinkError::Disconnected { reason: "loopback peer hung up".into() });
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(0);
            }
            pipe = self
                .incoming
                .ready
                .wait_timeout(pipe, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let mut pipe = self.outgoing.lock();
        if pipe.closed {
            return Err(LinkError::Disconnected { reason: "loopback peer hung up".into() });
        }
        pipe.bytes.extend(bytes);
        drop(pipe);
        self.outgoing.ready.notify_all();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_in_order_and_hang_up_is_seen_after_them() {
        let (mut a, mut b) = loopback_pair();
        a.write_all(b"hello").unwrap();
        a.write_all(b" world").unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(b.read(&mut buf, Duration::ZERO).unwrap(), 4);
        assert_eq!(&buf, b"hell");
        let mut rest = [0u8; 32];
        assert_eq!(b.read(&mut rest, Duration::ZERO).unwrap(), 7);
        assert_eq!(&rest[..7], b"o world");
        assert_eq!(b.read(&mut rest, Duration::from_millis(1)).unwrap(), 0);
        b.write_all(b"back").unwrap();
        assert_eq!(a.read(&mut rest, Duration::ZERO).unwrap(), 4);
        a.write_all(b"last").unwrap();
        drop(a);
        assert_eq!(b.read(&mut rest, Duration::ZERO).unwrap(), 4);
        assert!(matches!(b.read(&mut rest, Duration::ZERO), Err(LinkError::Disconnected { .. })));
        assert!(matches!(b.write_all(b"x"), Err(LinkError::Disconnected { .. })));
    }

    #[test]
    fn a_blocked_reader_wakes_when_bytes_arrive() {
        let (mut a, mut b) = loopback_pair();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8];
            // A generous safety limit: the writer below sends right away.
            let n = b.read(&mut buf, Duration::from_secs(30)).unwrap();
            buf[..n].to_vec()
        });
        a.write_all(b"wake").unwrap();
        assert_eq!(reader.join().unwrap(), b"wake");
    }
}
