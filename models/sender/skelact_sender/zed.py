"""ZED body tracking → skelact: the BODY_34 or BODY_38 keypoints of the Stereolabs ZED SDK, sent as protocol-v1 frames
of layout `ZedBody34` or `ZedBody38`.

    python -m skelact_sender.zed --port /dev/ttyACM0 [--format 38] [--svo recording.svo2]

Needs the ZED SDK and its Python API `pyzed`, which Stereolabs installs with the SDK (it is not on PyPI). The
camera is opened in metres with `RIGHT_HANDED_Y_UP` coordinates (x right, y up, z towards the camera), which the
Hello announces. Each tracked body keeps its id; `keypoint_confidence` (0..100, NaN when not detected) becomes the
joint's confidence (`docs/layouts.md`).
"""

from __future__ import annotations

import argparse
import math
import sys

from .bridge import add_link_arguments, confidence_from_fraction, destination, joint, open_link
from .protocol import MAX_BODIES, Axes, Body, Layout, Units

LAYOUTS = {34: Layout.ZED_BODY_34, 38: Layout.ZED_BODY_38}


def body_from_zed(body_id: int, keypoints, keypoint_confidence, keypoint_count: int) -> Body:
    """A `Body` from one `sl.BodyData`: `keypoints` (N×3, metres) and `keypoint_confidence` (N, 0..100 or NaN)."""
    if len(keypoints) != keypoint_count or len(keypoint_confidence) != keypoint_count:
        raise ValueError(f"BODY_{keypoint_count} gives {keypoint_count} keypoints, got {len(keypoints)} positions "
                         f"and {len(keypoint_confidence)} confidences")
    wire = []
    for (x, y, z), percent in zip(keypoints, keypoint_confidence):
        percent = float(percent)
        wire.append(joint(x, y, z, 0 if math.isnan(percent) else confidence_from_fraction(percent / 100.0)))
    return Body(int(body_id) & 0xFFFFFFFF, wire)  # the wire id is a u32; ZED marks an untracked body -1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_link_arguments(parser)
    parser.add_argument("--format", type=int, choices=sorted(LAYOUTS), default=34, help="BODY_34 or BODY_38")
    parser.add_argument("--svo", help="play back an SVO recording instead of the live camera")
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args(argv)
    try:
        import pyzed.sl as sl
    except ImportError as err:
        raise SystemExit("this bridge needs the ZED SDK and its Python API (pyzed), which the SDK installer "
                         "provides: https://www.stereolabs.com/docs/app-development/python/install") from err

    init = sl.InitParameters()
    init.coordinate_units = sl.UNIT.METER
    init.coordinate_system = sl.COORDINATE_SYSTEM.RIGHT_HANDED_Y_UP
    init.camera_fps = args.fps
    if args.svo:
        init.set_from_svo_file(args.svo)
    camera = sl.Camera()
    status = camera.open(init)
    if status != sl.ERROR_CODE.SUCCESS:
        raise SystemExit(f"cannot open the ZED camera: {status}")
    # Tracking bodies across frames (stable ids) needs the camera's own positional tracking.
    camera.enable_positional_tracking(sl.PositionalTrackingParameters())
    tracking = sl.BodyTrackingParameters()
    tracking.enable_tracking = True
    tracking.body_format = sl.BODY_FORMAT.BODY_34 if args.format == 34 else sl.BODY_FORMAT.BODY_38
    status = camera.enable_body_tracking(tracking)
    if status != sl.ERROR_CODE.SUCCESS:
        raise SystemExit(f"cannot start ZED body tracking: {status}")
    runtime = sl.BodyTrackingRuntimeParameters()
    runtime.detection_confidence_threshold = 40
    bodies = sl.Bodies()
    with open_link(args) as link:
        link.hello(LAYOUTS[args.format], Units.METRES, Axes.X_RIGHT_Y_UP_Z_TOWARDS, float(args.fps), "zed")
        print(f"relaying ZED BODY_{args.format} bodies to {destination(args)}", file=sys.stderr)
        while camera.grab() == sl.ERROR_CODE.SUCCESS:
            camera.retrieve_bodies(bodies, runtime)
            wire = [body_from_zed(b.id, b.keypoint, b.keypoint_confidence, args.format)
                    for b in bodies.body_list[:MAX_BODIES]]
            link.frame(bodies.timestamp.get_microseconds(), wire)
            for message in link.poll():
                print(message, flush=True)
    camera.close()


if __name__ == "__main__":
    main()
