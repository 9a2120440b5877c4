"""The operator state machine (core/operator.py) on real poses: two real people from bus.jpg
(bus_a, bus_b; keypoints computed by this project's pipeline, arms re-posed by joint angles)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import gesture_poses as gp

from blazepose_ros.core.gestures import GestureConfig
from blazepose_ros.core.operator import (
    Command,
    Decision,
    Observation,
    OperatorConfig,
    OperatorControl,
    PersonKey,
    Reason,
    parse_gesture_list,
)

pytestmark = pytest.mark.unit

FPS = 30.0
BASES = gp.load_bases()
CAM = "camera_optical_frame"
COMMANDS = {
    "both_arms_up": Command(linear_x=0.2),
    "pointing_right": Command(angular_z=0.4),
    "arms_crossed": Command(action="stop"),
    "t_pose": Command(action="stop"),
    "wave_left": Command(action="follow"),
}
OP, BY = 1, 2  # tracker ids of the operator (bus_a) and the bystander (bus_b)


def kp(gesture: str, base: str = "bus_a") -> np.ndarray:
    b = BASES[base]
    if gesture == "hands_on_head":
        return gp.hands_on_head(b)
    left, right = gp.STATIC_POSES[gesture]
    return gp.pose(b, left, right)


def waving(t: float, base: str = "bus_a") -> np.ndarray:
    el = 90.0 + 25.0 * np.sin(2 * np.pi * 1.3 * t)
    return gp.set_arm(gp.set_arm(BASES[base], "right", *gp.DOWN), "left", 85.0, el)


Frame = Callable[[float], list[Observation]]


def people(**who: str | None) -> Frame:
    """A frame maker: operator=<gesture>, bystander=<gesture> (None = not in view)."""

    def make(t: float) -> list[Observation]:
        out = []
        for name, pid, base in (("operator", OP, "bus_a"), ("bystander", BY, "bus_b")):
            g = who.get(name)
            if g is None:
                continue
            keypoints = waving(t, base) if g == "wave" else kp(g, base)
            out.append(Observation(pid, 0.99, keypoints))
        return out

    return make


class Run:
    """Feeds frames at 30 Hz (stamp = node time) and ticks after each frame."""

    def __init__(self, ctl: OperatorControl | None = None, t0: float = 1000.0, **cfg) -> None:
        self.ctl = ctl or OperatorControl(OperatorConfig(**cfg), GestureConfig(), COMMANDS)
        self.t = t0
        self.log: list[Decision] = []

    def frames(self, seconds: float, make: Frame | None, frame_id: str = CAM,
               stamp_offset: float = 0.0) -> list[Decision]:
        out = []
        for _ in range(round(seconds * FPS)):
            self.t += 1 / FPS
            if make is not None:
                self.ctl.update(frame_id, self.t + stamp_offset, make(self.t), self.t)
            out.append(self.ctl.tick(self.t))
        self.log += out
        return out


def reasons(ds: list[Decision]) -> set[Reason]:
    return {d.reason for d in ds}


def moving(ds: list[Decision]) -> list[Decision]:
    return [d for d in ds if (d.target is not None and np.any(d.target != 0)) or d.follow]


def engage(r: Run, gesture: str = "right_arm_up", **others: str | None) -> None:
    """The operator holds the engage gesture until engaged, then lowers the arms."""
    ds = r.frames(1.8, people(operator=gesture, **others))
    assert r.ctl.operator == PersonKey(CAM, OP), [str(d.reason) for d in ds]
    assert not moving(ds)
    assert ds[-1].reason == Reason.AWAITING_RELEASE  # the engage gesture commands nothing
    r.frames(0.7, people(operator="none", **others))


# ------------------------------------------------------------------ engagement


def test_nobody_commands_before_engaging():
    r = Run()
    ds = r.frames(2.0, people(operator="both_arms_up", bystander="pointing_right"))
    assert reasons(ds) == {Reason.NO_OPERATOR} and not moving(ds)
    assert r.ctl.operator is None
    # the gesture states are still computed for everyone
    states = r.ctl.people()
    assert states[PersonKey(CAM, OP)].name == "both_arms_up"
    assert states[PersonKey(CAM, BY)].name == "pointing_right"


def test_engage_by_gesture_held_then_commands_after_release():
    r = Run()
    ds = r.frames(0.7, people(operator="right_arm_up"))
    assert r.ctl.operator is None  # held 0.7 s (recognised after 0.4 s) < engage_hold_s = 1 s
    ds = r.frames(1.0, people(operator="right_arm_up"))
    assert r.ctl.operator == PersonKey(CAM, OP)
    assert any("engaged camera_optical_frame#1 (right_arm_up held" in e for d in ds for e in d.events)
    assert ds[-1].reason == Reason.AWAITING_RELEASE and not moving(ds)
    ds = r.frames(0.7, people(operator="none"))
    assert ds[-1].reason == Reason.NO_GESTURE
    ds = r.frames(1.0, people(operator="both_arms_up"))
    assert ds[-1].reason == Reason.COMMANDING
    np.testing.assert_allclose(ds[-1].target, [0.2, 0.0, 0.0])


def test_a_short_raise_does_not_engage_and_breaking_the_hold_restarts_it():
    r = Run()
    for _ in range(3):
        r.frames(0.8, people(operator="right_arm_up"))
        r.frames(0.6, people(operator="none"))
    assert r.ctl.operator is None


def test_engage_when_alone():
    r = Run(engage_when_alone=True, engage_hold_s=1.0)
    r.frames(2.0, people(operator="none", bystander="none"))
    assert r.ctl.operator is None  # two people in view
    ds = r.frames(0.6, people(operator="none"))
    assert r.ctl.operator is None
    ds = r.frames(0.6, people(operator="none"))
    assert r.ctl.operator == PersonKey(CAM, OP)
    assert any("only person in view" in e for d in ds for e in d.events)
    ds = r.frames(1.0, people(operator="both_arms_up", bystander="none"))
    assert ds[-1].reason == Reason.COMMANDING


def test_the_first_to_engage_keeps_control_against_another_engage_gesture():
    r = Run()
    engage(r)
    r.frames(2.0, people(operator="none", bystander="left_arm_up"))
    assert r.ctl.operator == PersonKey(CAM, OP)
    ds = r.frames(1.0, people(operator="none", bystander="both_arms_up"))
    assert reasons(ds) == {Reason.NO_GESTURE} and not moving(ds)


# ------------------------------------------------------------------ the lock


@pytest.mark.parametrize("dropout", ["missing", "low_score"])
def test_operator_lost_for_one_frame_zero_at_once_and_no_hand_over(dropout):
    """Today's bug: one dropped frame (or score 0.3) handed control to the bystander."""
    r = Run()
    engage(r, bystander="none")
    ds = r.frames(1.0, people(operator="both_arms_up", bystander="both_arms_up"))
    assert ds[-1].reason == Reason.COMMANDING
    # one frame without the operator (or with a score of 0.3)
    r.t += 1 / FPS
    obs = people(bystander="both_arms_up")(r.t)
    if dropout == "low_score":
        obs.append(Observation(OP, 0.3, kp("both_arms_up")))
    r.ctl.update(CAM, r.t, obs, r.t)
    d = r.ctl.tick(r.t)
    assert d.reason == Reason.OPERATOR_LOST and d.target is None and d.operator == PersonKey(CAM, OP)
    # the bystander keeps gesturing; the operator's stop gesture is obeyed when they are back
    ds = r.frames(0.5, people(operator="arms_crossed", bystander="both_arms_up"))
    assert ds[0].reason == Reason.STOP_GESTURE and not moving(ds)
    assert r.ctl.operator == PersonKey(CAM, OP)


