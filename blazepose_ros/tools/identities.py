"""Scoring multi-person runs against hand-checked identities (``test/reference/identities_*.json``).

A reference holds, per checked frame, each visible person's letter and box in frame pixels
(``{"person": "A", "box": [x0, y0, x1, y1], "occluded": false}``). :func:`score_run` counts the
misses, identity switches and id swaps of a run over those frames; :func:`shrunk_view_mosaic`
builds the small-person scene of the tests and benchmarks: a k x k mosaic of shrunk views of
one clip, each at another time, with the checked people's boxes mapped into it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from blazepose_ros.core.association import box_iou
from blazepose_ros.core.types import Pose

MIN_HEIGHT = 80.0  # px: the size limit of the multi-person issue (~80 px in a 768x576 street scene)

Box = list[float]


def load_identity_reference(path: Path) -> dict:
    """A reference file as a dict (``people``, ``frames``: frame index as text -> people)."""
    return json.loads(Path(path).read_text())


def mid_hip_in_box(pose: Pose, box: Sequence[float]) -> bool:
    """The pose's mid-hip (image px) lies in the box (x0 <= x < x1, y0 <= y < y1)."""
    hip = (pose.keypoints[23, :2] + pose.keypoints[24, :2]) / 2
    return bool(box[0] <= hip[0] < box[2] and box[1] <= hip[1] < box[3])


def _inside_fraction(kp: np.ndarray, box: Sequence[float]) -> float:
    """Fraction of a pose's visible keypoints (visibility > 0.5) inside a box."""
    vis = kp[:, 3] > 0.5
    if not vis.any():
        return 0.0
    x0, y0, x1, y1 = box
    xy = kp[vis, :2]
    inside = (xy[:, 0] >= x0) & (xy[:, 0] < x1) & (xy[:, 1] >= y0) & (xy[:, 1] < y1)
    return float(inside.mean())


def _visible_box(kp: np.ndarray) -> np.ndarray:
    vis = kp[:, 3] > 0.5
    xy = kp[vis, :2] if vis.any() else kp[:, :2]
    return np.array([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()])


def match_people(poses: Sequence[Pose], people: list[dict], min_inside: float = 0.5) -> dict[str, int]:
    """letter -> pose id. A pose can be a person when its mid-hip is in their box and in no one
    else's, or when its mid-hip and its torso (shoulders, hips) or at least ``min_inside`` of
    its visible keypoints are in their box (a landmark run on an ROI holding two people can
    put one's face and arms on the other). The pairs are taken greedily, unoccluded people
    first (a pose on someone standing in front of an occluded person, whose box holds them
    both, is theirs), then by the IoU of the pose's visible-keypoint bounds with the box."""
    pairs = []
    for li, person in enumerate(people):
        x0, y0, x1, y1 = person["box"]
        for pi, p in enumerate(poses):
            if not mid_hip_in_box(p, person["box"]):
                continue
            hip = (p.keypoints[23, :2] + p.keypoints[24, :2]) / 2
            torso = p.keypoints[[11, 12, 23, 24], :2]
            torso_in = bool(np.all((torso[:, 0] >= x0) & (torso[:, 0] < x1)
                                   & (torso[:, 1] >= y0) & (torso[:, 1] < y1)))
            only_here = sum(b[0] <= hip[0] < b[2] and b[1] <= hip[1] < b[3]
                            for b in (q["box"] for q in people)) == 1
            if only_here or torso_in or _inside_fraction(p.keypoints, person["box"]) >= min_inside:
                iou = box_iou(_visible_box(p.keypoints), np.asarray(person["box"], float))
                pairs.append((not person.get("occluded", False), iou, li, pi))
    out: dict[str, int] = {}
    used: set[int] = set()
    for _, _, li, pi in sorted(pairs, reverse=True):
        letter = people[li]["person"]
        if letter in out or pi in used:
            continue
        out[letter] = poses[pi].id
        used.add(pi)
    return out


def score_run(ref: dict, poses_per_frame: Sequence[Sequence[Pose]], min_height: float = MIN_HEIGHT) -> dict:
    """Over the checked frames: ``misses`` (frame, letter) of visible, unoccluded people at
    least ``min_height`` px tall without a pose, identity ``switches`` (frame, letter, old id,
    new id), id ``swaps`` (frame, id, first letter, other letter), and ``ids`` (letter -> last id)."""
    misses, switches, swaps = [], [], []
    last_id: dict[str, int] = {}
    owner: dict[int, str] = {}
    for key in sorted(ref["frames"], key=int):
        fi = int(key)
        people = ref["frames"][key]
        got = match_people(poses_per_frame[fi], people)
        for person in people:
            letter = person["person"]
            height = person["box"][3] - person["box"][1]
            if letter not in got:
                if height >= min_height and not person.get("occluded", False):
                    misses.append((fi, letter))
                continue
            pid = got[letter]
            if letter in last_id and last_id[letter] != pid:
                switches.append((fi, letter, last_id[letter], pid))
            last_id[letter] = pid
            if owner.setdefault(pid, letter) != letter:
                swaps.append((fi, pid, owner[pid], letter))
    return {"misses": misses, "switches": switches, "swaps": swaps, "ids": dict(last_id)}


def shrunk_view_mosaic(frames: Sequence[np.ndarray], ref: dict, k: int, length: int,
                       size: tuple[int, int] = (768, 432), min_height: float = 60.0,
                       skip: Callable[[int], bool] | None = None,
                       ) -> tuple[list[np.ndarray], list[tuple[int, Box]]]:
    """A ``size`` (w, h) scene of k x k views of ``frames`` shrunk to (w / k, h / k), view q
    starting at frame ``round(q * (len(frames) - length) / (k^2 - 1))``, ``length`` frames long.

    Returns the mosaic frames and the checked people: (mosaic frame, box in mosaic px) of every
    unoccluded reference person at least ``min_height`` px tall in the mosaic, except in source
    frames where ``skip(source frame index)`` is true."""
    tw, th = size[0] // k, size[1] // k
    sx, sy = tw / frames[0].shape[1], th / frames[0].shape[0]
    offsets = [round(q * (len(frames) - length) / (k * k - 1)) for q in range(k * k)]
    views = [[cv2.resize(f, (tw, th), interpolation=cv2.INTER_AREA) for f in frames[o:o + length]]
             for o in offsets]
    mosaic = [np.vstack([np.hstack([views[r * k + c][i] for c in range(k)]) for r in range(k)])
              for i in range(length)]
    checked: list[tuple[int, Box]] = []
    for i in range(length):
        for q, o in enumerate(offsets):
            if skip is not None and skip(i + o):
                continue
            for p in ref["frames"].get(str(i + o), []):
                x0, y0, x1, y1 = p["box"]
                if p.get("occluded", False) or (y1 - y0) * sy < min_height:
                    continue
                ox, oy = (q % k) * tw, (q // k) * th
                checked.append((i, [x0 * sx + ox, y0 * sy + oy, x1 * sx + ox, y1 * sy + oy]))
    return mosaic, checked


def mosaic_recall(poses_per_frame: Sequence[Sequence[Pose]], checked: list[tuple[int, Box]]) -> float:
    """Share of the checked people (:func:`shrunk_view_mosaic`) with a pose whose mid-hip is in their box."""
    hits = sum(any(mid_hip_in_box(p, box) for p in poses_per_frame[i]) for i, box in checked)
    return hits / max(1, len(checked))
