"""config/fastdds_large_frames.xml carries 4K best-effort frames between processes.

A frame larger than Fast DDS's shared-memory segment does not fit in it: with the former 16 MiB
segment about half of the 3840x2160 rgb8 frames (23.7 MiB) were lost. The frames travel in the
sender's segment, so the publisher (here the real video_publisher) runs with the profile, and so
does this test's subscriber, as scripts/env.sh sets it for every node.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import pytest

pytestmark = pytest.mark.dds

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "fastdds_large_frames.xml"
NS = {"dds": "http://www.eprosima.com"}
FRAME_4K_RGB8 = 3840 * 2160 * 3  # bytes


def segment_size() -> int:
    root = ET.parse(PROFILE).getroot()
    (desc,) = [d for d in root.iterfind(".//dds:transport_descriptor", NS)
               if d.findtext("dds:type", namespaces=NS) == "SHM"]
    return int(desc.findtext("dds:segment_size", namespaces=NS))


@pytest.mark.unit
def test_segment_holds_two_4k_rgb8_frames() -> None:
    # two frames in flight (one being read, the next being written) plus headers and fragments
    assert segment_size() >= 2 * FRAME_4K_RGB8 + (1 << 20), segment_size()
    root = ET.parse(PROFILE).getroot()
    participant = root.find(".//dds:participant", NS)
    assert participant.get("is_default_profile") == "true"
    assert participant.findtext(".//dds:useBuiltinTransports", namespaces=NS) == "false"


@pytest.mark.dds
def test_4k_best_effort_frames_arrive_between_processes(ros_env: dict[str, str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # the subscriber's participant is created below, after this; the child gets the same file
    monkeypatch.setenv("FASTDDS_DEFAULT_PROFILES_FILE", str(PROFILE))
    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    image = tmp_path / "people_4k.png"
    bgr = cv2.imread(str(ROOT / "test" / "data" / "bus.jpg"))
    assert cv2.imwrite(str(image), cv2.resize(bgr, (3840, 2160)))
    n, rate = 15, 5.0
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    node = rclpy.create_node("fastdds_4k_test", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    got: list[tuple[int, int, int]] = []
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.BEST_EFFORT,
                     durability=DurabilityPolicy.VOLATILE)
    node.create_subscription(Image, "/fastdds_4k/image",
                             lambda m: got.append((m.width, m.height, len(m.data))), qos)
    env = dict(ros_env, FASTDDS_DEFAULT_PROFILES_FILE=str(PROFILE))
    child = subprocess.Popen(
        [sys.executable, "-m", "blazepose_ros.ros.video_publisher", "--ros-args",
         "-p", f"source:={image}", "-p", f"rate:={rate}", "-p", f"max_frames:={n}", "-p", "loop:=true",
         "-p", "wait_for_subscribers:=1", "-r", "image:=/fastdds_4k/image"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60.0
        while child.poll() is None and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        drain = time.monotonic() + 3.0
        while len(got) < n and time.monotonic() < drain:
            executor.spin_once(timeout_sec=0.05)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
        log = child.communicate(timeout=20)[0]
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    assert child.returncode == 0, log
    assert f"published max_frames={n}" in log, log
    assert got and set(got) == {(3840, 2160, FRAME_4K_RGB8)}
    # "all or nearly all": one frame may miss the first match on a loaded machine
    assert len(got) >= n - 1, f"{len(got)} of {n} 4K frames arrived ({os.cpu_count()} cores)\n{log}"
