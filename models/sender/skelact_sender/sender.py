"""A link to a skelact device: frames out, events and status back."""

from __future__ import annotations

import select
import socket

from .protocol import JOINTS, Axes, Decoder, Layout, ProtocolError, Units, encode_frame, encode_heartbeat, encode_hello


class Sender:
    """Sends protocol-v1 packets over `stream` (anything with `write(bytes)`; `read(n)` too for `poll`).

    Sequence numbers are kept here (+1 per frame, wrapping at 2^32), and once `hello` announced a layout every
    body must have its joint count, as the device requires.
    """

    def __init__(self, stream):
        self.stream = stream
        self.sequence = 0
        self.joint_count = None
        self.decoder = Decoder()

    @classmethod
    def serial(cls, port: str, baud: int = 921_600, timeout: float = 0.0):
        """A serial port (USB CDC-ACM or UART; needs pyserial). `timeout` bounds each `poll` read."""
        try:
            import serial
        except ImportError as err:
            raise ImportError("a serial port needs pyserial: pip install 'skelact_sender[serial]'") from err
        return cls(serial.Serial(port, baud, timeout=timeout, write_timeout=2.0))

    @classmethod
    def udp(cls, host: str, port: int, timeout: float = 0.0):
        """Datagrams to a device that reads `udp://HOST:PORT`: one packet per datagram, and the device answers the
        address they come from. Datagrams can be lost (the device counts lost frames as sequence gaps)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.connect((host, port))
        return cls(SocketStream(sock, timeout, datagrams=True))

    @classmethod
    def unix(cls, path: str, timeout: float = 0.0):
        """A Unix-domain stream socket a device listens on (`unix:///PATH`): the same bytes as over serial. The
        device reads one sender at a time; a second one waits until the first disconnects."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        return cls(SocketStream(sock, timeout, datagrams=False))

    @classmethod
    def open(cls, port: str, baud: int = 921_600, timeout: float = 0.0):
        """The link a device `port` setting names: `udp://HOST:PORT`, `unix:///PATH`, else a serial port."""
        if port.startswith("udp://"):
            host, sep, number = port[len("udp://"):].rpartition(":")
            if not (sep and host and number.isdigit()):
                raise ValueError(f"{port!r} is not udp://HOST:PORT")
            return cls.udp(host.strip("[]"), int(number), timeout)
        if port.startswith("unix://"):
            return cls.unix(port[len("unix://"):], timeout)
        return cls.serial(port, baud, timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        close = getattr(self.stream, "close", None)
        if close:
            close()

    def _write(self, packet: bytes):
        self.stream.write(packet)
        flush = getattr(self.stream, "flush", None)
        if flush:
            flush()

    def hello(self, layout: Layout, units: Units = Units.METRES, axes: Axes = Axes.X_LEFT_Y_UP_Z_FORWARD,
              fps: float = 30.0, name: str = ""):
        """Announces the sensor; send it first, and again whenever a setting changes."""
        self._write(encode_hello(layout, units, axes, fps, name))
        self.joint_count = JOINTS[Layout(layout)]

    def frame(self, timestamp_us: int, bodies, sequence: int | None = None):
        """Sends one captured frame (`bodies`: `Body` values). The sequence number advances by one unless given
        (a sensor that knows it dropped frames gives its own, and the device counts the gap)."""
        if sequence is not None:
            self.sequence = sequence & 0xFFFFFFFF
        self._write(encode_frame(self.sequence, timestamp_us, bodies, self.joint_count))
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF

    def heartbeat(self, timestamp_us: int):
        """Says the sensor is alive while nobody is in view."""
        self._write(encode_heartbeat(timestamp_us))

    def poll(self, size: int = 4096):
        """The events and status the device wrote back since the last poll (reads what is there)."""
        read = getattr(self.stream, "read", None)
        if read is None:
            raise ProtocolError("this stream cannot be read: give Sender a readable stream to poll")
        data = read(size) or b""
        return list(self.decoder.feed(data))


class SocketStream:
    """A connected socket as the byte stream `Sender` writes to: `write` sends (over UDP, one datagram per packet,
    since `Sender` writes whole packets), `read` returns what arrived within `timeout` seconds, or b"" if nothing did.
    A write that waits more than two seconds (the device stopped reading) raises `TimeoutError`."""

    WRITE_TIMEOUT = 2.0

    def __init__(self, sock: socket.socket, timeout: float, datagrams: bool):
        self.sock = sock
        self.timeout = timeout
        self.datagrams = datagrams
        sock.settimeout(self.WRITE_TIMEOUT)

    def write(self, data: bytes):
        if not self.datagrams:
            self.sock.sendall(data)
            return
        try:
            self.sock.send(data)
        except ConnectionRefusedError:
            # Nobody listened when an earlier datagram arrived (the device not started yet): that one was lost, as a
            # datagram can be; this one went out.
            self.sock.send(data)

    def read(self, size: int) -> bytes:
        ready, _, _ = select.select([self.sock], [], [], self.timeout)
        if not ready:
            return b""
        try:
            # A datagram is read whole or not at all: ask for the largest.
            return self.sock.recv(65_536 if self.datagrams else size)
        except ConnectionRefusedError:
            return b""

    def close(self):
        self.sock.close()
