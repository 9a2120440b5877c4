"""Synthetic test and demo clips: real-motion sequences made from a still photo of people."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np


def motion_frames(image: np.ndarray, n_frames: int = 90, size: tuple[int, int] = (640, 480)):
    """Yield frames of a virtual camera moving over ``image`` (pan, zoom, roll).

    The crop window pans horizontally, zooms in and out and rolls by up to
    +-12 degrees, so a tracker sees smooth translation, scale and rotation.
    """
    h, w = image.shape[:2]
    out_h = size[1]
    for i in range(n_frames):
        t = i / max(1, n_frames - 1)
        zoom = 1.0 + 0.25 * math.sin(2 * math.pi * t)
        angle = 12.0 * math.sin(2 * math.pi * t * 1.5)
        cx = w * (0.5 + 0.12 * math.sin(2 * math.pi * t))
        cy = h * 0.5
        scale = zoom * out_h / h
        yield _camera_view(image, (cx, cy), angle, scale, size, cv2.BORDER_REFLECT)


def _camera_view(image: np.ndarray, center: tuple[float, float], roll_deg: float, scale: float,
                 size: tuple[int, int], border: int) -> np.ndarray:
    """The view of a virtual camera centred on ``center`` (image px), rolled by
    ``roll_deg`` and scaled by ``scale`` (output px per image px), ``size`` = (w, h)."""
    m = cv2.getRotationMatrix2D(center, roll_deg, scale)
    m[0, 2] += size[0] / 2 - center[0]
    m[1, 2] += size[1] / 2 - center[1]
    return cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=border)


def write_motion_sequence(src: Path, dst: Path, n_frames: int = 90, fps: float = 30.0) -> Path:
    """``sample_people.mp4``: the camera of :func:`motion_frames` over ``src``."""
    image = cv2.imread(str(src))
    if image is None:
        raise FileNotFoundError(f"cannot read image {src}")
    return _write_mp4(dst, motion_frames(image, n_frames), fps, (640, 480))


# The man in the middle of bus.jpg (810x1080): head top ~(285, 400), feet ~(285, 860).
# His neighbours stand at x < 245 (the man on the left, ~20 px away) and x > 665 (a
# walker cut by the right edge). A landscape 4:3 window tall enough for his whole body
# is as wide as the photo, so the camera is held sideways (roll ~90 deg): the window is
# then 0.75 x as wide as it is tall, x in ~[215, 615], the man sits off-centre towards
# the left man, and of the neighbours only the left man's shoe and trouser leg show.
BUS_MIDDLE_MAN = {"center": (415.0, 632.0), "height_px": 458.0}


def follow_frames(image: np.ndarray, center: tuple[float, float], height_px: float,
                  n_frames: int = 100, size: tuple[int, int] = (640, 480),
                  base_roll_deg: float = 90.0, roll_amp_deg: float = 5.0) -> Iterator[np.ndarray]:
    """Yield frames of a virtual camera following one standing person in a still photo.

    ``center``: the window's mean centre in image pixels; ``height_px``: the person's
    height in image pixels. The window (``size``, rolled by ``base_roll_deg``) keeps the
    person's whole body in view while it pans along and across the body (+-28 / +-10 px),
    zooms (the person spans 73-87 % of the window's long side) and rolls by
    +-``roll_amp_deg`` around ``base_roll_deg``. Deterministic: same image, same frames.
    """
    out_w, out_h = size
    long_side = float(max(out_w, out_h))
    for i in range(n_frames):
        t = i / max(1, n_frames - 1)
        fill = 0.80 + 0.07 * math.sin(2 * math.pi * t)  # person height / window long side
        scale = fill * long_side / height_px  # output px per image px
        roll = base_roll_deg + roll_amp_deg * math.sin(2 * math.pi * 1.5 * t + 0.5)
        a = math.radians(base_roll_deg)
        along, across = 28.0 * math.sin(2 * math.pi * t + 1.0), 10.0 * math.sin(4 * math.pi * t)
        # pan in the rolled frame: "along" the window's long side, "across" its short side
        cx = center[0] + along * math.cos(a) - across * math.sin(a)
        cy = center[1] + along * math.sin(a) + across * math.cos(a)
        yield _camera_view(image, (cx, cy), roll, scale, size, cv2.BORDER_REPLICATE)


def write_fullbody_sequence(src: Path, dst: Path, n_frames: int = 100, fps: float = 30.0) -> Path:
    """``sample_fullbody.mp4``: the camera of :func:`follow_frames` on bus.jpg's middle man."""
    image = cv2.imread(str(src))
    if image is None:
        raise FileNotFoundError(f"cannot read image {src}")
    return _write_mp4(dst, follow_frames(image, n_frames=n_frames, **BUS_MIDDLE_MAN), fps, (640, 480))


def _write_mp4(dst: Path, frames: Iterable[np.ndarray], fps: float, size: tuple[int, int]) -> Path:
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {dst} (mp4v codec unavailable)")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return dst
