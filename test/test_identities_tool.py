"""tools.identities scores what the multi-person clip tests count: misses, switches, swaps."""

from __future__ import annotations

import numpy as np
import pytest

from blazepose_ros.core.types import Pose, Roi
from blazepose_ros.tools.identities import mosaic_recall, score_run, shrunk_view_mosaic

pytestmark = pytest.mark.unit

BOXES = {"A": [100.0, 100.0, 200.0, 400.0], "B": [300.0, 100.0, 400.0, 400.0]}


def pose_in(box: list[float], pid: int) -> Pose:
    """A pose whose 33 keypoints (all visible) are spread over the middle of ``box``."""
    x0, y0, x1, y1 = box
    kp = np.zeros((33, 5), np.float32)
    kp[:, 0] = np.linspace(x0 + 10, x1 - 10, 33)
    kp[:, 1] = np.linspace(y0 + 10, y1 - 10, 33)
    kp[:, 3:] = 1.0
    return Pose(kp, np.zeros((33, 3), np.float32), 0.9, Roi(0, 0, 1, 1, 0), id=pid)


def reference(n: int, occluded_b: set[int] = frozenset()) -> dict:
    return {"frames": {str(i): [{"person": "A", "box": BOXES["A"]},
                                {"person": "B", "box": BOXES["B"], "occluded": i in occluded_b}]
                       for i in range(n)}}


def test_a_clean_run_has_no_misses_switches_or_swaps():
    run = [[pose_in(BOXES["A"], 1), pose_in(BOXES["B"], 2)] for _ in range(4)]
    s = score_run(reference(4), run)
    assert s == {"misses": [], "switches": [], "swaps": [], "ids": {"A": 1, "B": 2}}


def test_switch_swap_and_miss_are_counted():
    run = [[pose_in(BOXES["A"], 1), pose_in(BOXES["B"], 2)],
           [pose_in(BOXES["A"], 3), pose_in(BOXES["B"], 2)],  # A: 1 -> 3, a switch
           [pose_in(BOXES["A"], 3)],                          # B has no pose: a miss
           [pose_in(BOXES["A"], 3), pose_in(BOXES["B"], 3)]]  # the same id on A and B: B switches, 3 swaps
    s = score_run(reference(4), run)
    assert s["switches"] == [(1, "A", 1, 3), (3, "B", 2, 3)]
    assert s["misses"] == [(2, "B")]
    assert s["swaps"] == [(3, 3, "A", "B")]


def test_occluded_and_small_people_are_not_misses():
    run = [[pose_in(BOXES["A"], 1)] for _ in range(3)]
    assert score_run(reference(3, occluded_b={0, 1, 2}), run)["misses"] == []
    assert score_run(reference(3), run, min_height=400)["misses"] == []
    assert len(score_run(reference(3), run)["misses"]) == 3


def test_mosaic_maps_boxes_into_the_views():
    frames = [np.full((400, 800, 3), i, np.uint8) for i in range(10)]
    ref = reference(10)
    mosaic, checked = shrunk_view_mosaic(frames, ref, k=2, length=4, size=(400, 200), min_height=10,
                                         skip=lambda fi: fi == 0)
    assert len(mosaic) == 4 and mosaic[0].shape == (200, 400, 3)
    assert mosaic[1][0, 0, 0] == 1 and mosaic[1][150, 350, 0] == 7  # view 3 starts at frame 6
    # every frame: 4 views x 2 people, minus source frame 0 (view 0, mosaic frame 0)
    assert len(checked) == 4 * 8 - 2
    first = next(box for fi, box in checked if fi == 0)  # view 1's A: x scaled by 200/800, +200
    assert first == [225.0, 25.0, 250.0, 100.0]
    poses = [[pose_in(b, 1) for j, b in checked if j == i] for i in range(4)]
    assert mosaic_recall(poses, checked) == 1.0
    assert mosaic_recall([[] for _ in range(4)], checked) == 0.0
