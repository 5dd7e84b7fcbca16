//! Which link a `port` setting names, and one opener for all of them, so that the daemon's reader, decoder,
//! counters and reconnection are the same whatever the bytes come over.
//!
//! - `/dev/ttyACM0` (anything without a scheme): a serial port ([`crate::serial`]).
//! - `udp://HOST:PORT`: datagrams to a local address ([`crate::udp`]); `udp://0.0.0.0:5005` takes them from the
//!   network, `udp://127.0.0.1:5005` only from this board. A host name is resolved once, when the setting is read.
//! - `unix:///run/skelact/ingest.sock`: a Unix-domain stream socket the device listens on ([`crate::unix`]); the
//!   path must be absolute.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::serial::{SerialConfig, SerialLink, SerialOpener};
use crate::udp::{UdpLink, UdpOpener};
#[cfg(unix)]
use crate::unix::{UnixLink, UnixOpener};
use crate::{ByteLink, LinkError, LinkOpener};

/// Why a `port` setting names no link.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// `udp://` with something that is not HOST:PORT, or a host that does not resolve.
    #[error("{address:?} is not udp://HOST:PORT: {reason}")]
    Udp { address: String, reason: String },
    /// `unix://` with a relative path (the daemon's working folder is nobody's business).
    #[error("{address:?} is not unix:///ABSOLUTE/PATH")]
    UnixPath { address: String },
    /// `unix://` on a system without Unix-domain sockets.
    #[error("{address:?}: Unix-domain sockets are not available on this system")]
    UnixUnsupported { address: String },
}

/// A link, as named by a `port` setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkAddress {
    Serial(PathBuf),
    Udp(SocketAddr),
    Unix(PathBuf),
}

impl LinkAddress {
    /// Reads a `port` setting: `udp://HOST:PORT`, `unix:///PATH`, or else a serial port's path.
    pub fn parse(port: &Path) -> Result<Self, AddressError> {
        let Some(text) = port.to_str() else { return Ok(LinkAddress::Serial(port.to_path_buf())) };
        if let Some(rest) = text.strip_prefix("udp://") {
            let udp = |reason: String| AddressError::Udp { address: text.to_string(), reason };
            let mut found = rest.to_socket_addrs().map_err(|e| udp(e.to_string()))?;
            return found.next().map(LinkAddress::Udp).ok_or_else(|| udp("the host has no address".into()));
        }
        if let Some(rest) = text.strip_prefix("unix://") {
            if !cfg!(unix) {
                return Err(AddressError::UnixUnsupported { address: text.to_string() });
            }
            let path = PathBuf::from(rest);
            if !path.is_absolute() {
                return Err(AddressError::UnixPath { address: text.to_string() });
            }
            return Ok(LinkAddress::Unix(path));
        }
        Ok(LinkAddress::Serial(port.to_path_buf()))
    }

    /// An opener for this link; `baud` matters to a serial port only.
    pub fn opener(&self, baud: u32) -> AnyOpener {
        match self {
            LinkAddress::Serial(path) => AnyOpener::Serial(SerialOpener(SerialConfig::new(path, baud))),
            LinkAddress::Udp(address) => AnyOpener::Udp(UdpOpener(*address)),
            #[cfg(unix)]
            LinkAddress::Unix(path) => AnyOpener::Unix(UnixOpener::new(path)),
            // `parse` makes no Unix address where there are no Unix sockets; one built by hand opens nothing.
            #[cfg(not(unix))]
            LinkAddress::Unix(path) => AnyOpener::Serial(SerialOpener(SerialConfig::new(path, baud))),
        }
    }
}

impl std::fmt::Display for LinkAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkAddress::Serial(path) => write!(f, "{}", path.display()),
            LinkAddress::Udp(address) => write!(f, "udp://{address}"),
            LinkAddress::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// Opens whichever link a [`LinkAddress`] names.
#[derive(Debug)]
pub enum AnyOpener {
    Serial(SerialOpener),
    Udp(UdpOpener),
    #[cfg(unix)]
    Unix(UnixOpener),
}

/// The link an [`AnyOpener`] opened.
#[derive(Debug)]
pub enum AnyLink {
    Serial(SerialLink),
    Udp(UdpLink),
    #[cfg(unix)]
    Unix(UnixLink),
}

impl AnyLink {
    fn inner(&mut self) -> &mut dyn ByteLink {
        match self {
            AnyLink::Serial(link) => link,
            AnyLink::Udp(link) => link,
            #[cfg(unix)]
            AnyLink::Unix(link) => link,
        }
    }
}

impl ByteLink for AnyLink {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        self.inner().read(buf, timeout)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.inner().write_all(bytes)
    }

    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, LinkError> {
        self.inner().write_now(bytes)
    }

    #[cfg(unix)]
    fn readiness_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        match self {
            AnyLink::Serial(link) => link.readiness_fd(),
            AnyLink::Udp(link) => link.readiness_fd(),
            AnyLink::Unix(link) => link.readiness_fd(),
        }
    }
}

impl LinkOpener for AnyOpener {
    type Link = AnyLink;

    fn open(&mut self) -> Result<AnyLink, LinkError> {
        Ok(match self {
            AnyOpener::Serial(opener) => AnyLink::Serial(opener.open()?),
            AnyOpener::Udp(opener) => AnyLink::Udp(opener.open()?),
            #[cfg(unix)]
            AnyOpener::Unix(opener) => AnyLink::Unix(opener.open()?),
        })
    }

    fn describe(&self) -> String {
        match self {
            AnyOpener::Serial(opener) => opener.describe(),
            AnyOpener::Udp(opener) => opener.describe(),
            #[cfg(unix)]
            AnyOpener::Unix(opener) => opener.describe(),
        }
    }

    fn still_current(&self, link: &AnyLink) -> bool {
        match (self, link) {
            (AnyOpener::Serial(opener), AnyLink::Serial(link)) => opener.still_current(link),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LinkAddress, AddressError> {
        LinkAddress::parse(Path::new(text))
    }

    #[test]
    fn a_port_setting_names_a_serial_port_a_udp_address_or_a_socket() {
        assert_eq!(parse("/dev/ttyACM0"), Ok(LinkAddress::Serial("/dev/ttyACM0".into())));
        assert_eq!(parse("udp://127.0.0.1:5005"), Ok(LinkAddress::Udp("127.0.0.1:5005".parse().unwrap())));
        assert_eq!(parse("udp://[::1]:5005"), Ok(LinkAddress::Udp("[::1]:5005".parse().unwrap())));
        #[cfg(unix)]
        assert_eq!(parse("unix:///run/skelact/ingest.sock"), Ok(LinkAddress::Unix("/run/skelact/ingest.sock".into())));
        for text in ["udp://127.0.0.1", "udp://:5005", "udp://127.0.0.1:99999"] {
            assert!(matches!(parse(text), Err(AddressError::Udp { .. })), "{text} was taken");
        }
        #[cfg(unix)]
        assert_eq!(parse("unix://ingest.sock"), Err(AddressError::UnixPath { address: "unix://ingest.sock".into() }));
        for text in ["/dev/ttyACM0", "udp://127.0.0.1:5005", "unix:///run/skelact/ingest.sock"] {
            assert_eq!(parse(text).unwrap().to_string(), text, "shown as written");
        }
    }
}
