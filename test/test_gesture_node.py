"""gesture_node: configuration, control helpers, and the node over real DDS in its own process.

The DDS tests publish poses of two real people from bus.jpg (bus_a = the operator, bus_b = a
bystander; keypoints from this project's pipeline, arms re-posed) and check cmd_vel, ~/state,
~/gesture and /diagnostics of gesture_node running in its own process.

To check that a scenario test fails on an older node, point GESTURE_NODE_UNDER_TEST at a copy of
that node's gesture_node.py (e.g. ``git show <rev>:blazepose_ros/ros/gesture_node.py``)."""

from __future__ import annotations

import math
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from blazepose_ros.msg import (  # noqa: E402
    Gesture,
    Keypoint,
    OperatorState,
    PoseKeypoints33,
    PoseKeypoints33Array,
)
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import Point, Twist, TwistStamped  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.msg import ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import GetParameters, SetParameters  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402

from blazepose_ros.ros.gesture_node import (  # noqa: E402
    Limits,
    follow_command,
    limit_velocity,
    load_gesture_map,
)

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import gesture_poses as gp  # noqa: E402

# tests are marked one by one: the file has unit tests (map, helpers) and DDS tests

ROOT = HERE.parent
CONFIG = ROOT / "config" / "gestures.yaml"
BASES = gp.load_bases()
BASE = BASES["bus_a"]  # a real person in bus.jpg (810 x 1080): the operator
BYSTANDER_BASE = BASES["bus_b"]  # another real person in bus.jpg (smaller torso)
IMAGE_W, IMAGE_H = 810, 1080
PERSON = 7
BYSTANDER = 8
FRAME = "camera_optical_frame"


def pose_kp(gesture: str, base: np.ndarray = BASE) -> np.ndarray:
    if gesture == "hands_on_head":
        return gp.hands_on_head(base)
    left, right = gp.STATIC_POSES[gesture]
    return gp.pose(base, left, right)


# ------------------------------------------------------------------ configuration file


@pytest.mark.unit
def test_package_gesture_map():
    gm = load_gesture_map(CONFIG)
    assert gm.stop_gestures == {"arms_crossed", "t_pose"}
    assert gm.commands["both_arms_up"].linear_x > 0
    # the person's left is the robot's right when facing it: turn right (negative yaw)
    assert gm.commands["pointing_left"].angular_z < 0 < gm.commands["pointing_right"].angular_z
    assert gm.commands["wave_left"].action == "follow"
    assert gm.recognizer.min_hold_s == pytest.approx(0.4)
    assert load_gesture_map("").commands == {}


@pytest.mark.unit
@pytest.mark.parametrize(
    "text,match",
    [
        ("commands:\n  jazz_hands: {linear_x: 1}\n", "unknown gesture 'jazz_hands'"),
        ("commands:\n  t_pose: {action: dance}\n", "unknown action"),
        ("commands:\n  t_pose: {action: stop, linear_x: 1}\n", "both an action and a velocity"),
        ("commands:\n  t_pose: {linear_z: 1}\n", "unknown keys"),
        ("commands:\n  t_pose: {linear_x: fast}\n", "not a number"),
        ("recognizer:\n  min_hold: 1\n", "min_hold"),
        ("recognizer:\n  enter_confidence: 0.2\n", "exit_confidence"),
        ("speed: 3\n", "unknown top-level"),
        ("commands: [\n", "not valid YAML"),
    ],
)
def test_gesture_map_errors(tmp_path, text, match):
    f = tmp_path / "g.yaml"
    f.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_gesture_map(f)
    with pytest.raises(ValueError, match="cannot read"):
        load_gesture_map(tmp_path / "missing.yaml")


# ------------------------------------------------------------------ control helpers


@pytest.mark.unit
def test_limit_velocity():
    lim = Limits(max_linear=0.5, max_angular=1.0, max_linear_accel=1.0, max_angular_accel=2.0)
    out = limit_velocity(np.zeros(3), np.array([2.0, 0.0, -5.0]), 0.1, lim)
    np.testing.assert_allclose(out, [0.1, 0.0, -0.2])
    v = np.zeros(3)
    for _ in range(20):
        v = limit_velocity(v, np.array([2.0, 0.0, -5.0]), 0.1, lim)
    np.testing.assert_allclose(v, [0.5, 0.0, -1.0])
    # linear speed limited as a vector
    v = limit_velocity(np.zeros(3), np.array([3.0, 4.0, 0.0]), 10.0, lim)
    assert math.hypot(v[0], v[1]) == pytest.approx(0.5)
    # deceleration limited too
    out = limit_velocity(np.array([0.5, 0.0, 0.0]), np.zeros(3), 0.05, lim)
    assert out[0] == pytest.approx(0.45)
    # a lowered speed limit holds for the very next command (no ramp down from above it)
    low = Limits(max_linear=0.1, max_angular=0.2, max_linear_accel=0.5, max_angular_accel=0.5)
    out = limit_velocity(np.array([0.3, 0.0, 0.8]), np.array([0.2, 0.0, 0.8]), 0.05, low)
    np.testing.assert_allclose(out, [0.1, 0.0, 0.2])


