"""Gesture recogniser on real poses (BlazePose keypoints of real people) with articulated arms."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import gesture_poses as gp

from blazepose_ros.core.gestures import (
    GESTURES,
    STATIC_GESTURES,
    GestureConfig,
    GestureRecognizer,
    MultiPersonGestures,
    _WaveTracker,
    body_frame,
    config_from_mapping,
    static_scores,
)

pytestmark = pytest.mark.unit

FPS = 30.0
BASES = gp.load_bases()
BASE_NAMES = sorted(BASES)
CFG = GestureConfig()


def gesture_pose(base: str, gesture: str) -> np.ndarray:
    b = BASES[base]
    if gesture == "hands_on_head":
        return gp.hands_on_head(b)
    left, right = gp.STATIC_POSES[gesture]
    return gp.pose(b, left, right)


def run(frames, t0: float = 100.0, rec: GestureRecognizer | None = None, fps: float = FPS):
    """Feed frames (arrays or None) at ``fps``; returns the recogniser and the list of states."""
    rec = rec or GestureRecognizer(CFG)
    states = [rec.update(kp, t0 + i / fps) for i, kp in enumerate(frames)]
    return rec, states


def jittered(kp: np.ndarray, n: int, seed: int = 0, rel: float = 0.01) -> list[np.ndarray]:
    """n frames of the pose with Gaussian pixel noise of ``rel`` torso lengths."""
    rng = np.random.default_rng(seed)
    px = rel * gp.frame_of(kp).torso
    return [gp.jitter(kp, rng, px) for _ in range(n)]


def names(states) -> list[str]:
    return [s.name for s in states]


def transitions(states) -> list[str]:
    out = [states[0].name]
    for s in states[1:]:
        if s.name != out[-1]:
            out.append(s.name)
    return out


# ---------------------------------------------------------------- the base poses are real


def test_base_poses_come_from_the_pipeline():
    """The cached keypoints are what the project's pipeline computes on the real images."""
    live = gp.run_pipeline()
    assert sorted(live) == BASE_NAMES
    for name in BASE_NAMES:
        np.testing.assert_allclose(live[name][:, :2], BASES[name][:, :2], atol=2.0, err_msg=name)
        np.testing.assert_allclose(live[name][:, 3], BASES[name][:, 3], atol=0.05, err_msg=name)


def test_base_poses_are_plausible_people():
    for name, kp in BASES.items():
        assert kp.shape == (33, 5)
        bf = body_frame(kp, CFG)
        assert bf is not None and bf.facing_camera and bf.lateral_ok, name
        assert bf.torso_px > 100, name
        assert bf.pts[0, 1] > 0.0, f"{name}: nose above the shoulders"
    # one base with hidden hips exercises the shoulder-width fallback
    assert BASES["zidane_left"][[23, 24], 3].max() < CFG.min_visibility


# ---------------------------------------------------------------- static gestures


@pytest.mark.parametrize("base", BASE_NAMES)
@pytest.mark.parametrize("gesture", [*STATIC_GESTURES, "none"])
def test_static_gesture_recognised_after_hold(base, gesture):
    frames = jittered(gesture_pose(base, gesture), 36, seed=hash((base, gesture)) % 1000)
    _, states = run(frames)
    assert states[-1].name == gesture, (states[-1].name, dict(states[-1].candidates))
    assert transitions(states) == (["none", gesture] if gesture != "none" else ["none"])
    if gesture != "none":
        first = names(states).index(gesture)
        # not before the minimum hold time (plus the score smoothing delay)
        assert first / FPS >= CFG.min_hold_s
        assert first / FPS <= CFG.min_hold_s + 0.3
        assert states[-1].confidence >= CFG.enter_confidence
        assert states[-1].held_duration >= CFG.min_hold_s
        assert states[first].changed and not states[-1].changed
    # nothing else is ever a candidate
    for s in states:
        others = [g for g in STATIC_GESTURES if g != gesture and s.raw[g] >= CFG.exit_confidence]
        assert not others, others


