"""Keypoint names, edges, sides and the COCO-17 mapping."""

from __future__ import annotations

import numpy as np
import pytest

from blazepose_ros.core import topology as topo
from blazepose_ros.core.topology import (
    COCO17_FROM_BLAZEPOSE,
    COCO17_NAMES,
    EDGE_GROUPS,
    EDGE_SIDES,
    EDGES,
    NAMES,
    Keypoint,
    edge_side,
    side_of,
    to_coco17,
)

pytestmark = pytest.mark.unit


def test_names_and_enum():
    assert len(NAMES) == 33 == len(Keypoint) == topo.NUM_KEYPOINTS
    assert len(set(NAMES)) == 33
    assert Keypoint.NOSE == 0 and Keypoint.RIGHT_FOOT_INDEX == 32
    assert Keypoint.LEFT_WRIST == 15 and Keypoint.RIGHT_HIP == 24
    for i, n in enumerate(NAMES):
        assert Keypoint[n.upper()] == i


def test_indices_match_message_constants():
    msg = pytest.importorskip("blazepose_ros.msg")
    cls = msg.PoseKeypoints33
    assert cls.NUM_KEYPOINTS == 33
    for k in Keypoint:
        assert getattr(cls, k.name) == k.value, k.name


def test_edges():
    assert len(EDGES) == 35
    assert len({frozenset(e) for e in EDGES}) == 35
    assert list(EDGE_GROUPS) == ["face", "torso", "left_arm", "right_arm", "legs"]
    assert sum(len(g) for g in EDGE_GROUPS.values()) == 35
    assert all(0 <= a < 33 and 0 <= b < 33 and a != b for a, b in EDGES)
    # every keypoint is in the skeleton
    assert {i for e in EDGES for i in e} == set(range(33))
    assert (Keypoint.LEFT_SHOULDER, Keypoint.LEFT_ELBOW) in EDGE_GROUPS["left_arm"]
    assert (Keypoint.MOUTH_LEFT, Keypoint.MOUTH_RIGHT) in EDGE_GROUPS["face"]


def test_sides():
    assert side_of(Keypoint.NOSE) == "center"
    assert side_of(Keypoint.LEFT_EYE_INNER) == "left"
    assert side_of(Keypoint.MOUTH_LEFT) == "left"
    assert side_of(Keypoint.MOUTH_RIGHT) == "right"
    assert side_of(Keypoint.RIGHT_FOOT_INDEX) == "right"
    assert sum(side_of(i) == "left" for i in range(33)) == 16
    assert sum(side_of(i) == "right" for i in range(33)) == 16
    assert edge_side(11, 12) == "center" and edge_side(0, 1) == "center"
    assert edge_side(13, 15) == "left" and edge_side(26, 28) == "right"
    assert len(EDGE_SIDES) == 35
    assert all(s == "left" for s in EDGE_SIDES[9 + 4 : 9 + 4 + 6])


def test_coco17_mapping():
    assert len(COCO17_FROM_BLAZEPOSE) == 17
    assert [NAMES[i] for i in COCO17_FROM_BLAZEPOSE] == list(COCO17_NAMES)
    assert COCO17_FROM_BLAZEPOSE.tolist() == [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    kp = np.arange(33 * 5, dtype=np.float32).reshape(33, 5)
    out = to_coco17(kp)
    assert out.shape == (17, 5)
    np.testing.assert_array_equal(out[9], kp[Keypoint.LEFT_WRIST])
    batch = np.stack([kp, kp + 1])
    assert to_coco17(batch).shape == (2, 17, 5)
    with pytest.raises(ValueError):
        to_coco17(np.zeros((17, 5)))
