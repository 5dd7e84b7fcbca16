"""skelact_sender: the sensor side of skelact's wire protocol v1 (`docs/protocol.md`), for sensor hosts in Python.

The link is a serial port, a UDP address or a Unix-domain socket, as the device's `port` setting says
(`Sender.open`). A bridge from any skeleton source needs three calls: announce the layout once (`hello`), then send each captured
frame (`frame`), and a `heartbeat` while nobody is in view. The device answers over the same link with `Event` and
`Status` messages, which `Decoder` reads back.

    from skelact_sender import Body, Layout, Sender

    with Sender.open("/dev/ttyACM0") as link:            # or "udp://127.0.0.1:5005", "unix:///run/skelact/ingest.sock",
                                                         # or Sender(any object with write(bytes))
        link.hello(Layout.MEDIAPIPE_33, units=Units.METRES, axes=Axes.X_RIGHT_Y_DOWN_Z_AWAY, fps=30.0, name="webcam")
        link.frame(timestamp_us, [Body(id=0, joints=[(x, y, z, confidence), ...])])
        for message in link.poll():                      # events and status the device sent back
            print(message)

Everything here is checked against the golden vectors of `docs/protocol.md`, the bytes the device's Rust decoder
is tested on.
"""

from .protocol import (
    MAX_BODIES,
    MAX_JOINTS,
    MAX_PACKET_LEN,
    PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
    Axes,
    Body,
    Decoder,
    Event,
    Layout,
    ProtocolError,
    Status,
    Units,
    encode_frame,
    encode_heartbeat,
    encode_hello,
)
from .sender import Sender

__all__ = [
    "MAX_BODIES", "MAX_JOINTS", "MAX_PACKET_LEN", "PROTOCOL_MAJOR", "PROTOCOL_MINOR", "Axes", "Body", "Decoder",
    "Event", "Layout", "ProtocolError", "Sender", "Status", "Units", "encode_frame", "encode_heartbeat",
    "encode_hello",
]
