//! Pseudo-terminal pairs: a real tty for tests, replay and the demo, where a sensor would be plugged in.
//!
//! The sensor side writes to the master; the device side opens the slave by path with `serialport`, exactly as it
//! opens `/dev/ttyACM0`. [`point_symlink`] gives a stable path that can be moved to a new pair, which is how tests
//! simulate a device node disappearing and coming back.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

use crate::{ByteLink, LinkError};

/// A pseudo-terminal pair with the slave in raw mode.
#[derive(Debug)]
pub struct PtyPair {
    /// The sensor's end: what is written here is read from the slave, and the other way round.
    pub master: File,
    /// Our own handle on the slave, kept so that the slave is in raw mode from the start and bytes written before
    /// the device opens it are kept, not cooked or echoed.
    slave: Option<OwnedFd>,
    slave_path: PathBuf,
}

impl PtyPair {
    pub fn open() -> io::Result<Self> {
        let pair = nix::pty::openpty(None, None).map_err(io::Error::from)?;
        let mut termios = tcgetattr(&pair.slave).map_err(io::Error::from)?;
        cfmakeraw(&mut termios);
        tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).map_err(io::Error::from)?;
        let slave_path = nix::unistd::ttyname(&pair.slave).map_err(io::Error::from)?;
        Ok(PtyPair { master: File::from(pair.master), slave: Some(pair.slave), slave_path })
    }

    /// The slave's device path, e.g. `/dev/pts/3`.
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// Closes our handle on the slave (the device's own handle is unaffected).
    pub fn close_slave(&mut self) {
        self.slave = None;
    }

    /// Another handle on the master, so that one thread can write the sensor's bytes while another reads what
    /// the device sends back.
    pub fn master_end(&self) -> io::Result<MasterEnd> {
        Ok(MasterEnd { file: self.master.try_clone()? })
    }
}

/// A handle on a pty master, with the same link behaviour as [`PtyPair`].
#[derive(Debug)]
pub struct MasterEnd {
    file: File,
}

impl ByteLink for MasterEnd {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        read_master(&mut self.file, buf, timeout)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.file.write_all(bytes).map_err(|e| LinkError::Disconnected { reason: e.to_string() })
    }
}

/// Reads from a master, waiting at most `timeout` for the first byte.
fn read_master(master: &mut File, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
    let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
    let ready = match nix::poll::poll(&mut fds, PollTimeout::from(millis)) {
        Ok(ready) => ready,
        Err(nix::errno::Errno::EINTR) => return Ok(0),
        Err(e) => return Err(LinkError::Disconnected { reason: e.to_string() }),
    };
    if ready == 0 {
        return Ok(0);
    }
    match master.read(buf) {
        Ok(0) if !buf.is_empty() => Err(LinkError::Disconnected { reason: "end of file".into() }),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(LinkError::Disconnected { reason: e.to_string() }),
    }
}

/// The master is the sensor's end of the link: it reads what the device sends back and writes what the sensor
/// would. Once every slave handle is closed, reads fail with [`LinkError::Disconnected`] (Linux reports EIO).
impl ByteLink for PtyPair {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        read_master(&mut self.master, buf, timeout)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.master.write_all(bytes).map_err(|e| LinkError::Disconnected { reason: e.to_string() })
    }
}

/// Points `link` at `target`, replacing any previous link atomically (create beside it, then rename).
pub fn point_symlink(link: &Path, target: &Path) -> io::Result<()> {
    let mut temporary = link.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    match std::fs::remove_file(&temporary) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::os::unix::fs::symlink(target, &temporary)?;
    std::fs::rename(&temporary, link)
}
