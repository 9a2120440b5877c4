"""The multi-person tracker's tiles with and without the people found greyed out
(MultiPersonOptions.mask_tracked), side by side: ms per frame (two runs each, alternated),
detector / tile / landmark runs, and who is found (misses of the hand-checked people, or the
recall on the small-person mosaic of test/test_multi_person_clips.py).

    python bench/bench_mask_tracked.py    # ~2 min on one core
"""

from __future__ import annotations

import dataclasses
import os
import time

import benchlib as bl

from blazepose_ros.core import PoseTracker
from blazepose_ros.tools.identities import (
    load_identity_reference,
    mosaic_recall,
    score_run,
    shrunk_view_mosaic,
)

ROOT = bl.ROOT


def _ref(stem: str) -> dict:
    return load_identity_reference(ROOT / f"test/reference/identities_{stem}.json")


def main() -> int:
    ref_s = _ref("sports2d_demo")
    sports = bl.video_frames(ROOT / "test/data/sports2d_demo.mp4")
    # the small-person mosaic of test_multi_person_clips (the somersault left out)
    mosaic, checked = shrunk_view_mosaic(sports, ref_s, k=2, length=90, skip=lambda fi: 160 <= fi <= 190)

    def recall(out: list) -> str:
        return f"recall {round(mosaic_recall(out, checked) * len(checked))}/{len(checked)}"

    def sports_misses(out: list) -> str:
        return f"misses {len([m for m in score_run(ref_s, out)['misses'] if not 166 <= m[0] <= 188])}"

    scenes = []
    for cam in (1, 2, 3, 4):
        stem = f"pose2sim_multi_cam0{cam}"
        ref = _ref(stem)
        frames = bl.video_frames(ROOT / f"test/data/{stem}.mp4")
        scenes.append((f"pose2sim cam0{cam}, height 200", frames, 60.0,
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