@pytest.mark.parametrize("base", ["bus_a", "zidane_left"])
@pytest.mark.parametrize(
    "left,right,forbidden",
    [
        ((135.0, 0.0), (8.0, 0.0), "left_arm_up"),  # raised only 45° above horizontal
        ((135.0, 0.0), (135.0, 0.0), "both_arms_up"),
        ((150.0, 90.0), (8.0, 0.0), "left_arm_up"),  # high but strongly bent
        ((90.0, 0.0), (50.0, 0.0), "t_pose"),  # one arm drooping
        ((90.0, 60.0), (8.0, 0.0), "pointing_left"),  # out to the side but bent
        ((55.0, 0.0), (8.0, 0.0), "pointing_left"),  # 35° below horizontal
        ((90.0, 0.0), (100.0, 0.0), "pointing_left"),  # other arm not hanging (that is a T)
        ((5.0, -45.0), (5.0, -45.0), "arms_crossed"),  # hands together in front, not crossing
        ((5.0, -105.0), (8.0, 0.0), "arms_crossed"),  # only one forearm across
        ((120.0, 0.0), (120.0, 0.0), "hands_on_head"),
    ],
)
def test_near_misses_do_not_fire(base, left, right, forbidden):
    frames = jittered(gp.pose(BASES[base], left, right), 45, seed=3)
    _, states = run(frames)
    assert forbidden not in {s.name for s in states}
    assert all(s.raw[forbidden] < CFG.enter_confidence for s in states)


@pytest.mark.parametrize("base", BASE_NAMES)
def test_hands_near_but_not_on_head(base):
    b = BASES[base]
    f = gp.frame_of(b)
    head = b[[0, 7, 8], :2].mean(axis=0)
    # hands held up well away from the head (0.8 torso to the sides)
    kp = gp.place_wrist(b, "left", head + f.torso * (0.2 * f.up + 0.8 * f.left))
    kp = gp.place_wrist(kp, "right", head + f.torso * (0.2 * f.up - 0.8 * f.left))
    _, states = run(jittered(kp, 40))
    assert "hands_on_head" not in names(states)


# ---------------------------------------------------------------- occlusion, scale, view


@pytest.mark.parametrize("gesture", STATIC_GESTURES)
@pytest.mark.parametrize("joint", ["wrist", "elbow"])
def test_low_visibility_blocks_gesture(gesture, joint):
    kp = gesture_pose("bus_a", gesture).copy()
    idx = {"wrist": (gp.LW, gp.RW), "elbow": (gp.LE, gp.RE)}[joint]
    # occlude the arm the gesture depends on (the right one for right-sided gestures)
    side = 1 if gesture.endswith("right") or gesture == "right_arm_up" else 0
    kp[idx[side], 3] = 0.2
    _, states = run(jittered(kp, 40))
    assert gesture not in names(states)
    assert states[-1].name == "none"


def test_hands_on_head_needs_the_face():
    kp = gesture_pose("bus_b", "hands_on_head").copy()
    kp[[0, 7, 8], 3] = 0.1
    _, states = run(jittered(kp, 40))
    assert "hands_on_head" not in names(states)


def test_hidden_shoulders_give_no_gesture_and_invalid_state():
    kp = gesture_pose("bus_a", "both_arms_up").copy()
    kp[gp.LS, 3] = 0.1
    _, states = run(jittered(kp, 40))
    assert set(names(states)) == {"none"} and not states[-1].valid


@pytest.mark.parametrize("gesture", STATIC_GESTURES)
@pytest.mark.parametrize("factor", [0.25, 0.5, 2.5])
def test_far_and_close_give_the_same_gesture(gesture, factor):
    base = "bus_b" if factor < 1 else "bus_a"
    kp = gp.scale_about_hips(gesture_pose(base, gesture), factor, shift=(37.0, -12.0))
    _, states = run(jittered(kp, 36, seed=5))
    assert states[-1].name == gesture
    assert states[-1].torso_px == pytest.approx(factor * gp.frame_of(BASES[base]).torso, rel=0.05)


def test_too_far_is_ignored():
    kp = gp.scale_about_hips(gesture_pose("bus_a", "both_arms_up"), 0.06)  # torso ~10 px
    _, states = run(jittered(kp, 36, rel=0.0))
    assert set(names(states)) == {"none"} and not states[-1].valid


@settings(max_examples=40, deadline=None)
@given(
    factor=st.floats(0.2, 4.0),
    dx=st.floats(-500, 500),
    dy=st.floats(-500, 500),
    gesture=st.sampled_from([*STATIC_GESTURES, "none"]),
    base=st.sampled_from(BASE_NAMES),
)
def test_scores_invariant_to_distance_and_position(factor, dx, dy, gesture, base):
    kp = gesture_pose(base, gesture)
    a = static_scores(body_frame(kp, CFG), CFG)
    b = static_scores(body_frame(gp.scale_about_hips(kp, factor, (dx, dy)), CFG), CFG)
    for g in STATIC_GESTURES:
        assert b[g] == pytest.approx(a[g], abs=1e-3), g


@pytest.mark.parametrize("gesture", STATIC_GESTURES)
def test_person_seen_from_behind_keeps_own_left_right(gesture):
    """Mirroring the image without relabelling = the same person with their back to the camera."""
    kp = gesture_pose("zidane_right", gesture).copy()
    c = gp.frame_of(kp).hip_centre
    kp[:, 0] = 2 * c[0] - kp[:, 0]
    bf = body_frame(kp, CFG)
    assert bf is not None and not bf.facing_camera
    _, states = run(jittered(kp, 36))
    assert states[-1].name == gesture


