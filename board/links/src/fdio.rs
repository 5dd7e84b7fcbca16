//! Reading and writing a non-blocking descriptor with `poll`: the waiting rules of [`ByteLink`](crate::ByteLink),
//! shared by the pseudo-terminal master and the Unix-socket link.
//!
//! The descriptors are non-blocking so that [`write_now`] can take only what fits; the functions here wait with
//! `poll` where the trait says to wait.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::LinkError;

/// `timeout` in whole milliseconds for `poll`, at most `u16::MAX` (a minute): callers loop or come back anyway.
pub(crate) fn poll_timeout(timeout: Duration) -> PollTimeout {
    PollTimeout::from(u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX))
}

/// Waits until `fd` is ready for `flags` (or has hung up or failed, which the next read or write reports), at most
/// `timeout` (`None`: without limit). Returns whether it is ready; an interrupted wait says not ready.
pub(crate) fn wait_ready(fd: &impl AsFd, flags: PollFlags, timeout: Option<Duration>) -> Result<bool, LinkError> {
    let timeout = timeout.map_or(PollTimeout::NONE, poll_timeout);
    let mut fds = [PollFd::new(fd.as_fd(), flags)];
    match nix::poll::poll(&mut fds, timeout) {
        Ok(ready) => Ok(ready > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(LinkError::Disconnected { reason: e.to_string() }),
    }
}

/// Reads what is there, waiting at most `timeout` for the first byte. End of file is the other side hanging up.
pub(crate) fn read_within<R: Read + AsFd>(r: &mut R, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
    if !wait_ready(r, PollFlags::POLLIN, Some(timeout))? {
        return Ok(0);
    }
    match r.read(buf) {
        Ok(0) if !buf.is_empty() => Err(LinkError::Disconnected { reason: "end of file".into() }),
        Ok(n) => Ok(n),
        Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => Ok(0),
        Err(e) => Err(LinkError::Disconnected { reason: e.to_string() }),
    }
}

/// Writes what the other end takes now; a full buffer gives `Ok(0)`.
pub(crate) fn write_now<W: Write + AsFd>(w: &mut W, bytes: &[u8]) -> Result<usize, LinkError> {
    if bytes.is_empty() || !wait_ready(w, PollFlags::POLLOUT, Some(Duration::ZERO))? {
        return Ok(0);
    }
    match w.write(bytes) {
        Ok(n) => Ok(n),
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => Ok(0),
        Err(e) => Err(LinkError::Disconnected { reason: e.to_string() }),
    }
}

/// Writes everything, waiting whenever the other end's buffer is full: at most `limit` in all (`None`: without
/// limit, as a blocking write would).
pub(crate) fn write_all_within<W: Write + AsFd>(
    w: &mut W,
    bytes: &[u8],
    limit: Option<Duration>,
) -> Result<(), LinkError> {
    let deadline = limit.map(|limit| Instant::now() + limit);
    let mut written = 0;
    while written < bytes.len() {
        match w.write(&bytes[written..]) {
            Ok(0) => return Err(LinkError::Disconnected { reason: "the other end accepts no bytes".into() }),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                if left.is_some_and(|left| left.is_zero()) {
                    return Err(LinkError::WriteTimeout { written, len: bytes.len() });
                }
                wait_ready(w, PollFlags::POLLOUT, left)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(LinkError::Disconnected { reason: e.to_string() }),
        }
    }
    Ok(())
}
