"""Metric 3D keypoints in the camera frame from BlazePose world landmarks (ROS-free).

BlazePose gives two views of one person: ``keypoints`` in image pixels and ``world`` landmarks
in metres around the hip centre (x right, y down, z away from the camera, already rotated to
the image's orientation) -- but not where the person stands relative to the camera. Treating
the world skeleton as a rigid 3D model and the pixel keypoints as its projection, a
Perspective-n-Point solve with the camera intrinsics recovers that rigid transform, so

    p_camera = R @ p_world + t        (metres, camera optical frame: x right, y down, z forward)

for every keypoint. The accuracy is that of the model's metric skeleton (its bone lengths
set the distance): expect a few centimetres laterally and ~10 % in depth on real images;
with a consistent skeleton and projection the solve is exact to numerical precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["MIN_PNP_POINTS", "PNP_DISTORTION_MODELS", "CameraInfoError", "CameraModel",
           "camera_frame_points", "camera_model_from_info", "intrinsics_from_fov"]

MIN_PNP_POINTS = 6
"""Fewest keypoints (visibility >= threshold) :func:`camera_frame_points` solves with."""


def intrinsics_from_fov(width: int, height: int, fov_deg: float = 60.0) -> np.ndarray:
    """Pinhole K (3x3, pixels) for an image of ``width`` x ``height`` px with a horizontal field
    of view ``fov_deg`` (degrees), square pixels and the principal point at the image centre
    (``(w - 1) / 2, (h - 1) / 2``, pixel-centre convention as in ROS CameraInfo)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"horizontal field of view must be in (0, 180) degrees, got {fov_deg}")
    f = (width / 2.0) / np.tan(np.radians(fov_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


PNP_DISTORTION_MODELS = ("", "plumb_bob", "rational_polynomial")
"""CameraInfo distortion models whose coefficients OpenCV's solvePnP understands."""
_PNP_DISTORTION_SIZES = (4, 5, 8, 12, 14)


class CameraInfoError(ValueError):
    """Camera intrinsics that cannot be used; the message says what is wrong with them."""


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics for :func:`camera_frame_points`, checked once (:func:`camera_model_from_info`).

    k: (3, 3) camera matrix in pixels. d: distortion coefficients in OpenCV order, or None
    (undistorted / rectified). note: a remark on how the CameraInfo was read (e.g. an
    unsupported distortion model used as undistorted), or None.
    """

    k: np.ndarray
    d: np.ndarray | None
    note: str | None = None


def _fmt(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in np.asarray(values, dtype=np.float64).reshape(-1)) + "]"


def _check_k(camera_matrix: np.ndarray, what: str = "camera matrix K") -> np.ndarray:
    """The 3x3 matrix as float64, or CameraInfoError saying which of its problems it has."""
    k = np.asarray(camera_matrix, dtype=np.float64)
    if k.shape != (3, 3):
        if k.ndim <= 1:
            raise CameraInfoError(f"{what} has {k.size} values, a 3x3 matrix needs 9 (row-major)")
        raise CameraInfoError(f"{what} must be 3x3, got shape {k.shape}")
    if not np.isfinite(k).all():
        raise CameraInfoError(f"{what} has non-finite values ({_fmt(k)}): the camera driver sent a "
                              "broken calibration")
    fx, fy = k[0, 0], k[1, 1]
    if fx <= 0.0 or fy <= 0.0:
        if not k.any():
            raise CameraInfoError(f"{what} is all zeros: the camera is uncalibrated; calibrate it "
                                  "(camera_calibration) or give the driver a calibration file")
        raise CameraInfoError(f"{what} has a non-positive focal length (fx={fx:g}, fy={fy:g}): the "
                              "calibration is broken; calibrate the camera")
    if not np.allclose(k[2], (0.0, 0.0, 1.0)):
        raise CameraInfoError(f"{what} has the last row {_fmt(k[2])}, a camera matrix has [0, 0, 1]")
    return k


def _check_d(distortion: Sequence[float] | np.ndarray | None, what: str = "distortion") -> np.ndarray | None:
    """Coefficients as a float64 vector, or None for "no distortion" (None, [] or all zeros)."""
    if distortion is None:
        return None
    d = np.asarray(distortion, dtype=np.float64).reshape(-1)
    if d.size == 0 or (np.isfinite(d).all() and not d.any()):
        return None
    if d.size not in _PNP_DISTORTION_SIZES:
        raise CameraInfoError(f"{what} has {d.size} coefficients; solvePnP takes 4, 5, 8, 12 or 14 "
                              "(plumb_bob: 5, rational_polynomial: 8)")
    if not np.isfinite(d).all():
        raise CameraInfoError(f"{what} has non-finite coefficients ({_fmt(d)})")
    return d


def camera_model_from_info(k: Sequence[float], d: Sequence[float], distortion_model: str, width: int,
                           height: int, image_size: tuple[int, int] | None = None,
                           p: Sequence[float] | None = None, rectified: bool = False) -> CameraModel:
    """The intrinsics of a ROS CameraInfo (its fields ``k``, ``d``, ``distortion_model``,
    ``width``, ``height``, ``p``), checked in one place.

    ``image_size``: (width, height) in px of the images the keypoints come from; a CameraInfo
    for another size (``width``/``height`` 0 mean unknown) is refused. ``rectified``: the
    images are rectified, so P's left 3x3 and no distortion are used instead of K and D.
    A distortion model solvePnP does not know (:data:`PNP_DISTORTION_MODELS`) is read as
    undistorted and said in ``note``.

    Raises:
        CameraInfoError: an empty or malformed K (or P when rectified), a size mismatch, or
            coefficients solvePnP cannot take.
    """
    if rectified:
        pm = np.asarray(p if p is not None else (), dtype=np.float64)
        if pm.size != 12:
            raise CameraInfoError(f"its P matrix must have 12 values (rectified images), got {pm.size}")
        kk = _check_k(pm.reshape(3, 4)[:, :3], "its P matrix (rectified images)")
    else:
        km = np.asarray(k, dtype=np.float64)
        kk = _check_k(km.reshape(3, 3) if km.size == 9 else km, "its K matrix")
    if image_size is not None and width and height and (width, height) != tuple(image_size):
        w, h = image_size
        raise CameraInfoError(f"it is for {width}x{height} images but the images are {w}x{h} "
                              "(use the camera_info of this image stream)")
    if rectified:
        return CameraModel(kk, None)
    if distortion_model not in PNP_DISTORTION_MODELS:
        return CameraModel(kk, None, f"distortion model '{distortion_model}' is not supported by solvePnP: "
                                     "using it as undistorted")
    try:
        dd = _check_d(d, "its D")
    except CameraInfoError as e:
        raise CameraInfoError(f"{e}: cannot use camera_info distortion with solvePnP") from None
    return CameraModel(kk, dd)


def _initial_guess(obj: np.ndarray, img: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Identity rotation (world landmarks are already in the image's orientation) and the
    translation that matches the skeleton's centroid and spread to the 2D keypoints."""
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    spread_px = float(np.sqrt(np.mean(np.sum((img - img.mean(0)) ** 2, axis=1))))
    spread_m = float(np.sqrt(np.mean(np.sum((obj[:, :2] - obj[:, :2].mean(0)) ** 2, axis=1))))
    z = fx * spread_m / spread_px if spread_px > 1e-6 and spread_m > 1e-6 else 2.0
    mu_obj, mu_img = obj.mean(0), img.mean(0)
    t = np.array([(mu_img[0] - cx) * z / fx - mu_obj[0], (mu_img[1] - cy) * z / fy - mu_obj[1],
                  z - mu_obj[2]])
    return np.zeros(3), t


def camera_frame_points(world: np.ndarray, keypoints_px: np.ndarray, K: np.ndarray,  # noqa: N803
                        D: np.ndarray | None = None,  # noqa: N803
                        min_visibility: float = 0.5) -> np.ndarray | None:
    """All 33 keypoints in the camera optical frame, in metres, or None when no sound solve exists.

    Args:
        world: (33, 3) world landmarks in metres (hip-centred body frame, see
            :class:`blazepose_ros.core.types.Pose`).
        keypoints_px: (33, >=4) image keypoints: x, y in source pixels; column 3 is the
            visibility in [0, 1].
        K: (3, 3) camera matrix in pixels (CameraInfo.k) of the image the keypoints are in.
        D: distortion coefficients (CameraInfo.d, OpenCV plumb_bob / rational order) or None
            for an undistorted/rectified image.
        min_visibility: keypoints below this visibility are not used in the solve (they are
            still transformed and returned).

    Returns:
        (33, 3) float32: x right, y down, z forward, metres. None when fewer than
        :data:`MIN_PNP_POINTS` keypoints qualify, the inputs are not finite, the solve fails, or
        the result is degenerate (a point at z <= 0 i.e. behind the camera, NaN).

    Raises:
        CameraInfoError: K malformed or with a non-positive focal length, unusable D.
        ValueError: wrong array shapes.
    """
    k = _check_k(K)
    w = np.asarray(world, dtype=np.float64)
    kp = np.asarray(keypoints_px, dtype=np.float64)
    if w.shape != (33, 3):
        raise ValueError(f"world landmarks must be (33, 3) metres, got {w.shape}")
    if kp.ndim != 2 or kp.shape[0] != 33 or kp.shape[1] < 4:
        raise ValueError(f"keypoints must be (33, >=4) [x, y, z, visibility, ...], got {kp.shape}")
    d = _check_d(D)  # "no distortion" spelled as None, [] or zeros -> None

    use = (kp[:, 3] >= min_visibility) & np.isfinite(kp[:, :2]).all(1) & np.isfinite(w).all(1)
    if int(use.sum()) < MIN_PNP_POINTS:
        return None
    obj = np.ascontiguousarray(w[use])
    img = np.ascontiguousarray(kp[use, :2])
    if np.ptp(obj, axis=0).max() < 1e-3 or np.ptp(img, axis=0).max() < 1.0:
        return None  # a collapsed skeleton or all keypoints on one pixel: nothing to solve

    # SQPnP is a global solver (no initial guess, ~0.1 ms for 33 points). A Levenberg-Marquardt
    # polish (solvePnPRefineLM) was measured at ~0.9 ms for ~1 % less reprojection error on real
    # keypoints -- below the model's own error -- so it is left out. The local ITERATIVE solve from
    # an identity-rotation guess (~1 ms) runs only when SQPnP fails or lands behind the camera.
    pts = _solve(w, obj, img, k, d, use_guess=False)
    if pts is None:
        pts = _solve(w, obj, img, k, d, use_guess=True)
    return None if pts is None else pts.astype(np.float32)


def _solve(w: np.ndarray, obj: np.ndarray, img: np.ndarray, k: np.ndarray, d: np.ndarray | None,
           use_guess: bool) -> np.ndarray | None:
    """All of ``w`` in the camera frame from one PnP method, or None if it fails / is degenerate."""
    try:
        if use_guess:
            r0, t0 = _initial_guess(obj, img, k)
            ok, rvec, tvec = cv2.solvePnP(obj, img, k, d, r0, t0, useExtrinsicGuess=True,
                                          flags=cv2.SOLVEPNP_ITERATIVE)
        else:
            ok, rvec, tvec = cv2.solvePnP(obj, img, k, d, flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:
        return None
    if not ok or not (np.isfinite(rvec).all() and np.isfinite(tvec).all()):
        return None
    rot, _ = cv2.Rodrigues(rvec)
    pts = w @ rot.T + tvec.reshape(1, 3)
    if not np.isfinite(pts).all() or (pts[:, 2] <= 0.0).any():
        return None  # part of the body behind the camera (the mirrored solution) or garbage
    return pts
