"""Test and demo media: a real-motion sequence made from a still photo of people."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np


def motion_frames(image: np.ndarray, n_frames: int = 90, size: tuple[int, int] = (640, 480)):
    """Yield frames of a virtual camera moving over ``image`` (pan, zoom, roll).

    The crop window pans horizontally, zooms in and out and rolls by up to
    +-12 degrees, so a tracker sees smooth translation, scale and rotation.
    """
    h, w = image.shape[:2]
    out_w, out_h = size
    for i in range(n_frames):
        t = i / max(1, n_frames - 1)
        zoom = 1.0 + 0.25 * math.sin(2 * math.pi * t)
        angle = 12.0 * math.sin(2 * math.pi * t * 1.5)
        cx = w * (0.5 + 0.12 * math.sin(2 * math.pi * t))
        cy = h * 0.5
        scale = zoom * out_h / h
        m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        m[0, 2] += out_w / 2 - cx
        m[1, 2] += out_h / 2 - cy
        yield cv2.warpAffine(image, m, (out_w, out_h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)


def write_motion_sequence(src: Path, dst: Path, n_frames: int = 90, fps: float = 30.0) -> Path:
    image = cv2.imread(str(src))
    if image is None:
        raise FileNotFoundError(f"cannot read image {src}")
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {dst} (mp4v codec unavailable)")
    for frame in motion_frames(image, n_frames):
        writer.write(frame)
    writer.release()
    return dst
