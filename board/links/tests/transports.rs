//! The device's links end to end, the same scenarios over each transport: a serial port (a real pseudo-terminal,
//! whose slave the device opens by path as it would open /dev/ttyACM0), a UDP address and a Unix-domain socket.
//! The test plays the sensor; the device side is the daemon's [`ReconnectingReader`] on an [`AnyOpener`] made from
//! the `port` setting, so decoding, counters, reconnection and the back channel are the ones the daemon runs.
//!
//! Sending and reading take turns in one thread (a chunk out, a poll in), so no buffer between them fills: a UDP
//! receiver that fell behind would drop datagrams, which is UDP's nature and not what these tests are about.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use skelact_links::address::{AnyOpener, LinkAddress};
use skelact_links::faults::{FaultConfig, FaultInjector, FaultKind};
use skelact_links::pty::{point_symlink, PtyPair};
use skelact_links::reconnect::{Backoff, ReconnectingReader};
use skelact_links::serial::DEFAULT_BAUD;
use skelact_links::unix::{UnixLink, UnixOpener};
use skelact_links::ByteLink;
use skelact_runtime::wire::{
    encode_packet, Axes, Body, Frame, Hello, Joint, LayoutId, Message, Units, MAX_PACKET_LEN, PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
};

/// Upper bound on polls of 20 ms each beyond the chunks sent: a safety limit so that a broken link fails the test
/// instead of hanging it.
const MAX_POLLS: usize = 1500;

/// Bytes per write on a byte stream; UDP datagrams hold whole packets up to about this much.
const CHUNK: usize = 509;

fn hello() -> Message {
    Message::Hello(Hello {
        protocol_major: PROTOCOL_MAJOR,
        protocol_minor: PROTOCOL_MINOR,
        layout: LayoutId::KinectV2,
        units: Units::Metres,
        axes: Axes::XLeftYUpZForward,
        nominal_fps_millihertz: 30_000,
        sensor_name: heapless::String::try_from("link test").unwrap(),
    })
}

fn frame(sequence: u32) -> Frame {
    let mut joints = heapless::Vec::new();
    for j in 0..25u32 {
        let x = (sequence as f32) * 0.01 + j as f32 * 0.1;
        joints.push(Joint { x, y: -x, z: 2.0 + x * 0.5, confidence: (j * 10) as u8 }).unwrap();
    }
    let mut bodies = heapless::Vec::new();
    bodies.push(Body { id: 7, joints }).unwrap();
    Frame { sequence, timestamp_us: u64::from(sequence) * 33_333, bodies }
}