def test_operator_timeout_disengages_and_nobody_inherits_control():
    r = Run(operator_timeout_s=2.0)
    engage(r)
    ds = r.frames(1.5, people(bystander="both_arms_up"))
    assert reasons(ds) == {Reason.OPERATOR_LOST} and r.ctl.operator is not None
    assert ds[-1].lost_for == pytest.approx(1.5, abs=0.05)
    ds = r.frames(1.0, people(bystander="both_arms_up"))
    assert r.ctl.operator is None and ds[-1].reason == Reason.NO_OPERATOR
    assert any("disengaged camera_optical_frame#1 (not seen for 2 s)" in e for d in ds for e in d.events)
    ds = r.frames(1.0, people(bystander="both_arms_up", operator="both_arms_up"))
    assert not moving(ds) and r.ctl.operator is None  # the old operator must engage again, too


def test_operator_back_within_timeout_keeps_control():
    r = Run(operator_timeout_s=2.0)
    engage(r)
    r.frames(1.2, people(bystander="none"))
    ds = r.frames(1.0, people(operator="both_arms_up", bystander="none"))
    assert r.ctl.operator == PersonKey(CAM, OP) and ds[-1].reason == Reason.COMMANDING


def test_disengage_gesture():
    r = Run(disengage_hold_s=1.5)
    engage(r)
    ds = r.frames(1.0, people(operator="arms_crossed"))
    assert reasons(ds) == {Reason.STOP_GESTURE} and r.ctl.operator is not None
    ds = r.frames(1.0, people(operator="arms_crossed"))
    assert r.ctl.operator is None
    assert any("disengage gesture arms_crossed" in e for d in ds for e in d.events)
    ds = r.frames(1.0, people(operator="both_arms_up"))
    assert ds[-1].reason == Reason.NO_OPERATOR and not moving(ds)


