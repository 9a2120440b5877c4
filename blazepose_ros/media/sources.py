"""Frames from a video file, an image folder, an image file or a camera (ROS-free).

Used by the CLI (``blazepose_ros.cli``) and the ROS ``video_publisher`` alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

__all__ = ["DEFAULT_CAMERA_FPS", "DEFAULT_FOLDER_FPS", "IMAGE_SUFFIXES", "FrameSource", "SourceError",
           "SourceInfo"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
"""File name endings read as still images (lower case)."""
DEFAULT_FOLDER_FPS = 10.0
"""Frame rate reported for image folders and single images, Hz."""
DEFAULT_CAMERA_FPS = 30.0
"""Frame rate assumed when a video or camera reports none (or a nonsensical one), Hz."""

SourceKind = Literal["camera", "video", "folder", "image"]


class SourceError(RuntimeError):
    """The source cannot be opened or read; the message says what to check."""


@dataclass
class SourceInfo:
    """What was opened: its kind, a description, the frame size in px, the native rate in Hz
    and the frame count (None when unknown: cameras, some streams)."""

    description: str
    width: int
    height: int
    fps: float
    frames: int | None
    kind: SourceKind = "video"


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


class FrameSource:
    """Frames (BGR uint8) from a video file, an image folder / file, or a camera index.

    :meth:`read` returns the next frame or None at the end; :meth:`rewind` restarts a file or
    folder (cameras cannot be rewound: ``seekable`` is False). Raises :class:`SourceError`
    when the source cannot be opened or its first frame cannot be read.
    """

    def __init__(self, source: str) -> None:
        self._cap: cv2.VideoCapture | None = None
        self._files: list[Path] = []
        self._pos = 0
        self._first: np.ndarray | None = None
        text = source.strip()
        if not text:
            raise SourceError("parameter 'source' is empty: give a video file, an image folder, "
                              "an image, or a camera index such as 0")
        if text.lstrip("-").isdigit():
            index = int(text)
            self._cap = cv2.VideoCapture(index)
            if not self._cap.isOpened():
                raise SourceError(f"cannot open camera device {index} (is /dev/video{index} present "
                                  "and free?)")
            self.seekable = False
            first = self._grab_first(f"camera {index}")
            fps = self._cap.get(cv2.CAP_PROP_FPS) or DEFAULT_CAMERA_FPS
            self.info = SourceInfo(f"camera {index}", first.shape[1], first.shape[0], float(fps), None,
                                   "camera")
            return
        path = Path(text).expanduser()
        kind: SourceKind
        if path.is_dir():
            self._files = sorted(p for p in path.iterdir() if is_image_file(p))
            if not self._files:
                raise SourceError(f"folder {path} has no images ({', '.join(IMAGE_SUFFIXES)})")
            kind, description = "folder", f"folder {path} ({len(self._files)} images)"
        elif path.is_file() and is_image_file(path):
            self._files = [path]
            kind, description = "image", f"image {path}"
        elif path.is_file():
            self._cap = cv2.VideoCapture(str(path))
            if not self._cap.isOpened():
                raise SourceError(f"OpenCV cannot open video {path} (unsupported container/codec?)")
            kind, description = "video", f"video {path}"
        else:
            raise SourceError(f"source {text!r} does not exist: it is neither a file, a folder nor a "
                              "camera index")
        self.seekable = True
        if self._files:
            first = self._imread(self._files[0])
            self.info = SourceInfo(description, first.shape[1], first.shape[0], DEFAULT_FOLDER_FPS,
                                   len(self._files), kind)
        else:
            assert self._cap is not None
            first = self._grab_first(description)
            fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
            if not math.isfinite(fps) or fps <= 0.0 or fps > 1000.0:
                fps = DEFAULT_CAMERA_FPS
            count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.info = SourceInfo(description, first.shape[1], first.shape[0], fps,
                                   count if count > 0 else None, kind)
        self.rewind()

    def _grab_first(self, what: str) -> np.ndarray:
        assert self._cap is not None
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise SourceError(f"{what} opened but no frame could be read")
        self._first = frame
        return frame

    @staticmethod
    def _imread(path: Path) -> np.ndarray:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise SourceError(f"cannot read image {path}")
        return img

    def read(self) -> np.ndarray | None:
        """Next BGR frame, or None at the end of a file/folder."""
        if self._files:
            if self._pos >= len(self._files):
                return None
            img = self._imread(self._files[self._pos])
            self._pos += 1
            return img
        assert self._cap is not None
        if not self.seekable and self._first is not None:  # the camera frame read while opening
            frame, self._first = self._first, None
            return frame
        ok, frame = self._cap.read()
        return frame if ok else None

    def rewind(self) -> None:
        self._pos = 0
        if self._cap is not None and self.seekable:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def frames(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
