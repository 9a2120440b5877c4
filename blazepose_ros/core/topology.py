"""BlazePose 33-keypoint topology (docs/pipeline.md §10): names, indices, skeleton edges, sides,
COCO-17 mapping.

"Left" and "right" are always the *person's* left and right (BlazePose's convention):
for a person facing the camera, LEFT_* keypoints appear on the right of the image.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

import numpy as np

__all__ = [
    "COCO17_FROM_BLAZEPOSE",
    "COCO17_NAMES",
    "EDGES",
    "EDGE_GROUPS",
    "EDGE_SIDES",
    "NAMES",
    "NUM_KEYPOINTS",
    "Keypoint",
    "Side",
    "edge_side",
    "side_of",
    "to_coco17",
]

Side = Literal["left", "right", "center"]

NAMES: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
NUM_KEYPOINTS = len(NAMES)


class Keypoint(IntEnum):
    """Index of each BlazePose keypoint (NOSE=0 ... RIGHT_FOOT_INDEX=32); names are NAMES upper-cased."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


if tuple(k.name.lower() for k in Keypoint) != NAMES:  # pragma: no cover - guards edits
    raise AssertionError("Keypoint enum and NAMES disagree")

EDGE_GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "face": ((0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10)),
    "torso": ((11, 12), (11, 23), (12, 24), (23, 24)),
    "left_arm": ((11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19)),
    "right_arm": ((12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20)),
    "legs": (
        (23, 25),
        (25, 27),
        (27, 29),
        (29, 31),
        (27, 31),
        (24, 26),
        (26, 28),
        (28, 30),
        (30, 32),
        (28, 32),
    ),
}
"""Skeleton edges (undirected index pairs) grouped by body region."""

EDGES: tuple[tuple[int, int], ...] = tuple(e for group in EDGE_GROUPS.values() for e in group)
"""All 35 skeleton edges, in region order (face, torso, left_arm, right_arm, legs)."""


def side_of(index: int) -> Side:
    """Body side of a keypoint from the person's point of view: "left", "right" or "center" (nose)."""
    name = NAMES[int(index)]
    if name.startswith("left_") or name.endswith("_left"):
        return "left"
    if name.startswith("right_") or name.endswith("_right"):
        return "right"
    return "center"


def edge_side(a: int, b: int) -> Side:
    """Side of an edge: the common side of both ends, else "center" (e.g. shoulder-shoulder)."""
    sa, sb = side_of(a), side_of(b)
    return sa if sa == sb else "center"


EDGE_SIDES: tuple[Side, ...] = tuple(edge_side(a, b) for a, b in EDGES)
"""Side of each entry of EDGES, for colouring."""

COCO17_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

COCO17_FROM_BLAZEPOSE: np.ndarray = np.array([NAMES.index(n) for n in COCO17_NAMES], dtype=np.intp)
"""BlazePose index of each COCO-17 keypoint, in COCO order."""
COCO17_FROM_BLAZEPOSE.setflags(write=False)


def to_coco17(keypoints: np.ndarray) -> np.ndarray:
    """Select the 17 COCO keypoints (in COCO order) from BlazePose keypoints.

    ``keypoints`` has the 33 keypoints on axis ``-2`` (e.g. (33, 5), (33, 3) or (P, 33, 5));
    the other axes are kept, so the result is (..., 17, C) in the input's units.
    """
    kp = np.asarray(keypoints)
    if kp.ndim < 2 or kp.shape[-2] != NUM_KEYPOINTS:
        raise ValueError(f"expected (..., 33, C) keypoints, got {kp.shape}")
    return kp[..., COCO17_FROM_BLAZEPOSE, :]
