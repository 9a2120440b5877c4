"""gesture_node: configuration, control helpers, and the node over real DDS in its own process."""

from __future__ import annotations

import math
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

from blazepose_ros.msg import Gesture, Keypoint, PoseKeypoints33, PoseKeypoints33Array  # noqa: E402
from geometry_msgs.msg import Point, Twist  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.msg import ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
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

ROOT = HERE.parent
CONFIG = ROOT / "config" / "gestures.yaml"
BASE = gp.load_bases()["bus_a"]  # a real person in bus.jpg (810 x 1080)
IMAGE_W, IMAGE_H = 810, 1080
PERSON = 7


def pose_kp(gesture: str) -> np.ndarray:
    if gesture == "hands_on_head":
        return gp.hands_on_head(BASE)
    left, right = gp.STATIC_POSES[gesture]
    return gp.pose(BASE, left, right)


# ------------------------------------------------------------------ configuration file


def test_package_gesture_map():
    gm = load_gesture_map(CONFIG)
    assert gm.stop_gestures == {"arms_crossed", "t_pose"}
    assert gm.commands["both_arms_up"].linear_x > 0
    # the person's left is the robot's right when facing it: turn right (negative yaw)
    assert gm.commands["pointing_left"].angular_z < 0 < gm.commands["pointing_right"].angular_z
    assert gm.commands["wave_left"].action == "follow"
    assert gm.recognizer.min_hold_s == pytest.approx(0.4)
    assert load_gesture_map("").commands == {}


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


def pose_msg(kp: np.ndarray, stamp: float, score: float = 0.99, camera_hip=None) -> PoseKeypoints33:
    m = PoseKeypoints33()
    m.header.frame_id = "camera_optical_frame"
    m.header.stamp.sec = int(stamp)
    m.header.stamp.nanosec = round((stamp - int(stamp)) * 1e9) % 1_000_000_000
    m.id = PERSON
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


class Harness:
    """Runs gesture_node in a child process; this process publishes poses and records outputs."""

    def __init__(self, python: str, env: dict, params: dict[str, object], tag: str) -> None:
        self.ns = f"/gtest_{tag}"
        args = [
            python,
            "-m",
            "blazepose_ros.ros.gesture_node",
            "--ros-args",
            "-r",
            f"__node:=gesture_node_{tag}",
            "-r",
            f"poses:={self.ns}/poses",
            "-r",
            f"cmd_vel:={self.ns}/cmd_vel",
        ]
        for k, v in params.items():
            args += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
        # output to a file, not a pipe: a full pipe would block the child
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.closed = False
        self.node = rclpy.create_node(f"gesture_test_{tag}")
        self.gestures: list[tuple[float, Gesture]] = []
        self.cmds: list[tuple[float, Twist]] = []
        self.pub = self.node.create_publisher(PoseKeypoints33Array, f"{self.ns}/poses", 10)
        node_name = f"/gesture_node_{tag}"
        self.node.create_subscription(
            Gesture, f"{node_name}/gesture", lambda m: self.gestures.append((time.monotonic(), m)), 50
        )
        self.node.create_subscription(
            Twist,
            f"{self.ns}/cmd_vel",
            lambda m: self.cmds.append((time.monotonic(), m)),
            QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE),
        )
        self.enable_cli = self.node.create_client(SetBool, f"{node_name}/enable")
        self.param_cli = self.node.create_client(SetParameters, f"{node_name}/set_parameters")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            if self.enable_cli.service_is_ready() and self.pub.get_subscription_count() > 0:
                return
            rclpy.spin_once(self.node, timeout_sec=0.1)
        pytest.fail("gesture_node did not come up within the timeout")

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

    def pump(
        self, seconds: float, make: Callable[[float], PoseKeypoints33 | None] | None, alive: bool = True
    ) -> float:
        """Publish ``make(stamp)`` at 30 Hz for ``seconds`` (None = publish nothing); returns start time."""
        start = time.monotonic()
        next_pub = start
        while (now := time.monotonic()) < start + seconds:
            assert not alive or self.proc.poll() is None, self.output()
            if make is not None and now >= next_pub:
                msg = make(time.time())
                if msg is not None:
                    arr = PoseKeypoints33Array(poses=[msg])
                    arr.header = msg.header
                    self.pub.publish(arr)
                next_pub += 1 / 30
            rclpy.spin_once(self.node, timeout_sec=0.005)
        return start

    def cmds_since(self, t: float) -> list[tuple[float, Twist]]:
        return [(ts, m) for ts, m in self.cmds if ts >= t]

    def gestures_since(self, t: float) -> list[tuple[float, Gesture]]:
        return [(ts, m) for ts, m in self.gestures if ts >= t]

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
            tag=f"{request.node.name[:20]}_{len(made)}".replace("[", "_").replace("]", "").replace("-", "_"),
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


