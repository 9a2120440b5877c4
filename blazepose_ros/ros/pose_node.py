"""BlazePose pose node: camera images in, 33-keypoint body poses out.

Subscribes:
    image             sensor_msgs/Image (or ``image/compressed`` CompressedImage when
                      ``compressed`` is true); sensor-data QoS unless ``reliable``
    camera_info       sensor_msgs/CameraInfo (optional): camera-frame 3D keypoints
Publishes:
    ~/keypoints       blazepose_ros/PoseKeypoints33 of the primary person
    ~/poses           blazepose_ros/PoseKeypoints33Array, every processed frame (also empty)
    ~/markers         visualization_msgs/MarkerArray (DELETEALL when the person is lost)
    ~/debug_image     sensor_msgs/Image with the skeleton drawn (only while subscribed)
    ~/segmentation_mask  sensor_msgs/Image mono8 person probability (enable_segmentation, while subscribed)
    /diagnostics      diagnostic_msgs/DiagnosticArray at 1 Hz

The subscription callback only keeps the newest message (latest frame wins, the
replaced one counts as dropped); a worker thread converts, tracks and publishes,
so a slow frame never queues stale ones. Filters run on the image header stamp.

Run: ``python -m blazepose_ros.ros.pose_node --ros-args --params-file config/pose.yaml``
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import (
    QoSMessageLostInfo,
    QoSRequestedIncompatibleQoSInfo,
    SubscriptionEventCallbacks,
)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSPolicyKind,
    QoSProfile,
    ReliabilityPolicy,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from blazepose_ros.core import PoseTracker
from blazepose_ros.core.camera import camera_frame_points
from blazepose_ros.core.draw import draw_poses
from blazepose_ros.core.inference import DELEGATES, DelegateError, InferenceError
from blazepose_ros.core.models import COMPLEXITY_TO_MODEL, ModelError
from blazepose_ros.msg import PoseKeypoints33, PoseKeypoints33Array
from blazepose_ros.ros.conversions import poses_to_array_msg
from blazepose_ros.ros.image_conversion import (
    ImageConversionError,
    compressed_msg_to_rgb,
    cv_bridge_available,
    image_msg_to_rgb,
    mono8_to_image_msg,
    rgb_to_image_msg,
)
from blazepose_ros.ros.malloc_tuning import keep_frame_memory
from blazepose_ros.ros.markers import delete_all_markers, pose_markers
from blazepose_ros.ros.params import ParamSpec, check_parameters, declare_parameters
from blazepose_ros.ros.signals import spin_until_stopped

# Parameters whose change needs a new PoseTracker (validated by building it).
TRACKER_PARAMS = ("min_detection_confidence", "min_tracking_confidence", "smooth_landmarks",
                  "enable_segmentation", "static_image_mode")
# Camera models whose coefficients OpenCV's solvePnP understands.
PNP_DISTORTION_MODELS = ("", "plumb_bob", "rational_polynomial")
CAMERA_INFO_GRACE_S = 2.0  # how long after the first image a missing camera_info is reported


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("model_complexity", 1, "Landmark model as in MediaPipe: 0 = lite, 1 = full, 2 = heavy "
              "(only 'full' is fetched automatically; lite/heavy must be placed in models/).",
              read_only=True, int_range=(0, 2)),
    ParamSpec("model", "", "Landmark model file path or name (lite/full/heavy); overrides "
              "model_complexity when not empty (e.g. an *_edgetpu.tflite).", read_only=True),
    ParamSpec("detector_model", "", "Person detector model file path; empty = the shipped "
              "pose_detection.tflite (an *_edgetpu.tflite for delegate edgetpu).", read_only=True),
    ParamSpec("delegate", "cpu", "Inference delegate: cpu, gpu (TFLite GPU delegate), edgetpu "
              "(libedgetpu.so.1 + *_edgetpu.tflite models) or auto (best available, falls back to cpu).",
              read_only=True, choices=DELEGATES),
    ParamSpec("delegate_library", "", "Path of the external delegate shared library; empty = the "
              "delegate's usual library name.", read_only=True),
    ParamSpec("num_threads", 1, "CPU inference threads.", read_only=True, int_range=(1, 64)),
    ParamSpec("min_detection_confidence", 0.5, "Minimum person-detector score to start tracking "
              "(MediaPipe option).", float_range=(0.0, 1.0)),
    ParamSpec("min_tracking_confidence", 0.5, "Minimum pose presence score to keep tracking; below it "
              "the detector runs again on the next frame (MediaPipe option).", float_range=(0.0, 1.0)),
    ParamSpec("smooth_landmarks", True, "Smooth keypoints over time with the one-euro filters, driven "
              "by the image stamps (MediaPipe option; off in static_image_mode)."),
    ParamSpec("enable_segmentation", False, "Also predict the person segmentation mask (MediaPipe option). "
              "Off, the landmark model runs without its segmentation decoder (same keypoints, ~35 % "
              "less inference time)."),
    ParamSpec("static_image_mode", False, "Treat every image as unrelated: run the detector on every "
              "frame, no tracking, no smoothing (MediaPipe option)."),
    ParamSpec("compressed", False, "Subscribe to 'image/compressed' (sensor_msgs/CompressedImage) "
              "instead of 'image'.", read_only=True),
    ParamSpec("reliable", False, "Subscribe with RELIABLE QoS instead of sensor-data BEST_EFFORT "
              "(both keep only the last frame). Needed only for publishers that insist on it.",
              read_only=True),
    ParamSpec("use_cv_bridge", True, "Convert raw images with the ROS 2 cv_bridge when it is importable "
              "(a full ROS 2 install); otherwise, or when false, with the package's own converter "
              "(zero-copy for rgb8, fuzz-tested).", read_only=True),
    ParamSpec("use_camera_info", True, "Subscribe to 'camera_info' and publish camera-frame 3D "
              "keypoints and markers when it arrives.", read_only=True),
    ParamSpec("rectified", False, "The images are rectified (image_rect topics): camera points use "
              "CameraInfo P and no distortion instead of K and D."),
    ParamSpec("publish_markers", True, "Publish the RViz MarkerArray on ~/markers."),
    ParamSpec("marker_lifetime", 0.5, "Marker lifetime in seconds (0 = forever).",
              float_range=(0.0, 60.0)),
    ParamSpec("camera_timeout", 1.0, "Seconds without an image after which tracking is cleared and "
              "the markers are deleted (0 = never).", float_range=(0.0, 3600.0)),
    ParamSpec("no_image_warning", 5.0, "Warn once when no image has arrived this many seconds after "
              "start (0 = never).", read_only=True, float_range=(0.0, 3600.0)),
    ParamSpec("keep_frame_memory", True, "Tune glibc malloc (mallopt M_MMAP_THRESHOLD 32 MiB, "
              "M_TRIM_THRESHOLD 128 MiB) so frame-sized buffers are reused instead of page-faulted in "
              "again on every frame: ~2-5 ms less latency per 1280x720 raw frame; resident size "
              "follows the peak use.",
              read_only=True),
)
PARAM_SPECS = {p.name: p for p in PARAMS}


def stamp_to_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


@dataclass
class Stats:
    """Counters (totals) and per-diagnostics-window samples. Guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    received: int = 0
    processed: int = 0
    dropped: int = 0  # replaced by a newer frame before the worker took it
    lost: int = 0  # lost in transport, as the middleware reports it (message_lost event)
    conversion_errors: int = 0
    processing_errors: int = 0
    timestamp_resets: int = 0
    camera_timeouts: int = 0
    people: int = 0
    last_image_monotonic: float | None = None
    proc_s: list[float] = field(default_factory=list)
    pipeline_s: list[float] = field(default_factory=list)  # PoseTracker.process alone
    latency_s: list[float] = field(default_factory=list)


