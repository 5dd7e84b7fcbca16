//! Real serial ports (USB CDC-ACM, UART, and pseudo-terminals, which are real ttys) through `serialport`.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ByteLink, LinkError, LinkOpener};

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
pub struct SerialLink {
    port: Box<dyn serialport::SerialPort>,
    path: PathBuf,
    timeout: Duration,
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
        let port = serialport::new(&path, config.baud)
            .timeout(WRITE_TIMEOUT)
            .open()
            .map_err(|e| LinkError::Open { path: path.clone(), reason: e.to_string() })?;
        Ok(SerialLink { port, path: config.path.clone(), timeout: WRITE_TIMEOUT })
    }

    pub fn path(&self) -> &Path {
        &self.path
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
        self.set_timeout(WRITE_TIMEOUT)?;
        let mut written = 0;
        while written < bytes.len() {
            match self.port.write(&bytes[written..]) {
                Ok(0) => return Err(LinkError::Disconnected { reason: "port accepts no bytes".into() }),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    return Err(LinkError::WriteTimeout { written, len: bytes.len() })
                }
                Err(e) => return Err(LinkError::Disconnected { reason: e.to_string() }),
            }
        }
        Ok(())
    }
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
}
