//! The monitor's Unix-domain socket: accepts a bounded number of read-only clients and writes each snapshot line
//! to every one of them without ever waiting.
//!
//! Every client has a queue of fixed size, allocated when it is accepted. A line that does not fit a client's
//! queue is skipped for that client (counted); a client that skipped [`SLOW_CLIENT_SKIPS`] lines in a row is
//! dropped (counted), so a monitor whose SSH session stalls costs neither memory nor time. Lines are queued whole,
//! so a client that keeps up always reads whole lines. Past [`MonitorServer`]'s `max_clients`, a connection gets
//! one `{"type":"refused",...}` line and is closed.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// A client that skipped this many lines in a row (5 s of snapshots at the default 5 Hz) is dropped.
pub const SLOW_CLIENT_SKIPS: u32 = 25;

/// The socket's permissions: the daemon's user and group may connect, nobody else (see board/README.md,
/// "Watching a running daemon").
pub const SOCKET_MODE: u32 = 0o660;

/// What the server did, for the snapshot itself and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MonitorCounters {
    /// Clients connected now.
    pub clients: usize,
    /// Clients accepted since the start.
    pub accepted: u64,
    /// Connections refused because `max_clients` were connected.
    pub refused: u64,
    /// Lines not queued for a client because its queue was full.
    pub skipped: u64,
    /// Clients dropped for reading too slowly.
    pub dropped_slow: u64,
    /// Clients that went away.
    pub left: u64,
}

/// Why the socket could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// Something answers on the path: another daemon serves it.
    #[error("monitor socket {0}: another process is serving it")]
    InUse(PathBuf),
    /// The path is a file, folder or device: never removed to make room.
    #[error("monitor socket {0}: the path exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("monitor socket {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// One client and the lines waiting for it.
#[derive(Debug)]
struct Client<W> {
    stream: W,
    /// Bytes of whole lines not yet written; its capacity is fixed at accept.
    pending: Vec<u8>,
    skipped_in_row: u32,
}

/// The connected clients, generic over the stream so that the bounds are tested without sockets.
#[derive(Debug)]
pub struct ClientSet<W> {
    clients: Vec<Client<W>>,
    max_clients: usize,
    queue_bytes: usize,
    counters: MonitorCounters,
}

impl<W: Write> ClientSet<W> {
    /// At most `max_clients` clients, each with `queue_bytes` of queue.
    pub fn new(max_clients: usize, queue_bytes: usize) -> Self {
        ClientSet { clients: Vec::with_capacity(max_clients), max_clients, queue_bytes, counters: Default::default() }
    }

    /// Takes a new client, or hands it back (counted as refused) when `max_clients` are connected.
    pub fn admit(&mut self, stream: W) -> Result<(), W> {
        if self.clients.len() >= self.max_clients {
            self.counters.refused += 1;
            return Err(stream);
        }
        self.clients.push(Client { stream, pending: Vec::with_capacity(self.queue_bytes), skipped_in_row: 0 });
        self.counters.accepted += 1;
        self.counters.clients = self.clients.len();
        Ok(())
    }

    /// Queues one line (with its newline) for every client it fits; skips it for the others and drops those that
    /// skipped too many in a row.
    pub fn offer(&mut self, line: &[u8]) {
        let counters = &mut self.counters;
        let queue_bytes = self.queue_bytes;
        self.clients.retain_mut(|client| {
            if client.pending.len() + line.len() > queue_bytes {
                counters.skipped += 1;
                client.skipped_in_row += 1;
                if client.skipped_in_row >= SLOW_CLIENT_SKIPS {
                    counters.dropped_slow += 1;
                    return false;
                }
            } else {
                client.pending.extend_from_slice(line);
                client.skipped_in_row = 0;
            }
            true
        });
        self.counters.clients = self.clients.len();
    }

    /// Writes what each client takes now (its stream must not block); drops those that went away.
    pub fn flush(&mut self) {
        let counters = &mut self.counters;
        self.clients.retain_mut(|client| {
            while !client.pending.is_empty() {
                match client.stream.write(&client.pending) {
                    Ok(0) => {
                        counters.left += 1;
                        return false;
                    }
                    Ok(n) => {
                        client.pending.drain(..n);
                    }
                    Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                    Err(error) if error.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        counters.left += 1;
                        return false;
                    }
                }
            }
            true
        });
        self.counters.clients = self.clients.len();
    }

    pub fn counters(&self) -> MonitorCounters {
        self.counters
    }
}

/// The listening socket and its clients.
#[derive(Debug)]
pub struct MonitorServer {
    listener: UnixListener,
    path: PathBuf,
    clients: ClientSet<UnixStream>,
}

