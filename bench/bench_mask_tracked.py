"""The multi-person tracker's tiles with and without the people found greyed out
(MultiPersonOptions.mask_tracked), side by side: ms per frame (two runs each, alternated),
detector / tile / landmark runs, and who is found (misses of the hand-checked people, or the
recall on the small-person mosaic of test/test_multi_person_clips.py).

    python bench/bench_mask_tracked.py    # ~2 min on one core
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))
from test_multi_person_clips import _frames, score_run  # noqa: E402

from blazepose_ros.core import PoseTracker  # noqa: E402


def _ref(stem: str) -> dict:
    return json.loads((ROOT / f"test/reference/identities_{stem}.json").read_text())


def mosaic_scene(sports: list[np.ndarray], ref: dict) -> tuple[list[np.ndarray], list]:
    """The 768x432 mosaic of four shrunk sports2d views and its checked people (as the test)."""
    tw, th, length = 384, 216, 90
    sx, sy = tw / sports[0].shape[1], th / sports[0].shape[0]
    offsets = [round(q * (len(sports) - length) / 3) for q in range(4)]
    views = [[cv2.resize(f, (tw, th), interpolation=cv2.INTER_AREA) for f in sports[o:o + length]]
             for o in offsets]
    frames = [np.vstack([np.hstack([views[r * 2 + c][i] for c in range(2)]) for r in range(2)])
              for i in range(length)]
    checked = []
    for i in range(length):
        for q, o in enumerate(offsets):
            if 160 <= i + o <= 190:
                continue
            for p in ref["frames"].get(str(i + o), []):
                x0, y0, x1, y1 = p["box"]
                if p.get("occluded", False) or (y1 - y0) * sy < 60:
                    continue
                ox, oy = (q % 2) * tw, (q // 2) * th
                checked.append((i, [x0 * sx + ox, y0 * sy + oy, x1 * sx + ox, y1 * sy + oy]))
    return frames, checked


def main() -> int:
    ref_s = _ref("sports2d_demo")
    sports = _frames(ROOT / "test/data/sports2d_demo.mp4")
    mosaic, checked = mosaic_scene(sports, ref_s)

    def recall(out: list) -> str:
        hits = 0
        for i, (x0, y0, x1, y1) in checked:
            hips = [(p.keypoints[23, :2] + p.keypoints[24, :2]) / 2 for p in out[i]]
            hits += any(x0 <= h[0] < x1 and y0 <= h[1] < y1 for h in hips)
        return f"recall {hits}/{len(checked)}"

    def sports_misses(out: list) -> str:
        return f"misses {len([m for m in score_run(ref_s, out)['misses'] if not 166 <= m[0] <= 188])}"

    scenes = []
    for cam in (1, 2, 3, 4):
        stem = f"pose2sim_multi_cam0{cam}"
        ref = _ref(stem)
        scenes.append((f"pose2sim cam0{cam}, height 200", _frames(ROOT / f"test/data/{stem}.mp4"), 60.0,
                       {"num_poses": len(ref["people"]), "small_person_height": 200},
                       lambda out, ref=ref: f"misses {len(score_run(ref, out)['misses'])}"))
    scenes += [
        ("sports2d, num_poses 3, tiles auto", sports, 30.0, {"num_poses": 3, "small_person_tiles": (0, 0)},
         sports_misses),
        ("mosaic 768x432, height 80, 3 tiles/run", mosaic, 30.0,
         {"num_poses": 8, "small_person_height": 80, "tiles_per_run": 3}, recall),
        ("mosaic 768x432, height 80, 1 tile/run", mosaic, 30.0, {"num_poses": 8, "small_person_height": 80},
         recall),
    ]
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| scene | greyed out | ms / frame (2 runs) | detector runs | tile runs | landmark runs | found |")
    print("|---|---|---|---|---|---|---|")
    for name, frames, fps, kw, score in scenes:
        rows: dict[bool, list] = {}
        for mask in (False, True, False, True):
            t = PoseTracker(**kw)
            t.multi.options = dataclasses.replace(t.multi.options, mask_tracked=mask)
            t0 = time.perf_counter()
            out = [t.process(f, i / fps) for i, f in enumerate(frames)]
            ms = 1000 * (time.perf_counter() - t0) / len(frames)
            m = t.multi
            rows.setdefault(mask, []).append((ms, m.detector_runs, m.tile_runs, m.landmark_runs, score(out)))
        for mask in (False, True):
            (ms1, det, tiles, lm, found), (ms2, *_) = rows[mask]
            on = "on" if mask else "off"
            print(f"| {name} | {on} | {ms1:.1f}, {ms2:.1f} | {det} | {tiles} | {lm} | {found} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
