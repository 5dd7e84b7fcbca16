"""Azure Kinect / Orbbec Femto body tracking → skelact: the 32 joints of Microsoft's Body Tracking SDK (k4abt), sent
as protocol-v1 frames of layout `AzureKinect32`.

    python -m skelact_sender.azure_kinect --port /dev/ttyACM0 [--depth-mode nfov|wfov] [--cpu]

Needs the Azure Kinect Sensor SDK and Body Tracking SDK installed (`libk4a`, `libk4abt`; Orbbec Femto cameras work
through Orbbec's K4A wrapper of the same libraries) and the Python package `pykinect_azure`, which binds both through
ctypes. (`pyk4a` binds only the sensor SDK, not body tracking.) Each tracked body keeps its k4abt id.

k4abt gives millimetres in the depth camera's frame: x right, y down, z away from the camera; each joint's
`confidence_level` (NONE, LOW, MEDIUM, HIGH) becomes 0, 85, 170 or 255 (`docs/layouts.md`).
"""

from __future__ import annotations

import argparse
import sys
import time

from .bridge import add_link_arguments, destination, joint, open_link
from .protocol import MAX_BODIES, Axes, Body, Layout, Units

JOINTS = 32
CONFIDENCE = {1: 85, 2: 170, 3: 255}  # K4ABT_JOINT_CONFIDENCE_LOW, MEDIUM, HIGH; NONE and anything else: 0


def body_from_k4abt(body_id: int, joints) -> Body:
    """A `Body` from one k4abt body: `joints` are 32 objects with `position` (x, y, z in mm) and
    `confidence_level`, as `pykinect_azure`'s `Body.joints` (and k4abt's `k4abt_joint_t`) have them."""
    if len(joints) != JOINTS:
        raise ValueError(f"k4abt gives {JOINTS} joints, got {len(joints)}")
    wire = []
    for j in joints:
        p = j.position
        wire.append(joint(p.x, p.y, p.z, CONFIDENCE.get(int(j.confidence_level), 0)))
    return Body(int(body_id) & 0xFFFFFFFF, wire)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_link_arguments(parser)
    parser.add_argument("--depth-mode", choices=("nfov", "wfov"), default="nfov",
                        help="depth mode: narrow (NFOV unbinned, 30 Hz) or wide (WFOV 2x2 binned, 30 Hz)")
    parser.add_argument("--cpu", action="store_true", help="run the body tracker on the CPU (no CUDA)")
    args = parser.parse_args(argv)
    try:
        import pykinect_azure as pykinect
    except ImportError as err:
        raise SystemExit("this bridge needs pykinect_azure and the Azure Kinect Sensor and Body Tracking SDKs: "
                         "pip install pykinect_azure") from err

    pykinect.initialize_libraries(track_body=True)
    config = pykinect.default_configuration
    config.color_resolution = pykinect.K4A_COLOR_RESOLUTION_OFF
    config.depth_mode = (pykinect.K4A_DEPTH_MODE_NFOV_UNBINNED if args.depth_mode == "nfov"
                         else pykinect.K4A_DEPTH_MODE_WFOV_2X2BINNED)
    device = pykinect.start_device(config=config)
    processing = pykinect.K4ABT_TRACKER_PROCESSING_MODE_CPU if args.cpu else pykinect.K4ABT_TRACKER_PROCESSING_MODE_GPU
    tracker = pykinect.start_body_tracker(processing)
    started = time.monotonic()
    with open_link(args) as link:
        link.hello(Layout.AZURE_KINECT_32, Units.MILLIMETRES, Axes.X_RIGHT_Y_DOWN_Z_AWAY, 30.0, "azure-kinect")
        print(f"relaying k4abt bodies to {destination(args)}", file=sys.stderr)
        while True:
            device.update()
            frame = tracker.update()
            bodies = [body_from_k4abt(b.handle().id, b.joints) for b in frame.get_bodies()[:MAX_BODIES]]
            link.frame(round((time.monotonic() - started) * 1e6), bodies)
            for message in link.poll():
                print(message, flush=True)


if __name__ == "__main__":
    main()
