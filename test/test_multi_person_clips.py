"""Multi-person tracking on real footage against hand-checked identities (test/reference/identities_*.json).

Counts per clip, on the checked frames: people taller than the size limit without a pose,
identity switches (a person's id changes), id swaps (one id on two people), and checks
that a briefly occluded person comes back with their id and that a newcomer gets a new id
within a bounded number of frames. The occlusion is built from the real frames: one person
is painted over with the background of a frame where they stand elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from blazepose_ros.core import PoseTracker
from blazepose_ros.core.association import box_iou

pytestmark = [pytest.mark.unit, pytest.mark.slow, pytest.mark.timeout(600)]

REF = Path(__file__).resolve().parent / "reference"
MIN_HEIGHT = 80  # px: the size limit (~80 px in a 768x576 street scene)
NEWCOMER_FRAMES = 15  # a newcomer clear of the scenery has an id within this many frames


def _frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    return out


def _reference(stem: str) -> dict:
    path = REF / f"identities_{stem}.json"
    if not path.exists():
        pytest.skip(f"{path.name} not written yet")
    return json.loads(path.read_text())


def _inside_fraction(kp: np.ndarray, box: list[float]) -> float:
    """Fraction of a pose's visible keypoints (visibility > 0.5) inside a box."""
    vis = kp[:, 3] > 0.5
    if not vis.any():
        return 0.0
    x0, y0, x1, y1 = box
    xy = kp[vis, :2]
    inside = (xy[:, 0] >= x0) & (xy[:, 0] < x1) & (xy[:, 1] >= y0) & (xy[:, 1] < y1)
    return float(inside.mean())


def _visible_box(kp: np.ndarray) -> np.ndarray:
    vis = kp[:, 3] > 0.5
    xy = kp[vis, :2] if vis.any() else kp[:, :2]
    return np.array([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()])


def match_people(poses: list, people: list[dict], min_inside: float = 0.5) -> dict[str, int]:
    """letter -> pose id. A pose can be a person when its mid-hip is in their box and in no one
    else's, or when its mid-hip and its torso (shoulders, hips) or at least ``min_inside`` of
    its visible keypoints are in their box (a landmark run on an ROI holding two people can
    put one's face and arms on the other). The pairs are taken greedily, unoccluded people
    first (a pose on someone standing in front of an occluded person, whose box holds them
    both, is theirs), then by the IoU of the pose's visible-keypoint bounds with the box."""
    pairs = []
    for li, person in enumerate(people):
        x0, y0, x1, y1 = person["box"]
        for pi, p in enumerate(poses):
            hip = (p.keypoints[23, :2] + p.keypoints[24, :2]) / 2
            if not (x0 <= hip[0] < x1 and y0 <= hip[1] < y1):
                continue
            torso = p.keypoints[[11, 12, 23, 24], :2]
            torso_in = bool(np.all((torso[:, 0] >= x0) & (torso[:, 0] < x1)
                                   & (torso[:, 1] >= y0) & (torso[:, 1] < y1)))
            only_here = sum(b[0] <= hip[0] < b[2] and b[1] <= hip[1] < b[3]
                            for b in (q["box"] for q in people)) == 1
            if only_here or torso_in or _inside_fraction(p.keypoints, person["box"]) >= min_inside:
                iou = box_iou(_visible_box(p.keypoints), np.asarray(person["box"], float))
                pairs.append((not person.get("occluded", False), iou, li, pi))
    out: dict[str, int] = {}
    used: set[int] = set()
    for _, _, li, pi in sorted(pairs, reverse=True):
        letter = people[li]["person"]
        if letter in out or pi in used:
            continue
        out[letter] = poses[pi].id
        used.add(pi)
    return out


