"""Test harness for pose_node: a node process, an in-test ROS graph, message helpers.

Shared by test_pose_node.py and test_reliability.py (imported, not collected)."""


import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from blazepose_ros.msg import PoseKeypoints33  # noqa: E402
from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

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


def stamp_ns(t: Time) -> int:
    return t.sec * 1_000_000_000 + t.nanosec


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


def diag_values(msg: DiagnosticArray, ns: str) -> dict[str, str] | None:
    for status in msg.status:
        if status.name.startswith(f"{ns.strip('/')}/pose_node"):
            level = status.level if isinstance(status.level, int) else ord(status.level)
            return {kv.key: kv.value for kv in status.values} | {"_level": level,
                                                                  "_message": status.message}
    return None


class NodeProcess:
    """`python -m blazepose_ros.ros.pose_node` in a namespace, output captured to files."""

    def __init__(self, env: dict[str, str], ns: str, params: dict[str, Any] | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.ns = ns
        self._dir = tempfile.TemporaryDirectory(prefix="pose_node_")
        self.out_path = Path(self._dir.name) / "stdout"
        self.err_path = Path(self._dir.name) / "stderr"
        args = ["--ros-args", "-r", f"__ns:={ns}", "--params-file", str(PARAMS)]
        for k, v in (params or {}).items():
            args += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
        args += list(extra_args)
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "blazepose_ros.ros.pose_node", *args],
                                         env=env, stdout=out, stderr=err, cwd=ROOT)

    def topic(self, name: str) -> str:
        return f"{self.ns}/{name}"

    def stderr(self) -> str:
        return self.err_path.read_text()

    def assert_running(self) -> None:
        assert self.proc.poll() is None, f"pose_node exited with {self.proc.returncode}:\n{self.stderr()}"

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"pose_node did not exit {timeout} s after signal {sig}:\n{self.stderr()}")
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._dir.cleanup()


class Graph:
    """The test's own ROS node in a private context; collects messages per topic."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, args=[])
        self.node = rclpy.create_node("pose_node_test", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[tuple[float, Any]]] = {}

    def subscribe(self, msg_type: type, topic: str, qos: QoSProfile = RELIABLE) -> list[tuple[float, Any]]:
        box: list[tuple[float, Any]] = self.received.setdefault(topic, [])
        self.node.create_subscription(msg_type, topic, lambda m: box.append((time.time(), m)), qos)
        return box

    def spin_until(self, cond: Callable[[], bool], timeout: float, what: str,
                   proc: NodeProcess | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if proc is not None:
                proc.assert_running()
            if time.monotonic() > deadline:
                extra = f"\npose_node stderr:\n{proc.stderr()}" if proc is not None else ""
                pytest.fail(f"timed out after {timeout} s waiting for {what}{extra}")
            self.executor.spin_once(timeout_sec=0.02)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def wait_connected(self, pub: Any, proc: NodeProcess, outputs: list[str], timeout: float = 30.0) -> None:
        """Until the node subscribes to ``pub`` and our subscriptions match its publishers."""
        self.spin_until(lambda: pub.get_subscription_count() >= 1 and all(
            self.node.count_publishers(t) >= 1 for t in outputs), timeout, "pose_node to connect", proc)

    def call(self, client: Any, request: Any, timeout: float = 10.0) -> Any:
        assert client.wait_for_service(timeout_sec=timeout), f"service {client.srv_name} not available"
        future = client.call_async(request)
        self.spin_until(future.done, timeout, f"a reply from {client.srv_name}")
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()




def assert_clean_exit(proc: NodeProcess, sig: int = signal.SIGINT) -> None:
    code = proc.stop(sig)
    err = proc.stderr()
    assert code == 0, f"exit code {code} after signal {sig}:\n{err}"
    assert "Traceback" not in err, err


def unaccounted(d: dict[str, str]) -> int:
    """Frames received but neither processed, dropped nor failed (pending or in flight)."""
    return int(d["frames_received"]) - sum(int(d[k]) for k in (
        "frames_processed", "dropped_frames", "conversion_errors", "processing_errors"))


def keypoint_array(msg: PoseKeypoints33) -> np.ndarray:
    return np.array([[k.x, k.y, k.z, k.visibility, k.presence] for k in msg.keypoints], np.float32)


def points_array(points: Any) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in points], np.float64)


# --------------------------------------------------------------------------------------------
# tests