COMMON = {"pose_timeout": 0.4, "max_linear_accel": 2.0, "control_rate": 20.0, "gesture_rate": 5.0}


def test_gestures_commands_stop_and_timeout(harness):
    h = harness(COMMON)
    # disabled at start: gestures are published, commands are not
    t0 = h.pump(1.3, gesture_source("both_arms_up"))
    gs = [m for _, m in h.gestures_since(t0)]
    assert gs and {m.gesture for m in gs} == {"both_arms_up"}
    assert all(m.person_id == PERSON and m.confidence >= 0.6 for m in gs)
    assert gs[0].header.frame_id == "camera_optical_frame"
    assert 3 <= len(gs) <= 7  # on change, then at ~5 Hz while held
    assert not h.cmds, "cmd_vel published while disabled"

    h.enable(True)
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

    rc, out = h.stop(signal.SIGINT)
    assert rc == 0 and "Traceback" not in out, out


def test_safety_low_score_stale_stamps_disable_and_parameters(harness):
    h = harness({**COMMON, "enabled_at_start": True, "min_pose_score": 0.5})
    # a low pose score: nobody to obey
    t0 = h.pump(1.2, gesture_source("both_arms_up", score=0.3))
    cmds = h.cmds_since(t0)
    assert cmds and all(m.linear.x == 0.0 for _, m in cmds)
    assert not h.gestures_since(t0)

    # stamps 5 s old (a lagging pipeline) -> zero, even though a gesture is recognised
    kp = pose_kp("both_arms_up")
    t1 = h.pump(1.5, lambda stamp: pose_msg(kp, stamp - 5.0))
    assert all(m.linear.x == 0.0 for _, m in h.cmds_since(t1))

    # parameters: invalid values rejected with a reason, valid ones applied
    ok, reason = h.set_param("mode", "dance")
    assert not ok and "mode" in reason
    ok, reason = h.set_param("max_linear_speed", 99.0)
    assert not ok
    ok, reason = h.set_param("control_rate", 50.0)
    assert not ok  # read-only
    ok, _ = h.set_param("max_linear_speed", 0.1)
    assert ok
    t2 = h.pump(1.5, gesture_source("both_arms_up"))
    xs = [m.linear.x for _, m in h.cmds_since(t2)]
    assert max(xs) == pytest.approx(0.1, abs=1e-6)

    # disabling sends one zero, then silence
    h.enable(False)
    t3 = time.monotonic()
    h.pump(0.8, gesture_source("both_arms_up"))
    after = h.cmds_since(t3)
    assert len(after) <= 2 and all(m.linear.x == 0.0 for _, m in after)


def test_follow_mode_and_pointing(harness):
    h = harness({**COMMON, "enabled_at_start": True, "max_angular_accel": 20.0, "max_angular_speed": 1.0})
    # pointing to the person's left -> the robot turns right (config/gestures.yaml)
    t0 = h.pump(1.2, gesture_source("pointing_left"))
    assert h.cmds_since(t0)[-1][1].angular.z == pytest.approx(-0.4)

    # a wave switches to follow mode; person 3 m away, 0.6 m to the camera's right
    def waving(stamp: float, _start=[None]) -> PoseKeypoints33:  # noqa: B006
        _start[0] = _start[0] or stamp
        el = 90.0 + 25.0 * math.sin(2 * math.pi * 1.3 * (stamp - _start[0]))
        kp = gp.set_arm(gp.set_arm(BASE, "right", *gp.DOWN), "left", 85.0, el)
        return pose_msg(kp, stamp, camera_hip=(0.6, 3.0))

    h.pump(2.5, waving)
    assert any(m.gesture == "wave_left" for _, m in h.gestures)
    still = pose_kp("none")
    t1 = h.pump(1.0, lambda stamp: pose_msg(still, stamp, camera_hip=(0.6, 3.0)))
    last = h.cmds_since(t1)[-1][1]
    assert last.linear.x > 0.2 and last.angular.z < -0.2  # forward, turning right towards the person
    assert h.set_param("mode", "follow")[0]

    # the stop gesture ends follow mode: zero, and it stays zero with the arms down afterwards
    h.pump(0.8, gesture_source("arms_crossed", camera_hip=(0.6, 3.0)))
    t2 = h.pump(1.0, lambda stamp: pose_msg(still, stamp, camera_hip=(0.6, 3.0)))
    assert all(m.linear.x == 0.0 and m.angular.z == 0.0 for _, m in h.cmds_since(t2))

    # SIGTERM: clean exit, with a final zero velocity
    n = len(h.cmds)
    rc, out = h.stop(signal.SIGTERM)
    assert rc == 0 and "Traceback" not in out, out
    h.pump(0.3, None, alive=False)
    assert all(m.linear.x == 0.0 and m.angular.z == 0.0 for _, m in h.cmds[n:])
