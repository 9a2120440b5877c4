"""pose_node's camera model side: the latest CameraInfo, checked, and the camera points of a frame.

The node's ``camera_info`` callback only stores the message (:meth:`CameraInput.set_info`);
:meth:`CameraInput.model` checks it once per message, image size and ``rectified``
(:func:`~blazepose_ros.core.camera.camera_model_from_info`; a driver sends the same intrinsics with
every frame) and logs each distinct problem once. No CameraInfo ``CAMERA_INFO_GRACE_S`` after the
first image is said once, at info level (the node still publishes the world skeleton).
:meth:`CameraInput.camera_points` solves PnP per person and, with the matching aligned depth image
(:class:`~blazepose_ros.ros.depth_input.DepthInput`), measures them. :meth:`CameraInput.status`
and :attr:`CameraInput.usable` are what ``/diagnostics`` says about the CameraInfo.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from sensor_msgs.msg import CameraInfo

from blazepose_ros.core.camera import (
    CameraInfoError,
    CameraModel,
    camera_frame_points,
    camera_model_from_info,
)
from blazepose_ros.core.types import Pose
from blazepose_ros.ros.depth_input import DepthInput

__all__ = ["CAMERA_INFO_GRACE_S", "CameraInput", "Logger"]

CAMERA_INFO_GRACE_S = 2.0
"""How long after the first image a missing camera_info is reported."""


class Logger(Protocol):
    """What :class:`CameraInput` logs through (an rclpy node logger or a :class:`logging.Logger`)."""

    def info(self, message: str) -> Any: ...

    def warning(self, message: str) -> Any: ...


class CameraInput:
    """The latest CameraInfo of a node, its checked camera model and the frame's camera points.

    ``topic``: the ``camera_info`` topic name while subscribed, None when camera_info is disabled
    (named in the missing-CameraInfo line). Thread-safe: the message is stored from the executor
    thread and checked from both it and the worker.
    """

    def __init__(self, logger: Logger, topic: str | None = None) -> None:
        self._logger = logger
        self.topic = topic
        self._lock = threading.Lock()
        self._info: CameraInfo | None = None
        self._problem: str | None = None  # why the last checked camera_info is not used
        # the last check: (message, image size, rectified, model); the check runs once per message
        self._check: tuple[CameraInfo, tuple[int, int] | None, bool, CameraModel | None] | None = None
        self._warned: set[str] = set()
        self._warned_missing = False
        self._first_image_monotonic: float | None = None

    @property
    def info(self) -> CameraInfo | None:
        """The latest CameraInfo message (None before the first or after :meth:`forget`)."""
        return self._info

    def set_info(self, msg: CameraInfo) -> None:
        """Keep ``msg`` as the latest CameraInfo (checked at the next :meth:`model`)."""
        self._info = msg

    def image_received(self, now_monotonic: float | None = None) -> None:
        """An image arrived (``time.monotonic()`` when it did): the grace time starts at the first."""
        if self._first_image_monotonic is None:
            self._first_image_monotonic = time.monotonic() if now_monotonic is None else now_monotonic

    def forget(self) -> None:
        """A new stream (lifecycle re-activation): no CameraInfo, no image yet. What was said stays said."""
        self._info = None
        self._first_image_monotonic = None

    def model(self, image_size: tuple[int, int] | None, rectified: bool) -> CameraModel | None:
        """The checked intrinsics of the latest CameraInfo for images of ``image_size`` (width,
        height; None before the first image: the size is not checked), or None (why: logged once).
        ``rectified``: use P and no distortion instead of K and D."""
        with self._lock:
            info = self._info
            if info is None:
                self._say_missing()
                return None
            last = self._check
            if last is not None and last[0] is info and last[1:3] == (image_size, rectified):
                return last[3]
            model: CameraModel | None = None
            try:
                model = camera_model_from_info(info.k, info.d, info.distortion_model, info.width, info.height,
                                               image_size, info.p, rectified)
            except CameraInfoError as e:
                self._problem = str(e)
                self._warn_once(f"ignoring camera_info: {e}")
            else:
                self._problem = None
                if model.note:
                    self._warn_once(f"camera_info {model.note}")
            self._check = (info, image_size, rectified, model)
            return model

    def _say_missing(self) -> None:
        first = self._first_image_monotonic
        if (not self._warned_missing and first is not None
                and time.monotonic() - first > CAMERA_INFO_GRACE_S):
            self._warned_missing = True
            topic = self.topic if self.topic is not None else "camera_info (disabled)"
            self._logger.info(
                f"no CameraInfo on '{topic}': publishing markers of the world skeleton (metres, "
                "origin between the hips) in the image frame, no camera_points")

    def _warn_once(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            self._logger.warning(text)

    @property
    def usable(self) -> bool:
        """There is a CameraInfo and its last check found nothing wrong."""
        return self._info is not None and self._problem is None

    def status(self) -> str:
        """Diagnostics ``camera_info``: "no", "ignored: <why>" or "yes"."""
        if self._info is None:
            return "no"
        problem = self._problem
        return f"ignored: {problem}" if problem else "yes"

    def camera_points(self, poses: Sequence[Pose], model: CameraModel | None, header: Any,
                      image_size: tuple[int, int], depth: DepthInput | None = None,
                      ) -> tuple[list[np.ndarray | None], list[np.ndarray | None] | None]:
        """Camera points per person (PnP; measured where the depth image matching ``header`` has
        them) and their per-point sources (None: all PnP). ``model`` None: no camera points."""
        if model is None:
            return [None] * len(poses), None
        pnp = [camera_frame_points(p.world, p.keypoints, model.k, model.d) for p in poses]
        if depth is None:
            return pnp, None
        frame = depth.for_image(header, *image_size)  # checked, counted and warned inside
        if frame is None or not poses:
            return pnp, None
        got = depth.camera_points(frame, poses, model.k, model.d, pnp)
        points: list[np.ndarray | None] = []
        for r, c in zip(got, pnp, strict=True):
            # no PnP solve and no depth on this person: no camera points, as without depth
            points.append(None if c is None and not r.from_depth.any() else r.points)
        sources = [r.source if pt is not None else None for r, pt in zip(got, points, strict=True)]
        return points, sources
