//! Pseudo-terminal pairs: a real tty for tests, replay and the demo, where a sensor would be plugged in.
//!
//! The sensor side writes to the master; the device side opens the slave by path with `serialport`, exactly as it
//! opens `/dev/ttyACM0`. [`point_symlink`] gives a stable path that can be moved to a new pair, which is how tests
//! simulate a device node disappearing and coming back.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

use crate::{fdio, ByteLink, LinkError};

/// A pseudo-terminal pair with the slave in raw mode.
///
/// The master is non-blocking, so that [`ByteLink::write_now`] can take only what fits; the [`ByteLink`] methods
/// wait with `poll` where they should wait. Writing to [`PtyPair::master`] directly can therefore fail with
/// `WouldBlock`.
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
        let flags = OFlag::from_bits_truncate(fcntl(&pair.master, FcntlArg::F_GETFL).map_err(io::Error::from)?);
        fcntl(&pair.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
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
        fdio::read_within(&mut self.file, buf, timeout)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        fdio::write_all_within(&mut self.file, bytes, None)
    }

    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        fdio::write_now(&mut self.file, bytes)
    }
}

/// The master is the sensor's end of the link: it reads what the device sends back and writes what the sensor
/// would. Once every slave handle is closed, reads fail with [`LinkError::Disconnected`] (Linux reports EIO).
impl ByteLink for PtyPair {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        fdio::read_within(&mut self.master, buf, timeout)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        // Without limit, as a blocking write to the master would wait.
        fdio::write_all_within(&mut self.master, bytes, None)
    }

    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        fdio::write_now(&mut self.master, bytes)
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
