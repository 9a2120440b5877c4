"""Drawing poses on a BGR image (CLI --annotate and the ROS debug image)."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from .topology import EDGE_SIDES, EDGES, side_of
from .types import Pose

#: BGR colours by the *person's* body side.
SIDE_COLORS: dict[str, tuple[int, int, int]] = {
    "left": (0, 165, 255),  # orange
    "right": (255, 191, 0),  # sky blue
    "center": (220, 220, 220),  # light grey
}


def draw_poses(image_bgr: np.ndarray, poses: Iterable[Pose], min_visibility: float = 0.5,
               draw_roi: bool = True) -> None:
    """Draw skeletons in place on a uint8 BGR image (pixels of the same frame as the poses).

    Edges and joints are coloured by body side (left, right, centre); joints
    and edges whose visibility is below ``min_visibility`` are skipped. The
    ROI the landmark model ran on is drawn as a thin rotated box.
    """
    h, w = image_bgr.shape[:2]
    thick = max(1, round(max(h, w) / 320))
    for pose in poses:
        kp = np.asarray(pose.keypoints)
        pts = np.round(kp[:, :2]).astype(np.int32)
        vis = kp[:, 3] >= min_visibility
        if draw_roi:
            r = pose.roi
            box = cv2.boxPoints(((r.x_center, r.y_center), (r.width, r.height), np.degrees(r.rotation)))
            cv2.polylines(image_bgr, [np.round(box).astype(np.int32)], True, (0, 255, 0), 1, cv2.LINE_AA)
        for (a, b), side in zip(EDGES, EDGE_SIDES, strict=True):
            if vis[a] and vis[b]:
                cv2.line(image_bgr, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]),
                         SIDE_COLORS[side], thick, cv2.LINE_AA)
        for i in range(kp.shape[0]):
            if vis[i]:
                cv2.circle(image_bgr, (int(pts[i, 0]), int(pts[i, 1])), thick + 1,
                           SIDE_COLORS[side_of(i)], -1, cv2.LINE_AA)
