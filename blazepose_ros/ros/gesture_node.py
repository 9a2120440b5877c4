"""gesture_node: body gestures -> ``Gesture`` messages and safety-limited ``cmd_vel`` from one
engaged operator.

Topics
  in   ``poses``          blazepose_ros/PoseKeypoints33Array (remap to /pose_node/poses);
                          best-effort subscription (works with reliable and best-effort publishers)
  out  ``~/gesture``      blazepose_ros/Gesture, per person: on every change and at
                          ``gesture_rate`` while a gesture is held
  out  ``cmd_vel``        geometry_msgs/TwistStamped (``cmd_vel_stamped``, default) or Twist,
                          reliable, at ``control_rate`` while enabled
  out  ``~/state``        blazepose_ros/OperatorState, latched (transient-local): enabled, mode,
                          operator, and why the command is zero; on every change
  out  ``/diagnostics``   diagnostic_msgs/DiagnosticArray at 1 Hz: the state plus rates
Services
  ``~/enable``            std_srvs/SetBool: commands are published only while enabled
                          (disabled at start unless ``enabled_at_start``); disabling sends one zero

Behaviour (blazepose_ros.core.operator; docs/gestures.md): people are keyed by (frame_id, id).
Nobody commands until a person engages (an engage gesture held ``engage_hold``, or, with
``engage_when_alone``, being the only person in view); that person is the operator until they
disengage or stay unseen for ``operator_timeout``. Only the operator's gestures command and
follow mode follows only the operator. A stop gesture by anyone (``stop_from_anyone``) zeroes
the command at once. Every zero command other than "no gesture" is immediate (no ramp).
Speeds are clipped to ``max_*_speed`` (a lowered limit applies to the next command) and
changes limited by ``max_*_accel``.

cmd_vel follows REP-103 for a base frame: linear.x forward [m/s], angular.z
counter-clockwise seen from above, i.e. turning left [rad/s].
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist, TwistStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_srvs.srv import SetBool

from blazepose_ros.core.gestures import (
    GESTURES,
    NONE,
    GestureConfig,
    GestureState,
    config_from_mapping,
)
from blazepose_ros.core.operator import (
    ACTIONS,
    MODES,
    Command,
    Decision,
    Observation,
    OperatorConfig,
    OperatorControl,
    PersonKey,
    Reason,
    parse_gesture_list,
)
from blazepose_ros.core.topology import Keypoint as Kp
from blazepose_ros.msg import Gesture, OperatorState, PoseKeypoints33, PoseKeypoints33Array
from blazepose_ros.ros.conversions import msg_to_keypoints, stamp_to_s
from blazepose_ros.ros.params import ParamSpec, check_parameters, declare_parameters
from blazepose_ros.ros.signals import spin_until_stopped

__all__ = [
    "Command",
    "GestureMap",
    "GestureNode",
    "Limits",
    "follow_command",
    "limit_velocity",
    "load_gesture_map",
    "main",
]

_VEL_KEYS = ("linear_x", "linear_y", "angular_z")


# ------------------------------------------------------------------ configuration file


@dataclass(frozen=True)
class GestureMap:
    """The parsed gestures.yaml: gesture -> command, and recogniser thresholds."""

    commands: Mapping[str, Command] = field(default_factory=dict)
    recognizer: GestureConfig = field(default_factory=GestureConfig)

    @property
    def stop_gestures(self) -> frozenset[str]:
        return frozenset(g for g, c in self.commands.items() if c.action == "stop")


def load_gesture_map(path: str | Path | None) -> GestureMap:
    """Read a gesture map YAML file (format: config/gestures.yaml). ``None``/'' -> empty map.

    Raises ``ValueError`` with the offending key on unknown gestures, keys or actions.
    """
    if not path:
        return GestureMap()
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except OSError as e:
        raise ValueError(f"cannot read gesture map {p}: {e}") from e
    except yaml.YAMLError as e:
        raise ValueError(f"{p} is not valid YAML: {e}") from e
    if not isinstance(doc, dict):
        raise ValueError(f"{p}: top level must be a mapping")
    unknown = set(doc) - {"commands", "recognizer"}
    if unknown:
        raise ValueError(f"{p}: unknown top-level keys {sorted(unknown)} (expected commands, recognizer)")
    commands: dict[str, Command] = {}
    for name, spec in (doc.get("commands") or {}).items():
        if name not in GESTURES:
            raise ValueError(f"{p}: unknown gesture '{name}' (known: {', '.join(GESTURES)})")
        if not isinstance(spec, dict):
            raise ValueError(f"{p}: command of '{name}' must be a mapping")
        bad = set(spec) - {*_VEL_KEYS, "action"}
        if bad:
            raise ValueError(f"{p}: '{name}' has unknown keys {sorted(bad)}")
        action = spec.get("action")
        if action is not None and action not in ACTIONS:
            raise ValueError(f"{p}: '{name}' has unknown action '{action}' (known: {', '.join(ACTIONS)})")
        if action is not None and any(k in spec for k in _VEL_KEYS):
            raise ValueError(f"{p}: '{name}' has both an action and a velocity")
        try:
            vel = {k: float(spec.get(k, 0.0)) for k in _VEL_KEYS}
        except (TypeError, ValueError) as e:
            raise ValueError(f"{p}: '{name}' velocity is not a number: {e}") from e
        if not all(math.isfinite(v) for v in vel.values()):
            raise ValueError(f"{p}: '{name}' velocity must be finite")
        commands[name] = Command(action=action, **vel)
    recognizer = config_from_mapping(doc.get("recognizer") or {})
    return GestureMap(commands=commands, recognizer=recognizer)


def default_gesture_map_path() -> str:
    """config/gestures.yaml of the installed package, else of the source tree, else ''."""
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory("blazepose_ros")) / "config" / "gestures.yaml"
        if share.is_file():
            return str(share)
    except Exception:
        pass
    src = Path(__file__).resolve().parents[2] / "config" / "gestures.yaml"
    return str(src) if src.is_file() else ""


# ------------------------------------------------------------------ pure control helpers


@dataclass(frozen=True)
class Limits:
    """Speed [m/s, rad/s] and acceleration [m/s², rad/s²] limits."""

    max_linear: float
    max_angular: float
    max_linear_accel: float
    max_angular_accel: float


def _clip_speed(v: np.ndarray, lim: Limits) -> np.ndarray:
    out = np.asarray(v, dtype=float).copy()
    speed = math.hypot(out[0], out[1])
    if speed > lim.max_linear:
        out[:2] *= lim.max_linear / speed
    out[2] = max(-lim.max_angular, min(lim.max_angular, out[2]))
    return out


def limit_velocity(current: np.ndarray, target: np.ndarray, dt: float, lim: Limits) -> np.ndarray:
    """Clip ``target`` (vx, vy, wz) to the speed limits and move ``current`` towards it within the
    acceleration limits over ``dt`` seconds. The linear part is limited as a vector.

    ``current`` is clipped to the speed limits first: a lowered limit holds for the very next
    command, without a deceleration ramp from above it."""
    tgt = _clip_speed(target, lim)
    cur = _clip_speed(current, lim)
    out = tgt.copy()
    d = tgt[:2] - cur[:2]
    dn = math.hypot(d[0], d[1])
    step = lim.max_linear_accel * dt
    if dn > step:
        out[:2] = cur[:2] + d * (step / dn)
    dw = tgt[2] - cur[2]
    wstep = lim.max_angular_accel * dt
    if abs(dw) > wstep:
        out[2] = cur[2] + math.copysign(wstep, dw)
    return out


def follow_command(
    msg: PoseKeypoints33,
    distance: float,
    linear_gain: float,
    angular_gain: float,
    distance_deadband: float,
    angle_deadband: float,
    hfov: float,
    allow_reverse: bool,
    min_visibility: float = 0.5,
) -> tuple[np.ndarray, str]:
    """Velocity (vx, vy, wz) that turns towards the person and keeps ``distance`` [m].

    With ``has_camera_points`` the hip centre (shoulder centre if the hips are hidden) in the
    camera optical frame (x right, z forward, metres) gives bearing = atan2(x, z) and range = z.
    Otherwise only the image column is used: bearing = atan(offset·tan(hfov/2)) with offset the
    hip centre's horizontal offset from the image centre in [-1, 1]; no forward motion.
    Returns the velocity and a short description of the source ("3d", "image", or why none).
    """
    vis = np.array([k.visibility for k in msg.keypoints])
    hips = (Kp.LEFT_HIP, Kp.RIGHT_HIP)
    shoulders = (Kp.LEFT_SHOULDER, Kp.RIGHT_SHOULDER)
    pair = hips if min(vis[hips[0]], vis[hips[1]]) >= min_visibility else shoulders
    if vis[pair[0]] < min_visibility or vis[pair[1]] < min_visibility:
        return np.zeros(3), "no visible hips or shoulders"
    out = np.zeros(3)
    if msg.has_camera_points:
        pts = np.array([[msg.camera_points[i].x, msg.camera_points[i].z] for i in pair])
        if np.all(np.isfinite(pts)) and np.all(pts[:, 1] > 0):
            x, z = pts.mean(axis=0)
            bearing = math.atan2(x, z)
            err = z - distance
            if abs(err) > distance_deadband:
                out[0] = linear_gain * (err - math.copysign(distance_deadband, err))
                if not allow_reverse:
                    out[0] = max(0.0, out[0])
            if abs(bearing) > angle_deadband:
                out[2] = -angular_gain * (bearing - math.copysign(angle_deadband, bearing))
            return out, "3d"
    width = float(msg.image_width)
    if width <= 0:
        return out, "no image width"
    xc = (msg.keypoints[pair[0]].x + msg.keypoints[pair[1]].x) / 2.0
    offset = max(-1.0, min(1.0, (xc - width / 2.0) / (width / 2.0)))
    bearing = math.atan(offset * math.tan(hfov / 2.0))
    if abs(bearing) > angle_deadband:
        out[2] = -angular_gain * (bearing - math.copysign(angle_deadband, bearing))
    return out, "image"



# ------------------------------------------------------------------ parameters


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("config_file", "", "Gesture -> command map YAML (config/gestures.yaml); '' = the "
              "package's file", read_only=True),
    ParamSpec("enabled_at_start", False, "Publish commands from the start, without calling ~/enable",
              read_only=True),
    ParamSpec("control_rate", 20.0, "cmd_vel publishing and safety check rate [Hz]", read_only=True,
              float_range=(1.0, 100.0), dynamic_typing=True),
    ParamSpec("gesture_rate", 5.0, "Rate at which a held gesture is re-published on ~/gesture [Hz]",
              float_range=(0.1, 50.0), dynamic_typing=True),
    ParamSpec("cmd_vel_stamped", True, "Publish cmd_vel as geometry_msgs/TwistStamped (ROS 2 Jazzy and "
              "later, e.g. diff_drive_controller); false: geometry_msgs/Twist", read_only=True),
    ParamSpec("cmd_vel_frame_id", "base_link", "header.frame_id of a TwistStamped cmd_vel"),
    # engagement and the operator lock
    ParamSpec("engage_gestures", "left_arm_up,right_arm_up", "Comma-separated gestures that engage the "
              "person holding one for engage_hold; '' = only engage_when_alone"),
    ParamSpec("engage_hold", 1.0, "How long an engage gesture must be held [s]; also how long the only "
              "person in view must stay alone with engage_when_alone", float_range=(0.0, 10.0),
              dynamic_typing=True),
    ParamSpec("engage_when_alone", False, "Also engage a person who is the only one in view (all sources) "
              "for engage_hold"),
    ParamSpec("disengage_gestures", "arms_crossed", "Comma-separated gestures that disengage the operator "
              "when held for disengage_hold; '' = none"),
    ParamSpec("disengage_hold", 1.5, "How long a disengage gesture must be held [s]",
              float_range=(0.0, 10.0), dynamic_typing=True),
    ParamSpec("operator_timeout", 3.0, "The operator unseen this long is disengaged [s]; until then the "
              "command is zero and only the same (frame_id, id) takes control back",
              float_range=(0.0, 60.0), dynamic_typing=True),
    ParamSpec("stop_from_anyone", True, "A stop gesture by any visible person stops the robot (safety "
              "first); false: only the operator's (crowded scenes)"),
    # safety
    ParamSpec("pose_timeout", 0.5, "Zero velocity when no pose message arrived for this long [s]",
              float_range=(0.05, 10.0), dynamic_typing=True),
    ParamSpec("max_stamp_age", 1.0, "Refuse poses whose stamps are older than this [s]; 0 = no check",
              float_range=(0.0, 60.0), dynamic_typing=True),
    ParamSpec("max_future_stamp", 0.5, "Refuse poses stamped further than this in the future [s]; "
              "0 = no check", float_range=(0.0, 60.0), dynamic_typing=True),
    ParamSpec("min_confidence", 0.6, "Minimum gesture confidence for a command [0-1]",
              float_range=(0.0, 1.0), dynamic_typing=True),
    ParamSpec("min_pose_score", 0.5, "Minimum pose presence score; below it a person counts as not seen "
              "[0-1]", float_range=(0.0, 1.0), dynamic_typing=True),
    ParamSpec("max_linear_speed", 0.3, "Linear speed limit [m/s]", float_range=(0.0, 3.0),
              dynamic_typing=True),
    ParamSpec("max_angular_speed", 0.8, "Angular speed limit [rad/s]", float_range=(0.0, 6.0),
              dynamic_typing=True),
    ParamSpec("max_linear_accel", 0.5, "Linear acceleration limit [m/s^2]", float_range=(0.01, 20.0),
              dynamic_typing=True),
    ParamSpec("max_angular_accel", 1.5, "Angular acceleration limit [rad/s^2]", float_range=(0.01, 50.0),
              dynamic_typing=True),
    ParamSpec("mode", "gesture", "'gesture': gestures map to velocities; 'follow': follow the operator. "
              "Always the real mode (a stop gesture or disengaging sets it back to gesture)", choices=MODES),
    ParamSpec("follow_distance", 1.5, "Distance to keep to the operator in follow mode [m]",
              float_range=(0.3, 10.0), dynamic_typing=True),
    ParamSpec("follow_linear_gain", 0.6, "Follow: forward speed per metre of distance error [1/s]",
              float_range=(0.0, 5.0), dynamic_typing=True),
    ParamSpec("follow_angular_gain", 1.5, "Follow: turn rate per radian of bearing error [1/s]",
              float_range=(0.0, 10.0), dynamic_typing=True),
    ParamSpec("follow_distance_deadband", 0.15, "Follow: distance error ignored [m]",
              float_range=(0.0, 2.0), dynamic_typing=True),
    ParamSpec("follow_angle_deadband", 0.05, "Follow: bearing error ignored [rad]",
              float_range=(0.0, 1.0), dynamic_typing=True),
    ParamSpec("follow_allow_reverse", False, "Follow: back away when the operator is closer than "
              "follow_distance"),
    ParamSpec("camera_hfov", 1.2, "Horizontal field of view, for image-only following [rad]",
              float_range=(0.1, 3.1), dynamic_typing=True),
)
_OPERATOR_PARAMS = frozenset({
    "engage_gestures", "engage_hold", "engage_when_alone", "disengage_gestures", "disengage_hold",
    "operator_timeout", "stop_from_anyone", "pose_timeout", "max_stamp_age", "max_future_stamp",
    "min_confidence", "min_pose_score",
})


def operator_config(values: Mapping[str, object], gesture_map: GestureMap) -> OperatorConfig:
    """The core's OperatorConfig from the node's parameter values; ValueError names the problem."""
    return OperatorConfig(
        engage_gestures=parse_gesture_list(str(values["engage_gestures"]), "engage_gestures"),
        engage_hold_s=float(values["engage_hold"]),
        engage_when_alone=bool(values["engage_when_alone"]),
        disengage_gestures=parse_gesture_list(str(values["disengage_gestures"]), "disengage_gestures"),
        disengage_hold_s=float(values["disengage_hold"]),
        stop_gestures=gesture_map.stop_gestures,
        stop_from_anyone=bool(values["stop_from_anyone"]),
        stop_confidence=gesture_map.recognizer.enter_confidence,
        operator_timeout_s=float(values["operator_timeout"]),
        min_pose_score=float(values["min_pose_score"]),
        min_confidence=float(values["min_confidence"]),
        pose_timeout_s=float(values["pose_timeout"]),
        max_stamp_age_s=float(values["max_stamp_age"]),
        max_future_s=float(values["max_future_stamp"]),
    )


class _Rate:
    """Events per second over the last diagnostics period."""

    def __init__(self) -> None:
        self.count = 0
        self._last = (0, time.monotonic())

    def tick(self) -> None:
        self.count += 1

    def rate(self) -> float:
        now = time.monotonic()
        n, t = self._last
        self._last = (self.count, now)
        return (self.count - n) / (now - t) if now > t else 0.0


# ------------------------------------------------------------------ the node


class GestureNode(Node):
    """See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__("gesture_node", **kwargs)
        self._values = declare_parameters(self, PARAMS)
        path = str(self._values["config_file"]) or default_gesture_map_path()
        if not path:
            self.get_logger().warn("no gesture map file found: gestures are recognised but map to no command")
        self.gesture_map = load_gesture_map(path)
        self.control = OperatorControl(
            operator_config(self._values, self.gesture_map),
            self.gesture_map.recognizer,
            self.gesture_map.commands,
            str(self._values["mode"]),
        )
        self.get_logger().info(
            f"gesture map {path or '(none)'}: "
            + ", ".join(
                f"{g}->{c.action or (c.linear_x, c.linear_y, c.angular_z)}"
                for g, c in self.gesture_map.commands.items()
            )
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._lock = threading.RLock()
        self._last_published: dict[PersonKey, tuple[str, float]] = {}
        self._poses: dict[str, dict[int, PoseKeypoints33]] = {}  # latest frame per source
        self._enabled = bool(self._values["enabled_at_start"])
        self._velocity = np.zeros(3)
        self._last_tick: float | None = None
        self._decision: Decision | None = None
        self._state_key: tuple | None = None
        self._syncing_mode = False
        self._rates = {k: _Rate() for k in ("poses", "cmd_vel", "cmd_vel_moving", "refused_frames")}
        self._engagements = 0

        last = HistoryPolicy.KEEP_LAST
        in_qos = QoSProfile(depth=5, history=last, reliability=ReliabilityPolicy.BEST_EFFORT)
        out_qos = QoSProfile(depth=10, history=last, reliability=ReliabilityPolicy.RELIABLE)
        # depth 10, not 1: a live subscriber that is briefly slow still gets every transition; a
        # late one gets the last 10, the newest last
        latched = QoSProfile(depth=10, history=last, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._stamped = bool(self._values["cmd_vel_stamped"])
        self._gesture_pub = self.create_publisher(Gesture, "~/gesture", out_qos)
        self._cmd_pub = self.create_publisher(TwistStamped if self._stamped else Twist, "cmd_vel", out_qos)
        self._state_pub = self.create_publisher(OperatorState, "~/state", latched)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._sub = self.create_subscription(PoseKeypoints33Array, "poses", self._on_poses, in_qos)
        self._srv = self.create_service(SetBool, "~/enable", self._on_enable)
        self._timer = self.create_timer(1.0 / float(self._values["control_rate"]), self._on_tick)
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics)
        cfg = self.control.config
        self.get_logger().info(
            f"listening on {self._sub.topic_name}, commands on {self._cmd_pub.topic_name} "
            f"({'TwistStamped' if self._stamped else 'Twist'}; "
            f"{'enabled' if self._enabled else 'disabled: call ' + self._srv.srv_name}), mode "
            f"{self.control.mode}; engage: {', '.join(sorted(cfg.engage_gestures)) or '-'} held "
            f"{cfg.engage_hold_s:g} s{' or alone in view' if cfg.engage_when_alone else ''}; "
            f"stop from {'anyone' if cfg.stop_from_anyone else 'the operator only'}"
        )
        self._on_tick()  # the first ~/state at once

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # -------------------------------------------------------------- parameters and service

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        result = check_parameters(params, PARAMS)
        if not result.successful:
            return result
        values = dict(self._values)
        values.update({p.name: p.value for p in params if p.name in values})
        if any(p.name in _OPERATOR_PARAMS for p in params):
            try:
                cfg = operator_config(values, self.gesture_map)
            except ValueError as e:
                return SetParametersResult(successful=False, reason=str(e))
        with self._lock:
            self._values = values
            if any(p.name in _OPERATOR_PARAMS for p in params):
                self.control.set_config(cfg)
            if not self._syncing_mode and any(p.name == "mode" for p in params):
                self.control.set_mode(str(values["mode"]))
        return SetParametersResult(successful=True)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        with self._lock:
            was = self._enabled
            self._enabled = bool(request.data)
            self._velocity = np.zeros(3)
            if was and not self._enabled:
                self._publish_cmd(np.zeros(3))  # one explicit stop
        response.success = True
        response.message = "enabled" if request.data else "disabled"
        self.get_logger().info(f"commands {response.message}")
        self._on_tick()
        return response

    @property
    def enabled(self) -> bool:
        return self._enabled

    # -------------------------------------------------------------- poses in

    def _on_poses(self, msg: PoseKeypoints33Array) -> None:
        now = self._now()
        stamp = stamp_to_s(msg.header.stamp)
        if stamp == 0.0:  # unset stamps: fall back to the receipt time
            stamp = now
        source = msg.header.frame_id
        self._rates["poses"].tick()
        obs = [Observation(int(p.id), float(p.score), msg_to_keypoints(p)) for p in msg.poses]
        with self._lock:
            states, forgotten = self.control.update(source, stamp, obs, now)
            for key in forgotten:
                self._publish_none(key, msg.header)
            reason = self.control.stamp_problem(source)
            if reason is not None:
                self._rates["refused_frames"].tick()
                self.get_logger().warning(
                    f"poses from '{source}' refused ({reason}): stamp {stamp:.3f} s is "
                    f"{stamp - now:+.3f} s from the node clock (max_stamp_age "
                    f"{self._values['max_stamp_age']} s, max_future_stamp "
                    f"{self._values['max_future_stamp']} s); with a bag use use_sim_time",
                    throttle_duration_sec=2.0,
                )
                return
            if self.control.unstable_ids(source):
                self.get_logger().warning(
                    f"person ids from '{source}' change every frame (pose_node static_image_mode?): "
                    "gestures need one id per person over time, so none is recognised and nobody "
                    "can engage; track people (static_image_mode:=false)",
                    throttle_duration_sec=5.0,
                )
            self._poses[source] = {int(p.id): p for p in msg.poses}
            by_id = self._poses[source]
            for key, st in states.items():
                pose = by_id[key.id]
                self._maybe_publish(st, pose.header if pose.header.frame_id else msg.header, now)

    def _maybe_publish(self, st: GestureState, header, now: float) -> None:
        key = PersonKey(header.frame_id, int(st.person_id))
        last = self._last_published.get(key)
        period = 1.0 / float(self._values["gesture_rate"])
        due = last is not None and st.name != NONE and now - last[1] >= period
        if last is None and st.name == NONE:
            self._last_published[key] = (NONE, now)  # nothing to announce yet
            return
        if last is None or st.name != last[0] or due:
            g = Gesture(
                person_id=int(st.person_id),
                gesture=st.name,
                confidence=float(st.confidence),
                held_duration=float(st.held_duration),
            )
            g.header = header
            self._gesture_pub.publish(g)
            self._last_published[key] = (st.name, now)

    def _publish_none(self, key: PersonKey, header) -> None:
        last = self._last_published.pop(key, None)
        if last is not None and last[0] != NONE:
            g = Gesture(person_id=int(key.id), gesture=NONE, confidence=0.0, held_duration=0.0)
            g.header = header
            g.header.frame_id = key.frame_id
            self._gesture_pub.publish(g)

    # -------------------------------------------------------------- control loop

    def _limits(self) -> Limits:
        v = self._values
        return Limits(float(v["max_linear_speed"]), float(v["max_angular_speed"]),
                      float(v["max_linear_accel"]), float(v["max_angular_accel"]))

    def _on_tick(self) -> None:
        now = self._now()
        with self._lock:
            dt = 1.0 / float(self._values["control_rate"])
            if self._last_tick is not None:
                dt = min(max(now - self._last_tick, 0.0), 2.0 * dt)
            self._last_tick = now
            d = self.control.tick(now)
            if d.reason == Reason.NO_POSES and self._last_published:
                self._timeout_people()
            reason = d.reason
            target = d.target
            if d.follow:
                target, reason = self._follow_target(d.operator)
            for e in d.events:
                self.get_logger().info(e)
                self._engagements += e.startswith("engaged")
            if not self._enabled:
                reason = Reason.DISABLED
            if target is None:  # a safety stop: immediately zero
                self._velocity = np.zeros(3)
            else:
                self._velocity = limit_velocity(self._velocity, target, dt, self._limits())
            self._decision = Decision(reason, target, d.mode, d.operator, d.gesture, d.follow, d.lost_for)
            self._publish_state(self._decision, now)
            if self._enabled:
                self._publish_cmd(self._velocity)
            mode = self.control.mode
        if mode != self._values["mode"]:
            self._syncing_mode = True
            try:  # the mode parameter always tells the real mode
                self.set_parameters([Parameter("mode", value=mode)])
            finally:
                self._syncing_mode = False

    def _follow_target(self, key: PersonKey | None) -> tuple[np.ndarray | None, Reason]:
        msg = self._poses.get(key.frame_id, {}).get(key.id) if key is not None else None
        if msg is None:
            return None, Reason.OPERATOR_LOST
        v = self._values
        vel, src = follow_command(
            msg,
            float(v["follow_distance"]),
            float(v["follow_linear_gain"]),
            float(v["follow_angular_gain"]),
            float(v["follow_distance_deadband"]),
            float(v["follow_angle_deadband"]),
            float(v["camera_hfov"]),
            bool(v["follow_allow_reverse"]),
            self.gesture_map.recognizer.min_visibility,
        )
        if src not in ("3d", "image"):
            return None, Reason.NO_TARGET
        return vel, Reason.FOLLOWING

    def _publish_cmd(self, vel: np.ndarray) -> None:
        if self._stamped:
            msg = TwistStamped()
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.header.frame_id = str(self._values["cmd_vel_frame_id"])
            t = msg.twist
        else:
            msg = t = Twist()
        t.linear.x, t.linear.y, t.angular.z = (float(x) for x in vel)
        self._cmd_pub.publish(msg)
        self._rates["cmd_vel"].tick()
        if np.any(vel != 0):
            self._rates["cmd_vel_moving"].tick()

    def _publish_state(self, d: Decision, now: float) -> None:
        key = (self._enabled, d.mode, d.operator, d.gesture, d.reason)
        if key == self._state_key:
            return
        if self._state_key is None or d.reason != self._state_key[4]:
            who = f" (operator {d.operator})" if d.operator else ""
            self.get_logger().info(f"control: {d.reason}{who}")
        self._state_key = key
        self._state_pub.publish(self.state_msg(d))

    def state_msg(self, d: Decision) -> OperatorState:
        m = OperatorState(
            enabled=self._enabled,
            mode=d.mode,
            engaged=d.operator is not None,
            operator_frame_id=d.operator.frame_id if d.operator else "",
            operator_id=int(d.operator.id) if d.operator else 0,
            operator_lost_for=float(d.lost_for),
            gesture=d.gesture,
            reason=str(d.reason),
        )
        m.header.stamp = self.get_clock().now().to_msg()
        m.header.frame_id = m.operator_frame_id
        return m

    def _publish_diagnostics(self) -> None:
        with self._lock:
            d = self._decision
            if d is None:
                return
            level = DiagnosticStatus.OK
            if d.reason in (Reason.NO_POSES, Reason.STALE_POSES, Reason.FUTURE_STAMP) or any(
                    self.control.unstable_ids(f) for f in self._poses):
                level = DiagnosticStatus.WARN
            values = {
                "enabled": str(self._enabled).lower(),
                "mode": d.mode,
                "engaged": str(d.operator is not None).lower(),
                "operator": str(d.operator) if d.operator else "",
                "operator_lost_for_s": f"{d.lost_for:.2f}",
                "gesture": d.gesture,
                "reason": str(d.reason),
                "people_in_view": str(len(self.control.people())),
                "engagements": str(self._engagements),
                "unstable_id_sources": ",".join(f for f in self._poses if self.control.unstable_ids(f)),
                "cmd_vel_stamped": str(self._stamped).lower(),
            } | {f"{k}_rate_hz": f"{r.rate():.1f}" for k, r in self._rates.items()}
            status = DiagnosticStatus(
                level=level,
                name=f"{self.get_fully_qualified_name().lstrip('/')}: operator",
                message=str(d.reason),
                hardware_id="gesture_node",
                values=[KeyValue(key=k, value=v) for k, v in values.items()],
            )
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(arr)

    def _timeout_people(self) -> None:
        """Poses stopped: everyone's gesture ends now."""
        self.control.clear()
        for key in list(self._last_published):
            g = Gesture()
            g.header.frame_id = key.frame_id
            self._publish_none(key, g.header)
        self._poses.clear()

    def stop_robot(self) -> None:
        """Publish a zero velocity (on shutdown) if commands are enabled."""
        if self._enabled and rclpy.ok(context=self.context):
            self._publish_cmd(np.zeros(3))


def main(argv: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; a zero cmd_vel is sent on the way out. Exit status 0,
    or 2 with one ``cannot start: ...`` line on a bad parameter or gesture map."""
    return spin_until_stopped("gesture_node", GestureNode, sys.argv if argv is None else argv,
                              finish=lambda node: node.stop_robot(), config_errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
