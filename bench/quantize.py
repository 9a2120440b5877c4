#!/usr/bin/env python3
"""int8 variants of the BlazePose models with ai-edge-quantizer, and what they cost in accuracy.

    . scripts/env.sh && pip install ai-edge-quantizer==0.10.0   # not a runtime dependency
    python bench/quantize.py [--quick] [--recipes dynamic static]

Writes (gitignored, reproducible from the float models):

* ``models/pose_landmark_full_int8_dynamic.tflite`` dynamic range: int8 weights, float activations
  (``recipe.dynamic_wi8_afp32``);
* ``models/pose_landmark_full_int8_static.tflite`` full integer: int8 weights and activations,
  calibrated on landmark crops of real frames (``recipe.static_wi8_ai8``);
* the same two for ``pose_detection``.

The shipped models store their weights as float16 behind DEQUANTIZE ops and have no
signature; the quantizer skips such weights (it reports "1.0x smaller") and cannot
calibrate without a signature. So the script first folds the float16 weights into
float32 constants and adds a ``serving_default`` signature (``*_f32.tflite``, the
same numbers as the float16 model), then quantizes that.

Then, on real frames (test/data/sample_people.mp4, bus.jpg/zidane.jpg moving-camera
views), it prints: the bare invoke time of each variant (one thread, interleaved on
the same inputs), and the keypoint error of the full pipeline with the int8 landmark
model against the float pipeline (pixels and % of torso size, PCK@0.2 with the float
result as ground truth, presence agreement). Verdict "usable" when PCK@0.2 >= 0.98 and
the median error <= 2 % of the torso: only then is a variant worth selecting
(``model: models/pose_landmark_full_int8_dynamic.tflite`` in config/pose.yaml). The
mixed-precision model chosen by measured sensitivity is ``bench/int8_build.py``'s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl

from blazepose_ros.core import PoseTracker, TFLiteModel
from blazepose_ros.core.landmarks import PoseLandmarker, landmark_model_content
from blazepose_ros.core.topology import to_coco17
from blazepose_ros.tools.pck import torso_size

DEQUANTIZE = 6
FLOAT32, FLOAT16 = 0, 1


def fold_float16(src: Path, dst: Path) -> Path:
    """Fold float16 weights + DEQUANTIZE into float32 constants and add a signature."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as fu

    model = fu.read_model(src)
    sg = model.subgraphs[0]
    keep = []
    for op in sg.operators:
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, getattr(code, "deprecatedBuiltinCode", 0))
        t_in = sg.tensors[op.inputs[0]] if builtin == DEQUANTIZE else None
        if t_in is not None and t_in.type == FLOAT16 and model.buffers[t_in.buffer].data is not None:
            data = np.frombuffer(bytes(model.buffers[t_in.buffer].data), np.float16).astype(np.float32)
            buf = schema.BufferT()
            buf.data = np.frombuffer(data.tobytes(), np.uint8)
            model.buffers.append(buf)
            sg.tensors[op.outputs[0]].buffer = len(model.buffers) - 1
            continue
        keep.append(op)
    sg.operators = keep
    if not model.signatureDefs:
        sig = schema.SignatureDefT()
        sig.signatureKey = "serving_default"
        sig.subgraphIndex = 0

        def tmap(i: int) -> object:
            m = schema.TensorMapT()
            m.name, m.tensorIndex = sg.tensors[i].name, i
            return m

        sig.inputs = [tmap(i) for i in sg.inputs]
        sig.outputs = [tmap(i) for i in sg.outputs]
        model.signatureDefs = [sig]
    fu.write_model(model, str(dst))
    return dst


def quantize(f32: Path, dst: Path, kind: str, calibration: list[np.ndarray] | None) -> Path:
    from ai_edge_quantizer import quantizer, recipe

    qt = quantizer.Quantizer(str(f32))
    if kind == "dynamic":
        qt.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        result = qt.quantize()
    else:
        qt.load_quantization_recipe(recipe.static_wi8_ai8())
        inp = TFLiteModel(f32)._interp.get_signature_runner("serving_default").get_input_details()
        key = next(iter(inp))
        result = qt.quantize(qt.calibrate({"serving_default": [{key: c} for c in calibration or []]}))
    result.export_model(str(dst), overwrite=True)
    return dst


