"""BlazePose pose node: camera images in, 33-keypoint body poses out.

Subscribes:
    image             sensor_msgs/Image (or ``image/compressed`` CompressedImage when
                      ``compressed`` is true); sensor-data QoS unless ``reliable``
    camera_info       sensor_msgs/CameraInfo (optional): camera-frame 3D keypoints
                      (:mod:`blazepose_ros.ros.camera_input`)
    depth             sensor_msgs/Image 16UC1/32FC1 aligned to the colour image (``use_depth``):
                      measured camera-frame keypoints (:mod:`blazepose_ros.ros.depth_input`)
Publishes (details and the several-people rules in :mod:`blazepose_ros.ros.outputs`):
    ~/keypoints       blazepose_ros/PoseKeypoints33 of the selected person (largest ROI)
    ~/poses           blazepose_ros/PoseKeypoints33Array, every processed frame (also empty)
    ~/markers         visualization_msgs/MarkerArray, a namespace per person id
    ~/debug_image     sensor_msgs/Image with the skeletons drawn (only while subscribed)
    ~/segmentation_mask  sensor_msgs/Image mono8 person probability (enable_segmentation, while subscribed)
    ~/people          geometry_msgs/PoseArray, hip centre + body orientation of each person with
                      camera points; ~/person PoseStamped of the selected one; TF body_<id>
                      (``publish_tf``, when tf2_ros is importable) (:mod:`blazepose_ros.ros.people`)
    /diagnostics      diagnostic_msgs/DiagnosticArray at 1 Hz (:mod:`blazepose_ros.ros.diagnostics`)

The subscription callback only keeps the newest message (latest frame wins, the
replaced one counts as dropped); a worker thread converts, tracks and publishes,
so a slow frame never queues stale ones. Filters run on the image header stamp.

The node is wiring: parameters (:mod:`.params`), the CameraInfo and camera points
(:class:`.camera_input.CameraInput`), depth (:class:`.depth_input.DepthInput`), outputs
(:class:`.outputs.PoseOutputs`), people (:class:`.people.PeoplePublisher`), diagnostics
(:func:`.diagnostics.diagnostic_status`); the tracker resets itself on a stamp that
goes backwards and says so (``PoseTracker.last_reset``). Its steps are separate so that a managed
(lifecycle) variant can map them to transitions: :meth:`PoseNode.load_models` (configure),
:meth:`PoseNode.open_topics` (activate), :meth:`PoseNode.close_topics` (deactivate); every
attribute is created in ``__init__``.

Run: ``python -m blazepose_ros.ros.pose_node --ros-args --params-file config/pose.yaml``
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial

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
from rclpy.publisher import Publisher
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSPolicyKind,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from blazepose_ros.core import PoseTracker
from blazepose_ros.core.depth import DepthOptions
from blazepose_ros.core.inference import DELEGATES, DelegateError, InferenceError
from blazepose_ros.core.models import COMPLEXITY_TO_MODEL, ModelError
from blazepose_ros.ros.camera_input import CameraInput
from blazepose_ros.ros.conversions import stamp_to_ns
from blazepose_ros.ros.depth_input import DepthCounts, DepthInput, depth_diagnostics
from blazepose_ros.ros.diagnostics import FrameStats, TrackerInfo, diagnostic_status, transport_loss_warning
from blazepose_ros.ros.image_conversion import (
    ImageConversionError,
    compressed_msg_to_rgb,
    cv_bridge_available,
    image_msg_to_rgb,
)
from blazepose_ros.ros.malloc_tuning import keep_frame_memory
from blazepose_ros.ros.outputs import FrameResult, OutputOptions, PoseOutputs, primary_index
from blazepose_ros.ros.params import ParamSpec, ParamValue, check_parameters, declare_parameters
from blazepose_ros.ros.people import PeoplePublisher
from blazepose_ros.ros.signals import spin_until_stopped

# Parameters whose change needs a new PoseTracker (validated by building it).
TRACKER_PARAMS = ("min_detection_confidence", "min_tracking_confidence", "smooth_landmarks",
                  "enable_segmentation", "static_image_mode", "num_poses", "detection_interval",
                  "max_occlusion", "small_person_tiles", "small_person_height")


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("model_complexity", 1, "Landmark model as in MediaPipe: 0 = lite, 1 = full, 2 = heavy "
              "(all three are fetched by scripts/setup.sh).",
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
    ParamSpec("num_poses", 1, "Most people tracked at once (MediaPipe Tasks' name). 1 = the reference "
              "single-person loop; > 1 = each person tracked on their own ROI with an id that stays "
              "theirs (docs/multi_person.md).", int_range=(1, 16)),
    ParamSpec("detection_interval", 0.2, "num_poses > 1: seconds between whole-frame detector runs while "
              "fewer than num_poses people are tracked (how fast newcomers are found).",
              float_range=(0.0, 10.0)),
    ParamSpec("max_occlusion", 1.0, "num_poses > 1: seconds a lost person's id waits to be "
              "re-identified (occlusions, crossings) before it ends.", float_range=(0.0, 10.0)),
    ParamSpec("small_person_tiles", "off", "Search for small, far people on tiles of the frame, one tile "
              "per detector run: 'off', 'auto' (square tiles along the long side) or a grid 'NxM' "
              "(columns x rows, e.g. '3x2'). Not 'off' selects the multi-person loop."),
    ParamSpec("small_person_height", 0.0, "Height in pixels of the smallest person to find: the tile grid is "
              "chosen so that such a person is big enough for the detector (overrides "
              "small_person_tiles; 0 = off).", float_range=(0.0, 10000.0)),
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
    ParamSpec("use_depth", False, "Subscribe to 'depth' (sensor_msgs/Image 16UC1 mm or 32FC1 m, aligned to "
              "the colour image: same size, intrinsics and frame) and measure the camera-frame keypoints "
              "with it (PnP where depth is missing); needs camera_info.", read_only=True),
    ParamSpec("depth_tolerance", 0.02, "Largest stamp difference in seconds between a colour image and "
              "the depth image used for it.", float_range=(0.0, 1.0)),
    ParamSpec("depth_window", 3, "Half side in pixels of the window of depth samples read around each "
              "keypoint ((2r+1)^2 samples).", read_only=True, int_range=(0, 20)),
    ParamSpec("depth_min", 0.1, "Depths below this many metres are no measurement.", read_only=True,
              float_range=(0.0, 100.0)),
    ParamSpec("depth_max", 10.0, "Depths above this many metres are no measurement.", read_only=True,
              float_range=(0.01, 100.0)),
    ParamSpec("publish_tf", True, "Broadcast a TF frame per person (tf_prefix + id, child of the image "
              "frame) when tf2_ros is importable.", read_only=True),
    ParamSpec("tf_prefix", "body_", "Name of the person TF frames before the id (e.g. 'front_cam/body_' "
              "for several cameras).", read_only=True),
    ParamSpec("frame_id", "", "Frame of images whose header.frame_id is empty (the camera optical frame); "
              "empty = leave it empty (RViz and TF cannot use frame '').", read_only=True),
)
PARAM_SPECS = {p.name: p for p in PARAMS}


SHM_SEGMENT_MIB = 64  # config/fastdds_large_frames.xml: room for two frames of up to ~31 MiB


def parse_tiles(text: str) -> tuple[int, int] | None:
    """``small_person_tiles``: 'off' -> None, 'auto' -> (0, 0), 'NxM' -> (N, M); ValueError otherwise."""
    t = text.strip().lower()
    if t in ("", "off", "none"):
        return None
    if t == "auto":
        return (0, 0)
    parts = t.split("x")
    if len(parts) == 2 and all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        return (int(parts[0]), int(parts[1]))
    raise ValueError(f"small_person_tiles must be 'off', 'auto' or 'NxM' (e.g. '3x2'), got {text!r}")


@dataclass(frozen=True)
class FrameSize:
    """Size of one received image message (width/height 0 for compressed images)."""

    width: int
    height: int
    encoding: str
    nbytes: int

    @staticmethod
    def of(msg: Image | CompressedImage) -> FrameSize:
        if isinstance(msg, CompressedImage):
            return FrameSize(0, 0, msg.format, len(msg.data))
        return FrameSize(msg.width, msg.height, msg.encoding, len(msg.data))


def first_loss_warning(lost: int, topic: str, frame: FrameSize | None, reliable: bool) -> str:
    """What to log at the first image lost in transport: the frame size and how to fix it."""
    if frame is None:
        size = "no image has arrived yet, so their size is unknown"
    else:
        mib = frame.nbytes / (1 << 20)
        shape = f"{frame.width}x{frame.height} " if frame.width else ""
        size = f"the images are {shape}{frame.encoding}, {mib:.1f} MiB"
        if mib > SHM_SEGMENT_MIB / 2 - 1:
            size += (f" (more than that profile's {SHM_SEGMENT_MIB} MiB segment holds twice: raise its "
                     "segment_size)")
    return (f"{lost} image(s) on '{topic}' lost in transport before reaching this node; {size}. "
            "Between processes Fast DDS drops best-effort images that do not fit its shared-memory "
            "segment (512 KiB by default): start the camera node (the sender) with "
            "FASTDDS_DEFAULT_PROFILES_FILE=<blazepose_ros share>/config/fastdds_large_frames.xml, or "
            "subscribe to compressed images (compressed:=true)"
            + ("" if reliable else ", or set reliable:=true if the camera publishes RELIABLE"))


class PoseNode(Node):
    """Thin ROS wrapper around ``blazepose_ros.core.PoseTracker`` (see the module doc)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("pose_node", **kwargs)
        declare_parameters(self, PARAMS)  # raises ParameterError on a bad start value
        self.add_on_set_parameters_callback(self._on_set_parameters)
        # models (load_models)
        self._tracker: PoseTracker | None = None
        self._tracker_lock = threading.Lock()
        self._detector_runs_before = 0  # detector runs of trackers replaced by parameter changes
        self._use_cv_bridge = False
        # topics, timers, worker (open_topics / close_topics)
        self._image_sub: Subscription | None = None
        self._info_sub: Subscription | None = None
        self._outputs: PoseOutputs | None = None
        self._diag_pub: Publisher | None = None
        self._timers: list[Timer] = []
        self._no_image_timer: Timer | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._pending: Image | CompressedImage | None = None  # newest frame not yet taken by the worker
        # per-stream state
        self._stats = FrameStats()
        self._camera = CameraInput(self.get_logger())  # CameraInfo, camera model, camera points
        self._timed_out = False
        self._last_image_size: tuple[int, int] | None = None  # (width, height) of the last image
        self._last_frame: FrameSize | None = None  # of the last received message, for the loss warning
        self._loss_warned = False
        self._loss_unwarned = 0  # images lost before any arrived: warned with the size of the first one
        # depth and people (open_topics)
        self._depth: DepthInput | None = None
        self._depth_counts_before = DepthCounts()  # at the previous diagnostics window
        self._people: PeoplePublisher | None = None
        self._warned_empty_frame = False

    # -- steps: start = load_models + open_topics; stop ---------------------------------

    def start(self) -> None:
        """Build the tracker (raises the core's model/delegate errors), then wire the graph."""
        self.load_models()
        self.open_topics()

    def load_models(self) -> None:
        """Build the tracker from the parameters (model files, delegate); tune malloc."""
        self._use_cv_bridge = bool(self._p("use_cv_bridge")) and cv_bridge_available()
        self._tracker = self._build_tracker({})
        if self._p("keep_frame_memory"):
            why_not = keep_frame_memory()
            if why_not:
                self.get_logger().info(f"keep_frame_memory: left malloc as it is ({why_not})")
        fallbacks = self._tracker.landmarker.model.delegate_errors
        if fallbacks:
            self.get_logger().warning(
                f"delegate {self._p('delegate')}: running on {self._tracker.active_delegate} because "
                + "; ".join(fallbacks))

    def open_topics(self) -> None:
        """Subscriptions, publishers, timers and the worker thread (needs :meth:`load_models`)."""
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
        if self._p("use_camera_info"):
            self._info_sub = self.create_subscription(
                CameraInfo, "camera_info", self._on_camera_info, image_qos,
                event_callbacks=SubscriptionEventCallbacks(
                    incompatible_qos=partial(self._on_incompatible_qos, "camera_info")))
            self._camera.topic = self._info_sub.topic_name

        if self._p("use_depth"):
            if self._p("depth_min") >= self._p("depth_max"):
                raise ValueError(f"depth_min ({self._p('depth_min')} m) must be below depth_max "
                                 f"({self._p('depth_max')} m)")
            # keep a few: the worker matches each colour frame to the depth image nearest its stamp
            depth_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=4,
                                   reliability=image_qos.reliability, durability=DurabilityPolicy.VOLATILE)
            self._depth = DepthInput(self, depth_qos, float(self._p("depth_tolerance")), DepthOptions(
                window_radius=int(self._p("depth_window")), min_depth=float(self._p("depth_min")),
                max_depth=float(self._p("depth_max"))))

        out_qos = QoSProfile(depth=10)  # reliable, volatile: matches every subscriber
        self._outputs = PoseOutputs(self, out_qos, QoSProfile(depth=2))
        self._people = PeoplePublisher(self, bool(self._p("publish_tf")), str(self._p("tf_prefix")))
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", out_qos)

        # Watchdogs run on the steady clock so they work with use_sim_time and no /clock.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timers.append(self.create_timer(1.0, self._publish_diagnostics, clock=steady))
        wait = self._p("no_image_warning")
        if wait > 0:
            self._no_image_timer = self.create_timer(wait, self._warn_no_image, clock=steady)
            self._timers.append(self._no_image_timer)

        self._stop.clear()
        self._worker = threading.Thread(target=self._run_worker, name="pose_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"tracking poses on '{self._image_sub.topic_name}' "
            f"({'reliable' if self._p('reliable') else 'best effort'}), "
            f"delegate {self._active_delegate()}, model {self._model_name()}, images converted by "
            f"{'cv_bridge' if self._use_cv_bridge else 'the own converter'}"
            + (f", depth from '{self._depth.topic}'" if self._depth is not None else ""))

    def stop(self) -> None:
        """Stop the worker thread (it finishes the frame in progress)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None

    def close_topics(self) -> None:
        """Undo :meth:`open_topics`: stop the worker, remove timers, subscriptions and publishers."""
        self.stop()
        for timer in self._timers:
            self.destroy_timer(timer)
        self._timers, self._no_image_timer = [], None
        for sub in (self._image_sub, self._info_sub, self._depth.subscription if self._depth else None):
            if sub is not None:
                self.destroy_subscription(sub)
        self._image_sub = self._info_sub = None
        self._camera.topic = None
        self._depth = None
        if self._people is not None:
            self._people.destroy()
            self._people = None
        if self._outputs is not None:
            self._outputs.destroy()
            self._outputs = None
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
            self._diag_pub = None

    # -- parameters -----------------------------------------------------------------------

    def _p(self, name: str) -> ParamValue:
        return self.get_parameter(name).value

    def _model_name(self) -> str:
        return str(self._p("model") or COMPLEXITY_TO_MODEL[int(self._p("model_complexity"))])

    def _build_tracker(self, overrides: dict[str, ParamValue]) -> PoseTracker:
        def value(name: str) -> ParamValue:
            return overrides[name] if name in overrides else self._p(name)

        return PoseTracker(
            model=self._model_name(),
            delegate=str(self._p("delegate")),
            num_threads=int(self._p("num_threads")),
            static_image_mode=bool(value("static_image_mode")),
            smooth=bool(value("smooth_landmarks")),
            min_detection_confidence=float(value("min_detection_confidence")),
            min_tracking_confidence=float(value("min_tracking_confidence")),
            enable_segmentation=bool(value("enable_segmentation")),
            delegate_library=str(self._p("delegate_library")) or None,
            detector_model=str(self._p("detector_model")) or None,
            num_poses=int(value("num_poses")),
            detection_interval=float(value("detection_interval")),
            max_occlusion=float(value("max_occlusion")),
            small_person_tiles=parse_tiles(str(value("small_person_tiles"))),
            small_person_height=float(value("small_person_height")) or None,
        )

    def _active_delegate(self) -> str:
        return "none" if self._tracker is None else str(self._tracker.active_delegate)

    def _output_options(self) -> OutputOptions:
        return OutputOptions(publish_markers=bool(self._p("publish_markers")),
                             marker_lifetime_s=float(self._p("marker_lifetime")),
                             segmentation=bool(self._p("enable_segmentation")))

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        checked = check_parameters(params, PARAMS)  # rclpy enforces types, ranges and read_only
        if not checked.successful:
            return checked
        changes = {p.name: p.value for p in params}
        if self._tracker is None or not any(name in TRACKER_PARAMS for name in changes):
            return SetParametersResult(successful=True)
        try:
            tracker = self._build_tracker({k: v for k, v in changes.items() if k in TRACKER_PARAMS})
        except Exception as e:  # keep the running tracker; tell the caller why
            return SetParametersResult(successful=False, reason=f"could not rebuild the tracker: {e}")
        with self._tracker_lock:
            self._detector_runs_before += self._tracker.detector_runs
            tracker.take_ids_from(self._tracker)  # ids stay unique per node run
            self._tracker = tracker
        self.get_logger().info(f"tracker rebuilt for {', '.join(sorted(changes))}")
        return SetParametersResult(successful=True)

    # -- subscriptions (executor thread; keep them short) ---------------------------------

    def _on_image(self, msg: Image | CompressedImage) -> None:
        now = time.monotonic()
        with self._cond:
            with self._stats.lock:
                self._stats.add(received=1, dropped=int(self._pending is not None))  # the frame it replaces
                self._stats.last_image_monotonic = now
            self._pending = msg
            self._cond.notify()
        self._last_frame = FrameSize.of(msg)
        if self._loss_unwarned:
            self._warn_first_loss(self._loss_unwarned)
        self._camera.image_received(now)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera.set_info(msg)
        # check it now: diagnostics say at once if it is usable
        self._camera.model(self._last_image_size, bool(self._p("rectified")))

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
            self._stats.set(lost=info.total_count)
        if not self._loss_warned:  # at the first loss, not after a diagnostics window
            if self._last_frame is None:
                self._loss_unwarned = info.total_count  # its size comes with the first image that arrives
            else:
                self._warn_first_loss(info.total_count)

    def _warn_first_loss(self, lost: int) -> None:
        self._loss_warned, self._loss_unwarned = True, 0
        self.get_logger().warning(first_loss_warning(lost, self._image_topic(), self._last_frame,
                                                     bool(self._p("reliable"))))

    def _image_topic(self) -> str:
        return self._image_sub.topic_name if self._image_sub is not None else "image"

    def _warn_no_image(self) -> None:
        if self._no_image_timer is not None:
            self._no_image_timer.cancel()
        with self._stats.lock:
            received = self._stats.totals.received
        if received == 0:
            topic = self._image_topic()
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
                    self._stats.add(processing_errors=1)
                self.get_logger().warning(f"frame failed: {type(e).__name__}: {e}", throttle_duration_sec=5.0)

    def _check_camera_timeout(self) -> None:
        timeout = self._p("camera_timeout")
        with self._stats.lock:
            last = self._stats.last_image_monotonic
        if timeout <= 0 or last is None or self._timed_out or time.monotonic() - last < timeout:
            return
        self._timed_out = True
        with self._tracker_lock:
            assert self._tracker is not None
            self._tracker.reset()
        with self._stats.lock:
            self._stats.add(camera_timeouts=1)
            self._stats.set(people=0)
        if self._outputs is not None:
            self._outputs.clear(self._output_options())
        self.get_logger().warning(f"no image for {timeout:g} s on '{self._image_topic()}': "
                                  "tracking cleared", throttle_duration_sec=5.0)

    def _process(self, msg: Image | CompressedImage) -> None:
        t0 = time.perf_counter()
        self._timed_out = False
        try:
            rgb = (compressed_msg_to_rgb(msg) if isinstance(msg, CompressedImage)
                   else image_msg_to_rgb(msg, prefer_cv_bridge=self._use_cv_bridge))
        except ImageConversionError as e:
            with self._stats.lock:
                self._stats.add(conversion_errors=1)
            self.get_logger().warning(f"dropping an image that cannot be converted: {e}",
                                      throttle_duration_sec=5.0)
            return
        header = msg.header
        if not header.frame_id:
            self._fill_frame_id(header)
        stamp_ns = stamp_to_ns(header.stamp)
        if stamp_ns == 0:
            self.get_logger().warning("images have no header stamp: using the node clock instead "
                                      "(fix the camera driver for correct smoothing and latency)", once=True)
            now = self.get_clock().now()
            stamp_ns, header.stamp = now.nanoseconds, now.to_msg()
        with self._tracker_lock:
            tracker = self._tracker
        assert tracker is not None and self._outputs is not None
        poses = tracker.process(rgb, stamp_ns * 1e-9)
        if tracker.last_reset == "stamp_backwards":
            with self._stats.lock:
                self._stats.add(timestamp_resets=1)
            self.get_logger().info("image stamp jumped back (looping bag or restarted clock?): tracker reset",
                                   once=True)
        height, width = rgb.shape[:2]
        self._last_image_size = (width, height)
        model = self._camera.model((width, height), bool(self._p("rectified")))
        if self._depth is not None:
            self._depth.tolerance_s = float(self._p("depth_tolerance"))  # may change at run time
        points, sources = self._camera.camera_points(poses, model, header, (width, height), self._depth)
        frame = FrameResult(header, rgb, poses, points, model is None, sources)
        array = self._outputs.publish(frame, self._output_options())
        if self._people is not None:
            primary = primary_index(poses)
            self._people.publish(array, None if primary is None else array.poses[primary])

        now_ns = self.get_clock().now().nanoseconds
        with self._stats.lock:
            self._stats.add(processed=1)
            self._stats.set(people=len(poses))
            self._stats.processing_s.append(time.perf_counter() - t0)
            self._stats.pipeline_s.append(tracker.last_timings.get("total", float("nan")))
            if now_ns > 0:
                self._stats.latency_s.append((now_ns - stamp_ns) * 1e-9)

    def _fill_frame_id(self, header: Header) -> None:
        """An empty image frame_id: the frame_id parameter, said once either way."""
        frame_id = str(self._p("frame_id"))
        if not self._warned_empty_frame:
            self._warned_empty_frame = True
            if frame_id:
                self.get_logger().warning(f"images have an empty frame_id: using frame_id '{frame_id}' "
                                          "(the frame_id parameter)")
            else:
                self.get_logger().warning(
                    "images have an empty frame_id: RViz cannot show markers and TF cannot place people in "
                    "frame ''; fix the camera driver or set the frame_id parameter to the camera's optical "
                    "frame")
        header.frame_id = frame_id

    # -- diagnostics (executor thread, 1 Hz) ----------------------------------------------

    def _tracker_info(self) -> TrackerInfo:
        tracker = self._tracker
        return TrackerInfo(
            name=f"{self.get_fully_qualified_name().lstrip('/')}: pose tracking",
            image_topic=self._image_topic(),
            active_delegate=self._active_delegate(),
            requested_delegate=str(self._p("delegate")),
            model=self._model_name(),
            detector_runs=self._detector_runs_before + (tracker.detector_runs if tracker is not None else 0),
            camera_info=self._camera.status(),
            camera_timeout_s=float(self._p("camera_timeout")),
            num_poses=int(self._p("num_poses")),
            id_births=tracker.births if tracker is not None else 0,
            id_deaths=tracker.deaths if tracker is not None else 0,
            people_lost=(len(tracker.multi.lost_ids) if tracker is not None and tracker.multi is not None
                         else 0),
        )

    def _publish_diagnostics(self) -> None:
        window = self._stats.window(time.monotonic())
        warning = transport_loss_warning(window, bool(self._p("reliable")))
        if warning:
            self.get_logger().warning(warning, once=True)
        status = diagnostic_status(window, self._tracker_info())
        if self._depth is not None:
            self._add_depth_diagnostics(status)
        diag = DiagnosticArray(status=[status])
        diag.header.stamp = self.get_clock().now().to_msg()
        if self._diag_pub is not None:
            self._diag_pub.publish(diag)


    def _add_depth_diagnostics(self, status: DiagnosticStatus) -> None:
        assert self._depth is not None
        counts = self._depth.counts()
        text = (self._depth.status() if self._camera.usable
                else "not used: no usable camera_info to back-project it with")
        values, warning = depth_diagnostics(counts, self._depth_counts_before, text)
        self._depth_counts_before = counts
        status.values.extend(KeyValue(key=k, value=v) for k, v in values.items())
        if warning and status.level == DiagnosticStatus.OK:
            status.level, status.message = DiagnosticStatus.WARN, warning


# Errors that mean 'cannot start' (model, delegate, files): one log line, exit code 1.
STARTUP_ERRORS = (ModelError, InferenceError, DelegateError, ValueError, OSError)


def main(argv: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; exit 2 on a bad parameter, 1 when it cannot start."""
    return spin_until_stopped("pose_node", PoseNode, argv, start=PoseNode.start, finish=PoseNode.stop,
                              startup_errors=STARTUP_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
