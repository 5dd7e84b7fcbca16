//! Surviving an unplug: a link that reopens its port with a backoff, and a decoding reader on top of it.
//!
//! When a read or write fails (EIO, hang-up, end of file), the port is closed and reopened by path until it comes
//! back: a USB sensor that is unplugged and plugged in again reappears at the same path (or the same udev symlink).
//! Every loss and every reconnect advances an epoch, and [`ReconnectingReader`] resets its decoder's partial packet
//! and sequence history when the epoch moves, so half a packet from before the unplug never merges with bytes after.
//!
//! A port that cannot be opened is retried for as long as the process runs (a udev rule or a replug may fix it at
//! any time), and said so at most every [`WARN_EVERY`] with a hint for its cause. A port path that is a symlink and
//! is re-pointed to another device while the old one stays open is noticed within [`PORT_CHECK_EVERY`] and
//! reopened.

use std::time::{Duration, Instant};

use skelact_runtime::wire::{DecodeError, Decoder, LinkStats, Message, MAX_PACKET_LEN};

use super::ratelimit::{RateLimit, WARN_EVERY};
use super::{ByteLink, LinkError, LinkOpener};

/// How often an open link checks that its port path still leads to the device it opened.
pub const PORT_CHECK_EVERY: Duration = Duration::from_secs(1);

/// How patiently to reopen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the first attempt after a loss, and after a success.
    pub initial: Duration,
    /// The wait doubles after each failed attempt, up to this.
    pub max: Duration,
}

impl Default for Backoff {
    /// 50 ms, doubling to 1 s: a replugged USB device is back within a second of enumeration, and a port that is
    /// gone for good costs one open attempt per second.
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(50), max: Duration::from_secs(1) }
    }
}

/// Counters of the link's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReconnectStats {
    /// Successful opens, the first one included.
    pub connects: u32,
    /// Times an open link failed and was closed.
    pub disconnects: u32,
    /// Open attempts that failed.
    pub failed_opens: u32,
    /// Times the port path was found leading to another device than the open one, which was then closed and the
    /// path reopened (a re-pointed udev symlink).
    pub repointed: u32,
}

/// A link that reopens itself. Reads while it is down wait (up to their timeout) for the next attempt and return
/// `Ok(0)` if it fails; they never return [`LinkError::Disconnected`].
#[derive(Debug)]
pub struct ReconnectingLink<O: LinkOpener> {
    opener: O,
    link: Option<O::Link>,
    backoff: Backoff,
    wait: Duration,
    next_attempt: Instant,
    epoch: u64,
    stats: ReconnectStats,
    last_error: Option<LinkError>,
    next_port_check: Instant,
    open_warning: RateLimit,
    repoint_warning: RateLimit,
}

impl<O: LinkOpener> ReconnectingLink<O> {
    /// Starts disconnected; the first read opens the port.
    pub fn new(opener: O, backoff: Backoff) -> Self {
        ReconnectingLink {
            opener,
            link: None,
            backoff,
            wait: backoff.initial,
            next_attempt: Instant::now(),
            epoch: 0,
            stats: ReconnectStats::default(),
            last_error: None,
            next_port_check: Instant::now(),
            open_warning: RateLimit::new(WARN_EVERY),
            repoint_warning: RateLimit::new(WARN_EVERY),
        }
    }

