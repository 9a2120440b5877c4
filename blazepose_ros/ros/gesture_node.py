"""gesture_node: body gestures -> ``Gesture`` messages and safety-limited ``cmd_vel``.

Topics
  in   ``poses``          blazepose_ros/PoseKeypoints33Array (remap to /pose_node/poses);
                          best-effort subscription (works with reliable and best-effort publishers)
  out  ``~/gesture``      blazepose_ros/Gesture, per person: on every change and at
                          ``gesture_rate`` while a gesture is held
  out  ``cmd_vel``        geometry_msgs/Twist (reliable), at ``control_rate`` while enabled
Services
  ``~/enable``            std_srvs/SetBool: commands are published only while enabled
                          (disabled at start unless ``enabled_at_start``); disabling sends one zero

Behaviour (details in docs/gestures.md). One person, the *operator*, controls the robot:
the tracked person with the largest torso (kept while visible). Every control tick:

* zero velocity at once (no ramp) when: no pose message for ``pose_timeout`` s; the
  poses' stamps are older than ``max_stamp_age``; no operator; the operator's pose score
  is below ``min_pose_score``; the current gesture's confidence is below
  ``min_confidence``; or a ``stop`` gesture is seen in the current frame (no hold time);
* mode ``gesture``: the velocity mapped to the operator's held gesture (config file);
* mode ``follow``: keep the operator centred (and at ``follow_distance`` when 3D
  camera points are known), entered by a ``follow`` gesture or the ``mode`` parameter,
  left by a ``stop`` gesture;
* speeds are clipped to ``max_*_speed`` and changes limited by ``max_*_accel``.

cmd_vel follows REP-103 for a base frame: linear.x forward [m/s], angular.z
counter-clockwise seen from above, i.e. turning left [rad/s].
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
import yaml
from geometry_msgs.msg import Twist
from rcl_interfaces.msg import (
    FloatingPointRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from std_srvs.srv import SetBool

from blazepose_ros.core.gestures import (
    GESTURES,
    NONE,
    GestureConfig,
    GestureState,
    MultiPersonGestures,
    config_from_mapping,
)
from blazepose_ros.msg import Gesture, PoseKeypoints33, PoseKeypoints33Array
from blazepose_ros.ros.signals import init_with_stop_event

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

MODES = ("gesture", "follow")
ACTIONS = ("stop", "follow")
_VEL_KEYS = ("linear_x", "linear_y", "angular_z")
_LH, _RH, _LS, _RS = 23, 24, 11, 12


# ------------------------------------------------------------------ configuration file


@dataclass(frozen=True)
class Command:
    """What a gesture does: a velocity held while the gesture is held, or an action."""

    linear_x: float = 0.0  # m/s, forward
    linear_y: float = 0.0  # m/s, left (holonomic bases)
    angular_z: float = 0.0  # rad/s, counter-clockwise (turn left)
    action: str | None = None  # "stop" | "follow" | None


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


def limit_velocity(current: np.ndarray, target: np.ndarray, dt: float, lim: Limits) -> np.ndarray:
    """Clip ``target`` (vx, vy, wz) to the speed limits and move ``current`` towards it within the
    acceleration limits over ``dt`` seconds. The linear part is limited as a vector."""
    tgt = np.asarray(target, dtype=float).copy()
    cur = np.asarray(current, dtype=float)
    speed = math.hypot(tgt[0], tgt[1])
    if speed > lim.max_linear:
        tgt[:2] *= lim.max_linear / speed
    tgt[2] = max(-lim.max_angular, min(lim.max_angular, tgt[2]))
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
    pair = (_LH, _RH) if vis[_LH] >= min_visibility and vis[_RH] >= min_visibility else (_LS, _RS)
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


def keypoints_array(msg: PoseKeypoints33) -> np.ndarray:
    """(33, 5) float32: x, y [px], z, visibility, presence."""
    return np.array([[k.x, k.y, k.z, k.visibility, k.presence] for k in msg.keypoints], dtype=np.float32)


def _stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


# ------------------------------------------------------------------ parameters


@dataclass(frozen=True)
class _P:
    name: str
    default: object
    description: str
    lo: float | None = None
    hi: float | None = None
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        d = ParameterDescriptor(name=self.name, description=self.description, read_only=self.read_only)
        if self.lo is not None and isinstance(self.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=self.lo, to_value=self.hi, step=0.0)]
        if isinstance(self.default, str):
            d.type = ParameterType.PARAMETER_STRING
        return d


PARAMS: tuple[_P, ...] = (
    _P(
        "config_file",
        "",
        "Gesture -> command map YAML (config/gestures.yaml); '' = the package's file",
        read_only=True,
    ),
    _P(
        "enabled_at_start", False, "Publish commands from the start, without calling ~/enable", read_only=True
    ),
    _P("control_rate", 20.0, "cmd_vel publishing and safety check rate [Hz]", 1.0, 100.0, read_only=True),
    _P("gesture_rate", 5.0, "Rate at which a held gesture is re-published on ~/gesture [Hz]", 0.1, 50.0),
    _P("pose_timeout", 0.5, "Zero velocity when no pose message arrived for this long [s]", 0.05, 10.0),
    _P(
        "max_stamp_age",
        1.0,
        "Zero velocity when the pose stamps are older than this [s]; 0 = no check",
        0.0,
        60.0,
    ),
    _P("min_confidence", 0.6, "Minimum gesture confidence for a command [0-1]", 0.0, 1.0),
    _P("min_pose_score", 0.5, "Minimum pose presence score of the operator [0-1]", 0.0, 1.0),
    _P("max_linear_speed", 0.3, "Linear speed limit [m/s]", 0.0, 3.0),
    _P("max_angular_speed", 0.8, "Angular speed limit [rad/s]", 0.0, 6.0),
    _P("max_linear_accel", 0.5, "Linear acceleration limit [m/s^2]", 0.01, 20.0),
    _P("max_angular_accel", 1.5, "Angular acceleration limit [rad/s^2]", 0.01, 50.0),
    _P("mode", "gesture", "'gesture': gestures map to velocities; 'follow': follow the operator"),
    _P("follow_distance", 1.5, "Distance to keep to the operator in follow mode [m]", 0.3, 10.0),
    _P("follow_linear_gain", 0.6, "Follow: forward speed per metre of distance error [1/s]", 0.0, 5.0),
    _P("follow_angular_gain", 1.5, "Follow: turn rate per radian of bearing error [1/s]", 0.0, 10.0),
    _P("follow_distance_deadband", 0.15, "Follow: distance error ignored [m]", 0.0, 2.0),
    _P("follow_angle_deadband", 0.05, "Follow: bearing error ignored [rad]", 0.0, 1.0),
    _P("follow_allow_reverse", False, "Follow: back away when the operator is closer than follow_distance"),
    _P("camera_hfov", 1.2, "Horizontal field of view, for image-only following [rad]", 0.1, 3.1),
)


# ------------------------------------------------------------------ the node


class GestureNode(Node):
    """See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__("gesture_node", **kwargs)
        for p in PARAMS:
            self.declare_parameter(p.name, p.default, p.descriptor())
        self._values = {p.name: self.get_parameter(p.name).value for p in PARAMS}
        if self._values["mode"] not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self._values['mode']!r}")
        path = self._values["config_file"] or default_gesture_map_path()
        if not path:
            self.get_logger().warn("no gesture map file found: gestures are recognised but map to no command")
        self.gesture_map = load_gesture_map(path)
        self.get_logger().info(
            f"gesture map {path or '(none)'}: "
            + ", ".join(
                f"{g}->{c.action or (c.linear_x, c.linear_y, c.angular_z)}"
                for g, c in self.gesture_map.commands.items()
            )
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._lock = threading.Lock()
        self._people = MultiPersonGestures(self.gesture_map.recognizer, forget_after_s=1.0)
        self._last_published: dict[int, tuple[str, Time]] = {}
        self._last_rx: Time | None = None
        self._last_stamp: float | None = None
        self._operator: int | None = None
        self._operator_msg: PoseKeypoints33 | None = None
        self._operator_state: GestureState | None = None
        self._stop_seen = False
        self._mode = str(self._values["mode"])
        self._enabled = bool(self._values["enabled_at_start"])
        self._velocity = np.zeros(3)
        self._last_tick: Time | None = None
        self._reason = "starting"

        in_qos = QoSProfile(
            depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT
        )
        out_qos = QoSProfile(
            depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE
        )
        self._gesture_pub = self.create_publisher(Gesture, "~/gesture", out_qos)
        self._cmd_pub = self.create_publisher(Twist, "cmd_vel", out_qos)
        self._sub = self.create_subscription(PoseKeypoints33Array, "poses", self._on_poses, in_qos)
        self._srv = self.create_service(SetBool, "~/enable", self._on_enable)
        self._timer = self.create_timer(1.0 / float(self._values["control_rate"]), self._on_tick)
        self.get_logger().info(
            f"listening on {self._sub.topic_name}, commands on {self._cmd_pub.topic_name} "
            f"({'enabled' if self._enabled else 'disabled: call ' + self._srv.srv_name}), mode {self._mode}"
        )

    # -------------------------------------------------------------- parameters and service

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for p in params:
            if p.name == "mode" and p.value not in MODES:
                return SetParametersResult(successful=False, reason=f"mode must be one of {', '.join(MODES)}")
            if p.name in self._values and isinstance(p.value, float) and not math.isfinite(p.value):
                return SetParametersResult(successful=False, reason=f"{p.name} must be finite")
        with self._lock:
            for p in params:
                if p.name in self._values:
                    self._values[p.name] = p.value
                if p.name == "mode":
                    self._mode = str(p.value)
                    self.get_logger().info(f"mode set to {self._mode}")
        return SetParametersResult(successful=True)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        with self._lock:
            was = self._enabled
            self._enabled = bool(request.data)
            self._velocity = np.zeros(3)
            if was and not self._enabled:
                self._cmd_pub.publish(Twist())  # one explicit stop
        response.success = True
        response.message = "enabled" if request.data else "disabled"
        self.get_logger().info(f"commands {response.message}")
        return response

    @property
    def enabled(self) -> bool:
        return self._enabled

    # -------------------------------------------------------------- poses in

    def _on_poses(self, msg: PoseKeypoints33Array) -> None:
        now = self.get_clock().now()
        stamp = _stamp_s(msg.header.stamp)
        if stamp == 0.0:  # unset stamps: fall back to the receipt time
            stamp = now.nanoseconds * 1e-9
        with self._lock:
            min_score = float(self._values["min_pose_score"])
            inputs, by_id = [], {}
            for pose in msg.poses:
                if pose.score < min_score:
                    continue
                by_id[pose.id] = pose
                inputs.append((pose.id, keypoints_array(pose)))
            states = self._people.update(inputs, stamp)
            for pid in self._people.forget(stamp):
                self._publish_none(pid, msg.header)
            self._last_rx = now
            self._last_stamp = stamp
            self._select_operator(states, by_id)
            for pid, st in states.items():
                self._maybe_publish(st, by_id[pid].header if by_id[pid].header.frame_id else msg.header, now)

    def _select_operator(self, states: dict[int, GestureState], by_id: dict[int, PoseKeypoints33]) -> None:
        valid = {pid: st for pid, st in states.items() if st.valid}
        if self._operator not in valid:
            new = max(valid, key=lambda pid: valid[pid].torso_px, default=None)
            if new != self._operator:
                self.get_logger().info(f"operator: person {new}" if new is not None else "operator lost")
            self._operator = new
        if self._operator is None:
            self._operator_msg, self._operator_state, self._stop_seen = None, None, False
            return
        st = valid[self._operator]
        self._operator_msg, self._operator_state = by_id[self._operator], st
        enter = self.gesture_map.recognizer.enter_confidence
        self._stop_seen = any(
            st.raw.get(g, 0.0) >= enter or st.name == g for g in self.gesture_map.stop_gestures
        )

    def _maybe_publish(self, st: GestureState, header, now: Time) -> None:
        last = self._last_published.get(st.person_id)
        period_ns = 1e9 / float(self._values["gesture_rate"])
        due = last is not None and st.name != NONE and (now - last[1]).nanoseconds >= period_ns
        if last is None and st.name == NONE:
            self._last_published[st.person_id] = (NONE, now)  # nothing to announce yet
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
            self._last_published[st.person_id] = (st.name, now)

    def _publish_none(self, pid: int, header) -> None:
        last = self._last_published.pop(pid, None)
        if last is not None and last[0] != NONE:
            g = Gesture(person_id=int(pid), gesture=NONE, confidence=0.0, held_duration=0.0)
            g.header = header
            self._gesture_pub.publish(g)

    # -------------------------------------------------------------- control loop

    def _on_tick(self) -> None:
        now = self.get_clock().now()
        with self._lock:
            dt = 1.0 / float(self._values["control_rate"])
            if self._last_tick is not None:
                dt = min(max((now - self._last_tick).nanoseconds * 1e-9, 0.0), 2.0 * dt)
            self._last_tick = now
            target, reason = self._target(now)
            if reason != self._reason:
                self.get_logger().info(f"control: {reason}")
                self._reason = reason
            if target is None:  # a safety stop: immediately zero
                self._velocity = np.zeros(3)
            else:
                v = self._values
                lim = Limits(
                    float(v["max_linear_speed"]),
                    float(v["max_angular_speed"]),
                    float(v["max_linear_accel"]),
                    float(v["max_angular_accel"]),
                )
                self._velocity = limit_velocity(self._velocity, target, dt, lim)
            if not self._enabled:
                return
            t = Twist()
            t.linear.x, t.linear.y, t.angular.z = (float(x) for x in self._velocity)
            self._cmd_pub.publish(t)

    def _target(self, now: Time) -> tuple[np.ndarray | None, str]:
        """The velocity to move towards, or None for an immediate stop; plus the reason."""
        v = self._values
        if self._last_rx is None:
            return None, "no poses received yet"
        if (now - self._last_rx).nanoseconds * 1e-9 > float(v["pose_timeout"]):
            self._timeout_people()
            return None, f"no poses for more than {v['pose_timeout']} s"
        max_age = float(v["max_stamp_age"])
        if (
            max_age > 0
            and self._last_stamp is not None
            and now.nanoseconds * 1e-9 - self._last_stamp > max_age
        ):
            return None, f"pose stamps older than {max_age} s"
        if self._operator is None or self._operator_state is None or self._operator_msg is None:
            return None, "no person"
        if self._stop_seen:
            if self._mode == "follow":
                self._mode = "gesture"
                self.get_logger().info("stop gesture: follow mode off")
            return None, "stop gesture"
        st = self._operator_state
        cmd = self.gesture_map.commands.get(st.name)
        if cmd is not None and cmd.action == "follow" and st.confidence >= float(v["min_confidence"]):
            if self._mode != "follow":
                self.get_logger().info(f"{st.name}: follow mode on")
            self._mode = "follow"
        if self._mode == "follow":
            vel, src = follow_command(
                self._operator_msg,
                float(v["follow_distance"]),
                float(v["follow_linear_gain"]),
                float(v["follow_angular_gain"]),
                float(v["follow_distance_deadband"]),
                float(v["follow_angle_deadband"]),
                float(v["camera_hfov"]),
                bool(v["follow_allow_reverse"]),
                self.gesture_map.recognizer.min_visibility,
            )
            return vel, f"following person {self._operator} ({src})"
        if st.name == NONE:
            return np.zeros(3), "no gesture"
        if st.confidence < float(v["min_confidence"]):
            return None, f"{st.name} confidence below min_confidence"
        if cmd is None or cmd.action is not None:
            return np.zeros(3), f"{st.name}: no velocity command"
        return np.array([cmd.linear_x, cmd.linear_y, cmd.angular_z]), f"{st.name} command"

    def _timeout_people(self) -> None:
        """Poses stopped: everyone's gesture ends now."""
        if not self._last_published and self._operator is None:
            return
        for pid in list(self._last_published):
            self._publish_none(pid, self._operator_msg.header if self._operator_msg else Gesture().header)
        self._people.clear()
        self._operator, self._operator_msg, self._operator_state, self._stop_seen = None, None, None, False

    def stop_robot(self) -> None:
        """Publish a zero velocity (on shutdown) if commands are enabled."""
        if self._enabled and rclpy.ok(context=self.context):
            self._cmd_pub.publish(Twist())


def main(argv: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; a zero cmd_vel is sent on the way out."""
    args = sys.argv if argv is None else argv
    # Own signal handling so the node is still alive to send the final zero velocity.
    stop = init_with_stop_event(args)
    node: GestureNode | None = None
    try:
        try:
            node = GestureNode()
        except ValueError as e:
            rclpy.logging.get_logger("gesture_node").error(f"cannot start: {e}")
            return 1
        while not stop.is_set() and rclpy.ok():
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.stop_robot()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
