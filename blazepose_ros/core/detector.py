"""BlazePose person detector: SSD anchors, decoding, weighted NMS, detection -> ROI.

docs/pipeline.md §1-5. Everything the reference does in C++ ``float`` is float32 here.
Detections are in *normalized image* coordinates (x / W, y / H of the source
image) once the letterbox is removed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from .geometry import (
    F32,
    NormRect,
    alignment_points_rect,
    crop_matrix,
    letterbox_scale,
    pad_roi,
    remove_letterbox,
    transform_rect,
    value_range_transform,
    warp_crop,
    whole_image_rect,
)
from .inference import TFLiteModel
from .models import ModelError
from .refmath import sigmoid


@dataclass(frozen=True)
class AnchorOptions:
    """SsdAnchorsCalculator options of ``pose_detection_cpu.pbtxt`` (docs/pipeline.md §2)."""

    num_layers: int = 5
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    input_size_height: int = 224
    input_size_width: int = 224
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    strides: tuple[int, ...] = (8, 16, 32, 32, 32)
    aspect_ratios: tuple[float, ...] = (1.0,)
    fixed_anchor_size: bool = True
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = False


@dataclass(frozen=True)
class DetectorOptions:
    """Detector preprocessing, decoding and NMS settings (docs/pipeline.md §1, §3, §4)."""

    input_size: int = 224
    num_keypoints: int = 4
    num_coords: int = 12
    box_coord_offset: int = 0
    keypoint_coord_offset: int = 4
    x_scale: float = 224.0
    y_scale: float = 224.0
    w_scale: float = 224.0
    h_scale: float = 224.0
    score_clipping_thresh: float = 100.0
    min_score_thresh: float = 0.5  # = min_detection_confidence
    min_suppression_threshold: float = 0.3  # IoU, strict >
    # detection -> ROI (docs/pipeline.md §5)
    roi_start_keypoint: int = 0  # mid-hip
    roi_end_keypoint: int = 1  # full-body size/rotation point
    roi_scale: float = 1.25
    # score sigmoid with glibc-rounded expf instead of np.exp (bit-exact with MediaPipe)
    reference_math: bool = False
    anchors: AnchorOptions = field(default_factory=AnchorOptions)


@dataclass(frozen=True)
class Detection:
    """One person detection in normalized image coordinates.

    score: sigmoid probability. box: (xmin, ymin, width, height) of the
    (face) box, float32. keypoints: (4, 2) float32 -- mid-hip, full-body
    circle point, mid-shoulder, upper-body circle point.
    """

    score: float
    box: np.ndarray
    keypoints: np.ndarray


def _calculate_scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * 1.0 * index / (count - 1.0)


def generate_anchors(opts: AnchorOptions = AnchorOptions()) -> np.ndarray:  # noqa: B008
    """SSD anchors as an (N, 4) float32 array of (x_center, y_center, w, h), normalized.

    Order: layer group (consecutive layers with the same stride merged), row,
    column, then the anchors of the cell.
    """
    out: list[tuple[float, float, float, float]] = []
    n_strides = len(opts.strides)
    layer = 0
    while layer < opts.num_layers:
        heights: list[float] = []
        widths: list[float] = []
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        while last < n_strides and opts.strides[last] == opts.strides[layer]:
            scale = _calculate_scale(opts.min_scale, opts.max_scale, last, n_strides)
            if last == 0 and opts.reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                for ar in opts.aspect_ratios:
                    ratios.append(ar)
                    scales.append(scale)
                if opts.interpolated_scale_aspect_ratio > 0.0:
                    nxt = 1.0 if last == n_strides - 1 else _calculate_scale(
                        opts.min_scale, opts.max_scale, last + 1, n_strides)
                    scales.append(math.sqrt(scale * nxt))
                    ratios.append(opts.interpolated_scale_aspect_ratio)
            last += 1
        for ar, sc in zip(ratios, scales, strict=True):
            r = math.sqrt(ar)
            heights.append(sc / r)
            widths.append(sc * r)
        stride = opts.strides[layer]
        fm_h = math.ceil(opts.input_size_height / stride)
        fm_w = math.ceil(opts.input_size_width / stride)
        for y in range(fm_h):
            for x in range(fm_w):
                # float arithmetic as in the reference: (x + offset) * 1.0f / fm
                xc = float(F32(F32(x + opts.anchor_offset_x) / F32(fm_w)))
                yc = float(F32(F32(y + opts.anchor_offset_y) / F32(fm_h)))
                for k in range(len(heights)):
                    if opts.fixed_anchor_size:
                        out.append((xc, yc, 1.0, 1.0))
                    else:
                        out.append((xc, yc, widths[k], heights[k]))
        layer = last
    return np.array(out, dtype=F32)


def decode_boxes(raw: np.ndarray, anchors: np.ndarray, opts: DetectorOptions) -> np.ndarray:
    """Decode raw regressors (N, 12) to (N, 4 + 2K) float32 normalized to the letterboxed input.

    Columns: xmin, ymin, xmax, ymax, then K keypoints (x, y). Box format XYWH
    relative to the anchor centre (``reverse_output_order``), linear size.
    """
    raw = raw.astype(F32, copy=False)
    ax, ay, aw, ah = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    o = opts.box_coord_offset
    xs, ys, ws, hs = F32(opts.x_scale), F32(opts.y_scale), F32(opts.w_scale), F32(opts.h_scale)
    xc = raw[:, o] / xs * aw + ax
    yc = raw[:, o + 1] / ys * ah + ay
    w = raw[:, o + 2] / ws * aw
    h = raw[:, o + 3] / hs * ah
    two = F32(2.0)
    out = np.empty((raw.shape[0], 4 + 2 * opts.num_keypoints), F32)
    out[:, 0] = xc - w / two
    out[:, 1] = yc - h / two
    out[:, 2] = xc + w / two
    out[:, 3] = yc + h / two
    for k in range(opts.num_keypoints):
        off = opts.keypoint_coord_offset + 2 * k
        out[:, 4 + 2 * k] = raw[:, off] / xs * aw + ax
        out[:, 5 + 2 * k] = raw[:, off + 1] / ys * ah + ay
    return out


def sigmoid_scores(raw_scores: np.ndarray, clip: float, exact: bool = False) -> np.ndarray:
    """Score logits -> probabilities, logits clipped to [-clip, clip] first (float32).

    exp(100) overflows float32 to inf -> score 0, as in C++. ``exact``: glibc-rounded
    ``expf`` (:mod:`.refmath`) instead of ``np.exp``.
    """
    s = np.clip(raw_scores.astype(F32).reshape(-1), F32(-clip), F32(clip))
    return sigmoid(s, exact)


def input_lut(scale: np.float32, offset: np.float32) -> np.ndarray:
    """(1, 256) float32 table of ``u * scale + offset`` for u8 ``u``, rounded once.

    MediaPipe (OpenCV ``convertTo``) rounds ``u * scale + offset`` once; a float32
    multiply then add rounds twice and differs by one ulp on some values. The
    product of a u8 and a float32 and its sum with a float32 offset in [-1, 1] are
    exact in float64, so one float64 evaluation rounded to float32 is the fused result.
    """
    u = np.arange(256, dtype=np.float64)
    return (u * np.float64(scale) + np.float64(offset)).astype(F32).reshape(1, 256)


def to_detections(decoded: np.ndarray, scores: np.ndarray, min_score: float) -> list[Detection]:
    """Keep boxes with score >= min_score and non-negative, non-NaN size."""
    keep = np.nonzero(scores >= F32(min_score))[0]
    dets: list[Detection] = []
    for i in keep:
        d = decoded[i]
        width, height = F32(d[2] - d[0]), F32(d[3] - d[1])
        if not (width >= 0 and height >= 0):  # negative or NaN
            continue
        box = np.array([d[0], d[1], width, height], F32)
        dets.append(Detection(float(scores[i]), box, d[4:].reshape(-1, 2).copy()))
    return dets


def iou(a: np.ndarray, b: np.ndarray) -> np.float32:
    """Intersection over union of (xmin, ymin, w, h) boxes; touching boxes intersect (area 0)."""
    axmax, aymax = F32(a[0] + a[2]), F32(a[1] + a[3])
    bxmax, bymax = F32(b[0] + b[2]), F32(b[1] + b[3])
    if axmax < b[0] or bxmax < a[0] or aymax < b[1] or bymax < a[1]:
        return F32(0.0)
    ix = F32(min(axmax, bxmax) - max(a[0], b[0]))
    iy = F32(min(aymax, bymax) - max(a[1], b[1]))
    inter = F32(ix * iy)
    area_a = F32(F32(axmax - a[0]) * F32(aymax - a[1]))
    area_b = F32(F32(bxmax - b[0]) * F32(bymax - b[1]))
    norm = F32(F32(area_a + area_b) - inter)
    return F32(inter / norm) if norm > 0 else F32(0.0)


def weighted_nms(dets: list[Detection], threshold: float = 0.3) -> list[Detection]:
    """Weighted non-maximum suppression (docs/pipeline.md §4).

    The top-scoring box absorbs every remaining box with IoU > threshold
    (itself included); the merged box edges and keypoints are score-weighted
    means (sequential float32 sums, as in the reference); the score stays the
    top box's. Output is in descending score order.
    """
    if not dets:
        return []
    order = sorted(range(len(dets)), key=lambda i: -dets[i].score)
    remaining = [dets[i] for i in order]
    thr = F32(threshold)
    out: list[Detection] = []
    while remaining:
        top = remaining[0]
        cand, rest = [], []
        for d in remaining:
            (cand if iou(d.box, top.box) > thr else rest).append(d)
        if cand:
            s = np.array([d.score for d in cand], F32)
            vals = np.array([[d.box[0], d.box[1], F32(d.box[0] + d.box[2]), F32(d.box[1] + d.box[3]),
                              *d.keypoints.reshape(-1)] for d in cand], F32)
            # sequential accumulation (cumsum is not pairwise) of float32 products
            total = np.cumsum(s, dtype=F32)[-1]
            sums = np.cumsum(vals * s[:, None], axis=0, dtype=F32)[-1]
            xmin, ymin = F32(sums[0] / total), F32(sums[1] / total)
            box = np.array([xmin, ymin, F32(sums[2] / total) - xmin, F32(sums[3] / total) - ymin], F32)
            kps = (sums[4:] / total).astype(F32).reshape(-1, 2)
            out.append(Detection(top.score, box, kps))
        else:  # a degenerate (NaN) box matches nothing, not even itself
            out.append(top)
        if len(rest) == len(remaining):
            break
        remaining = rest
    return out


def detection_without_letterbox(det: Detection, padding: np.ndarray) -> Detection:
    """Map a detection from the letterboxed square back to normalized image coordinates
    (box corner and keypoints by :func:`.geometry.remove_letterbox`, box size scaled)."""
    lr, tb = letterbox_scale(padding)
    b = det.box
    xy = remove_letterbox(np.vstack([b[None, :2], det.keypoints[:, :2]]), padding)
    box = np.array([xy[0, 0], xy[0, 1], b[2] / lr, b[3] / tb], F32)
    kp = det.keypoints.astype(F32, copy=True)
    kp[:, :2] = xy[1:]
    return Detection(det.score, box, kp)


def detection_to_rect(det: Detection, image_w: int, image_h: int,
                      opts: DetectorOptions = DetectorOptions()) -> NormRect:  # noqa: B008
    """Landmark ROI from a detection: centre kp0, size/rotation from kp0->kp1 (docs/pipeline.md §5)."""
    rect = alignment_points_rect(det.keypoints[opts.roi_start_keypoint],
                                 det.keypoints[opts.roi_end_keypoint], image_w, image_h)
    return transform_rect(rect, image_w, image_h, opts.roi_scale, opts.roi_scale, square_long=True)


class PoseDetector:
    """Runs ``pose_detection.tflite`` on a whole RGB uint8 frame.

    The frame is letterboxed straight into the interpreter's 224x224 input with
    one ``warpPerspective`` (zero border -> -1.0). ``detect`` returns the
    detections after NMS in descending score order, in normalized image
    coordinates.
    """

    def __init__(self, model: TFLiteModel, options: DetectorOptions | None = None) -> None:
        self.model = model
        self.options = options or DetectorOptions()
        s = self.options.input_size
        model.require_square_rgb_input(s, "detector")
        self.anchors = generate_anchors(self.options.anchors)
        n = len(self.anchors)
        self._box_idx = self._score_idx = -1
        for i, shape in enumerate(model.output_shapes):
            if shape == (1, n, self.options.num_coords):
                self._box_idx = i
            elif shape == (1, n, 1):
                self._score_idx = i
        if self._box_idx < 0 or self._score_idx < 0:
            raise ModelError(f"detector '{model.path}' outputs {model.output_shapes} do not match "
                             f"{n} anchors x {self.options.num_coords} coords + scores")
        self._crop = np.empty((s, s, 3), np.uint8)
        self._scale, self._offset = value_range_transform(-1.0, 1.0)
        self._lut = input_lut(self._scale, self._offset)
        self.last_timings: dict[str, float] = {}

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """Letterbox ``rgb`` into the model input; returns the padding [l, t, r, b]."""
        h, w = rgb.shape[:2]
        s = self.options.input_size
        roi, padding = pad_roi(whole_image_rect(w, h), s, s, keep_aspect_ratio=True)
        warp_crop(rgb, crop_matrix(roi, s, s), s, s, border_replicate=False, dst=self._crop)
        view = self.model.input_view()
        res = cv2.LUT(self._crop, self._lut, dst=view[0])  # u8 -> float32, one rounding
        if res.ctypes.data != view[0].ctypes.data:  # OpenCV reallocated: copy in
            view[0] = res
        del view, res
        return padding

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """All detections after NMS (score >= min_score_thresh), best first."""
        t0 = time.perf_counter()
        padding = self.preprocess(rgb)
        t1 = time.perf_counter()
        self.model.invoke()
        t2 = time.perf_counter()
        raw_boxes = self.model.output_view(self._box_idx)[0]
        raw_scores = self.model.output_view(self._score_idx)[0]
        scores = sigmoid_scores(raw_scores, self.options.score_clipping_thresh, self.options.reference_math)
        keep = scores >= F32(self.options.min_score_thresh)
        if keep.any():
            idx = np.nonzero(keep)[0]
            decoded = decode_boxes(raw_boxes[idx], self.anchors[idx], self.options)
            dets = to_detections(decoded, scores[idx], self.options.min_score_thresh)
        else:
            dets = []
        del raw_boxes, raw_scores
        dets = [detection_without_letterbox(d, padding)
                for d in weighted_nms(dets, self.options.min_suppression_threshold)]
        t3 = time.perf_counter()
        self.last_timings = {"detector_preprocess": t1 - t0, "detector_invoke": t2 - t1,
                             "detector_decode": t3 - t2}
        return dets
