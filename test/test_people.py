"""core/person.py and ros/people.py: body frames, PoseArray, PoseStamped and TF messages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from blazepose_ros.msg import PoseKeypoints33
from depth_scene import make_scene
from geometry_msgs.msg import PoseArray, TransformStamped
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

from blazepose_ros.core.camera import camera_frame_points
from blazepose_ros.core.depth import camera_points_from_depth
from blazepose_ros.core.person import body_pose, quaternion_from_matrix
from blazepose_ros.ros.conversions import poses_to_array_msg
from blazepose_ros.ros.people import (
    body_transforms,
    people_msg,
    person_pose_stamped,
    person_position,
)

pytestmark = pytest.mark.unit

LS, RS, LH, RH = 11, 12, 23, 24


def _matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _torso(hip_centre, facing_yaw_deg: float = 0.0) -> np.ndarray:
    """33 camera points of a standing person whose torso faces the camera turned by a yaw
    (positive: turned towards the image's left, seen from above)."""
    a = np.radians(facing_yaw_deg)
    left = np.array([np.cos(a), 0.0, np.sin(a)])  # person's left, in the camera frame
    up = np.array([0.0, -1.0, 0.0])
    p = np.tile(np.asarray(hip_centre, float), (33, 1))
    p[LH], p[RH] = p[LH] + 0.1 * left, p[RH] - 0.1 * left
    p[LS], p[RS] = p[LH] + 0.5 * up + 0.08 * left, p[RH] + 0.5 * up - 0.08 * left
    return p


def test_person_facing_the_camera_has_forward_towards_it():
    b = body_pose(_torso([0.3, 0.1, 2.5]))
    np.testing.assert_allclose(b.position, [0.3, 0.1, 2.5])
    fwd, left, up = b.rotation.T
    np.testing.assert_allclose(fwd, [0, 0, -1], atol=1e-12)  # towards the camera
    np.testing.assert_allclose(left, [1, 0, 0], atol=1e-12)  # the person's left = image right
    np.testing.assert_allclose(up, [0, -1, 0], atol=1e-12)  # optical y points down
    np.testing.assert_allclose(_matrix(b.quaternion), b.rotation, atol=1e-12)


@pytest.mark.parametrize("yaw", [-170.0, -90.0, -30.0, 45.0, 120.0, 180.0])
def test_turned_person(yaw):
    b = body_pose(_torso([0.0, 0.0, 3.0], yaw))
    a = np.radians(yaw)
    np.testing.assert_allclose(b.rotation[:, 1], [np.cos(a), 0, np.sin(a)], atol=1e-9)
    assert np.linalg.det(b.rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(_matrix(b.quaternion), b.rotation, atol=1e-9)


def test_quaternion_from_matrix_all_branches():
    rng = np.random.default_rng(1)
    cases = [rng.normal(size=3) * s for s in (0.1, 1.0, 3.0) for _ in range(30)]
    cases += [np.array([np.pi, 0, 0]), np.array([0, np.pi, 0]), np.array([0, 0, np.pi]), np.zeros(3)]
    for rvec in cases:
        rot, _ = cv2.Rodrigues(rvec)
        q = quaternion_from_matrix(rot)
        assert np.linalg.norm(q) == pytest.approx(1.0) and q[3] >= 0.0
        np.testing.assert_allclose(_matrix(q), rot, atol=1e-9)


def test_degenerate_torso_gives_none():
    p = _torso([0, 0, 2])
    p[[LS, RS]] = p[[LH, RH]]  # shoulders on the hips
    assert body_pose(p) is None
    p = _torso([0, 0, 2])
    p[LH] = np.nan
    assert body_pose(p) is None
    p = _torso([0, 0, 2])
    p[[LH, LS]], p[[RH, RS]] = p[[LH, LS]] * 0 + [0, 0, 2], p[[RH, RS]] * 0 + [0, -0.5, 2]
    assert body_pose(p) is None  # left-right axis along the spine
    with pytest.raises(ValueError, match="camera points must be"):
        body_pose(np.zeros((17, 3)))


# -- messages from the real scene ------------------------------------------------------------

@pytest.fixture(scope="module")
def scene():
    return make_scene()


def _header() -> Header:
    h = Header(frame_id="camera_color_optical_frame")
    h.stamp.sec, h.stamp.nanosec = 100, 250_000_000
    return h


@pytest.fixture(scope="module")
def frame(scene):
    """A PoseKeypoints33Array with the real person twice: measured by depth (id 7) and PnP only
    (id 9), plus one without camera points (id 11)."""
    pose = scene.pose
    pnp = camera_frame_points(pose.world, pose.keypoints, scene.k)
    got = camera_points_from_depth(scene.depth_m, pose.keypoints, pose.world, scene.k, None, pnp)
    from dataclasses import replace

    poses = [replace(pose, id=7), replace(pose, id=9), replace(pose, id=11)]
    return poses_to_array_msg(poses, _header(), (810, 1080), [got.points, pnp, None],
                              [got.source, None, None]), got, pnp


def test_person_position_prefers_depth(scene, frame):
    array, got, pnp = frame
    pos = person_position(array.poses[0])
    assert pos.person_id == 7 and pos.frame_id == "camera_color_optical_frame"
    # the left hip is measured, the right one is in a hole (PnP moved to the measured distance)
    assert got.source[LH] == PoseKeypoints33.CAMERA_POINT_DEPTH
    assert got.source[RH] == PoseKeypoints33.CAMERA_POINT_PNP
    assert pos.from_depth and pos.hips_from_depth == 1
    assert pos.stamp_ns == 100_250_000_000
    truth = scene.truth()
    hip_truth = truth[[LH, RH]].mean(0)
    pnp_pos = person_position(array.poses[1])
    assert not pnp_pos.from_depth and pnp_pos.hips_from_depth == 0
    np.testing.assert_allclose(pnp_pos.position, pnp[[LH, RH]].mean(0), rtol=1e-6)
    assert np.linalg.norm(pos.position - hip_truth) < np.linalg.norm(pnp_pos.position - hip_truth)
    assert person_position(array.poses[2]) is None


def test_people_pose_array_is_well_formed(frame):
    array, _, _ = frame
    msg = deserialize_message(serialize_message(people_msg(array)), PoseArray)
    assert msg.header.frame_id == "camera_color_optical_frame" and msg.header.stamp.sec == 100
    assert len(msg.poses) == 2  # the person without camera points has no pose
    for p, m in zip(msg.poses, array.poses[:2], strict=True):
        q = np.array([p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w])
        assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-6)
        pos = person_position(m)
        np.testing.assert_allclose([p.position.x, p.position.y, p.position.z], pos.position, rtol=1e-6)
        rot = _matrix(q)
        assert rot[1, 2] < -0.8  # body up is image up (optical -y): the person stands
        assert rot[2, 0] < 0.0  # facing the camera, more or less (forward has negative z)


def test_pose_stamped_and_transforms(frame):
    array, _, _ = frame
    ps = person_pose_stamped(array.poses[0])
    assert ps.header.frame_id == "camera_color_optical_frame"
    assert person_pose_stamped(array.poses[2]) is None
    tfs = body_transforms(array)
    assert [t.child_frame_id for t in tfs] == ["body_7", "body_9"]
    for t in tfs:
        t = deserialize_message(serialize_message(t), TransformStamped)
        assert t.header.frame_id == "camera_color_optical_frame"
        assert (t.header.stamp.sec, t.header.stamp.nanosec) == (100, 250_000_000)
    t0 = tfs[0].transform
    assert (t0.translation.x, t0.translation.y, t0.translation.z) == (
        ps.pose.position.x, ps.pose.position.y, ps.pose.position.z)
    assert t0.rotation.w == ps.pose.orientation.w
    assert [t.child_frame_id for t in body_transforms(array, "front_cam/person_")] == [
        "front_cam/person_7", "front_cam/person_9"]
    array.header.frame_id = ""
    try:
        assert body_transforms(array) == []  # TF has no frame ''
    finally:
        array.header.frame_id = "camera_color_optical_frame"


def test_gesture_node_follow_mode_uses_the_depth_position(scene, frame):
    """gesture_node's follow_command reads the hip camera points: with depth they are measured, so
    the distance it keeps is the measured one (here 2.4 m), not the PnP estimate."""
    from blazepose_ros.ros.gesture_node import follow_command

    array = frame[0]
    gains = dict(distance=1.5, linear_gain=1.0, angular_gain=1.0, distance_deadband=0.0, angle_deadband=0.0,
                 hfov=1.0, allow_reverse=False)
    with_depth, src = follow_command(array.poses[0], **gains)
    pnp_only, _ = follow_command(array.poses[1], **gains)
    assert src == "3d"
    hip_z_truth = scene.truth()[[LH, RH], 2].mean()
    assert with_depth[0] == pytest.approx(hip_z_truth - 1.5, abs=0.03)  # forward speed = gain * range error
    assert abs(pnp_only[0] - (hip_z_truth - 1.5)) > abs(with_depth[0] - (hip_z_truth - 1.5))
