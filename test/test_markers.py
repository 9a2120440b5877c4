"""RViz markers: well-formed, coloured by side, per-person namespaces, lifetime, frames."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("visualization_msgs")
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from blazepose_ros.core.topology import EDGE_SIDES, EDGES, side_of
from blazepose_ros.core.types import Pose, Roi
from blazepose_ros.ros.markers import (
    WORLD_ANCHOR_M,
    WORLD_SPACING_M,
    delete_all_markers,
    pose_markers,
    side_rgba,
)

pytestmark = pytest.mark.unit


def make_pose(pid: int, seed: int = 0, visibility: float = 0.9) -> Pose:
    rng = np.random.default_rng(seed)
    kp = np.zeros((33, 5), np.float32)
    kp[:, :2] = rng.uniform(0, 480, (33, 2))
    kp[:, 3:] = visibility
    world = rng.uniform(-0.8, 0.8, (33, 3)).astype(np.float32)
    return Pose(keypoints=kp, world=world, score=0.91, roi=Roi(240, 240, 300, 300, 0.0), id=pid)


def hdr() -> Header:
    h = Header(frame_id="camera_optical_frame")
    h.stamp.sec = 42
    return h


def wire(arr: MarkerArray) -> MarkerArray:
    return deserialize_message(serialize_message(arr), MarkerArray)


def by_key(arr: MarkerArray) -> dict[tuple[str, int], Marker]:
    keys = [(m.ns, m.id) for m in arr.markers]
    assert len(keys) == len(set(keys)), f"duplicate (ns, id): {keys}"
    return dict(zip(keys, arr.markers, strict=True))


def test_markers_are_well_formed_for_two_people():
    poses = [make_pose(3, 0), make_pose(8, 1)]
    arr = wire(pose_markers(poses, hdr(), 0.5, use_world=True))
    m = by_key(arr)
    assert set(m) == {(f"pose_{p}", i) for p in (3, 8) for i in (0, 1, 2)}
    for marker in arr.markers:
        assert marker.header.frame_id == "camera_optical_frame" and marker.header.stamp.sec == 42
        assert marker.action == Marker.ADD
        assert (marker.lifetime.sec, marker.lifetime.nanosec) == (0, 500_000_000)
        assert marker.pose.orientation.w == 1.0
        for c in [*marker.colors, marker.color]:
            assert all(0.0 <= v <= 1.0 for v in (c.r, c.g, c.b, c.a))
    spheres, lines, text = m["pose_3", 0], m["pose_3", 1], m["pose_3", 2]
    assert spheres.type == Marker.SPHERE_LIST and len(spheres.points) == len(spheres.colors) == 33
    assert spheres.scale.x == spheres.scale.y == spheres.scale.z > 0
    assert lines.type == Marker.LINE_LIST and len(lines.points) == len(lines.colors) == 2 * len(EDGES)
    assert lines.scale.x > 0
    assert text.type == Marker.TEXT_VIEW_FACING and text.text == "3 0.91" and text.scale.z > 0


def test_colours_follow_body_side():
    arr = pose_markers([make_pose(1)], hdr(), 1.0, use_world=True)
    spheres, lines = arr.markers[0], arr.markers[1]
    for i, c in enumerate(spheres.colors):
        assert (c.r, c.g, c.b, c.a) == pytest.approx(side_rgba(side_of(i)))
    for e, side in enumerate(EDGE_SIDES):
        for c in lines.colors[2 * e : 2 * e + 2]:
            assert (c.r, c.g, c.b) == pytest.approx(side_rgba(side)[:3])
    left, right, centre = side_rgba("left"), side_rgba("right"), side_rgba("center")
    assert left != right != centre != left
    assert left[0] > left[2] and right[2] > right[0]  # orange vs blue


def test_world_skeleton_is_placed_in_front_and_people_are_spaced():
    poses = [make_pose(1, 0), make_pose(2, 1)]
    arr = pose_markers(poses, hdr(), 1.0, use_world=True)
    for k, pose in enumerate(poses):
        pts = np.array([(p.x, p.y, p.z) for p in arr.markers[3 * k].points])
        expected = pose.world + np.array(WORLD_ANCHOR_M) + [k * WORLD_SPACING_M, 0, 0]
        np.testing.assert_allclose(pts, expected, atol=1e-6)
        assert (pts[:, 2] > 0).all()
        lines = np.array([(p.x, p.y, p.z) for p in arr.markers[3 * k + 1].points])
        a, b = EDGES[5]
        np.testing.assert_allclose(lines[10], expected[a], atol=1e-6)
        np.testing.assert_allclose(lines[11], expected[b], atol=1e-6)


def test_camera_points_are_used_when_given_and_world_is_the_fallback():
    poses = [make_pose(1, 0), make_pose(2, 1)]
    cam = np.random.default_rng(3).uniform(0.5, 3.0, (33, 3))
    arr = pose_markers(poses, hdr(), 1.0, use_world=False, camera_points_list=[cam, None])
    got = np.array([(p.x, p.y, p.z) for p in arr.markers[0].points])
    np.testing.assert_allclose(got, cam)
    fallback = np.array([(p.x, p.y, p.z) for p in arr.markers[3].points])
    np.testing.assert_allclose(fallback, poses[1].world + np.array(WORLD_ANCHOR_M) + [WORLD_SPACING_M, 0, 0],
                               atol=1e-6)
    # use_world forces the world skeleton even with camera points
    arr = pose_markers(poses, hdr(), 1.0, use_world=True, camera_points_list=[cam, None])
    got = np.array([(p.x, p.y, p.z) for p in arr.markers[0].points])
    np.testing.assert_allclose(got, poses[0].world + np.array(WORLD_ANCHOR_M), atol=1e-6)


def test_low_visibility_points_are_dimmed_or_hidden():
    pose = make_pose(1)
    pose.keypoints[[15, 17, 19, 21], 3] = 0.2  # left wrist and hand occluded
    spheres, lines = pose_markers([pose], hdr(), 1.0, use_world=True, label=False).markers
    alphas = np.array([c.a for c in spheres.colors])
    assert (alphas[[15, 17, 19, 21]] == 0.25).all() and (np.delete(alphas, [15, 17, 19, 21]) == 1.0).all()
    dim_edges = {e for e, (a, b) in enumerate(EDGES) if {a, b} & {15, 17, 19, 21}}
    for e in range(len(EDGES)):
        assert lines.colors[2 * e].a == (0.25 if e in dim_edges else 1.0)
    spheres, lines = pose_markers([pose], hdr(), 1.0, use_world=True, dim_alpha=0.0, label=False).markers
    assert len(spheres.points) == len(spheres.colors) == 29
    assert len(lines.points) == len(lines.colors) == 2 * (len(EDGES) - len(dim_edges))
    assert all(c.a == 1.0 for c in [*spheres.colors, *lines.colors])


def test_lifetime_and_namespace_prefix():
    arr = pose_markers([make_pose(5)], hdr(), 2.75, use_world=True, ns_prefix="body")
    assert {m.ns for m in arr.markers} == {"body_5"}
    assert all((m.lifetime.sec, m.lifetime.nanosec) == (2, 750_000_000) for m in arr.markers)
    forever = pose_markers([make_pose(5)], hdr(), 0.0, use_world=True)
    assert all((m.lifetime.sec, m.lifetime.nanosec) == (0, 0) for m in forever.markers)


def test_empty_and_delete_all():
    assert list(pose_markers([], hdr(), 1.0, use_world=True).markers) == []
    arr = wire(delete_all_markers(hdr()))
    assert len(arr.markers) == 1
    assert arr.markers[0].action == Marker.DELETEALL
    assert arr.markers[0].header.frame_id == "camera_optical_frame"


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="2 entries for 1 poses"):
        pose_markers([make_pose(1)], hdr(), 1.0, use_world=False, camera_points_list=[None, None])
    with pytest.raises(ValueError, match="camera points"):
        pose_markers([make_pose(1)], hdr(), 1.0, use_world=False, camera_points_list=[np.zeros((33, 2))])
