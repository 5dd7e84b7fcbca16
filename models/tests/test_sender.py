"""The Python sender library against the golden vectors of docs/protocol.md: the bytes the device's Rust decoder is
tested on. Encoding each vector's message gives its bytes; decoding the device-to-host vectors gives their
messages; the refused vectors are refused."""

import re
from pathlib import Path

import pytest
from skelact_sender import Axes, Body, Decoder, Event, Layout, ProtocolError, Sender, Status, Units
from skelact_sender.protocol import decode_message, encode_frame, encode_heartbeat, encode_hello, unpack

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def vectors():
    """{name: bytes} of every `vector:` block."""
    text = PROTOCOL.read_text()
    found = {}
    for block in re.findall(r"```text\n(vector: .*?)```", text, re.S):
        name = re.search(r"vector: (\S+)", block).group(1)
        hex_text = block.split("bytes:", 1)[1]
        found[name] = bytes.fromhex("".join(hex_text.split()))
    return found


def test_every_sensor_message_encodes_to_its_vector():
    v = vectors()
    assert encode_hello(Layout.KINECT_V2, Units.METRES, Axes.X_LEFT_Y_UP_Z_FORWARD, 30.0, "kinect-v2") == v["hello"]
    assert encode_frame(7, 233_333, []) == v["frame-empty"]
    body = Body(id=3, joints=[(0.25, -0.5, 2.0, 255), (0.0, 1.0, 2.5, 128)])
    assert encode_frame(300, 10_000_000, [body]) == v["frame-two-joints"]
    assert encode_heartbeat(1_000_000) == v["heartbeat"]


def test_the_device_messages_decode_from_their_vectors_in_any_chunks():
    v = vectors()
    stream = v["event"] + v["status-zero"] + v["status"]
    for chunk in (1, 3, 7, len(stream)):
        decoder = Decoder()
        messages = [m for i in range(0, len(stream), chunk) for m in decoder.feed(stream[i:i + chunk])]
        assert messages[0] == Event(3, 23, 1, 0.875, 1_000_000, 2_500_000, "end")
        assert messages[1] == Status(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "ok")
        assert messages[2] == Status(60_000, 1800, 2, 0, 1, 0, 0, 0, 3, 225, 0, 4, 1, "ok")
        assert decoder.errors == 0


def test_the_refused_vectors_are_refused_and_cost_only_their_packet():
    v = vectors()
    for name, reason in (("bad-crc", "CRC"), ("version-2", "version")):
        with pytest.raises(ProtocolError, match=reason):
            unpack(v[name][:-1])
    decoder = Decoder()
    messages = list(decoder.feed(v["bad-crc"] + v["version-2"] + b"\x05garbage\x00" + v["event"]))
    assert decoder.errors == 3
    assert messages == [Event(3, 23, 1, 0.875, 1_000_000, 2_500_000, "end")]


def test_what_the_device_would_refuse_is_not_sent():
    with pytest.raises(ProtocolError, match="finite"):
        encode_frame(0, 0, [Body(1, [(float("nan"), 0.0, 0.0, 255)])])
    with pytest.raises(ProtocolError, match="at most 6"):
        encode_frame(0, 0, [Body(i, []) for i in range(7)])
    with pytest.raises(ProtocolError, match="32 bytes"):
        encode_hello(Layout.KINECT_V2, name="x" * 33)


class Pipe:
    """A byte pipe standing in for a serial port: what is written can be read back."""

    def __init__(self):
        self.written = bytearray()
        self.incoming = bytearray()

    def write(self, data):
        self.written += data

    def read(self, size):
        data, self.incoming[:] = bytes(self.incoming[:size]), self.incoming[size:]
        return data


def test_a_sender_numbers_frames_checks_the_layout_and_reads_events_back():
    pipe = Pipe()
    link = Sender(pipe)
    link.hello(Layout.OPENNI_15, fps=30.0, name="xtion")
    joints = [(0.1 * i, 1.0, 2.0, 255) for i in range(15)]
    link.frame(0, [Body(1, joints)])
    link.frame(33_333, [Body(1, joints)])
    with pytest.raises(ProtocolError, match="15"):
        link.frame(66_666, [Body(1, joints[:14])])
    packets = bytes(pipe.written).split(b"\x00")[:-1]
    assert len(packets) == 3
    assert [decode_message(unpack(p))[0] for p in packets] == ["hello", "frame", "frame"]
    assert encode_frame(1, 33_333, [Body(1, joints)]) == packets[2] + b"\x00"
    pipe.incoming += vectors()["event"]
    assert link.poll() == [Event(3, 23, 1, 0.875, 1_000_000, 2_500_000, "end")]


