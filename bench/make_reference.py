#!/usr/bin/env python3
"""Make the stored MediaPipe reference outputs in test/reference/ (parity tests).

Two halves in one file:

* Run with the project's Python (``. scripts/env.sh && python bench/make_reference.py``):
  decodes each case's inputs with the project's OpenCV (``bench/parity_lib.py``),
  writes them as raw RGB to an ``.npz``, runs the second half in the reference
  venv (``bench/reference_env.sh`` creates it), and writes
  ``test/reference/<case>.json``.
* ``--worker`` (inside the reference venv, needs only mediapipe/numpy): runs
  ``mp.solutions.pose.Pose`` on the ``.npz`` frames and writes the results.

Output schema = the CLI's (``python -m blazepose_ros.cli run``)::

    {"frames": [{"index", "stamp", "poses": [{"score", "keypoints": [[x, y, z, vis, presence] x33],
                                             "world": [[x, y, z] x33]}]}], ...metadata}

with x, y = normalized x * width, y * height (source pixels), z = normalized z * width
(docs/pipeline.md §7.6: z is in image-width units, i.e. the pixel scale of x), visibility as
returned. ``presence`` is null: ``process()`` clears it (docs/pipeline.md §0). ``score`` is null:
the solution does not return the pose flag. MediaPipe's clock advances 33 333 us
*before* each ``process()`` call, so the stamps written are ``(index + 1) * 0.033333`` s
(the first frame is at 33 333 us, not 0), and our side is fed the same stamps.
Values are rounded to 4 decimals.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STAMP_STEP_S = 0.033333  # = bench.parity_lib.MP_STAMP_STEP_S; the worker must not import the project


def _r(v: float) -> float:
    return round(float(v), 4)


# --------------------------------------------------------------------------- reference-venv half

DEBUG_STREAMS = ["pose_detection", "pose_rect", "unfiltered_pose_landmarks", "unfiltered_auxiliary_landmarks",
                 "unfiltered_world_landmarks", "auxiliary_landmarks", "pose_rect_from_landmarks"]


def place_landmark_model(complexity: int, model_file: Path | None) -> None:
    """mediapipe's solution downloads the lite/heavy models into its package dir on first use
    (it ships only full); put the project's copy (the same file, SHA-256 checked on our side)
    there instead, so the reference runs offline."""
    if complexity == 1:
        return
    import mediapipe

    name = {0: "pose_landmark_lite.tflite", 2: "pose_landmark_heavy.tflite"}[complexity]
    dst = Path(mediapipe.__file__).parent / "modules" / "pose_landmark" / name
    if model_file is None or model_file.name != name:
        raise SystemExit(f"model_complexity {complexity} needs --landmark-model .../{name}")
    if not dst.exists() or dst.read_bytes() != model_file.read_bytes():
        dst.write_bytes(model_file.read_bytes())


def _debug_pose_class(static: bool, smooth: bool, complexity: int = 1) -> Any:
    """``mp.solutions.pose.Pose``'s graph and options, also observing internal streams."""
    from mediapipe.python.solution_base import SolutionBase
    from mediapipe.python.solutions import pose as mp_pose

    class DebugPose(SolutionBase):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(
                binary_graph_path=mp_pose._BINARYPB_FILE_PATH,
                side_inputs={"model_complexity": complexity, "smooth_landmarks": smooth and not static,
                             "enable_segmentation": False, "smooth_segmentation": False,
                             "use_prev_landmarks": not static},
                calculator_params={
                    "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": 0.5,
                    "poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__"
                    "ThresholdingCalculator.threshold": 0.5},
                outputs=["pose_landmarks", "pose_world_landmarks", *DEBUG_STREAMS])

        def process(self, image: Any) -> Any:
            return super().process(input_data={"image": image})

    return DebugPose()


