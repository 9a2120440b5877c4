"""keep_frame_memory: received frames reuse memory instead of faulting it in again (real DDS)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from blazepose_ros.ros.malloc_tuning import keep_frame_memory

pytestmark = pytest.mark.dds

PROBE = Path(__file__).with_name("frame_fault_probe.py")
FRAME_PAGES = 1280 * 720 * 3 // 4096  # 675 pages of 4 KiB in one rgb8 frame


def faults_per_frame(env: dict[str, str], keep: bool, topic: str, frames: int = 40) -> dict:
    sub = subprocess.Popen([sys.executable, str(PROBE), "sub", topic, str(frames), "1" if keep else "0"],
                           env=env, stdout=subprocess.PIPE, text=True)
    pub = subprocess.run([sys.executable, str(PROBE), "pub", topic, str(frames)], env=env,
                         capture_output=True, text=True, timeout=60)
    out, _ = sub.communicate(timeout=60)
    assert pub.returncode == 0, pub.stderr
    return json.loads(out.strip().splitlines()[-1])


def test_keep_frame_memory_applies_on_glibc() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    assert keep_frame_memory() is None


def test_received_frames_do_not_fault_their_pages_in_again(ros_env: dict[str, str]) -> None:
    tuned = faults_per_frame(ros_env, True, "/fault_probe_tuned")
    assert tuned["frames"] >= 30, tuned
    # one frame is 675 pages; with glibc's defaults every frame costs ~2,000 faults here
    # (bench/bench_transport.py shows both side by side)
    assert tuned["faults_per_frame"] < 0.1 * FRAME_PAGES, tuned
