"""Real base poses and arm articulation for the gesture tests.

The base poses are BlazePose keypoints of real people (crops of test/data/bus.jpg and
zidane.jpg) computed by this project's pipeline and cached in
test/gesture_base_poses.json (regenerate: ``python test/gesture_poses.py``; the test
``test_base_poses_come_from_the_pipeline`` checks the cache against the live pipeline).
Gestures are built by rotating the real arms: the upper arm about the shoulder and the
forearm (with the hand points) about the elbow, in the body's frontal plane, keeping the
person's own segment lengths.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "test" / "data"
CACHE = ROOT / "test" / "gesture_base_poses.json"

# name -> (image, crop x0, y0, x1, y1); hips hidden for zidane_left (upper-body framing)
CROPS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "bus_a": ("bus.jpg", (0, 0, 300, 1080)),
    "bus_b": ("bus.jpg", (180, 300, 450, 1080)),
    "zidane_right": ("zidane.jpg", (600, 0, 1280, 720)),
    "zidane_left": ("zidane.jpg", (0, 0, 700, 720)),
}

LS, RS, LE, RE, LW, RW, LH, RH = 11, 12, 13, 14, 15, 16, 23, 24
LEFT_HAND = (17, 19, 21)
RIGHT_HAND = (18, 20, 22)


def run_pipeline() -> dict[str, np.ndarray]:
    """Run PoseTracker (static mode) on the crops; keypoints in full-image pixels."""
    import cv2

    from blazepose_ros.core import PoseTracker

    tracker = PoseTracker(static_image_mode=True)
    out = {}
    for name, (image, (x0, y0, x1, y1)) in CROPS.items():
        bgr = cv2.imread(str(DATA / image))
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[y0:y1, x0:x1])
        poses = tracker.process(rgb, 0.0)
        if len(poses) != 1:
            raise RuntimeError(f"{name}: expected one person, got {len(poses)}")
        kp = np.array(poses[0].keypoints, dtype=np.float32)
        kp[:, 0] += x0
        kp[:, 1] += y0
        out[name] = kp
    return out


def load_bases() -> dict[str, np.ndarray]:
    """The cached base poses: name -> (33, 5) float32 (x, y px, z, visibility, presence)."""
    raw = json.loads(CACHE.read_text())
    return {k: np.array(v["keypoints"], dtype=np.float32) for k, v in raw["poses"].items()}


@dataclass(frozen=True)
class Frame:
    """Pixel body frame of a base pose: origin shoulder centre, unit vectors, torso length."""

    origin: np.ndarray
    up: np.ndarray  # image-pixel unit vector, hip centre -> shoulder centre
    left: np.ndarray  # unit vector towards the person's left
    torso: float  # px
    hip_centre: np.ndarray


def frame_of(kp: np.ndarray) -> Frame:
    sh = (kp[LS, :2] + kp[RS, :2]) / 2.0
    if kp[LH, 3] >= 0.5 and kp[RH, 3] >= 0.5:
        hip = (kp[LH, :2] + kp[RH, :2]) / 2.0
        up = sh - hip
        torso = float(np.linalg.norm(up))
        up = up / torso
    else:
        up = np.array([0.0, -1.0])
        torso = float(np.linalg.norm(kp[LS, :2] - kp[RS, :2])) / 0.5
        hip = sh - up * torso
    image_right = np.array([-up[1], up[0]])
    sign = 1.0 if (kp[LS, :2] - kp[RS, :2]) @ image_right >= 0 else -1.0
    return Frame(sh.astype(np.float64), up, image_right * sign, torso, hip)


def set_arm(
    kp: np.ndarray,
    side: str,
    shoulder_deg: float,
    elbow_deg: float = 0.0,
    visibility: float | None = 0.95,
) -> np.ndarray:
    """Pose one arm by joint angles in the frontal plane; returns a new (33, 5) array.

    shoulder_deg: upper-arm angle from hanging straight down (0) through out to the side
        (90) to straight up (180); negative swings across the body.
    elbow_deg: forearm rotation relative to the upper arm, positive continuing the same
        way (out/up), negative folding inwards (medial); 0 = straight arm.
    visibility: visibility given to the moved points (None keeps the base values).
    """
    kp = np.array(kp, dtype=np.float32, copy=True)
    f = frame_of(kp)
    s, e, w, hand = (LS, LE, LW, LEFT_HAND) if side == "left" else (RS, RE, RW, RIGHT_HAND)
    out = f.left if side == "left" else -f.left
    upper = max(float(np.linalg.norm(kp[e, :2] - kp[s, :2])), 0.5 * f.torso)
    fore = max(float(np.linalg.norm(kp[w, :2] - kp[e, :2])), 0.45 * f.torso)

    def direction(deg: float) -> np.ndarray:
        a = math.radians(deg)
        return out * math.sin(a) - f.up * math.cos(a)

    old_fore = kp[w, :2] - kp[e, :2]
    elbow = kp[s, :2] + upper * direction(shoulder_deg)
    wrist = elbow + fore * direction(shoulder_deg + elbow_deg)
    # hand points move rigidly with the forearm
    new_fore = wrist - elbow
    rot = math.atan2(new_fore[1], new_fore[0]) - math.atan2(old_fore[1], old_fore[0])
    c, sn = math.cos(rot), math.sin(rot)
    r = np.array([[c, -sn], [sn, c]])
    for h in hand:
        kp[h, :2] = wrist + r @ (kp[h, :2] - kp[w, :2])
    kp[e, :2] = elbow
    kp[w, :2] = wrist
    if visibility is not None:
        kp[[e, w, *hand], 3] = visibility
    return kp


def place_wrist(kp: np.ndarray, side: str, target: np.ndarray, visibility: float | None = 0.95) -> np.ndarray:
    """Put one wrist at ``target`` [px] with two-link inverse kinematics, the elbow bent outwards."""
    kp = np.asarray(kp, dtype=np.float32)
    f = frame_of(kp)
    s, e, w = (LS, LE, LW) if side == "left" else (RS, RE, RW)
    out = f.left if side == "left" else -f.left
    upper = max(float(np.linalg.norm(kp[e, :2] - kp[s, :2])), 0.5 * f.torso)
    fore = max(float(np.linalg.norm(kp[w, :2] - kp[e, :2])), 0.45 * f.torso)
    d = np.asarray(target, np.float64) - kp[s, :2]
    dist = min(float(np.linalg.norm(d)), upper + fore - 1e-3)
    # angle at the shoulder between the shoulder->target line and the upper arm (law of cosines)
    a = math.acos(max(-1.0, min(1.0, (upper**2 + dist**2 - fore**2) / (2 * upper * dist))))
    # body-frame angles (0 = down, 90 = outwards, 180 = up) of the target direction
    t_deg = math.degrees(math.atan2(float(d @ out), float(-(d @ f.up))))
    shoulder_deg = t_deg - math.degrees(a)  # elbow on the outer side
    elbow_pos = kp[s, :2] + upper * (
        out * math.sin(math.radians(shoulder_deg)) - f.up * math.cos(math.radians(shoulder_deg))
    )
    v = np.asarray(target, np.float64) - elbow_pos
    fore_deg = math.degrees(math.atan2(float(v @ out), float(-(v @ f.up))))
    return set_arm(kp, side, shoulder_deg, fore_deg - shoulder_deg, visibility)


def hands_on_head(base: np.ndarray) -> np.ndarray:
    """Both wrists on top of the head (0.25 torso above the nose/ear centre, 0.12 to each side)."""
    f = frame_of(base)
    head = base[[0, 7, 8], :2].mean(axis=0)
    kp = place_wrist(base, "left", head + f.torso * (0.25 * f.up + 0.12 * f.left))
    return place_wrist(kp, "right", head + f.torso * (0.25 * f.up - 0.12 * f.left))


def pose(base: np.ndarray, left: tuple[float, float], right: tuple[float, float]) -> np.ndarray:
    """Both arms at once: (shoulder_deg, elbow_deg) per side."""
    return set_arm(set_arm(base, "left", *left), "right", *right)


def scale_about_hips(kp: np.ndarray, factor: float, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Same pose, ``factor`` times larger (closer) about the hip centre, then shifted [px]."""
    kp = np.array(kp, dtype=np.float32, copy=True)
    c = frame_of(kp).hip_centre
    kp[:, :2] = (kp[:, :2] - c) * factor + c + np.asarray(shift)
    kp[:, 2] *= factor
    return kp


