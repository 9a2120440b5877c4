"""Pure geometry for multi-person tracking: boxes, overlaps, duplicate tests, matching, tiles.

Every function here is pure (no state, no models) and works in source-image
pixels (x right, y down) unless its docstring says otherwise. Boxes are
``(x0, y0, x1, y1)`` float arrays, axis-aligned.

Duplicate suppression follows MediaPipe Tasks:

* ROI overlap: the pose landmarker graph (``pose_landmarker_graph.cc``) associates
  the previous frame's pose ROIs with the detector's ROIs through
  ``AssociationNormRectCalculator`` with ``min_similarity_threshold =
  min_tracking_confidence`` (0.5 by default): two ROIs are the same person when
  the IoU of their axis-aligned rectangles (rotation ignored) is > 0.5.
* Keypoint overlap: the hand landmarker's ``HandLandmarksDeduplicationCalculator``
  calls two hands the same when at least 10 of 21 landmarks are closer than
  0.2 x the larger hand's baseline size AND the landmark bounds' IoU is > 0.2.
  MediaPipe has no pose counterpart; :func:`poses_overlap` applies the same rule
  to 33 pose keypoints with the torso length as the baseline (defaults below).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .geometry import NormRect

# MediaPipe Tasks pose landmarker: AssociationNormRectCalculator threshold (= min_tracking_confidence)
ROI_IOU_SAME_PERSON = 0.5
# static-image mode: a pose whose box overlaps last frame's by more than this keeps its id
STATIC_ID_IOU = ROI_IOU_SAME_PERSON
# HandLandmarksDeduplicationCalculator constants, applied to poses
KEYPOINT_DISTANCE_RATIO = 0.2  # kAllowedBaselineDistanceRatio
KEYPOINT_MATCH_FRACTION = 10 / 21  # kNumMatchedLandmarksToSuppressHand out of 21
KEYPOINT_BOUND_IOU = 0.2  # kMinIouThresholdToSuppressHand

# BlazePose keypoint indices used here (see topology.Keypoint)
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 11, 12, 23, 24


def rect_box(rect: NormRect, image_w: int, image_h: int) -> np.ndarray:
    """Axis-aligned box (px) of a normalized rect, rotation ignored (as MediaPipe's association)."""
    cx, cy = float(rect.x_center) * image_w, float(rect.y_center) * image_h
    hw, hh = float(rect.width) * image_w / 2, float(rect.height) * image_h / 2
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], np.float64)


def rotated_rect_box(rect: NormRect, image_w: int, image_h: int) -> np.ndarray:
    """Axis-aligned box (px) enclosing the rotated rect (all four corners)."""
    cx, cy = float(rect.x_center) * image_w, float(rect.y_center) * image_h
    hw, hh = float(rect.width) * image_w / 2, float(rect.height) * image_h / 2
    c, s = abs(math.cos(float(rect.rotation))), abs(math.sin(float(rect.rotation)))
    ex, ey = hw * c + hh * s, hw * s + hh * c
    return np.array([cx - ex, cy - ey, cx + ex, cy + ey], np.float64)


def box_area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes; 0 when either is empty."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = float(iw * ih)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def box_intersection_over_first(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of box ``a`` covered by box ``b`` (0 when ``a`` is empty)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    area = box_area(a)
    if iw <= 0 or ih <= 0 or area <= 0:
        return 0.0
    return float(iw * ih) / area


def keypoint_box(kp: np.ndarray) -> np.ndarray:
    """Bounds (px) of all keypoints' x, y (as MediaPipe's CalculateBound over landmarks)."""
    xy = np.asarray(kp)[:, :2]
    return np.array([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()], np.float64)


def hip_center(kp: np.ndarray) -> np.ndarray:
    """Mid-hip (px) from keypoints (33, >=2)."""
    return (np.asarray(kp[L_HIP, :2], np.float64) + np.asarray(kp[R_HIP, :2], np.float64)) / 2


def shoulder_center(kp: np.ndarray) -> np.ndarray:
    return (np.asarray(kp[L_SHOULDER, :2], np.float64) + np.asarray(kp[R_SHOULDER, :2], np.float64)) / 2


