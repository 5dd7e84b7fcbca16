"""Writes `tests/fixtures/layouts/kinect_v1.json`: a few real Kinect v1 frames and their NTU-25 mapping.

    .venv/bin/python models/tools/write_layout_golden.py

Three frames of one NW-UCLA sequence and three of one UTD-MHAD sequence (first, middle and last frame), read by the
dataset readers (UTD-MHAD reordered to the Kinect SDK order), each with its 20 Kinect v1 joints and the NTU-25 joints
`skelact_models.layouts.map_to_ntu` computes. The Rust layout tests map the same joints on the device's path and
must get the same f32 values; `models/tests/test_layouts.py` checks the file against the readers and the mapping.
A handful of numbers derived from the datasets, not the datasets themselves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from skelact_models.data import nwucla, utdmhad
from skelact_models.layouts import map_to_ntu

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "fixtures" / "layouts" / "kinect_v1.json"
SAMPLES = (("nw-ucla", nwucla, "a01_s01_e00_v01"), ("utd-mhad", utdmhad, "a1_s1_t1"))


def f32_list(array):
    """Each float32 as the shortest decimal that reads back as that float32 (via float64)."""
    return [[float(np.float32(c)) for c in row] for row in np.asarray(array, dtype=np.float32)]


def golden_frames():
    frames = []
    for dataset, module, name in SAMPLES:
        path = next(p for p in module.list_files() if p.stem.removesuffix("_skeleton") == name)
        joints = module.read_sequence(path)["joints"]
        for index in (0, len(joints) // 2, len(joints) - 1):
            ntu, valid = map_to_ntu(joints[index])
            frames.append({"dataset": dataset, "source": f"{dataset} {name} frame {index}",
                           "frame": index, "joints": f32_list(joints[index]), "ntu": f32_list(ntu),
                           "valid": [bool(v) for v in valid]})
    return frames


def main():
    if nwucla.root() is None or utdmhad.root() is None:
        print("SKIPPED: ../shared/datasets absent; nothing written", file=sys.stderr)
        return 0
    golden = {"format": "skelact-layout-golden", "version": 1, "layout": "KinectV1", "units": "m",
              "axes": "XLeftYUpZForward", "writer": "models/tools/write_layout_golden.py",
              "frames": golden_frames()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {OUT} ({len(golden['frames'])} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
