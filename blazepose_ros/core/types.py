"""Typed results of the pipeline. Pixel coordinates are in the source image
(x right, y down, origin at the top-left corner of the top-left pixel)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Roi:
    """Rotated rectangle in source-image pixels.

    ``rotation`` is in radians, positive clockwise on screen (y down); 0 = upright body.
    """

    x_center: float
    y_center: float
    width: float
    height: float
    rotation: float


@dataclass
class Pose:
    """One person in one frame.

    keypoints: (33, 5) float32 -- x, y in source pixels; z relative depth in the
        same pixel scale as x (origin near the hips, smaller = closer);
        visibility and presence probabilities in [0, 1].
    world: (33, 3) float32 -- metric keypoints in metres, origin between the hips,
        rotated to the image's orientation (x right, y down, z away from camera).
    score: pose presence score in [0, 1] from the landmark model.
    roi: the region the landmark model ran on this frame.
    aux: (2, 2) float32 -- the two auxiliary ROI points (hip centre, body-circle
        point) in source pixels, used to build the next frame's ROI.
    mask: optional (H, W) float32 segmentation probabilities, when enabled.
    id: the person's id, unique per tracker and never reused; kept while the person is tracked,
        through a re-identification within max_occlusion (several people), and in static-image
        mode while the person stays in place (box IoU > 0.5 with the previous frame's).
    from_detector: True when this frame's ROI came from the person detector.
    """

    keypoints: np.ndarray
    world: np.ndarray
    score: float
    roi: Roi
    aux: np.ndarray = field(default_factory=lambda: np.zeros((2, 2), np.float32))
    mask: np.ndarray | None = None
    id: int = 0
    from_detector: bool = False
