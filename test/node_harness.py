"""Test harness for pose_node: a node process, an in-test ROS graph, message helpers.

Shared by the DDS tests (imported, not collected). The node process and the graph are
bench/nodelib.py's, with failures turned into pytest failures."""


import signal
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import nodelib as nl  # noqa: E402
from builtin_interfaces.msg import Time  # noqa: E402
from nodelib import HarnessError, diag_values  # noqa: E402,F401  (re-exported for the tests)
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from blazepose_ros.ros.conversions import msg_to_keypoints, stamp_to_ns  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "test" / "data"
PARAMS = ROOT / "config" / "pose.yaml"
FRAME = "camera_optical_frame"
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


# --------------------------------------------------------------------------------------------
# helpers


def video_frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(DATA / "sample_people.mp4"))
    frames = []
    while len(frames) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(frames) == n, f"sample_people.mp4 has fewer than {n} frames"
    return frames


def image_rgb(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(DATA / name)), cv2.COLOR_BGR2RGB)


def stamp_of(seconds: float) -> Time:
    ns = round(seconds * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


stamp_ns = stamp_to_ns


def image_msg(rgb: np.ndarray, seconds: float, frame_id: str = FRAME) -> Image:
    from blazepose_ros.ros.image_conversion import rgb_to_image_msg

    return rgb_to_image_msg(rgb, Header(stamp=stamp_of(seconds), frame_id=frame_id), "rgb8")


def camera_info_msg(width: int, height: int, seconds: float, fov_deg: float = 60.0) -> CameraInfo:
    from blazepose_ros.core.camera import intrinsics_from_fov

    k = intrinsics_from_fov(width, height, fov_deg)
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.header = Header(stamp=stamp_of(seconds), frame_id=FRAME)
    info.k = [float(v) for v in k.reshape(-1)]
    info.d = [0.0] * 5
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [k[0, 0], 0.0, k[0, 2], 0.0, 0.0, k[1, 1], k[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


class NodeProcess(nl.NodeProcess):
    """pose_node in a namespace with config/pose.yaml plus ``params``; failures are pytest
    failures that show the node's stderr."""

    def __init__(self, env: dict[str, str], ns: str, params: dict[str, Any] | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        super().__init__(ns, params, env=env, params_file=PARAMS, extra_args=extra_args)

    def _fail(self, message: str) -> None:
        pytest.fail(f"{message}:\n{self.stderr()}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        code = super().stop(sig, timeout)
        if self.killed:
            pytest.fail(f"pose_node did not exit {timeout} s after signal {sig}:\n{self.stderr()}")
        return code


class Graph(nl.Graph):
    """The test's own ROS node in a private context; failures are pytest failures."""

    def _fail(self, message: str, proc: nl.NodeProcess | None) -> None:
        extra = f"\npose_node stderr:\n{proc.stderr()}" if proc is not None else ""
        pytest.fail(f"{message}{extra}")


def assert_clean_exit(proc: NodeProcess, sig: int = signal.SIGINT) -> None:
    code = proc.stop(sig)
    err = proc.stderr()
    assert code == 0, f"exit code {code} after signal {sig}:\n{err}"
    assert "Traceback" not in err, err


def unaccounted(d: dict[str, str]) -> int:
    """Frames received but neither processed, dropped nor failed (pending or in flight)."""
    return int(d["frames_received"]) - sum(int(d[k]) for k in (
        "frames_processed", "dropped_frames", "conversion_errors", "processing_errors"))


keypoint_array = msg_to_keypoints  # (33, 5) float32 from a PoseKeypoints33


def points_array(points: Any) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in points], np.float64)


# --------------------------------------------------------------------------------------------
# tests