def score_run(ref: dict, poses_per_frame: list[list]) -> dict:
    """Misses (visible person taller than MIN_HEIGHT, not occluded, without a pose),
    identity switches and id swaps over the checked frames."""
    misses, switches, swaps = [], [], []
    last_id: dict[str, int] = {}
    owner: dict[int, str] = {}
    for key in sorted(ref["frames"], key=int):
        fi = int(key)
        people = ref["frames"][key]
        got = match_people(poses_per_frame[fi], people)
        for person in people:
            letter = person["person"]
            height = person["box"][3] - person["box"][1]
            if letter not in got:
                if height >= MIN_HEIGHT and not person.get("occluded", False):
                    misses.append((fi, letter))
                continue
            pid = got[letter]
            if letter in last_id and last_id[letter] != pid:
                switches.append((fi, letter, last_id[letter], pid))
            last_id[letter] = pid
            if owner.setdefault(pid, letter) != letter:
                swaps.append((fi, pid, owner[pid], letter))
    return {"misses": misses, "switches": switches, "swaps": swaps, "ids": dict(last_id)}


@pytest.fixture(scope="module")
def sports2d(data_dir) -> list[np.ndarray]:
    frames = _frames(data_dir / "sports2d_demo.mp4")
    assert len(frames) == 230
    return frames


@pytest.fixture(scope="module")
def sports2d_run(sports2d) -> tuple[PoseTracker, list[list]]:
    t = PoseTracker(num_poses=3, small_person_tiles=(0, 0))
    return t, [t.process(f, i / 30.0) for i, f in enumerate(sports2d)]


def test_sports2d_everyone_found_and_identities_kept(sports2d_run):
    ref = _reference("sports2d_demo")
    tracker, run = sports2d_run
    s = score_run(ref, run)
    # the somersault (upside down, 170-186) is outside what BlazePose models: allowed misses
    misses = [m for m in s["misses"] if not 166 <= m[0] <= 188]
    assert not misses, misses
    assert not s["switches"], s["switches"]
    assert not s["swaps"], s["swaps"]
    assert set(s["ids"]) == {"A", "B"}
    assert len(set(s["ids"].values())) == 2
    m = tracker.multi
    assert m is not None and m.reidentified >= 1  # the man came back after the jump with his id


def test_sports2d_newcomer_gets_a_new_id_quickly(sports2d_run):
    ref = _reference("sports2d_demo")
    _, run = sports2d_run
    enter = next(e for e in ref["events"] if e["kind"] == "enter" and e["persons"] == ["B"])
    ids_before = {p.id for frame in run[: enter["from"]] for p in frame}
    clear = enter["to"]  # clear of the trunk from here
    for fi in range(clear, clear + NEWCOMER_FRAMES):
        people = [p for p in ref["frames"].get(str(fi), [])]
        if not people:
            continue
        got = match_people(run[fi], people)
        if "B" in got:
            assert got["B"] not in ids_before
            break
    else:
        pytest.fail(f"no new id for B within {NEWCOMER_FRAMES} frames of {clear}")


def test_sports2d_num_poses_1_is_the_reference_loop(sports2d):
    """num_poses = 1 without tiles keeps the single-person loop (no multi-person machinery)."""
    t = PoseTracker()
    assert t.multi is None
    poses = [t.process(f, i / 30.0) for i, f in enumerate(sports2d[:40])]
    assert all(len(p) <= 1 for p in poses)


def _mask_person(frames: list[np.ndarray], box: list[float], fi: int, background: np.ndarray) -> np.ndarray:
    """Frame ``fi`` with the box (grown by 10 %) replaced by the same pixels of ``background``."""
    x0, y0, x1, y1 = box
    mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
    h, w = frames[fi].shape[:2]
    a0, b0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
    a1, b1 = min(w, int(x1 + mx)), min(h, int(y1 + my))
    out = frames[fi].copy()
    out[b0:b1, a0:a1] = background[b0:b1, a0:a1]
    return out


