"""The int8 ``pose_detection`` model of ``bench/int8_build.py`` (same command, same method).

1. ``pose_detection.tflite`` with its float16 weights folded to float32 and a signature
   (``quantize.fold_float16``), then **densified**: 38 of its 1x1 conv weights are stored
   sparse (DENSIFY -> DEQUANTIZE at run time). The quantizer takes such a computed weight
   for an activation and gives it an asymmetric per-tensor int8 range, which the runtime's
   CONV_2D refuses (``zero_point != 0``: the earlier ``quantize.py`` failure). The dense
   values are read back from the float interpreter and stored as constants (bit-identical
   outputs), so every weight gets the symmetric per-channel recipe (zero point 0);
2. inputs: the 224x224 letterboxed tensors the pipeline feeds the detector
   (``PoseDetector.preprocess``) on evenly spaced frames; calibration on the landmark
   part's calibration media, evaluation on its evaluation media;
3. one calibration pass; sensitivity per contiguous op block (that block alone int8) in
   error and in invoke time (int8 is not faster everywhere); candidates: all-int8, the k
   most sensitive blocks kept float, the score head (the classifier convs: their int8
   output step is ~1.6 in logit, so scores near the 0.5 threshold flip) or both heads kept
   float, and int8 only in the blocks where it was faster; all with float I/O;
4. scored against the float detector on the same inputs after the pipeline's decoding and
   weighted NMS, and on the landmark ROI the pipeline derives from each detection; speed
   against the shipped float16 model (what the pipeline runs), interleaved in one run.

Goal: >= 1.5x the float speed, >= 99 % of the float detections matched (IoU > 0.5), <= 1 %
false detections (per float detection), and on the derived ROI a mean centre error <= 2 %
of the ROI size, mean size error <= 2 %, mean rotation error <= 2 degrees. The best
candidate is written as ``models/pose_detection_int8.tflite``, the all-int8 one as
``models/pose_detection_int8_all.tflite`` (the Edge TPU compiler's input).
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchlib as bl
import cv2
import numpy as np

from blazepose_ros.core import TFLiteModel
from blazepose_ros.core.detector import (
    Detection,
    PoseDetector,
    decode_boxes,
    detection_to_rect,
    detection_without_letterbox,
    iou,
    sigmoid_scores,
    to_detections,
    weighted_nms,
)
from blazepose_ros.core.geometry import NormRect
from blazepose_ros.core.model_surgery import float_io

DENSIFY, DEQUANTIZE = 124, 6
GOAL_SPEEDUP, GOAL_MATCHED, GOAL_FALSE = 1.5, 0.99, 0.01
GOAL_CENTRE, GOAL_SIZE, GOAL_ROT_DEG = 0.02, 0.02, 2.0
# output tensor names of the heads' ops (the convs that end in the score / box outputs)
SCORE_HEAD = ("model_1/model/classifier_person", "model_1/model/reshaped_classifier", "Identity_1")
BOX_HEAD = ("model_1/model/regressor_person", "model_1/model/reshaped_regressor", "Identity")


@dataclass
class Sample:
    """One detector input: the letterboxed tensor, its padding, the frame size (w, h)."""

    x: np.ndarray
    padding: np.ndarray
    size: tuple[int, int]


def detector_inputs(names: tuple[str, ...], per_video: int) -> list[Sample]:
    """The pipeline's detector inputs (1, 224, 224, 3) on ``per_video`` evenly spaced frames."""
    det = PoseDetector(TFLiteModel(bl.model_path("pose_detection.tflite")))
    out = []
    for name in names:
        cap = cv2.VideoCapture(str(bl.DATA / name))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if n <= 0:
            raise SystemExit(f"[int8] {bl.DATA / name} missing: run `bash scripts/setup.sh`")
        step = max(1, n // per_video)
        for i in range(n):
            ok, bgr = cap.read()
            if not ok:
                break
            if i % step == 0 and i // step < per_video:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                padding = det.preprocess(rgb)
                out.append(Sample(np.array(det.model.input_view(), copy=True), padding,
                                  (rgb.shape[1], rgb.shape[0])))
        cap.release()
    return out


def densify(src: Path, dst: Path) -> Path:
    """``src`` with every DENSIFY -> DEQUANTIZE weight replaced by its dense float32 value."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as fu

    interp = Interpreter(model_path=str(src), experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    interp.invoke()  # DENSIFY fills its output on the first run
    model = fu.read_model(src)
    sg = model.subgraphs[0]

    def code(op: Any) -> int:
        c = model.operatorCodes[op.opcodeIndex]
        return max(int(c.builtinCode), int(c.deprecatedBuiltinCode))

    producer = {int(t): k for k, op in enumerate(sg.operators) for t in op.outputs}
    drop: set[int] = set()
    for k, op in enumerate(sg.operators):
        p = producer.get(int(op.inputs[0])) if code(op) == DEQUANTIZE else None
        if p is None or code(sg.operators[p]) != DENSIFY:
            continue
        t = int(op.outputs[0])
        buf = schema.BufferT()
        buf.data = np.frombuffer(interp.get_tensor(t).astype(np.float32).tobytes(), np.uint8)
        model.buffers.append(buf)
        sg.tensors[t].buffer = len(model.buffers) - 1
        drop |= {k, p}
    sg.operators = [op for k, op in enumerate(sg.operators) if k not in drop]
    # drop the tensors nothing uses now (the sparse float16 ones): the quantizer reads every tensor
    used = sorted({int(t) for op in sg.operators for t in [*op.inputs, *op.outputs] if t >= 0}
                  | {int(t) for t in [*sg.inputs, *sg.outputs]})
    new = {t: i for i, t in enumerate(used)}
    for t in set(range(len(sg.tensors))) - set(used):
        model.buffers[sg.tensors[t].buffer].data = None
    sg.tensors = [sg.tensors[t] for t in used]
    for op in sg.operators:
        op.inputs = [new[int(t)] if t >= 0 else -1 for t in op.inputs]
        op.outputs = [new[int(t)] for t in op.outputs]
    sg.inputs, sg.outputs = [new[int(t)] for t in sg.inputs], [new[int(t)] for t in sg.outputs]
    for sig in model.signatureDefs or []:
        for tm in [*(sig.inputs or []), *(sig.outputs or [])]:
            tm.tensorIndex = new[int(tm.tensorIndex)]
    fu.write_model(model, str(dst))
    return dst


class Runner:
    """One float-I/O detector model: raw outputs, and the pipeline's detections from them."""

    def __init__(self, path: Path) -> None:
        self.det = PoseDetector(TFLiteModel(path))

    def raw(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (N, 12), score logits (N,)) for input ``x``."""
        m = self.det.model
        view = m.input_view()
        view[...] = x
        del view
        m.invoke()
        return m.output(self.det._box_idx)[0], m.output(self.det._score_idx)[0].reshape(-1)

    def detections(self, boxes: np.ndarray, logits: np.ndarray) -> list[Detection]:
        """As ``PoseDetector.detect`` after its invoke, letterbox not removed (224-input / 224)."""
        o = self.det.options
        scores = sigmoid_scores(logits, o.score_clipping_thresh)
        idx = np.nonzero(scores >= np.float32(o.min_score_thresh))[0]
        dets = to_detections(decode_boxes(boxes[idx], self.det.anchors[idx], o), scores[idx],
                             o.min_score_thresh) if idx.size else []
        return weighted_nms(dets, o.min_suppression_threshold)


def evaluate(path: Path, samples: list[Sample]) -> list[tuple[np.ndarray, np.ndarray, list[Detection]]]:
    r = Runner(path)
    out = []
    for s in samples:
        b, lg = r.raw(s.x)
        out.append((b, lg, r.detections(b, lg)))
    return out


def anchor_error(ref: list[Any], got: list[Any]) -> float:
    """Sensitivity cost: mean keypoint error (224-input px) on the anchors the float model
    scores >= 0.5 (the ones NMS merges), plus 100 x their mean score difference."""
    kp, sc = [], []
    for (rb, rl, _), (gb, gl, _) in zip(ref, got, strict=True):
        sel = sigmoid_scores(rl, 100.0) >= 0.5
        if sel.any():
            d = (rb[sel, 4:12] - gb[sel, 4:12]).reshape(-1, 4, 2)  # raw units = 224-input px
            kp.append(np.linalg.norm(d, axis=2).ravel())
            sc.append(np.abs(sigmoid_scores(rl[sel], 100.0) - sigmoid_scores(gl[sel], 100.0)))
    return float(np.concatenate(kp).mean() + 100 * np.concatenate(sc).mean()) if kp else 0.0


def _angle(a: float) -> float:
    return abs((a + math.pi) % (2 * math.pi) - math.pi)


def roi_px(det: Detection, s: Sample) -> NormRect:
    return detection_to_rect(detection_without_letterbox(det, s.padding), *s.size)


def score(ref: list[Any], got: list[Any], samples: list[Sample]) -> dict[str, float]:
    """Detections after NMS against the float model's: matched share (IoU > 0.5, greedy in
    float score order), top-1 agreement (the best detection, which the single-person loop
    uses, matches the float one's; frames with a float detection), box IoU, keypoint error
    (224-input px), |score difference|, false detections per float detection; on the
    derived ROI: centre error / ROI size, |size ratio - 1|, rotation error (degrees)."""
    n_ref = n_false = n_top = n_top_ok = 0
    ious, kps, dscore, centre, size, rot = [], [], [], [], [], []
    for (_, _, rd), (_, _, gd), s in zip(ref, got, samples, strict=True):
        n_ref += len(rd)
        if rd:
            n_top += 1
            n_top_ok += bool(gd) and iou(rd[0].box, gd[0].box) > 0.5
        free = list(range(len(gd)))
        for f in rd:
            best = max(free, key=lambda j: iou(f.box, gd[j].box), default=None)
            if best is None or iou(f.box, gd[best].box) <= 0.5:
                continue
            free.remove(best)
            g = gd[best]
            ious.append(float(iou(f.box, g.box)))
            kps.append(np.linalg.norm((f.keypoints - g.keypoints) * 224, axis=1))
            dscore.append(abs(f.score - g.score))
            a, b = roi_px(f, s), roi_px(g, s)
            w, h = s.size
            side = float(a.width) * w
            centre.append(math.hypot((a.x_center - b.x_center) * w, (a.y_center - b.y_center) * h) / side)
            size.append(abs(float(b.width) / float(a.width) - 1))
            rot.append(math.degrees(_angle(float(b.rotation) - float(a.rotation))))
        n_false += len(free)
    kp = np.concatenate(kps) if kps else np.array([np.nan])

    def mean(v: list[float]) -> float:
        return float(np.mean(v)) if v else float("nan")

    return {"matched": len(ious) / max(n_ref, 1), "false": n_false / max(n_ref, 1), "n": n_ref,
            "top": n_top_ok / max(n_top, 1),
            "iou": mean(ious), "kp_px": float(kp.mean()), "kp_p95": float(np.percentile(kp, 95)),
            "dscore": mean(dscore), "centre": mean(centre),
            "centre_p95": float(np.percentile(centre, 95)) if centre else float("nan"),
            "size": mean(size), "rot": mean(rot)}


def meets(ratio: float, s: dict[str, float]) -> bool:
    return (ratio >= GOAL_SPEEDUP and s["matched"] >= GOAL_MATCHED and s["false"] <= GOAL_FALSE
            and s["centre"] <= GOAL_CENTRE and s["size"] <= GOAL_SIZE and s["rot"] <= GOAL_ROT_DEG)


def build_detector(args: Any, quantizer: Any, ib: Any) -> None:
    """Build, measure and write the int8 detector (``ib``: the int8_build module, for its
    media lists, recipe and interleaved timing)."""
    t_start = time.perf_counter()
    n_cal, n_eval = (15, 15) if args.quick else (40, 60)
    cal = detector_inputs(ib.CALIBRATION, n_cal)
    ev = detector_inputs(ib.EVALUATION, n_eval)
    print(f"[int8] detector: {len(cal)} calibration inputs, {len(ev)} evaluation inputs", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bp_int8_det_") as tmp_s:
        tmp = Path(tmp_s)
        from quantize import fold_float16

        f32 = densify(fold_float16(bl.model_path("pose_detection.tflite"), tmp / "det_f32.tflite"),
                      tmp / "det_dense.tflite")
        from ai_edge_litert import schema_py_generated as schema

        sg = schema.Model.GetRootAsModel(f32.read_bytes(), 0).Subgraphs(0)
        ops = [sg.Tensors(sg.Operators(k).Outputs(0)).Name().decode() for k in range(sg.OperatorsLength())]
        key = next(iter(TFLiteModel(f32)._interp.get_signature_runner("serving_default").get_input_details()))
        qt = quantizer.Quantizer(str(f32))
        qt.load_quantization_recipe(ib.recipe_for([]))
        calib = qt.calibrate({"serving_default": [{key: c.x} for c in cal]})

        def build(float_ops: list[str], name: str) -> Path:
            q = quantizer.Quantizer(str(f32))
            q.load_quantization_recipe(ib.recipe_for(float_ops))
            dst = tmp / f"{name}.tflite"
            with contextlib.redirect_stdout(io.StringIO()):
                q.quantize(calib).export_model(str(dst), overwrite=True)
            content = dst.read_bytes()
            dst.write_bytes(float_io(content) or content)
            return dst

        ref = evaluate(f32, ev)
        groups = args.det_groups
        blocks = [list(b) for b in np.array_split(np.array(ops, dtype=object), groups)]
        sens, only = [], {}
        for g, block in enumerate(blocks):
            others = [o for h, b in enumerate(blocks) if h != g for o in b]
            only[g] = build(others, f"only{g}")
            c = anchor_error(ref, evaluate(only[g], ev))
            sens.append((c, g))
            print(f"[int8] detector block {g} ({len(block)} ops, {block[0][:40]}...) alone int8: "
                  f"cost {c:.3f}", file=sys.stderr, flush=True)
        # int8 is not faster everywhere on XNNPACK: each block alone int8, timed against float
        # (all interleaved in one run), gives the blocks where it pays
        t_only = ib.speed({"float": f32, **{str(g): p for g, p in only.items()}}, [s.x for s in ev[:30]], 2)
        gain = {g: t_only["float"] - t_only[str(g)] for g in only}
        print("[int8] detector ms saved with only that block int8: "
              + ", ".join(f"{g}: {v:+.2f}" for g, v in gain.items()), file=sys.stderr)
        order = [g for _, g in sorted(sens, reverse=True)]
        cands: dict[str, Path] = {"all int8": build([], "all")}
        for k in (int(v) for v in args.det_keep_float.split(",")):
            keep = sorted(order[:k])
            cands[f"{k} blocks float: {keep}"] = build([o for g in keep for o in blocks[g]], f"keep{k}")
        # the score logits' int8 step rounds logits near 0 to exactly 0 = score 0.5, which passes
        # the >= 0.5 threshold: the (cheap) heads kept float avoid those false detections
        score_head = [o for o in ops if o.startswith(SCORE_HEAD)]
        heads = [o for o in ops if o.startswith(SCORE_HEAD + BOX_HEAD)]
        cands[f"score head float ({len(score_head)} ops)"] = build(score_head, "score_head")
        cands[f"both heads float ({len(heads)} ops)"] = build(heads, "heads")
        cands[f"both heads + block 0 float ({len(heads) + len(blocks[0])} ops)"] = build(
            heads + blocks[0], "heads0")
        slow = sorted(g for g, v in gain.items() if v <= 0)
        if slow and len(slow) < groups:
            cands[f"int8 only where faster, float: {slow}"] = build(
                [o for g in slow for o in blocks[g]], "faster")
        shipped = bl.model_path("pose_detection.tflite")
        paths = {"float16 (shipped)": shipped, "float32 (dense)": f32, **cands}
        sp = ib.speed(paths, [s.x for s in ev[: 40 if args.quick else 120]], 2)
        rows, best = [], None
        for k, p in paths.items():
            s = score(ref, evaluate(p, ev), ev)
            ratio = sp["float16 (shipped)"] / sp[k]
            ok = meets(ratio, s)
            rows.append([k, f"{p.stat().st_size / 2**20:.2f}", sp[k], ratio, s["matched"] * 100,
                         s["false"] * 100, s["top"] * 100, s["iou"], s["kp_px"], s["kp_p95"], s["dscore"],
                         s["centre"] * 100, s["centre_p95"] * 100, s["size"] * 100, s["rot"],
                         "yes" if ok else "no"])
            if k.startswith("float"):
                continue
            rank = (ok, ratio >= GOAL_SPEEDUP, s["matched"] - s["false"], -s["centre"])
            if best is None or rank > best[0]:
                best = (rank, k, p, ok)
        print(bl.header("int8 pose_detection model (ai-edge-quantizer 0.10.0)"))
        print("Sensitivity (cost with only that block int8: anchor keypoint px + 100 x score "
              "difference), most sensitive first: "
              + ", ".join(f"block {g} {c:.2f}" for c, g in sorted(sens, reverse=True)) + "\n")
        print("Invoke ms saved with only that block int8 (interleaved with float): "
              + ", ".join(f"block {g} {v:+.2f}" for g, v in gain.items()) + "\n")
        print(f"{len(cal)} calibration inputs from {', '.join(ib.CALIBRATION)}; {len(ev)} evaluation "
              f"inputs ({sum(len(d) for _, _, d in ref)} float detections) from "
              f"{', '.join(ib.EVALUATION)}; {len(ops)} ops in {groups} blocks.\n")
        print(bl.table(["variant", "MiB", "invoke ms", "speed-up", "matched %", "false %", "top-1 %",
                        "box IoU", "kp px", "kp p95 px", "score diff", "ROI centre % size", "centre p95 %",
                        "ROI size %", "rotation deg", "meets goal"], rows) + "\n")
        print(f"Goal: >= {GOAL_SPEEDUP}x, matched >= {100 * GOAL_MATCHED:g} %, false <= "
              f"{100 * GOAL_FALSE:g} %, ROI centre <= {100 * GOAL_CENTRE:g} % of its size, size <= "
              f"{100 * GOAL_SIZE:g} %, rotation <= {GOAL_ROT_DEG:g} deg (means, against float).")
        edgetpu_in = args.out / "pose_detection_int8_all.tflite"
        edgetpu_in.write_bytes(cands["all int8"].read_bytes())
        print(f"\nWrote `{edgetpu_in.name}` (every op int8, float I/O): the Edge TPU compiler's input.")
        if best is not None:
            _, k, p, ok = best
            dst = args.out / "pose_detection_int8.tflite"
            dst.write_bytes(p.read_bytes())
            print(f"\nWrote `{dst.name}` ({k}): "
                  + ("meets the goal." if ok else "does NOT meet the goal: opt-in only, not shipped."))
    print(f"\n(detector: {time.perf_counter() - t_start:.0f} s)")
