"""The generated messages travel between two processes over real DDS."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from blazepose_ros.msg import Gesture, PoseKeypoints33, PoseKeypoints33Array  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from msg_samples import sample_pose_msg  # noqa: E402

pytestmark = pytest.mark.dds


def _fields(msg) -> object:
    """Flatten a message to nested plain values, floats rounded to float32."""
    if hasattr(msg, "get_fields_and_field_types"):
        return {k: _fields(getattr(msg, k)) for k in msg.get_fields_and_field_types()}
    if isinstance(msg, (list, tuple, np.ndarray)):
        return [_fields(v) for v in msg]
    if isinstance(msg, float):
        return float(np.float32(msg))
    return msg


def test_keypoint_constants_match_topology_order():
    names = [n for n in dir(PoseKeypoints33)
             if n.isupper() and n != "NUM_KEYPOINTS" and not n.startswith("CAMERA_POINT_")
             and isinstance(getattr(PoseKeypoints33, n), int)]
    values = sorted(getattr(PoseKeypoints33, n) for n in names)
    assert values == list(range(33))
    assert PoseKeypoints33.NOSE == 0 and PoseKeypoints33.RIGHT_FOOT_INDEX == 32
    assert PoseKeypoints33.NUM_KEYPOINTS == 33
    assert len(PoseKeypoints33().keypoints) == 33


def test_array_and_gesture_messages_construct():
    arr = PoseKeypoints33Array(poses=[sample_pose_msg(1), sample_pose_msg(2)])
    assert [p.id for p in arr.poses] == [41, 42]
    g = Gesture(person_id=3, gesture="wave_left", confidence=0.9, held_duration=1.5)
    assert g.gesture == "wave_left"


def test_pose_keypoints33_round_trips_between_processes(ros_env):
    topic = "/blazepose_test/roundtrip"
    child = subprocess.Popen([sys.executable, str(HERE / "msg_samples.py"), "publish", topic],
                             env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rclpy.init()
    node = rclpy.create_node("roundtrip_listener")
    received: list[PoseKeypoints33] = []
    node.create_subscription(PoseKeypoints33, topic, received.append, 10)
    try:
        deadline = time.monotonic() + 20.0
        while not received and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
            assert child.poll() is None, child.stderr.read().decode()
        assert received, "no PoseKeypoints33 arrived over DDS within 20 s"
        got, want = received[0], sample_pose_msg()
        # every field, floats compared at the float32 precision the message declares
        assert _fields(got) == _fields(want)
        assert got.header.frame_id == "camera_optical_frame"
        assert got.header.stamp.nanosec == 123456789
        assert got.keypoints[32].x == pytest.approx(42.5)
        assert got.keypoints[5].visibility == pytest.approx(5 / 33.0)
        assert got.world_points[10].y == pytest.approx(-0.2)
        assert got.camera_points[3].z == pytest.approx(2.03)
        assert got.has_camera_points is True
        assert list(got.camera_point_sources[:4]) == [0, 1, 2, 0]
        assert got.roi.rotation == pytest.approx(-0.25)
        assert (got.image_width, got.image_height, got.id) == (640, 480, 47)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
