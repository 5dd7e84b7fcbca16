//! The serial path over real pseudo-terminals: the test writes the sensor's bytes into the master, and the device
//! side opens the slave by path with `serialport`, as it would open /dev/ttyACM0.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use skelact_links::faults::{FaultConfig, FaultInjector, FaultKind};
use skelact_links::pty::{point_symlink, PtyPair};
use skelact_links::reconnect::{Backoff, ReconnectingReader};
use skelact_links::serial::{SerialConfig, SerialOpener, DEFAULT_BAUD};
use skelact_links::ByteLink;
use skelact_runtime::wire::{
    encode_packet, Axes, Body, Frame, Hello, Joint, LayoutId, Message, Units, MAX_PACKET_LEN, PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
};

/// Upper bound on polls of 20 ms each: a safety limit so that a broken link fails the test instead of hanging it.
const MAX_POLLS: usize = 1500;

fn hello() -> Message {
    Message::Hello(Hello {
        protocol_major: PROTOCOL_MAJOR,
        protocol_minor: PROTOCOL_MINOR,
        layout: LayoutId::KinectV2,
        units: Units::Metres,
        axes: Axes::XLeftYUpZForward,
        nominal_fps_millihertz: 30_000,
        sensor_name: heapless::String::try_from("pty test").unwrap(),
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

fn reader(path: &Path) -> ReconnectingReader<SerialOpener> {
    let backoff = Backoff { initial: Duration::from_millis(5), max: Duration::from_millis(50) };
    ReconnectingReader::new(SerialOpener(SerialConfig::new(path, DEFAULT_BAUD)), backoff, 4096)
}

/// Polls until `want` frames have arrived in total, collecting them by sequence number.
fn collect_frames(reader: &mut ReconnectingReader<SerialOpener>, frames: &mut BTreeMap<u32, Frame>, want: usize) {
    for _ in 0..MAX_POLLS {
        if frames.len() >= want {
            return;
        }
        reader.poll(Duration::from_millis(20), |outcome| {
            if let Ok(Message::Frame(frame)) = outcome {
                frames.insert(frame.sequence, frame.clone());
            }
        });
    }
    panic!("only {} of {want} frames arrived", frames.len());
}

/// Writes from another thread, so that a full pty buffer cannot deadlock the test.
fn send_in_background(mut pty: PtyPair, bytes: Vec<u8>) -> std::thread::JoinHandle<PtyPair> {
    std::thread::spawn(move || {
        for chunk in bytes.chunks(61) {
            pty.write_all(chunk).unwrap();
        }
        pty
    })
}

#[test]
fn frames_cross_a_pseudo_terminal_intact_and_events_go_back() {
    let pty = PtyPair::open().unwrap();
    let mut device = reader(pty.slave_path());
    let sent: Vec<Frame> = (0..200).map(frame).collect();
    let mut stream = packet(&hello());
    for f in &sent {
        stream.extend(packet(&Message::Frame(f.clone())));
    }
    let writer = send_in_background(pty, stream);
    let mut got = BTreeMap::new();
    collect_frames(&mut device, &mut got, sent.len());
    assert_eq!(got.into_values().collect::<Vec<_>>(), sent);
    let stats = device.link_stats();
    assert_eq!((stats.packets_ok, stats.errors(), stats.dropped_frames), (201, 0, 0));

    // The device answers over the same port.
    let mut pty = writer.join().unwrap();
    device.write_all(b"event bytes").unwrap();
    let mut buf = [0u8; 64];
    let mut echoed = Vec::new();
    for _ in 0..MAX_POLLS {
        let n = pty.read(&mut buf, Duration::from_millis(20)).unwrap();
        echoed.extend_from_slice(&buf[..n]);
        if echoed.len() >= 11 {
            break;
        }
    }
    assert_eq!(echoed, b"event bytes");
}

#[test]
fn unplug_and_replug_reconnects_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("ttySENSOR");
    let first = PtyPair::open().unwrap();
    point_symlink(&node, first.slave_path()).unwrap();
    let mut device = reader(&node);

    let mut before = packet(&hello());
    for s in 0..10 {
        before.extend(packet(&Message::Frame(frame(s))));
    }
    // Half of frame 10 is in flight when the sensor goes away.
    let torn = packet(&Message::Frame(frame(10)));
    before.extend_from_slice(&torn[..torn.len() / 2]);
    let first = send_in_background(first, before).join().unwrap();
    let mut got = BTreeMap::new();
    collect_frames(&mut device, &mut got, 10);

    // Unplug: the device node goes away with the pty.
    drop(first);
    std::fs::remove_file(&node).unwrap();
    for _ in 0..MAX_POLLS {
        device.poll(Duration::from_millis(20), |_| {});
        if !device.link().is_connected() {
            break;
        }
    }
    assert!(!device.link().is_connected(), "the reader did not notice the unplug");
    assert_eq!(device.link().stats().disconnects, 1);
    // While the node is absent, reopening fails and the reader keeps trying.
    let failed_before = device.link().stats().failed_opens;
    for _ in 0..3 {
        device.poll(Duration::from_millis(20), |_| {});
    }
    assert!(device.link().stats().failed_opens > failed_before);

    // Replug: a new pty appears under the same path. Its first bytes complete the torn packet's length, which
    // must not be glued to the half from before the unplug.
    let second = PtyPair::open().unwrap();
    point_symlink(&node, second.slave_path()).unwrap();
    let mut after = torn[torn.len() / 2..].to_vec();
    after.extend(packet(&hello()));
    for s in 11..20 {
        after.extend(packet(&Message::Frame(frame(s))));
    }
    let second = send_in_background(second, after);
    collect_frames(&mut device, &mut got, 19);
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), (0..10).chain(11..20).collect::<Vec<_>>());
    assert_eq!(got[&15], frame(15));
    let stats = device.link().stats();
    assert_eq!((stats.connects, stats.disconnects), (2, 1));
    drop(second.join().unwrap());
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
    let pty = PtyPair::open().unwrap();
    let mut device = reader(pty.slave_path());
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
    let writer = send_in_background(pty, corrupted);
    let mut got = BTreeMap::new();
    for _ in 0..MAX_POLLS {
        if got.contains_key(&300) {
            break;
        }
        device.poll(Duration::from_millis(20), |outcome| {
            if let Ok(Message::Frame(frame)) = outcome {
                got.insert(frame.sequence, frame.clone());
            }
        });
    }
    assert_eq!(got.remove(&300), Some(last), "the clean trailing frame did not arrive");
    // Every frame that no fault touched arrived, unchanged; the ones that did arrive are exactly the sent ones.
    for s in &expected {
        assert_eq!(got.get(s), Some(&sent[*s as usize]), "untouched frame {s} was lost or changed");
    }
    for (s, f) in &got {
        assert_eq!(f, &sent[*s as usize]);
    }
    let lost = sent.len() - got.len();
    assert!(lost <= hit.len(), "lost {lost} frames but only {} packets were hit", hit.len());
    // The decoder sees a loss as a gap in sequence numbers, so frames lost before the first one that arrived are
    // invisible to it; every other loss is counted (the clean frame 300 closes the last gap).
    let first = *got.keys().next().unwrap();
    let visible = (first..sent.len() as u32).filter(|s| !got.contains_key(s)).count();
    assert_eq!(device.link_stats().dropped_frames as usize, visible);
    assert!(device.link_stats().errors() > 0);
    drop(writer.join().unwrap());
}