def pose_msg(kp: np.ndarray, stamp: float, score: float = 0.99, camera_hip=None, pid: int = PERSON,
             frame_id: str = FRAME) -> PoseKeypoints33:
    m = PoseKeypoints33()
    m.header.frame_id = frame_id
    ns = round(stamp * 1e9)
    m.header.stamp.sec, m.header.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
    m.id = pid
    m.score = float(score)
    m.keypoints = [
        Keypoint(x=float(r[0]), y=float(r[1]), z=float(r[2]), visibility=float(r[3]), presence=float(r[4]))
        for r in kp
    ]
    m.image_width, m.image_height = IMAGE_W, IMAGE_H
    if camera_hip is not None:
        x, z = camera_hip
        m.has_camera_points = True
        pts = [Point(x=x, y=0.0, z=z) for _ in range(33)]
        pts[23] = Point(x=x - 0.1, y=0.0, z=z)
        pts[24] = Point(x=x + 0.1, y=0.0, z=z)
        m.camera_points = pts
    return m


FOLLOW = dict(
    distance=1.5,
    linear_gain=0.6,
    angular_gain=1.5,
    distance_deadband=0.1,
    angle_deadband=0.05,
    hfov=1.2,
    allow_reverse=False,
)


@pytest.mark.unit
def test_follow_command_3d_and_image():
    kp = pose_kp("none")
    v, src = follow_command(pose_msg(kp, 1.0, camera_hip=(0.6, 3.0)), **FOLLOW)
    assert src == "3d"
    assert v[0] == pytest.approx(0.6 * (1.5 - 0.1))  # too far: forward
    assert v[2] < 0  # person to the camera's right: turn right
    v, _ = follow_command(pose_msg(kp, 1.0, camera_hip=(0.0, 1.0)), **FOLLOW)
    assert v[0] == 0.0 and v[2] == 0.0  # too close, no reverse; centred
    v, _ = follow_command(pose_msg(kp, 1.0, camera_hip=(0.0, 1.0)), **{**FOLLOW, "allow_reverse": True})
    assert v[0] < 0
    # image only: bus_a stands in the left part of bus.jpg -> turn left, no forward motion
    v, src = follow_command(pose_msg(kp, 1.0), **FOLLOW)
    assert src == "image" and v[0] == 0.0 and v[2] > 0
    centred = kp.copy()
    centred[:, 0] += IMAGE_W / 2 - (kp[23, 0] + kp[24, 0]) / 2
    v, _ = follow_command(pose_msg(centred, 1.0), **FOLLOW)
    assert v[2] == 0.0
    hidden = kp.copy()
    hidden[[11, 12, 23, 24], 3] = 0.1
    v, src = follow_command(pose_msg(hidden, 1.0), **FOLLOW)
    assert not v.any() and "no visible" in src


# ------------------------------------------------------------------ the node over DDS

Make = Callable[[float], "PoseKeypoints33 | list[PoseKeypoints33Array] | None"]


def array(poses: list[PoseKeypoints33], frame_id: str | None = None) -> PoseKeypoints33Array:
    arr = PoseKeypoints33Array(poses=poses)
    if poses:
        arr.header = poses[0].header
    if frame_id is not None:
        arr.header.frame_id = frame_id
    return arr


