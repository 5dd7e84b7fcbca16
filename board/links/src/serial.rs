//! Real serial ports (USB CDC-ACM, UART, and pseudo-terminals, which are real ttys) through `serialport`.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{ByteLink, LinkError, LinkOpener, OpenCause};

/// Default baud rate. USB CDC-ACM ignores it; for a UART, 921600 carries four bodies at 30 Hz with room to spare.
pub const DEFAULT_BAUD: u32 = 921_600;

/// How long a write may wait for the port before it counts as stuck.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where and how to open a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialConfig {
    pub path: PathBuf,
    pub baud: u32,
}

impl SerialConfig {
    pub fn new(path: impl Into<PathBuf>, baud: u32) -> Self {
        SerialConfig { path: path.into(), baud }
    }
}

/// An open serial port: 8 data bits, no parity, one stop bit, no flow control, opened exclusively on Unix.
///
/// On Unix the descriptor is non-blocking: `serialport` waits for readiness with `poll` before each read and
/// write, and a write the port is ready for could still block on a blocking descriptor when it holds more than
/// the port has room for, which [`ByteLink::write_now`] must never do.
pub struct SerialLink {
    port: Box<dyn serialport::SerialPort>,
    path: PathBuf,
    /// What the path led to when it was opened (through any symlinks), to notice a re-pointed udev symlink.
    canonical: Option<PathBuf>,
    timeout: Duration,
    /// The port's descriptor, for waiting on it beside other things ([`ByteLink::readiness_fd`]).
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

impl std::fmt::Debug for SerialLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialLink").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SerialLink {
    /// Opens the port. A symlink (e.g. a udev `/dev/skelact-sensor` rule) is followed.
    pub fn open(config: &SerialConfig) -> Result<Self, LinkError> {
        let path = config.path.to_string_lossy().into_owned();
        let refused = |reason: String, cause: OpenCause| LinkError::Open { path: path.clone(), reason, cause };
        let builder = serialport::new(&path, config.baud).timeout(WRITE_TIMEOUT);
        #[cfg(unix)]
        let (port, fd): (Box<dyn serialport::SerialPort>, std::os::fd::RawFd) = {
            use std::os::fd::AsRawFd;
            let port = builder.open_native().map_err(|e| refused(e.to_string(), open_cause(&config.path, &e)))?;
            set_nonblocking(&port).map_err(|e| refused(e.to_string(), OpenCause::Other))?;
            let fd = port.as_raw_fd();
            (Box::new(port), fd)
        };
        #[cfg(not(unix))]
        let port = builder.open().map_err(|e| refused(e.to_string(), open_cause(&config.path, &e)))?;
        let canonical = std::fs::canonicalize(&config.path).ok();
        Ok(SerialLink {
            port,
            path: config.path.clone(),
            canonical,
            timeout: WRITE_TIMEOUT,
            #[cfg(unix)]
            fd,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device the path led to when it was opened (through any symlinks), if it could be resolved.
    pub fn canonical_path(&self) -> Option<&Path> {
        self.canonical.as_deref()
    }

    fn set_timeout(&mut self, timeout: Duration) -> Result<(), LinkError> {
        if self.timeout != timeout {
            self.port.set_timeout(timeout).map_err(|e| LinkError::Disconnected { reason: e.to_string() })?;
            self.timeout = timeout;
        }
        Ok(())
    }
}

impl ByteLink for SerialLink {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        self.set_timeout(timeout)?;
        match self.port.read(buf) {
            // The port said it was readable and then gave nothing: end of file, the other side hung up.
            Ok(0) if !buf.is_empty() => Err(LinkError::Disconnected { reason: "end of file".into() }),
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted | ErrorKind::WouldBlock) => Ok(0),
            // Unplugging gives EIO or a hang-up (reported as a broken pipe); every other error is as final.
            Err(e) => Err(LinkError::Disconnected { reason: e.to_string() }),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        let mut written = 0;
        while written < bytes.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LinkError::WriteTimeout { written, len: bytes.len() });
            }
            self.set_timeout(left)?;
            match self.port.write(&bytes[written..]) {
                Ok(0) => return Err(LinkError::Disconnected { reason: "port accepts no bytes".into() }),
                Ok(n) => written += n,
                // The non-blocking descriptor had less room than `poll` promised: wait again.
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    return Err(LinkError::WriteTimeout { written, len: bytes.len() })
                }
                Err(e) => return Err(LinkError::Disconnected { reason: e.to_string() }),
            }
        }
        Ok(())
    }

    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        if bytes.is_empty() {
            return Ok(0);
        }
        // With a zero timeout `serialport` polls for room without waiting and reports `TimedOut` when there is none.
        self.set_timeout(Duration::ZERO)?;
        match self.port.write(bytes) {
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted) => Ok(0),
            Err(e) => Err(LinkError::Disconnected { reason: e.to_string() }),
        }
    }

    #[cfg(unix)]
    fn readiness_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        // SAFETY: the descriptor belongs to `self.port`, which lives as long as the borrow of `self`.
        Some(unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) })
    }
}

