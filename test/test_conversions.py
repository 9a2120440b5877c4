"""Pose <-> PoseKeypoints33 conversions: round trips through serialization, errors, fast path."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("rclpy")
from blazepose_ros.msg import PoseKeypoints33, PoseKeypoints33Array
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

from blazepose_ros.core.types import Pose, Roi
from blazepose_ros.ros import conversions as conv
from blazepose_ros.ros.conversions import (
    msg_to_camera_points,
    msg_to_keypoints,
    pose_to_msg,
    poses_to_array_msg,
    stamp_to_ns,
    stamp_to_s,
)

pytestmark = pytest.mark.unit


def world_array(msg: PoseKeypoints33) -> np.ndarray:
    return np.array([(p.x, p.y, p.z) for p in msg.world_points], np.float32)


def make_pose(seed: int = 0, pid: int = 7) -> Pose:
    rng = np.random.default_rng(seed)
    kp = np.empty((33, 5), np.float32)
    kp[:, 0] = rng.uniform(0, 640, 33)
    kp[:, 1] = rng.uniform(0, 480, 33)
    kp[:, 2] = rng.uniform(-200, 200, 33)
    kp[:, 3:] = rng.uniform(0, 1, (33, 2))
    world = rng.uniform(-0.9, 0.9, (33, 3)).astype(np.float32)
    return Pose(keypoints=kp, world=world, score=float(np.float32(0.93)), id=pid,
                roi=Roi(x_center=320.5, y_center=240.25, width=300.0, height=300.0, rotation=-0.125))


def header(frame: str = "camera_optical_frame") -> Header:
    h = Header(frame_id=frame)
    h.stamp.sec, h.stamp.nanosec = 1700000123, 456789000
    return h


def over_the_wire(msg, cls):
    return deserialize_message(serialize_message(msg), cls)


def test_pose_round_trips_through_serialization():
    pose = make_pose()
    cam = np.random.default_rng(5).uniform(0.1, 4.0, (33, 3)).astype(np.float32)
    msg = over_the_wire(pose_to_msg(pose, header(), (640, 480), cam), PoseKeypoints33)
    assert msg.header.frame_id == "camera_optical_frame" and msg.header.stamp.nanosec == 456789000
    assert (msg.id, msg.image_width, msg.image_height) == (7, 640, 480)
    assert msg.score == pytest.approx(0.93)
    np.testing.assert_array_equal(msg_to_keypoints(msg), pose.keypoints)  # float32 exact
    np.testing.assert_array_equal(world_array(msg), pose.world)
    assert msg.has_camera_points
    np.testing.assert_array_equal(msg_to_camera_points(msg), cam)
    assert msg.keypoints[PoseKeypoints33.LEFT_WRIST].x == pose.keypoints[15, 0]
    roi = msg.roi
    assert (roi.x_center, roi.y_center, roi.width, roi.rotation) == (320.5, 240.25, 300.0, -0.125)
    assert msg.id == 7 and Roi(roi.x_center, roi.y_center, roi.width, roi.height, roi.rotation) == pose.roi
    back = msg_to_keypoints(msg)
    assert back.dtype == np.float32 and back.shape == (33, 5)
    assert stamp_to_ns(msg.header.stamp) == 1700000123_456789000
    assert stamp_to_s(msg.header.stamp) == pytest.approx(1700000123.456789)


def test_without_camera_points():
    msg = over_the_wire(pose_to_msg(make_pose(), header(), (640, 480), None), PoseKeypoints33)
    assert msg.has_camera_points is False
    assert msg_to_camera_points(msg) is None
    assert all(p.x == p.y == p.z == 0.0 for p in msg.camera_points) and len(msg.camera_points) == 33


def test_array_message_keeps_order_and_per_pose_camera_points():
    poses = [make_pose(i, pid=10 + i) for i in range(3)]
    cams = [None, np.full((33, 3), 2.0, np.float32), None]
    arr = over_the_wire(poses_to_array_msg(poses, header("cam"), (1280, 720), cams), PoseKeypoints33Array)
    assert arr.header.frame_id == "cam"
    assert [p.id for p in arr.poses] == [10, 11, 12]
    assert [p.has_camera_points for p in arr.poses] == [False, True, False]
    assert all(p.header.frame_id == "cam" and p.image_width == 1280 for p in arr.poses)
    for p, m in zip(poses, arr.poses, strict=True):
        np.testing.assert_array_equal(msg_to_keypoints(m), p.keypoints)
    empty = over_the_wire(poses_to_array_msg([], header(), (640, 480)), PoseKeypoints33Array)
    assert list(empty.poses) == [] and empty.header.frame_id == "camera_optical_frame"


def test_float64_and_integer_inputs_are_accepted():
    pose = make_pose()
    pose.keypoints = pose.keypoints.astype(np.float64)
    pose.world = np.zeros((33, 3), np.int64)
    msg = over_the_wire(pose_to_msg(pose, header(), (640, 480), np.ones((33, 3), np.float64)),
                        PoseKeypoints33)
    assert msg.world_points[0].x == 0.0 and msg.camera_points[32].z == 1.0


@pytest.mark.parametrize(("field", "bad"), [("keypoints", np.zeros((17, 5))),
                                            ("keypoints", np.zeros((33, 3))), ("world", np.zeros((33, 2)))])
def test_wrong_shapes_raise(field, bad):
    pose = make_pose()
    setattr(pose, field, bad)
    with pytest.raises(ValueError, match=r"\(33, [35]\)"):
        pose_to_msg(pose, header(), (640, 480))


def test_wrong_camera_points_raise():
    with pytest.raises(ValueError, match="camera_points"):
        pose_to_msg(make_pose(), header(), (640, 480), np.zeros((33, 2)))
    with pytest.raises(ValueError, match="2 entries for 1 poses"):
        poses_to_array_msg([make_pose()], header(), (640, 480), [None, None])


def test_fast_path_equals_public_constructors():
    """The slot-filling builders give exactly what the public constructors give."""
    pose = make_pose(3)
    cam = np.random.default_rng(9).uniform(0.1, 4.0, (33, 3)).astype(np.float32)
    h = header()
    slow = conv._array_slow(h, [conv._msg_slow(
        h, pose.id, pose.score, conv._keypoints_slow(pose.keypoints.tolist()),
        conv._points_slow(pose.world.tolist()), True, conv._points_slow(cam.tolist()),
        conv._roi_slow(pose.roi), 640, 480)])
    fast = poses_to_array_msg([pose], h, (640, 480), [cam])
    assert fast == slow
    # compared after a trip through CDR (not as bytes: alignment padding is not initialised)
    assert over_the_wire(fast, PoseKeypoints33Array) == over_the_wire(slow, PoseKeypoints33Array)
    # the messages are ordinary messages: fields can be set through the public API afterwards
    fast.poses[0].keypoints[0].x = 1.5
    fast.poses[0].camera_points[0].z = 2.5
    assert over_the_wire(fast, PoseKeypoints33Array).poses[0].keypoints[0].x == 1.5


def test_fast_path_is_in_use():
    """Its speed-up is measured by bench/bench_conversions.py (~5x here), not asserted in a unit test."""
    assert conv.USE_FAST_PATH, "self-check failed: the slow (public constructor) path is in use"


def test_check_fields_mode_uses_public_constructors():
    """With ROS_PYTHON_CHECK_FIELDS=1 (validated setters) the public constructors are used and work."""
    code = ("import numpy as np; from blazepose_ros.ros import conversions as c; "
            "from std_msgs.msg import Header; from blazepose_ros.core.types import Pose, Roi; "
            "p = Pose(np.ones((33, 5), np.float32), np.ones((33, 3), np.float32), 0.5, Roi(1, 2, 3, 3, 0)); "
            "m = c.pose_to_msg(p, Header(), (4, 4), None); "
            "print(c.USE_FAST_PATH, m.keypoints[0].x, m._check_fields)")
    import os

    env = dict(os.environ, ROS_PYTHON_CHECK_FIELDS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "1.0", "True"]