    /// Advances on every connect and every loss.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn is_connected(&self) -> bool {
        self.link.is_some()
    }

    pub fn stats(&self) -> ReconnectStats {
        self.stats
    }

    /// Why the link is down (or went down last).
    pub fn last_error(&self) -> Option<&LinkError> {
        self.last_error.as_ref()
    }

    /// Opens the port if it is down and an attempt is due. Returns whether the link is up.
    pub fn try_connect(&mut self) -> bool {
        if self.link.is_some() {
            return true;
        }
        if Instant::now() < self.next_attempt {
            return false;
        }
        match self.opener.open() {
            Ok(link) => {
                self.link = Some(link);
                self.epoch += 1;
                self.stats.connects += 1;
                self.wait = self.backoff.initial;
                self.last_error = None;
                self.next_port_check = Instant::now() + PORT_CHECK_EVERY;
                tracing::info!(port = %self.opener.describe(), connects = self.stats.connects, "link connected");
                true
            }
            Err(error) => {
                self.stats.failed_opens += 1;
                self.warn_open_failure(&error, Instant::now());
                self.last_error = Some(error);
                self.next_attempt = Instant::now() + self.wait;
                self.wait = (self.wait * 2).min(self.backoff.max);
                false
            }
        }
    }

    /// Warns about a failed open: at once when the cause is new, and then at most every [`WARN_EVERY`] while it
    /// lasts, since a port that stays unopenable loses every frame the sensor sends. Returns whether it warned.
    fn warn_open_failure(&mut self, error: &LinkError, now: Instant) -> bool {
        if self.last_error.as_ref() != Some(error) {
            self.open_warning.reset();
        }
        let Some(held_back) = self.open_warning.check(now, 1) else { return false };
        let hint = match error {
            LinkError::Open { cause, .. } => cause.hint(),
            _ => "",
        };
        tracing::warn!(
            port = %self.opener.describe(),
            %error,
            hint,
            failed_opens = self.stats.failed_opens,
            failures_not_logged = held_back,
            retry_ms = self.wait.as_millis() as u64,
            "cannot open link; retrying"
        );
        true
    }

    /// Closes the link when its port path now leads to another device, so that the next attempt opens that one.
    /// Checked at most every [`PORT_CHECK_EVERY`].
    fn check_port(&mut self, now: Instant) {
        if now < self.next_port_check {
            return;
        }
        self.next_port_check = now + PORT_CHECK_EVERY;
        let Some(link) = self.link.as_ref() else { return };
        if self.opener.still_current(link) {
            return;
        }
        self.stats.repointed += 1;
        if let Some(held_back) = self.repoint_warning.check(now, 1) {
            tracing::warn!(port = %self.opener.describe(), repointed = self.stats.repointed, not_logged = held_back, "the port path now leads to another device; reopening it");
        }
        self.link = None;
        self.epoch += 1;
        self.wait = self.backoff.initial;
        // The new device is there already: open it now rather than after a backoff.
        self.next_attempt = now;
    }

    fn lost(&mut self, error: LinkError) {
        tracing::warn!(port = %self.opener.describe(), %error, "link lost; reconnecting");
        self.link = None;
        self.epoch += 1;
        self.stats.disconnects += 1;
        self.wait = self.backoff.initial;
        self.next_attempt = Instant::now() + self.wait;
        self.last_error = Some(error);
    }
}

impl<O: LinkOpener> ByteLink for ReconnectingLink<O> {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        let deadline = Instant::now() + timeout;
        self.check_port(Instant::now());
        if !self.try_connect() {
            // Sleep until the next attempt or the deadline, whichever comes first, then try once more.
            let until = self.next_attempt.min(deadline);
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            if !self.try_connect() {
                return Ok(0);
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Some(link) = self.link.as_mut() else { return Ok(0) };
        match link.read(buf, remaining) {
            Ok(n) => Ok(n),
            Err(error) => {
                self.lost(error);
                Ok(0)
            }
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let link = self.link.as_mut().ok_or(LinkError::NotConnected)?;
        let result = link.write_all(bytes);
        if let Err(error) = &result {
            if matches!(error, LinkError::Disconnected { .. }) {
                self.lost(error.clone());
            }
        }
        result
    }

    /// Writes what the open link takes now. Fails with [`LinkError::NotConnected`] while the link is down; a
    /// [`LinkError::Disconnected`] closes it, as in a read.
    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        let link = self.link.as_mut().ok_or(LinkError::NotConnected)?;
        let result = link.write_now(bytes);
        if let Err(error @ LinkError::Disconnected { .. }) = &result {
            self.lost(error.clone());
        }
        result
    }

    /// The open link's, while one is open; none between attempts (then `read` does the waiting and reconnecting).
    #[cfg(unix)]
    fn readiness_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.link.as_ref()?.readiness_fd()
    }
}

/// What one [`ReconnectingReader::poll`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollOutcome {
    /// Bytes read.
    pub bytes: usize,
    /// Whether the link is up after the poll.
    pub connected: bool,
}

/// A reconnecting link with a protocol-v1 decoder on top.
#[derive(Debug)]
pub struct ReconnectingReader<O: LinkOpener, const N: usize = MAX_PACKET_LEN> {
    link: ReconnectingLink<O>,
    decoder: Decoder<N>,
    seen_epoch: u64,
    buf: Vec<u8>,
}

