"""The README's main job end to end: video_publisher -> pose_node -> gesture_node over DDS on the
real Sports2D clip (a man doing jumping jacks, a woman walking past), recorded to an MCAP bag that
standard ROS 2 tooling (mcap_ros2) decodes."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest

pytest.importorskip("rclpy")
from mcap_ros2.reader import read_ros2_messages

pytestmark = [pytest.mark.dds, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, ros_env, data_dir):
    """One `make demo` run: (summary, messages of the bag by topic, output folder)."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    r = subprocess.run([sys.executable, "-m", "blazepose_ros.ros.demo", "--out", str(out)],
                       env=ros_env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert "[demo] operator over time:" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    by_topic: dict[str, list] = {}
    for m in read_ros2_messages(str(out / "demo.mcap")):
        by_topic.setdefault(m.channel.topic, []).append(m.ros_msg)
    return summary, by_topic, out


def test_demo_records_a_readable_bag_and_an_annotated_video(demo_run):
    summary, by_topic, out = demo_run
    assert summary["frames_out"] > 20 and summary["frames_with_person"] > 20
    # counts taken after the stream drained: nothing comes out that did not go in
    end = summary["pose_node_diagnostics_at_end"]
    assert summary["frames_in"] == int(end["frames_received"]) >= summary["frames_out"]
    assert summary["frames_out"] == int(end["frames_processed"])
    assert summary["node_exit_codes"] == {"pose_node": 0, "gesture_node": 0}
    assert summary["latency_ms"]["p50"] > 0

    poses = by_topic["/pose_node/keypoints"]
    assert len(poses) == summary["recorded_messages"]["/pose_node/keypoints"] > 20
    p = poses[-1]
    assert p.header.frame_id == "camera_optical_frame" and len(p.keypoints) == 33
    assert 0 <= p.keypoints[0].x < 1768 and 0 <= p.keypoints[0].y < 994 and p.score > 0.5
    assert p.has_camera_points and p.camera_points[0].z > 0  # camera_info -> camera frame
    assert by_topic["/pose_node/markers"] and by_topic["/diagnostics"]

    video = cv2.VideoCapture(str(out / "annotated.mp4"))
    ok, frame = video.read()
    assert ok and frame.shape == (994, 1768, 3)


def test_demo_the_man_engages_and_commands_the_woman_never_does(demo_run):
    summary, by_topic, _ = demo_run
    gc = summary["gesture_control"]
    # exactly one operator: the man, engaged by a jumping jack (both arms up)
    assert len(gc["operators"]) == 1, gc["operator_timeline"]
    operator = gc["operators"][0]
    engaged = [e for e in gc["operator_timeline"] if e["operator"] == operator]
    assert engaged[0]["reason"] == "awaiting_release" and engaged[0]["gesture"] == "both_arms_up"
    assert any(e["gesture"] == "both_arms_up" for e in gc["gestures"][operator])
    # at least one command from his gestures (he is the only operator, so every command is his)
    # (a jumping jack may also read as a wave: follow mode, which follows him)
    assert gc["moving_spans"] and any(e["reason"] in ("commanding", "following") for e in engaged)
    states = by_topic["/gesture_node/state"]
    assert {(s.operator_frame_id, s.operator_id) for s in states if s.engaged} == \
        {tuple([operator.split("#")[0], int(operator.split("#")[1])])}
    moving = [m for m in by_topic["/cmd_vel"] if m.twist.linear.x or m.twist.angular.z]
    assert moving and all(abs(m.twist.linear.x) <= 0.3 + 1e-6 for m in moving)  # max_linear_speed
    assert moving[0].header.frame_id == "base_link"
    # the operator is the man: of the people tracked for a while, the one in view first (the
    # woman walks in later); nobody else (the woman) is ever the operator
    tracked = {k: p for k, p in summary["people_seen"].items() if p["frames"] >= 20}
    assert operator == min(tracked, key=lambda k: tracked[k]["first_s"]), summary["people_seen"]
    for who in summary["people_seen"]:
        assert who == operator or who not in gc["operators"]