@pytest.mark.parametrize("transport", ["pty", "unix", "udp"])
def test_the_sender_drives_the_real_daemon(transport, tmp_path):
    """The committed synthetic session, sent frame by frame through `Sender` to `skelact run` on a real pty, a
    Unix-domain socket or a UDP address: the device recognises the session's first action and its events and status
    come back through `Sender.poll`. Sending waits for the device's Status to catch up (every 20 ms here), so that
    no UDP datagram is lost to a full receive buffer however slow the machine is."""
    import json
    import os
    import socket
    import subprocess
    import time

    binary = os.environ.get("SKELACT_BIN")
    if not (binary and Path(binary).is_file()):
        pytest.skip("SKIPPED: SKELACT_BIN not set: run through `cargo xtask test`")
    repo = PROTOCOL.parents[1]
    master = slave = None
    if transport == "pty":
        import tty

        master, slave = os.openpty()
        tty.setraw(slave)
        port = os.ttyname(slave)
    elif transport == "unix":
        port = f"unix://{tmp_path / 'ingest.sock'}"
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as free:  # a free port: bound, noted, given back
            free.bind(("127.0.0.1", 0))
            port = f"udp://127.0.0.1:{free.getsockname()[1]}"
    config = tmp_path / "skelact.toml"
    config.write_text("[daemon]\nstatus_interval_ms = 20\n")
    daemon = subprocess.Popen(
        [binary, "run", "--allow-unsigned", "--config", str(config), "--bundle",
         str(repo / "models/zoo/stars-synthetic.skb"), "--port", port, "--profile", "host", "--stdout", "off",
         "--queue-windows", "1000"],
        stderr=subprocess.PIPE, text=True)
    received = []
    link = None
    try:
        deadline = time.time() + 120  # safety limits for a loaded machine, not measurements
        if transport == "pty":
            os.set_blocking(master, False)

            class Master:
                def write(self, data):
                    view = memoryview(data)
                    while view:
                        try:
                            view = view[os.write(master, view):]
                        except BlockingIOError:
                            time.sleep(0.001)

                def read(self, size):
                    try:
                        return os.read(master, size)
                    except (BlockingIOError, OSError):
                        return b""

            link = Sender(Master())
        else:
            while link is None:  # the daemon creates its socket when it starts reading
                try:
                    link = Sender.open(port, timeout=0.02)
                except (FileNotFoundError, ConnectionRefusedError):
                    assert time.time() < deadline and daemon.poll() is None, "the daemon never listened"
                    time.sleep(0.02)
        lines = (repo / "models/zoo/sessions/session-s0-p001.jsonl").read_text().splitlines()
        header = json.loads(lines[0])

        def statuses():
            return [m for m in received if isinstance(m, Status)]

        # Hello until the first Status: a datagram sent before the daemon bound its address is lost.
        while not statuses():
            assert time.time() < deadline and daemon.poll() is None, "no Status came back"
            link.hello(Layout.KINECT_V2, Units.METRES, Axes.X_LEFT_Y_UP_Z_FORWARD, header["rate_hz"], "python-sender")
            received += link.poll()
            time.sleep(0.02)
        sent = max(statuses()[-1].packets_ok, 1)
        for line in lines[1:301]:  # ten seconds: the first action (sitting down, 1.7-5.2 s) is in them
            while sent > statuses()[-1].packets_ok + 32:
                assert time.time() < deadline, "the daemon stopped decoding"
                received += link.poll()
            frame = json.loads(line)
            link.frame(frame["timestamp_us"], [Body(b["id"], b["joints"]) for b in frame["bodies"]],
                       sequence=frame["sequence"])
            sent += 1
            received += link.poll()
        deadline = time.time() + 120
        while time.time() < deadline and not (any(isinstance(m, Event) for m in received)
                                              and statuses()[-1].packets_ok >= sent):
            received += link.poll()
            time.sleep(0.02)
    finally:
        daemon.terminate()
        stderr = daemon.communicate(timeout=60)[1]
        if link is not None:
            link.close()
        if master is not None:
            os.close(master)
            os.close(slave)
    events = [m for m in received if isinstance(m, Event)]
    assert events, stderr
    assert events[0].action_id == 8, events  # NTU "sitting down"
    last = statuses()[-1]
    assert last.packets_ok >= sent and last.decode_errors == 0 and last.dropped_frames == 0, last
    assert link.decoder.errors == 0