@pytest.mark.parametrize("gesture", ["left_arm_up", "t_pose", "pointing_right", "arms_crossed"])
@pytest.mark.parametrize("roll_deg", [-20.0, 20.0])
def test_camera_roll(gesture, roll_deg):
    kp = gesture_pose("bus_a", gesture).copy()
    c = gp.frame_of(kp).hip_centre
    a = math.radians(roll_deg)
    r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    kp[:, :2] = (kp[:, :2] - c) @ r.T + c
    _, states = run(jittered(kp, 36))
    assert states[-1].name == gesture


def test_profile_view_disables_lateral_gestures():
    kp = gesture_pose("bus_a", "t_pose").copy()
    sh = (kp[gp.LS, :2] + kp[gp.RS, :2]) / 2
    kp[[gp.LS, gp.RS], 0] = sh[0] + np.array([2.0, -2.0])  # shoulders nearly overlap
    bf = body_frame(kp, CFG)
    assert bf is not None and not bf.lateral_ok
    assert static_scores(bf, CFG)["t_pose"] == 0.0


# ---------------------------------------------------------------- temporal behaviour


def test_short_gesture_below_hold_time_never_reported():
    up = gesture_pose("bus_a", "both_arms_up")
    down = gesture_pose("bus_a", "none")
    frames = jittered(down, 10) + jittered(up, int(0.25 * FPS)) + jittered(down, 30)
    _, states = run(frames)
    assert set(names(states)) == {"none"}


def test_dropouts_do_not_flicker_and_release_needs_time():
    up = gesture_pose("bus_b", "right_arm_up")
    down = gesture_pose("bus_b", "none")
    rng = np.random.default_rng(1)
    frames = []
    for i in range(120):  # every 4th frame a glitch: arm down, or the person missing
        if i % 4 == 3:
            frames.append(down if i % 8 == 3 else None)
        else:
            frames.append(gp.jitter(up, rng, 1.0))
    frames += [down] * 30
    _, states = run(frames)
    assert transitions(states) == ["none", "right_arm_up", "none"]
    last_up = max(i for i, s in enumerate(states) if s.name == "right_arm_up")
    released_after = (last_up + 1 - 120) / FPS
    assert CFG.release_s <= released_after <= CFG.release_s + 0.3


def test_noisy_pose_at_the_threshold_changes_at_most_once():
    """An arm hovering at the arm-up elevation threshold with heavy noise."""
    cfg = CFG
    # the elevation threshold 55° above horizontal = shoulder angle 145°
    kp = gp.pose(BASES["bus_a"], (145.0, 0.0), gp.DOWN)
    rng = np.random.default_rng(7)
    frames = []
    for _ in range(300):
        d = rng.normal(0.0, 6.0)
        frames.append(gp.set_arm(kp, "left", 145.0 + d, 0.0))
    _, states = run(frames)
    assert len(transitions(states)) <= 3  # none -> left_arm_up -> none at most, never a flicker
    changes = sum(s.changed for s in states)
    assert changes <= 2
    assert cfg.enter_confidence > cfg.exit_confidence


def test_gap_and_time_going_back_restart_state():
    up = gesture_pose("bus_a", "both_arms_up")
    rec, states = run(jittered(up, 30))
    assert states[-1].name == "both_arms_up"
    s = rec.update(up, states[-1].stamp + 2.0)  # a 2 s gap
    assert s.name == "none" and s.held_duration == 0.0
    rec, states = run(jittered(up, 30))
    s = rec.update(up, states[-1].stamp - 5.0)  # a bag loop
    assert s.name == "none"
    assert rec.update(up, s.stamp) is s  # same stamp: same state


# ---------------------------------------------------------------- waving


def wave_frames(
    base: str,
    side: str,
    seconds: float,
    hz: float,
    amp_deg: float,
    arm=gp.WAVE_BASE,
    visibility: float = 0.95,
) -> list[np.ndarray]:
    other = "right" if side == "left" else "left"
    b = gp.set_arm(BASES[base], other, *gp.DOWN)
    out = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        elbow = arm[1] + amp_deg * math.sin(2 * math.pi * hz * t)
        out.append(gp.set_arm(b, side, arm[0], elbow, visibility=visibility))
    return out


