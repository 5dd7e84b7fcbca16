//! Unix-domain-socket ingest: the device listens on a stream socket in the file system, and a sender on the same
//! board (an SDK bridge) connects to it and writes the same bytes it would write to a serial port.
//!
//! - **The socket file** is created when the link is first opened, with mode 0660, so that the service's group
//!   can connect (put the bridge's user in that group). A socket file left behind by a daemon that died is removed
//!   first; one that a live daemon still listens on is refused as busy, and a path that is not a socket (a regular
//!   file, a directory) is refused and left alone. The file is removed when the opener is dropped, and created
//!   again if it disappears meanwhile (a cleanup of `/run`, say).
//! - **One sender at a time**: the first to connect is read. Others that connect meanwhile wait in the listen
//!   queue; what they write is kept by the kernel (up to its socket buffer) and read, from their first byte, once
//!   the sender before them disconnects.
//! - **A disconnect is an unplug**: the link reports [`LinkError::Disconnected`], and the
//!   [`crate::reconnect::ReconnectingLink`] accepts the next sender, with the decoder's partial packet forgotten.
//!   While nobody is connected, opening fails with [`OpenCause::NoSender`] and is retried on the usual backoff,
//!   so a sender that connects is read within a second.
//! - **The back channel** (events, status) goes to the connected sender over the same socket.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::serial::WRITE_TIMEOUT;
use crate::{fdio, ByteLink, LinkError, LinkOpener, OpenCause};

/// The socket file's mode: the owner and the service's group may connect, nobody else.
pub const SOCKET_MODE: u32 = 0o660;

/// The connected sender.
#[derive(Debug)]
pub struct UnixLink {
    stream: UnixStream,
}

impl UnixLink {
    /// Wraps a connected stream (either end), made non-blocking so that `write_now` never waits.
    pub fn new(stream: UnixStream) -> Result<Self, LinkError> {
        stream.set_nonblocking(true).map_err(|e| LinkError::Disconnected { reason: e.to_string() })?;
        Ok(UnixLink { stream })
    }

    /// Connects to a listening socket: the sender's end, for tests and bridges written in Rust.
    pub fn connect(path: &Path) -> Result<Self, LinkError> {
        let stream = UnixStream::connect(path).map_err(|e| LinkError::Open {
            path: path.display().to_string(),
            cause: cause_of(&e),
            reason: e.to_string(),
        })?;
        UnixLink::new(stream)
    }
}

impl ByteLink for UnixLink {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        fdio::read_within(&mut self.stream, buf, timeout)
    }

    /// Writes everything, waiting at most [`WRITE_TIMEOUT`] for a peer that does not read.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        fdio::write_all_within(&mut self.stream, bytes, Some(WRITE_TIMEOUT))
    }

    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        fdio::write_now(&mut self.stream, bytes)
    }

    fn readiness_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        Some(self.stream.as_fd())
    }
}

/// A listening socket and the file it made, removed when dropped.
#[derive(Debug)]
struct Listener {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file's device and inode, to tell it from a file that replaced it.
    file_id: (u64, u64),
}

