#!/usr/bin/env python3
"""Resident memory of the pipeline: at start, after 100 frames and after 10,000 frames.

    . scripts/env.sh && python bench/bench_memory.py [--quick] [--frames 10000]

Runs PoseTracker (tracking mode, smoothing on, plus a detector re-run every
300 frames through ``reset()`` so both models stay in the loop) over the real
frames of test/data/sample_people.mp4 played forward and backward, and reads
the resident set size from /proc/self/statm. Target: RSS after 10,000 frames
within 5 % of RSS after 100 frames. ``--quick`` runs 2,000 frames.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl

from blazepose_ros.core import PoseTracker

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 frames")
    ap.add_argument("--frames", type=int, help="frames in total (default 10,000)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    total = args.frames or (2000 if args.quick else 10_000)
    video = bl.video_frames()
    loop = video + video[::-1]  # smooth motion at the turn-around
    gc.collect()
    rows = [["process start (frames decoded)", 0, rss_mib()]]
    tracker = PoseTracker(num_threads=args.threads)
    rows.append(["models loaded", 0, rss_mib()])
    marks = sorted({1, 100, 1000, total // 2, total} - {0})
    at: dict[int, float] = {}
    t0 = time.perf_counter()
    for i in range(1, total + 1):
        if i % 300 == 0:
            tracker.reset()  # the next frame runs the detector
        tracker.process(loop[i % len(loop)], i / 30)
        if i in marks:
            at[i] = rss_mib()
            rows.append([f"after {i} frames", i, at[i]])
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ref = at.get(100, at[min(at)])
    growth = (at[total] - ref) / ref * 100
    print(bl.header("Memory"))
    print(f"{total} frames in {elapsed:.0f} s ({tracker.detector_runs} detector runs); "
          f"peak RSS {peak:.1f} MiB\n")
    print(bl.table(["point", "frames", "RSS MiB"], rows))
    verdict = "met" if abs(growth) <= 5.0 else "NOT met"
    print(f"\nRSS after {total} frames vs after 100: {growth:+.2f} % (target within 5 %: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
