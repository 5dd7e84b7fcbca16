//! UDP ingest: the device binds a local address and reads datagrams, for a sender on the same board (an SDK
//! bridge) or on the local network, without a serial loop-back.
//!
//! - **Datagrams carry whole packets**: the same bytes as on a serial link (COBS, CRC, 0x00 after each packet), one
//!   or more whole packets per datagram. The end of a datagram ends any packet in it: a datagram that does not end
//!   in 0x00 has one added, so a torn or truncated packet costs only itself (one decode error) and never merges
//!   with the first packet of the next datagram. Datagrams of any size up to 64 KiB are read whole.
//! - **The back channel** (events, status) goes to the address the most recent datagram came from. Before any
//!   datagram arrived there is nobody to send to, and writes fail with [`LinkError::NotConnected`], as on a
//!   serial link that is down (the daemon counts what it could not send as unsent).
//! - **Several senders** at once are not kept apart: their packets reach the one decoder in the order their
//!   datagrams arrive, so their frames interleave (and count as sequence gaps), and the back channel follows
//!   whoever sent last. Run one sender per bound address.
//! - **UDP may drop datagrams** when the receiver falls behind (the kernel's receive buffer is full) or on a
//!   network: a lost datagram costs its frames, which the decoder counts as a sequence gap. Nothing is resent.
//!
//! A UDP link has no connection to lose: reads fail only when the socket itself does, and the
//! [`crate::reconnect::ReconnectingLink`] then binds again.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use nix::poll::PollFlags;

use crate::fdio::wait_ready;
use crate::serial::WRITE_TIMEOUT;
use crate::{ByteLink, LinkError, LinkOpener, OpenCause};

/// The largest UDP payload over IPv4 (65535 less the IP and UDP headers); a longer write is cut to this.
pub const MAX_DATAGRAM: usize = 65_507;

/// Most empty datagrams one read skips before it returns with nothing.
const EMPTY_DATAGRAMS_PER_READ: usize = 64;

/// A bound UDP socket, with the datagram being handed out and the address to answer.
pub struct UdpLink {
    socket: UdpSocket,
    /// The most recent sender: where the back channel goes.
    peer: Option<SocketAddr>,
    /// One datagram and the delimiter that may be added after it (allocated once, at open: the memory bound).
    datagram: Box<[u8]>,
    /// `datagram[start..end]` is not yet read.
    start: usize,
    end: usize,
}

impl std::fmt::Debug for UdpLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpLink").field("local", &self.socket.local_addr().ok()).field("peer", &self.peer).finish()
    }
}

impl UdpLink {
    /// Binds `address` (port 0 picks a free port; [`UdpLink::local_addr`] says which).
    pub fn bind(address: SocketAddr) -> Result<Self, LinkError> {
        let refused = |e: std::io::Error| LinkError::Open {
            path: format!("udp://{address}"),
            cause: match e.kind() {
                ErrorKind::AddrInUse => OpenCause::Busy,
                ErrorKind::PermissionDenied => OpenCause::PermissionDenied,
                ErrorKind::AddrNotAvailable => OpenCause::Absent,
                _ => OpenCause::Other,
            },
            reason: e.to_string(),
        };
        let socket = UdpSocket::bind(address).map_err(refused)?;
        // Non-blocking so that `write_now` never waits; reads and `write_all` wait with `poll`.
        socket.set_nonblocking(true).map_err(refused)?;
        Ok(UdpLink { socket, peer: None, datagram: vec![0; MAX_DATAGRAM + 1].into_boxed_slice(), start: 0, end: 0 })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }

    /// Where the back channel goes: the sender of the most recent datagram, if any came.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Sends to `peer` from now on, until a datagram comes from elsewhere: the sender's end of the link, which
    /// knows the device's address before anything came back.
    pub fn set_peer(&mut self, peer: SocketAddr) {
        self.peer = Some(peer);
    }

    /// Receives one datagram into the buffer, if one is waiting. Returns whether one was.
    fn receive(&mut self) -> Result<bool, LinkError> {
        match self.socket.recv_from(&mut self.datagram[..MAX_DATAGRAM]) {
            Ok((n, from)) => {
                self.peer = Some(from);
                self.start = 0;
                self.end = n;
                if n > 0 && self.datagram[n - 1] != 0 {
                    // The datagram's end ends its last packet (see the module notes).
                    self.datagram[n] = 0;
                    self.end = n + 1;
                }
                Ok(true)
            }
            // An ICMP error from an earlier send (a sender that went away) shows up here on some systems: it says
            // nothing about this socket.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock
                        | ErrorKind::Interrupted
                        | ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionReset
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(LinkError::Disconnected { reason: e.to_string() }),
        }
    }

