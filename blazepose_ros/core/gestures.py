"""ROS-free body-gesture recogniser working on BlazePose keypoints.

Conventions
-----------
* **Left / right are the person's own left and right** (BlazePose's ``LEFT_*`` keypoints).
  ``left_arm_up`` means the person raises their left arm, which for a person facing the
  camera appears on the *right* of the image.
* **pointing_left / pointing_right** mean the person points towards *their own* left /
  right with the arm on that side held out straight and horizontal (the other arm
  hanging down). For a person facing the camera, ``pointing_left`` points to the
  image's right; for a person with their back to the camera, to the image's left.
  The facing direction is read from the shoulders' order in the image; when the
  person is seen in profile (shoulders nearly overlapping) the gestures that need
  the lateral direction (t_pose, pointing_*, arms_crossed) are not reported.
* ``wave_left`` / ``wave_right``: the person's left / right forearm held up and
  swung side to side.

Geometry
--------
Keypoints (pixels, y down) are mapped into a *body frame*: origin at the shoulder
centre, "up" along the hip-centre -> shoulder-centre direction, "lateral" positive
towards the person's left, both in units of the torso length (shoulder centre to
hip centre, pixels). The features are therefore independent of the person's
distance to the camera, of their position in the image, of a mirrored view and of
a moderate camera roll. If the hips are not visible (upper-body framing), "up" is
the image's up and the torso length is estimated from the shoulder width.

Every static gesture is a set of conditions on the body-frame features. Each
condition gives a soft score ``clip(0.5 + (value - threshold) / width, 0, 1)``, 0.5
exactly at the threshold; the gesture's frame score is the minimum over its
conditions, and 0 when any keypoint it needs has visibility below
``GestureConfig.min_visibility``. Scores are smoothed over time (exponential, time
constant ``score_time_constant_s``); a gesture *enters* when its smoothed score stays
>= ``enter_confidence`` for ``min_hold_s`` and *leaves* when it stays below
``exit_confidence`` for ``release_s`` (hysteresis). The reported gesture is the
active one with the highest priority (waves before static gestures), then
confidence; it stays reported while it remains active.

Time is the pose stamp in seconds (image time), never wall time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace

import numpy as np

from .topology import Keypoint as Kp

__all__ = [
    "DYNAMIC_GESTURES",
    "GESTURES",
    "NONE",
    "STATIC_GESTURES",
    "BodyFrame",
    "GestureConfig",
    "GestureRecognizer",
    "GestureState",
    "MultiPersonGestures",
    "body_frame",
    "config_from_mapping",
    "static_scores",
]

NONE = "none"
STATIC_GESTURES: tuple[str, ...] = (
    "both_arms_up",
    "left_arm_up",
    "right_arm_up",
    "t_pose",
    "arms_crossed",
    "pointing_left",
    "pointing_right",
    "hands_on_head",
)
DYNAMIC_GESTURES: tuple[str, ...] = ("wave_left", "wave_right")
GESTURES: tuple[str, ...] = STATIC_GESTURES + DYNAMIC_GESTURES
_PRIORITY = {g: (1 if g in DYNAMIC_GESTURES else 0) for g in GESTURES}


@dataclass(frozen=True)
class GestureConfig:
    """All thresholds of the recogniser. Lengths are in torso lengths, angles in degrees, times in s."""

    # gating and body frame
    min_visibility: float = 0.5  # a keypoint counts only with visibility >= this
    min_torso_px: float = 12.0  # people smaller than this (pixels) are ignored
    shoulder_width_to_torso: float = 0.5  # torso length ~= shoulder width / this, when hips are hidden
    min_shoulder_width: float = 0.25  # below: seen in profile, lateral gestures disabled

    # one arm raised: wrist above the shoulder, shoulder->wrist steep, arm fairly straight
    arm_up_min_height: float = 0.5
    arm_up_min_elevation_deg: float = 55.0
    arm_up_min_extension: float = 0.75
    other_arm_max_height: float = 0.1  # "the other arm is not raised" (wrist height, for *_arm_up)

    # arm held out horizontally (t_pose, pointing_*)
    horizontal_max_elevation_deg: float = 25.0
    horizontal_min_extension: float = 0.85
    horizontal_min_reach: float = 0.6  # wrist distance outwards from the shoulder
    pointing_other_arm_max_height: float = -0.35  # the other wrist hangs below the shoulder by this

    # wrists crossed in front of the chest / face
    crossed_min_overlap: float = 0.08  # each wrist past the body midline towards the other side
    crossed_min_height: float = -0.75
    crossed_max_height: float = 0.7
    crossed_max_wrist_distance: float = 0.6

    # both hands on the head: bent arms, wrists high and near the head
    head_max_wrist_distance: float = 0.55  # from the head centre (mean of nose and ears)
    head_min_wrist_height: float = 0.25
    head_max_extension: float = 0.8

    # soft-score widths (value change from score 0.5 to 1.0 is width / 2)
    length_width: float = 0.2
    angle_width_deg: float = 20.0
    extension_width: float = 0.15

    # temporal behaviour
    score_time_constant_s: float = 0.1
    enter_confidence: float = 0.6
    exit_confidence: float = 0.4
    min_hold_s: float = 0.4
    release_s: float = 0.25
    max_gap_s: float = 0.5  # a longer gap between poses restarts the temporal state

    # waving: forearm raised (wrist above elbow) swinging sideways
    wave_window_s: float = 1.5
    wave_min_amplitude: float = 0.15  # swing from extreme to extreme, torso lengths
    wave_min_swings: int = 3  # e.g. out-in-out
    wave_min_raised_fraction: float = 0.7
    wave_min_forearm_rise: float = 0.1  # wrist above elbow by this
    wave_min_hold_s: float = 0.0  # the swing count already takes time
    wave_max_swing_rate: float = 7.0  # swings per second; faster = keypoint noise, not a wave (3.5 Hz)
    wave_smoothing_s: float = 0.04  # time constant of the forearm-offset low-pass before counting

    def __post_init__(self) -> None:
        if not 0.0 <= self.exit_confidence <= self.enter_confidence <= 1.0:
            raise ValueError("need 0 <= exit_confidence <= enter_confidence <= 1")
        for name in ("min_hold_s", "release_s", "score_time_constant_s", "wave_min_hold_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.wave_window_s <= 0 or self.max_gap_s <= 0 or self.wave_min_swings < 1:
            raise ValueError("wave_window_s, max_gap_s must be > 0 and wave_min_swings >= 1")
        if not 0.0 <= self.min_visibility <= 1.0:
            raise ValueError("min_visibility must be in [0, 1]")


def config_from_mapping(
    values: Mapping[str, object] | None, base: GestureConfig | None = None
) -> GestureConfig:
    """Build a GestureConfig from a mapping (e.g. the ``recognizer:`` block of gestures.yaml).

    Unknown keys raise ``ValueError`` naming them; values are converted to the field's type.
    """
    base = base or GestureConfig()
    if not values:
        return base
    types = {f.name: type(getattr(base, f.name)) for f in fields(GestureConfig)}
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ValueError(f"unknown gesture recognizer settings: {', '.join(unknown)}")
    return replace(base, **{k: types[k](v) for k, v in values.items()})  # type: ignore[call-arg]


def _soft(value: float, threshold: float, width: float) -> float:
    """0.5 at the threshold, 1 at threshold + width/2, 0 at threshold - width/2 (value >= threshold)."""
    if not math.isfinite(value):
        return 0.0
    return min(1.0, max(0.0, 0.5 + (value - threshold) / width))


@dataclass(frozen=True)
class BodyFrame:
    """Keypoints in the body frame (see module doc) plus per-keypoint visibility gates.

    pts: (33, 2) float64 -- (lateral towards the person's left, up), torso lengths,
        origin at the shoulder centre.
    ok: (33,) bool -- visibility >= min_visibility.
    torso_px: torso length in pixels.
    lateral_ok: False when the facing direction is unknown (profile view).
    facing_camera: True when the person's left shoulder is on the image's right.
    """

    pts: np.ndarray
    ok: np.ndarray
    torso_px: float
    lateral_ok: bool
    facing_camera: bool


def body_frame(keypoints: np.ndarray, cfg: GestureConfig) -> BodyFrame | None:
    """Map (33, >=4) keypoints (x, y pixels, z, visibility[, presence]) into the body frame.

    Returns None when the shoulders are not visible or the person is too small.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[0] != 33 or kp.shape[1] < 4:
        raise ValueError(f"keypoints must be (33, >=4), got {kp.shape}")
    xy = kp[:, :2]
    ok = (kp[:, 3] >= cfg.min_visibility) & np.all(np.isfinite(xy), axis=1)
    ls, rs, lh, rh = Kp.LEFT_SHOULDER, Kp.RIGHT_SHOULDER, Kp.LEFT_HIP, Kp.RIGHT_HIP
    if not (ok[ls] and ok[rs]):
        return None
    sh_mid = (xy[ls] + xy[rs]) / 2.0
    shoulder_px = float(np.linalg.norm(xy[ls] - xy[rs]))
    if ok[lh] and ok[rh]:
        up_vec = sh_mid - (xy[lh] + xy[rh]) / 2.0
        torso = float(np.linalg.norm(up_vec))
        if torso < 1e-6:
            return None
        up = up_vec / torso
    else:
        up = np.array([0.0, -1.0])
        torso = shoulder_px / cfg.shoulder_width_to_torso
    if not torso >= cfg.min_torso_px:
        return None
    image_right = np.array([-up[1], up[0]])  # up rotated 90° clockwise on screen
    rel = xy - sh_mid
    lat_img = rel @ image_right / torso  # + = image right (for an upright body)
    height = rel @ up / torso
    facing = bool(lat_img[ls] >= lat_img[rs])  # person's left shoulder on the image right
    lateral_ok = abs(lat_img[ls] - lat_img[rs]) >= cfg.min_shoulder_width
    lat = lat_img if facing else -lat_img
    return BodyFrame(np.stack([lat, height], axis=1), ok, torso, lateral_ok, facing)


@dataclass(frozen=True)
class _Arm:
    ok: bool
    height: float  # wrist above the shoulder
    reach_out: float  # wrist lateral distance from the shoulder, outwards
    elevation: float  # deg, shoulder->wrist above horizontal regardless of in/out, [-90, 90]
    out_elevation: float  # deg, shoulder->wrist angle from the outward horizontal, (-180, 180]
    extension: float  # |S->W| / (|S->E| + |E->W|), 1 = straight
    wrist: np.ndarray
    elbow: np.ndarray


def _arm(bf: BodyFrame, left: bool) -> _Arm:
    s, e, w = (
        (Kp.LEFT_SHOULDER, Kp.LEFT_ELBOW, Kp.LEFT_WRIST)
        if left
        else (Kp.RIGHT_SHOULDER, Kp.RIGHT_ELBOW, Kp.RIGHT_WRIST)
    )
    out = 1.0 if left else -1.0
    ps, pe, pw = bf.pts[s], bf.pts[e], bf.pts[w]
    d = pw - ps
    reach = float(d[0] * out)
    path = float(np.linalg.norm(pe - ps) + np.linalg.norm(pw - pe))
    ext = float(np.linalg.norm(d) / path) if path > 1e-9 else 0.0
    return _Arm(
        ok=bool(bf.ok[s] and bf.ok[e] and bf.ok[w]),
        height=float(d[1]),
        reach_out=reach,
        elevation=math.degrees(math.atan2(d[1], abs(d[0]))),
        out_elevation=math.degrees(math.atan2(d[1], reach)),
        extension=ext,
        wrist=pw,
        elbow=pe,
    )


def static_scores(bf: BodyFrame | None, cfg: GestureConfig) -> dict[str, float]:
    """Per-frame score in [0, 1] of every static gesture (0.5 = exactly at the thresholds)."""
    scores = dict.fromkeys(STATIC_GESTURES, 0.0)
    if bf is None:
        return scores
    lw, aw, ew = cfg.length_width, cfg.angle_width_deg, cfg.extension_width
    arms = {True: _arm(bf, True), False: _arm(bf, False)}

    def up(a: _Arm) -> float:
        return (
            min(
                _soft(a.height, cfg.arm_up_min_height, lw),
                _soft(a.elevation, cfg.arm_up_min_elevation_deg, aw),
                _soft(a.extension, cfg.arm_up_min_extension, ew),
            )
            if a.ok
            else 0.0
        )

    def not_raised(a: _Arm) -> float:
        return _soft(-a.height, -cfg.other_arm_max_height, lw) if a.ok else 0.0

    def hanging(a: _Arm) -> float:
        return _soft(-a.height, -cfg.pointing_other_arm_max_height, lw) if a.ok else 0.0

    def horizontal(a: _Arm) -> float:
        if not (a.ok and bf.lateral_ok):
            return 0.0
        return min(
            _soft(a.reach_out, cfg.horizontal_min_reach, lw),
            _soft(-abs(a.out_elevation), -cfg.horizontal_max_elevation_deg, aw),
            _soft(a.extension, cfg.horizontal_min_extension, ew),
        )

    left, right = arms[True], arms[False]
    up_l, up_r = up(left), up(right)
    scores["both_arms_up"] = min(up_l, up_r)
    scores["left_arm_up"] = min(up_l, not_raised(right))
    scores["right_arm_up"] = min(up_r, not_raised(left))
    h_l, h_r = horizontal(left), horizontal(right)
    scores["t_pose"] = min(h_l, h_r)
    scores["pointing_left"] = min(h_l, hanging(right))
    scores["pointing_right"] = min(h_r, hanging(left))

    if left.ok and right.ok and bf.lateral_ok:
        crossed = [
            _soft(-left.wrist[0], cfg.crossed_min_overlap, lw),  # left wrist on the person's right
            _soft(right.wrist[0], cfg.crossed_min_overlap, lw),
            _soft(-float(np.linalg.norm(left.wrist - right.wrist)), -cfg.crossed_max_wrist_distance, lw),
        ]
        for a in (left, right):
            crossed += [
                _soft(a.wrist[1], cfg.crossed_min_height, lw),
                _soft(-a.wrist[1], -cfg.crossed_max_height, lw),
            ]
        scores["arms_crossed"] = min(crossed)

    head_ids = [i for i in (Kp.NOSE, Kp.LEFT_EAR, Kp.RIGHT_EAR) if bf.ok[i]]
    if left.ok and right.ok and bf.ok[Kp.NOSE] and len(head_ids) >= 2:
        head = bf.pts[head_ids].mean(axis=0)
        on_head = []
        for a in (left, right):
            on_head += [
                _soft(-float(np.linalg.norm(a.wrist - head)), -cfg.head_max_wrist_distance, lw),
                _soft(a.height, cfg.head_min_wrist_height, lw),
                _soft(-a.extension, -cfg.head_max_extension, ew),
            ]
        scores["hands_on_head"] = min(on_head)
    return scores


@dataclass
class _WaveTracker:
    """Side-to-side swings of one forearm over a sliding window of image time."""

    samples: deque = field(default_factory=deque)  # (t, smoothed lateral forearm offset or nan, raised)
    _x: float = math.nan
    _t: float = math.nan

    def clear(self) -> None:
        self.samples.clear()
        self._x = self._t = math.nan

    def update(self, t: float, bf: BodyFrame | None, left: bool, cfg: GestureConfig) -> float:
        x, raised = math.nan, False
        if bf is not None:
            a = _arm(bf, left)
            if a.ok:
                rise = float(a.wrist[1] - a.elbow[1])
                raised = rise >= cfg.wave_min_forearm_rise and a.wrist[1] >= -0.1
                x = float(a.wrist[0] - a.elbow[0])
        if math.isfinite(x) and math.isfinite(self._x) and cfg.wave_smoothing_s > 0:
            x = self._x + (1.0 - math.exp(-(t - self._t) / cfg.wave_smoothing_s)) * (x - self._x)
        self._x, self._t = x, t
        self.samples.append((t, x, raised))
        while self.samples and self.samples[0][0] < t - cfg.wave_window_s:
            self.samples.popleft()
        n = len(self.samples)
        raised_frac = sum(1 for s in self.samples if s[2]) / n
        span = self.samples[-1][0] - self.samples[0][0]
        if raised_frac < cfg.wave_min_raised_fraction or span < 0.3 * cfg.wave_window_s:
            return 0.0
        swings = self.count_swings([s[1] for s in self.samples if s[2]], cfg.wave_min_amplitude)
        if swings > cfg.wave_max_swing_rate * max(span, 1e-3):
            return 0.0
        if swings < cfg.wave_min_swings:
            return 0.4 * swings / cfg.wave_min_swings  # below any sensible enter threshold
        return min(1.0, 0.75 + 0.125 * (swings - cfg.wave_min_swings))

    @staticmethod
    def count_swings(xs: Iterable[float], amplitude: float) -> int:
        """Number of monotonic runs of at least ``amplitude`` (each direction change counts one)."""
        direction, swings = 0, 0
        lo = hi = peak = math.nan
        for x in xs:
            if not math.isfinite(x):
                continue
            if direction == 0:
                lo = x if not math.isfinite(lo) else min(lo, x)
                hi = x if not math.isfinite(hi) else max(hi, x)
                if x - lo >= amplitude:
                    direction, peak, swings = 1, x, 1
                elif hi - x >= amplitude:
                    direction, peak, swings = -1, x, 1
            elif direction * (x - peak) > 0:
                peak = x
            elif direction * (peak - x) >= amplitude:
                direction, peak, swings = -direction, x, swings + 1
        return swings


@dataclass
class _Track:
    """Temporal state of one gesture."""

    score: float = 0.0
    active: bool = False
    onset: float | None = None  # image time the smoothed score first reached enter_confidence
    release: float | None = None  # image time it first fell below exit_confidence while active


@dataclass(frozen=True)
class GestureState:
    """Result of one update for one person.

    name: the reported gesture, or "none".
    confidence: its smoothed score in [0, 1] (0 for "none").
    held_duration: seconds of image time since its score first reached the enter threshold.
    stamp: the pose stamp [s]; person_id: the id given to ``update``.
    active: all gestures currently active (past their hold time, not yet released).
    candidates: smoothed score of every gesture; raw: this frame's unsmoothed scores.
    changed: True when ``name`` differs from the previous update's.
    valid: False when the body frame could not be built (shoulders hidden, too small).
    torso_px: torso length in pixels (0 when not valid).
    held: seconds since each active gesture's score first reached the enter threshold (every
        active gesture, not only the reported one).
    """

    name: str = NONE
    confidence: float = 0.0
    held_duration: float = 0.0
    stamp: float = 0.0
    person_id: int = 0
    active: tuple[str, ...] = ()
    candidates: Mapping[str, float] = field(default_factory=dict)
    raw: Mapping[str, float] = field(default_factory=dict)
    changed: bool = False
    valid: bool = False
    torso_px: float = 0.0
    held: Mapping[str, float] = field(default_factory=dict)


class GestureRecognizer:
    """Temporal gesture recogniser for one person; feed it every pose of that person in order."""

    def __init__(self, config: GestureConfig | None = None, person_id: int = 0) -> None:
        self.config = config or GestureConfig()
        self.person_id = int(person_id)
        self.reset()

    def reset(self) -> None:
        """Forget all temporal state (scores, hold timers, wave history)."""
        self._tracks = {g: _Track() for g in GESTURES}
        self._waves = {"wave_left": _WaveTracker(), "wave_right": _WaveTracker()}
        self._last_t: float | None = None
        self._current = NONE
        self._state = GestureState(person_id=self.person_id)

    @property
    def state(self) -> GestureState:
        """The latest result."""
        return self._state

    def set_config(self, config: GestureConfig) -> None:
        """Change thresholds; temporal state is kept."""
        self.config = config

    def update(self, keypoints: np.ndarray | None, stamp: float) -> GestureState:
        """Process one pose observed at ``stamp`` [s, image time].

        ``keypoints``: (33, >=4) array (x, y pixels, z, visibility[, presence]) or None when
        the person is not seen in this frame (all scores then decay towards release).
        A stamp equal to the previous one returns the previous state; an older stamp or a
        gap longer than ``max_gap_s`` restarts the temporal state first.
        """
        cfg = self.config
        t = float(stamp)
        if self._last_t is not None:
            if t == self._last_t:
                return self._state
            if t < self._last_t or t - self._last_t > cfg.max_gap_s:
                self.reset()
        dt = 0.0 if self._last_t is None else t - self._last_t
        first = self._last_t is None
        self._last_t = t

        bf = body_frame(keypoints, cfg) if keypoints is not None else None
        raw = static_scores(bf, cfg)
        raw["wave_left"] = self._waves["wave_left"].update(t, bf, True, cfg)
        raw["wave_right"] = self._waves["wave_right"].update(t, bf, False, cfg)

        tau = cfg.score_time_constant_s
        alpha = 1.0 if first or tau == 0 else 1.0 - math.exp(-dt / tau)
        for g, tr in self._tracks.items():
            tr.score += alpha * (raw[g] - tr.score)
            hold = cfg.wave_min_hold_s if g in DYNAMIC_GESTURES else cfg.min_hold_s
            if tr.score >= cfg.enter_confidence:
                if tr.onset is None:
                    tr.onset = t
                tr.release = None
                if not tr.active and t - tr.onset >= hold:
                    tr.active = True
            elif tr.active and tr.score < cfg.exit_confidence:
                if tr.release is None:
                    tr.release = t
                if t - tr.release >= cfg.release_s:
                    tr.active, tr.onset, tr.release = False, None, None
            elif not tr.active:
                tr.onset = None
            else:
                tr.release = None  # in the hysteresis band while active: keep it

        active = tuple(g for g in GESTURES if self._tracks[g].active)
        current = self._current
        best = max(active, key=lambda g: (_PRIORITY[g], self._tracks[g].score), default=NONE)
        if current not in active or (best != NONE and _PRIORITY[best] > _PRIORITY[current]):
            current = best
        tr = self._tracks.get(current)
        self._state = GestureState(
            name=current,
            confidence=float(tr.score) if tr else 0.0,
            held_duration=float(t - tr.onset) if tr and tr.onset is not None else 0.0,
            stamp=t,
            person_id=self.person_id,
            active=active,
            candidates={g: float(x.score) for g, x in self._tracks.items()},
            raw=raw,
            changed=current != self._current,
            valid=bf is not None,
            torso_px=bf.torso_px if bf is not None else 0.0,
            held={g: float(t - self._tracks[g].onset) for g in active if self._tracks[g].onset is not None},
        )
        self._current = current
        return self._state


class MultiPersonGestures:
    """One :class:`GestureRecognizer` per person id; people unseen for ``forget_after_s`` are dropped."""

    def __init__(self, config: GestureConfig | None = None, forget_after_s: float = 1.0) -> None:
        self.config = config or GestureConfig()
        self.forget_after_s = float(forget_after_s)
        self._people: dict[int, GestureRecognizer] = {}
        self._seen: dict[int, float] = {}

    @property
    def people(self) -> dict[int, GestureRecognizer]:
        return dict(self._people)

    def set_config(self, config: GestureConfig) -> None:
        self.config = config
        for r in self._people.values():
            r.set_config(config)

    def update(self, poses: Iterable[tuple[int, np.ndarray]], stamp: float) -> dict[int, GestureState]:
        """Update with all (person id, keypoints) of one frame at ``stamp`` [s].

        Returns the states of the people in this frame. People missing from the frame
        are forgotten after ``forget_after_s`` (see :meth:`forget`).
        """
        out: dict[int, GestureState] = {}
        for pid, kp in poses:
            rec = self._people.get(pid)
            if rec is None:
                rec = self._people[pid] = GestureRecognizer(self.config, pid)
            out[pid] = rec.update(kp, stamp)
            self._seen[pid] = float(stamp)
        return out

    def forget(self, stamp: float) -> list[int]:
        """Drop people not seen since ``stamp - forget_after_s`` (or seen "in the future", after a
        time jump back); returns their ids."""
        gone = [p for p, t in self._seen.items() if stamp - t > self.forget_after_s or t > stamp]
        for p in gone:
            self._people.pop(p, None)
            self._seen.pop(p, None)
        return gone

    def clear(self) -> None:
        self._people.clear()
        self._seen.clear()
