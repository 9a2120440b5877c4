"""pose_node warns at the first image lost in transport, with the frame size and the fix.

Reproduced as a user meets it: 3840x2160 rgb8 frames (23.7 MiB) from a camera process whose
Fast DDS shared-memory segment is too small (16 MiB, the profile this package used to ship).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

pytest.importorskip("rclpy")
from blazepose_ros.ros.pose_node import FrameSize, first_loss_warning

pytestmark = pytest.mark.dds

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "fastdds_large_frames.xml"
FRAME_4K = FrameSize(3840, 2160, "rgb8", 3840 * 2160 * 3)


@pytest.mark.unit
def test_first_loss_warning_names_the_frame_size_and_the_fix() -> None:
    text = first_loss_warning(1, "/cam/image", FRAME_4K, reliable=False)
    assert "1 image(s) on '/cam/image' lost in transport" in text
    assert "3840x2160 rgb8, 23.7 MiB" in text
    assert "FASTDDS_DEFAULT_PROFILES_FILE=<blazepose_ros share>/config/fastdds_large_frames.xml" in text
    assert "the sender" in text and "compressed:=true" in text and "reliable:=true" in text
    assert "raise its segment_size" not in text  # 4K fits the shipped profile twice
    assert "reliable:=true" not in first_loss_warning(3, "/c", FRAME_4K, reliable=True)
    assert "size is unknown" in first_loss_warning(2, "/c", None, reliable=False)
    huge = FrameSize(7680, 4320, "rgb8", 7680 * 4320 * 3)  # 8K: 95 MiB
    assert "raise its segment_size" in first_loss_warning(1, "/c", huge, reliable=False)
    jpeg = first_loss_warning(1, "/c/compressed", FrameSize(0, 0, "jpeg", 300_000), reliable=False)
    assert "the images are jpeg, 0.3 MiB" in jpeg


@pytest.mark.dds
def test_4k_frames_from_a_small_segment_camera_are_warned_at_the_first_loss(
        ros_env: dict[str, str], tmp_path: Path) -> None:
    from node_harness import NodeProcess

    small = tmp_path / "fastdds_16mib.xml"
    text = PROFILE.read_text()
    segment = "<segment_size>67108864</segment_size>"
    assert segment in text
    small.write_text(text.replace(segment, "<segment_size>16777216</segment_size>"))
    image = tmp_path / "people_4k.png"
    person = cv2.imread(str(ROOT / "test" / "data" / "bus.jpg"))
    assert cv2.imwrite(str(image), cv2.resize(person, (3840, 2160)))

    node = NodeProcess(ros_env, "/t_loss")
    camera = subprocess.Popen(
        [sys.executable, "-m", "blazepose_ros.ros.video_publisher", "--ros-args", "-p", f"source:={image}",
         "-p", "rate:=5.0", "-p", "loop:=true", "-p", "max_frames:=100", "-p", "wait_for_subscribers:=1",
         "-r", "image:=/t_loss/image"],
        env=dict(ros_env, FASTDDS_DEFAULT_PROFILES_FILE=str(small)), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60.0
        while "lost in transport" not in node.stderr() and time.monotonic() < deadline:
            node.assert_running()
            assert camera.poll() is None, f"the camera exited {camera.returncode}"
            time.sleep(0.2)
        err = node.stderr()
    finally:
        camera.send_signal(signal.SIGINT)
        try:
            camera.wait(timeout=15)
        except subprocess.TimeoutExpired:
            camera.kill()
        node.stop()
        node.close()
    line = next((x for x in err.splitlines() if "lost in transport" in x), None)
    assert line, f"no loss warning in 60 s:\n{err}"
    assert "on '/t_loss/image'" in line and "config/fastdds_large_frames.xml" in line, line
    # a loss before any image arrived is reported with the size of the first one that does
    assert "the images are 3840x2160 rgb8, 23.7 MiB" in line, line
    assert err.count("lost in transport before reaching this node;") == 1  # once, not per frame
    assert "Traceback" not in err
