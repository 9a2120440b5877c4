"""Helpers of the reliability benchmarks (bench_flood.py, bench_soak.py): a pose_node child
process, its resident memory, an rclpy context of our own, diagnostics of one node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def private_domain() -> str:
    """A ROS_DOMAIN_ID of this run's own (unless one is set), inherited by the children."""
    if "ROS_DOMAIN_ID" not in os.environ:
        os.environ["ROS_DOMAIN_ID"] = str(100 + os.getpid() % 100)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return os.environ["ROS_DOMAIN_ID"]


def rss_mib(pid: int) -> float:
    """Resident set size of a process from /proc/<pid>/status (VmRSS), in MiB; nan if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


class PoseNodeProcess:
    """``python -m blazepose_ros.ros.pose_node`` in a namespace; output to ``log``."""

    def __init__(self, ns: str, params: dict[str, Any], log: Path) -> None:
        self.ns = ns
        self.log = log
        args = ["--ros-args", "-r", f"__ns:={ns}"]
        for k, v in params.items():
            args += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "blazepose_ros.ros.pose_node", *args],
                                     stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT, then SIGKILL after ``timeout``; the exit code (negative if killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


class RosSide:
    """This process's own rclpy context, node and executor."""

    def __init__(self, name: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, args=[])
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, cond: Callable[[], bool], timeout: float, what: str,
                   node: PoseNodeProcess | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if node is not None and not node.alive():
                raise RuntimeError(f"pose_node exited with {node.proc.returncode}; see {node.log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def diag_values(msg: Any, ns: str) -> dict[str, str] | None:
    """The key/values of pose_node's status in namespace ``ns`` from a DiagnosticArray."""
    for status in msg.status:
        if status.name.startswith(f"{ns.strip('/')}/pose_node"):
            return {kv.key: kv.value for kv in status.values} | {"_message": status.message}
    return None


def percentile_ms(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q) * 1e3) if values else float("nan")
