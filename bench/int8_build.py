#!/usr/bin/env python3
"""Mixed-precision int8 landmark model, precision per layer chosen by measured sensitivity.

    . scripts/env.sh
    pip install --target ~/.cache/blazepose_ros/quantizer-site ai-edge-quantizer==0.10.0 \\
        absl-py immutabledict scipy litert-lm-builder --no-deps     # build-time tool only
    python bench/int8_build.py [--quick] [--model full] [--only landmark|detector]

Reproducible from the float model (no randomness; the same crops give the same model):

1. ``pose_landmark_<m>.tflite`` with its float16 weights folded to float32 and a
   ``serving_default`` signature (``bench/quantize.py``'s ``fold_float16``); every model
   is run, timed and written without its segmentation decoder (``model_surgery``: the
   pipeline never runs it without a mask);
2. calibration crops: the 256x256 inputs the *float pipeline* feeds the landmark model
   (tracking mode, its own ROIs) on real people of the project's own footage
   ``pose2sim_multi_cam01/02.mp4`` and ``sports2d_demo.mp4``; evaluation crops come from
   media never used for calibration: ``pose2sim_multi_cam03/04.mp4``,
   ``sample_fullbody.mp4`` (bus.jpg) and ``sample_people.mp4`` (zidane.jpg);
3. one calibration pass with the all-int8 recipe (``static_wi8_ai8``: int8 per-channel
   weights, int8 per-tensor activations); its statistics serve every recipe below;
4. sensitivity: the compute ops in graph order are cut into ``--groups`` contiguous
   blocks; each block alone is quantized (the rest float) and its error on the
   evaluation crops measured;
5. candidates: all-int8, then the k most sensitive blocks kept float (``--keep-float``);
   each is timed against the float model (bare invoke, one thread, interleaved on the same
   crops, in this run) and scored against the float model on the evaluation crops:
   mean / median landmark error in 256-crop pixels (x, y of the 33 keypoints after the
   pipeline's heatmap refinement, so the heatmap head counts too), PCK@0.2
   (share of keypoints within 0.2 x the float result's torso size, mid-shoulder to mid-hip,
   on the crop), and pose-flag agreement (> 0.5 on both or neither).

Goal (issue 15): >= 1.6x the float speed with <= 1 px mean error and PCK@0.2 >= 0.99. The
best candidate that meets it is written as ``models/pose_landmark_<m>_int8.tflite``; when
none does, the one with the best mean error among those >= 1.6x (else the fastest within
2 px) is written, and the table says it is not shippable. The all-int8 candidate is also
written as ``models/pose_landmark_<m>_int8_all.tflite``, the input of ``edgetpu_compiler``
(docs/performance.md). Every model written has float32 inputs/outputs, so the pipeline
runs it as it is (``model: models/pose_landmark_full_int8.tflite``).

The same command first builds the int8 person detector the same way (``int8_detector.py``:
``models/pose_detection_int8.tflite`` and ``pose_detection_int8_all.tflite``, selected by
``detector_model``), with its own goal and table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import benchlib as bl  # noqa: E402

QUANTIZER_SITE = Path.home() / ".cache" / "blazepose_ros" / "quantizer-site"
if QUANTIZER_SITE.is_dir():
    sys.path.append(str(QUANTIZER_SITE))

from blazepose_ros.core import PoseTracker, TFLiteModel  # noqa: E402
from blazepose_ros.core.landmarks import landmark_model_content, refine_from_heatmap, sigmoid  # noqa: E402
from blazepose_ros.core.model_surgery import float_io  # noqa: E402

CALIBRATION = ("pose2sim_multi_cam01.mp4", "pose2sim_multi_cam02.mp4", "sports2d_demo.mp4")
EVALUATION = ("pose2sim_multi_cam03.mp4", "pose2sim_multi_cam04.mp4", "sample_fullbody.mp4",
              "sample_people.mp4")
GOAL_SPEEDUP, GOAL_MEAN_PX, GOAL_PCK = 1.6, 1.0, 0.99
INT8_ACT = {"num_bits": 8, "symmetric": False, "granularity": "TENSORWISE", "dtype": "INT"}
INT8_W = {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"}


def pipeline_crops(names: tuple[str, ...], per_video: int, model: str) -> list[np.ndarray]:
    """The float pipeline's landmark inputs (1, 256, 256, 3) on evenly spaced frames of each video."""
    import cv2

    crops = []
    for name in names:
        cap = cv2.VideoCapture(str(bl.DATA / name))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if n <= 0:
            raise SystemExit(f"[int8] {bl.DATA / name} missing: run `bash scripts/setup.sh`")
        step = max(1, n // per_video)
        tr = PoseTracker(model)
        got = 0
        for i in range(n):
            ok, bgr = cap.read()
            if not ok:
                break
            tr.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), i / 30)
            if i % step == 0 and tr.last_timings.get("landmark_invoke") and got < per_video:
                crops.append(np.array(tr.landmarker.model.input_view(), copy=True))
                got += 1
        cap.release()
    return crops


