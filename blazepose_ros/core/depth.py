"""Camera-frame keypoints from an aligned depth image (ROS-free).

An RGB-D camera's depth image *aligned to the colour image* (RealSense
``aligned_depth_to_color``, OAK-D ``stereo/depth`` aligned to RGB, Orbbec ``depth_registered``) has
the colour image's size and intrinsics, so the depth under a keypoint's pixel ``(u, v)`` gives the
point on the body's surface in the camera optical frame (x right, y down, z forward, metres)::

    x = (u' - cx) * z / fx,   y = (v' - cy) * z / fy        ((u', v') = undistorted pixel)

Encodings follow REP 118: ``16UC1`` in millimetres and ``32FC1`` in metres, 0 (and NaN/inf for
32FC1) meaning "no measurement".

Per keypoint (:func:`camera_points_from_depth`):

1. Only keypoints with ``visibility >= min_visibility`` inside the image are sampled.
2. The depths in a small window around the pixel are taken, invalid ones (0, NaN, outside
   ``[min_depth, max_depth]``) dropped. A keypoint on the body's outline sees the body and what is
   behind it; the body is in front, so the *nearest* depth cluster holding a fair share of the
   window's samples is taken, and its median is the keypoint's depth.
3. Outliers are checked against the metric skeleton: two depth points further apart than the
   same two keypoints of the world skeleton (bones and every other pair, scaled to the person's
   size, plus a tolerance for the model's error and the body's thickness) cannot both be on the
   body; the point in most such conflicts is dropped until none is left.
4. Keypoints without an accepted depth fall back to the PnP solution
   (:func:`blazepose_ros.core.camera.camera_frame_points`) moved along the camera rays (which keeps
   its projection) to the distance the depth measured; without a PnP solution, to the ray at the
   median measured depth.

Depth points are on the body's *surface* (a hip keypoint's depth is the front of the pelvis, ~10 cm
in front of the joint); PnP points are the model's joint positions.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

import cv2
import numpy as np

__all__ = [
    "DEPTH_ENCODINGS",
    "MAX_BODY_SCALE",
    "SOURCE_DEPTH",
    "SOURCE_NONE",
    "SOURCE_PNP",
    "DepthBuffer",
    "DepthError",
    "DepthImage",
    "DepthOptions",
    "DepthPoints",
    "DepthProblem",
    "FrameInfo",
    "camera_points_from_depth",
    "decode_depth",
    "depth_image",
    "depth_problem",
    "depth_to_metres",
    "sample_keypoint_depths",
]

DEPTH_ENCODINGS = ("16UC1", "32FC1")
"""Depth encodings accepted (REP 118): 16UC1 millimetres, 32FC1 metres."""

SOURCE_NONE = 0
"""Per-point source code: no camera point (nothing to compute it from)."""
SOURCE_PNP = 1
"""Per-point source code: from the PnP fit of the metric skeleton (moved to the measured distance
when the person has depth)."""
SOURCE_DEPTH = 2
"""Per-point source code: measured by the depth image."""


MAX_BODY_SCALE = 1.6
"""Largest person, relative to the model's metric skeleton, the outlier check allows for."""


class DepthError(ValueError):
    """A depth image that cannot be used (encoding, layout); the message says why."""