class PoseNode(Node):
    """Thin ROS wrapper around ``blazepose_ros.core.PoseTracker``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("pose_node", **kwargs)
        declare_parameters(self, PARAMS)  # raises ParameterError on a bad start value
        self._tracker: Any = None
        self._detector_runs_before = 0  # detector runs of trackers replaced by parameter changes
        self._tracker_lock = threading.Lock()
        self._stats = Stats()
        self._cond = threading.Condition()
        self._pending: Image | CompressedImage | None = None
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._camera_info: CameraInfo | None = None
        self._camera_info_warned: set[str] = set()
        self._camera_info_problem: str | None = None  # why the last camera_info is not used
        self._last_stamp_ns: int | None = None
        self._first_image_monotonic: float | None = None
        self._person_visible = False
        self._timed_out = False
        self._warned_no_camera_info = False
        self._diag_prev = (time.monotonic(), 0, 0, 0, 0)  # time, received, processed, lost, errors
        self._last_header: Any = None

    # -- start-up -------------------------------------------------------------------------

    def start(self) -> None:
        """Build the tracker (raises the core's model/delegate errors), then wire the graph."""
        self._use_cv_bridge = bool(self._p("use_cv_bridge")) and cv_bridge_available()
        self._tracker = self._build_tracker({})
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if self._p("keep_frame_memory"):
            why_not = keep_frame_memory()
            if why_not:
                self.get_logger().info(f"keep_frame_memory: left malloc as it is ({why_not})")

        # Sensor-data QoS (best effort, volatile) but keep only the newest frame; best effort
        # matches both kinds of publisher, reliable only reliable ones.
        image_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1,
            reliability=ReliabilityPolicy.RELIABLE if self._p("reliable") else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.VOLATILE)
        events = SubscriptionEventCallbacks(incompatible_qos=partial(self._on_incompatible_qos, "image"),
                                            message_lost=self._on_message_lost)
        if self._p("compressed"):
            self._image_sub = self.create_subscription(
                CompressedImage, "image/compressed", self._on_image, image_qos, event_callbacks=events)
        else:
            self._image_sub = self.create_subscription(
                Image, "image", self._on_image, image_qos, event_callbacks=events)
        self._info_sub = None
        if self._p("use_camera_info"):
            self._info_sub = self.create_subscription(
                CameraInfo, "camera_info", self._on_camera_info, image_qos,
                event_callbacks=SubscriptionEventCallbacks(
                    incompatible_qos=partial(self._on_incompatible_qos, "camera_info")))

        out_qos = QoSProfile(depth=10)  # reliable, volatile: matches every subscriber
        self._kp_pub = self.create_publisher(PoseKeypoints33, "~/keypoints", out_qos)
        self._poses_pub = self.create_publisher(PoseKeypoints33Array, "~/poses", out_qos)
        self._marker_pub = self.create_publisher(MarkerArray, "~/markers", out_qos)
        self._debug_pub = self.create_publisher(Image, "~/debug_image", QoSProfile(depth=2))
        self._mask_pub = self.create_publisher(Image, "~/segmentation_mask", QoSProfile(depth=2))
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", out_qos)

        # Watchdogs run on the steady clock so they work with use_sim_time and no /clock.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(1.0, self._publish_diagnostics, clock=steady)
        self._no_image_timer = None
        wait = self._p("no_image_warning")
        if wait > 0:
            self._no_image_timer = self.create_timer(wait, self._warn_no_image, clock=steady)

        self._worker = threading.Thread(target=self._run_worker, name="pose_worker", daemon=True)
        self._worker.start()
        fallbacks = self._delegate_fallbacks()
        if fallbacks:
            self.get_logger().warning(
                f"delegate {self._p('delegate')}: running on {self._active_delegate()} because "
                + "; ".join(fallbacks))
        self.get_logger().info(
            f"tracking poses on '{self._image_sub.topic_name}' "
            f"({'reliable' if self._p('reliable') else 'best effort'}), "
            f"delegate {self._active_delegate()}, model {self._model_name()}, images converted by "
            f"{'cv_bridge' if self._use_cv_bridge else 'the own converter'}")

    def stop(self) -> None:
        """Stop the worker thread (it finishes the frame in progress)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5.0)

    def _p(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _model_name(self) -> str:
        return self._p("model") or COMPLEXITY_TO_MODEL[self._p("model_complexity")]

    def _build_tracker(self, overrides: dict[str, Any]) -> Any:
        def value(name: str) -> Any:
            return overrides[name] if name in overrides else self._p(name)

        return PoseTracker(
            model=self._model_name(),
            delegate=self._p("delegate"),
            num_threads=self._p("num_threads"),
            static_image_mode=value("static_image_mode"),
            smooth=value("smooth_landmarks"),
            min_detection_confidence=value("min_detection_confidence"),
            min_tracking_confidence=value("min_tracking_confidence"),
            enable_segmentation=value("enable_segmentation"),
            delegate_library=self._p("delegate_library") or None,
            detector_model=self._p("detector_model") or None,
        )

    def _active_delegate(self) -> str:
        return str(self._tracker.active_delegate)

    def _delegate_fallbacks(self) -> list[str]:
        """Why delegate 'auto' skipped the accelerators it tried (empty when none was skipped)."""
        model = getattr(getattr(self._tracker, "landmarker", None), "model", None)
        return list(getattr(model, "delegate_errors", []))

    # -- parameters -----------------------------------------------------------------------

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        checked = check_parameters(params, PARAMS)  # rclpy enforces types, ranges and read_only
        if not checked.successful:
            return checked
        changes = {p.name: p.value for p in params}
        if not any(name in TRACKER_PARAMS for name in changes):
            return SetParametersResult(successful=True)
        try:
            tracker = self._build_tracker({k: v for k, v in changes.items() if k in TRACKER_PARAMS})
        except Exception as e:  # keep the running tracker; tell the caller why
            return SetParametersResult(successful=False, reason=f"could not rebuild the tracker: {e}")
        with self._tracker_lock:
            self._detector_runs_before += self._tracker.detector_runs
            self._tracker = tracker
            self._last_stamp_ns = None
        self.get_logger().info(f"tracker rebuilt for {', '.join(sorted(changes))}")
        return SetParametersResult(successful=True)

    # -- subscriptions (executor thread; keep them short) ---------------------------------

    def _on_image(self, msg: Image | CompressedImage) -> None:
        now = time.monotonic()
        with self._cond:
            with self._stats.lock:
                self._stats.received += 1
                self._stats.dropped += self._pending is not None  # the frame it replaces
                self._stats.last_image_monotonic = now
            self._pending = msg
            self._cond.notify()
        if self._first_image_monotonic is None:
            self._first_image_monotonic = now

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_incompatible_qos(self, which: str, info: QoSRequestedIncompatibleQoSInfo) -> None:
        sub = self._info_sub if which == "camera_info" else self._image_sub
        topic = sub.topic_name if sub is not None else which
        kind = QoSPolicyKind(info.last_policy_kind)
        if kind == QoSPolicyKind.RELIABILITY and self._p("reliable"):
            advice = ("the publisher is BEST_EFFORT but this node asks for RELIABLE: "
                      "set parameter reliable:=false (the default)")
        else:
            advice = f"make the publisher's {kind.name} policy compatible with a best-effort keep-last reader"
        self.get_logger().warning(
            f"a publisher on '{topic}' has an incompatible QoS "
            f"({kind.name}, {info.total_count} so far) and will deliver nothing: {advice}",
            throttle_duration_sec=5.0)

    def _on_message_lost(self, info: QoSMessageLostInfo) -> None:
        with self._stats.lock:
            self._stats.lost = info.total_count

    def _warn_no_image(self) -> None:
        if self._no_image_timer is not None:
            self._no_image_timer.cancel()
        with self._stats.lock:
            received = self._stats.received
        if received == 0:
            topic = self._image_sub.topic_name
            self.get_logger().warning(
                f"no image received on '{topic}' after {self._p('no_image_warning'):g} s "
                f"({self.count_publishers(topic)} publisher(s) on it). Check the remapping "
                "(image:=/your/camera/image_raw), that the camera runs, ROS_DOMAIN_ID, and the QoS: "
                + ("a best-effort camera needs reliable:=false. " if self._p("reliable") else
                   "Fast DDS loses best-effort images over 512 KiB unless the camera node runs with "
                   "FASTDDS_DEFAULT_PROFILES_FILE=<blazepose_ros share>/config/fastdds_large_frames.xml "
                   "(or use reliable:=true with a reliable camera)."))

    # -- worker thread --------------------------------------------------------------------

    def _run_worker(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop.is_set(), timeout=0.1)
                msg, self._pending = self._pending, None
            if self._stop.is_set():
                break
            try:
                if msg is None:
                    self._check_camera_timeout()
                else:
                    self._process(msg)
            except Exception as e:  # never let one frame kill the worker
                if not self.context.ok():
                    break
                with self._stats.lock:
                    self._stats.processing_errors += 1
                self.get_logger().warning(f"frame failed: {type(e).__name__}: {e}", throttle_duration_sec=5.0)

    def _check_camera_timeout(self) -> None:
        timeout = self._p("camera_timeout")
        with self._stats.lock:
            last = self._stats.last_image_monotonic
        if timeout <= 0 or last is None or self._timed_out or time.monotonic() - last < timeout:
            return
        self._timed_out = True
        with self._tracker_lock:
            self._tracker.reset()
        self._last_stamp_ns = None
        with self._stats.lock:
            self._stats.camera_timeouts += 1
            self._stats.people = 0
        if self._person_visible:
            self._publish_delete_markers(self._last_header)
        self._person_visible = False
        self.get_logger().warning(f"no image for {timeout:g} s on '{self._image_sub.topic_name}': "
                                  "tracking cleared", throttle_duration_sec=5.0)

    def _process(self, msg: Image | CompressedImage) -> None:
        t0 = time.perf_counter()
        self._timed_out = False
        try:
            rgb = (compressed_msg_to_rgb(msg) if isinstance(msg, CompressedImage)
                   else image_msg_to_rgb(msg, prefer_cv_bridge=self._use_cv_bridge))
        except ImageConversionError as e:
            with self._stats.lock:
                self._stats.conversion_errors += 1
            self.get_logger().warning(f"dropping an image that cannot be converted: {e}",
                                      throttle_duration_sec=5.0)
            return
        header = msg.header
        stamp_ns = stamp_to_ns(header.stamp)
        if stamp_ns == 0:
            self.get_logger().warning("images have no header stamp: using the node clock instead "
                                      "(fix the camera driver for correct smoothing and latency)", once=True)
            now = self.get_clock().now()
            stamp_ns, header.stamp = now.nanoseconds, now.to_msg()
        with self._tracker_lock:
            tracker = self._tracker
            if self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns:
                # PoseTracker.process resets itself on such a stamp; count and say it here
                with self._stats.lock:
                    self._stats.timestamp_resets += 1
                self.get_logger().info(
                    f"image stamp jumped back by {(self._last_stamp_ns - stamp_ns) * 1e-9:.3f} s "
                    "(looping bag or restarted clock?): tracker reset", once=True)
            self._last_stamp_ns = stamp_ns
        poses = tracker.process(rgb, stamp_ns * 1e-9)
        self._publish(poses, header, rgb)

        now_ns = self.get_clock().now().nanoseconds
        with self._stats.lock:
            self._stats.processed += 1
            self._stats.people = len(poses)
            self._stats.proc_s.append(time.perf_counter() - t0)
            self._stats.pipeline_s.append(tracker.last_timings.get("total", float("nan")))
            if now_ns > 0:
                self._stats.latency_s.append((now_ns - stamp_ns) * 1e-9)

    def _camera_matrices(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray] | None:
        info = self._camera_info
        if info is None:
            if (not self._warned_no_camera_info and self._first_image_monotonic is not None
                    and time.monotonic() - self._first_image_monotonic > CAMERA_INFO_GRACE_S):
                self._warned_no_camera_info = True
                topic = self._info_sub.topic_name if self._info_sub else "camera_info (disabled)"
                self.get_logger().info(
                    f"no CameraInfo on '{topic}': publishing markers of the world skeleton (metres, "
                    "origin between the hips) in the image frame, no camera_points")
            return None
        k = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
        p = np.asarray(info.p, dtype=np.float64).reshape(3, 4)
        problem = None
        if k[0, 0] <= 0 or k[1, 1] <= 0 or (self._p("rectified") and (p[0, 0] <= 0 or p[1, 1] <= 0)):
            problem = "its K (or, with rectified, P) matrix is empty"
        elif (info.width, info.height) != (width, height) and info.width and info.height:
            problem = (f"it is for {info.width}x{info.height} images but the images are "
                       f"{width}x{height} (use the camera_info of this image stream)")
        self._camera_info_problem = problem
        if problem:
            if problem not in self._camera_info_warned:
                self._camera_info_warned.add(problem)
                self.get_logger().warning(f"ignoring camera_info: {problem}")
            return None
        d = np.asarray(info.d, dtype=np.float64)
        if info.distortion_model not in PNP_DISTORTION_MODELS:
            key = f"model {info.distortion_model}"
            if key not in self._camera_info_warned:
                self._camera_info_warned.add(key)
                self.get_logger().warning(f"camera_info distortion model '{info.distortion_model}' is not "
                                          "supported by solvePnP: using it as undistorted")
            d = np.zeros(0)
        if self._p("rectified"):  # image_rect*: the projection matrix P, no distortion
            k, d = np.asarray(info.p, dtype=np.float64).reshape(3, 4)[:, :3], np.zeros(0)
        return k, d

    def _publish(self, poses: list[Any], header: Any, rgb: np.ndarray) -> None:
        height, width = rgb.shape[:2]
        cam = self._camera_matrices(width, height)
        camera_points = [self._camera_points(p, cam) for p in poses] if cam else [None] * len(poses)
        array = poses_to_array_msg(poses, header, (width, height), camera_points)
        self._poses_pub.publish(array)
        if array.poses and self._kp_pub.get_subscription_count() > 0:
            self._kp_pub.publish(array.poses[0])
        self._last_header = header
        if self._p("publish_markers"):
            if poses:
                self._marker_pub.publish(pose_markers(
                    poses, header, self._p("marker_lifetime"), cam is None, camera_points))
            elif self._person_visible:
                self._publish_delete_markers(header)
        self._person_visible = bool(poses)
        if self._debug_pub.get_subscription_count() > 0:
            self._publish_debug(poses, header, rgb)
        if self._p("enable_segmentation") and self._mask_pub.get_subscription_count() > 0:
            self._publish_mask(poses, header, (height, width))

    def _camera_points(self, pose: Any, cam: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
        try:
            return camera_frame_points(pose.world, pose.keypoints, cam[0], cam[1])
        except ValueError as e:  # malformed CameraInfo (K, D): say it once, publish without
            self.get_logger().warning(f"cannot use camera_info: {e}", once=True)
            return None

    def _publish_delete_markers(self, header: Any) -> None:
        if self._p("publish_markers"):
            self._marker_pub.publish(delete_all_markers(header))

    def _publish_debug(self, poses: list[Any], header: Any, rgb: np.ndarray) -> None:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        draw_poses(bgr, poses)
        self._debug_pub.publish(rgb_to_image_msg(bgr[..., ::-1], header, "bgr8"))

    def _publish_mask(self, poses: list[Any], header: Any, size: tuple[int, int]) -> None:
        """Person probability of every pixel (0..255; 0 where nobody is tracked)."""
        mask = np.zeros(size, np.float32)
        for p in poses:
            if p.mask is not None:
                np.maximum(mask, p.mask, out=mask)
        self._mask_pub.publish(mono8_to_image_msg((mask * 255.0 + 0.5).astype(np.uint8), header))

    # -- diagnostics (executor thread, 1 Hz) ----------------------------------------------

    def _publish_diagnostics(self) -> None:
        s = self._stats
        now = time.monotonic()
        with s.lock:
            proc, pipe, lat = s.proc_s, s.pipeline_s, s.latency_s
            s.proc_s, s.pipeline_s, s.latency_s = [], [], []
            totals = dict(received=s.received, processed=s.processed, dropped=s.dropped, lost=s.lost,
                          conv=s.conversion_errors, proc_err=s.processing_errors, people=s.people,
                          resets=s.timestamp_resets, timeouts=s.camera_timeouts,
                          last=s.last_image_monotonic)
        errors_now = totals["conv"] + totals["proc_err"]
        t_prev, received_prev, processed_prev, lost_prev, errors_prev = self._diag_prev
        self._diag_prev = (now, totals["received"], totals["processed"], totals["lost"], errors_now)
        dt = max(now - t_prev, 1e-6)
        received_in_window = totals["received"] - received_prev
        in_rate = received_in_window / dt
        out_rate = (totals["processed"] - processed_prev) / dt
        tracker = self._tracker
        errors_in_window = errors_now - errors_prev
        lost_in_window = totals["lost"] - lost_prev
        if lost_in_window > max(5, received_in_window) and not self._p("reliable"):
            self.get_logger().warning(
                f"{lost_in_window} of {lost_in_window + received_in_window} images in the "
                f"last {dt:.1f} s were lost in transport before reaching this node (large images over "
                "best-effort QoS): run the camera node with FASTDDS_DEFAULT_PROFILES_FILE=<blazepose_ros "
                "share>/config/fastdds_large_frames.xml, or set reliable:=true if the camera publishes "
                "RELIABLE", once=True)

        level, message = DiagnosticStatus.OK, f"tracking {totals['people']} person(s)"
        if totals["last"] is None:
            level, message = DiagnosticStatus.WARN, f"no image received on '{self._image_sub.topic_name}'"
        elif now - totals["last"] > max(self._p("camera_timeout"), 1.0):
            level, message = DiagnosticStatus.WARN, f"no image for {now - totals['last']:.1f} s"
        if errors_in_window:
            level = DiagnosticStatus.WARN
            message = f"{errors_in_window} bad frame(s) in the last {dt:.1f} s"
            if out_rate == 0:
                level = DiagnosticStatus.ERROR
                message = f"every frame failed in the last {dt:.1f} s (see the log)"

        def ms(values: list[float], f: Callable[[np.ndarray], float]) -> str:
            return f"{f(np.asarray(values)) * 1e3:.1f}" if values else "nan"

        values = {
            "input_rate_hz": f"{in_rate:.1f}",
            "output_rate_hz": f"{out_rate:.1f}",
            "processing_time_ms": ms(proc, np.mean),
            "processing_time_max_ms": ms(proc, np.max),
            "pipeline_time_ms": ms(pipe, np.mean),
            "latency_ms": ms(lat, np.mean),
            "latency_max_ms": ms(lat, np.max),
            "active_delegate": self._active_delegate(),
            "model": str(self._model_name()),
            "detector_runs": str(self._detector_runs_before + tracker.detector_runs),
            "frames_received": str(totals["received"]),
            "frames_processed": str(totals["processed"]),
            "dropped_frames": str(totals["dropped"]),
            "lost_in_transport": str(totals["lost"]),
            "conversion_errors": str(totals["conv"]),
            "processing_errors": str(totals["proc_err"]),
            "timestamp_resets": str(totals["resets"]),
            "camera_timeouts": str(totals["timeouts"]),
            "people": str(totals["people"]),
            "camera_info": ("no" if self._camera_info is None else
                            f"ignored: {self._camera_info_problem}" if self._camera_info_problem else "yes"),
            "requested_delegate": str(self._p("delegate")),
        }
        name = f"{self.get_fully_qualified_name().lstrip('/')}: pose tracking"
        status = DiagnosticStatus(level=level, name=name,
                                  message=message, hardware_id=self._active_delegate(),
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        diag = DiagnosticArray(status=[status])
        diag.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(diag)


# Errors that mean 'cannot start' (model, delegate, files): one log line, exit code 1.
STARTUP_ERRORS = (ModelError, InferenceError, DelegateError, ValueError, OSError)


def main(argv: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; exit 2 on a bad parameter, 1 when it cannot start."""
    return spin_until_stopped("pose_node", PoseNode, argv, start=PoseNode.start, finish=PoseNode.stop,
                              startup_errors=STARTUP_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