def calibration_inputs(frames: list[np.ndarray], n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Float input tensors of both models on real frames, as the pipeline makes them."""
    tr = PoseTracker()
    lm, det = [], []
    for i, f in enumerate(frames[:n]):
        tr.detector.preprocess(f)
        det.append(tr.detector.model.input_view().copy())
        tr.process(f, i / 30)
        if tr.last_timings.get("landmark_invoke"):
            lm.append(tr.landmarker.model.input_view().copy())
    return lm, det


def loadable(paths: dict[str, Path]) -> tuple[dict[str, TFLiteModel], dict[str, str]]:
    """The variants the runtime accepts, and why the others fail."""
    models, errors = {}, {}
    for k, p in paths.items():
        try:
            models[k] = TFLiteModel(p)
        except Exception as e:  # the runtime's own message says why
            errors[k] = str(e).split(". Fix:")[0].split(": ", 1)[-1]
    return models, errors


def bare_speed(models: dict[str, TFLiteModel], inputs: list[np.ndarray], reps: int) -> dict[str, float]:
    t: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(reps):
        for x in inputs:
            for k, m in models.items():  # interleaved on the same input
                if m.input_dtype == np.float32:
                    m.input_view()[...] = x
                else:  # int8 input: quantized outside the timed invoke
                    scale, zp = m._interp.get_input_details()[0]["quantization"]
                    m.input_view()[...] = np.clip(np.round(x / scale) + zp, -128, 127)
                t0 = time.perf_counter()
                m.invoke()
                t[k].append(time.perf_counter() - t0)
    return {k: bl.ms(v) for k, v in t.items()}


class QuantizedIO:
    """Float view of a model with int8 input/outputs (full-integer quantization).

    PoseLandmarker writes float inputs and reads float outputs; this adapter quantizes
    the input with the model's (scale, zero point) before invoke and dequantizes the
    outputs after it. The pipeline itself does not do this yet (see docs/performance.md).
    """

    def __init__(self, model: TFLiteModel) -> None:
        self.model = model
        self.path, self.active_delegate = model.path, model.active_delegate
        self.input_shape, self.output_shapes = model.input_shape, model.output_shapes
        d = model._interp.get_input_details()[0]
        self._in_q = d["quantization"]
        self._in = np.zeros(self.input_shape, np.float32)
        self._out_q = [o["quantization"] for o in model.output_details]
        self._outs: list[np.ndarray] = []

    def require_square_rgb_input(self, size: int, role: str) -> None:
        self.model.require_square_rgb_input(size, role)

    def input_view(self) -> np.ndarray:
        return self._in

    def invoke(self) -> None:
        scale, zp = self._in_q
        view = self.model.input_view()
        view[...] = np.clip(np.round(self._in / scale) + zp, -128, 127)
        del view
        self.model.invoke()
        self._outs = [((self.model.output_view(i).astype(np.float32) - zp) * scale) if scale else
                      self.model.output(i).astype(np.float32)
                      for i, (scale, zp) in enumerate(self._out_q)]

    def output_view(self, i: int) -> np.ndarray:
        return self._outs[i]


def tracker_for(model: Path, static: bool) -> PoseTracker:
    """The float pipeline with ``model`` as its landmark model (segmentation decoder pruned
    like the float one's, so the outputs are found the same way)."""
    tr = PoseTracker(static_image_mode=static)
    m = TFLiteModel(model, model_content=landmark_model_content(model, enable_segmentation=False))
    io = QuantizedIO(m) if m.input_dtype != np.float32 else m
    tr.landmarker = PoseLandmarker(io, tr.landmarker.options)
    return tr


def accuracy(model: Path, seqs: dict[str, list[np.ndarray]], static: bool) -> dict[str, float]:
    ref = PoseTracker(static_image_mode=static)
    q = tracker_for(model, static)
    errs, pck, flags = [], [], []
    for frames in seqs.values():
        ref.reset()
        q.reset()
        for i, f in enumerate(frames):
            a, b = ref.process(f, i / 30), q.process(f, i / 30)
            flags.append(bool(a) == bool(b))
            if not (a and b):
                continue
            ga = to_coco17(a[0].keypoints)
            gt = np.column_stack([ga[:, :2], np.full(17, 2.0)])
            size = torso_size(gt)
            if not size:
                continue
            e = np.linalg.norm(to_coco17(b[0].keypoints)[:, :2] - ga[:, :2], axis=1)
            errs += list(e / size)
            pck.append(float(np.mean(e < 0.2 * size)))
    e = np.asarray(errs)
    return {"median_err_torso_pct": float(np.median(e) * 100),
            "p95_err_torso_pct": float(np.percentile(e, 95) * 100), "pck02": float(np.mean(pck)),
            "presence_agreement": float(np.mean(flags)), "frames": len(pck)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer frames")
    ap.add_argument("--recipes", nargs="+", choices=("dynamic", "static"), default=["dynamic", "static"])
    ap.add_argument("--out", type=Path, default=bl.MODELS)
    args = ap.parse_args(argv)
    try:
        import ai_edge_quantizer  # noqa: F401
    except ImportError:
        print("ai-edge-quantizer is not installed: `pip install ai-edge-quantizer==0.10.0` "
              "(a build-time tool, not a runtime dependency)", file=sys.stderr)
        return 2
    video = bl.video_frames()
    n_cal = 20 if args.quick else 60
    lm_cal, det_cal = calibration_inputs(video, n_cal)
    made: dict[str, dict[str, Path]] = {}
    for stem, cal in (("pose_landmark_full", lm_cal), ("pose_detection", det_cal)):
        src = bl.model_path(f"{stem}.tflite")
        f32 = fold_float16(src, args.out / f"{stem}_f32.tflite")
        made[stem] = {"float16 (shipped)": src, "float32 (folded)": f32}
        for kind in args.recipes:
            suffix = "_int8_dynamic" if kind == "dynamic" else "_int8_static"
            made[stem][f"int8 {kind}"] = quantize(f32, args.out / f"{stem}{suffix}.tflite", kind, cal)
    print(bl.header("int8 models (ai-edge-quantizer 0.10.0)"))
    reps = 1 if args.quick else 3
    rows = []
    for stem, cal in (("pose_landmark_full", lm_cal), ("pose_detection", det_cal)):
        models, errors = loadable(made[stem])
        speed = bare_speed(models, cal[: (10 if args.quick else 30)], reps)
        base = speed["float16 (shipped)"]
        for k, p in made[stem].items():
            size = f"{p.stat().st_size / 2**20:.2f}"
            if k in errors:
                rows.append([stem, k, size, f"runtime refuses it: {errors[k]}", "-"])
            else:
                rows.append([stem, k, size, speed[k], base / speed[k]])
        usable_variants = set(models)
        made[stem] = {k: p for k, p in made[stem].items() if k in usable_variants}
    print("### Bare invoke, one thread, interleaved on the same real inputs\n")
    print(bl.table(["model", "variant", "MiB", "invoke ms", "speed-up"], rows) + "\n")
    n = 30 if args.quick else 90
    seqs = {"sample_people.mp4": video[:n], "bus.jpg moving": bl.motion("bus.jpg", n, (640, 480)),
            "zidane.jpg moving": bl.motion("zidane.jpg", n, (1280, 720))}
    rows = []
    for k, p in made["pose_landmark_full"].items():
        if not k.startswith("int8"):
            continue
        for static in (True, False):
            acc = accuracy(p, seqs, static)
            usable = acc["pck02"] >= 0.98 and acc["median_err_torso_pct"] <= 2.0
            rows.append([k, "static" if static else "tracking", acc["frames"], acc["median_err_torso_pct"],
                         acc["p95_err_torso_pct"], acc["pck02"] * 100, acc["presence_agreement"] * 100,
                         "usable" if usable else "NOT usable"])
    print("### int8 landmark model vs the float pipeline (17 COCO keypoints, float result as ground truth)\n")
    print(bl.table(["variant", "mode", "frames", "median err % torso", "p95 err % torso", "PCK@0.2 %",
                    "presence agrees %", "verdict"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