impl<O: LinkOpener, const N: usize> ReconnectingReader<O, N> {
    /// `chunk` bytes are read at most per poll (allocated once, here).
    pub fn new(opener: O, backoff: Backoff, chunk: usize) -> Self {
        ReconnectingReader {
            link: ReconnectingLink::new(opener, backoff),
            decoder: Decoder::new(),
            seen_epoch: 0,
            buf: vec![0; chunk.max(1)],
        }
    }

    /// Waits up to `timeout` for bytes, and hands every packet they complete to `on_message`, in order.
    pub fn poll(
        &mut self,
        timeout: Duration,
        mut on_message: impl FnMut(Result<&Message, DecodeError>),
    ) -> PollOutcome {
        // `read` never fails: a loss shows as a new epoch, and so does a reconnect.
        let bytes = self.link.read(&mut self.buf, timeout).unwrap_or(0);
        if self.link.epoch() != self.seen_epoch {
            // Bytes read in this call all come from the current connection (a loss returns none), so forgetting
            // the partial packet before decoding them is right.
            self.decoder.reset_link();
            self.seen_epoch = self.link.epoch();
        }
        let mut input = &self.buf[..bytes];
        while let Some(outcome) = self.decoder.decode_next(&mut input) {
            on_message(outcome);
        }
        PollOutcome { bytes, connected: self.link.is_connected() }
    }

