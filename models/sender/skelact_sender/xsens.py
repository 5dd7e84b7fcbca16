"""Xsens MVN (Movella) network stream → skelact: the "Position + Orientation (Quaternion)" datagrams (`MXTP02`) of
MVN's network streamer, over UDP, relayed as protocol-v1 frames of layout `XsensMvn23`.

    python -m skelact_sender.xsens --listen 0.0.0.0:9763 --port /dev/ttyACM0 [--face-sensor]

A datagram (MVN real-time network streaming protocol specification, MV0305P) is a 24-byte header, big-endian:
ID string (6 bytes, `MXTP02`), sample counter (u32), datagram counter (u8; bit 7 set on the last datagram of a
sample), number of items (u8), time code (u32, ms), character id (u8), then counts of body segments, props and
finger segments (u8 each), 2 reserved bytes and the payload size (u16). Each item is 32 bytes: segment id (i32,
from 1), position x, y, z (f32, metres; MVN's frame is x forward, y left, z up) and the orientation quaternion
(4 × f32, not used here). A sample may span several datagrams; segments 1-23 are the body (props and fingers,
numbered after them, are skipped).
"""

from __future__ import annotations

import argparse
import socket
import struct
from dataclasses import dataclass, field

from .protocol import Axes, Body, Layout, ProtocolError, Units

HEADER = struct.Struct(">6sIBBIBBBB2sH")
ITEM = struct.Struct(">i3f4f")
BODY_SEGMENTS = 23
LAST_DATAGRAM = 0x80


@dataclass
class Sample:
    """The segments of one sample (one captured instant) of one character, as they arrive."""

    counter: int
    time_ms: int
    character: int
    positions: dict = field(default_factory=dict)  # segment id (1-based) -> (x, y, z)


def parse_datagram(data: bytes):
    """(header fields, items) of one `MXTP02` datagram; `ProtocolError` for anything else."""
    if len(data) < HEADER.size:
        raise ProtocolError(f"datagram of {len(data)} bytes is shorter than the {HEADER.size}-byte header")
    ident, counter, datagram, items, time_ms, character, _, _, _, _, _ = HEADER.unpack_from(data)
    if ident != b"MXTP02":
        raise ProtocolError(f"not a position + quaternion datagram (id {ident!r}); choose that stream in MVN")
    if len(data) < HEADER.size + items * ITEM.size:
        raise ProtocolError(f"datagram announces {items} items but holds {(len(data) - HEADER.size) // ITEM.size}")
    parsed = [ITEM.unpack_from(data, HEADER.size + i * ITEM.size) for i in range(items)]
    return (counter, datagram, time_ms, character), [(p[0], p[1:4]) for p in parsed]


class Assembler:
    """Gathers the datagrams of each sample and yields a `Body` when a character's sample is complete."""

    def __init__(self, face_sensor: bool = False):
        self.pending: dict[int, Sample] = {}
        # MVN's +x is where the subject faced at calibration, so a subject facing that way is seen from behind;
        # turning 180° about the vertical (negating x and y) shows them facing the sensor, as NTU models saw people.
        self.sign = -1.0 if face_sensor else 1.0

    def feed(self, data: bytes):
        """Returns (time_us, Body) when `data` completes a sample with all 23 body segments, else None."""
        (counter, datagram, time_ms, character), items = parse_datagram(data)
        sample = self.pending.get(character)
        if sample is None or sample.counter != counter:
            sample = self.pending[character] = Sample(counter, time_ms, character)
        for segment, (x, y, z) in items:
            if 1 <= segment <= BODY_SEGMENTS:
                sample.positions[segment] = (self.sign * x, self.sign * y, z)
        if not datagram & LAST_DATAGRAM:
            return None
        del self.pending[character]
        if len(sample.positions) < BODY_SEGMENTS:
            return None  # a lost datagram: skip the sample rather than send a body with holes
        joints = [(*sample.positions[s], 255) for s in range(1, BODY_SEGMENTS + 1)]
        return sample.time_ms * 1000, Body(id=character, joints=joints)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="0.0.0.0:9763", help="HOST:PORT MVN streams to (default 0.0.0.0:9763)")
    parser.add_argument("--port", required=True,
                        help="the skelact device's port: a serial port, udp://HOST:PORT or unix:///PATH")
    parser.add_argument("--baud", type=int, default=921_600)
    parser.add_argument("--rate", type=float, default=60.0, help="MVN's stream rate in Hz (announced in Hello)")
    parser.add_argument("--face-sensor", action="store_true", help="turn the subject to face the virtual sensor")
    args = parser.parse_args(argv)
    from .sender import Sender

    host, _, port = args.listen.rpartition(":")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host or "0.0.0.0", int(port)))
    assembler = Assembler(args.face_sensor)
    with Sender.open(args.port, args.baud) as link:
        link.hello(Layout.XSENS_MVN_23, Units.METRES, Axes.X_FORWARD_Y_LEFT_Z_UP, args.rate, "xsens-mvn")
        print(f"relaying MVN datagrams from {args.listen} to {args.port}")
        while True:
            data, _ = udp.recvfrom(65536)
            try:
                done = assembler.feed(data)
            except ProtocolError as err:
                print(f"skipped a datagram: {err}")
                continue
            if done:
                time_us, body = done
                link.frame(time_us, [body])
            for message in link.poll():
                print(message)


if __name__ == "__main__":
    main()
