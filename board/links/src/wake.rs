//! A wake-up for a thread waiting on a link: another thread calls [`Waker::wake`], and a wait that includes
//! [`Waker::fd`] (see [`crate::reconnect::ReconnectingReader::poll_or_wake`]) returns at once. The daemon's inference
//! thread uses it so that an event goes out as soon as it exists, instead of after the reader's next timeout.
//!
//! A non-blocking pipe: `wake` writes a byte (a full pipe already means "woken"), `clear` reads them all.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;

use crate::LinkError;

/// See the module documentation.
#[derive(Debug)]
pub struct Waker {
    read: OwnedFd,
    write: OwnedFd,
}

impl Waker {
    pub fn new() -> Result<Self, LinkError> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
            .map_err(|e| LinkError::Disconnected { reason: format!("cannot make a wake-up pipe: {e}") })?;
        Ok(Waker { read, write })
    }

    /// Wakes the waiting thread (or the next wait, if none is waiting now). Never blocks.
    pub fn wake(&self) {
        // EAGAIN means the pipe is full: a wake-up is pending already.
        let _ = nix::unistd::write(&self.write, &[1]);
    }

    /// Forgets the wake-ups so far (after waking).
    pub fn clear(&self) {
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(&self.read, &mut buf), Ok(n) if n > 0) {}
    }

    /// The descriptor a wait polls for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{PollFd, PollFlags, PollTimeout};

    fn readable(waker: &Waker) -> bool {
        let mut fds = [PollFd::new(waker.fd(), PollFlags::POLLIN)];
        nix::poll::poll(&mut fds, PollTimeout::ZERO).unwrap() > 0
    }

    #[test]
    fn a_wake_is_seen_until_cleared_and_many_wakes_never_block() {
        let waker = Waker::new().unwrap();
        assert!(!readable(&waker));
        waker.wake();
        assert!(readable(&waker));
        waker.clear();
        assert!(!readable(&waker));
        for _ in 0..100_000 {
            waker.wake(); // far more than a pipe holds: the excess is dropped, never waited on
        }
        assert!(readable(&waker));
        waker.clear();
        assert!(!readable(&waker));
    }

    /// Opens one end of a Unix socket pair, once.
    #[derive(Debug)]
    struct PairOpener(Option<std::os::unix::net::UnixStream>);

    impl crate::LinkOpener for PairOpener {
        type Link = crate::unix::UnixLink;
        fn open(&mut self) -> Result<Self::Link, LinkError> {
            crate::unix::UnixLink::new(self.0.take().ok_or(LinkError::NotConnected)?)
        }
        fn describe(&self) -> String {
            "socket pair".into()
        }
    }

    #[test]
    fn a_reader_waiting_on_its_link_returns_when_woken_and_still_reads_what_arrives() {
        use crate::reconnect::{Backoff, ReconnectingReader};
        use std::io::Write;
        use std::time::Duration;

        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let backoff = Backoff { initial: Duration::from_millis(1), max: Duration::from_millis(1) };
        let mut reader: ReconnectingReader<PairOpener> = ReconnectingReader::new(PairOpener(Some(ours)), backoff, 4096);
        let waker = Waker::new().unwrap();
        // The first call opens the link (a plain timed read); later ones wait on it beside the waker.
        reader.poll_or_wake(Duration::ZERO, &waker, |_| {});
        assert!(reader.link().is_connected());
        // Woken before the wait: a wait of ten minutes returns at once (a broken wake-up hangs the test here), and
        // clears the wake-up.
        waker.wake();
        let outcome = reader.poll_or_wake(Duration::from_secs(600), &waker, |_| panic!("nothing was sent"));
        assert_eq!(outcome.bytes, 0);
        assert!(!readable(&waker));
        // Woken from another thread while waiting.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                waker.wake();
            });
            reader.poll_or_wake(Duration::from_secs(600), &waker, |_| panic!("nothing was sent"));
        });
        // Bytes on the link still end the wait and are decoded.
        let mut packet = [0u8; skelact_runtime::wire::MAX_PACKET_LEN + 1];
        let message = skelact_runtime::wire::Message::Heartbeat(skelact_runtime::wire::Heartbeat { timestamp_us: 7 });
        let n = skelact_runtime::wire::encode_packet(&message, &mut packet).unwrap();
        theirs.write_all(&packet[..n]).unwrap();
        let mut got = Vec::new();
        reader.poll_or_wake(Duration::from_secs(600), &waker, |m| got.push(format!("{m:?}")));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("timestamp_us: 7"), "{got:?}");
    }
}