@pytest.mark.parametrize("transport", ["udp", "unix"])
def test_a_sender_writes_whole_packets_to_a_socket_and_reads_answers(transport, tmp_path):
    """`Sender.open` on a socket the test holds in the device's place: over UDP one datagram per packet (the device
    reads each datagram's packets whole), over a Unix socket the stream of packets; answers come back through
    `poll` either way."""
    import socket

    if transport == "udp":
        device = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        device.bind(("127.0.0.1", 0))
        link = Sender.open(f"udp://127.0.0.1:{device.getsockname()[1]}", timeout=5.0)
    else:
        path = tmp_path / "ingest.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(1)
        link = Sender.open(f"unix://{path}", timeout=5.0)
        device, _ = listener.accept()
        listener.close()
    device.settimeout(5.0)
    with link:
        link.hello(Layout.KINECT_V2, name="bridge")
        link.frame(0, [Body(1, [(0.0, 1.0, 2.0, 255)] * 25)])
        hello = encode_hello(Layout.KINECT_V2, name="bridge")
        frame = encode_frame(0, 0, [Body(1, [(0.0, 1.0, 2.0, 255)] * 25)])
        if transport == "udp":
            first, sender = device.recvfrom(65_536)
            assert (first, device.recv(65_536)) == (hello, frame)
            device.sendto(vectors()["event"], sender)
        else:
            got = b""
            while len(got) < len(hello + frame):
                got += device.recv(4096)
            assert got == hello + frame
            device.sendall(vectors()["event"])
        assert link.poll() == [Event(3, 23, 1, 0.875, 1_000_000, 2_500_000, "end")]
    device.close()
    with pytest.raises(ValueError, match="udp://HOST:PORT"):
        Sender.open("udp://127.0.0.1")


def mvn_datagram(counter, datagram, character, segments, time_ms=1000, ident=b"MXTP02"):
    """An MVN `MXTP02` datagram with these (segment id, (x, y, z)) items."""
    import struct

    header = struct.pack(">6sIBBIBBBB2sH", ident, counter, datagram, len(segments), time_ms, character, 23, 0, 0,
                         b"\0\0", 32 * len(segments))
    items = b"".join(struct.pack(">i3f4f", s, *p, 1.0, 0.0, 0.0, 0.0) for s, p in segments)
    return header + items


def test_the_xsens_bridge_assembles_samples_split_over_datagrams():
    from skelact_sender.xsens import Assembler, parse_datagram

    position = {s: (0.01 * s, -0.02 * s, 1.0 + 0.03 * s) for s in range(1, 24)}
    first = mvn_datagram(7, 0, 2, [(s, position[s]) for s in range(1, 13)], time_ms=1500)
    # The second datagram also carries a prop (segment 24), which is not part of the body.
    second = mvn_datagram(7, 0x81, 2, [(s, position[s]) for s in range(13, 24)] + [(24, (9.0, 9.0, 9.0))], 1500)
    assembler = Assembler()
    assert assembler.feed(first) is None
    time_us, body = assembler.feed(second)
    assert (time_us, body.id, len(body.joints)) == (1_500_000, 2, 23)
    assert body.joints[9][:3] == pytest.approx(position[10]) and body.joints[9][3] == 255  # RightHand, wire index 9
    # Facing the sensor turns the subject about the vertical: x and y negated, z kept.
    _, turned = Assembler(face_sensor=True).feed(mvn_datagram(8, 0x80, 0, sorted(position.items())))
    assert turned.joints[0][:3] == pytest.approx((-0.01, 0.02, 1.03))
    # A sample that lost a datagram is skipped; the stream goes on with the next sample.
    assert assembler.feed(mvn_datagram(9, 0x80, 2, [(s, position[s]) for s in range(1, 13)])) is None
    # Its frames are what the device expects for XsensMvn23 (23 joints after the Hello).
    pipe = Pipe()
    link = Sender(pipe)
    link.hello(Layout.XSENS_MVN_23, Units.METRES, Axes.X_FORWARD_Y_LEFT_Z_UP, 60.0, "xsens-mvn")
    link.frame(time_us, [body])
    with pytest.raises(ProtocolError, match="MXTP02|position"):
        parse_datagram(mvn_datagram(1, 0x80, 0, [], ident=b"MXTP01"))
    with pytest.raises(ProtocolError, match="header"):
        parse_datagram(b"MXTP02")