class Harness:
    """Runs gesture_node in a child process; this process publishes poses and records outputs."""

    def __init__(self, python: str, env: dict, params: dict[str, object], tag: str) -> None:
        self.ns = f"/gtest_{tag}"
        self.node_name = f"/gesture_node_{tag}"
        under_test = env.get("GESTURE_NODE_UNDER_TEST")
        args = [python, under_test] if under_test else [python, "-m", "blazepose_ros.ros.gesture_node"]
        args += ["--ros-args", "-r", f"__node:=gesture_node_{tag}", "-r", f"poses:={self.ns}/poses",
                 "-r", f"cmd_vel:={self.ns}/cmd_vel", "-r", f"/diagnostics:={self.ns}/diagnostics"]
        for k, v in params.items():
            args += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
        # output to a file, not a pipe: a full pipe would block the child
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.closed = False
        self.node = rclpy.create_node(f"gesture_test_{tag}")
        self.gestures: list[tuple[float, Gesture]] = []
        self.cmds: list[tuple[float, Twist]] = []  # the Twist (of a TwistStamped too)
        self.stamped: list[TwistStamped] = []
        self.states: list[tuple[float, OperatorState]] = []
        self.diags: list[dict[str, str]] = []
        self.pub = self.node.create_publisher(PoseKeypoints33Array, f"{self.ns}/poses", 10)
        self.node.create_subscription(
            Gesture, f"{self.node_name}/gesture", lambda m: self.gestures.append((time.monotonic(), m)), 50
        )
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        if params.get("cmd_vel_stamped", True):
            def on_stamped(m: TwistStamped) -> None:
                self.stamped.append(m)
                self.cmds.append((time.monotonic(), m.twist))

            self.node.create_subscription(TwistStamped, f"{self.ns}/cmd_vel", on_stamped, reliable)
        else:
            self.node.create_subscription(
                Twist, f"{self.ns}/cmd_vel", lambda m: self.cmds.append((time.monotonic(), m)), reliable
            )
        self.latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                                  durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(OperatorState, f"{self.node_name}/state",
                                      lambda m: self.states.append((time.monotonic(), m)), self.latched)
        self.node.create_subscription(DiagnosticArray, f"{self.ns}/diagnostics", self._on_diag, 10)
        self.enable_cli = self.node.create_client(SetBool, f"{self.node_name}/enable")
        self.param_cli = self.node.create_client(SetParameters, f"{self.node_name}/set_parameters")
        self.get_param_cli = self.node.create_client(GetParameters, f"{self.node_name}/get_parameters")

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for st in msg.status:
            self.diags.append({kv.key: kv.value for kv in st.values} | {"_message": st.message})

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            if self.enable_cli.service_is_ready() and self.pub.get_subscription_count() > 0:
                return
            rclpy.spin_once(self.node, timeout_sec=0.1)
        pytest.fail("gesture_node did not come up within the timeout")

    def spin_until(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert self.proc.poll() is None, self.output()
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for {what}\n{self.output()[-3000:]}")
            rclpy.spin_once(self.node, timeout_sec=0.02)

    def call(self, client, request, timeout: float = 10.0):
        fut = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not fut.done() and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.05)
        assert fut.done(), "service call timed out"
        return fut.result()

    def enable(self, on: bool) -> None:
        res = self.call(self.enable_cli, SetBool.Request(data=on))
        assert res.success

    def set_param(self, name: str, value) -> tuple[bool, str]:
        pv = ParameterValue()
        if isinstance(value, bool):
            pv.type, pv.bool_value = ParameterType.PARAMETER_BOOL, value
        elif isinstance(value, float):
            pv.type, pv.double_value = ParameterType.PARAMETER_DOUBLE, value
        else:
            pv.type, pv.string_value = ParameterType.PARAMETER_STRING, str(value)
        res = self.call(self.param_cli, SetParameters.Request(parameters=[ParameterMsg(name=name, value=pv)]))
        r = res.results[0]
        return r.successful, r.reason

    def get_param(self, name: str):
        res = self.call(self.get_param_cli, GetParameters.Request(names=[name]))
        v = res.values[0]
        return {ParameterType.PARAMETER_STRING: v.string_value, ParameterType.PARAMETER_BOOL: v.bool_value,
                ParameterType.PARAMETER_DOUBLE: v.double_value}.get(v.type)

    def pump(self, seconds: float, make: Make | None, alive: bool = True) -> float:
        """Publish ``make(stamp)`` at 30 Hz for ``seconds`` (None = publish nothing); returns start time.

        ``make`` returns one PoseKeypoints33 (sent alone in an array), a list of arrays, or None."""
        start = time.monotonic()
        next_pub = start
        while (now := time.monotonic()) < start + seconds:
            assert not alive or self.proc.poll() is None, self.output()
            if make is not None and now >= next_pub:
                out = make(time.time())
                for arr in [array([out])] if isinstance(out, PoseKeypoints33) else (out or []):
                    self.pub.publish(arr)
                next_pub += 1 / 30
            rclpy.spin_once(self.node, timeout_sec=0.005)
        return start

    def cmds_since(self, t: float) -> list[tuple[float, Twist]]:
        return [(ts, m) for ts, m in self.cmds if ts >= t]

    def cmds_after_change(self, t: float) -> list[tuple[float, Twist]]:
        """Commands from ``IN_FLIGHT_S`` after the scene changed at ``t``: the node's control
        timer may publish once more on the previous poses before the new ones arrive."""
        return self.cmds_since(t + IN_FLIGHT_S)

    def gestures_since(self, t: float) -> list[tuple[float, Gesture]]:
        return [(ts, m) for ts, m in self.gestures if ts >= t]

    def reasons_since(self, t: float) -> list[str]:
        return [m.reason for ts, m in self.states if ts >= t]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGINT) -> tuple[int | None, str]:
        """Signal the child and wait for it (killed after 15 s); returns (exit code, output)."""
        rc = None
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        return rc, self.output()

    def close(self) -> tuple[int | None, str]:
        rc, out = self.stop()
        if not self.closed:
            self.closed = True
            self.node.destroy_node()
            self.log.close()
        return rc, out


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture
def harness(ros, ros_env, python, request):
    made: list[Harness] = []

    def make(params: dict[str, object]) -> Harness:
        h = Harness(
            python,
            ros_env,
            params,
            tag=re.sub(r"[^a-z0-9]+", "_", f"{request.node.name[5:25]}_{len(made)}".lower()),
        )
        made.append(h)
        h.wait_ready()
        return h

    yield make
    for h in made:
        h.close()


