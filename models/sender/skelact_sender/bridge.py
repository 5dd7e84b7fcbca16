"""What every bridge shares: the confidence scales of `docs/layouts.md` (the same functions as the device's
`skelact_runtime::layout`), a joint that is safe to put on the wire, and the link to the device."""

from __future__ import annotations

import math

from .protocol import ProtocolError

MISSING = (0.0, 0.0, 0.0, 0)


def confidence_from_fraction(score: float) -> int:
    """A 0..1 score as the wire's 0..255 confidence: NaN and non-positive scores are 0 (not tracked), and a positive
    score never rounds down to 0 (`layout::confidence_from_fraction`)."""
    if score is None or math.isnan(score) or score <= 0.0:
        return 0
    return max(1, min(255, int(score * 255.0 + 0.5)))


def joint(x: float, y: float, z: float, confidence: int):
    """(x, y, z, confidence) for the wire. SDKs mark an undetected joint with NaN (or infinite) coordinates, which
    the protocol refuses: such a joint goes out as not tracked, at the origin."""
    if confidence <= 0 or not all(math.isfinite(v) for v in (x, y, z)):
        return MISSING
    return (float(x), float(y), float(z), int(confidence))


class Recording:
    """A protocol-v1 recording (`.skr`) as a link: what would go to the device goes to the file, which `skelact
    classify`, `replay` and `convert` read. Nothing comes back."""

    def __init__(self, path: str):
        self.file = open(path, "wb")  # noqa: SIM115 (closed by `Sender.close`)

    def write(self, data: bytes):
        self.file.write(data)

    def read(self, _size: int) -> bytes:
        return b""

    def close(self):
        self.file.close()


def add_link_arguments(parser):
    """The options that say where the frames go: the device, or a recording of them."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="the skelact device's port: a serial port (or pty), udp://HOST:PORT or unix:///PATH")
    where.add_argument("--record", metavar="FILE.skr", help="write a protocol-v1 recording instead")
    parser.add_argument("--baud", type=int, default=921_600)


def destination(args) -> str:
    """Where the frames go, for messages."""
    return args.port or args.record


def open_link(args):
    """The `Sender` the options name."""
    from .sender import Sender

    try:
        if args.record:
            return Sender(Recording(args.record))
        return Sender.open(args.port, args.baud)
    except OSError as err:
        raise ProtocolError(f"cannot open {destination(args)}: {err}") from err
