"""The sensor bridges of `skelact_sender`: their confidence scales against `docs/layouts.md`, and the frames each one
writes read back by the device's own decoder (`skelact classify` on the bridge's recording: every frame accepted,
the layout mapped, windows classified). The MediaPipe bridge also runs for real, on a clip of a photograph of a
person, in `.venv-bridges`. The Azure Kinect and ZED bridges need their SDKs and cameras to run; here their
conversion of the SDK's body objects is what is tested."""

import json
import math
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from skelact_sender import Axes, Layout, Sender, Units
from skelact_sender.azure_kinect import body_from_k4abt
from skelact_sender.bridge import MISSING, Recording, confidence_from_fraction
from skelact_sender.mediapipe_pose import body_from_world_landmarks
from skelact_sender.zed import body_from_zed

FRAMES = 90  # three seconds at 30 Hz: more than one window of the default model


def skelact_binary():
    binary = os.environ.get("SKELACT_BIN")
    if not (binary and Path(binary).is_file()):
        pytest.skip("SKIPPED: SKELACT_BIN not set: run through `cargo xtask test`")
    return binary


def classify(binary, recording):
    """`skelact classify --json` of one recording, on the default bundle."""
    done = subprocess.run([binary, "classify", "--json", str(recording)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["files"][0]


def sway(frame, joint, scale):
    """A body that moves: each joint on its own slow circle around a standing pose, in the bridge's units."""
    phase = 0.15 * frame + 0.3 * joint
    return (scale * (0.05 * joint % 0.6 - 0.3 + 0.05 * math.cos(phase)), scale * (0.9 - 0.06 * joint % 1.8),
            scale * (2.5 + 0.05 * math.sin(phase)))


def test_confidences_follow_the_layouts_table():
    assert [confidence_from_fraction(v) for v in (0.0, 1e-6, 0.5, 1.0, 2.0, -1.0, float("nan"))] == \
        [0, 1, 128, 255, 255, 0, 0]
    position = SimpleNamespace(x=1.0, y=2.0, z=3.0)
    joints = [SimpleNamespace(position=position, confidence_level=level % 4) for level in range(32)]
    assert [j[3] for j in body_from_k4abt(7, joints).joints[:5]] == [0, 85, 170, 255, 0]
    keypoints = [(0.1, 0.2, 0.3), (float("nan"),) * 3, (0.1, 0.2, 0.3), (0.1, 0.2, 0.3)] + [(0.0, 0.0, 0.0)] * 30
    confidence = [50.0, 90.0, float("nan"), 100.0] + [0.0] * 30
    body = body_from_zed(-1, keypoints, confidence, 34)
    # An undetected keypoint (NaN position or confidence) goes out as not tracked, never as NaN on the wire.
    assert body.joints[:4] == [(0.1, 0.2, 0.3, 128), MISSING, MISSING, (0.1, 0.2, 0.3, 255)]
    assert body.id == 0xFFFFFFFF
    with pytest.raises(ValueError, match="34"):
        body_from_zed(1, keypoints[:33], confidence[:33], 34)
    landmark = SimpleNamespace(x=0.1, y=-0.5, z=0.2, visibility=0.25)
    assert body_from_world_landmarks([landmark] * 33).joints[0] == (0.1, -0.5, 0.2, 64)


def k4abt_joints(frame):
    return [SimpleNamespace(position=SimpleNamespace(**dict(zip("xyz", sway(frame, j, 1000.0)))),
                            confidence_level=2 if j % 9 else 1) for j in range(32)]


def zed_body(frame, count):
    return ([sway(frame, j, 1.0) for j in range(count)], [80.0 if j % 7 else float("nan") for j in range(count)])


def mediapipe_landmarks(frame):
    return [SimpleNamespace(**dict(zip("xyz", sway(frame, j, 1.0))), visibility=0.9) for j in range(33)]


BRIDGES = {
    "azure-kinect": (Layout.AZURE_KINECT_32, Units.MILLIMETRES, Axes.X_RIGHT_Y_DOWN_Z_AWAY,
                     lambda f: body_from_k4abt(1, k4abt_joints(f))),
    "zed-34": (Layout.ZED_BODY_34, Units.METRES, Axes.X_RIGHT_Y_UP_Z_TOWARDS, lambda f: body_from_zed(2, *zed_body(f, 34), 34)),
    "zed-38": (Layout.ZED_BODY_38, Units.METRES, Axes.X_RIGHT_Y_UP_Z_TOWARDS, lambda f: body_from_zed(3, *zed_body(f, 38), 38)),
    "mediapipe": (Layout.MEDIAPIPE_33, Units.METRES, Axes.X_RIGHT_Y_DOWN_Z_AWAY,
                  lambda f: body_from_world_landmarks(mediapipe_landmarks(f))),
}


@pytest.mark.parametrize("bridge", sorted(BRIDGES))
def test_each_bridge_writes_frames_the_device_reads(bridge, tmp_path):
    binary = skelact_binary()
    layout, units, axes, body = BRIDGES[bridge]
    recording = tmp_path / f"{bridge}.skr"
    with Sender(Recording(str(recording))) as link:
        link.hello(layout, units, axes, 30.0, bridge)
        for frame in range(FRAMES):
            link.frame(round(frame * 1e6 / 30), [body(frame)])
    result = classify(binary, recording)
    assert (result["frames"], result["frames_refused"], result["windows_failed"]) == (FRAMES, 0, 0), result
    assert result["windows"], f"{bridge}: no window was classified"


MAKE_CLIP = """
import sys, cv2, numpy as np, skimage.data
# The astronaut photograph (a real person, shipped with scikit-image), slowly zoomed and panned: a clip that a
# camera might have taken, which MediaPipe must track from frame to frame.
photo = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
writer = cv2.VideoWriter(sys.argv[1], cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (512, 512))
for i in range(int(sys.argv[2])):
    zoom, shift = 1.0 + 0.002 * i, 0.5 * i
    warp = np.float32([[zoom, 0, -256 * (zoom - 1) + shift], [0, zoom, -256 * (zoom - 1)]])
    writer.write(cv2.warpAffine(photo, warp, (512, 512), borderMode=cv2.BORDER_REFLECT))
writer.release()
"""


def test_the_mediapipe_bridge_tracks_a_person_in_a_video(tmp_path):
    binary = skelact_binary()
    python = os.environ.get("SKELACT_BRIDGES_PYTHON")
    if not (python and Path(python).is_file()):
        pytest.skip("SKIPPED: SKELACT_BRIDGES_PYTHON not set: `cargo xtask setup --bridges` makes .venv-bridges")
    clip, recording = tmp_path / "astronaut.avi", tmp_path / "astronaut.skr"
    subprocess.run([python, "-c", MAKE_CLIP, str(clip), str(FRAMES)], check=True, timeout=300)
    done = subprocess.run([python, "-m", "skelact_sender.mediapipe_pose", "--video", str(clip), "--record",
                           str(recording)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    sent, found = (int(n) for n in done.stderr.rsplit("sent ", 1)[1].split(" frames, a person in "))
    assert sent == FRAMES and found >= FRAMES - 5, done.stderr[-2000:]
    result = classify(binary, recording)
    assert (result["frames"], result["frames_refused"], result["windows_failed"]) == (FRAMES, 0, 0), result
    assert result["windows"], "MediaPipe's person gave no window"
