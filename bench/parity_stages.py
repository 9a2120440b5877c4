#!/usr/bin/env python3
"""Where does our pipeline depart from MediaPipe's? Stage-by-stage, open loop.

    . scripts/env.sh && python bench/parity_stages.py [--case video_tracking] [--frames 30]

MediaPipe runs live in the reference venv with its internal streams observed
(detection, this frame's ROI, unfiltered / filtered landmarks, next ROI). Each of
our stages is then fed MediaPipe's own input for that stage, so an error cannot
come from an earlier stage or an earlier frame:

1. detector -> ROI: our detector on the frames where MediaPipe ran its detector.
2. landmark stage (crop, model, decode, heatmap refinement, projection): our
   PoseLandmarker on MediaPipe's ROI, vs MediaPipe's unfiltered landmarks.
3. filters: our smoothers fed MediaPipe's unfiltered landmarks, aux and world
   points with the same stamps, vs MediaPipe's filtered outputs.
4. next ROI: from MediaPipe's filtered aux points, vs MediaPipe's next ROI.

Prints per-stage median / max errors and the worst frames.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import parity_lib as pl  # noqa: E402
from bench.make_reference import run_reference  # noqa: E402
from blazepose_ros.core import PoseTracker  # noqa: E402
from blazepose_ros.core.detector import detection_to_rect  # noqa: E402
from blazepose_ros.core.filters import AUX_FILTER, POSE_FILTER, WORLD_FILTER, LandmarksSmoother  # noqa: E402
from blazepose_ros.core.geometry import (  # noqa: E402
    F32,
    alignment_points_rect,
    make_norm_rect,
    transform_rect,
)

A = np.asarray


def _rect_from_px(roi: list[float], w: int, h: int) -> Any:
    return make_norm_rect(roi[0] / w, roi[1] / h, roi[2] / w, roi[3] / h, roi[4])


def _roi_px(rect: Any, w: int, h: int) -> np.ndarray:
    return A([float(rect.x_center) * w, float(rect.y_center) * h, float(rect.width) * w,
              float(rect.height) * h, float(rect.rotation)])


def _stat(name: str, errs: list[tuple[int, np.ndarray]], unit: str) -> None:
    if not errs:
        print(f"  {name}: no frames")
        return
    allv = np.concatenate([e.reshape(-1) for _, e in errs])
    worst = sorted(((float(e.max()), i) for i, e in errs), reverse=True)[:3]
    print(f"  {name}: frames {len(errs)}, median {np.median(allv):.4g} {unit}, p99 "
          f"{np.percentile(allv, 99):.4g}, max {allv.max():.4g}; worst frames "
          + ", ".join(f"#{i} {v:.4g}" for v, i in worst))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default="video_tracking", choices=list(pl.CASES))
    ap.add_argument("--frames", type=int, default=0, help="only the first N frames (0 = all)")
    ap.add_argument("--ref-python")
    args = ap.parse_args()
    case = pl.CASES[args.case]
    _, frames = pl.case_inputs(case)
    if args.frames:
        frames = frames[: args.frames]
    ref = run_reference(case.static, case.smooth, frames, args.ref_python, debug=True)["frames"]
    tracker = PoseTracker(model="full", num_threads=1, static_image_mode=case.static, smooth=case.smooth)
    det_roi, lm_px, lm_z, lm_vis, aux_px, world_m = [], [], [], [], [], []
    print(f"[stages] {args.case}: {len(frames)} frames, MediaPipe ran its detector on "
          f"{sum('detection' in f['debug'] for f in ref)}")
    for i, (rgb, rf) in enumerate(zip(frames, ref, strict=True)):
        h, w = rgb.shape[:2]
        d = rf["debug"]
        if "detection" in d:
            dets = tracker.detector.detect(rgb)
            if dets:
                ours = _roi_px(detection_to_rect(dets[0], w, h, tracker.detector.options), w, h)
                det_roi.append((i, np.abs(ours - A(d["roi"]))))
            else:
                print(f"  frame {i}: MediaPipe detected (score {d['detection']['score']:.4f}), we did not")
        if "roi" in d and "unfiltered" in d:
            res = tracker.landmarker.run(rgb, _rect_from_px(d["roi"], w, h))
            if res is None:
                print(f"  frame {i}: our pose flag failed on MediaPipe's ROI")
                continue
            wh = A([w, h, w], np.float64)
            ours_lm = res.landmarks[:, :3].astype(np.float64) * wh
            mp_lm = A(d["unfiltered"], np.float64)
            lm_px.append((i, np.linalg.norm(ours_lm[:, :2] - mp_lm[:, :2], axis=1)))
            lm_z.append((i, np.abs(ours_lm[:, 2] - mp_lm[:, 2])))
            lm_vis.append((i, np.abs(res.landmarks[:, 3] - mp_lm[:, 3])))
            ours_aux = res.aux[:, :2].astype(np.float64) * wh[:2]
            aux_px.append((i, np.linalg.norm(ours_aux - A(d["unfiltered_aux"])[:, :2], axis=1)))
            world_m.append((i, 1000 * np.linalg.norm(res.world - A(d["unfiltered_world"]), axis=1)))
    print("stage 1, detector -> ROI (|d| of cx, cy, w, h px, rotation rad):")
    _stat("ROI from detection", det_roi, "")
    print("stage 2, landmark model on MediaPipe's ROI vs MediaPipe's unfiltered output:")
    _stat("landmarks xy", lm_px, "px")
    _stat("landmarks z", lm_z, "px")
    _stat("visibility", lm_vis, "")
    _stat("aux points xy", aux_px, "px")
    _stat("world", world_m, "mm")

    if not case.static:
        pose_f, aux_f, world_f = (LandmarksSmoother(**POSE_FILTER), LandmarksSmoother(**AUX_FILTER),
                                  LandmarksSmoother(**WORLD_FILTER))
        f_lm, f_vis, f_aux, f_world, n_roi = [], [], [], [], []
        for i, (rgb, rf) in enumerate(zip(frames, ref, strict=True)):
            h, w = rgb.shape[:2]
            d = rf["debug"]
            if "unfiltered" not in d:
                pose_f.reset_values()
                aux_f.reset_values()
                continue
            t_ns = round(pl.stamp_of(i) * 1e9)
            W, H = F32(w), F32(h)  # noqa: N806
            scale_px = A([W, H, W], F32)
            un = A(d["unfiltered"], np.float64)
            ua = A(d["unfiltered_aux"], np.float64)
            un_n = (un[:, :3] / A([w, h, w])).astype(F32)
            ua_n = (ua[:, :3] / A([w, h, w])).astype(F32)
            srect = alignment_points_rect(ua_n[0, :2], ua_n[1, :2], w, h)
            obj = F32(F32(F32(srect.width * W) + F32(srect.height * H)) / F32(2.0))
            lm, vis = pose_f(un_n * scale_px, un[:, 3].astype(F32), t_ns, float(obj))
            world, _ = world_f(A(d["unfiltered_world"], F32), un[:, 3].astype(F32), t_ns, 1.0)
            ax, _ = aux_f(ua_n * scale_px, ua[:, 3].astype(F32), t_ns, float(obj))
            mp_kp = A([k[:4] for k in rf["poses"][0]["keypoints"]], np.float64)
            f_lm.append((i, np.linalg.norm(A(lm, np.float64)[:, :2] - mp_kp[:, :2], axis=1)))
            f_vis.append((i, np.abs(A(vis, np.float64) - mp_kp[:, 3])))
            mp_world = A(rf["poses"][0]["world"])
            f_world.append((i, 1000 * np.linalg.norm(A(world, np.float64) - mp_world, axis=1)))
            f_aux.append((i, np.linalg.norm(A(ax, np.float64)[:, :2] - A(d["aux"]), axis=1)))
            # next ROI from MediaPipe's own filtered aux points
            ma = (A(d["aux"]) / A([w, h])).astype(F32)
            nxt = transform_rect(alignment_points_rect(ma[0], ma[1], w, h), w, h, 1.25, 1.25,
                                 square_long=True)
            n_roi.append((i, np.abs(_roi_px(nxt, w, h) - A(d["next_roi"]))))
        print("stage 3, our filters fed MediaPipe's unfiltered values vs MediaPipe's filtered "
              "(stored reference rounded to 1e-4):")
        _stat("pose landmarks xy", f_lm, "px")
        _stat("visibility", f_vis, "")
        _stat("aux points xy", f_aux, "px")
        _stat("world", f_world, "mm")
        print("stage 4, next ROI from MediaPipe's filtered aux (|d| of cx, cy, w, h px, rotation rad):")
        _stat("next ROI", n_roi, "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