def test_follow_mode_follows_only_the_operator():
    """Today's bug: when the followed person leaves and a stranger appears, the robot follows the stranger."""
    r = Run(operator_timeout_s=1.0)
    engage(r)
    ds = r.frames(2.5, lambda t: people(operator="wave")(t))
    assert r.ctl.mode == "follow" and ds[-1].follow and ds[-1].reason == Reason.FOLLOWING
    ds = r.frames(0.5, people(operator="none"))
    assert all(d.follow and d.operator == PersonKey(CAM, OP) for d in ds)
    ds = r.frames(3.0, people(bystander="none"))  # the operator leaves, a stranger appears
    assert not any(d.follow for d in ds)
    assert ds[0].reason == Reason.OPERATOR_LOST and ds[-1].reason == Reason.NO_OPERATOR
    assert r.ctl.mode == "gesture"  # disengaging ends follow mode


# ------------------------------------------------------------------ stop from anyone


def test_stop_from_anyone_and_the_operators_old_gesture_must_end():
    r = Run()
    engage(r, bystander="none")
    r.frames(1.0, people(operator="both_arms_up", bystander="none"))
    ds = r.frames(0.5, people(operator="both_arms_up", bystander="t_pose"))
    # the first frame of the bystander's stop gesture stops the robot (no hold time)
    assert ds[0].reason == Reason.STOP_GESTURE and ds[0].target is None
    assert reasons(ds) == {Reason.STOP_GESTURE}
    ds = r.frames(1.0, people(operator="both_arms_up", bystander="none"))
    # the recogniser reports t_pose for release_s more, then: not driving again on the old gesture
    assert reasons(ds) == {Reason.STOP_GESTURE, Reason.AWAITING_RELEASE} and not moving(ds)
    assert ds[-1].reason == Reason.AWAITING_RELEASE
    r.frames(0.7, people(operator="none", bystander="none"))
    ds = r.frames(1.0, people(operator="both_arms_up", bystander="none"))
    assert ds[-1].reason == Reason.COMMANDING


def test_stop_restricted_to_the_operator():
    r = Run(stop_from_anyone=False)
    engage(r, bystander="none")
    ds = r.frames(1.0, people(operator="both_arms_up", bystander="arms_crossed"))
    assert ds[-1].reason == Reason.COMMANDING
    ds = r.frames(0.3, people(operator="t_pose", bystander="none"))
    assert ds[0].reason == Reason.STOP_GESTURE


def test_stop_ends_follow_mode():
    r = Run()
    engage(r, bystander="none")
    r.frames(2.5, lambda t: people(operator="wave", bystander="none")(t))
    assert r.ctl.mode == "follow"
    r.frames(0.2, people(operator="none", bystander="arms_crossed"))
    ds = r.frames(1.0, people(operator="none", bystander="none"))
    assert r.ctl.mode == "gesture" and not any(d.follow for d in ds)


def test_a_stop_gesture_prevents_engagement():
    r = Run()
    r.frames(2.0, people(operator="right_arm_up", bystander="arms_crossed"))
    assert r.ctl.operator is None


# ------------------------------------------------------------------ stamps and sources


@pytest.mark.parametrize("offset,reason", [(100.0, Reason.FUTURE_STAMP), (-5.0, Reason.STALE_POSES)])
def test_stamps_in_the_future_or_too_old_are_refused(offset, reason):
    """Today's bug: poses stamped 100 s in the future drove the robot."""
    r = Run()
    engage(r)
    ds = r.frames(1.0, people(operator="both_arms_up"), stamp_offset=offset)
    assert reasons(ds) == {reason} and not moving(ds)
    ds = r.frames(1.0, people(operator="both_arms_up"))
    assert ds[-1].reason == Reason.COMMANDING
    # nobody engages on refused stamps either
    r2 = Run()
    r2.frames(2.0, people(operator="right_arm_up"), stamp_offset=offset)
    assert r2.ctl.operator is None


