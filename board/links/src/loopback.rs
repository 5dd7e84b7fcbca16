//! Two connected in-memory link ends, so that link logic is tested on the host without a port.
//!
//! What one end writes, the other reads, in order. Dropping an end (or calling [`LoopbackLink::hang_up`]) is an
//! unplug: the other end reads what was already sent, then gets [`LinkError::Disconnected`].
//!
//! [`loopback_pair_with_capacity`] bounds what each direction holds, as a port's buffers do, so that a test can
//! model a peer that stops reading: `write_all` then waits for room and `write_now` takes what fits.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{ByteLink, LinkError};

#[derive(Debug)]
struct Pipe {
    bytes: VecDeque<u8>,
    /// Most bytes the pipe holds; `usize::MAX` for no limit.
    capacity: usize,
    closed: bool,
}

impl Pipe {
    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.bytes.len())
    }
}

/// One direction. `ready` wakes readers when bytes arrive and writers when room appears (and both on hang-up).
#[derive(Debug)]
struct Channel {
    pipe: Mutex<Pipe>,
    ready: Condvar,
}

impl Channel {
    fn new(capacity: usize) -> Self {
        Channel { pipe: Mutex::new(Pipe { bytes: VecDeque::new(), capacity, closed: false }), ready: Condvar::new() }
    }

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

/// Two ends: bytes written to one are read from the other. Each direction holds any number of bytes.
pub fn loopback_pair() -> (LoopbackLink, LoopbackLink) {
    loopback_pair_with_capacity(usize::MAX)
}

/// Two ends whose directions each hold at most `capacity` bytes (at least 1) that the other end has not read.
pub fn loopback_pair_with_capacity(capacity: usize) -> (LoopbackLink, LoopbackLink) {
    let capacity = capacity.max(1);
    let a_to_b = Arc::new(Channel::new(capacity));
    let b_to_a = Arc::new(Channel::new(capacity));
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
                drop(pipe);
                // A writer may be waiting for the room this made.
                self.incoming.ready.notify_all();
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

    fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), LinkError> {
        let mut pipe = self.outgoing.lock();
        loop {
            if pipe.closed {
                return Err(LinkError::Disconnected { reason: "loopback peer hung up".into() });
            }
            let n = pipe.room().min(bytes.len());
            pipe.bytes.extend(&bytes[..n]);
            bytes = &bytes[n..];
            self.outgoing.ready.notify_all();
            if bytes.is_empty() {
                return Ok(());
            }
            // Full: wait for the reader (or a hang-up), as a blocking write to a port does.
            pipe = self.outgoing.ready.wait(pipe).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        let mut pipe = self.outgoing.lock();
        if pipe.closed {
            return Err(LinkError::Disconnected { reason: "loopback peer hung up".into() });
        }
        let n = pipe.room().min(bytes.len());
        pipe.bytes.extend(&bytes[..n]);
        drop(pipe);
        if n > 0 {
            self.outgoing.ready.notify_all();
        }
        Ok(n)
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
    fn a_bounded_pipe_takes_what_fits_now_and_waits_for_room_otherwise() {
        let (mut device, mut host) = loopback_pair_with_capacity(4);
        assert_eq!(device.write_now(b"abcdef").unwrap(), 4);
        assert_eq!(device.write_now(b"ef").unwrap(), 0, "full: nothing taken, nothing waited for");
        let mut buf = [0u8; 3];
        assert_eq!(host.read(&mut buf, Duration::ZERO).unwrap(), 3);
        assert_eq!(&buf, b"abc");
        assert_eq!(device.write_now(b"efgh").unwrap(), 3);
        // A blocking write of more than fits completes once the reader makes room.
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 2];
            // A generous safety limit per read; the writer below is already waiting.
            while got.len() < 4 + 6 {
                let n = host.read(&mut buf, Duration::from_secs(30)).unwrap();
                assert!(n > 0, "the writer stalled");
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        device.write_all(b"uvwxyz").unwrap();
        assert_eq!(reader.join().unwrap(), b"defguvwxyz");
        assert!(matches!(device.write_now(b"x"), Err(LinkError::Disconnected { .. })), "the reader's end is gone");
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