def float_model(model: str, out: Path) -> Path:
    """float32, with a signature: the quantizer's input."""
    from quantize import fold_float16

    src = bl.model_path(f"pose_landmark_{model}.tflite")
    return fold_float16(src, out / f"pose_landmark_{model}_f32.tflite")


def pruned(path: Path) -> Path:
    """``path`` rewritten without the segmentation decoder and with float32 inputs/outputs
    (``model_surgery.float_io``: the quantizer makes them int8 even around float ops, which
    alone costs ~0.6 px on the landmark output); file name + ``_pruned``."""
    dst = path.with_name(path.stem + "_pruned.tflite")
    content = landmark_model_content(path, enable_segmentation=False) or path.read_bytes()
    dst.write_bytes(float_io(content) or content)
    return dst


def compute_ops(f32: Path) -> list[str]:
    """Output tensor name of every operator the pipeline runs (no mask decoder), graph order."""
    from ai_edge_litert import schema_py_generated as schema

    m = schema.Model.GetRootAsModel(pruned(f32).read_bytes(), 0)
    sg = m.Subgraphs(0)
    return [sg.Tensors(sg.Operators(k).Outputs(0)).Name().decode() for k in range(sg.OperatorsLength())]


def recipe_for(float_ops: list[str]) -> list[dict[str, Any]]:
    """All-int8, except the named ops (kept float)."""
    rec: list[dict[str, Any]] = [{
        "regex": ".*", "operation": "*", "algorithm_key": "min_max_uniform_quantize",
        "op_config": {"activation_tensor_config": INT8_ACT, "weight_tensor_config": INT8_W,
                      "compute_precision": "INTEGER", "explicit_dequantize": False,
                      "skip_checks": False, "min_weight_elements": 0}}]
    for name in float_ops:
        # the quantizer's op scope: the output tensor names, each followed by ";"
        rec.append({"regex": f"^{re.escape(name)};$", "operation": "*", "algorithm_key": "no_quantize",
                    "op_config": {}})
    return rec


class Runner:
    """One model on float crops: int8 I/O quantized/dequantized around the (timed) invoke."""

    def __init__(self, path: Path) -> None:
        self.m = TFLiteModel(path)
        d = self.m._interp.get_input_details()[0]
        self.in_q = d["quantization"] if d["dtype"] != np.float32 else None
        self.out_q = [o["quantization"] if o["dtype"] != np.float32 else None for o in self.m.output_details]
        self.idx = {s: i for i, s in enumerate(self.m.output_shapes)}

    def feed(self, x: np.ndarray) -> None:
        view = self.m.input_view()
        if self.in_q is None:
            view[...] = x
        else:
            scale, zp = self.in_q
            view[...] = np.clip(np.round(x / scale) + zp, -128, 127)
        del view

    def outputs(self) -> tuple[np.ndarray, float]:
        """(landmarks (39, 5) in crop px, x and y refined from the heatmap as the pipeline does,
        pose flag)."""
        def get(shape: tuple[int, ...]) -> np.ndarray:
            i = self.idx[shape]
            v = self.m.output(i).astype(np.float32)
            q = self.out_q[i]
            return (v - q[1]) * q[0] if q else v
        raw = get((1, 195)).reshape(39, 5)
        lm = raw.copy()
        lm[:, :3] /= np.float32(256)
        lm[:, 3:] = sigmoid(raw[:, 3:])
        lm = refine_from_heatmap(lm, get((1, 64, 64, 39))[0])
        lm[:, :3] *= np.float32(256)
        return lm, float(get((1, 1)).reshape(-1)[0])