def jitter(kp: np.ndarray, rng: np.random.Generator, px: float) -> np.ndarray:
    kp = np.array(kp, dtype=np.float32, copy=True)
    kp[:, :2] += rng.normal(0.0, px, (33, 2)).astype(np.float32)
    return kp


# Arm configurations (shoulder_deg, elbow_deg) per gesture
DOWN = (8.0, 0.0)
UP = (172.0, 0.0)
HORIZONTAL = (90.0, 0.0)
CROSSED = (5.0, -105.0)
WAVE_BASE = (85.0, 90.0)  # forearm up; the swing varies the elbow angle

STATIC_POSES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "both_arms_up": (UP, UP),
    "left_arm_up": (UP, DOWN),
    "right_arm_up": (DOWN, UP),
    "t_pose": (HORIZONTAL, HORIZONTAL),
    "arms_crossed": (CROSSED, CROSSED),
    "pointing_left": (HORIZONTAL, DOWN),
    "pointing_right": (DOWN, HORIZONTAL),
    "none": (DOWN, DOWN),
}


if __name__ == "__main__":
    poses = run_pipeline()
    doc = {
        "about": "BlazePose keypoints (x, y px, z, visibility, presence) computed by "
        "blazepose_ros.core.PoseTracker(static_image_mode=True) on crops of the test images",
        "poses": {
            k: {"image": CROPS[k][0], "crop": list(CROPS[k][1]), "keypoints": np.round(v, 3).tolist()}
            for k, v in poses.items()
        },
    }
    CACHE.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {CACHE}: {', '.join(poses)}", file=sys.stderr)
