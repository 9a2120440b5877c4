"""Pose results <-> blazepose_ros messages (per-frame hot path).

:func:`pose_to_msg` / :func:`poses_to_array_msg` build ``PoseKeypoints33`` (+ ``Array``) from
:class:`blazepose_ros.core.types.Pose`; :func:`msg_to_keypoints` and
:func:`msg_to_camera_points` go back to numpy for consumers (gesture_node, people).

Speed. A rosidl Python message's constructor builds every default first: an empty
``PoseKeypoints33()`` alone creates 33 ``Keypoint`` and 66 ``Point`` objects (~55 us here), and
``Keypoint(x=..., ...)`` goes through ``__init__`` plus five property setters (~1 us each). Measured
on this machine for one person (``python bench/bench_conversions.py`` prints the comparison):

- per-field assignment into a default message            ~100 us
- keyword constructors from ``.tolist()`` rows           ~115 us
- the fast path below                                    ~20-25 us

The fast path creates the message objects with ``cls.__new__`` and fills their ``__slots__``
(``_x``, ``_keypoints``, ...) directly from ``ndarray.tolist()`` rows -- exactly what the
generated setters store when field checks are off (the default). It is used only when, at
import, it builds a message equal (``==``, i.e. field by field through the public properties) to
the one the public constructors build; otherwise, and whenever ``ROS_PYTHON_CHECK_FIELDS=1`` asks
for validated setters, the public constructors are used. ``USE_FAST_PATH`` reports which.

Sharing: every message built here references the given ``header`` object (not a copy), as
rclpy callbacks usually do; build a new Header if you mutate it afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point

from blazepose_ros.core.types import Pose, Roi
from blazepose_ros.msg import Keypoint, PoseKeypoints33, PoseKeypoints33Array, PoseRoi

__all__ = [
    "USE_FAST_PATH",
    "msg_to_camera_points",
    "msg_to_keypoints",
    "point_msgs",
    "pose_to_msg",
    "poses_to_array_msg",
    "stamp_to_ns",
    "stamp_to_s",
]

NUM_KEYPOINTS = 33


def stamp_to_ns(stamp: Time) -> int:
    """A ``builtin_interfaces/Time`` in integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_to_s(stamp: Time) -> float:
    """A ``builtin_interfaces/Time`` in seconds."""
    return int(stamp.sec) + int(stamp.nanosec) * 1e-9


# ---------------------------------------------------------------------------------------------
# element builders: public constructors (checked) and the slot-filling fast path


def _keypoints_slow(rows: list[list[float]]) -> list[Any]:
    return [Keypoint(x=x, y=y, z=z, visibility=v, presence=p) for x, y, z, v, p in rows]


def _points_slow(rows: list[list[float]]) -> list[Any]:
    return [Point(x=x, y=y, z=z) for x, y, z in rows]


def _roi_slow(roi: Roi) -> Any:
    return PoseRoi(x_center=float(roi.x_center), y_center=float(roi.y_center), width=float(roi.width),
                   height=float(roi.height), rotation=float(roi.rotation))


def _sources(src: np.ndarray | None, has_cam: bool) -> np.ndarray:
    """camera_point_sources: as given, else all PNP with camera points and all NONE without."""
    if src is None:
        return np.full(NUM_KEYPOINTS, PoseKeypoints33.CAMERA_POINT_PNP if has_cam else 0, np.uint8)
    out = np.asarray(src, dtype=np.uint8).reshape(-1).copy()
    if out.shape != (NUM_KEYPOINTS,):
        raise ValueError(f"camera_point_sources must be ({NUM_KEYPOINTS},), got {out.shape}")
    return out


def _msg_slow(header: Any, pid: int, score: float, kps: list[Any], world: list[Any], has_cam: bool,
              cam: list[Any], roi: Any, w: int, h: int, src: np.ndarray | None = None) -> Any:
    return PoseKeypoints33(header=header, id=pid, score=score, keypoints=kps, world_points=world,
                           has_camera_points=has_cam, camera_points=cam, roi=roi, image_width=w,
                           image_height=h, camera_point_sources=_sources(src, has_cam))


def _array_slow(header: Any, poses: list[Any]) -> Any:
    return PoseKeypoints33Array(header=header, poses=poses)


