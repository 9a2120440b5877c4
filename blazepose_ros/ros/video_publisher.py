"""Publish a video file, an image folder or a camera as a ROS 2 camera.

Topics (remap them, e.g. ``-r image:=/camera/image_raw -r camera_info:=/camera/camera_info``):

    image              sensor_msgs/Image, ``encoding`` rgb8 or bgr8
    camera_info        sensor_msgs/CameraInfo, same stamp and frame as each image
    image/compressed   sensor_msgs/CompressedImage (JPEG), only when ``compressed`` is true

Run::

    python -m blazepose_ros.ros.video_publisher --ros-args -p source:=test/data/sample_people.mp4
    ros2 run blazepose_ros video_publisher --ros-args -p source:=0 -p rate:=15.0

``source`` is a video file, a folder of images (sorted by name), a single image, or a camera
device index (``"0"``). Frames go out at the source rate (``rate`` = 0) or at ``rate`` Hz,
paced by the steady clock; stamps come from the node clock, so they follow ``/clock`` with
``use_sim_time``. Without a calibration file the CameraInfo is an ideal pinhole with a
horizontal field of view ``fov_deg``, square pixels and the principal point at the image
centre. Small sources are decoded once up front (``preload``) so that publishing costs only a
stamp and a serialization -- the publisher is then never the bottleneck of a benchmark.

QoS: sensor data by default (best effort, volatile, keep last ``qos_depth`` = 1) -- what camera
drivers use; ``reliable:=true`` for subscribers that require reliable delivery.

The node exits with status 0 at the end of the source when not looping (or after
``max_frames``), and on SIGINT / SIGTERM without a traceback.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import InvalidParameterTypeException, ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from blazepose_ros.core.camera import intrinsics_from_fov
from blazepose_ros.ros.image_conversion import _byte_array, rgb_to_compressed_msg
from blazepose_ros.ros.malloc_tuning import keep_frame_memory
from blazepose_ros.ros.signals import init_with_stop_event

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
DEFAULT_FOLDER_FPS = 10.0
"""Frame rate of image folders and single images when ``rate`` is 0, Hz."""
DEFAULT_CAMERA_FPS = 30.0
"""Frame rate assumed when a video or camera reports none, Hz."""


# ---------------------------------------------------------------------------------------------
# frame sources (ROS-free)


class PublisherError(RuntimeError):
    """The node cannot start (bad parameter, unreadable source); the message says what to fix."""


class SourceError(PublisherError):
    """The source cannot be opened or read; the message says what to check."""


@dataclass
class SourceInfo:
    """What was opened: a description, the frame size in px, the native rate in Hz and the
    frame count (None when unknown: cameras, some streams)."""

    description: str
    width: int
    height: int
    fps: float
    frames: int | None


class FrameSource:
    """Frames (BGR uint8) from a video file, an image folder / file, or a camera index.

    :meth:`read` returns the next frame or None at the end; :meth:`rewind` restarts a file or
    folder (cameras cannot be rewound: ``seekable`` is False).
    """

    def __init__(self, source: str) -> None:
        self._cap: cv2.VideoCapture | None = None
        self._files: list[Path] = []
        self._pos = 0
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
            self.info = SourceInfo(f"camera {index}", first.shape[1], first.shape[0], float(fps), None)
            return
        path = Path(text).expanduser()
        if path.is_dir():
            self._files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not self._files:
                raise SourceError(f"folder {path} has no images ({', '.join(IMAGE_EXTENSIONS)})")
            kind = f"folder {path} ({len(self._files)} images)"
        elif path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            self._files = [path]
            kind = f"image {path}"
        elif path.is_file():
            self._cap = cv2.VideoCapture(str(path))
            if not self._cap.isOpened():
                raise SourceError(f"OpenCV cannot open video {path} (unsupported container/codec?)")
            kind = f"video {path}"
        else:
            raise SourceError(f"source {text!r} is neither a file, a folder nor a camera index")
        self.seekable = True
        if self._files:
            first = self._imread(self._files[0])
            self.info = SourceInfo(kind, first.shape[1], first.shape[0], DEFAULT_FOLDER_FPS, len(self._files))
        else:
            first = self._grab_first(kind)
            fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
            if not math.isfinite(fps) or fps <= 0.0 or fps > 1000.0:
                fps = DEFAULT_CAMERA_FPS
            count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.info = SourceInfo(kind, first.shape[1], first.shape[0], fps, count if count > 0 else None)
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


# ---------------------------------------------------------------------------------------------
# camera info


def pinhole_camera_info(width: int, height: int, fov_deg: float) -> CameraInfo:
    """Ideal pinhole CameraInfo (no distortion) for a horizontal field of view in degrees."""
    k = intrinsics_from_fov(width, height, fov_deg)
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=[0.0] * 5)
    info.k = k.reshape(-1).tolist()
    info.r = np.eye(3).reshape(-1).tolist()
    info.p = np.hstack([k, np.zeros((3, 1))]).reshape(-1).tolist()
    return info


def load_camera_info(path: str | Path, width: int, height: int) -> tuple[CameraInfo, str | None]:
    """CameraInfo from a ROS ``camera_calibration`` YAML (image_width, camera_matrix, ...).

    Returns the info and a warning (or None). When the calibration size differs from the
    source size, K and P are scaled to the source size (same aspect assumed) and a warning says so.
    """
    import yaml

    p = Path(path).expanduser()
    try:
        data = yaml.safe_load(p.read_text())
        cw, ch = int(data["image_width"]), int(data["image_height"])
        k = np.asarray(data["camera_matrix"]["data"], np.float64).reshape(3, 3)
        d = [float(v) for v in data.get("distortion_coefficients", {}).get("data", [])]
        model = str(data.get("distortion_model", "plumb_bob"))
        r = np.asarray(data.get("rectification_matrix", {}).get("data", np.eye(3).ravel()), np.float64)
        proj = data.get("projection_matrix", {}).get("data")
        pm = (np.asarray(proj, np.float64).reshape(3, 4) if proj is not None
              else np.hstack([k, np.zeros((3, 1))]))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise SourceError(f"cannot read camera calibration {p}: {exc} (expected the YAML written by "
                          "camera_calibration: image_width, image_height, camera_matrix, ...)") from exc
    warning = None
    if (cw, ch) != (width, height):
        sx, sy = width / cw, height / ch
        scale = np.diag([sx, sy, 1.0])
        k, pm = scale @ k, scale @ pm
        warning = (f"calibration {p} is for {cw}x{ch} but the source is {width}x{height}: "
                   f"scaled K and P by ({sx:.3f}, {sy:.3f})")
    info = CameraInfo(width=width, height=height, distortion_model=model, d=d)
    info.k, info.r, info.p = k.reshape(-1).tolist(), r.reshape(-1).tolist(), pm.reshape(-1).tolist()
    return info, warning


# ---------------------------------------------------------------------------------------------
# the node


def _descriptor(description: str, read_only: bool = True, float_range: tuple[float, float] | None = None,
                int_range: tuple[int, int] | None = None, constraints: str = "") -> ParameterDescriptor:
    """A ParameterDescriptor. Floating-point parameters are dynamically typed so that ``rate:=30``
    (an integer on the command line) is accepted; their range is then checked by the node."""
    d = ParameterDescriptor(description=description, read_only=read_only, additional_constraints=constraints)
    if float_range is not None:
        d.floating_point_range = [FloatingPointRange(from_value=float(float_range[0]),
                                                     to_value=float(float_range[1]), step=0.0)]
        d.dynamic_typing = True
        d.additional_constraints = constraints or f"a number in [{float_range[0]:g}, {float_range[1]:g}]"
    if int_range is not None:
        d.integer_range = [IntegerRange(from_value=int_range[0], to_value=int_range[1], step=1)]
    return d


PARAMETERS: dict[str, tuple[Any, ParameterDescriptor]] = {
    "source": ("0", _descriptor(
        "Video file, image folder (sorted by name), image file, or camera device index (e.g. '0').")),
    "rate": (0.0, _descriptor(
        "Publishing rate in Hz; 0 = the source's own rate (videos/cameras; image folders: 10 Hz). "
        "Can be changed while running.", read_only=False, float_range=(0.0, 1000.0))),
    "loop": (False, _descriptor("Start again at the end of a video/folder instead of exiting.",
                                read_only=False)),
    "max_frames": (0, _descriptor("Stop (exit 0) after this many published frames; 0 = no limit.",
                                  int_range=(0, 2**31 - 1))),
    "encoding": ("rgb8", _descriptor("sensor_msgs/Image encoding of 'image'.", constraints="rgb8 or bgr8")),
    "frame_id": ("camera_optical_frame", _descriptor(
        "header.frame_id of image and camera_info: the camera optical frame (x right, y down, z forward).")),
    "fov_deg": (60.0, _descriptor(
        "Horizontal field of view in degrees of the pinhole CameraInfo used without a calibration file.",
        float_range=(1.0, 179.0))),
    "camera_info_file": ("", _descriptor(
        "ROS camera_calibration YAML; when set it replaces the fov_deg pinhole model.")),
    "compressed": (False, _descriptor("Also publish JPEG frames on 'image/compressed'.")),
    "jpeg_quality": (90, _descriptor("JPEG quality of 'image/compressed'.", int_range=(1, 100))),
    "preload": (True, _descriptor(
        "Decode (and pack) every frame of a file/folder before publishing, if it fits in preload_max_mb.")),
    "preload_max_mb": (1024, _descriptor("Memory limit for preload in MiB; larger sources are streamed.",
                                         int_range=(1, 1 << 20))),
    "reliable": (False, _descriptor("RELIABLE QoS instead of sensor-data BEST_EFFORT.")),
    "qos_depth": (1, _descriptor("QoS history depth (keep last N).", int_range=(1, 1000))),
    "wait_for_subscribers": (0, _descriptor(
        "Hold the first frame until 'image' and 'image/compressed' together have this many "
        "subscribers; 0 = start at once.", int_range=(0, 1000))),
    "keep_frame_memory": (True, _descriptor(
        "Tune glibc malloc so frame-sized buffers are reused instead of page-faulted in again for "
        "every published frame (as pose_node's parameter of the same name).")),
}


@dataclass
class _Frame:
    image: Image
    compressed: CompressedImage | None


class VideoPublisher(Node):
    """Publishes frames of a :class:`FrameSource` with CameraInfo at a steady rate."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("video_publisher", **kwargs)
        for name, (default, descriptor) in PARAMETERS.items():
            try:
                self.declare_parameter(name, default, descriptor)
            except (ParameterException, InvalidParameterTypeException) as exc:
                raise PublisherError(f"parameter '{name}': {exc} (expected a {type(default).__name__}, "
                                     f"e.g. {name}:={str(default).lower()})") from exc
        p = self.get_parameter
        self.encoding = str(p("encoding").value)
        if self.encoding not in ("rgb8", "bgr8"):
            raise SourceError(f"parameter encoding must be rgb8 or bgr8, got {self.encoding!r}")
        self.frame_id = str(p("frame_id").value)
        self.max_frames = int(p("max_frames").value)
        self.want_compressed = bool(p("compressed").value)
        self.jpeg_quality = int(p("jpeg_quality").value)
        self.wait_for = int(p("wait_for_subscribers").value)

        self.source = FrameSource(str(p("source").value))
        info = self.source.info
        calib = str(p("camera_info_file").value)
        if calib:
            self.camera_info, warning = load_camera_info(calib, info.width, info.height)
            if warning:
                self.get_logger().warn(warning)
        else:
            self.camera_info = pinhole_camera_info(info.width, info.height, self._number("fov_deg"))
        self.camera_info.header.frame_id = self.frame_id

        why_not = keep_frame_memory() if p("keep_frame_memory").value else None
        if why_not:
            self.get_logger().info(f"keep_frame_memory: left malloc as it is ({why_not})")
        self._frames: list[_Frame] | None = None
        if bool(p("preload").value) and self.source.seekable:
            self._frames = self._preload(int(p("preload_max_mb").value))

        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=int(p("qos_depth").value),
            reliability=ReliabilityPolicy.RELIABLE if p("reliable").value else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.VOLATILE)
        self.image_pub = self.create_publisher(Image, "image", qos)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", qos)
        self.compressed_pub = (self.create_publisher(CompressedImage, "image/compressed", qos)
                               if self.want_compressed else None)

        self.published = 0
        self.done = False
        self._index = 0
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timer = None
        self._schedule(self._number("rate"))
        self.add_on_set_parameters_callback(self._on_set_parameters)

        n = info.frames if info.frames is not None else "an unknown number of"
        if self._frames is not None:
            mb = sum(f.image.step * f.image.height for f in self._frames) / 2**20
            how = f"preloaded {len(self._frames)} ({mb:.0f} MiB)"
        else:
            how = "streamed"
        self.get_logger().info(
            f"opened {info.description}: {info.width}x{info.height}, {info.fps:.2f} fps, {n} frames, "
            f"{how}; publishing {self.encoding} on '{self.image_pub.topic_name}' at {self.rate:.2f} Hz "
            f"({'reliable' if p('reliable').value else 'best effort'}), frame '{self.frame_id}', "
            f"loop={bool(p('loop').value)}, compressed={self.want_compressed}")

    def _number(self, name: str) -> float:
        """A float parameter (ints accepted), checked against its declared range."""
        value = self.get_parameter(name).value
        lo_hi = PARAMETERS[name][1].floating_point_range[0]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                lo_hi.from_value <= float(value) <= lo_hi.to_value):
            raise PublisherError(f"parameter '{name}' must be a number in [{lo_hi.from_value:g}, "
                                 f"{lo_hi.to_value:g}], got {value!r}")
        return float(value)

    # --- frames ----------------------------------------------------------------
    def _pack(self, bgr: np.ndarray) -> _Frame:
        w, h = self.source.info.width, self.source.info.height
        if bgr.shape[:2] != (h, w):  # image folders with mixed sizes: keep one size (CameraInfo)
            bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        img = Image(height=h, width=w, encoding=self.encoding, is_bigendian=0, step=3 * w)
        data = bgr if self.encoding == "bgr8" else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        img.data = _byte_array(data)  # array.array('B'): stored as is, no per-byte check
        img.header.frame_id = self.frame_id
        comp = None
        if self.want_compressed:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            comp = rgb_to_compressed_msg(rgb, None, "jpeg", self.jpeg_quality)
            comp.header.frame_id = self.frame_id
        return _Frame(img, comp)

    def _preload(self, max_mb: int) -> list[_Frame] | None:
        info = self.source.info
        frame_bytes = info.width * info.height * 3
        if info.frames is not None and info.frames * frame_bytes > max_mb * 2**20:
            mib = info.frames * frame_bytes / 2**20
            self.get_logger().info(f"source has {info.frames} frames ({mib:.0f} MiB) > "
                                   f"preload_max_mb={max_mb}: streaming instead")
            return None
        frames: list[_Frame] = []
        for bgr in self.source.frames():
            frames.append(self._pack(bgr))
            if len(frames) * frame_bytes > max_mb * 2**20:
                self.get_logger().info(f"source exceeds preload_max_mb={max_mb}: streaming instead")
                self.source.rewind()
                return None
            if self.max_frames and len(frames) >= self.max_frames and not self._loop():
                break
        if not frames:
            raise SourceError(f"{info.description} has no readable frames")
        return frames

    def _loop(self) -> bool:
        return bool(self.get_parameter("loop").value)

    def _next_frame(self) -> _Frame | None:
        if self._frames is not None:
            if self._index >= len(self._frames):
                if not self._loop():
                    return None
                self._index = 0
            frame = self._frames[self._index]
            self._index += 1
            return frame
        bgr = self.source.read()
        if bgr is None and self._loop() and self.source.seekable:
            self.source.rewind()
            bgr = self.source.read()
        return None if bgr is None else self._pack(bgr)

    # --- timing ----------------------------------------------------------------
    def _schedule(self, rate: float) -> None:
        self.rate = rate if rate > 0.0 else self.source.info.fps
        if self._timer is not None:
            self.destroy_timer(self._timer)
        # steady clock: the pace is wall time even with use_sim_time (stamps still use the node clock)
        self._timer = self.create_timer(1.0 / self.rate, self._tick, clock=self._steady)

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for prm in params:
            if prm.name == "rate":
                if prm.type_ not in (Parameter.Type.DOUBLE, Parameter.Type.INTEGER) or not (
                        0.0 <= prm.value <= 1000.0):
                    return SetParametersResult(successful=False,
                                               reason="rate must be a number in [0, 1000] Hz")
                self._schedule(float(prm.value))
                self.get_logger().info(f"publishing at {self.rate:.2f} Hz")
        return SetParametersResult(successful=True)

    def _subscribers(self) -> int:
        n = self.image_pub.get_subscription_count()
        if self.compressed_pub is not None:
            n += self.compressed_pub.get_subscription_count()
        return n

    def _tick(self) -> None:
        if self.done:
            return
        if self.wait_for and self.published == 0 and self._subscribers() < self.wait_for:
            return
        frame = self._next_frame()
        if frame is None:
            self.get_logger().info(f"end of {self.source.info.description} after {self.published} frames")
            self.done = True
            return
        stamp = self.get_clock().now().to_msg()
        frame.image.header.stamp = stamp
        self.camera_info.header.stamp = stamp
        self.image_pub.publish(frame.image)
        self.info_pub.publish(self.camera_info)
        if frame.compressed is not None and self.compressed_pub is not None:
            frame.compressed.header.stamp = stamp
            self.compressed_pub.publish(frame.compressed)
        self.published += 1
        if self.max_frames and self.published >= self.max_frames:
            self.get_logger().info(f"published max_frames={self.max_frames}")
            self.done = True

    def destroy_node(self) -> None:
        source = getattr(self, "source", None)
        if source is not None:
            source.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console entry point; returns the process exit status (0 on a normal end or a signal)."""
    stop = init_with_stop_event(args)
    node: VideoPublisher | None = None
    status = 0
    try:
        node = VideoPublisher()
        while rclpy.ok() and not node.done and not stop.is_set():
            rclpy.spin_once(node, timeout_sec=0.1)
        if node.done:
            # let the middleware hand out the last samples before the participant goes away
            t_end = time.monotonic() + 0.3
            while rclpy.ok() and time.monotonic() < t_end:
                rclpy.spin_once(node, timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except PublisherError as exc:
        (node.get_logger() if node else rclpy.logging.get_logger("video_publisher")).error(str(exc))
        status = 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