/// Makes the port's descriptor non-blocking (see [`SerialLink`]).
#[cfg(unix)]
fn set_nonblocking(port: &serialport::TTYPort) -> Result<(), nix::Error> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: the descriptor belongs to `port`, which outlives this borrow; nothing here closes it.
    let fd = unsafe { BorrowedFd::borrow_raw(port.as_raw_fd()) };
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Why `path` could not be opened: what the file system says about the path first (it knows a regular file from a
/// tty), then what the open said.
fn open_cause(path: &Path, error: &serialport::Error) -> OpenCause {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return OpenCause::Absent,
        Err(e) if e.kind() == ErrorKind::PermissionDenied => return OpenCause::PermissionDenied,
        Ok(meta) if !is_device(&meta) => return OpenCause::NotATty,
        _ => {}
    }
    match error.kind() {
        serialport::ErrorKind::Io(ErrorKind::PermissionDenied) => OpenCause::PermissionDenied,
        serialport::ErrorKind::Io(ErrorKind::NotFound) => OpenCause::Absent,
        // `serialport` reports a port that another process holds exclusively (EBUSY) as `NoDevice`.
        serialport::ErrorKind::NoDevice => OpenCause::Busy,
        _ => OpenCause::Other,
    }
}

#[cfg(unix)]
fn is_device(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_char_device()
}

#[cfg(not(unix))]
fn is_device(meta: &std::fs::Metadata) -> bool {
    !meta.is_file() && !meta.is_dir()
}

/// Opens the same serial port again after it went away.
#[derive(Clone, Debug)]
pub struct SerialOpener(pub SerialConfig);

impl LinkOpener for SerialOpener {
    type Link = SerialLink;

    fn open(&mut self) -> Result<SerialLink, LinkError> {
        SerialLink::open(&self.0)
    }

    fn describe(&self) -> String {
        format!("{} at {} baud", self.0.path.display(), self.0.baud)
    }

    /// The path still leads to the device that was opened. A path that leads nowhere now counts as current: the
    /// device itself may still be there, and if it is gone its reads fail anyway.
    fn still_current(&self, link: &SerialLink) -> bool {
        match (std::fs::canonicalize(&self.0.path), link.canonical_path()) {
            (Ok(now), Some(opened)) => now == opened,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause_of(path: &Path) -> OpenCause {
        match SerialLink::open(&SerialConfig::new(path, DEFAULT_BAUD)) {
            Err(LinkError::Open { cause, .. }) => cause,
            other => panic!("{} opened: {other:?}", path.display()),
        }
    }

    #[test]
    fn a_failed_open_says_whether_the_port_is_absent_or_not_a_tty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cause_of(&dir.path().join("ttyACM9")), OpenCause::Absent);
        let file = dir.path().join("not-a-port");
        std::fs::write(&file, b"frames?").unwrap();
        assert_eq!(cause_of(&file), OpenCause::NotATty);
        assert_eq!(cause_of(dir.path()), OpenCause::NotATty, "a directory is no port either");
        #[cfg(unix)]
        {
            let dangling = dir.path().join("skelact-sensor");
            std::os::unix::fs::symlink(dir.path().join("gone"), &dangling).unwrap();
            assert_eq!(cause_of(&dangling), OpenCause::Absent, "a udev symlink to nothing");
        }
    }
}
