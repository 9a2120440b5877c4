"""pose_node's aligned depth input: subscription, stamp matching, checks, counters.

The ``depth`` subscription (sensor-data QoS, ``sensor_msgs/Image`` 16UC1 or 32FC1 aligned to the
colour image) only buffers the last few messages keyed by stamp
(:class:`~blazepose_ros.core.depth.DepthBuffer`); the worker asks :meth:`DepthInput.for_image`
for the one matching a colour frame, which decodes it and checks size, frame and stamp
(:func:`~blazepose_ros.core.depth.depth_problem`). Every problem is warned (rate-limited) and
counted per kind for ``/diagnostics``; the frame then falls back to PnP.
:meth:`DepthInput.camera_points` turns each person's keypoints into camera points.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sensor_msgs.msg import Image

from blazepose_ros.core.depth import (
    DepthBuffer,
    DepthError,
    DepthImage,
    DepthOptions,
    DepthPoints,
    FrameInfo,
    camera_points_from_depth,
    depth_image,
    depth_problem,
)
from blazepose_ros.core.types import Pose

__all__ = ["DepthCounts", "DepthFrame", "DepthInput", "depth_diagnostics"]

WARN_PERIOD_S = 5.0
"""At most one warning of each kind in this many seconds."""


@dataclass(frozen=True)
class DepthCounts:
    """Depth counters since start (diagnostics ``depth_*``)."""

    received: int = 0  # depth images that arrived
    used: int = 0  # colour frames that had a matching, usable depth image
    size_mismatch: int = 0
    frame_mismatch: int = 0
    stamp_mismatch: int = 0  # colour frames without a depth image within depth_tolerance
    bad_encoding: int = 0  # depth images that could not be decoded (encoding, layout)
    measured_points: int = 0  # keypoints measured by depth in the last frame with people

    @property
    def problems(self) -> int:
        return self.size_mismatch + self.frame_mismatch + self.stamp_mismatch + self.bad_encoding


@dataclass(frozen=True)
class DepthFrame:
    """The depth image matched to one colour frame (a view of the message's buffer, not converted)."""

    depth: DepthImage
    stamp_dt_s: float  # depth stamp - colour stamp


def _stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class DepthInput:
    """The ``depth`` subscription of a node and what it takes to use it (thread-safe)."""

    def __init__(self, node: Any, qos: Any, tolerance_s: float, options: DepthOptions,
                 buffer_size: int = 8) -> None:
        self._node = node
        self.tolerance_s = float(tolerance_s)
        self.options = options
        self._buffer: DepthBuffer[Image] = DepthBuffer(size=buffer_size)
        self._lock = threading.Lock()
        self._counts = DepthCounts()
        self._last_problem: str | None = None
        self._warned_at: dict[str, float] = {}  # problem kind -> monotonic time of its last warning
        self.subscription = node.create_subscription(Image, "depth", self._on_depth, qos)

    @property
    def topic(self) -> str:
        return self.subscription.topic_name

    def counts(self) -> DepthCounts:
        with self._lock:
            return self._counts

    def status(self) -> str:
        """Diagnostics ``depth``: "yes" (the last colour frame had usable depth), "no" (nothing
        received), "ignored: <the last frame's problem>" or "received, not used yet"."""
        with self._lock:
            c, problem = self._counts, self._last_problem
        if c.received == 0:
            return "no"
        if problem:
            return f"ignored: {problem}"
        return "yes" if c.used else "received, not used yet"

    def _add(self, **inc: int) -> None:
        with self._lock:
            self._counts = replace(self._counts, **{k: getattr(self._counts, k) + v for k, v in inc.items()})

    def _on_depth(self, msg: Image) -> None:
        self._buffer.add(_stamp_ns(msg.header.stamp), msg)
        self._add(received=1)

    def _problem(self, kind: str, message: str) -> None:
        """Count a problem; warn about it unless the same kind was warned in the last WARN_PERIOD_S."""
        self._add(**{{"size": "size_mismatch", "frame": "frame_mismatch", "stamp": "stamp_mismatch",
                      "encoding": "bad_encoding"}[kind]: 1})
        now = time.monotonic()
        with self._lock:
            self._last_problem = message
            last = self._warned_at.get(kind)
            warn = last is None or now - last >= WARN_PERIOD_S
            if warn:
                self._warned_at[kind] = now
        if warn:
            self._node.get_logger().warning(f"depth not used: {message}")

    def for_image(self, header: Any, width: int, height: int) -> DepthFrame | None:
        """The decoded depth image for a colour frame (``header``: its stamp and frame), or None
        (no depth yet, or a mismatch: warned and counted)."""
        image = FrameInfo(width, height, header.frame_id, _stamp_ns(header.stamp))
        msg, dt = self._buffer.match(image.stamp_ns, self.tolerance_s)
        if msg is None:
            problem = depth_problem(None, image, self.tolerance_s, dt)
            if dt is not None:  # before the first depth image: not a mismatch, just nothing yet
                self._problem(problem.kind, problem.message)
            return None
        info = FrameInfo(int(msg.width), int(msg.height), msg.header.frame_id, _stamp_ns(msg.header.stamp))
        problem = depth_problem(info, image, self.tolerance_s)
        if problem is not None:
            self._problem(problem.kind, problem.message)
            return None
        try:
            depth = depth_image(msg.data, int(msg.width), int(msg.height), int(msg.step), msg.encoding,
                                bool(msg.is_bigendian))
        except DepthError as e:
            self._problem("encoding", str(e))
            return None
        with self._lock:
            self._last_problem = None
        self._add(used=1)
        return DepthFrame(depth=depth, stamp_dt_s=float(dt))

    def camera_points(self, depth: DepthFrame, poses: Sequence[Pose], k: np.ndarray, d: np.ndarray | None,
                      pnp: Sequence[np.ndarray | None]) -> list[DepthPoints]:
        """Camera points of every person from ``depth`` (PnP ``pnp[i]`` where depth is missing)."""
        out = [camera_points_from_depth(depth.depth, p.keypoints, p.world, k, d, c, self.options)
               for p, c in zip(poses, pnp, strict=True)]
        if out:
            measured = int(sum(r.from_depth.sum() for r in out))
            with self._lock:
                self._counts = replace(self._counts, measured_points=measured)
        return out

    def clear(self) -> None:
        self._buffer.clear()


def depth_diagnostics(now: DepthCounts, before: DepthCounts,
                      status: str) -> tuple[dict[str, str], str | None]:
    """The ``depth_*`` diagnostics values and, when colour frames went without usable depth since
    ``before`` (the previous window's counts), the WARN message to raise the status to."""
    values = {
        "depth": status,
        "depth_received": str(now.received),
        "depth_used": str(now.used),
        "depth_size_mismatch": str(now.size_mismatch),
        "depth_frame_mismatch": str(now.frame_mismatch),
        "depth_stamp_mismatch": str(now.stamp_mismatch),
        "depth_bad_encoding": str(now.bad_encoding),
        "depth_measured_points": str(now.measured_points),
    }
    new = now.problems - before.problems
    if new <= 0:
        return values, None
    return values, f"{new} frame(s) without usable depth since the last report ({status})"