fn packet(message: &Message) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
    let n = encode_packet(message, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn frames(sequences: impl IntoIterator<Item = u32>) -> Vec<u8> {
    sequences.into_iter().flat_map(|s| packet(&Message::Frame(frame(s)))).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Pty,
    Udp,
    Unix,
}

const ALL: [Transport; 3] = [Transport::Pty, Transport::Udp, Transport::Unix];
/// The transports with a connection to lose.
const CONNECTED: [Transport; 2] = [Transport::Pty, Transport::Unix];

/// The sensor's end of one transport.
enum Sensor {
    Pty(PtyPair),
    Udp { socket: UdpSocket, device: SocketAddr },
    Unix(UnixLink),
}

impl Sensor {
    fn send(&mut self, chunk: &[u8]) {
        match self {
            Sensor::Pty(pty) => pty.write_all(chunk).unwrap(),
            Sensor::Udp { socket, device } => assert_eq!(socket.send_to(chunk, *device).unwrap(), chunk.len()),
            Sensor::Unix(link) => link.write_all(chunk).unwrap(),
        }
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> usize {
        match self {
            Sensor::Pty(pty) => pty.read(buf, timeout).unwrap(),
            Sensor::Udp { socket, .. } => {
                socket.set_read_timeout(Some(timeout.max(Duration::from_millis(1)))).unwrap();
                socket.recv(buf).unwrap_or(0)
            }
            Sensor::Unix(link) => link.read(buf, timeout).unwrap(),
        }
    }
}

/// A device reading one transport and the sensor writing to it.
struct Rig {
    transport: Transport,
    device: ReconnectingReader<AnyOpener>,
    sensor: Option<Sensor>,
    /// The pty's stable path (a symlink, so that it can go away and come back) or the socket's path.
    node: PathBuf,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// The device's link is open and the sensor connected when this returns.
    fn new(transport: Transport) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let backoff = Backoff { initial: Duration::from_millis(5), max: Duration::from_millis(50) };
        let (opener, node, sensor) = match transport {
            Transport::Pty => {
                let node = dir.path().join("ttySENSOR");
                let pty = PtyPair::open().unwrap();
                point_symlink(&node, pty.slave_path()).unwrap();
                (LinkAddress::parse(&node).unwrap().opener(DEFAULT_BAUD), node, Sensor::Pty(pty))
            }
            Transport::Udp => {
                // A free port: bound, noted and given back.
                let address = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
                let port = PathBuf::from(format!("udp://{address}"));
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                (LinkAddress::parse(&port).unwrap().opener(DEFAULT_BAUD), port, Sensor::Udp { socket, device: address })
            }
            Transport::Unix => {
                let node = dir.path().join("ingest.sock");
                let mut opener = UnixOpener::new(&node);
                opener.listen().unwrap();
                let sensor = Sensor::Unix(UnixLink::connect(&node).unwrap());
                (AnyOpener::Unix(opener), node, sensor)
            }
        };
        let mut device = ReconnectingReader::new(opener, backoff, 4096);
        device.poll(Duration::ZERO, |_| {});
        assert!(device.link().is_connected(), "{transport:?}: {:?}", device.link().last_error());
        Rig { transport, device, sensor: Some(sensor), node, _dir: dir }
    }

    fn sensor(&mut self) -> &mut Sensor {
        self.sensor.as_mut().expect("a sensor is plugged in")
    }

    /// How the sensor writes `bytes`: in chunks on a byte stream, in datagrams of whole packets over UDP (cut
    /// after a 0x00, as a sender does; the bytes the decoder sees are then the same as over a stream).
    fn chunks(&self, bytes: &[u8]) -> Vec<Vec<u8>> {
        if self.transport != Transport::Udp {
            return bytes.chunks(CHUNK).map(<[u8]>::to_vec).collect();
        }
        let mut datagrams: Vec<Vec<u8>> = vec![Vec::new()];
        for packet in bytes.split_inclusive(|&b| b == 0) {
            let last = datagrams.last_mut().unwrap();
            if !last.is_empty() && last.len() + packet.len() > CHUNK {
                datagrams.push(packet.to_vec());
            } else {
                last.extend_from_slice(packet);
            }
        }
        datagrams
    }

    /// Sends `bytes` and polls the device, one chunk per poll, then polls on until `done`; collects the frames.
    fn exchange(&mut self, bytes: &[u8], got: &mut BTreeMap<u32, Frame>, done: impl Fn(&BTreeMap<u32, Frame>) -> bool) {
        let chunks = self.chunks(bytes);
        let mut pending = chunks.iter();
        for _ in 0..chunks.len() + MAX_POLLS {
            match pending.next() {
                Some(chunk) => self.sensor().send(chunk),
                None if done(got) => return,
                None => {}
            }
            self.device.poll(Duration::from_millis(20), |outcome| {
                if let Ok(Message::Frame(frame)) = outcome {
                    got.insert(frame.sequence, frame.clone());
                }
            });
        }
        panic!("{:?}: gave up with {} frames", self.transport, got.len());
    }

    /// Unplugs the sensor: the pty and its device node go away, the socket's sender disconnects.
    fn unplug(&mut self) {
        drop(self.sensor.take());
        if self.transport == Transport::Pty {
            std::fs::remove_file(&self.node).unwrap();
        }
    }

    /// Plugs a sensor back in: a new pty under the same path, a new sender on the socket.
    fn replug(&mut self) {
        self.sensor = Some(match self.transport {
            Transport::Pty => {
                let pty = PtyPair::open().unwrap();
                point_symlink(&self.node, pty.slave_path()).unwrap();
                Sensor::Pty(pty)
            }
            Transport::Unix => Sensor::Unix(UnixLink::connect(&self.node).unwrap()),
            Transport::Udp => unreachable!("UDP has nothing to unplug"),
        });
    }
}

fn has(want: usize) -> impl Fn(&BTreeMap<u32, Frame>) -> bool {
    move |got| got.len() >= want
}

#[test]
fn frames_arrive_intact_and_events_go_back() {
    for transport in ALL {
        let mut rig = Rig::new(transport);
        let sent: Vec<Frame> = (0..200).map(frame).collect();
        let mut stream = packet(&hello());
        stream.extend(frames(0..200));
        let mut got = BTreeMap::new();
        rig.exchange(&stream, &mut got, has(sent.len()));
        assert_eq!(got.into_values().collect::<Vec<_>>(), sent, "{transport:?}");
        let stats = rig.device.link_stats();
        assert_eq!((stats.packets_ok, stats.errors(), stats.dropped_frames), (201, 0, 0), "{transport:?}");

        // The device answers over the same link (over UDP, to the address the frames came from).
        rig.device.write_all(b"event bytes").unwrap();
        let mut buf = [0u8; 64];
        let mut echoed = Vec::new();
        for _ in 0..MAX_POLLS {
            let n = rig.sensor().read(&mut buf, Duration::from_millis(20));
            echoed.extend_from_slice(&buf[..n]);
            if echoed.len() >= 11 {
                break;
            }
        }
        assert_eq!(echoed, b"event bytes", "{transport:?}");
    }
}

#[test]
fn unplug_and_replug_reconnects_without_a_restart() {
    for transport in CONNECTED {
        let mut rig = Rig::new(transport);
        let mut before = packet(&hello());
        before.extend(frames(0..10));
        // Half of frame 10 is in flight when the sensor goes away.
        let torn = packet(&Message::Frame(frame(10)));
        before.extend_from_slice(&torn[..torn.len() / 2]);
        let mut got = BTreeMap::new();
        rig.exchange(&before, &mut got, has(10));

        rig.unplug();
        for _ in 0..MAX_POLLS {
            rig.device.poll(Duration::from_millis(20), |_| {});
            if !rig.device.link().is_connected() {
                break;
            }
        }
        assert!(!rig.device.link().is_connected(), "{transport:?}: the reader did not notice the unplug");
        assert_eq!(rig.device.link().stats().disconnects, 1);
        // While no sensor is there, reopening fails and the reader keeps trying.
        let failed_before = rig.device.link().stats().failed_opens;
        for _ in 0..3 {
            rig.device.poll(Duration::from_millis(20), |_| {});
        }
        assert!(rig.device.link().stats().failed_opens > failed_before, "{transport:?}");

        // Replug. The new sensor's first bytes complete the torn packet's length, which must not be glued to the
        // half from before the unplug.
        rig.replug();
        let mut after = torn[torn.len() / 2..].to_vec();
        after.extend(packet(&hello()));
        after.extend(frames(11..20));
        rig.exchange(&after, &mut got, has(19));
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), (0..10).chain(11..20).collect::<Vec<_>>());
        assert_eq!(got[&15], frame(15));
        let stats = rig.device.link().stats();
        assert_eq!((stats.connects, stats.disconnects), (2, 1), "{transport:?}");
    }
}
/// Which packets a fault touches: the one holding the byte, and the next one too when a delimiter was flipped or
/// dropped (the two packets merge). Inserted garbage lands after the previous delimiter, so only the byte's packet.
fn packets_hit(ends: &[usize], offset: u64, kind: FaultKind) -> Vec<usize> {
    let offset = offset as usize;
    let index = ends.partition_point(|&end| end <= offset);
    let is_delimiter = ends.get(index).is_some_and(|&end| end == offset + 1);
    match kind {
        FaultKind::BitFlip { .. } | FaultKind::Dropped if is_delimiter => vec![index, index + 1],
        _ => vec![index],
    }
}