impl Listener {
    fn bind(path: &Path) -> Result<Self, LinkError> {
        let refused =
            |reason: String, cause: OpenCause| LinkError::Open { path: path.display().to_string(), reason, cause };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(refused("the path exists and is not a socket".into(), OpenCause::NotASocket))
            }
            Ok(_) => match UnixStream::connect(path) {
                Ok(_) => return Err(refused("another process listens on this socket".into(), OpenCause::Busy)),
                // Nobody listens: a daemon that died left it behind.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "removing a stale socket file");
                    std::fs::remove_file(path).map_err(|e| refused(e.to_string(), cause_of(&e)))?;
                }
                Err(e) => return Err(refused(e.to_string(), cause_of(&e))),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(refused(e.to_string(), cause_of(&e))),
        }
        let listener = UnixListener::bind(path).map_err(|e| refused(e.to_string(), cause_of(&e)))?;
        // Accepting must not wait: the reconnecting link asks again on its backoff.
        listener.set_nonblocking(true).map_err(|e| refused(e.to_string(), OpenCause::Other))?;
        let meta = std::fs::metadata(path).map_err(|e| refused(e.to_string(), cause_of(&e)))?;
        let listener = Listener { listener, path: path.to_path_buf(), file_id: (meta.dev(), meta.ino()) };
        // Not the umask's mode: the service group's members connect.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
            .map_err(|e| refused(e.to_string(), cause_of(&e)))?;
        Ok(listener)
    }

    /// Whether the path still leads to this listener's socket file.
    fn file_is_there(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok_and(|meta| (meta.dev(), meta.ino()) == self.file_id)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Only our own file: another daemon may have taken the path over meanwhile.
        if self.file_is_there() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Listens on a socket path and accepts one sender at a time (see the module notes).
#[derive(Debug)]
pub struct UnixOpener {
    path: PathBuf,
    listener: Option<Listener>,
}

impl UnixOpener {
    /// Listens on `path` from the first [`LinkOpener::open`] on.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        UnixOpener { path: path.into(), listener: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the socket file now rather than at the first open, so that a sender may connect at once; an error
    /// says why it cannot be created.
    pub fn listen(&mut self) -> Result<(), LinkError> {
        if self.listener.as_ref().is_some_and(Listener::file_is_there) {
            return Ok(());
        }
        // Drop (and so remove) the old listener before binding the path again.
        self.listener = None;
        self.listener = Some(Listener::bind(&self.path)?);
        Ok(())
    }
}

impl LinkOpener for UnixOpener {
    type Link = UnixLink;

    /// Accepts the next waiting sender, or fails with [`OpenCause::NoSender`] at once when none is waiting.
    fn open(&mut self) -> Result<UnixLink, LinkError> {
        self.listen()?;
        let Some(listener) = self.listener.as_ref() else { return Err(LinkError::NotConnected) };
        match listener.listener.accept() {
            Ok((stream, _)) => UnixLink::new(stream),
            Err(e) => Err(LinkError::Open {
                path: self.path.display().to_string(),
                cause: if e.kind() == ErrorKind::WouldBlock { OpenCause::NoSender } else { OpenCause::Other },
                reason: if e.kind() == ErrorKind::WouldBlock { "no sender connected".into() } else { e.to_string() },
            }),
        }
    }

    fn describe(&self) -> String {
        format!("unix://{}", self.path.display())
    }
}

fn cause_of(e: &std::io::Error) -> OpenCause {
    match e.kind() {
        ErrorKind::NotFound => OpenCause::Absent,
        ErrorKind::PermissionDenied => OpenCause::PermissionDenied,
        ErrorKind::AddrInUse => OpenCause::Busy,
        _ => OpenCause::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(result: Result<UnixLink, LinkError>) -> OpenCause {
        match result {
            Err(LinkError::Open { cause, .. }) => cause,
            other => panic!("opened: {other:?}"),
        }
    }

    #[test]
    fn the_socket_is_group_writable_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ingest.sock");
        // A daemon that died leaves its socket file behind.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let mut opener = UnixOpener::new(&path);
        assert_eq!(cause(opener.open()), OpenCause::NoSender, "no sender yet, and the stale file is gone");
        let meta = std::fs::metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, SOCKET_MODE);
        // A second daemon on the same path is refused while the first listens.
        assert_eq!(cause(UnixOpener::new(&path).open()), OpenCause::Busy);
        assert!(path.exists(), "the refused daemon left the first one's socket alone");
        drop(opener);
        assert!(!path.exists(), "the socket file goes with its opener");
    }

    #[test]
    fn a_path_that_is_not_a_socket_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frames.bin");
        std::fs::write(&path, b"keep me").unwrap();
        assert_eq!(cause(UnixOpener::new(&path).open()), OpenCause::NotASocket);
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
        assert_eq!(cause(UnixOpener::new(dir.path().join("no/such/dir.sock")).open()), OpenCause::Absent);
    }

    #[test]
    fn senders_take_turns_and_a_disconnect_ends_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ingest.sock");
        let mut opener = UnixOpener::new(&path);
        opener.listen().unwrap();
        let mut first = UnixLink::connect(&path).unwrap();
        let mut second = UnixLink::connect(&path).unwrap();
        second.write_all(b"second").unwrap();
        let mut device = opener.open().unwrap();
        first.write_all(b"first").unwrap();
        let mut buf = [0u8; 16];
        let n = device.read(&mut buf, Duration::from_secs(5)).unwrap();
        assert_eq!(&buf[..n], b"first", "only the first sender is read");
        assert_eq!(device.write_now(b"event").unwrap(), 5);
        let n = first.read(&mut buf, Duration::from_secs(5)).unwrap();
        assert_eq!(&buf[..n], b"event");
        drop(first);
        assert!(matches!(device.read(&mut buf, Duration::from_secs(5)), Err(LinkError::Disconnected { .. })));
        // The waiting sender is next, from its first byte.
        let mut device = opener.open().unwrap();
        let n = device.read(&mut buf, Duration::from_secs(5)).unwrap();
        assert_eq!(&buf[..n], b"second");
        drop(second);
        assert!(matches!(device.read(&mut buf, Duration::from_secs(5)), Err(LinkError::Disconnected { .. })));
        assert_eq!(cause(opener.open()), OpenCause::NoSender);
    }
}