def torso_length(kp: np.ndarray) -> float:
    """Baseline size of a pose (px): the longer of mid-shoulder->mid-hip and the shoulder width."""
    sw = float(np.linalg.norm(np.asarray(kp[L_SHOULDER, :2], np.float64) - kp[R_SHOULDER, :2]))
    return max(float(np.linalg.norm(shoulder_center(kp) - hip_center(kp))), sw)


@dataclass(frozen=True)
class OverlapRule:
    """When two poses are the same person (see module docstring for the sources)."""

    distance_ratio: float = KEYPOINT_DISTANCE_RATIO
    match_fraction: float = KEYPOINT_MATCH_FRACTION
    bound_iou: float = KEYPOINT_BOUND_IOU
    torso_ratio: float = 0.25  # same_torso; 0 = MediaPipe's keypoint rule alone
    # the keypoint rule also needs the mid-hips within this many torso lengths: a landmark run
    # on an ROI holding two people can put one's face and arms on the other (seen on the
    # pose2sim clips), which must not make two bodies one (inf = MediaPipe's rule as is)
    max_hip_distance: float = 0.5


def keypoint_matches(kp_a: np.ndarray, kp_b: np.ndarray,
                     distance_ratio: float = KEYPOINT_DISTANCE_RATIO) -> int:
    """How many keypoints of two poses are closer than ``distance_ratio`` x the larger torso length."""
    thr = distance_ratio * max(torso_length(kp_a), torso_length(kp_b))
    d = np.linalg.norm(np.asarray(kp_a[:, :2], np.float64) - np.asarray(kp_b[:, :2], np.float64), axis=1)
    return int(np.count_nonzero(d < thr))


def same_torso(kp_a: np.ndarray, kp_b: np.ndarray, max_ratio: float = 0.25) -> bool:
    """True when both poses put their mid-hip and mid-shoulder within ``max_ratio`` x the larger
    torso length of each other's: one body (a person hidden that exactly behind another
    is not visible anyway)."""
    t = max(torso_length(kp_a), torso_length(kp_b), 1.0)
    return (float(np.linalg.norm(hip_center(kp_a) - hip_center(kp_b))) < max_ratio * t
            and float(np.linalg.norm(shoulder_center(kp_a) - shoulder_center(kp_b))) < max_ratio * t)


def poses_overlap(kp_a: np.ndarray, kp_b: np.ndarray, rule: OverlapRule = OverlapRule()) -> bool:  # noqa: B008
    """True when two poses (33, >=2 px) describe the same person: MediaPipe's keypoint rule
    (enough keypoints close + bounds overlapping) or :func:`same_torso`.

    The torso test catches two landmark runs on one person from different ROIs, which
    agree on the torso but can disagree on the limbs by more than the keypoint rule allows.
    """
    if rule.torso_ratio > 0 and same_torso(kp_a, kp_b, rule.torso_ratio):
        return True
    t = max(torso_length(kp_a), torso_length(kp_b), 1.0)
    if float(np.linalg.norm(hip_center(kp_a) - hip_center(kp_b))) >= rule.max_hip_distance * t:
        return False
    n = min(kp_a.shape[0], kp_b.shape[0])
    need = math.ceil(rule.match_fraction * n)
    if keypoint_matches(kp_a[:n], kp_b[:n], rule.distance_ratio) < need:
        return False
    return box_iou(keypoint_box(kp_a), keypoint_box(kp_b)) > rule.bound_iou


def detection_matches_pose(det_hip: np.ndarray, det_shoulder: np.ndarray, kp: np.ndarray,
                           max_ratio: float = 0.35) -> bool:
    """True when a detection's mid-hip and mid-shoulder (px) both lie within ``max_ratio`` x
    the pose's torso length of the pose's own mid-hip and mid-shoulder: the same person."""
    t = max(torso_length(kp), 1.0)
    return (float(np.linalg.norm(det_hip - hip_center(kp))) < max_ratio * t
            and float(np.linalg.norm(det_shoulder - shoulder_center(kp))) < max_ratio * t)


