"""A pose_node child process and an rclpy graph of our own, for the benchmarks and the tests.

Written once here; ``test/node_harness.py`` builds on it (failures become pytest failures
with the node's stderr). Used by bench_flood.py, bench_soak.py and the DDS tests: the node
process, its resident memory, the graph's node/executor with bounded waits, diagnostics of
one node.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class HarnessError(RuntimeError):
    """A bounded wait ran out, or the node process died while waited on."""


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


class NodeProcess:
    """``python -m blazepose_ros.ros.pose_node`` in the namespace ``ns``.

    ``params`` become ``-p name:=value`` (after ``params_file``, if given). Output goes to
    ``log`` (stdout and stderr together) or, without it, to ``stdout`` / ``stderr`` files in
    a temporary folder removed by :meth:`close`. ``new_session``: the child gets its own
    session, so a Ctrl-C in the terminal reaches only this process, which then stops it.
    """

    def __init__(self, ns: str, params: dict[str, Any] | None = None, *, log: Path | None = None,
                 env: dict[str, str] | None = None, params_file: Path | None = None,
                 extra_args: tuple[str, ...] = (), new_session: bool = False) -> None:
        self.ns = ns
        self._dir = None if log is not None else tempfile.TemporaryDirectory(prefix="pose_node_")
        if log is not None:
            self.out_path = self.err_path = log
        else:
            assert self._dir is not None
            self.out_path = Path(self._dir.name) / "stdout"
            self.err_path = Path(self._dir.name) / "stderr"
        self.log = self.err_path
        self.killed = False  # stop() had to kill it
        args = ["--ros-args", "-r", f"__ns:={ns}"]
        if params_file is not None:
            args += ["--params-file", str(params_file)]
        for k, v in (params or {}).items():
            args += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
        args += list(extra_args)
        env = dict(os.environ, PYTHONUNBUFFERED="1") if env is None else env
        with open(self.out_path, "w") as out:
            err = subprocess.STDOUT if log is not None else open(self.err_path, "w")
            try:
                self.proc = subprocess.Popen([sys.executable, "-m", "blazepose_ros.ros.pose_node", *args],
                                             env=env, stdout=out, stderr=err, cwd=ROOT,
                                             start_new_session=new_session)
            finally:
                if err is not subprocess.STDOUT:
                    err.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def topic(self, name: str) -> str:
        return f"{self.ns}/{name}"

    def stderr(self) -> str:
        return self.err_path.read_text()

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _fail(self, message: str) -> None:
        raise HarnessError(f"{message}; see {self.log}")

    def assert_running(self) -> None:
        if not self.alive():
            self._fail(f"pose_node exited with {self.proc.returncode}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        """Send ``sig``, then SIGKILL after ``timeout`` s (``killed`` is then True); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.killed = True
        return int(self.proc.returncode)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._dir is not None:
            self._dir.cleanup()


class Graph:
    """This process's own rclpy context, node and executor; collects messages per topic."""

    def __init__(self, name: str = "pose_node_test") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, args=[])
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[tuple[float, Any]]] = {}

    def _fail(self, message: str, proc: NodeProcess | None) -> None:
        raise HarnessError(message if proc is None else f"{message}; see {proc.log}")

    def subscribe(self, msg_type: type, topic: str, qos: Any = None) -> list[tuple[float, Any]]:
        """Collect (arrival wall time, message) of ``topic`` (reliable depth 10 by default)."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE) if qos is None else qos
        box: list[tuple[float, Any]] = self.received.setdefault(topic, [])
        self.node.create_subscription(msg_type, topic, lambda m: box.append((time.time(), m)), qos)
        return box

    def spin_until(self, cond: Callable[[], bool], timeout: float, what: str,
                   proc: NodeProcess | None = None) -> None:
        """Spin until ``cond()``; fail after ``timeout`` s, or as soon as ``proc`` has exited."""
        deadline = time.monotonic() + timeout
        while not cond():
            if proc is not None:
                proc.assert_running()
            if time.monotonic() > deadline:
                self._fail(f"timed out after {timeout} s waiting for {what}", proc)
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
        if not client.wait_for_service(timeout_sec=timeout):
            self._fail(f"service {client.srv_name} not available", None)
        future = client.call_async(request)
        self.spin_until(future.done, timeout, f"a reply from {client.srv_name}")
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def diag_values(msg: Any, ns: str) -> dict[str, Any] | None:
    """The key/values of pose_node's status in namespace ``ns`` from a DiagnosticArray, plus
    ``_level`` (int) and ``_message``."""
    for status in msg.status:
        if status.name.startswith(f"{ns.strip('/')}/pose_node"):
            level = status.level if isinstance(status.level, int) else ord(status.level)
            return {kv.key: kv.value for kv in status.values} | {"_level": level, "_message": status.message}
    return None


def percentile_ms(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q) * 1e3) if values else float("nan")