def gesture_source(name: str, **kw) -> Callable[[float], PoseKeypoints33]:
    kp = pose_kp(name)
    rng = np.random.default_rng(0)
    return lambda stamp: pose_msg(gp.jitter(kp, rng, 1.0), stamp, **kw)


def scene(operator: str | None, bystander: str | None = None, frame_id: str = FRAME,
          operator_score: float = 0.99, stamp_offset: float = 0.0, camera_hip=None) -> Make:
    """Both real people in one frame: the operator (id 7, bus_a) and a bystander (id 8, bus_b)."""
    op_kp = pose_kp(operator) if operator else None
    by_kp = pose_kp(bystander, BYSTANDER_BASE) if bystander else None

    def make(stamp: float) -> list[PoseKeypoints33Array]:
        s = stamp + stamp_offset
        poses = []
        if op_kp is not None:
            poses.append(pose_msg(op_kp, s, operator_score, camera_hip, PERSON, frame_id))
        if by_kp is not None:
            poses.append(pose_msg(by_kp, s, 0.99, camera_hip and (-camera_hip[0], camera_hip[1]), BYSTANDER,
                                  frame_id))
        arr = array(poses, frame_id)
        arr.header.stamp = pose_msg(BASE, s).header.stamp
        return [arr]

    return make


def waving(camera_hip=None, base: np.ndarray = BASE, pid: int = PERSON) -> Make:
    start: list[float] = []

    def make(stamp: float) -> PoseKeypoints33:
        start.append(stamp)
        el = 90.0 + 25.0 * math.sin(2 * math.pi * 1.3 * (stamp - start[0]))
        kp = gp.set_arm(gp.set_arm(base, "right", *gp.DOWN), "left", 85.0, el)
        return pose_msg(kp, stamp, camera_hip=camera_hip, pid=pid)

    return make


COMMON = {"pose_timeout": 0.4, "max_linear_accel": 2.0, "control_rate": 20.0, "gesture_rate": 5.0,
          "cmd_vel_stamped": False, "enabled_at_start": True}
# two control periods at COMMON's control_rate: a command published on the poses before a change
IN_FLIGHT_S = 2 / 20.0


def engage(h: Harness, bystander: str | None = None) -> None:
    """The operator raises the right arm for 1.5 s (engage_hold 1 s), then lowers it."""
    h.pump(1.5, scene("right_arm_up", bystander))
    h.pump(0.6, scene("none", bystander))


def moving(cmds: list[tuple[float, Twist]]) -> list[Twist]:
    return [m for _, m in cmds if m.linear.x != 0.0 or m.linear.y != 0.0 or m.angular.z != 0.0]


