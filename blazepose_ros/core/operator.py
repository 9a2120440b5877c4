"""ROS-free operator logic for gesture control among several people.

Who commands the robot, and why the command is zero (docs/gestures.md, "Who is obeyed").

* **People are keyed by source**: a person is ``PersonKey(frame_id, id)``, the pose's
  ``header.frame_id`` and the tracker's id, so two cameras that both count ids from 1 on
  one topic never collide. Every source has its own gesture recognisers and its own
  stamp clock.
* **Engagement**: nobody commands until a person *engages*: holds one of
  ``engage_gestures`` for ``engage_hold_s`` (gesture hold time, image time), or, with
  ``engage_when_alone``, is the only person in view for ``engage_hold_s`` (node time).
  The engaged person is the *operator*, locked to their key. While an operator is engaged
  (even while lost) nobody else can engage.
* **After engaging, and after a stop**, the gesture the operator was holding does not
  command until it ends (``awaiting_release``): engaging with an arm raised never drives
  the robot by itself, and a robot stopped by someone else does not start again on the
  operator's old gesture.
* **Operator lost** (not in the latest frame of their source, pose score below
  ``min_pose_score``, body not visible, or their source silent): zero at once; the same key
  seen again within ``operator_timeout_s`` takes control back, after that the operator is
  disengaged. Control is never handed to anyone else without them engaging.
* **Disengagement**: the operator holds one of ``disengage_gestures`` for
  ``disengage_hold_s``, or the operator timeout, or :meth:`OperatorControl.disengage`.
* **Stop from anyone** (``stop_from_anyone``, default on): a stop gesture by *any* visible
  person zeroes the command in the first frame whose raw score reaches ``stop_confidence``
  (no hold time) and ends follow mode. Off, only the operator's stop gestures count.
* **Stamps**: a frame stamped more than ``max_stamp_age_s`` in the past or more than
  ``max_future_s`` in the future (against the node's clock) is refused: it updates no
  recogniser and no operator, and the command is zero (``stale_poses`` / ``future_stamp``)
  until a frame with a good stamp arrives.

Times: ``stamp`` arguments are the poses' header stamps [s]; ``now`` is the node's clock [s]
(same epoch as the stamps unless ``max_stamp_age_s``/``max_future_s`` are 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

import numpy as np

from .gestures import GESTURES, NONE, GestureConfig, GestureState, MultiPersonGestures

__all__ = [
    "ACTIONS",
    "MODES",
    "Command",
    "Decision",
    "Observation",
    "OperatorConfig",
    "OperatorControl",
    "PersonKey",
    "Reason",
    "parse_gesture_list",
]

MODES = ("gesture", "follow")
ACTIONS = ("stop", "follow")


class PersonKey(NamedTuple):
    """A person's identity: the source frame (``header.frame_id``) and the tracker's id."""

    frame_id: str
    id: int

    def __str__(self) -> str:
        return f"{self.frame_id or '?'}#{self.id}"


class Reason(str, Enum):
    """What the command is doing, and why it is zero when it is (``OperatorState.reason``)."""

    COMMANDING = "commanding"  # the operator's held gesture drives the robot (not zero)
    FOLLOWING = "following"  # follow mode, following the operator (not zero)
    DISABLED = "disabled"  # ~/enable is off
    NO_POSES = "no_poses"  # no pose message for pose_timeout (from the operator's source)
    STALE_POSES = "stale_poses"  # pose stamps older than max_stamp_age
    FUTURE_STAMP = "future_stamp"  # pose stamps further than max_future_stamp in the future
    NO_OPERATOR = "no_operator"  # nobody engaged
    OPERATOR_LOST = "operator_lost"  # the operator is not seen (waiting operator_timeout)
    STOP_GESTURE = "stop_gesture"  # somebody (or the operator) shows a stop gesture
    AWAITING_RELEASE = "awaiting_release"  # the gesture held at engagement / stop must end first
    NO_GESTURE = "no_gesture"  # the operator holds no gesture
    LOW_CONFIDENCE = "low_confidence"  # the operator's gesture is below min_confidence
    UNMAPPED_GESTURE = "unmapped_gesture"  # the gesture commands nothing
    NO_TARGET = "no_target"  # follow mode, but the operator's hips/shoulders are not visible

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Command:
    """What a gesture does: a velocity held while the gesture is held, or an action."""

    linear_x: float = 0.0  # m/s, forward
    linear_y: float = 0.0  # m/s, left (holonomic bases)
    angular_z: float = 0.0  # rad/s, counter-clockwise (turn left)
    action: str | None = None  # "stop" | "follow" | None

    @property
    def velocity(self) -> np.ndarray:
        """(vx, vy, wz)."""
        return np.array([self.linear_x, self.linear_y, self.angular_z])


@dataclass(frozen=True)
class OperatorConfig:
    """Engagement, lock, stop and stamp rules. Times in seconds."""

    engage_gestures: frozenset[str] = frozenset({"left_arm_up", "right_arm_up"})
    engage_hold_s: float = 1.0
    engage_when_alone: bool = False
    disengage_gestures: frozenset[str] = frozenset({"arms_crossed"})
    disengage_hold_s: float = 1.5
    stop_gestures: frozenset[str] = frozenset({"arms_crossed", "t_pose"})
    stop_from_anyone: bool = True
    stop_confidence: float = 0.6  # raw (per-frame) score that counts as a stop
    operator_timeout_s: float = 3.0
    min_pose_score: float = 0.5
    min_confidence: float = 0.6  # of the operator's gesture, to command
    pose_timeout_s: float = 0.5
    max_stamp_age_s: float = 1.0  # 0 = no check
    max_future_s: float = 0.5  # 0 = no check

    def __post_init__(self) -> None:
        for name in ("engage_gestures", "disengage_gestures", "stop_gestures"):
            unknown = sorted(set(getattr(self, name)) - set(GESTURES))
            if unknown:
                raise ValueError(f"{name}: unknown gestures {unknown} (known: {', '.join(GESTURES)})")
        if not self.engage_gestures and not self.engage_when_alone:
            raise ValueError("nobody could ever engage: give engage_gestures or set engage_when_alone")
        clash = sorted(self.engage_gestures & (self.stop_gestures | self.disengage_gestures))
        if clash:
            raise ValueError(f"engage gestures {clash} are also stop or disengage gestures")
        for name in ("engage_hold_s", "disengage_hold_s", "operator_timeout_s", "max_stamp_age_s",
                     "max_future_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")
        if not self.pose_timeout_s > 0:
            raise ValueError("pose_timeout_s must be > 0")


@dataclass(frozen=True)
class Observation:
    """One person in one frame: tracker id, pose score, (33, >=4) keypoints (x, y px, z, vis, ...)."""

    id: int
    score: float
    keypoints: np.ndarray


@dataclass(frozen=True)
class Decision:
    """The result of one control tick.

    reason: what the command does / why it is zero. target: the velocity (vx, vy, wz) to move
    towards (through the acceleration limits), or None for an immediate zero (no ramp);
    ``follow`` is True when the node should compute the follow velocity of ``operator`` (target
    is then None). events: what changed since the previous tick, for the log.
    """

    reason: Reason
    target: np.ndarray | None
    mode: str
    operator: PersonKey | None
    gesture: str = NONE  # the operator's current gesture
    follow: bool = False
    lost_for: float = 0.0  # s since the operator was last seen (0 while seen)
    events: tuple[str, ...] = ()


@dataclass
class _Source:
    """Per frame_id: its recognisers, the latest frame's people and checks."""

    people: MultiPersonGestures
    rx: float = -math.inf  # node time of the latest message
    stamp: float | None = None
    stamp_reason: Reason | None = None  # the latest message's stamp problem, if any
    valid: dict[int, GestureState] = field(default_factory=dict)  # latest good frame, valid people
    stop_by: tuple[PersonKey, ...] = ()  # people showing a stop gesture in the latest good frame
    last_ids: frozenset[int] = frozenset()  # ids of the previous frame with people
    id_churn: int = 0  # consecutive frames whose ids are all new (e.g. static_image_mode)