#[test]
fn a_corrupted_stream_loses_only_the_frames_that_were_hit() {
    let sent: Vec<Frame> = (0..300).map(frame).collect();
    // Packet 0 is the Hello; packet i + 1 is frame i. `ends[k]` is one past packet k's delimiter.
    let mut clean = packet(&hello());
    let mut ends = vec![clean.len()];
    for f in &sent {
        clean.extend(packet(&Message::Frame(f.clone())));
        ends.push(clean.len());
    }
    let config = FaultConfig { seed: 0x5eed, bit_flip: 2e-4, drop: 2e-4, garbage: 2e-4, garbage_max_len: 40 };
    let mut injector = FaultInjector::new(config);
    let mut corrupted = Vec::new();
    injector.corrupt(&clean, &mut corrupted);
    let mut hit = std::collections::BTreeSet::new();
    for fault in injector.faults() {
        hit.extend(packets_hit(&ends, fault.offset, fault.kind));
    }
    assert!(hit.len() >= 5, "the seed should damage several packets, damaged {hit:?}");
    assert!(!hit.contains(&0), "this seed keeps the Hello intact, which the expectations below assume");
    let expected: Vec<u32> = (0..sent.len() as u32).filter(|s| !hit.contains(&(*s as usize + 1))).collect();
    // A clean trailing frame makes the end of the stream unambiguous.
    let last = frame(300);
    corrupted.extend(packet(&Message::Frame(last.clone())));

    for transport in ALL {
        let mut rig = Rig::new(transport);
        let mut got = BTreeMap::new();
        rig.exchange(&corrupted, &mut got, |got| got.contains_key(&300));
        assert_eq!(got.remove(&300), Some(last.clone()), "{transport:?}: the clean trailing frame did not arrive");
        // Every frame that no fault touched arrived, unchanged; the ones that did arrive are exactly the sent ones.
        for s in &expected {
            assert_eq!(got.get(s), Some(&sent[*s as usize]), "{transport:?}: untouched frame {s} was lost or changed");
        }
        for (s, f) in &got {
            assert_eq!(f, &sent[*s as usize]);
        }
        let lost = sent.len() - got.len();
        assert!(lost <= hit.len(), "{transport:?}: lost {lost} frames but only {} packets were hit", hit.len());
        // The decoder sees a loss as a gap in sequence numbers, so frames lost before the first one that arrived
        // are invisible to it; every other loss is counted (the clean frame 300 closes the last gap).
        let first = *got.keys().next().unwrap();
        let visible = (first..sent.len() as u32).filter(|s| !got.contains_key(s)).count();
        let stats = *rig.device.link_stats();
        assert_eq!(stats.dropped_frames as usize, visible, "{transport:?}");
        assert!(stats.errors() > 0, "{transport:?}");
        assert_eq!(stats.packets_ok as usize, got.len() + 2, "{transport:?}: the Hello, the frames and frame 300");
    }
}

