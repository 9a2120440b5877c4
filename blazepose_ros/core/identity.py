"""Identity cues for multi-person tracking: torso colour, motion, and re-identification.

Pure functions and small value types; the tracker (:mod:`.multi_person`) owns the state.
Pixel coordinates are in the source image; times are seconds of the image stamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .association import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER, hip_center, torso_length

HUE_BINS = 12
GREY_BINS = 3  # dark, mid, bright
GREY_LIMIT = 50  # saturation / value (0-255) below which a pixel's hue is noise
HIST_SIZE = 2 * HUE_BINS + GREY_BINS
HIST_MAX_SIDE = 32  # the torso patch is shrunk to this before the histogram (cost, not accuracy)


def torso_patch_box(kp: np.ndarray, image_w: int, image_h: int,
                    shrink: float = 0.2) -> tuple[int, int, int, int] | None:
    """Integer box (px) inside the torso: the shoulders-hips quadrilateral's bounds shrunk by
    ``shrink`` on each side (keeps background and arms out). None when too small or outside."""
    pts = np.asarray(kp[[L_SHOULDER, R_SHOULDER, L_HIP, R_HIP], :2], np.float64)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    w, h = x1 - x0, y1 - y0
    # side views: the shoulders nearly overlap; widen to a third of the torso height
    if w < h / 3:
        cx = (x0 + x1) / 2
        x0, x1, w = cx - h / 6, cx + h / 6, h / 3
    x0, x1 = x0 + shrink * w, x1 - shrink * w
    y0, y1 = y0 + shrink * h, y1 - shrink * h
    bx0, by0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    bx1, by1 = min(image_w, math.ceil(x1)), min(image_h, math.ceil(y1))
    if bx1 - bx0 < 3 or by1 - by0 < 3:
        return None
    return bx0, by0, bx1, by1


def torso_histogram(rgb: np.ndarray, kp: np.ndarray) -> np.ndarray | None:
    """L1-normalised colour histogram (float32, HIST_SIZE bins) of the torso patch, or None.

    Chromatic pixels (saturation and value >= GREY_LIMIT) vote into hue x 2 saturation
    bins; the others (grey, dark, glare: no reliable hue) into GREY_BINS brightness bins.
    ``rgb``: the HxWx3 uint8 frame; ``kp``: (33, >=2) keypoints in its pixels. Cheap: the
    patch is resized to at most HIST_MAX_SIDE px a side first (~0.05 ms).
    """
    h, w = rgb.shape[:2]
    box = torso_patch_box(kp, w, h)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    patch = rgb[y0:y1, x0:x1]
    side = max(patch.shape[:2])
    if side > HIST_MAX_SIDE:
        f = HIST_MAX_SIDE / side
        patch = cv2.resize(patch, (max(1, round(patch.shape[1] * f)), max(1, round(patch.shape[0] * f))),
                           interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.int32)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    chroma = (sat >= GREY_LIMIT) & (val >= GREY_LIMIT)
    bins = np.where(chroma,
                    (hue * HUE_BINS // 180) * 2 + (sat >= 128),
                    2 * HUE_BINS + np.minimum(val * GREY_BINS // 256, GREY_BINS - 1))
    hist = np.bincount(bins, minlength=HIST_SIZE).astype(np.float32)
    return hist / hist.sum()


def histogram_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Bhattacharyya distance in [0, 1] between two normalised histograms (0 = same);
    0.5 (neutral) when either is missing."""
    if a is None or b is None:
        return 0.5
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def blend_histogram(old: np.ndarray | None, new: np.ndarray | None, alpha: float) -> np.ndarray | None:
    """Running appearance: ``(1 - alpha) * old + alpha * new`` (either may be missing)."""
    if new is None:
        return old
    if old is None:
        return new
    return ((1.0 - alpha) * old + alpha * new).astype(np.float32)


@dataclass
class Appearance:
    """What a person looks like and where they were: the state re-identification compares.

    hip: mid-hip (px); velocity: of the mid-hip (px/s); size: torso length (px);
    hist: running torso histogram; stamp: seconds of the last frame it was seen.
    """

    hip: np.ndarray
    velocity: np.ndarray
    size: float
    hist: np.ndarray | None
    stamp: float

    def predicted_hip(self, stamp: float, max_dt: float) -> np.ndarray:
        """Constant-velocity prediction of the mid-hip at ``stamp`` (dt clipped to ``max_dt``)."""
        dt = min(max(stamp - self.stamp, 0.0), max_dt)
        return self.hip + self.velocity * dt


@dataclass(frozen=True)
class ReidRule:
    """Gates and weights of :func:`reid_cost` (sizes are torso lengths, px)."""

    radius: float = 1.0  # torso lengths the mid-hip may be off the prediction at dt = 0 ...
    radius_per_s: float = 5.0  # ... plus this many per second lost (walking ~3 torso lengths/s)
    max_size_ratio: float = 1.6
    max_hist_distance: float = 0.7
    max_dt: float = 1.0  # seconds of constant-velocity prediction at most


def observe(kp: np.ndarray, hist: np.ndarray | None, stamp: float) -> Appearance:
    """An :class:`Appearance` of one pose (velocity zero: no history yet)."""
    return Appearance(hip=hip_center(kp), velocity=np.zeros(2), size=max(torso_length(kp), 1.0),
                      hist=hist, stamp=stamp)


def reid_cost(known: Appearance, seen: Appearance, rule: ReidRule = ReidRule()) -> float:  # noqa: B008
    """Cost of calling ``seen`` (a new pose) the person ``known`` (last seen earlier); inf when a
    gate fails. Sum of: distance to the predicted mid-hip / gate radius, |log size ratio|,
    and the torso-histogram distance."""
    dt = max(seen.stamp - known.stamp, 0.0)
    pred = known.predicted_hip(seen.stamp, rule.max_dt)
    radius = known.size * (rule.radius + rule.radius_per_s * min(dt, rule.max_dt))
    d = float(np.linalg.norm(seen.hip - pred)) / max(radius, 1e-6)
    if d > 1.0:
        return math.inf
    ratio = max(known.size, seen.size) / max(min(known.size, seen.size), 1e-6)
    if ratio > rule.max_size_ratio:
        return math.inf
    hd = histogram_distance(known.hist, seen.hist)
    if known.hist is not None and seen.hist is not None and hd > rule.max_hist_distance:
        return math.inf
    return d + abs(math.log(ratio)) + hd


def reid_explain(known: Appearance, seen: Appearance, rule: ReidRule = ReidRule()) -> str:  # noqa: B008
    """The terms of :func:`reid_cost` as text (debug logs)."""
    dt = max(seen.stamp - known.stamp, 0.0)
    pred = known.predicted_hip(seen.stamp, rule.max_dt)
    radius = known.size * (rule.radius + rule.radius_per_s * min(dt, rule.max_dt))
    ratio = max(known.size, seen.size) / max(min(known.size, seen.size), 1e-6)
    return (f"dt {dt:.2f} s, position {float(np.linalg.norm(seen.hip - pred)) / max(radius, 1e-6):.2f} "
            f"of the gate, size x{ratio:.2f}, colour {histogram_distance(known.hist, seen.hist):.2f}")
