"""The README's main job end to end: video_publisher -> pose_node -> gesture_node over DDS,
recorded to an MCAP bag that standard ROS 2 tooling (mcap_ros2) decodes."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest

pytest.importorskip("rclpy")
from mcap_ros2.reader import read_ros2_messages


def test_demo_records_a_readable_bag_and_an_annotated_video(tmp_path, ros_env, data_dir):
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "blazepose_ros.ros.demo", "--out", str(out), "--duration", "6"],
                       env=ros_env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_out"] > 20 and summary["frames_with_person"] > 20
    # counts taken after the stream drained: nothing comes out that did not go in
    end = summary["pose_node_diagnostics_at_end"]
    assert summary["frames_in"] == int(end["frames_received"]) >= summary["frames_out"]
    assert summary["frames_out"] == int(end["frames_processed"])
    assert summary["node_exit_codes"] == {"pose_node": 0, "gesture_node": 0}
    assert summary["latency_ms"]["p50"] > 0

    by_topic: dict[str, list] = {}
    for m in read_ros2_messages(str(out / "demo.mcap")):
        by_topic.setdefault(m.channel.topic, []).append(m.ros_msg)
    poses = by_topic["/pose_node/keypoints"]
    assert len(poses) == summary["recorded_messages"]["/pose_node/keypoints"] > 20
    p = poses[-1]
    assert p.header.frame_id == "camera_optical_frame" and len(p.keypoints) == 33
    assert 0 <= p.keypoints[0].x < 640 and 0 <= p.keypoints[0].y < 480 and p.score > 0.5
    assert p.has_camera_points and p.camera_points[0].z > 0  # camera_info -> camera frame
    assert by_topic["/pose_node/markers"] and by_topic["/diagnostics"]

    video = cv2.VideoCapture(str(out / "annotated.mp4"))
    ok, frame = video.read()
    assert ok and frame.shape == (480, 640, 3)
