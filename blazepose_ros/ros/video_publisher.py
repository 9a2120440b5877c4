"""Publish a video file, an image folder or a camera as a ROS 2 camera.

Topics (remap them, e.g. ``-r image:=/camera/image_raw -r camera_info:=/camera/camera_info``):

    image              sensor_msgs/Image, ``encoding`` rgb8 or bgr8
    camera_info        sensor_msgs/CameraInfo, same stamp and frame as each image
    image/compressed   sensor_msgs/CompressedImage (JPEG), only when ``compressed`` is true

Run::

    python -m blazepose_ros.ros.video_publisher --ros-args -p source:=test/data/sample_people.mp4
    ros2 run blazepose_ros video_publisher --ros-args -p source:=0 -p rate:=15.0

``source`` is a video file, a folder of images (sorted by name), a single image, or a camera
device index (``source:=0``). Frames go out at the source rate (``rate`` = 0) or at ``rate`` Hz,
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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from blazepose_ros.core.camera import intrinsics_from_fov
from blazepose_ros.media import FrameSource, SourceError
from blazepose_ros.ros.image_conversion import byte_array, rgb_to_compressed_msg
from blazepose_ros.ros.malloc_tuning import keep_frame_memory
from blazepose_ros.ros.params import ParamSpec, check_parameters, declare_parameters
from blazepose_ros.ros.signals import spin_until_stopped

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


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("source", "0", "Video file, image folder (sorted by name), image file, or camera device "
              "index (e.g. 0).", read_only=True, dynamic_typing=True),  # source:=0 arrives as an integer
    ParamSpec("rate", 0.0, "Publishing rate in Hz; 0 = the source's own rate (videos/cameras; image "
              "folders: 10 Hz). Can be changed while running.", float_range=(0.0, 1000.0),
              dynamic_typing=True),
    ParamSpec("loop", False, "Start again at the end of a video/folder instead of exiting."),
    ParamSpec("max_frames", 0, "Stop (exit 0) after this many published frames; 0 = no limit.",
              read_only=True, int_range=(0, 2**31 - 1)),
    ParamSpec("encoding", "rgb8", "sensor_msgs/Image encoding of 'image'.", read_only=True,
              choices=("rgb8", "bgr8")),
    ParamSpec("frame_id", "camera_optical_frame", "header.frame_id of image and camera_info: the camera "
              "optical frame (x right, y down, z forward).", read_only=True),
    ParamSpec("fov_deg", 60.0, "Horizontal field of view in degrees of the pinhole CameraInfo used "
              "without a calibration file.", read_only=True, float_range=(1.0, 179.0), dynamic_typing=True),
    ParamSpec("camera_info_file", "", "ROS camera_calibration YAML; when set it replaces the fov_deg "
              "pinhole model.", read_only=True),
    ParamSpec("compressed", False, "Also publish JPEG frames on 'image/compressed'.", read_only=True),
    ParamSpec("jpeg_quality", 90, "JPEG quality of 'image/compressed'.", read_only=True, int_range=(1, 100)),
    ParamSpec("preload", True, "Decode (and pack) every frame of a file/folder before publishing, if it "
              "fits in preload_max_mb.", read_only=True),
    ParamSpec("preload_max_mb", 1024, "Memory limit for preload in MiB; larger sources are streamed.",
              read_only=True, int_range=(1, 1 << 20)),
    ParamSpec("reliable", False, "RELIABLE QoS instead of sensor-data BEST_EFFORT.", read_only=True),
    ParamSpec("qos_depth", 1, "QoS history depth (keep last N).", read_only=True, int_range=(1, 1000)),
    ParamSpec("wait_for_subscribers", 0, "Hold the first frame until 'image' and 'image/compressed' "
              "together have this many subscribers; 0 = start at once.", read_only=True,
              int_range=(0, 1000)),
    ParamSpec("keep_frame_memory", True, "Tune glibc malloc so frame-sized buffers are reused instead of "
              "page-faulted in again for every published frame (as pose_node's parameter of the same "
              "name).", read_only=True),
)


@dataclass
class _Frame:
    image: Image
    compressed: CompressedImage | None


class VideoPublisher(Node):
    """Publishes frames of a :class:`FrameSource` with CameraInfo at a steady rate."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("video_publisher", **kwargs)
        values = declare_parameters(self, PARAMS)  # raises ParameterError on a bad start value
        p = self.get_parameter
        self.encoding = str(values["encoding"])
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
            self.camera_info = pinhole_camera_info(info.width, info.height, float(values["fov_deg"]))
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
        self._schedule(float(values["rate"]))
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

    # --- frames ----------------------------------------------------------------
    def _pack(self, bgr: np.ndarray) -> _Frame:
        w, h = self.source.info.width, self.source.info.height
        if bgr.shape[:2] != (h, w):  # image folders with mixed sizes: keep one size (CameraInfo)
            bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        img = Image(height=h, width=w, encoding=self.encoding, is_bigendian=0, step=3 * w)
        data = bgr if self.encoding == "bgr8" else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        img.data = byte_array(data)  # array.array('B'): stored as is, no per-byte check
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
        checked = check_parameters(params, PARAMS)
        if not checked.successful:
            return checked
        for prm in params:
            if prm.name == "rate":
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
    """Console entry point; returns the process exit status (0 on a normal end or a signal,
    2 on a bad parameter or source)."""
    # drain_s: let the middleware hand out the last samples before the participant goes away
    return spin_until_stopped("video_publisher", VideoPublisher, args, done=lambda node: node.done,
                              drain_s=0.3, config_errors=(SourceError,))


if __name__ == "__main__":
    raise SystemExit(main())