def test_sports2d_person_occluded_for_under_a_second_keeps_the_id(sports2d):
    """The walking woman is painted over (with the background from a frame where she is
    elsewhere) for 20 frames (0.67 s) of her walk: she comes back with her id."""
    ref = _reference("sports2d_demo")
    start, n = 100, 20
    boxes = {}
    for key, people in ref["frames"].items():
        for p in people:
            if p["person"] == "B":
                boxes[int(key)] = p["box"]
    # her box on every frame of the window: interpolate the checked ones
    keys = sorted(boxes)
    background = sports2d[60]  # she is at the right edge then, far from the window's boxes

    def box_at(fi: int) -> list[float]:
        lo = max(k for k in keys if k <= fi)
        hi = min(k for k in keys if k >= fi)
        if lo == hi:
            return boxes[lo]
        a = (fi - lo) / (hi - lo)
        return [(1 - a) * u + a * v for u, v in zip(boxes[lo], boxes[hi], strict=True)]

    t = PoseTracker(num_poses=3, small_person_tiles=(0, 0))
    ids_b = []
    hidden_poses = []
    for i in range(0, start + n + 30):
        frame = sports2d[i]
        if start <= i < start + n:
            frame = _mask_person(sports2d, box_at(i), i, background)
        poses = t.process(frame, i / 30.0)
        if start <= i < start + n:
            b = box_at(i)
            hidden_poses += [p for p in poses if b[0] <= (p.keypoints[23, 0] + p.keypoints[24, 0]) / 2 < b[2]
                             and b[1] <= (p.keypoints[23, 1] + p.keypoints[24, 1]) / 2 < b[3]]
        elif str(i) in ref["frames"]:
            got = match_people(poses, [p for p in ref["frames"][str(i)] if p["person"] == "B"])
            if "B" in got:
                ids_b.append((i, got["B"]))
    assert not hidden_poses  # the mask really hides her
    before = [pid for i, pid in ids_b if i < start]
    after = [pid for i, pid in ids_b if i >= start + n]
    assert before and after, ids_b
    assert after[0] == before[-1], ids_b
    assert t.multi.reidentified >= 1


# The background woman C (cam01: at the left frame edge, her arm cut by it; cam02: behind A
# next to an anatomical skeleton model) is 407-479 px tall, but the whole-frame detector scores
# her <= 0.003 (she is 47-56 px in its 224 px input) and so do square tiles (84-98 px) while A
# and B are visible in them: greyed out, 0.4-0.8 on cam01. Alone she needs ~110 px in the
# input (A and B: ~60 px, the size the tile grid is chosen for), so the small-person search is
# set for a person half her height: 2 x 4 tiles of 622 x 591 px, where she is ~150 px.
# The tiles are searched with everyone already found greyed out (mask_tracked, the default).
POSE2SIM_SMALL_PERSON_HEIGHT = 200
KNOWN_MISSES: dict[str, set[str]] = {}
_pose2sim_runs: dict[str, tuple[dict, dict]] = {}


def _pose2sim(cam: int, data_dir: Path) -> tuple[dict, dict]:
    stem = f"pose2sim_multi_cam0{cam}"
    if stem not in _pose2sim_runs:
        ref = _reference(stem)
        frames = _frames(data_dir / f"{stem}.mp4")
        t = PoseTracker(num_poses=len(ref["people"]), small_person_height=POSE2SIM_SMALL_PERSON_HEIGHT)
        run = [t.process(f, i / 60.0) for i, f in enumerate(frames)]
        _pose2sim_runs[stem] = (ref, score_run(ref, run))
    return _pose2sim_runs[stem]


@pytest.mark.parametrize("cam", [1, 2, 3, 4])
def test_pose2sim_identities(cam, data_dir):
    """Two people side by side and crossing on a platform (boxes overlap in every frame)."""
    _, s = _pose2sim(cam, data_dir)
    assert not s["switches"], s["switches"]
    assert not s["swaps"], s["swaps"]
    known = KNOWN_MISSES.get(f"pose2sim_multi_cam0{cam}", set())
    misses = [m for m in s["misses"] if m[1] not in known]
    assert not misses, misses
    assert len(set(s["ids"]) - known) >= 2


