#!/usr/bin/env python3
"""Pose -> PoseKeypoints33 message: the slot-filling fast path vs the public constructors.

    . scripts/env.sh && python bench/bench_conversions.py [--quick]

Both builders run in this one process, alternately, on the same pose (33 keypoints, world and
camera points); the table gives the best and the median time per message over the repeats and
their ratio. ``blazepose_ros.ros.conversions`` uses the fast path only when its import-time
self-check shows it builds messages equal to the public constructors'.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl


def per_call_s(fn: Callable[[], object], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    args = ap.parse_args(argv)
    from std_msgs.msg import Header

    from blazepose_ros.core.types import Pose, Roi
    from blazepose_ros.ros import conversions as conv

    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 480, (33, 5)).astype(np.float32)
    pose = Pose(keypoints=kp, world=rng.uniform(-1, 1, (33, 3)).astype(np.float32), score=0.9,
                roi=Roi(240.0, 240.0, 300.0, 300.0, 0.1), id=3)
    cam, h = np.ones((33, 3), np.float32), Header(frame_id="camera_optical_frame")

    def fast() -> object:
        return conv.pose_to_msg(pose, h, (640, 480), cam)

    def slow() -> object:
        return conv._msg_slow(h, pose.id, pose.score, conv._keypoints_slow(pose.keypoints.tolist()),
                              conv._points_slow(pose.world.tolist()), True, conv._points_slow(cam.tolist()),
                              conv._roi_slow(pose.roi), 640, 480)

    n, repeats = (200, 5) if args.quick else (1000, 15)
    times: dict[str, list[float]] = {"fast path": [], "public constructors": []}
    for _ in range(repeats):  # alternate, so drifts in machine load hit both alike
        times["fast path"].append(per_call_s(fast, n))
        times["public constructors"].append(per_call_s(slow, n))
    base = min(times["public constructors"])
    rows = [[name, f"{min(t) * 1e6:.1f}", f"{statistics.median(t) * 1e6:.1f}", f"{base / min(t):.2f}x"]
            for name, t in times.items()]
    print(bl.header("pose_to_msg, one person (33 keypoints + world + camera points)"))
    print(f"fast path in use: {conv.USE_FAST_PATH}; {repeats} repeats x {n} messages\n")
    print(bl.table(["builder", "best us/msg", "median us/msg", "speed-up (best)"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