_KP_NEW = Keypoint.__new__
_PT_NEW = Point.__new__
_KP_CHECK = "_check_fields" in Keypoint.__slots__
_PT_CHECK = "_check_fields" in Point.__slots__
_MSG_CHECK = "_check_fields" in PoseKeypoints33.__slots__
_ROI_CHECK = "_check_fields" in PoseRoi.__slots__
_ARR_CHECK = "_check_fields" in PoseKeypoints33Array.__slots__


def _keypoints_fast(rows: list[list[float]]) -> list[Any]:
    out = []
    append = out.append
    for x, y, z, v, p in rows:
        k = _KP_NEW(Keypoint)
        k._x, k._y, k._z, k._visibility, k._presence = x, y, z, v, p
        if _KP_CHECK:
            k._check_fields = False
        append(k)
    return out


def _points_fast(rows: list[list[float]]) -> list[Any]:
    out = []
    append = out.append
    for x, y, z in rows:
        q = _PT_NEW(Point)
        q._x, q._y, q._z = x, y, z
        if _PT_CHECK:
            q._check_fields = False
        append(q)
    return out


def _roi_fast(roi: Roi) -> Any:
    r = PoseRoi.__new__(PoseRoi)
    r._x_center, r._y_center = float(roi.x_center), float(roi.y_center)
    r._width, r._height, r._rotation = float(roi.width), float(roi.height), float(roi.rotation)
    if _ROI_CHECK:
        r._check_fields = False
    return r


def _msg_fast(header: Any, pid: int, score: float, kps: list[Any], world: list[Any], has_cam: bool,
              cam: list[Any], roi: Any, w: int, h: int, src: np.ndarray | None = None) -> Any:
    m = PoseKeypoints33.__new__(PoseKeypoints33)
    m._header, m._id, m._score = header, pid, score
    m._keypoints, m._world_points = kps, world
    m._has_camera_points, m._camera_points = has_cam, cam
    m._camera_point_sources = _sources(src, has_cam)
    m._roi, m._image_width, m._image_height = roi, w, h
    if _MSG_CHECK:
        m._check_fields = False
    return m


def _array_fast(header: Any, poses: list[Any]) -> Any:
    a = PoseKeypoints33Array.__new__(PoseKeypoints33Array)
    a._header, a._poses = header, poses
    if _ARR_CHECK:
        a._check_fields = False
    return a


_ZERO_POINTS = [[0.0, 0.0, 0.0]] * NUM_KEYPOINTS


def _fast_path_ok() -> bool:
    """True when the slot-filling builders produce messages equal to the public constructors'."""
    if os.environ.get("ROS_PYTHON_CHECK_FIELDS") == "1":
        return False
    try:
        from std_msgs.msg import Header

        rng = np.random.default_rng(0)
        kp = rng.random((NUM_KEYPOINTS, 5), dtype=np.float32).tolist()
        pts = rng.random((NUM_KEYPOINTS, 3), dtype=np.float32).tolist()
        roi = Roi(1.0, 2.0, 3.0, 3.0, -0.5)
        hdr = Header(frame_id="self_check")
        src = np.arange(NUM_KEYPOINTS, dtype=np.uint8) % 3
        args_slow = (hdr, 5, 0.5, _keypoints_slow(kp), _points_slow(pts), True, _points_slow(pts),
                     _roi_slow(roi), 640, 480, src.copy())
        args_fast = (hdr, 5, 0.5, _keypoints_fast(kp), _points_fast(pts), True, _points_fast(pts),
                     _roi_fast(roi), 640, 480, src.copy())
        slow = _array_slow(hdr, [_msg_slow(*args_slow)])
        fast = _array_fast(hdr, [_msg_fast(*args_fast)])
        return bool(slow == fast and fast.poses[0].keypoints[3].visibility == kp[3][3]
                    and repr(slow) == repr(fast))
    except Exception:  # a rosidl generation with different internals: use the public constructors
        return False


USE_FAST_PATH: bool = _fast_path_ok()
"""Whether the slot-filling fast path is in use (decided once at import by a self-check)."""