@dataclass(frozen=True)
class DepthOptions:
    """How depth is sampled and checked.

    window_radius: half side of the square sampling window in pixels ((2r + 1)^2 samples).
    min_depth, max_depth: measurements outside [min_depth, max_depth] metres are rejected (most
        RGB-D cameras report garbage below ~0.2 m and beyond ~10 m).
    min_visibility: keypoints below this visibility are not sampled (occluded: the depth there is
        the occluder's).
    min_valid_fraction: fewest valid samples, as a fraction of the window, to trust a keypoint.
    min_cluster_fraction: the nearest depth cluster must hold at least this fraction of the valid
        samples to be taken as the body (smaller clusters are flying pixels or noise).
    cluster_tolerance_rel, cluster_tolerance_m: samples within ``rel * z + m`` metres behind the
        cluster's nearest sample belong to it (the sensor's noise plus the body's curvature).
    skeleton_tolerance_rel, skeleton_tolerance_m: two depth points conflict when they are more than
        ``d * (1 + rel) + m`` apart, ``d`` being the same pair's distance in the world skeleton.
    """

    window_radius: int = 3
    min_depth: float = 0.1
    max_depth: float = 10.0
    min_visibility: float = 0.5
    min_valid_fraction: float = 0.2
    min_cluster_fraction: float = 0.25
    cluster_tolerance_rel: float = 0.03
    cluster_tolerance_m: float = 0.03
    skeleton_tolerance_rel: float = 0.3
    skeleton_tolerance_m: float = 0.15

    def __post_init__(self) -> None:
        if self.window_radius < 0:
            raise ValueError(f"window_radius must be >= 0 pixels, got {self.window_radius}")
        if not 0.0 <= self.min_depth < self.max_depth:
            raise ValueError(f"need 0 <= min_depth < max_depth, got {self.min_depth} and {self.max_depth} m")
        for name in ("min_visibility", "min_valid_fraction", "min_cluster_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("cluster_tolerance_rel", "cluster_tolerance_m", "skeleton_tolerance_rel",
                     "skeleton_tolerance_m"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class DepthPoints:
    """Camera-frame keypoints of one person with where each came from.

    points: (33, 3) float32, metres, camera optical frame (x right, y down, z forward); NaN only
        where ``source == SOURCE_NONE``.
    source: (33,) uint8, SOURCE_DEPTH / SOURCE_PNP / SOURCE_NONE per keypoint.
    sampled: (33,) bool, a depth was read under the keypoint (before the skeleton check).
    outlier: (33,) bool, that depth was rejected by the skeleton check.
    scale: factor the PnP points were moved by along their rays (1.0 = unchanged; NaN when no PnP
        points were given).
    """

    points: np.ndarray
    source: np.ndarray
    sampled: np.ndarray
    outlier: np.ndarray
    scale: float = float("nan")

    @property
    def from_depth(self) -> np.ndarray:
        """(33,) bool: the keypoints measured by the depth image."""
        return self.source == SOURCE_DEPTH


@dataclass(frozen=True)
class DepthImage:
    """A depth image as its camera sent it, not converted: ``values`` (H, W) uint16 millimetres
    (16UC1) or float32 metres (32FC1), in either byte order, usually a view of the message's
    buffer (:func:`depth_image`). Only the windows around keypoints are ever converted: one person
    in a 1280x720 frame costs ~1.1 ms instead of ~4.0 ms with the whole image converted first
    (``bench/depth_accuracy.py``)."""

    values: np.ndarray
    encoding: str

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.values.shape[0]), int(self.values.shape[1]))

    def metres(self) -> np.ndarray:
        """The whole image as (H, W) float32 metres, NaN = no measurement."""
        return depth_to_metres(self.values, self.encoding)


