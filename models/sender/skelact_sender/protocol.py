"""Protocol v1 packets: `COBS(version ‖ postcard(message) ‖ CRC-32) ‖ 0x00` (`docs/protocol.md`, "Packet")."""

from __future__ import annotations

import enum
import math
import struct
import zlib
from dataclasses import dataclass, field

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 1
MAX_PACKET_LEN = 3072
MAX_BODIES = 6
MAX_JOINTS = 38
MAX_SENSOR_NAME = 32

# Message variant indices.
HELLO, FRAME, HEARTBEAT, EVENT, STATUS = range(5)


class Layout(enum.IntEnum):
    """Joint layouts (`docs/layouts.md`), with their joint counts in `JOINTS`."""

    KINECT_V2 = 0
    AZURE_KINECT_32 = 1
    ZED_BODY_34 = 2
    ZED_BODY_38 = 3
    MEDIAPIPE_33 = 4
    XSENS_MVN_23 = 5
    KINECT_V1 = 6
    OPENNI_15 = 7


JOINTS = {Layout.KINECT_V2: 25, Layout.AZURE_KINECT_32: 32, Layout.ZED_BODY_34: 34, Layout.ZED_BODY_38: 38,
          Layout.MEDIAPIPE_33: 33, Layout.XSENS_MVN_23: 23, Layout.KINECT_V1: 20, Layout.OPENNI_15: 15}


class Units(enum.IntEnum):
    METRES = 0
    CENTIMETRES = 1
    MILLIMETRES = 2


class Axes(enum.IntEnum):
    """Axis conventions (`docs/protocol.md`, Hello)."""

    X_LEFT_Y_UP_Z_FORWARD = 0  # Kinect v2, the model's
    X_RIGHT_Y_DOWN_Z_AWAY = 1  # k4abt, ZED IMAGE, MediaPipe
    X_RIGHT_Y_UP_Z_TOWARDS = 2  # ZED RIGHT_HANDED_Y_UP
    X_FORWARD_Y_LEFT_Z_UP = 3  # Xsens, ROS


class ProtocolError(ValueError):
    """A message that cannot be sent, or bytes that are not a packet."""


@dataclass
class Body:
    """One tracked body: its id (stable while tracked) and joints as (x, y, z, confidence 0..255)."""

    id: int
    joints: list = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    body_id: int
    action_id: int
    label_index: int
    confidence: float
    start_us: int
    end_us: int
    phase: str  # "begin" or "end"

    UNKNOWN = 65535


@dataclass(frozen=True)
class Status:
    uptime_ms: int
    packets_ok: int
    crc_errors: int
    cobs_errors: int
    length_errors: int
    decode_errors: int
    version_errors: int
    invalid_values: int
    dropped_frames: int
    windows_run: int
    windows_dropped: int
    events: int
    active_tracks: int
    health: str  # "ok", "no_sensor", "overloaded", "link_errors"


HEALTH = ("ok", "no_sensor", "overloaded", "link_errors")
PHASE = ("begin", "end")


# -- postcard ----------------------------------------------------------------------------------------------------