impl MonitorServer {
    /// Binds `path` with [`SOCKET_MODE`]. A socket file left by a daemon that died is replaced; one that a live
    /// process answers on, and anything that is not a socket, are refused.
    pub fn bind(path: &Path, max_clients: usize, queue_bytes: usize) -> Result<Self, MonitorError> {
        let io = |source| MonitorError::Io { path: path.to_path_buf(), source };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if UnixStream::connect(path).is_ok() {
                    return Err(MonitorError::InUse(path.to_path_buf()));
                }
                std::fs::remove_file(path).map_err(io)?;
            }
            Ok(_) => return Err(MonitorError::NotASocket(path.to_path_buf())),
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(io(error)),
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        // Until this call the socket has the permissions the umask gives it; the systemd unit's UMask=0007 and
        // its RuntimeDirectoryMode keep others out of that moment too.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        tracing::info!(socket = %path.display(), max_clients, "monitor socket ready");
        Ok(MonitorServer { listener, path: path.to_path_buf(), clients: ClientSet::new(max_clients, queue_bytes) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts every waiting connection; past the limit each gets a refusal line and is closed.
    pub fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    if let Err(mut refused) = self.clients.admit(stream) {
                        let line = format!(
                            "{{\"type\":\"refused\",\"reason\":\"{} monitors are attached, the most this daemon serves\"}}\n",
                            self.clients.max_clients
                        );
                        // Best effort: a fresh socket's buffer takes one short line.
                        let _ = refused.write_all(line.as_bytes());
                        tracing::debug!("monitor client refused: too many");
                    } else {
                        tracing::info!(clients = self.clients.counters().clients, "monitor attached");
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => {
                    tracing::debug!(%error, "monitor accept failed");
                    return;
                }
            }
        }
    }

    /// Queues one line for every client (see [`ClientSet::offer`]).
    pub fn offer(&mut self, line: &[u8]) {
        self.clients.offer(line);
    }

    /// Writes what the clients take now.
    pub fn flush(&mut self) {
        self.clients.flush();
    }

    pub fn counters(&self) -> MonitorCounters {
        self.clients.counters()
    }
}

impl Drop for MonitorServer {
    /// A socket file left behind would make the next start probe it; removing it keeps the path clean.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::time::Duration;

    /// A stream that takes nothing, like a client whose SSH session stalled.
    struct Stalled;

    impl Write for Stalled {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(ErrorKind::WouldBlock.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_client_skips_lines_in_fixed_memory_then_is_dropped() {
        let mut set = ClientSet::new(2, 100);
        set.admit(Stalled).unwrap_or_else(|_| panic!("room for one"));
        let line = [b'x'; 40];
        for _ in 0..2 {
            set.offer(&line);
            set.flush();
        }
        assert_eq!(set.clients[0].pending.len(), 80);
        let capacity = set.clients[0].pending.capacity();
        // The third line does not fit: skipped, then dropped after SLOW_CLIENT_SKIPS in a row.
        for _ in 0..SLOW_CLIENT_SKIPS - 1 {
            set.offer(&line);
            set.flush();
        }
        let counters = set.counters();
        assert_eq!((counters.clients, counters.skipped, counters.dropped_slow), (1, 24, 0));
        assert_eq!(set.clients[0].pending.capacity(), capacity, "the queue never grows");
        set.offer(&line);
        assert_eq!(set.counters(), MonitorCounters { accepted: 1, skipped: 25, dropped_slow: 1, ..Default::default() });
    }

    #[test]
    fn too_many_clients_are_handed_back_and_counted() {
        let mut set = ClientSet::new(1, 10);
        assert!(set.admit(Vec::new()).is_ok());
        assert!(set.admit(Vec::new()).is_err());
        assert_eq!((set.counters().clients, set.counters().refused), (1, 1));
    }

    fn connect(path: &Path) -> BufReader<UnixStream> {
        let stream = UnixStream::connect(path).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        BufReader::new(stream)
    }

    /// Accepts and flushes until `done`, or panics after a generous deadline.
    fn serve_until(server: &mut MonitorServer, mut done: impl FnMut(&MonitorServer) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !done(server) {
            assert!(std::time::Instant::now() < deadline, "gave up: {:?}", server.counters());
            server.accept();
            server.flush();
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn over_a_real_socket_a_reader_gets_whole_lines_while_a_stalled_one_is_dropped_and_extras_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitor.sock");
        let mut server = MonitorServer::bind(&path, 2, 4096).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, SOCKET_MODE);
        let mut reader = connect(&path);
        let stalled = connect(&path);
        serve_until(&mut server, |s| s.counters().clients == 2);
        let mut extra = connect(&path);
        serve_until(&mut server, |s| s.counters().refused == 1);
        let mut refusal = String::new();
        extra.read_line(&mut refusal).unwrap();
        assert!(refusal.contains("\"refused\""), "{refusal}");
        assert_eq!(extra.read(&mut [0u8; 1]).unwrap(), 0, "then closed");

        // Lines of 1000 bytes in lockstep with the reader (the next goes out when it has the previous one), until
        // the stalled client, whose socket buffer and queue fill, is dropped. The reader reads every line whole.
        let line: Vec<u8> = [b'{'; 999].iter().copied().chain([b'\n']).collect();
        let (read_tx, read_rx) = std::sync::mpsc::channel();
        let reading = std::thread::spawn(move || {
            let mut text = String::new();
            while reader.read_line(&mut text).unwrap() > 0 {
                assert_eq!(text.len(), 1000, "a whole line");
                text.clear();
                let _ = read_tx.send(());
            }
        });
        let mut lines = 0;
        while server.counters().dropped_slow == 0 {
            assert!(lines < 100_000, "the stalled client was never dropped: {:?}", server.counters());
            server.offer(&line);
            lines += 1;
            loop {
                server.flush();
                if read_rx.recv_timeout(Duration::from_millis(1)).is_ok() {
                    break;
                }
            }
        }
        assert_eq!(server.counters().clients, 1, "the reader stays");
        assert_eq!(server.counters().skipped, u64::from(SLOW_CLIENT_SKIPS), "only the stalled client skipped");
        drop(stalled);
        drop(server);
        assert!(!path.exists(), "the socket file is removed");
        reading.join().unwrap();
    }
}
