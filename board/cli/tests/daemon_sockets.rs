//! `skelact run` with frames coming in over a Unix-domain socket and over UDP instead of a serial port: the test
//! plays an SDK bridge on the same board, sends the committed synthetic session to the real binary, and reads the
//! events and status the daemon writes back over the same socket.
//!
//! Sending is paced by the daemon's own `Status` (its `packets_ok`), so that a UDP receive buffer never
//! overflows however slow this machine is: the test waits for progress, never for a time.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{HostSide, JsonDaemon};
use skelact_formats as sources;
use skelact_links::udp::UdpLink;
use skelact_links::unix::UnixLink;
use skelact_links::ByteLink;
use skelact_runtime::wire::Message;

/// Safety limit on 20 ms polls per wait (two minutes): a broken daemon fails the test instead of hanging it.
const MAX_POLLS: usize = 6000;

/// Packets the daemon may have been sent and not yet decoded: far below what a UDP receive buffer holds.
const IN_FLIGHT: u32 = 32;

/// Bytes per write; datagrams hold whole packets up to about this much.
const CHUNK: usize = 1024;

/// Starts `skelact run` on `port`, with Status every 20 ms (which paces the test's sending).
fn start_daemon(port: &str, dir: &Path) -> JsonDaemon {
    let config = common::write(dir, "skelact.toml", b"[daemon]\nstatus_interval_ms = 20\n");
    let bundle = common::repo_root().join("models/zoo/stars-synthetic.skb");
    JsonDaemon::start(&["--config", config.to_str().unwrap(), "--bundle", bundle.to_str().unwrap(), "--port", port])
}

/// Polls the host side until `done` or the safety limit.
fn pump_until(host: &mut HostSide, link: &mut impl ByteLink, what: &str, mut done: impl FnMut(&HostSide) -> bool) {
    for _ in 0..MAX_POLLS {
        if done(host) {
            return;
        }
        host.pump(link, Duration::from_millis(20));
    }
    panic!("gave up waiting for {what}: {} events, last status {:?}", host.events.len(), host.statuses.last());
}

fn packets_ok(host: &HostSide) -> u32 {
    host.statuses.last().map_or(0, |s| s.packets_ok)
}

/// Sends the committed session's Hello and first 300 frames (its first action, sitting down, is in them) over
/// `link`, and checks what comes back.
fn drive(link: &mut impl ByteLink, daemon: JsonDaemon) {
    let messages: Vec<Message> = common::session_messages().into_iter().take(301).collect();
    let hello = sources::encode(&messages[..1]).unwrap();
    let mut host = HostSide::default();
    // The first Status says the daemon reads this link (a UDP datagram sent before it bound its address would be
    // lost, so the Hello is repeated until then; a repeated Hello changes nothing).
    for _ in 0..MAX_POLLS {
        if !host.statuses.is_empty() {
            break;
        }
        link.write_all(&hello).unwrap();
        host.pump(link, Duration::from_millis(20));
    }
    assert!(!host.statuses.is_empty(), "no Status came back");
    // Packets the daemon has decoded or will: the Hellos it counted, then every frame sent.
    let mut sent = packets_ok(&host).max(1);
    let stream = sources::encode(&messages[1..]).unwrap();
    let mut chunk = Vec::new();
    let mut packets = 0;
    let mut packets_in_chunk = 0;
    for packet in stream.split_inclusive(|&b| b == 0) {
        chunk.extend_from_slice(packet);
        packets += 1;
        packets_in_chunk += 1;
        if chunk.len() >= CHUNK || packets == messages.len() - 1 {
            pump_until(&mut host, link, "the daemon to catch up", |h| sent <= packets_ok(h) + IN_FLIGHT);
            link.write_all(&chunk).unwrap();
            sent += packets_in_chunk;
            chunk.clear();
            packets_in_chunk = 0;
        }
    }
    // Every packet decoded (the frames and any Hello still on its way) and the first event back.
    pump_until(&mut host, link, "all packets and an event", |h| packets_ok(h) >= sent && !h.events.is_empty());
    let last = *host.statuses.last().unwrap();
    assert_eq!((last.crc_errors, last.cobs_errors, last.decode_errors), (0, 0, 0), "{last:?}");
    // The session's own sequence gaps, and no more: nothing was lost on the way.
    let sequences: Vec<u32> =
        messages.iter().filter_map(|m| if let Message::Frame(f) = m { Some(f.sequence) } else { None }).collect();
    let gaps: u32 = sequences.windows(2).map(|w| w[1] - w[0] - 1).sum();
    assert_eq!(last.dropped_frames, gaps, "{last:?}");
    assert_eq!(host.events[0].action_id, 8, "NTU 'sitting down' first: {:?}", host.events);
    let (stderr, printed) = daemon.stop();
    let printed = common::of_type(printed, "event");
    assert!(!printed.is_empty(), "{stderr}");
    assert_eq!(printed[0]["action_id"], 8, "{stderr}");
}

#[test]
fn the_daemon_reads_a_unix_socket_and_answers_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("ingest.sock");
    let daemon = start_daemon(&format!("unix://{}", path.display()), dir.path());
    // The daemon creates the socket when it starts reading.
    let mut link = None;
    for _ in 0..MAX_POLLS {
        if let Ok(connected) = UnixLink::connect(&path) {
            link = Some(connected);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut link = link.expect("the daemon never listened");
    drive(&mut link, daemon);
}

#[test]
fn the_daemon_reads_udp_datagrams_and_answers_the_sender() {
    let dir = tempfile::tempdir().unwrap();
    // A free port: bound, noted and given back.
    let address = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let daemon = start_daemon(&format!("udp://{address}"), dir.path());
    let mut link = UdpLink::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    link.set_peer(address);
    drive(&mut link, daemon);
}