def depth_image(buffer: bytes | bytearray | memoryview | np.ndarray, width: int, height: int, step: int,
                encoding: str, is_bigendian: bool = False) -> DepthImage:
    """A raw depth image (``sensor_msgs/Image`` fields) as a :class:`DepthImage` viewing
    ``buffer`` (no copy; keep the buffer alive while it is used).

    Raises:
        DepthError: unsupported encoding, or a buffer/step that does not hold the image.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise DepthError(f"depth encoding '{encoding}' is not supported: a depth image is 16UC1 "
                         "(millimetres) or 32FC1 (metres), REP 118")
    if width <= 0 or height <= 0:
        raise DepthError(f"depth image is {width}x{height} pixels")
    itemsize = 2 if encoding == "16UC1" else 4
    if step < width * itemsize:
        raise DepthError(f"depth row step {step} B is shorter than {width} px x {itemsize} B")
    raw = (np.ascontiguousarray(buffer).reshape(-1).view(np.uint8) if isinstance(buffer, np.ndarray)
           else np.frombuffer(buffer, dtype=np.uint8))
    if raw.size < step * (height - 1) + width * itemsize:
        raise DepthError(f"depth image data has {raw.size} B, a {width}x{height} {encoding} image with "
                         f"step {step} needs {step * height}")
    dtype = np.dtype(np.uint16 if encoding == "16UC1" else np.float32)
    dtype = dtype.newbyteorder(">" if is_bigendian else "<")
    values = np.ndarray(shape=(height, width), dtype=dtype, buffer=raw, strides=(step, itemsize))
    values.flags.writeable = False
    return DepthImage(values=values, encoding=encoding)


def decode_depth(buffer: bytes | bytearray | memoryview | np.ndarray, width: int, height: int, step: int,
                 encoding: str, is_bigendian: bool = False) -> np.ndarray:
    """A raw depth image (``sensor_msgs/Image`` fields) as an (H, W) float32 array in metres, NaN
    where there is no measurement (:func:`depth_image` and :meth:`DepthImage.metres`).

    Raises:
        DepthError: unsupported encoding, or a buffer/step that does not hold the image.
    """
    return depth_image(buffer, width, height, step, encoding, is_bigendian).metres()


def depth_to_metres(values: np.ndarray, encoding: str) -> np.ndarray:
    """(H, W) depth values in ``encoding`` units as float32 metres; NaN for no measurement
    (0 in either encoding, NaN/inf in 32FC1)."""
    if encoding == "16UC1":
        out = values.astype(np.float32) * np.float32(0.001)
    elif encoding == "32FC1":
        out = values.astype(np.float32, copy=True)
        out[~np.isfinite(out)] = np.nan
    else:
        raise DepthError(f"depth encoding '{encoding}' is not supported: use 16UC1 (mm) or 32FC1 (m)")
    out[out == 0.0] = np.nan
    return out


def _undistorted_pixels(px: np.ndarray, k: np.ndarray, d: np.ndarray | None) -> np.ndarray:
    if d is None or d.size == 0 or not d.any():
        return px
    und = cv2.undistortPoints(px.reshape(-1, 1, 2).astype(np.float64), k, d, P=k)
    return und.reshape(-1, 2)


def _nearest_cluster_depths(windows: np.ndarray, opt: DepthOptions) -> np.ndarray:
    """Per row of ``windows`` (n, m) metres (NaN = invalid): the median of the nearest cluster with
    enough support, or NaN (too few valid samples, no supported cluster)."""
    n, m = windows.shape
    s = np.sort(windows, axis=1)  # NaN sorts last
    valid = np.isfinite(s).sum(1)
    tol = s * opt.cluster_tolerance_rel + opt.cluster_tolerance_m
    # counts[i, j]: samples of row i in [s_ij, s_ij + tol_ij] (rows are sorted, so from j on)
    inside = (s[:, None, :] >= s[:, :, None]) & (s[:, None, :] <= (s + tol)[:, :, None])
    counts = inside.sum(2)
    need_valid = max(1, int(np.ceil(opt.min_valid_fraction * m)))
    need = np.maximum(1, np.ceil(opt.min_cluster_fraction * valid)).astype(np.intp)
    ok = counts >= need[:, None]
    j = np.argmax(ok, axis=1)  # the nearest supported cluster's first sample
    found = ok[np.arange(n), j] & (valid >= need_valid)
    c = counts[np.arange(n), j]
    rows = np.arange(n)
    lo = np.minimum(j + (c - 1) // 2, m - 1)
    hi = np.minimum(j + c // 2, m - 1)
    med = 0.5 * (s[rows, lo] + s[rows, hi])
    return np.where(found, med, np.nan)


def sample_keypoint_depths(depth_m: np.ndarray | DepthImage, keypoints_px: np.ndarray,
                           options: DepthOptions | None = None) -> np.ndarray:
    """(33,) float64 depth in metres under each keypoint, NaN where it cannot be trusted.

    ``depth_m`` is (H, W) metres with NaN for no measurement (:func:`depth_to_metres`) or a
    :class:`DepthImage`;
    ``keypoints_px`` is (33, >=4): x, y source pixels and visibility in column 3. Keypoints below
    ``min_visibility``, outside the image, with too few valid samples in their window or without a
    supported nearest cluster get NaN.
    """
    opt = options or DepthOptions()
    kp = np.asarray(keypoints_px, dtype=np.float64)
    raw, encoding = (depth_m.values, depth_m.encoding) if isinstance(depth_m, DepthImage) else (depth_m, None)
    h, w = raw.shape
    r = opt.window_radius
    out = np.full(kp.shape[0], np.nan)
    xy = kp[:, :2]
    finite = np.isfinite(xy).all(1)
    # pixel (u, v) covers [u, u + 1): the pixel under the keypoint is floor(x)
    uv = np.floor(np.where(finite[:, None], xy, -1.0)).astype(np.intp)
    use = finite & (kp[:, 3] >= opt.min_visibility) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) \
        & (uv[:, 1] < h)
    if not use.any():
        return out
    offs = np.arange(-r, r + 1)
    us = uv[use, 0, None, None] + offs[None, None, :]  # (n, 1, k)
    vs = uv[use, 1, None, None] + offs[None, :, None]  # (n, k, 1)
    inside = (us >= 0) & (us < w) & (vs >= 0) & (vs < h)
    win = raw[np.clip(vs, 0, h - 1), np.clip(us, 0, w - 1)]
    win = (depth_to_metres(win, encoding) if encoding else win).astype(np.float64)
    win = np.where(inside & (win >= opt.min_depth) & (win <= opt.max_depth), win, np.nan)  # NaN: False
    out[use] = _nearest_cluster_depths(win.reshape(win.shape[0], -1), opt)
    return out


def _skeleton_outliers(points: np.ndarray, world: np.ndarray, opt: DepthOptions) -> np.ndarray:
    """Indices (into ``points``) of depth points that conflict with the metric skeleton.

    ``points`` and ``world`` are the (n, 3) depth and world points of the same keypoints. A pair is
    in conflict when the depth points are further apart than the skeleton allows; the point with
    the most conflicts is dropped (ties: the one furthest from the median depth) until none is left.
    """
    n = points.shape[0]
    if n < 2:
        return np.zeros(0, np.intp)
    d_depth = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    d_world = np.linalg.norm(world[:, None, :] - world[None, :, :], axis=2)
    # The model's skeleton has an average build: a tall person's depth points are further apart
    # than its bones (x 1.14 for a 1.89 m person here). Their typical ratio (the median over pairs
    # a forearm or more apart, most points being on the body) scales the check, within what a
    # person can be.
    far = np.triu(d_world > 0.15, 1)
    scale = float(np.clip(np.median(d_depth[far] / d_world[far]), 1.0, MAX_BODY_SCALE)) if far.any() else 1.0
    conflict = d_depth > d_world * scale * (1.0 + opt.skeleton_tolerance_rel) + opt.skeleton_tolerance_m
    alive = np.ones(n, bool)
    away = np.abs(points[:, 2] - np.median(points[:, 2]))
    removed = []
    while True:
        c = (conflict & alive[None, :] & alive[:, None]).sum(1)
        if not c.any():
            break
        worst = np.flatnonzero(c == c.max())
        i = int(worst[np.argmax(away[worst])])
        alive[i] = False
        removed.append(i)
    return np.asarray(removed, np.intp)


def camera_points_from_depth(depth_m: np.ndarray | DepthImage, keypoints_px: np.ndarray, world: np.ndarray,
                             K: np.ndarray, D: np.ndarray | None = None,  # noqa: N803
                             pnp_points: np.ndarray | None = None,
                             options: DepthOptions | None = None) -> DepthPoints:
    """Camera-frame points of one person from an aligned depth image, PnP where depth is missing.

    Args:
        depth_m: (H, W) float32 metres, NaN = no measurement (:func:`decode_depth`), or a
            :class:`DepthImage` (:func:`depth_image`), aligned to (same size and intrinsics as)
            the image the keypoints are in.
        keypoints_px: (33, >=4) keypoints: x, y source pixels, column 3 visibility.
        world: (33, 3) world landmarks in metres (the metric skeleton of the outlier check).
        K: (3, 3) camera matrix of the colour image (pixels).
        D: its distortion coefficients (OpenCV order) or None for a rectified image.
        pnp_points: (33, 3) the PnP camera points (:func:`~blazepose_ros.core.camera.camera_frame_points`)
            or None when no PnP solve exists.
        options: sampling and outlier settings.

    Returns:
        :class:`DepthPoints`; with no depth at all, the PnP points unchanged (``source`` PNP) or,
        without those either, NaN points with ``source`` NONE.
    """
    opt = options or DepthOptions()
    dm = depth_m if isinstance(depth_m, DepthImage) else np.asarray(depth_m)
    shape = dm.values.shape if isinstance(dm, DepthImage) else dm.shape
    if len(shape) != 2:
        raise ValueError(f"depth image must be (H, W) metres, got shape {shape}")
    kp = np.asarray(keypoints_px, dtype=np.float64)
    wl = np.asarray(world, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[0] != 33 or kp.shape[1] < 4:
        raise ValueError(f"keypoints must be (33, >=4) [x, y, z, visibility, ...], got {kp.shape}")
    if wl.shape != (33, 3):
        raise ValueError(f"world landmarks must be (33, 3) metres, got {wl.shape}")
    k = np.asarray(K, dtype=np.float64).reshape(3, 3)
    d = None if D is None else np.asarray(D, dtype=np.float64).reshape(-1)

    z = sample_keypoint_depths(dm, kp, opt)
    sampled = np.isfinite(z)
    rays = np.ones((33, 3))
    finite_px = np.isfinite(kp[:, :2]).all(1)
    # Keypoints are measured from the top-left corner of the first pixel, K (ROS CameraInfo) from
    # that pixel's centre: half a pixel apart.
    und = _undistorted_pixels(np.where(finite_px[:, None], kp[:, :2] - 0.5, 0.0), k, d)
    rays[:, 0] = (und[:, 0] - k[0, 2]) / k[0, 0]
    rays[:, 1] = (und[:, 1] - k[1, 2]) / k[1, 1]
    measured = rays * z[:, None]

    outlier = np.zeros(33, bool)
    idx = np.flatnonzero(sampled & np.isfinite(wl).all(1))
    outlier[idx[_skeleton_outliers(measured[idx], wl[idx], opt)]] = True
    good = sampled & ~outlier

    points = np.full((33, 3), np.nan)
    source = np.full(33, SOURCE_NONE, np.uint8)
    scale = float("nan")
    pnp = None if pnp_points is None else np.asarray(pnp_points, dtype=np.float64)
    if pnp is not None and pnp.shape == (33, 3) and np.isfinite(pnp).all():
        scale = float(np.median(z[good] / pnp[good, 2])) if good.any() else 1.0
        points[:] = pnp * scale
        source[:] = SOURCE_PNP
    elif good.any():  # no PnP: unmeasured keypoints on their rays at the body's median depth
        points[finite_px] = rays[finite_px] * float(np.median(z[good]))
        source[finite_px] = SOURCE_PNP
    points[good] = measured[good]
    source[good] = SOURCE_DEPTH
    return DepthPoints(points=points.astype(np.float32), source=source, sampled=sampled,
                       outlier=outlier, scale=scale)


# -- matching depth to the colour image ---------------------------------------------------------

@dataclass(frozen=True)
class FrameInfo:
    """What a depth/colour image match is checked on: size (pixels), frame_id, stamp (ns)."""

    width: int
    height: int
    frame_id: str
    stamp_ns: int


@dataclass(frozen=True)
class DepthProblem:
    """Why a depth image is not used for a colour frame: ``kind`` (one counter each) and a
    message that says what to change."""

    kind: Literal["size", "frame", "stamp", "encoding"]
    message: str


def depth_problem(depth: FrameInfo | None, image: FrameInfo, tolerance_s: float,
                  nearest_dt_s: float | None = None) -> DepthProblem | None:
    """None when ``depth`` can be used for ``image``, else the first problem found.

    ``depth`` None means no depth image was found within ``tolerance_s`` of the image stamp;
    ``nearest_dt_s`` is then the stamp difference (depth - image, seconds) of the nearest one, if
    any arrived.
    """
    if depth is None:
        if nearest_dt_s is None:
            return DepthProblem("stamp", "no depth image received yet")
        when = "after" if nearest_dt_s > 0 else "before"
        return DepthProblem("stamp", (
            f"no depth image within {tolerance_s:g} s of the colour image (the nearest is "
            f"{abs(nearest_dt_s):.3f} s {when} it): are depth and colour from the same camera and "
            "clock? Raise depth_tolerance for a camera whose streams are not synchronised"))
    if (depth.width, depth.height) != (image.width, image.height):
        return DepthProblem("size", (
            f"depth image is {depth.width}x{depth.height} but the colour image is {image.width}x"
            f"{image.height}: use the depth aligned to the colour image (e.g. RealSense "
            "aligned_depth_to_color/image_raw)"))
    if depth.frame_id and image.frame_id and depth.frame_id != image.frame_id:
        return DepthProblem("frame", (
            f"depth image is in frame '{depth.frame_id}' but the colour image in '{image.frame_id}': "
            "it is not aligned to the colour image (use the depth aligned to colour, whose frame is "
            "the colour optical frame)"))
    return None


T = TypeVar("T")


@dataclass
class DepthBuffer(Generic[T]):
    """The last few depth images keyed by stamp (ns), for matching colour images by stamp without
    message_filters. Thread-safe: one thread adds, another looks up."""

    size: int = 8
    _items: deque = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"depth buffer size must be >= 1, got {self.size}")
        self._items = deque(maxlen=self.size)

    def add(self, stamp_ns: int, item: T) -> None:
        with self._lock:
            self._items.append((int(stamp_ns), item))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def nearest(self, stamp_ns: int) -> tuple[T, float] | None:
        """The item whose stamp is nearest ``stamp_ns`` and its stamp difference (item - query,
        seconds), or None when the buffer is empty."""
        with self._lock:
            if not self._items:
                return None
            s, item = min(self._items, key=lambda e: abs(e[0] - stamp_ns))
        return item, (s - int(stamp_ns)) * 1e-9

    def match(self, stamp_ns: int, tolerance_s: float) -> tuple[T | None, float | None]:
        """(item within ``tolerance_s`` of ``stamp_ns`` or None, stamp difference of the nearest
        item in seconds or None when empty)."""
        found = self.nearest(stamp_ns)
        if found is None:
            return None, None
        item, dt = found
        return (item if abs(dt) <= tolerance_s else None), dt
