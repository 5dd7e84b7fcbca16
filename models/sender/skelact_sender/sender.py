"""A link to a skelact device: frames out, events and status back."""

from __future__ import annotations

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
