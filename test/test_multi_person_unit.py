"""Pure geometry and identity functions of the multi-person tracker (core/association.py,
core/identity.py), on real poses where a pose is needed (bus.jpg's man, sports2d frames)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from blazepose_ros.core import PoseTracker
from blazepose_ros.core.association import (
    box_iou,
    detection_matches_pose,
    greedy_match,
    hip_center,
    keypoint_box,
    poses_overlap,
    rect_box,
    rotated_rect_box,
    same_torso,
    tile_boxes,
    torso_length,
)
from blazepose_ros.core.geometry import F32, NormRect
from blazepose_ros.core.identity import (
    Appearance,
    ReidRule,
    histogram_distance,
    observe,
    reid_cost,
    torso_histogram,
)
from blazepose_ros.core.multi_person import MultiPersonOptions

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def bus_pose(data_dir):
    img = cv2.cvtColor(cv2.imread(str(data_dir / "bus.jpg")), cv2.COLOR_BGR2RGB)
    return img, PoseTracker(static_image_mode=True).process(img, 0.0)[0].keypoints


def test_box_iou_cases():
    a = np.array([0, 0, 10, 10.0])
    assert box_iou(a, a) == 1.0
    assert box_iou(a, np.array([10, 0, 20, 10.0])) == 0.0  # touching
    assert box_iou(a, np.array([5, 0, 15, 10.0])) == pytest.approx(50 / 150)
    assert box_iou(a, np.array([3, 3, 3, 8.0])) == 0.0  # empty box


def test_rect_boxes():
    r = NormRect(F32(0.5), F32(0.5), F32(0.2), F32(0.4), F32(0.0))
    np.testing.assert_allclose(rect_box(r, 100, 50), [40, 15, 60, 35])
    r90 = NormRect(F32(0.5), F32(0.5), F32(0.4), F32(0.2), F32(math.pi / 2))  # 40 x 20 px
    np.testing.assert_allclose(rect_box(r90, 100, 100), [30, 40, 70, 60], atol=1e-4)  # rotation ignored
    np.testing.assert_allclose(rotated_rect_box(r90, 100, 100), [40, 30, 60, 70], atol=1e-4)


def test_same_pose_overlaps_and_shifted_pose_does_not(bus_pose):
    _, kp = bus_pose
    assert poses_overlap(kp, kp)
    t = torso_length(kp)
    assert t > 50
    jitter = kp.copy()
    jitter[:, :2] += np.random.default_rng(0).normal(0, 0.03 * t, (33, 2))
    assert poses_overlap(kp, jitter)
    beside = kp.copy()
    beside[:, 0] += 1.2 * t  # someone standing next to him
    assert not poses_overlap(kp, beside) and not same_torso(kp, beside)
    close = kp.copy()
    close[:, 0] += 0.4 * t  # crossing: overlapping bodies, different people
    assert not same_torso(kp, close)


def test_detection_matches_pose(bus_pose):
    _, kp = bus_pose
    hip = hip_center(kp)
    sh = (kp[11, :2] + kp[12, :2]) / 2
    assert detection_matches_pose(hip, sh, kp)
    t = torso_length(kp)
    assert not detection_matches_pose(hip + np.array([0.5 * t, 0.0]), sh, kp)


def test_greedy_match_takes_cheapest_pairs_once():
    cost = np.array([[0.1, 0.2], [0.05, 3.0], [np.inf, 0.4]])
    assert sorted(greedy_match(cost, 1.0)) == [(0, 1), (1, 0)]  # 0.05 first, then 0.2; row 2 left
    assert greedy_match(cost, 0.01) == []
    assert greedy_match(np.zeros((0, 3)), 1.0) == []


@pytest.mark.parametrize(("w", "h", "grid", "n"), [(1768, 994, (0, 0), 2), (1088, 1920, (0, 0), 2),
                                                   (640, 640, (0, 0), 1), (768, 576, (2, 2), 4),
                                                   (768, 576, (3, 2), 6)])
def test_tiles_cover_the_frame(w, h, grid, n):
    tiles = tile_boxes(w, h, grid)
    assert len(tiles) == n
    cover = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in tiles:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        cover[y0:y1, x0:x1] = True
    assert cover.all()
    if grid == (0, 0):
        assert all(x1 - x0 == y1 - y0 == min(w, h) for x0, y0, x1, y1 in tiles)


def test_tile_errors():
    with pytest.raises(ValueError):
        tile_boxes(100, 100, (0, 2))
    with pytest.raises(ValueError):
        tile_boxes(100, 100, (2, 2), overlap=1.0)


def test_torso_histogram_is_cheap_normalised_and_discriminates(bus_pose):
    img, kp = bus_pose
    h = torso_histogram(img, kp)
    assert h is not None and h.dtype == np.float32 and h.sum() == pytest.approx(1.0, abs=1e-5)
    assert histogram_distance(h, h) == pytest.approx(0.0, abs=1e-3)
    recoloured = img.copy()
    recoloured[..., 0] = 255 - recoloured[..., 0]  # a different shirt
    assert histogram_distance(h, torso_histogram(recoloured, kp)) > 0.3
    assert histogram_distance(h, None) == 0.5
    off = kp.copy()
    off[:, :2] -= 5000  # outside the image
    assert torso_histogram(img, off) is None


def test_reid_cost_gates(bus_pose):
    img, kp = bus_pose
    hist = torso_histogram(img, kp)
    known = observe(kp, hist, 1.0)
    t = known.size
    assert reid_cost(known, observe(kp, hist, 1.3)) == pytest.approx(0.0, abs=1e-6)
    moved = kp.copy()
    moved[:, 0] += 3 * t
    rule = ReidRule()
    assert math.isinf(reid_cost(known, observe(moved, hist, 1.1), rule))  # too far for 0.1 s
    assert math.isfinite(reid_cost(known, observe(moved, hist, 1.6), rule))  # walking for 0.6 s
    walking = Appearance(hip=known.hip, velocity=np.array([5 * t, 0.0]), size=t, hist=hist, stamp=1.0)
    assert math.isfinite(reid_cost(walking, observe(moved, hist, 1.6), rule))
    assert math.isinf(reid_cost(Appearance(known.hip, np.array([-5 * t, 0.0]), t, hist, 1.0),
                                observe(moved, hist, 1.6), rule))  # walked the other way
    bigger = kp.copy()
    bigger[:, :2] = hip_center(kp) + 2.0 * (kp[:, :2] - hip_center(kp))
    assert math.isinf(reid_cost(known, observe(bigger, hist, 1.1), rule))  # twice the size
    other = np.zeros_like(hist)
    other[int(np.argmin(hist))] = 1.0
    assert math.isinf(reid_cost(known, observe(kp, other, 1.1), rule))  # someone else's colours


def test_keypoint_box(bus_pose):
    _, kp = bus_pose
    b = keypoint_box(kp)
    assert b[0] < hip_center(kp)[0] < b[2] and b[1] < hip_center(kp)[1] < b[3]


def test_options_validation():
    with pytest.raises(ValueError):
        MultiPersonOptions(num_poses=0)
    with pytest.raises(ValueError):
        MultiPersonOptions(max_occlusion=-1)
    with pytest.raises(ValueError):
        MultiPersonOptions(small_person_tiles=(0, 3))
    with pytest.raises(ValueError):
        PoseTracker(num_poses=0)
    with pytest.raises(ValueError):
        PoseTracker(num_poses=2.5)


def test_births_deaths_and_ids_across_rebuilds(data_dir):
    """Single-person loop: a birth per track, a death when it is lost; a rebuilt tracker
    continues the ids (unique per node run)."""
    bus = cv2.cvtColor(cv2.imread(str(data_dir / "bus.jpg")), cv2.COLOR_BGR2RGB)
    t = PoseTracker()
    assert (t.births, t.deaths, t.live_ids) == (0, 0, [])
    p = t.process(bus, 0.0)[0]
    assert (t.births, t.deaths, t.live_ids) == (1, 0, [p.id])
    assert t.process(np.zeros_like(bus), 0.1) == []  # lost
    assert (t.births, t.deaths, t.live_ids) == (1, 1, [])
    t.process(bus, 0.2)
    rebuilt = PoseTracker(num_poses=2)
    rebuilt.take_ids_from(t)
    assert rebuilt.deaths == 2  # the lost one and the one tracked when rebuilt
    q = rebuilt.process(bus, 0.3)
    assert q and min(x.id for x in q) == 3 and rebuilt.births >= 3
    rebuilt.reset()
    assert rebuilt.deaths == 2 + len(q) and rebuilt.live_ids == []


def test_face_and_arms_on_another_body_are_not_one_person(bus_pose):
    """A landmark run on an ROI holding two people can put one person's face and arms on the
    other: MediaPipe's keypoint rule alone would merge the two bodies; the hip check does not."""
    from blazepose_ros.core.association import OverlapRule

    _, kp = bus_pose
    t = torso_length(kp)
    other = kp.copy()
    body = [11, 12, *range(23, 33)]  # shoulders, hips, legs: the other body, 0.9 torso lengths away
    other[body, 0] += 0.9 * t
    assert not poses_overlap(kp, other)
    assert poses_overlap(kp, other, OverlapRule(max_hip_distance=math.inf, torso_ratio=0.0))