@pytest.mark.parametrize("cam", [1, 2])
def test_pose2sim_background_person_found(cam, data_dir):
    """The background woman C has a pose on every checked frame from the first one, with one id."""
    ref, s = _pose2sim(cam, data_dir)
    assert not s["misses"], s["misses"]
    assert "C" in s["ids"] and len(set(s["ids"].values())) == len(ref["people"])


def test_pose2sim_background_person_needs_the_tracked_people_greyed_out(data_dir):
    """Without greying out the people already found, the same tiles miss C on cam01: on the
    first frame (every tile searched) A is found in a tile only after B was greyed out, and C
    only after A was (frame 0: C scores 0.33 in her tile with A visible)."""
    stem = "pose2sim_multi_cam01"
    ref = _reference(stem)
    frames = _frames(data_dir / f"{stem}.mp4")[:12]
    runs = {}
    for mask in (False, True):
        t = PoseTracker(num_poses=3, small_person_height=POSE2SIM_SMALL_PERSON_HEIGHT)
        t.multi.options = replace(t.multi.options, mask_tracked=mask)
        runs[mask] = [t.process(f, i / 60.0) for i, f in enumerate(frames)]
    checked = [k for k in sorted(ref["frames"], key=int) if int(k) < len(frames)]
    found = {mask: sum("C" in match_people(run[int(k)], ref["frames"][k]) for k in checked)
             for mask, run in runs.items()}
    assert found[True] == len(checked), found
    assert found[False] == 0, found


def test_small_people_are_found_with_the_small_person_search(sports2d):
    """A 768x432 mosaic of four shrunk sports2d views (each at another time): people 60-105 px
    tall, the issue's ~80 px in a street scene. The whole-frame detector finds none of them;
    with small_person_height=80 (8 tiles, all searched on the first detector run, then 3 per
    run) 95 % of the checked people are found and tracked (bench/bench_multi_person.py)."""
    ref = _reference("sports2d_demo")
    tw, th, length = 384, 216, 90
    sx, sy = tw / sports2d[0].shape[1], th / sports2d[0].shape[0]
    offsets = [round(q * (len(sports2d) - length) / 3) for q in range(4)]
    views = [[cv2.resize(f, (tw, th), interpolation=cv2.INTER_AREA) for f in sports2d[o:o + length]]
             for o in offsets]
    mosaic = [np.vstack([np.hstack([views[r * 2 + c][i] for c in range(2)]) for r in range(2)])
              for i in range(length)]
    checked = []
    for i in range(length):
        for q, o in enumerate(offsets):
            if 160 <= i + o <= 190:  # the somersault: outside what BlazePose models
                continue
            for p in ref["frames"].get(str(i + o), []):
                x0, y0, x1, y1 = p["box"]
                if p.get("occluded", False) or (y1 - y0) * sy < 60:
                    continue
                ox, oy = (q % 2) * tw, (q // 2) * th
                checked.append((i, [x0 * sx + ox, y0 * sy + oy, x1 * sx + ox, y1 * sy + oy]))
    assert len(checked) > 100

    def recall(tracker: PoseTracker, frames: list[np.ndarray]) -> float:
        out = [tracker.process(f, i / 30.0) for i, f in enumerate(frames)]
        hits = 0
        for i, (x0, y0, x1, y1) in checked:
            hips = [(p.keypoints[23, :2] + p.keypoints[24, :2]) / 2 for p in out[i]]
            hits += any(x0 <= h[0] < x1 and y0 <= h[1] < y1 for h in hips)
        return hits / len(checked)

    off = PoseTracker(num_poses=8)
    assert recall(off, mosaic) < 0.05
    on = PoseTracker(num_poses=8, small_person_height=80, tiles_per_run=3)
    assert recall(on, mosaic) >= 0.85
    assert on.multi.tile_runs > 0 and off.multi.tile_runs == 0