@pytest.mark.dds
def test_gestures_commands_stop_and_timeout(harness):
    h = harness({**COMMON, "enabled_at_start": False})
    # disabled at start: gestures are published, commands are not
    t0 = h.pump(1.3, gesture_source("both_arms_up"))
    gs = [m for _, m in h.gestures_since(t0)]
    assert gs and {m.gesture for m in gs} == {"both_arms_up"}
    assert all(m.person_id == PERSON and m.confidence >= 0.6 for m in gs)
    assert gs[0].header.frame_id == "camera_optical_frame"
    assert 3 <= len(gs) <= 7  # on change, then at ~5 Hz while held
    assert not h.cmds, "cmd_vel published while disabled"

    h.enable(True)
    engage(h)
    t1 = h.pump(1.2, gesture_source("both_arms_up"))
    cmds = h.cmds_since(t1)
    assert len(cmds) >= 15  # ~20 Hz
    xs = [m.linear.x for _, m in cmds]
    assert xs[-1] == pytest.approx(0.2, abs=1e-6)  # the mapped speed
    steps = np.diff([0.0, *xs])
    assert steps.max() <= 2.0 * 0.1 + 1e-6  # acceleration limit (2 m/s², ≤ 2 ticks apart)
    assert all(m.angular.z == 0.0 for _, m in cmds)

    # the stop gesture: zero at once, before its hold time, without a ramp
    t2 = h.pump(1.0, gesture_source("arms_crossed"))
    cmds = h.cmds_since(t2)
    first_zero = next(ts for ts, m in cmds if m.linear.x == 0.0)
    assert first_zero - t2 < 0.3
    assert all(m.linear.x == 0.0 for ts, m in cmds if ts >= first_zero)
    assert any(m.gesture == "arms_crossed" for _, m in h.gestures_since(t2))

    h.pump(1.0, gesture_source("both_arms_up"))
    assert h.cmds[-1][1].linear.x > 0.1

    # poses stop: zero within the timeout, and the gesture ends
    t3 = h.pump(1.0, None)
    cmds = h.cmds_since(t3)
    first_zero = next(ts for ts, m in cmds if m.linear.x == 0.0)
    assert first_zero - t3 <= 0.4 + 0.25
    assert all(m.linear.x == 0.0 for ts, m in cmds if ts >= first_zero)
    assert [m.gesture for _, m in h.gestures_since(t3)] == ["none"]
    assert "no_poses" in h.reasons_since(t3)

    rc, out = h.stop(signal.SIGINT)
    assert rc == 0 and "Traceback" not in out, out


# ------------------------------------------------------------------ engagement and the lock


@pytest.mark.dds
def test_nobody_commands_until_engaged_then_disengage_gesture(harness):
    h = harness(COMMON)
    # a held both_arms_up (mapped to 0.2 m/s) commands nothing before anyone engaged
    t0 = h.pump(1.5, scene("both_arms_up", "both_arms_up"))
    assert len(h.cmds_since(t0)) >= 15 and not moving(h.cmds_since(t0))
    h.spin_until(lambda: h.states and h.states[-1][1].reason == "no_operator", 5, "reason no_operator")
    # the operator engages; the raised arm itself commands nothing
    t1 = h.pump(1.5, scene("right_arm_up", "none"))
    assert not moving(h.cmds_since(t1))
    eng = [m for ts, m in h.states if ts >= t1 and m.engaged]
    assert eng and eng[0].operator_id == PERSON and eng[0].operator_frame_id == FRAME
    assert "awaiting_release" in h.reasons_since(t1)
    h.pump(0.6, scene("none", "none"))
    t2 = h.pump(1.0, scene("both_arms_up", "none"))
    assert h.cmds_since(t2)[-1][1].linear.x == pytest.approx(0.2)
    assert h.states[-1][1].reason == "commanding"
    # disengage: arms crossed held 1.5 s (a stop at once, then disengaged)
    t3 = h.pump(2.3, scene("arms_crossed", "none"))
    assert not h.states[-1][1].engaged and h.states[-1][1].reason in ("no_operator", "stop_gesture")
    t4 = h.pump(1.0, scene("both_arms_up", "none"))
    assert not moving(h.cmds_after_change(t3)) and not moving(h.cmds_since(t4))
    assert "disengaged" in h.output() and "disengage gesture arms_crossed" in h.output()