@pytest.mark.parametrize("base", BASE_NAMES)
@pytest.mark.parametrize("side", ["left", "right"])
def test_wave(base, side):
    frames = wave_frames(base, side, 3.0, 1.3, 25.0)
    _, states = run(jittered_seq(frames))
    assert states[-1].name == f"wave_{side}"
    assert transitions(states) == ["none", f"wave_{side}"]
    first = names(states).index(f"wave_{side}")
    assert first / FPS < 1.6  # about 1.5 swings of a 1.3 Hz wave
    # and it ends after the swings stop (window + release)
    still = wave_frames(base, side, 3.0, 1.3, 0.0)
    rec = GestureRecognizer(CFG)
    _, s1 = run(frames, rec=rec)
    _, s2 = run(still, t0=s1[-1].stamp + 1 / FPS, rec=rec)
    assert s2[-1].name == "none"
    assert names(s2).index("none") / FPS <= CFG.wave_window_s + CFG.release_s + 0.3


def jittered_seq(frames: list[np.ndarray], seed: int = 11, rel: float = 0.01) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [gp.jitter(f, rng, rel * gp.frame_of(f).torso) for f in frames]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(hz=1.3, amp_deg=3.0),  # a trembling raised hand
        dict(hz=0.2, amp_deg=25.0),  # one slow sweep
        dict(hz=1.3, amp_deg=0.0),  # raised, still
        dict(hz=1.3, amp_deg=25.0, arm=(15.0, 0.0)),  # swinging a hanging arm
        dict(hz=1.3, amp_deg=25.0, visibility=0.2),  # waving hand not visible
    ],
)
def test_wave_near_misses(kwargs):
    frames = wave_frames("bus_a", "left", 3.0, **kwargs)
    _, states = run(jittered_seq(frames))
    assert not {"wave_left", "wave_right"} & set(names(states))


def test_wave_has_priority_over_static_arm_up():
    """Waving with a high arm: both wave_left and left_arm_up may be active; the wave is reported."""
    frames = wave_frames("bus_b", "left", 3.0, 1.5, 12.0, arm=(140.0, 25.0))
    _, states = run(jittered_seq(frames))
    assert states[-1].name == "wave_left"


def test_swing_counter():
    count = _WaveTracker.count_swings
    assert count([0, 0.1, 0.2, 0.3, 0.1, -0.1, 0.2], 0.15) == 3
    assert count([0, 0.05, 0.0, 0.05, 0.0], 0.15) == 0
    assert count([0, 0.2, float("nan"), 0.0], 0.15) == 2


# ---------------------------------------------------------------- people and configuration


def test_multi_person():
    mp = MultiPersonGestures(CFG, forget_after_s=0.5)
    a = jittered(gesture_pose("bus_a", "t_pose"), 30, seed=1)
    b = jittered(gesture_pose("bus_b", "arms_crossed"), 30, seed=2)
    out = {}
    for i in range(30):
        out = mp.update([(1, a[i]), (2, b[i])], 10.0 + i / FPS)
    assert out[1].name == "t_pose" and out[2].name == "arms_crossed"
    assert out[1].person_id == 1
    mp.update([(1, a[0])], 11.6)
    assert mp.forget(11.6) == [2]
    assert set(mp.people) == {1}


def test_config_from_mapping_and_validation():
    cfg = config_from_mapping({"min_hold_s": "0.2", "wave_min_swings": 4.0})
    assert cfg.min_hold_s == 0.2 and cfg.wave_min_swings == 4 and isinstance(cfg.wave_min_swings, int)
    assert config_from_mapping(None) == GestureConfig()
    with pytest.raises(ValueError, match="bogus"):
        config_from_mapping({"bogus": 1})
    with pytest.raises(ValueError):
        GestureConfig(enter_confidence=0.3, exit_confidence=0.5)
    with pytest.raises(ValueError):
        GestureConfig(min_hold_s=-1)


def test_hold_time_is_configurable():
    cfg = config_from_mapping({"min_hold_s": 1.0})
    up = gesture_pose("bus_a", "left_arm_up")
    _, states = run(jittered(up, 45), rec=GestureRecognizer(cfg))
    first = names(states).index("left_arm_up")
    assert 1.0 <= first / FPS <= 1.3


def test_gesture_names():
    assert len(GESTURES) == 10 and len(set(GESTURES)) == 10


def test_held_durations_of_every_active_gesture():
    """GestureState.held has the hold time of each active gesture, the reported one included."""
    kp = gesture_pose("bus_a", "both_arms_up")
    _, states = run(jittered(kp, 30))
    last = states[-1]
    assert last.name == "both_arms_up" and set(last.held) == set(last.active)
    assert last.held["both_arms_up"] == pytest.approx(last.held_duration)
    assert 0.5 < last.held_duration < 1.0
    _, states = run([None] * 3)
    assert states[-1].held == {}