#[test]
fn a_port_symlink_re_pointed_to_another_device_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("skelact-sensor");
    let first = PtyPair::open().unwrap();
    point_symlink(&node, first.slave_path()).unwrap();
    let mut device = reader(&node);
    let mut before = packet(&hello());
    for s in 0..5 {
        before.extend(packet(&Message::Frame(frame(s))));
    }
    // The first sensor stays plugged in and open: nothing fails on the old device, only the path moves.
    let first = send_in_background(first, before).join().unwrap();
    let mut got = BTreeMap::new();
    collect_frames(&mut device, &mut got, 5);

    let second = PtyPair::open().unwrap();
    point_symlink(&node, second.slave_path()).unwrap();
    let mut after = packet(&hello());
    for s in 5..10 {
        after.extend(packet(&Message::Frame(frame(s))));
    }
    let second = send_in_background(second, after);
    collect_frames(&mut device, &mut got, 10);
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    let stats = device.link().stats();
    assert_eq!((stats.connects, stats.repointed, stats.disconnects), (2, 1, 0));
    drop(second.join().unwrap());
    drop(first);
}

#[test]
fn write_now_takes_what_an_unread_port_has_room_for_and_never_waits() {
    let pty = PtyPair::open().unwrap();
    let mut device = reader(pty.slave_path());
    device.poll(Duration::ZERO, |_| {});
    assert!(device.link().is_connected());
    // Nobody reads the master. Each call returns at once; once the pty's buffers are full they take nothing.
    let chunk = [0x55u8; 4096];
    let mut total = 0usize;
    let mut refused = 0;
    // A safety limit far above any pty buffer (64 KiB and a little on Linux).
    for _ in 0..10_000 {
        match device.write_now(&chunk).unwrap() {
            0 => {
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
            n => total += n,
        }
    }
    assert_eq!(refused, 3, "the port never filled up");
    assert!(total >= 4096, "only {total} bytes went out before the port was full");
    assert!(device.link().is_connected(), "a full port is not a lost one");
    drop(pty);
}