@pytest.mark.dds
@pytest.mark.parametrize("dropout", ["missing", "low_score"])
def test_one_dropped_frame_does_not_hand_control_to_a_bystander(harness, dropout):
    """Was: after one dropped frame (or one frame with score 0.3) of the operator, the bystander
    took control; their both_arms_up kept the robot driving at 0.2 m/s."""
    h = harness({**COMMON, "operator_timeout": 3.0})
    engage(h, bystander="none")
    h.pump(1.0, scene("none", "both_arms_up"))
    sent = [False]

    def one_dropout(stamp: float):
        if not sent[0]:
            sent[0] = True
            return scene(None if dropout == "missing" else "none", "both_arms_up", operator_score=0.3)(stamp)
        return scene("none", "both_arms_up")(stamp)

    t0 = h.pump(2.0, one_dropout)
    cmds = h.cmds_since(t0)
    assert len(cmds) >= 20 and not moving(cmds), "the bystander's gesture drove the robot"
    assert h.states[-1][1].operator_id == PERSON and h.states[-1][1].engaged
    # the operator is still obeyed
    t1 = h.pump(1.0, scene("both_arms_up", "none"))
    assert h.cmds_since(t1)[-1][1].linear.x == pytest.approx(0.2)


@pytest.mark.dds
def test_operator_timeout_and_only_an_engaging_person_takes_over(harness):
    h = harness({**COMMON, "operator_timeout": 1.0})
    engage(h, bystander="none")
    t0 = h.pump(0.8, scene(None, "both_arms_up"))  # the operator is gone
    assert "operator_lost" in h.reasons_since(t0)
    lost = [m for ts, m in h.states if ts >= t0 and m.reason == "operator_lost"]
    assert lost[0].engaged and lost[0].operator_id == PERSON
    t1 = h.pump(1.5, scene(None, "both_arms_up"))
    assert not h.states[-1][1].engaged and h.states[-1][1].reason == "no_operator"
    assert not moving(h.cmds_since(t0))
    # the bystander engages and then commands
    h.pump(1.5, scene(None, "left_arm_up"))
    assert h.states[-1][1].engaged and h.states[-1][1].operator_id == BYSTANDER
    h.pump(0.6, scene(None, "none"))
    t2 = h.pump(1.0, scene(None, "both_arms_up"))
    assert moving(h.cmds_since(t2)) and not moving(h.cmds_since(t1)[:5])


@pytest.mark.dds
def test_stop_from_anyone_and_restricted_to_the_operator(harness):
    h = harness(COMMON)
    engage(h, bystander="none")
    h.pump(1.0, scene("both_arms_up", "none"))
    assert h.cmds[-1][1].linear.x == pytest.approx(0.2)
    t0 = h.pump(0.6, scene("both_arms_up", "arms_crossed"))  # the bystander stops the robot
    cmds = h.cmds_since(t0)
    first_zero = next(ts for ts, m in cmds if m.linear.x == 0.0)
    assert first_zero - t0 < 0.3 and not moving([(ts, m) for ts, m in cmds if ts >= first_zero])
    assert "stop_gesture" in h.reasons_since(t0)
    # the operator's old gesture does not start the robot again; a new one does
    t1 = h.pump(1.0, scene("both_arms_up", "none"))
    assert not moving(h.cmds_since(t1)) and h.states[-1][1].reason == "awaiting_release"
    h.pump(0.6, scene("none", "none"))
    h.pump(1.0, scene("both_arms_up", "none"))
    assert h.cmds[-1][1].linear.x == pytest.approx(0.2)
    # restricted to the operator: the bystander's stop is ignored, the operator's is not
    assert h.set_param("stop_from_anyone", False)[0]
    t2 = h.pump(1.0, scene("both_arms_up", "arms_crossed"))
    assert h.cmds_since(t2)[-1][1].linear.x == pytest.approx(0.2)
    t3 = h.pump(0.5, scene("t_pose", "none"))
    assert "stop_gesture" in h.reasons_since(t3)


@pytest.mark.dds
def test_follow_mode_follows_only_the_operator(harness):
    """Was: when the followed person left and a stranger appeared, the robot followed the stranger."""
    h = harness({**COMMON, "max_angular_accel": 20.0, "max_angular_speed": 1.0, "operator_timeout": 1.0})
    engage(h)
    h.pump(2.5, waving(camera_hip=(0.6, 3.0)))
    still = pose_kp("none")
    t0 = h.pump(0.8, lambda stamp: pose_msg(still, stamp, camera_hip=(0.6, 3.0)))
    assert moving(h.cmds_since(t0))
    mode_while_following = h.get_param("mode")
    following = [m.reason for ts, m in h.states if ts >= t0]
    # the operator leaves; a stranger (another id) stands where they were
    stranger = pose_kp("none", BYSTANDER_BASE)
    t1 = h.pump(2.5, lambda stamp: pose_msg(stranger, stamp, camera_hip=(-0.6, 3.0), pid=BYSTANDER))
    cmds = h.cmds_after_change(t1)
    assert len(cmds) >= 30 and not moving(cmds), "followed the stranger"
    assert h.get_param("mode") == "gesture"  # disengaged: follow mode ended
    assert following == ["following"] and h.states[-1][1].reason == "no_operator"
    assert mode_while_following == "follow"