class OperatorControl:
    """Gesture recognition for everyone, the operator lock, and the command decision."""

    def __init__(
        self,
        config: OperatorConfig | None = None,
        recognizer: GestureConfig | None = None,
        commands: Mapping[str, Command] | None = None,
        mode: str = "gesture",
    ) -> None:
        self.config = config or OperatorConfig()
        self.recognizer = recognizer or GestureConfig()
        self.commands: dict[str, Command] = dict(commands or {})
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self._mode = mode
        self._sources: dict[str, _Source] = {}
        self._operator: PersonKey | None = None
        self._seen_at = -math.inf  # node time the operator was last seen
        self._operator_state: GestureState | None = None
        self._blocked: frozenset[str] = frozenset()  # gestures that must end before commanding
        self._alone: tuple[PersonKey, float] | None = None
        self._events: list[str] = []

    # ------------------------------------------------------------------ properties

    @property
    def operator(self) -> PersonKey | None:
        """The engaged operator's key (also while lost), or None."""
        return self._operator

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode != self._mode:
            self._mode = mode
            self._events.append(f"mode {mode}")

    def set_config(self, config: OperatorConfig) -> None:
        self.config = config

    def stamp_problem(self, frame_id: str) -> Reason | None:
        """Why the latest frame of ``frame_id`` was refused (stale or future stamp), or None."""
        src = self._sources.get(frame_id)
        return src.stamp_reason if src is not None else None

    def unstable_ids(self, frame_id: str, frames: int = 5) -> bool:
        """True when the last ``frames`` frames of ``frame_id`` each had only new ids: the source
        gives no stable identity (pose_node in static_image_mode), so no gesture can be held
        and nobody can engage."""
        src = self._sources.get(frame_id)
        return src is not None and src.id_churn >= frames

    def people(self) -> dict[PersonKey, GestureState]:
        """The valid people of every source's latest good frame."""
        return {PersonKey(f, pid): st for f, s in self._sources.items() for pid, st in s.valid.items()}

    # ------------------------------------------------------------------ input

    def update(
        self, frame_id: str, stamp: float, people: Iterable[Observation], now: float
    ) -> tuple[dict[PersonKey, GestureState], list[PersonKey]]:
        """Process one frame of one source (all people of one pose message).

        Returns the gesture state of every person fed to the recognisers (score >=
        ``min_pose_score``) and the keys of people the recognisers forgot (not seen for 1 s).
        A frame with a refused stamp returns ({}, []) and changes nothing but the reason.
        """
        cfg = self.config
        src = self._sources.get(frame_id)
        if src is None:
            src = self._sources[frame_id] = _Source(MultiPersonGestures(self.recognizer, forget_after_s=1.0))
        src.rx = now
        if cfg.max_future_s > 0 and stamp - now > cfg.max_future_s:
            src.stamp_reason = Reason.FUTURE_STAMP
        elif cfg.max_stamp_age_s > 0 and now - stamp > cfg.max_stamp_age_s:
            src.stamp_reason = Reason.STALE_POSES
        else:
            src.stamp_reason = None
        if src.stamp_reason is not None:
            src.valid, src.stop_by = {}, ()
            return {}, []
        src.stamp = stamp
        people = list(people)
        ids = frozenset(p.id for p in people)
        if ids:
            src.id_churn = src.id_churn + 1 if (src.last_ids and not ids & src.last_ids) else 0
            src.last_ids = ids
        inputs = [(p.id, p.keypoints) for p in people if p.score >= cfg.min_pose_score]
        states = src.people.update(inputs, stamp)
        forgotten = [PersonKey(frame_id, pid) for pid in src.people.forget(stamp)]
        src.valid = {pid: st for pid, st in states.items() if st.valid}
        src.stop_by = tuple(PersonKey(frame_id, pid) for pid, st in src.valid.items() if self._is_stop(st))
        self._update_operator(frame_id, src, now)
        return {PersonKey(frame_id, pid): st for pid, st in states.items()}, forgotten

    def _held(self, st: GestureState, gestures: frozenset[str], hold_s: float) -> str | None:
        """The first of ``gestures`` that is active, held ``hold_s`` and still confident (the
        recogniser keeps a gesture active for release_s after it ends), or None. Any active
        gesture counts, not only the reported one (a wave reported on top of it, say)."""
        for g in sorted(gestures):
            if st.held.get(g, -1.0) >= hold_s and st.candidates.get(g, 0.0) >= self.config.min_confidence:
                return g
        return None

    def _is_stop(self, st: GestureState) -> bool:
        # this frame's raw score (no hold time), or the held gesture while its smoothed score is
        # above the recogniser's exit threshold (a noisy frame does not end a held stop; the
        # release tail after the arms moved on does not stop either)
        c = self.config
        held = st.confidence >= self.recognizer.exit_confidence
        return any(st.raw.get(g, 0.0) >= c.stop_confidence or (st.name == g and held)
                   for g in c.stop_gestures)

    def _update_operator(self, frame_id: str, src: _Source, now: float) -> None:
        cfg = self.config
        op = self._operator
        if op is not None and op.frame_id == frame_id:
            st = src.valid.get(op.id)
            if st is not None:
                if self._operator_state is None or now - self._seen_at > cfg.pose_timeout_s:
                    self._events.append(f"operator {op} seen again")
                self._seen_at = now
                self._operator_state = st
                if self._blocked and st.name not in self._blocked:
                    self._blocked = frozenset()
                g = self._held(st, cfg.disengage_gestures, cfg.disengage_hold_s)
                if g is not None:
                    self.disengage(f"disengage gesture {g}")
            else:
                if self._operator_state is not None:
                    self._events.append(f"operator {op} lost")
                self._operator_state = None
        if self._operator is None:
            self._try_engage(now)

    def _try_engage(self, now: float) -> None:
        cfg = self.config
        fresh = self._fresh_sources(now)
        if any(s.stop_by for s in fresh.values()):
            self._alone = None
            return
        everyone = {PersonKey(f, pid): st for f, s in fresh.items() for pid, st in s.valid.items()}
        held = {k: self._held(st, cfg.engage_gestures, cfg.engage_hold_s) for k, st in everyone.items()}
        candidates = {k: st for k, st in everyone.items() if held[k] is not None}
        how, g = "", NONE
        if candidates:
            key = max(candidates, key=lambda k: candidates[k].torso_px)
            g = held[key] or NONE
            how = f"{g} held {candidates[key].held[g]:.1f} s"
        elif cfg.engage_when_alone and len(everyone) == 1:
            (only,) = everyone
            if self._alone is None or self._alone[0] != only:
                self._alone = (only, now)
            if now - self._alone[1] < cfg.engage_hold_s:
                return
            key, how = only, f"only person in view for {now - self._alone[1]:.1f} s"
        else:
            self._alone = None
            return
        self._operator, self._seen_at = key, now
        self._operator_state = everyone[key]
        self._alone = None
        # neither the engaging gesture nor the reported one (a wave on top of it) commands yet
        self._blocked = frozenset({everyone[key].name, g}) - {NONE}
        self._events.append(f"engaged {key} ({how})")

    def disengage(self, why: str = "") -> None:
        """Release the operator (next person must engage); follow mode ends."""
        if self._operator is not None:
            self._events.append(f"disengaged {self._operator}" + (f" ({why})" if why else ""))
        self._operator, self._operator_state, self._blocked = None, None, frozenset()
        self._seen_at = -math.inf
        self.set_mode("gesture")

    def clear(self) -> list[PersonKey]:
        """Forget everyone's gesture state (the poses stopped); returns who was known. The
        operator stays engaged (and lost) until ``operator_timeout_s``."""
        known = [PersonKey(f, pid) for f, s in self._sources.items() for pid in s.people.people]
        for s in self._sources.values():
            s.people.clear()
            s.valid, s.stop_by = {}, ()
        self._operator_state = None
        return known

    def _fresh_sources(self, now: float) -> dict[str, _Source]:
        return {f: s for f, s in self._sources.items() if now - s.rx <= self.config.pose_timeout_s}

    # ------------------------------------------------------------------ decision

    def tick(self, now: float) -> Decision:
        """The command decision at node time ``now`` [s]."""
        d = self._decide(now)
        events, self._events = tuple(self._events), []
        return Decision(d[0], d[1], self._mode, self._operator, d[2], d[3], d[4], events)

    def _decide(self, now: float) -> tuple[Reason, np.ndarray | None, str, bool, float]:
        cfg = self.config
        op = self._operator
        seen = (
            op is not None
            and self._operator_state is not None
            and now - self._seen_at <= cfg.pose_timeout_s
        )
        lost_for = 0.0 if (op is None or seen) else now - self._seen_at
        if op is not None and not seen and lost_for > cfg.operator_timeout_s:
            self.disengage(f"not seen for {cfg.operator_timeout_s:g} s")
            op, lost_for = None, 0.0
        gesture = self._operator_state.name if (seen and self._operator_state is not None) else NONE

        def zero(reason: Reason) -> tuple[Reason, None, str, bool, float]:
            return reason, None, gesture, False, lost_for

        fresh = self._fresh_sources(now)
        if not fresh:
            return zero(Reason.NO_POSES)
        relevant = [fresh[op.frame_id]] if (op is not None and op.frame_id in fresh) else list(fresh.values())
        bad = next((s.stamp_reason for s in relevant if s.stamp_reason is not None), None)
        if bad is not None:
            return zero(bad)
        stoppers = [k for s in fresh.values() for k in s.stop_by]
        if not cfg.stop_from_anyone:
            stoppers = [k for k in stoppers if k == op]
        if stoppers:
            if self._mode == "follow":
                self.set_mode("gesture")
            if seen and gesture != NONE:
                self._blocked = frozenset({gesture})
            return zero(Reason.STOP_GESTURE)
        if op is None:
            return zero(Reason.NO_OPERATOR)
        if not seen:
            return zero(Reason.OPERATOR_LOST)
        st = self._operator_state
        assert st is not None
        if self._blocked:
            return zero(Reason.AWAITING_RELEASE)
        cmd = self.commands.get(st.name)
        if cmd is not None and cmd.action == "follow" and st.confidence >= cfg.min_confidence:
            self.set_mode("follow")
        if self._mode == "follow":
            return Reason.FOLLOWING, None, gesture, True, 0.0
        if st.name == NONE:
            return Reason.NO_GESTURE, np.zeros(3), gesture, False, 0.0
        if st.confidence < cfg.min_confidence:
            return zero(Reason.LOW_CONFIDENCE)
        if cmd is None or cmd.action is not None:
            return Reason.UNMAPPED_GESTURE, np.zeros(3), gesture, False, 0.0
        return Reason.COMMANDING, cmd.velocity, gesture, False, 0.0


def parse_gesture_list(value: str | Sequence[str], what: str) -> frozenset[str]:
    """``"left_arm_up, right_arm_up"`` (or a list) -> a set of known gesture names; '' -> empty."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = frozenset(s.strip() for s in items if s.strip())
    unknown = sorted(names - set(GESTURES))
    if unknown:
        raise ValueError(f"{what}: unknown gestures {unknown} (known: {', '.join(GESTURES)})")
    return names
