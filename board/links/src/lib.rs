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
//!
//! The output boundary: [`gpio`], one line per action (`embedded-hal` pins; the Linux GPIO character device).

use std::time::Duration;

pub mod faults;
pub mod gpio;
pub mod loopback;
#[cfg(unix)]
pub mod pty;
pub mod reconnect;
pub mod serial;

/// Why a link operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The port could not be opened (absent, busy, or not a tty).
    #[error("cannot open {path}: {reason}")]
    Open { path: String, reason: String },
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

/// Bytes in, bytes out, with a bounded wait for input.
pub trait ByteLink {
    /// Reads what has arrived, waiting at most `timeout` for the first byte. `Ok(0)` means nothing arrived in time.
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError>;
    /// Writes all of `bytes`.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError>;
}

impl<L: ByteLink + ?Sized> ByteLink for Box<L> {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        (**self).read(buf, timeout)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        (**self).write_all(bytes)
    }
}

/// Opens a link, again and again if need be.
pub trait LinkOpener {
    type Link: ByteLink + std::fmt::Debug;
    /// Opens the link, or says why not.
    fn open(&mut self) -> Result<Self::Link, LinkError>;
    /// What this opens, for logs (e.g. the port path).
    fn describe(&self) -> String;
}