def score(ref: list[tuple[np.ndarray, float]], got: list[tuple[np.ndarray, float]]) -> dict[str, float]:
    errs, within, flags = [], [], []
    for (a, fa), (b, fb) in zip(ref, got, strict=True):
        e = np.linalg.norm(a[:33, :2] - b[:33, :2], axis=1)
        torso = np.linalg.norm((a[11, :2] + a[12, :2]) / 2 - (a[23, :2] + a[24, :2]) / 2)
        errs.append(e)
        within.append(e < 0.2 * torso)
        flags.append((fa > 0.5) == (fb > 0.5))
    e = np.concatenate(errs)
    return {"mean_px": float(e.mean()), "median_px": float(np.median(e)),
            "p95_px": float(np.percentile(e, 95)), "pck": float(np.concatenate(within).mean()),
            "flag": float(np.mean(flags))}


def evaluate(path: Path, crops: list[np.ndarray]) -> list[tuple[np.ndarray, float]]:
    r = Runner(path)
    out = []
    for x in crops:
        r.feed(x)
        r.m.invoke()
        out.append(r.outputs())
    return out


def speed(paths: dict[str, Path], crops: list[np.ndarray], reps: int) -> dict[str, float]:
    runners = {k: Runner(p) for k, p in paths.items()}
    t: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(reps):
        for x in crops:
            for k, r in runners.items():  # interleaved on the same crop
                r.feed(x)
                t0 = time.perf_counter()
                r.m.invoke()
                t[k].append(time.perf_counter() - t0)
    return {k: bl.ms(v) for k, v in t.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="full", choices=("lite", "full", "heavy"))
    ap.add_argument("--quick", action="store_true", help="fewer crops (~3 min)")
    ap.add_argument("--groups", type=int, default=40, help="contiguous op blocks for the sensitivity pass")
    ap.add_argument("--keep-float", default="1,2,4,6,8,12",
                    help="candidates: this many of the most sensitive blocks kept float (comma list)")
    ap.add_argument("--ranges", choices=("mean", "minmax"), default="minmax",
                    help="activation ranges: min/max over all calibration crops, or the mean of the "
                         "per-crop min/max (less driven by outliers)")
    ap.add_argument("--out", type=Path, default=bl.MODELS)
    ap.add_argument("--only", choices=("landmark", "detector"), default=None,
                    help="build one of the two models (default: both)")
    ap.add_argument("--det-groups", type=int, default=20, help="detector: op blocks for the sensitivity pass")
    ap.add_argument("--det-keep-float", default="1,2,3,4,6",
                    help="detector candidates: this many of its most sensitive blocks kept float")
    args = ap.parse_args(argv)
    try:
        from ai_edge_quantizer import quantizer
    except ImportError:
        print("ai-edge-quantizer is not installed (a build-time tool): see this script's docstring",
              file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    if args.only != "landmark":
        from int8_detector import build_detector

        build_detector(args, quantizer, sys.modules[__name__])
        if args.only == "detector":
            return 0
    n_cal, n_eval = (15, 10) if args.quick else (40, 25)
    cal = pipeline_crops(CALIBRATION, n_cal, args.model)
    ev = pipeline_crops(EVALUATION, n_eval, args.model)
    print(f"[int8] {len(cal)} calibration crops ({', '.join(CALIBRATION)}), {len(ev)} evaluation crops "
          f"({', '.join(EVALUATION)})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bp_int8_") as tmp_s:
        tmp = Path(tmp_s)
        f32 = float_model(args.model, tmp)
        ops = compute_ops(f32)
        qt = quantizer.Quantizer(str(f32))
        qt.load_quantization_recipe(recipe_for([]))
        key = next(iter(TFLiteModel(f32)._interp.get_signature_runner("serving_default").get_input_details()))
        t0 = time.perf_counter()
        if args.ranges == "minmax":
            calib = qt.calibrate({"serving_default": [{key: c} for c in cal]})
        else:  # each tensor's range = the mean over the crops of its per-crop min and max
            per = [qt.calibrate({"serving_default": [{key: c}]}) for c in cal]
            calib = {name: {k: np.mean([np.asarray(q[name][k]) for q in per], axis=0) for k in qsv}
                     for name, qsv in per[0].items()}
        print(f"[int8] calibrated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

        def build(float_ops: list[str], name: str) -> Path:
            q = quantizer.Quantizer(str(f32))
            q.load_quantization_recipe(recipe_for(float_ops))
            dst = tmp / f"{name}.tflite"
            with contextlib.redirect_stdout(io.StringIO()):  # the quantizer prints a size report
                q.quantize(calib).export_model(str(dst), overwrite=True)
            return pruned(dst)

        ref = evaluate(pruned(f32), ev)
        blocks = [list(b) for b in np.array_split(np.array(ops, dtype=object), args.groups)]
        sens = []
        for g, block in enumerate(blocks):
            others = [o for h, b in enumerate(blocks) if h != g for o in b]
            s = score(ref, evaluate(build(others, f"only{g}"), ev))
            sens.append((s["mean_px"], g))
            print(f"[int8] block {g} ({len(block)} ops, {block[0][:40]}...) alone int8: mean "
                  f"{s['mean_px']:.3f} px", file=sys.stderr, flush=True)
        order = [g for _, g in sorted(sens, reverse=True)]
        cands: dict[str, tuple[Path, list[int]]] = {"all int8": (build([], "all"), [])}
        for k in (int(v) for v in args.keep_float.split(",")):
            keep = sorted(order[:k])
            model = build([o for g in keep for o in blocks[g]], f"keep{k}")
            cands[f"{k} blocks float: {keep}"] = (model, keep)
        paths = {"float32 (pruned)": pruned(f32), **{k: p for k, (p, _) in cands.items()}}
        sp = speed(paths, ev[: 20 if args.quick else 40], 1 if args.quick else 2)
        rows, best = [], None
        for k, p in paths.items():
            s = score(ref, evaluate(p, ev))
            ratio = sp["float32 (pruned)"] / sp[k]
            meets = ratio >= GOAL_SPEEDUP and s["mean_px"] <= GOAL_MEAN_PX and s["pck"] >= GOAL_PCK
            rows.append([k, f"{p.stat().st_size / 2**20:.2f}", sp[k], ratio, s["mean_px"], s["median_px"],
                         s["p95_px"], s["pck"] * 100, s["flag"] * 100, "yes" if meets else "no"])
            if k.startswith("float"):
                continue
            rank = (meets, ratio >= GOAL_SPEEDUP, -s["mean_px"] if ratio >= GOAL_SPEEDUP else ratio)
            if (s["mean_px"] <= 2.0 or ratio >= GOAL_SPEEDUP) and (best is None or rank > best[0]):
                best = (rank, k, p, meets)
        print(bl.header(f"Mixed-precision int8 {args.model} landmark model (ai-edge-quantizer 0.10.0)"))
        print("Sensitivity (mean crop-px error with only that block int8), most sensitive first: "
              + ", ".join(f"block {g} {m:.2f}" for m, g in sorted(sens, reverse=True)) + "\n")
        print(f"{len(cal)} calibration crops from {', '.join(CALIBRATION)}; {len(ev)} evaluation crops from "
              f"{', '.join(EVALUATION)}; {len(ops)} ops in {args.groups} blocks.\n")
        print(bl.table(["variant", "MiB", "invoke ms", "speed-up", "mean px", "median px", "p95 px",
                        "PCK@0.2 %", "flag agrees %", "meets goal"], rows) + "\n")
        print(f"Goal: >= {GOAL_SPEEDUP}x, mean <= {GOAL_MEAN_PX} px on the 256 crop, PCK@0.2 >= "
              f"{100 * GOAL_PCK:g} % against float.")
        edgetpu_in = args.out / f"pose_landmark_{args.model}_int8_all.tflite"
        edgetpu_in.write_bytes(cands["all int8"][0].read_bytes())
        print(f"\nWrote `{edgetpu_in.name}` (every op int8, float I/O): the Edge TPU compiler's input.")
        if best is not None:
            _, k, p, meets = best
            dst = args.out / f"pose_landmark_{args.model}_int8.tflite"
            dst.write_bytes(p.read_bytes())
            print(f"\nWrote `{dst.relative_to(bl.ROOT) if dst.is_relative_to(bl.ROOT) else dst}` ({k}): "
                  + ("meets the goal." if meets else "does NOT meet the goal: opt-in only, not shipped."))
    print(f"\n({time.perf_counter() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