def greedy_match(cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    """Pairs (row, col) by ascending cost, each row and column at most once, cost <= max_cost.

    Greedy instead of Hungarian: a handful of people, and the cheapest pair first is
    the safest identity decision when two candidates are ambiguous.
    """
    cost = np.asarray(cost, np.float64)
    if cost.size == 0:
        return []
    order = np.argsort(cost, axis=None, kind="stable")
    rows, cols = np.unravel_index(order, cost.shape)
    used_r: set[int] = set()
    used_c: set[int] = set()
    out = []
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if cost[r, c] > max_cost or not np.isfinite(cost[r, c]):
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        out.append((r, c))
    return out


Box = tuple[int, int, int, int]

# The detector finds a person whose full-body height is >= ~50-60 px of its 224 px input
# (measured: bench/bench_multi_person.py, the two sports2d people shrunk in a 224 canvas:
# scores 0 at 40-50 px, >= 0.6 from 40-60 px).
DETECTOR_MIN_PERSON_PX = 60.0


def grid_for_person_height(image_w: int, image_h: int, person_px: float, overlap: float = 0.25,
                           detector_input: int = 224,
                           min_person_px: float = DETECTOR_MIN_PERSON_PX) -> tuple[int, int]:
    """The coarsest (columns, rows) grid whose tiles, letterboxed into the detector input,
    show a ``person_px`` tall person at least ``min_person_px`` tall."""
    if not person_px > 0:
        raise ValueError(f"person height must be > 0 px, got {person_px}")
    limit = person_px * detector_input / min_person_px  # largest tile side that works

    def n(side: int) -> int:
        return max(1, math.ceil((side / limit - overlap) / (1 - overlap)))

    return n(image_w), n(image_h)


def tile_boxes(image_w: int, image_h: int, grid: tuple[int, int], overlap: float = 0.25) -> list[Box]:
    """Integer pixel boxes of a ``grid = (columns, rows)`` tiling with ``overlap`` (fraction of
    a tile) between neighbours; the tiles cover the whole image.

    ``grid = (0, 0)`` means ceil(long / short) square tiles along the long side, each as
    tall (wide) as the short side, spread evenly (two tiles for 4:3 and 16:9 frames in
    either orientation, one for a square); ``overlap`` is then unused.
    """
    nx, ny = grid
    if (nx, ny) == (0, 0):
        s, long_side = min(image_w, image_h), max(image_w, image_h)
        n = math.ceil(long_side / s)
        out = []
        for i in range(n):
            o = 0 if n == 1 else round(i * (long_side - s) / (n - 1))
            out.append((o, 0, o + s, s) if image_w >= image_h else (0, o, s, o + s))
        return out
    if nx < 1 or ny < 1:
        raise ValueError(f"tile grid must be (0, 0) or positive, got {grid}")
    if not 0 <= overlap < 1:
        raise ValueError(f"tile overlap must be in [0, 1), got {overlap}")
    tw = image_w / (nx - (nx - 1) * overlap)
    th = image_h / (ny - (ny - 1) * overlap)
    out = []
    for j in range(ny):
        for i in range(nx):
            x0, y0 = i * tw * (1 - overlap), j * th * (1 - overlap)
            out.append((round(x0), round(y0), min(image_w, round(x0 + tw)), min(image_h, round(y0 + th))))
    return out


def carry_ids(previous: list[tuple[int, np.ndarray]], boxes: list[np.ndarray],
              min_iou: float = STATIC_ID_IOU) -> list[int | None]:
    """Static-image mode's identity: the id of the previous frame's person whose box (px)
    overlaps each new box by IoU > ``min_iou``, greedily by best overlap; None for a newcomer.

    Only the id carries over: keypoints stay those of the frame alone (no tracking, no smoothing).
    """
    if not previous or not boxes:
        return [None] * len(boxes)
    iou = np.array([[box_iou(pb, b) for b in boxes] for _, pb in previous])
    out: list[int | None] = [None] * len(boxes)
    for r, c in greedy_match(1.0 - iou, 1.0 - min_iou):
        if iou[r, c] > min_iou:
            out[c] = previous[r][0]
    return out