@pytest.mark.dds
def test_mode_parameter_tells_the_real_mode(harness):
    """Was: the mode parameter said 'follow' after a stop gesture switched follow mode off."""
    h = harness(COMMON)
    engage(h)
    assert h.set_param("mode", "follow")[0]
    t0 = h.pump(0.5, gesture_source("none", camera_hip=(0.6, 3.0)))
    assert moving(h.cmds_since(t0))  # following
    h.pump(0.6, gesture_source("arms_crossed", camera_hip=(0.6, 3.0)))
    assert h.get_param("mode") == "gesture"
    assert h.states[-1][1].mode == "gesture"
    ok, reason = h.set_param("mode", "dance")
    assert not ok and "mode" in reason


# ------------------------------------------------------------------ stamps, limits, sources


@pytest.mark.dds
@pytest.mark.parametrize("offset,reason", [(100.0, "future_stamp"), (-5.0, "stale_poses")])
def test_future_and_stale_stamps_are_refused(harness, offset, reason):
    """Was: poses stamped 100 s in the future passed the stale-stamp check and drove the robot."""
    h = harness(COMMON)
    engage(h)
    t0 = h.pump(1.5, scene("both_arms_up", stamp_offset=offset))
    cmds = h.cmds_since(t0)
    assert len(cmds) >= 15 and not moving(cmds)
    assert h.reasons_since(t0)[-1] == reason
    assert "refused" in h.output() and h.output().count("refused") <= 3  # rate-limited
    t1 = h.pump(1.0, scene("both_arms_up"))
    assert moving(h.cmds_since(t1))


@pytest.mark.dds
def test_a_lowered_speed_limit_clamps_the_next_command(harness):
    """Was: lowering max_linear_speed was obeyed only after ~0.5 s of deceleration."""
    h = harness({**COMMON, "max_linear_accel": 0.5, "max_linear_speed": 0.3})
    engage(h)
    h.pump(1.5, scene("both_arms_up"))
    assert h.cmds[-1][1].linear.x == pytest.approx(0.2)
    ok, _ = h.set_param("max_linear_speed", 0.05)
    assert ok
    t0 = time.monotonic()
    h.pump(0.6, scene("both_arms_up"))
    xs = [m.linear.x for _, m in h.cmds_since(t0)]
    assert len(xs) >= 8 and max(xs) <= 0.05 + 1e-9, xs


@pytest.mark.dds
def test_cmd_vel_twist_stamped_by_default_with_a_frame_id(harness):
    """Was: cmd_vel was plain Twist; diff_drive_controller on Jazzy and later wants TwistStamped."""
    h = harness({**COMMON, "cmd_vel_stamped": True, "cmd_vel_frame_id": "base_footprint"})
    engage(h)
    h.pump(1.0, scene("both_arms_up"))
    assert h.stamped and h.stamped[-1].header.frame_id == "base_footprint"
    assert h.stamped[-1].twist.linear.x == pytest.approx(0.2)
    now = time.time()
    s = h.stamped[-1].header.stamp
    assert abs(s.sec + s.nanosec * 1e-9 - now) < 2.0
    # plain Twist by parameter: see the other tests (cmd_vel_stamped:=false)


@pytest.mark.dds
def test_two_cameras_with_the_same_ids_on_one_topic(harness):
    """Was: two pose sources on one topic, both counting ids from 1, broke recognition silently."""
    h = harness(COMMON)
    kp_a, kp_b = pose_kp("right_arm_up"), pose_kp("pointing_right", BYSTANDER_BASE)

    def two_cameras(stamp: float) -> list[PoseKeypoints33Array]:
        a = pose_msg(kp_a, stamp, pid=1, frame_id="cam_left_optical_frame")
        b = pose_msg(kp_b, stamp + 0.01, pid=1, frame_id="cam_right_optical_frame")
        return [array([a]), array([b])]

    t0 = h.pump(2.0, two_cameras)
    got = {(m.header.frame_id, m.person_id, m.gesture) for _, m in h.gestures_since(t0)}
    assert ("cam_left_optical_frame", 1, "right_arm_up") in got
    assert ("cam_right_optical_frame", 1, "pointing_right") in got
    st = h.states[-1][1]
    assert st.engaged and (st.operator_frame_id, st.operator_id) == ("cam_left_optical_frame", 1)