    /// As [`Self::poll`], but the wait for input also ends as soon as `waker` is woken (the waker is then cleared),
    /// so that another thread's news (an event to send back) is acted on at once, not after the timeout. A link
    /// that cannot be waited on beside the waker ([`ByteLink::readiness_fd`] is `None`: down, or holding bytes of its
    /// own) is polled as by [`Self::poll`].
    #[cfg(unix)]
    pub fn poll_or_wake(
        &mut self,
        timeout: Duration,
        waker: &crate::wake::Waker,
        on_message: impl FnMut(Result<&Message, DecodeError>),
    ) -> PollOutcome {
        use nix::poll::{PollFd, PollFlags};
        let waited = match self.link.readiness_fd() {
            Some(fd) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLIN), PollFd::new(waker.fd(), PollFlags::POLLIN)];
                // An error (EINTR) is a wake-up like any other: the read below takes what is there.
                let _ = nix::poll::poll(&mut fds, crate::fdio::poll_timeout(timeout));
                true
            }
            None => false,
        };
        if waited {
            waker.clear();
            // The wait is done; this read takes what arrived, and does the link's bookkeeping (losses, checks).
            self.poll(Duration::ZERO, on_message)
        } else {
            self.poll(timeout, on_message)
        }
    }

    /// Sends bytes back over the same link, waiting until they are written. Fails while the link is down.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.link.write_all(bytes)
    }

    /// Sends what the link takes now of `bytes`, without waiting (events, status: see [`ByteLink::write_now`]).
    /// Fails while the link is down.
    pub fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        self.link.write_now(bytes)
    }

    pub fn link(&self) -> &ReconnectingLink<O> {
        &self.link
    }

    pub fn link_stats(&self) -> &LinkStats {
        self.decoder.stats()
    }

    pub fn decoder(&self) -> &Decoder<N> {
        &self.decoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::{loopback_pair, LoopbackLink};
    use skelact_runtime::wire::{encode_packet, Heartbeat};
    use std::sync::mpsc;

    /// Hands out the device ends of loopback pairs the test makes; none queued means "the port is absent".
    struct QueueOpener(mpsc::Receiver<LoopbackLink>);

    impl LinkOpener for QueueOpener {
        type Link = LoopbackLink;
        fn open(&mut self) -> Result<LoopbackLink, LinkError> {
            self.0.try_recv().map_err(|_| LinkError::Open {
                path: "queue".into(),
                reason: "absent".into(),
                cause: crate::OpenCause::Absent,
            })
        }
        fn describe(&self) -> String {
            "queue".into()
        }
    }

    fn heartbeat(timestamp_us: u64) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let n = encode_packet(&Message::Heartbeat(Heartbeat { timestamp_us }), &mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn poll_until(reader: &mut ReconnectingReader<QueueOpener>, want: usize) -> Vec<u64> {
        let mut got = Vec::new();
        // Safety limit only: each poll waits at most 20 ms, so a broken reader fails in seconds instead of hanging.
        for _ in 0..500 {
            reader.poll(Duration::from_millis(20), |m| {
                if let Ok(Message::Heartbeat(h)) = m {
                    got.push(h.timestamp_us)
                }
            });
            if got.len() >= want {
                break;
            }
        }
        got
    }

    #[test]
    fn half_a_packet_before_an_unplug_is_dropped_and_reading_resumes() {
        let (tx, rx) = mpsc::channel();
        let backoff = Backoff { initial: Duration::from_millis(1), max: Duration::from_millis(4) };
        let mut reader: ReconnectingReader<QueueOpener> = ReconnectingReader::new(QueueOpener(rx), backoff, 256);
        // The port is absent at first: polls fail to open, quietly.
        let outcome = reader.poll(Duration::from_millis(5), |_| panic!("nothing to decode"));
        assert!(!outcome.connected);
        assert!(reader.link().stats().failed_opens >= 1);

        let (mut sensor, device) = loopback_pair();
        tx.send(device).unwrap();
        sensor.write_all(&heartbeat(1)).unwrap();
        let second = heartbeat(2);
        sensor.write_all(&second[..second.len() / 2]).unwrap();
        assert_eq!(poll_until(&mut reader, 1), vec![1]);
        drop(sensor); // unplug with half a packet in flight

        let (mut sensor, device) = loopback_pair();
        tx.send(device).unwrap();
        // The rest of the old packet would complete it if the decoder had kept its half: it must not decode.
        sensor.write_all(&second[second.len() / 2..]).unwrap();
        sensor.write_all(&heartbeat(3)).unwrap();
        assert_eq!(poll_until(&mut reader, 1), vec![3]);
        let stats = reader.link().stats();
        assert_eq!((stats.connects, stats.disconnects), (2, 1));
        assert_eq!(reader.link_stats().packets_ok, 2);
    }

    #[test]
    fn writes_fail_while_down_and_reach_the_sensor_while_up() {
        let (tx, rx) = mpsc::channel();
        let mut reader: ReconnectingReader<QueueOpener> =
            ReconnectingReader::new(QueueOpener(rx), Backoff::default(), 64);
        assert_eq!(reader.write_all(b"x"), Err(LinkError::NotConnected));
        let (mut sensor, device) = loopback_pair();
        tx.send(device).unwrap();
        reader.poll(Duration::ZERO, |_| {});
        reader.write_all(b"event").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(sensor.read(&mut buf, Duration::ZERO).unwrap(), 5);
        assert_eq!(reader.write_now(b"now").unwrap(), 3);
        assert_eq!(sensor.read(&mut buf, Duration::ZERO).unwrap(), 3);
        drop(sensor);
        assert!(matches!(reader.write_now(b"lost"), Err(LinkError::Disconnected { .. })));
        assert!(!reader.link().is_connected(), "a failed write_now closes the link");
        assert_eq!(reader.write_now(b"x"), Err(LinkError::NotConnected));
        assert_eq!(reader.link().stats().disconnects, 1);
    }

    #[test]
    fn a_port_that_stays_unopenable_is_warned_about_again_at_the_rate_limit() {
        let (_tx, rx) = mpsc::channel();
        let mut link = ReconnectingLink::new(QueueOpener(rx), Backoff::default());
        let absent = LinkError::Open { path: "queue".into(), reason: "absent".into(), cause: crate::OpenCause::Absent };
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let warned_at = |link: &mut ReconnectingLink<QueueOpener>, error: &LinkError, s: u64| {
            let warned = link.warn_open_failure(error, at(s));
            link.last_error = Some(error.clone());
            warned
        };
        assert!(warned_at(&mut link, &absent, 0), "the first failure is warned about");
        assert!(!warned_at(&mut link, &absent, 1), "retries within the interval are not");
        assert!(warned_at(&mut link, &absent, 11), "a port still absent after the interval is warned about again");
        let denied = LinkError::Open {
            path: "queue".into(),
            reason: "permission denied".into(),
            cause: crate::OpenCause::PermissionDenied,
        };
        assert!(warned_at(&mut link, &denied, 12), "a new cause is warned about at once");
        assert!(!warned_at(&mut link, &denied, 13));
    }
}