def test_within_the_future_tolerance_is_accepted():
    r = Run(max_future_s=0.5)
    engage(r)
    ds = r.frames(1.0, people(operator="both_arms_up"), stamp_offset=0.3)
    assert ds[-1].reason == Reason.COMMANDING


def test_two_sources_with_the_same_ids_do_not_collide():
    """Today's bug: two cameras counting ids from 1 on one topic broke recognition silently."""
    r = Run()
    cam_a, cam_b = "cam_a_optical_frame", "cam_b_optical_frame"
    ctl = r.ctl
    t = r.t
    for _ in range(round(2.0 * FPS)):  # interleaved, stamps 10 ms apart; both people have id 1
        t += 1 / FPS
        ctl.update(cam_a, t, [Observation(1, 0.99, kp("right_arm_up", "bus_a"))], t)
        ctl.update(cam_b, t + 0.01, [Observation(1, 0.99, kp("pointing_right", "bus_b"))], t + 0.01)
        ctl.tick(t + 0.01)
    states = ctl.people()
    assert states[PersonKey(cam_a, 1)].name == "right_arm_up"
    assert states[PersonKey(cam_b, 1)].name == "pointing_right"
    assert ctl.operator == PersonKey(cam_a, 1)
    for _ in range(round(1.0 * FPS)):
        t += 1 / FPS
        ctl.update(cam_a, t, [Observation(1, 0.99, kp("none", "bus_a"))], t)
        ctl.update(cam_b, t + 0.01, [Observation(1, 0.99, kp("both_arms_up", "bus_b"))], t + 0.01)
        d = ctl.tick(t + 0.01)
        assert d.target is None or not np.any(d.target)  # camera B's person 1 is not the operator
    assert d.reason == Reason.NO_GESTURE


def test_no_poses_and_mode_changes():
    r = Run(pose_timeout_s=0.5)
    engage(r)
    r.frames(0.3, people(operator="none"))
    ds = r.frames(0.6, None)
    assert ds[-1].reason == Reason.NO_POSES
    assert r.ctl.operator is not None  # still waiting for operator_timeout
    ctl = OperatorControl(commands=COMMANDS)
    assert ctl.tick(0.0).reason == Reason.NO_POSES
    ctl.set_mode("follow")
    assert ctl.mode == "follow" and ctl.tick(0.0).events == ("mode follow",)
    with pytest.raises(ValueError, match="mode"):
        ctl.set_mode("dance")


def test_config_validation():
    with pytest.raises(ValueError, match="unknown gestures"):
        OperatorConfig(engage_gestures=frozenset({"jazz_hands"}))
    with pytest.raises(ValueError, match="nobody could ever engage"):
        OperatorConfig(engage_gestures=frozenset())
    with pytest.raises(ValueError, match="also stop or disengage"):
        OperatorConfig(engage_gestures=frozenset({"t_pose"}))
    with pytest.raises(ValueError, match="operator_timeout_s"):
        OperatorConfig(operator_timeout_s=-1.0)
    assert parse_gesture_list(" left_arm_up, right_arm_up ", "x") == {"left_arm_up", "right_arm_up"}
    assert parse_gesture_list("", "x") == frozenset()
    with pytest.raises(ValueError, match="engage_gestures: unknown gestures"):
        parse_gesture_list("left_arm_up,wave", "engage_gestures")


def test_a_stop_ends_with_the_gesture_not_after_its_release_tail():
    r = Run()
    engage(r, bystander="none")
    r.frames(0.5, people(operator="none", bystander="t_pose"))
    ds = r.frames(0.2, people(operator="none", bystander="none"))
    # the recogniser still reports t_pose for release_s (0.25 s), but below its exit threshold
    assert ds[-1].reason == Reason.NO_GESTURE, [str(d.reason) for d in ds]


def test_ids_that_change_every_frame_are_reported():
    """pose_node in static_image_mode gives every frame new ids: nothing can be recognised."""
    ctl = OperatorControl(commands=COMMANDS)
    t = 0.0
    for i in range(10):
        t += 1 / FPS
        ctl.update(CAM, t, [Observation(100 + i, 0.99, kp("right_arm_up"))], t)
        assert ctl.unstable_ids(CAM) == (i >= 5)
    assert ctl.operator is None and not ctl.unstable_ids("other_frame")
    ctl.update(CAM, t + 0.03, [Observation(109, 0.99, kp("right_arm_up"))], t + 0.03)
    assert not ctl.unstable_ids(CAM)  # a stable id again
