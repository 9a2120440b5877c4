#!/usr/bin/env python3
"""Parity of our pipeline with MediaPipe's (mediapipe==0.10.21, mp.solutions.pose), per case.

    . scripts/env.sh && python bench/parity.py            # vs the stored test/reference/*.json
    python bench/parity.py --live                         # MediaPipe run now, in the reference venv
    python bench/parity.py --case video_tracking --worst  # also list the worst keypoints
    python bench/parity.py --math default                 # only the default (NumPy) math
    python bench/parity.py --live --model lite --model heavy  # model_complexity 0 and 2

Cases (bench/parity_lib.py): static mode on real images of people (bus.jpg,
zidane.jpg and deterministic variants); static mode and tracking mode with landmark
smoothing on test/data/sample_people.mp4 (two overlapping half-body men: chaotic
for tracking) and on test/data/sample_fullbody.mp4 (one full-body man). Each case
runs with the default math and with ``PoseTracker(reference_math=True)`` (glibc-rounded
exp, bit-exact with MediaPipe). Both sides get the same decoded RGB frames and the
same stamps ((i + 1) * 0.033333 s, MediaPipe's synthetic 33 333 us clock). One row per
case and landmark model (``--model``; default: full, plus lite/heavy where a stored
reference exists or with ``--live``). Metric
definitions are in bench/parity_lib.py. Exit status 1 when a case fails its targets
(in any math run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import parity_lib as pl  # noqa: E402
from bench.make_reference import run_reference  # noqa: E402
from blazepose_ros.core.topology import NAMES  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", action="append", choices=list(pl.CASES), help="default: all cases")
    ap.add_argument("--live", action="store_true",
                    help="run MediaPipe now in the reference venv instead of reading test/reference/")
    ap.add_argument("--ref-python", help="python of the reference venv (with --live)")
    ap.add_argument("--threads", type=int, default=1, help="our interpreter threads")
    ap.add_argument("--model", action="append", choices=list(pl.MODELS),
                    help="landmark model (repeatable); default: full, and lite/heavy where a "
                         "reference is stored (all three with --live)")
    ap.add_argument("--math", choices=["default", "reference", "both"], default="both",
                    help="our side's math: NumPy (default), reference_math=True, or both (default)")
    ap.add_argument("--worst", action="store_true", help="print the 5 worst keypoints per case")
    ap.add_argument("--dump", type=Path, metavar="DIR",
                    help="write <case>.ref.json and <case>.ours.json there (with --live, the "
                         "reference frames also carry MediaPipe's detection, ROI and unfiltered landmarks)")
    args = ap.parse_args()

    rows = []
    jobs = [(name, model) for name in args.case or list(pl.CASES) for model in args.model or pl.MODELS
            if args.live or args.model or model == "full" or pl.reference_path(name, model=model).exists()]
    for name, model in jobs:
        case = pl.CASES[name]
        names, frames = pl.case_inputs(case)
        t0 = time.perf_counter()
        if args.live:
            ref_frames = run_reference(case.static, case.smooth, frames, args.ref_python,
                                       debug=args.dump is not None, model=model)["frames"]
        else:
            ref = pl.load_reference(name, model=model)
            problems = pl.check_inputs(ref, names, frames)
            if problems:
                print(f"[parity] {name}: inputs differ from the stored reference's; "
                      "rerun bench/make_reference.py or use --live:\n  " + "\n  ".join(problems[:5]))
                return 2
            ref_frames = ref["frames"]
        t1 = time.perf_counter()
        maths = {"default": [False], "reference": [True], "both": [False, True]}[args.math]
        for reference_math in maths:
            label = (name if model == "full" else f"{name} {model}") + (" [ref math]" * reference_math)
            t1 = time.perf_counter()
            ours = pl.run_ours(case, frames, num_threads=args.threads,
                               tracker_kwargs={"reference_math": reference_math, "model": model})
            t2 = time.perf_counter()
            m = pl.compare(label, ref_frames, ours)
            if args.dump:
                args.dump.mkdir(parents=True, exist_ok=True)
                tags = (("ref", ref_frames), ("ours.refmath" if reference_math else "ours", ours))
                stem = name if model == "full" else f"{name}.{model}"
                for tag, fr in tags:
                    (args.dump / f"{stem}.{tag}.json").write_text(json.dumps({"frames": fr}))
            rows.append(m)
            print(f"[parity] {label}: {len(frames)} frames; reference {'live ' if args.live else ''}"
                  f"{t1 - t0:.1f} s, ours {t2 - t1:.1f} s", file=sys.stderr)
            if args.worst:
                for err, i, j in m.worst:
                    print(f"    {label} frame {i} {NAMES[j]} ({j}): {err:.3f} px", file=sys.stderr)
            t0 = t1 = time.perf_counter()
    print(pl.format_table(rows))
    return 0 if all(m.passed for m in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