def _varint(value: int, bits: int) -> bytes:
    if not 0 <= value < 1 << bits:
        raise ProtocolError(f"{value} does not fit in u{bits}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _f32(value: float) -> bytes:
    if not math.isfinite(value):
        raise ProtocolError(f"coordinates must be finite, got {value}")
    return struct.pack("<f", value)


def _u8(value: int) -> bytes:
    if not 0 <= value <= 255:
        raise ProtocolError(f"{value} does not fit in u8")
    return bytes([value])


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise ProtocolError("message truncated")
        self.at += 1
        return self.data[self.at - 1]

    def varint(self, bits: int) -> int:
        value, shift = 0, 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift >= bits + 7:
                raise ProtocolError("varint too long")
        if value >= 1 << bits:
            raise ProtocolError(f"varint does not fit in u{bits}")
        return value

    def f32(self) -> float:
        if self.at + 4 > len(self.data):
            raise ProtocolError("message truncated")
        self.at += 4
        return struct.unpack("<f", self.data[self.at - 4:self.at])[0]

    def done(self):
        if self.at != len(self.data):
            raise ProtocolError("trailing bytes after the message")


# -- messages ----------------------------------------------------------------------------------------------------

def encode_hello(layout: Layout, units: Units = Units.METRES, axes: Axes = Axes.X_LEFT_Y_UP_Z_FORWARD,
                 fps: float = 30.0, name: str = "") -> bytes:
    """The packet announcing the sensor's layout, units, axes, nominal rate and name."""
    raw = name.encode("utf-8")
    if len(raw) > MAX_SENSOR_NAME:
        raise ProtocolError(f"sensor name longer than {MAX_SENSOR_NAME} bytes of UTF-8")
    message = (_varint(HELLO, 32) + _u8(PROTOCOL_MAJOR) + _u8(PROTOCOL_MINOR) + _varint(int(Layout(layout)), 32)
               + _varint(int(Units(units)), 32) + _varint(int(Axes(axes)), 32)
               + _varint(round(fps * 1000), 32) + _varint(len(raw), 32) + raw)
    return packet(message)


def encode_frame(sequence: int, timestamp_us: int, bodies, joint_count: int | None = None) -> bytes:
    """The packet of one captured frame. `joint_count` (the announced layout's) is checked when given."""
    bodies = list(bodies)
    if len(bodies) > MAX_BODIES:
        raise ProtocolError(f"{len(bodies)} bodies in one frame, at most {MAX_BODIES}")
    out = bytearray(_varint(FRAME, 32) + _varint(sequence & 0xFFFFFFFF, 32) + _varint(timestamp_us, 64))
    out += _varint(len(bodies), 32)
    for body in bodies:
        joints = list(body.joints)
        if len(joints) > MAX_JOINTS:
            raise ProtocolError(f"body {body.id} has {len(joints)} joints, at most {MAX_JOINTS}")
        if joint_count is not None and len(joints) != joint_count:
            raise ProtocolError(f"body {body.id} has {len(joints)} joints, the layout {joint_count}")
        out += _varint(body.id, 32) + _varint(len(joints), 32)
        for x, y, z, confidence in joints:
            out += _f32(x) + _f32(y) + _f32(z) + _u8(int(confidence))
    return packet(bytes(out))


def encode_heartbeat(timestamp_us: int) -> bytes:
    return packet(_varint(HEARTBEAT, 32) + _varint(timestamp_us, 64))


def _last_enum(r: _Reader, names, what: str) -> str:
    """The message's last field, an enum, by name; nothing may follow it."""
    index = r.varint(32)
    if index >= len(names):
        raise ProtocolError(f"unknown {what} {index}")
    r.done()
    return names[index]


def decode_message(payload: bytes):
    """A decoded message (version and CRC already stripped): Event, Status, or ("hello"|"frame"|"heartbeat", ...)."""
    r = _Reader(payload)
    variant = r.varint(32)
    if variant == EVENT:
        fields = (r.varint(32), r.varint(16), r.varint(16), r.f32(), r.varint(64), r.varint(64))
        return Event(*fields, _last_enum(r, PHASE, "event phase"))
    if variant == STATUS:
        fields = [r.varint(64)] + [r.varint(32) for _ in range(11)] + [r.byte()]
        return Status(*fields, _last_enum(r, HEALTH, "health"))
    if variant == HEARTBEAT:
        timestamp = r.varint(64)
        r.done()
        return ("heartbeat", timestamp)
    if variant in (HELLO, FRAME):
        return ("hello" if variant == HELLO else "frame", payload)
    raise ProtocolError(f"unknown message variant {variant}")


# -- packets -----------------------------------------------------------------------------------------------------

def cobs_encode(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out, at = bytearray(), 0
    while at < len(data):
        code = data[at]
        # A block is its code byte and code - 1 non-zero bytes, all inside the packet.
        if code == 0 or at + code > len(data) or 0 in data[at + 1:at + code]:
            raise ProtocolError("invalid COBS")
        out += data[at + 1:at + code]
        at += code
        if code < 255 and at < len(data):
            out.append(0)
    return bytes(out)


def packet(message: bytes) -> bytes:
    """`COBS(version ‖ message ‖ CRC-32 LE) ‖ 0x00`."""
    body = bytes([PROTOCOL_MAJOR]) + message
    framed = cobs_encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00"
    if len(framed) - 1 > MAX_PACKET_LEN:
        raise ProtocolError(f"packet of {len(framed) - 1} bytes, at most {MAX_PACKET_LEN}")
    return framed


def unpack(framed: bytes) -> bytes:
    """The message of one packet (without its delimiter): checks COBS, length, CRC and version."""
    body = cobs_decode(framed)
    if len(body) < 6:
        raise ProtocolError("packet too short")
    payload, crc = body[:-4], struct.unpack("<I", body[-4:])[0]
    if zlib.crc32(payload) != crc:
        raise ProtocolError(f"CRC mismatch: computed {zlib.crc32(payload):#010x}, received {crc:#010x}")
    if payload[0] != PROTOCOL_MAJOR:
        raise ProtocolError(f"protocol major version {payload[0]} is not supported")
    return payload[1:]


class Decoder:
    """Reads packets from a byte stream in chunks of any size; a damaged packet costs that packet only."""

    def __init__(self):
        self.buffer = bytearray()
        self.errors = 0

    def feed(self, data: bytes):
        """Yields every message the bytes complete, in order (damaged packets are counted in `errors`)."""
        self.buffer += data
        while True:
            end = self.buffer.find(0)
            if end < 0:
                if len(self.buffer) > MAX_PACKET_LEN:
                    self.buffer.clear()
                    self.errors += 1
                return
            framed = bytes(self.buffer[:end])
            del self.buffer[:end + 1]
            if not framed:
                continue
            try:
                yield decode_message(unpack(framed))
            except ProtocolError:
                self.errors += 1