_keypoints: Callable[[list[list[float]]], list[Any]] = _keypoints_fast if USE_FAST_PATH else _keypoints_slow
point_msgs: Callable[[list[list[float]]], list[Point]] = _points_fast if USE_FAST_PATH else _points_slow
"""``geometry_msgs/Point`` objects from ``[[x, y, z], ...]`` rows (Python floats), fast path if in use."""
_roi: Callable[[Roi], Any] = _roi_fast if USE_FAST_PATH else _roi_slow
_msg = _msg_fast if USE_FAST_PATH else _msg_slow
_array = _array_fast if USE_FAST_PATH else _array_slow


# ---------------------------------------------------------------------------------------------
# public API


def _rows(a: np.ndarray | None, cols: int, what: str) -> list[list[float]]:
    arr = np.asarray(a)
    if arr.shape != (NUM_KEYPOINTS, cols):
        raise ValueError(f"{what} must be ({NUM_KEYPOINTS}, {cols}), got {arr.shape}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr.tolist()  # Python floats, what the generated setters and serializers expect


def pose_to_msg(pose: Pose, header: Any, image_size: tuple[int, int],
                camera_points: np.ndarray | None = None,
                camera_point_sources: np.ndarray | None = None) -> PoseKeypoints33:
    """One person as a ``PoseKeypoints33`` message.

    Args:
        pose: the pipeline result (keypoints (33,5) source px; world (33,3) m hip-centred).
        header: ``std_msgs/Header`` of the source image (stamp, camera optical frame); referenced.
        image_size: source image ``(width, height)`` in pixels.
        camera_points: optional (33, 3) metres in the camera optical frame (x right, y down,
            z forward; see :func:`blazepose_ros.core.camera.camera_frame_points`). When None,
            ``has_camera_points`` is False and ``camera_points`` are zeros.
        camera_point_sources: optional (33,) ``PoseKeypoints33.CAMERA_POINT_*`` per point (see
            :func:`blazepose_ros.core.depth.camera_points_from_depth`); default all PNP with
            camera points, all NONE without.

    Raises:
        ValueError: arrays of the wrong shape.
    """
    has_cam = camera_points is not None
    w, h = image_size
    return _msg(
        header,
        int(pose.id),
        float(pose.score),
        _keypoints(_rows(pose.keypoints, 5, "pose.keypoints")),
        point_msgs(_rows(pose.world, 3, "pose.world")),
        has_cam,
        point_msgs(_rows(camera_points, 3, "camera_points") if has_cam else _ZERO_POINTS),
        _roi(pose.roi),
        int(w),
        int(h),
        camera_point_sources,
    )


def poses_to_array_msg(poses: Sequence[Pose], header: Any, image_size: tuple[int, int],
                       camera_points_list: Sequence[np.ndarray | None] | None = None,
                       sources_list: Sequence[np.ndarray | None] | None = None) -> PoseKeypoints33Array:
    """All people of one frame as a ``PoseKeypoints33Array`` (empty ``poses`` when nobody is seen).

    ``camera_points_list``: None, or one entry (array or None) per pose, in the same order;
    ``sources_list`` likewise for ``camera_point_sources`` (see :func:`pose_to_msg`).
    Every message (array and per-person) carries ``header``.
    """
    if camera_points_list is None:
        cams: Sequence[np.ndarray | None] = [None] * len(poses)
    else:
        cams = camera_points_list
        if len(cams) != len(poses):
            raise ValueError(f"camera_points_list has {len(cams)} entries for {len(poses)} poses")
    srcs: Sequence[np.ndarray | None] = [None] * len(poses) if sources_list is None else sources_list
    if len(srcs) != len(poses):
        raise ValueError(f"sources_list has {len(srcs)} entries for {len(poses)} poses")
    return _array(header, [pose_to_msg(p, header, image_size, c, s)
                           for p, c, s in zip(poses, cams, srcs, strict=True)])


def msg_to_keypoints(msg: PoseKeypoints33) -> np.ndarray:
    """(33, 5) float32 ``[x, y, z, visibility, presence]`` (source px) from a ``PoseKeypoints33``."""
    return np.array([(k.x, k.y, k.z, k.visibility, k.presence) for k in msg.keypoints], np.float32)


def msg_to_camera_points(msg: PoseKeypoints33) -> np.ndarray | None:
    """(33, 3) float32 camera-frame points in metres, or None when ``has_camera_points`` is False."""
    if not msg.has_camera_points:
        return None
    return np.array([(p.x, p.y, p.z) for p in msg.camera_points], np.float32)