    /// Sends `bytes` (at most [`MAX_DATAGRAM`] of them) as one datagram to the peer if the socket takes it now.
    fn send_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        let peer = self.peer.ok_or(LinkError::NotConnected)?;
        let bytes = &bytes[..bytes.len().min(MAX_DATAGRAM)];
        match self.socket.send_to(bytes, peer) {
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => Ok(0),
            // The sender is gone (an ICMP port unreachable): what was for it is dropped, as a datagram lost on the
            // way would be; the next sender's address replaces it.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset) => Ok(bytes.len()),
            Err(e) => Err(LinkError::Disconnected { reason: e.to_string() }),
        }
    }
}

impl ByteLink for UdpLink {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        let mut waited = false;
        // Empty datagrams carry nothing and are skipped, a bounded number per read so that a flood of them
        // cannot hold the reader here.
        for _ in 0..EMPTY_DATAGRAMS_PER_READ {
            if self.start < self.end {
                break;
            }
            if !self.receive()? {
                if waited || !wait_ready(&self.socket, PollFlags::POLLIN, Some(timeout))? {
                    return Ok(0);
                }
                waited = true;
            }
        }
        let n = buf.len().min(self.end - self.start);
        buf[..n].copy_from_slice(&self.datagram[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }

    /// Sends `bytes` as datagrams to the most recent sender, waiting up to [`WRITE_TIMEOUT`] for room.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let mut written = 0;
        while written < bytes.len() {
            match self.send_now(&bytes[written..])? {
                0 => {
                    if !wait_ready(&self.socket, PollFlags::POLLOUT, Some(WRITE_TIMEOUT))? {
                        return Err(LinkError::WriteTimeout { written, len: bytes.len() });
                    }
                }
                n => written += n,
            }
        }
        Ok(())
    }

    /// Sends `bytes` as one datagram to the most recent sender, or nothing when the socket has no room now; fails
    /// with [`LinkError::NotConnected`] while no datagram has arrived.
    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        if bytes.is_empty() {
            return Ok(0);
        }
        self.send_now(bytes)
    }

    /// The socket, unless part of a datagram is still to be read (the socket would not say so).
    fn readiness_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        (self.start >= self.end).then(|| self.socket.as_fd())
    }
}

/// Binds the same address again (after the socket failed, which a working network interface does not do).
#[derive(Clone, Debug)]
pub struct UdpOpener(pub SocketAddr);

impl LinkOpener for UdpOpener {
    type Link = UdpLink;

    fn open(&mut self) -> Result<UdpLink, LinkError> {
        UdpLink::bind(self.0)
    }

    fn describe(&self) -> String {
        format!("udp://{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    fn read_all(link: &mut UdpLink) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 3];
        // Small reads: a datagram is handed out over several of them.
        loop {
            match link.read(&mut buf, Duration::from_millis(200)).unwrap() {
                0 => return got,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn a_datagram_ends_its_packets_and_answers_go_to_the_latest_sender() {
        let mut link = UdpLink::bind(local()).unwrap();
        let device = link.local_addr().unwrap();
        assert_eq!(link.write_now(b"status"), Err(LinkError::NotConnected), "nobody to answer yet");
        let first = UdpSocket::bind(local()).unwrap();
        first.send_to(b"\x02a\x00\x02b", device).unwrap();
        first.send_to(b"", device).unwrap();
        let second = UdpSocket::bind(local()).unwrap();
        second.send_to(b"\x02c\x00", device).unwrap();
        // The first datagram's torn packet gets its delimiter; the empty datagram adds nothing.
        assert_eq!(read_all(&mut link), b"\x02a\x00\x02b\x00\x02c\x00");
        assert_eq!(link.peer(), second.local_addr().ok());
        assert_eq!(link.write_now(b"event").unwrap(), 5);
        let mut buf = [0u8; 16];
        second.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (n, from) = second.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"event"[..], device));
    }

    #[test]
    fn a_bound_address_is_busy_for_a_second_link() {
        let link = UdpLink::bind(local()).unwrap();
        match UdpLink::bind(link.local_addr().unwrap()) {
            Err(LinkError::Open { cause, .. }) => assert_eq!(cause, OpenCause::Busy),
            other => panic!("bound twice: {other:?}"),
        }
    }
}