@pytest.mark.dds
def test_ids_changing_every_frame_are_reported(harness):
    """Was: in static_image_mode (every frame a new id) no gesture was ever recognised, silently.
    Stable ids in static mode are the tracker's; the node now says why nothing is recognised."""
    h = harness(COMMON)
    kp = pose_kp("right_arm_up")
    next_id = iter(range(100, 10_000))
    t0 = h.pump(2.0, lambda stamp: pose_msg(kp, stamp, pid=next(next_id)))
    assert not moving(h.cmds_since(t0)) and not h.gestures_since(t0)
    out = h.output()
    assert "change every frame" in out and "static_image_mode" in out
    h.spin_until(lambda: any(d.get("unstable_id_sources") == FRAME for d in h.diags), 5,
                 "diagnostics naming the source with unstable ids")


@pytest.mark.dds
def test_bad_parameter_at_start_one_line_and_exit_code(python, ros_env):
    """Was: a bad parameter printed a 19-line traceback."""
    for args in (["-p", "mode:=dance"], ["-p", "max_linear_speed:=99.0"], ["-p", "engage_gestures:=wave"]):
        under_test = ros_env.get("GESTURE_NODE_UNDER_TEST")
        cmd = [python, under_test] if under_test else [python, "-m", "blazepose_ros.ros.gesture_node"]
        r = subprocess.run([*cmd, "--ros-args", *args], env=ros_env, capture_output=True, text=True,
                           timeout=60)
        out = (r.stdout + r.stderr).strip()
        assert r.returncode == 2, out
        assert "Traceback" not in out and len(out.splitlines()) == 1, out
        assert "cannot start" in out and args[1].split(":=")[0] in out


@pytest.mark.dds
def test_state_latched_and_diagnostics(harness, ros):
    h = harness({**COMMON, "enabled_at_start": False})
    h.spin_until(lambda: bool(h.states), 10, "the first ~/state")
    assert h.states[-1][1].reason == "disabled" and not h.states[-1][1].enabled
    h.enable(True)
    engage(h)
    h.pump(1.2, scene("both_arms_up"))
    assert h.states[-1][1].reason == "commanding"
    # a late subscriber gets the latest state at once (transient local)
    late: list[OperatorState] = []
    sub_node = rclpy.create_node("gesture_test_late")
    try:
        sub_node.create_subscription(OperatorState, f"{h.node_name}/state", late.append, h.latched)
        deadline = time.monotonic() + 10
        while not (late and late[-1].reason == "commanding") and time.monotonic() < deadline:
            rclpy.spin_once(sub_node, timeout_sec=0.05)  # the recent states (keep last 10), newest last
    finally:
        sub_node.destroy_node()
    assert late and late[-1].reason == "commanding" and late[-1].operator_id == PERSON
    assert len(late) <= 10 and late[0].reason != "commanding"  # history, then the current state
    t0 = len(h.diags)
    h.pump(2.2, scene("both_arms_up"))  # two full diagnostics periods of commanding
    d = h.diags[-1]
    assert len(h.diags) - t0 >= 2 and d["reason"] == "commanding", h.diags[t0:]
    assert d["operator"] == f"{FRAME}#{PERSON}" and d["mode"] == "gesture" and d["engaged"] == "true"
    assert 10.0 <= float(d["cmd_vel_rate_hz"]) <= 30.0 and float(d["cmd_vel_moving_rate_hz"]) > 5.0
    assert float(d["poses_rate_hz"]) > 10.0
    assert d["_message"] == "commanding"


@pytest.mark.dds
def test_sigterm_clean_exit_with_a_final_zero(harness):
    h = harness(COMMON)
    engage(h)
    h.pump(1.0, scene("both_arms_up"))
    assert moving(h.cmds[-3:])
    n = len(h.cmds)
    rc, out = h.stop(signal.SIGTERM)
    assert rc == 0 and "Traceback" not in out, out
    h.pump(0.3, None, alive=False)
    last = h.cmds[n:][-1][1] if h.cmds[n:] else None  # earlier ones may have been in flight
    assert last is not None and last.linear.x == 0.0 and last.angular.z == 0.0