def _debug_record(res: Any, w: int, h: int) -> dict[str, Any]:
    """Intermediate values in source pixels: detection, this frame's ROI, unfiltered landmarks."""
    d: dict[str, Any] = {}
    if res.pose_detection is not None:
        det = res.pose_detection
        d["detection"] = {"score": float(det.score[0]),
                          "keypoints": [[p.x * w, p.y * h]
                                        for p in det.location_data.relative_keypoints]}
    if res.pose_rect is not None:
        r = res.pose_rect
        d["roi"] = [r.x_center * w, r.y_center * h, r.width * w, r.height * h, r.rotation]
    if res.unfiltered_pose_landmarks is not None:
        d["unfiltered"] = [[p.x * w, p.y * h, p.z * w, p.visibility, p.presence]
                           for p in res.unfiltered_pose_landmarks.landmark]
    if res.unfiltered_auxiliary_landmarks is not None:
        d["unfiltered_aux"] = [[p.x * w, p.y * h, p.z * w, p.visibility, p.presence]
                               for p in res.unfiltered_auxiliary_landmarks.landmark]
    if res.unfiltered_world_landmarks is not None:
        d["unfiltered_world"] = [[p.x, p.y, p.z] for p in res.unfiltered_world_landmarks.landmark]
    if res.auxiliary_landmarks is not None:
        d["aux"] = [[p.x * w, p.y * h] for p in res.auxiliary_landmarks.landmark]
    if res.pose_rect_from_landmarks is not None:
        r = res.pose_rect_from_landmarks
        d["next_roi"] = [r.x_center * w, r.y_center * h, r.width * w, r.height * h, r.rotation]
    return d


def worker(inputs: Path, out: Path, static: bool, smooth: bool, debug: bool = False,
           complexity: int = 1, model_file: Path | None = None) -> None:
    import mediapipe as mp
    import numpy as np

    place_landmark_model(complexity, model_file)
    data = np.load(inputs)
    keys = sorted(k for k in data.files if k.startswith("frame_"))
    frames_out: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    if debug:
        solution = _debug_pose_class(static, smooth, complexity)
    else:
        solution = mp.solutions.pose.Pose(
            static_image_mode=static, model_complexity=complexity, smooth_landmarks=smooth,
            enable_segmentation=False, smooth_segmentation=False,
            min_detection_confidence=0.5, min_tracking_confidence=0.5)
    with solution as pose:
        for i, k in enumerate(keys):
            rgb = data[k]
            h, w = rgb.shape[:2]
            res = pose.process(rgb)
            poses = []
            if res.pose_landmarks is not None:
                kp = [[_r(p.x * w), _r(p.y * h), _r(p.z * w), _r(p.visibility), None]
                      for p in res.pose_landmarks.landmark]
                world = [[_r(p.x), _r(p.y), _r(p.z)] for p in res.pose_world_landmarks.landmark]
                poses.append({"score": None, "keypoints": kp, "world": world})
            frame: dict[str, Any] = {"index": i, "stamp": round((i + 1) * STAMP_STEP_S, 6),
                                     "poses": poses}
            if debug:
                frame["debug"] = _debug_record(res, w, h)
            frames_out.append(frame)
    import cv2

    meta = {"mediapipe_version": mp.__version__, "numpy_version": np.__version__,
            "opencv_version": cv2.__version__, "python": sys.version.split()[0],
            "seconds": round(time.perf_counter() - t0, 2)}
    with open(out, "w") as f:
        json.dump({"meta": meta, "frames": frames_out}, f)


# --------------------------------------------------------------------------- project half

def reference_python() -> str:
    """The reference venv's python, created on first use by bench/reference_env.sh."""
    override = os.environ.get("BLAZEPOSE_REF_PYTHON")
    if override:
        return override
    res = subprocess.run(["bash", str(ROOT / "bench" / "reference_env.sh")], stdout=subprocess.PIPE,
                         text=True, check=True)
    return res.stdout.strip().splitlines()[-1]


