"""MediaPipe Pose → skelact: the 33 world landmarks of MediaPipe's pose tracker, from a camera or a video file, sent
as protocol-v1 frames of layout `MediaPipe33`.

    python -m skelact_sender.mediapipe_pose --camera 0 --port /dev/ttyACM0
    python -m skelact_sender.mediapipe_pose --video clip.mp4 --port /dev/ttyACM0 [--realtime]

Needs `mediapipe` 0.10.x with its "solutions" API, whose wheel carries the pose models (later releases download
them at run time), and OpenCV; `models/sender/requirements-mediapipe.txt` pins a set that works, and
`cargo xtask setup --bridges` installs it into `.venv-bridges`. The tracker follows one person.

World landmarks are metres from the centre of the hips, x to the image's right, y down, z away from the camera;
`visibility` (0..1) becomes the joint's confidence (`docs/layouts.md`). A frame where nobody is found is sent with
no bodies, so the device sees the person leave.
"""

from __future__ import annotations

import argparse
import sys
import time

from .bridge import add_link_arguments, confidence_from_fraction, joint, open_link
from .protocol import Axes, Body, Layout, Units

LANDMARKS = 33


def body_from_world_landmarks(landmarks, body_id: int = 0) -> Body:
    """A `Body` from MediaPipe's `pose_world_landmarks.landmark` (33 objects with x, y, z and visibility)."""
    if len(landmarks) != LANDMARKS:
        raise ValueError(f"MediaPipe Pose gives {LANDMARKS} landmarks, got {len(landmarks)}")
    return Body(body_id, [joint(lm.x, lm.y, lm.z, confidence_from_fraction(lm.visibility)) for lm in landmarks])


def open_capture(args):
    """An OpenCV capture of the camera or the file, and its frame rate (30 when the source does not say)."""
    import cv2

    source = args.camera if args.video is None else args.video
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        what = f"camera {args.camera}" if args.video is None else f"video file {args.video}"
        raise SystemExit(f"cannot open {what} (is it there, and readable by OpenCV?)")
    fps = capture.get(cv2.CAP_PROP_FPS)
    return capture, fps if fps and fps > 0 else 30.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    source.add_argument("--video", help="a video file instead of a camera")
    add_link_arguments(parser)
    parser.add_argument("--complexity", type=int, choices=(0, 1), default=1,
                        help="pose model: 0 lite, 1 full (the heavy model is not in the wheel)")
    parser.add_argument("--realtime", action="store_true", help="pace a video file at its frame rate")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: never)")
    args = parser.parse_args(argv)

    import cv2
    import mediapipe as mp

    capture, fps = open_capture(args)
    name = "mediapipe-video" if args.video else f"mediapipe-camera{args.camera}"
    sent = found = 0
    started = time.monotonic()
    with open_link(args) as link, mp.solutions.pose.Pose(model_complexity=args.complexity) as pose:
        link.hello(Layout.MEDIAPIPE_33, Units.METRES, Axes.X_RIGHT_Y_DOWN_Z_AWAY, fps, name)
        while args.max_frames <= 0 or sent < args.max_frames:
            ok, image = capture.read()
            if not ok:
                break
            # A file's frames are timed by their index, so a replay is the same at any speed; a camera's by the clock.
            if args.video:
                timestamp_us = round(sent * 1_000_000 / fps)
                if args.realtime:
                    time.sleep(max(0.0, started + timestamp_us / 1e6 - time.monotonic()))
            else:
                timestamp_us = round((time.monotonic() - started) * 1e6)
            result = pose.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            bodies = []
            if result.pose_world_landmarks is not None:
                bodies.append(body_from_world_landmarks(result.pose_world_landmarks.landmark))
                found += 1
            link.frame(timestamp_us, bodies)
            sent += 1
            for message in link.poll():
                print(message, flush=True)
    capture.release()
    print(f"sent {sent} frames, a person in {found}", file=sys.stderr)


if __name__ == "__main__":
    main()