@pytest.mark.parametrize(("w", "h", "person", "grid"), [(768, 576, 80, (4, 3)), (768, 432, 85, (3, 2)),
                                                        (1768, 994, 400, (2, 1)), (640, 480, 300, (1, 1))])
def test_grid_for_person_height(w, h, person, grid):
    from blazepose_ros.core.association import DETECTOR_MIN_PERSON_PX, grid_for_person_height

    g = grid_for_person_height(w, h, person)
    assert g == grid
    for x0, y0, x1, y1 in tile_boxes(w, h, g):  # every tile shows the person big enough
        assert person * 224 / max(x1 - x0, y1 - y0) >= DETECTOR_MIN_PERSON_PX - 1e-6
    coarser = [(g[0] - 1, g[1]), (g[0], g[1] - 1)]
    for c in coarser:  # and no coarser grid would
        if min(c) >= 1:
            assert any(person * 224 / max(x1 - x0, y1 - y0) < DETECTOR_MIN_PERSON_PX
                       for x0, y0, x1, y1 in tile_boxes(w, h, c))
    with pytest.raises(ValueError):
        grid_for_person_height(w, h, 0)


def test_static_mode_with_several_people(data_dir):
    """Static mode, num_poses=3, on a real frame with two people: both found on every call
    from the frame alone (no tracking), each keeping the id of the person in the same place."""
    cap = cv2.VideoCapture(str(data_dir / "pose2sim_multi_cam04.mp4"))
    ok, bgr = cap.read()
    assert ok
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    t = PoseTracker(num_poses=3, static_image_mode=True)
    a = t.process(rgb, 0.0)
    b = t.process(rgb, 0.0)  # static: the same stamp is fine
    assert len(a) == len(b) == 2
    assert {p.id for p in a} == {1, 2} and sorted((p.id, p.keypoints[0, 0]) for p in b) == \
        sorted((p.id, p.keypoints[0, 0]) for p in a)  # same people, same ids
    assert all(p.from_detector for p in a + b)
    hips = sorted(float(hip_center(p.keypoints)[0]) for p in a)
    assert hips[1] - hips[0] > 150  # two people, not one found twice
    # no state between calls (with tiles the round robin would search another tile next time)
    np.testing.assert_array_equal(sorted(p.keypoints[0, 0] for p in a), sorted(p.keypoints[0, 0] for p in b))
    assert t.births == 2 and t.deaths == 0 and t.live_ids == [1, 2]
    # somebody else in the frame (the image mirrored: the two people swap places... and sides)
    c = t.process(np.ascontiguousarray(rgb[:, ::-1]), 0.0)
    assert len(c) == 2 and all(p.id > 2 for p in c) and t.deaths == 2


def test_multi_person_resets_keep_ids_unique(data_dir):
    """A looping bag (stamp backwards) or a new frame size resets the multi-person tracker like
    the single one; the people then get new ids, never an old one again."""
    cap = cv2.VideoCapture(str(data_dir / "pose2sim_multi_cam04.mp4"))
    frames = []
    for _ in range(3):
        ok, bgr = cap.read()
        assert ok
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    t = PoseTracker(num_poses=2)
    first = {p.id for p in t.process(frames[0], 1.0)}
    assert first == {1, 2} and t.tracking
    assert {p.id for p in t.process(frames[1], 1.02)} == first  # tracked
    again = {p.id for p in t.process(frames[2], 0.5)}
    assert t.last_reset == "stamp_backwards" and t.resets == 1
    assert len(again) == 2 and not again & first
    small = cv2.resize(frames[2], None, fx=0.5, fy=0.5)
    third = {p.id for p in t.process(small, 0.6)}
    assert t.last_reset == "size_changed" and not third & (first | again)
    assert t.deaths == 4 and t.births == 4 + len(third)