def run_reference(static: bool, smooth: bool, frames: Sequence[Any], ref_python: str | None = None,
                  debug: bool = False, model: str = "full") -> dict[str, Any]:
    """Run MediaPipe on ``frames`` (RGB uint8) in the reference venv; returns {"meta", "frames"}.

    ``debug`` adds each frame's detection, ROI and unfiltered landmarks (pixels) as "debug".
    ``model``: the landmark model, ``"lite" | "full" | "heavy"`` (model_complexity 0/1/2).
    """
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from blazepose_ros.core.models import COMPLEXITY_TO_MODEL, resolve_model

    py = ref_python or reference_python()
    with tempfile.TemporaryDirectory(prefix="bp_ref_") as tmp:
        npz, out = Path(tmp) / "inputs.npz", Path(tmp) / "out.json"
        np.savez(npz, **{f"frame_{i:05d}": f for i, f in enumerate(frames)})
        cmd = [py, str(Path(__file__).resolve()), "--worker", "--inputs", str(npz), "--out", str(out)]
        cmd += ["--static"] if static else []
        cmd += ["--smooth"] if smooth else []
        cmd += ["--debug"] if debug else []
        complexity = {v: k for k, v in COMPLEXITY_TO_MODEL.items()}[model]
        cmd += ["--model-complexity", str(complexity), "--landmark-model", str(resolve_model(model).path)]
        env = dict(os.environ, GLOG_minloglevel="2", TF_CPP_MIN_LOG_LEVEL="2")
        for var in ("PYTHONPATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV"):  # keep the project venv out
            env.pop(var, None)
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"MediaPipe worker failed ({res.returncode}):\n{res.stderr[-3000:]}")
        with open(out) as f:
            return json.load(f)


def make_case(case_name: str, ref_dir: Path, ref_python: str | None = None, model: str = "full") -> Path:
    sys.path.insert(0, str(ROOT))
    from bench import parity_lib as pl

    case = pl.CASES[case_name]
    names, frames = pl.case_inputs(case)
    result = run_reference(case.static, case.smooth, frames, ref_python, model=model)
    doc = {
        "case": case.name,
        "description": case.description,
        "command": f"python bench/make_reference.py --case {case.name}"
                   + ("" if model == "full" else f" --model {model}"),
        "solution": "mediapipe.solutions.pose.Pose",
        "options": {"static_image_mode": case.static, "smooth_landmarks": case.smooth,
                    "smooth_segmentation": False, **pl.mediapipe_options(model)},
        **result["meta"],
        "stamp_step_s": STAMP_STEP_S, "first_stamp_s": STAMP_STEP_S,
        "units": {"keypoints": "x, y source pixels; z = normalized z * image width; visibility; "
                               "presence null (cleared by process())",
                  "world": "metres", "score": "null (not returned by the solution)"},
        "inputs": pl.input_records(names, frames),
        "frames": result["frames"],
    }
    ref_dir.mkdir(parents=True, exist_ok=True)
    path = pl.reference_path(case.name, ref_dir, model)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    n = sum(1 for fr in doc["frames"] if fr["poses"])
    print(f"[reference] {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{len(frames)} frames, {n} with a pose, {path.stat().st_size / 1024:.0f} KiB, "
          f"mediapipe {result['meta']['mediapipe_version']} in {result['meta']['seconds']} s")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", action="append", help="case name (default: all)")
    ap.add_argument("--ref-dir", type=Path, default=ROOT / "test" / "reference")
    ap.add_argument("--ref-python", help="python of the reference venv (default: bench/reference_env.sh)")
    ap.add_argument("--model", action="append", choices=["lite", "full", "heavy"],
                    help="landmark model (repeatable; default: full)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model-complexity", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--landmark-model", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--static", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--smooth", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.inputs, args.out, args.static, args.smooth, args.debug,
               args.model_complexity, args.landmark_model)
        return 0
    sys.path.insert(0, str(ROOT))
    from bench.parity_lib import CASES

    for model in args.model or ["full"]:
        for name in args.case or list(CASES):
            make_case(name, args.ref_dir, args.ref_python, model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
