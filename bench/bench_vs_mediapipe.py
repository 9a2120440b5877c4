#!/usr/bin/env python3
"""Side-by-side speed: MediaPipe's Pose solution vs our PoseTracker vs the bare landmark model.

    . scripts/env.sh && python bench/bench_vs_mediapipe.py [--rounds 3] [--frames 90] [--cpu 0]
    python bench/bench_vs_mediapipe.py --model lite --model full --model heavy   # a row set per model

On the same frames, in one run, tracking mode with landmark smoothing, one thread, for
each landmark model (``--model``, default full; lite/heavy = model_complexity 0/2):
* ``mediapipe``: ``mp.solutions.pose.Pose(model_complexity=...)`` (0.10.21) in the
  reference venv (bench/reference_env.sh), a persistent subprocess that times each
  ``process()`` call itself and reports the numbers;
* ``ours``: ``PoseTracker(model=..., num_threads=1).process()``;
* ``floor``: ``interpreter.invoke()`` alone on that landmark model (XNNPACK,
  1 thread) -- what MediaPipe pays per tracked frame;
* ``floor_as_run``: the same without the segmentation decoder, as the pipeline runs it
  when no mask is asked for (its other outputs are bit-identical).
Sequences: test/data/sample_people.mp4 (640x480) and the same virtual camera over
zidane.jpg rendered at 1280x720 (blazepose_ros.media.synthetic.motion_frames).
Both processes are pinned to the same single CPU (MediaPipe sizes its own thread
pools; pinning keeps it to one core) and run one at a time. Each round runs every
implementation once per sequence in a rotating order, after one untimed warm-up
pass each; per-frame times of all rounds are pooled.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- reference-venv half

def mp_worker(inputs: Path, cpu: int, landmark_models: list[Path]) -> None:
    """Serve timing requests on stdin: one JSON line {"seq": name, "complexity": c} ->
    {"ms": [...], "poses": n}."""
    os.sched_setaffinity(0, {cpu})
    import mediapipe as mp
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from bench.make_reference import place_landmark_model

    for path in landmark_models:  # lite/heavy: the project's files where mediapipe looks
        place_landmark_model({"pose_landmark_lite.tflite": 0, "pose_landmark_heavy.tflite": 2}[path.name],
                              path)

    data = np.load(inputs)
    seqs: dict[str, list[Any]] = {}
    for k in sorted(data.files):
        name, _, _ = k.rpartition("_")
        seqs.setdefault(name, []).append(data[k])
    print(json.dumps({"ready": True, "mediapipe": mp.__version__}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        frames = seqs[req["seq"]]
        ms, poses = [], 0
        with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=req.get("complexity", 1),
                                    smooth_landmarks=True, enable_segmentation=False) as pose:
            for f in frames:
                t0 = time.perf_counter()
                res = pose.process(f)
                ms.append((time.perf_counter() - t0) * 1e3)
                poses += res.pose_landmarks is not None
        print(json.dumps({"ms": ms, "poses": poses}), flush=True)


# --------------------------------------------------------------------------- project half

class MediaPipeProcess:
    def __init__(self, seqs: dict[str, list[Any]], cpu: int, tmp: Path,
                 landmark_models: list[Path] | None = None) -> None:
        import numpy as np

        sys.path.insert(0, str(ROOT))
        from bench.make_reference import reference_python

        npz = tmp / "bench_frames.npz"
        np.savez(npz, **{f"{name}_{i:05d}": f for name, fr in seqs.items() for i, f in enumerate(fr)})
        env = dict(os.environ, GLOG_minloglevel="2", TF_CPP_MIN_LOG_LEVEL="2")
        for var in ("PYTHONPATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV"):
            env.pop(var, None)
        self.proc = subprocess.Popen(
            [reference_python(), str(Path(__file__).resolve()), "--worker", str(npz), "--cpu", str(cpu),
             *(a for m in landmark_models or [] for a in ("--landmark-model", str(m)))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        hello = json.loads(self._readline())
        self.version = hello["mediapipe"]

    def _readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"MediaPipe worker exited ({self.proc.poll()})")
        return line

    def run(self, seq: str, complexity: int = 1) -> tuple[list[float], int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"seq": seq, "complexity": complexity}) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self._readline())
        return out["ms"], out["poses"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_ours(frames: list[Any], stamp_step: float,
             model: str = "full") -> tuple[list[float], int, dict[str, float]]:
    import numpy as np

    from blazepose_ros.core import PoseTracker

    tracker = PoseTracker(model=model, delegate="cpu", num_threads=1, static_image_mode=False, smooth=True)
    ms, poses, parts = [], 0, {}
    for i, f in enumerate(frames):
        t0 = time.perf_counter()
        out = tracker.process(f, (i + 1) * stamp_step)
        ms.append((time.perf_counter() - t0) * 1e3)
        poses += bool(out)
        for k, v in getattr(tracker, "last_timings", {}).items():
            parts.setdefault(k, []).append(v * 1e3)
    return ms, poses, {k: float(np.median(v)) for k, v in parts.items()}


def run_floor(model: Any, n: int, crop: Any) -> list[float]:
    view = model.input_view()
    view[0] = crop
    del view
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        model.invoke()
        ms.append((time.perf_counter() - t0) * 1e3)
    return ms


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=90, help="frames per sequence")
    ap.add_argument("--cpu", type=int, default=0, help="the one CPU every implementation is pinned to")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument("--model", action="append", choices=["lite", "full", "heavy"],
                    help="landmark model (repeatable; default: full)")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--landmark-model", type=Path, action="append", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        mp_worker(args.worker, args.cpu, args.landmark_model)
        return 0
    models = args.model or ["full"]

    import tempfile

    import cv2
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from bench import parity_lib as pl
    from blazepose_ros.core.inference import TFLiteModel
    from blazepose_ros.core.landmarks import landmark_model_content
    from blazepose_ros.core.models import resolve_model
    from blazepose_ros.media.synthetic import motion_frames

    os.sched_setaffinity(0, {args.cpu})
    zidane = cv2.imread(str(pl.DATA / "zidane.jpg"))
    seqs = {
        "640x480": pl.video_rgb_frames(pl.DATA / pl.VIDEO, args.frames),
        "1280x720": [np.ascontiguousarray(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
                     for f in motion_frames(zidane, args.frames, size=(1280, 720))],
    }
    paths = {m: resolve_model(m).path for m in models}
    floor_models = {m: TFLiteModel(p, "cpu", 1) for m, p in paths.items()}
    # the landmark model as the pipeline runs it: without the segmentation decoder
    floor_run_models = {m: TFLiteModel(p, "cpu", 1, model_content=landmark_model_content(p, False))
                        for m, p in paths.items()}
    crop = np.random.default_rng(0).random((256, 256, 3), np.float32)
    impls = ("mediapipe", "ours", "floor", "floor_as_run")
    complexity = {"lite": 0, "full": 1, "heavy": 2}
    times: dict[tuple[str, str, str], list[float]] = {
        (s, m, i): [] for s in seqs for m in models for i in impls}
    poses: dict[tuple[str, str, str], int] = {}
    parts: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bp_bench_") as tmp:
        mp_proc = MediaPipeProcess(seqs, args.cpu, Path(tmp), [p for m, p in paths.items() if m != "full"])
        try:
            for seq, frames in seqs.items():  # warm-up, untimed
                for m in models:
                    mp_proc.run(seq, complexity[m])
                    run_ours(frames, pl.MP_STAMP_STEP_S, m)
                    run_floor(floor_models[m], 10, crop)
                    run_floor(floor_run_models[m], 10, crop)
            for r in range(args.rounds):
                order = impls[r % len(impls):] + impls[: r % len(impls)]
                for seq, frames in seqs.items():
                    for m in models:
                        for impl in order:
                            if impl == "mediapipe":
                                ms, n = mp_proc.run(seq, complexity[m])
                                poses[(seq, m, impl)] = n
                            elif impl == "ours":
                                ms, n, parts[(seq, m)] = run_ours(frames, pl.MP_STAMP_STEP_S, m)
                                poses[(seq, m, impl)] = n
                            else:
                                fm = floor_models[m] if impl == "floor" else floor_run_models[m]
                                ms = run_floor(fm, len(frames), crop)
                            times[(seq, m, impl)] += ms
                print(f"[bench] round {r + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            mp_proc.close()

    def stats(v: list[float]) -> tuple[float, float]:
        a = np.asarray(v)
        return float(np.median(a)), float(np.percentile(a, 90))

    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; every implementation pinned to CPU {args.cpu}, "
          f"1 interpreter thread; mediapipe {mp_proc.version}; {args.rounds} rounds x {args.frames} frames "
          "per sequence after a warm-up pass; tracking mode with smoothing")
    head = ("sequence", "model", "impl", "median ms", "p90 ms", "fps", "poses", "ours/floor",
            "ours/floor_as_run", "mediapipe/ours")
    rows = []
    result: dict[str, Any] = {"machine": cpu_model(), "cpus": os.cpu_count(), "mediapipe": mp_proc.version,
                              "rounds": args.rounds, "frames": args.frames, "sequences": {}}
    for seq, m in ((s, m) for s in seqs for m in models):
        med = {i: stats(times[(seq, m, i)]) for i in impls}
        key = seq if models == ["full"] else f"{seq} {m}"
        result["sequences"][key] = {i: {"median_ms": med[i][0], "p90_ms": med[i][1]} for i in impls}
        result["sequences"][key]["ours_parts_median_ms"] = parts.get((seq, m), {})
        for i in impls:
            rows.append((seq, m, i, f"{med[i][0]:.2f}", f"{med[i][1]:.2f}", f"{1000 / med[i][0]:.1f}",
                         "-" if i.startswith("floor") else f"{poses[(seq, m, i)]}/{len(seqs[seq])}",
                         f"{med['ours'][0] / med['floor'][0]:.2f}" if i == "ours" else "",
                         f"{med['ours'][0] / med['floor_as_run'][0]:.2f}" if i == "ours" else "",
                         f"{med['mediapipe'][0] / med['ours'][0]:.2f}" if i == "mediapipe" else ""))
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(head)]
    for r in (head, tuple("-" * w for w in widths), *rows):
        cells = zip(r, widths, strict=True)
        print("  ".join(s.ljust(w) if k < 3 else s.rjust(w) for k, (s, w) in enumerate(cells)))
    for (seq, m), p in parts.items():
        print(f"ours, {seq}, {m}, median per stage (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in p.items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
