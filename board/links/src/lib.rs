//! skelact-links: the device's hardware boundary, where bytes and signals cross into and out of the process.
//! Every boundary is a small trait with a real implementation, a loopback and a fault injector, so the logic above
//! it is tested on the host.
//!
//! The serial boundary ([`ByteLink`], [`LinkOpener`]) and its implementations:
//! - [`serial::SerialLink`]: a real port through `serialport` (USB CDC-ACM or UART; pseudo-terminals too).
//! - [`loopback::loopback_pair`]: two connected in-memory ends, for host tests.
//! - [`faults::FaultyLink`]: wraps any link and corrupts what it reads (bit flips, dropped bytes, garbage), seeded.
//! - [`reconnect::ReconnectingLink`] and [`reconnect::ReconnectingReader`]: keep reopening a port that went away
//!   and resume decoding, without restarting the process.
//! - [`pty`]: pseudo-terminal pairs, real ttys for end-to-end tests of the serial path.
//! - [`udp::UdpLink`] and [`unix::UnixLink`]: the same bytes over a bound UDP address or a Unix-domain stream
//!   socket the device listens on, for a sender on the same board (an SDK bridge) that has no serial port to write.
//! - [`address::LinkAddress`]: which of these a `port` setting names (`/dev/ttyACM0`, `udp://HOST:PORT`,
//!   `unix:///PATH`), and [`address::AnyOpener`] to open it.
//!
//! Writes come in two kinds: [`ByteLink::write_all`] waits until everything is written (a sensor's frames), and
//! [`ByteLink::write_now`] never waits (the device's events and status: a host that does not read them must not
//! stop frames coming in).
//!
//! The output boundary: [`gpio`], one line per action (`embedded-hal` pins; the Linux GPIO character device).

use std::time::Duration;

pub mod address;
pub mod faults;
#[cfg(unix)]
mod fdio;
pub mod gpio;
pub mod loopback;
#[cfg(unix)]
pub mod pty;
pub mod ratelimit;
pub mod reconnect;
pub mod serial;
pub mod udp;
#[cfg(unix)]
pub mod unix;
#[cfg(unix)]
pub mod wake;

/// Why a link operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The port could not be opened (absent, busy, or not a tty); `cause` says which, for a hint.
    #[error("cannot open {path}: {reason}")]
    Open { path: String, reason: String, cause: OpenCause },
    /// The other end went away: the device was unplugged, the pty master closed, or the peer dropped its end.
    /// The link is unusable; open it again.
    #[error("link lost: {reason}")]
    Disconnected { reason: String },
    /// A write did not complete in time (the receiver stopped reading or flow control holds it).
    #[error("write timed out after {written} of {len} bytes")]
    WriteTimeout { written: usize, len: usize },
    /// There is no open link right now (a reconnecting link between attempts).
    #[error("not connected")]
    NotConnected,
}

/// Why a port could not be opened, as far as the device can tell. Each has a hint for the person reading the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenCause {
    /// Nothing at the path (or a symlink to nothing).
    Absent,
    /// The path exists but this process may not open it.
    PermissionDenied,
    /// The path is not a terminal device (a regular file, a directory, a pipe).
    NotATty,
    /// Another process holds the port (or the UDP address, or listens on the socket path).
    Busy,
    /// The socket path exists and is not a socket (a regular file, a directory); it is left alone.
    NotASocket,
    /// The socket is there but no sender has connected to it.
    NoSender,
    /// Anything else (the reason says what).
    Other,
}

impl OpenCause {
    /// What to check, in a few words.
    pub const fn hint(self) -> &'static str {
        match self {
            OpenCause::Absent => "is the sensor plugged in, and does the udev rule create this path?",
            OpenCause::PermissionDenied => {
                "add the service user to the group that owns the port (dialout on most distributions); for a socket, \
                 the user needs write access to its folder, and a UDP port below 1024 needs privileges"
            }
            OpenCause::NotATty => "this is not a serial port (a regular file is not one): point `port` at a tty device",
            OpenCause::Busy => "another process holds the port (a second daemon, ModemManager, a terminal program)",
            OpenCause::NotASocket => "this path is not a socket and is left alone: point `port` at another path",
            OpenCause::NoSender => "waiting for a sender to connect to the socket",
            OpenCause::Other => "see the reason",
        }
    }
}

/// Bytes in, bytes out, with a bounded wait for input.
pub trait ByteLink {
    /// Reads what has arrived, waiting at most `timeout` for the first byte. `Ok(0)` means nothing arrived in time.
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError>;
    /// Writes all of `bytes`, waiting for the other end to take them.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError>;
    /// Writes as much of `bytes` as the link takes right now, without waiting, and says how much that was: `Ok(0)`
    /// when the other end is not reading and its buffers are full. Errors mean the link is unusable.
    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError>;

    /// A descriptor that polls readable exactly when [`ByteLink::read`] has bytes to give, so that a caller can
    /// wait on it beside other things (a [`wake::Waker`]). `None` (the default) when the link cannot say: it holds
    /// bytes of its own, or is not a descriptor; such a link is waited on through `read`'s timeout.
    #[cfg(unix)]
    fn readiness_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }
}

impl<L: ByteLink + ?Sized> ByteLink for Box<L> {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        (**self).read(buf, timeout)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        (**self).write_all(bytes)
    }

    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        (**self).write_now(bytes)
    }

    #[cfg(unix)]
    fn readiness_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        (**self).readiness_fd()
    }
}

/// Opens a link, again and again if need be.
pub trait LinkOpener {
    type Link: ByteLink + std::fmt::Debug;
    /// Opens the link, or says why not.
    fn open(&mut self) -> Result<Self::Link, LinkError>;
    /// What this opens, for logs (e.g. the port path).
    fn describe(&self) -> String;
    /// Whether `link` is still what [`LinkOpener::open`] would open now. A port path that is a udev symlink can be
    /// re-pointed to another device while the old one stays open; an opener that can tell says `false` then, and
    /// the link is reopened. The default cannot tell and says `true`.
    fn still_current(&self, _link: &Self::Link) -> bool {
        true
    }
}