#[test]
fn a_port_symlink_re_pointed_to_another_device_is_followed() {
    let mut rig = Rig::new(Transport::Pty);
    let mut before = packet(&hello());
    before.extend(frames(0..5));
    let mut got = BTreeMap::new();
    rig.exchange(&before, &mut got, has(5));
    // The first sensor stays plugged in and open: nothing fails on the old device, only the path moves.
    let first = rig.sensor.take();
    rig.replug();
    let mut after = packet(&hello());
    after.extend(frames(5..10));
    rig.exchange(&after, &mut got, has(10));
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    let stats = rig.device.link().stats();
    assert_eq!((stats.connects, stats.repointed, stats.disconnects), (2, 1, 0));
    drop(first);
}

#[test]
fn write_now_takes_what_an_unread_link_has_room_for_and_never_waits() {
    for transport in CONNECTED {
        let mut rig = Rig::new(transport);
        // Nobody reads the sensor's end. Each call returns at once; once the buffers are full they take nothing.
        let chunk = [0x55u8; 4096];
        let mut total = 0usize;
        let mut refused = 0;
        // A safety limit far above any pty or socket buffer (64 KiB and a little for a pty on Linux, a few
        // hundred KiB for a socket).
        for _ in 0..10_000 {
            match rig.device.write_now(&chunk).unwrap() {
                0 => {
                    refused += 1;
                    if refused == 3 {
                        break;
                    }
                }
                n => total += n,
            }
        }
        assert_eq!(refused, 3, "{transport:?}: the link never filled up");
        assert!(total >= 4096, "{transport:?}: only {total} bytes went out before the link was full");
        assert!(rig.device.link().is_connected(), "{transport:?}: a full link is not a lost one");
    }
}
