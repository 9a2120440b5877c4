"""Parity with MediaPipe (mediapipe==0.10.21, mp.solutions.pose) without MediaPipe installed.

The reference outputs in test/reference/ were made by ``bench/make_reference.py``
in a side venv (``bench/reference_env.sh``) from the same decoded frames this
test feeds our pipeline (their SHA-256 are stored and checked). Targets (the
issue): median keypoint error < 1 px and >= 99 % of visible keypoints within
5 % of torso size, on the same frames with a pose. Metrics: bench/parity_lib.py.

Default math must meet the targets in static mode (images, both videos) and in
tracking mode with smoothing on the well-conditioned full-body clip. On the chaotic
two-person clip only ``reference_math=True`` follows MediaPipe, and then exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import parity_lib as pl  # noqa: E402

pytestmark = [pytest.mark.unit, pytest.mark.slow, pytest.mark.timeout(180)]


# --------------------------------------------------------------------------- the stored reference

def test_reference_files_are_complete_and_compact() -> None:
    total = 0
    for name, case in pl.CASES.items():
        path = pl.reference_path(name)
        total += path.stat().st_size
        ref = pl.load_reference(name)
        assert ref["mediapipe_version"] == pl.MEDIAPIPE_VERSION
        assert ref["options"]["static_image_mode"] is case.static
        assert ref["options"]["smooth_landmarks"] is case.smooth
        assert ref["options"]["model_complexity"] == 1 and ref["options"]["enable_segmentation"] is False
        assert ref["command"].startswith("python bench/make_reference.py")
        assert len(ref["frames"]) == len(ref["inputs"]) > 0
        for i, fr in enumerate(ref["frames"]):
            assert fr["index"] == i
            assert fr["stamp"] == pytest.approx(pl.stamp_of(i), abs=1e-6)
            assert len(fr["poses"]) <= 1
            for p in fr["poses"]:
                kp = np.asarray(p["keypoints"], np.float64)  # presence is null -> nan
                assert kp.shape == (33, 5) and np.isfinite(kp[:, :4]).all()
                assert np.isnan(kp[:, 4]).all()
                assert np.asarray(p["world"]).shape == (33, 3)
    assert total < 2 * 1024 * 1024


def test_reference_poses_are_people_not_noise() -> None:
    """Sanity of the stored reference itself: poses on the people, in order, on most frames."""
    for name in ("video_tracking", "fullbody_static", "fullbody_tracking"):
        assert all(fr["poses"] for fr in pl.load_reference(name)["frames"]), name
    static = pl.load_reference("static_images")
    found = {rec["name"]: bool(fr["poses"])
             for rec, fr in zip(static["inputs"], static["frames"], strict=True)}
    assert found["bus.jpg"] and found["bus_crop_left.png"] and found["zidane_rot90.png"]
    assert not found["zidane.jpg"]  # MediaPipe's detector finds nobody above 0.5 on it
    for fr in static["frames"]:
        for p in fr["poses"]:
            kp = np.asarray(p["keypoints"], np.float64)
            assert pl.torso_size(kp) > 20
    bus = np.asarray(static["frames"][0]["poses"][0]["keypoints"], np.float64)
    assert bus[0, 1] < bus[23, 1] < bus[27, 1]  # nose above hip above ankle


@pytest.mark.parametrize("case_name", list(pl.CASES))
def test_our_inputs_are_the_references_inputs(case_name: str, data_dir: Path) -> None:
    names, frames = pl.case_inputs(pl.CASES[case_name], data_dir)
    problems = pl.check_inputs(pl.load_reference(case_name), names, frames)
    assert not problems, "test media differ from what the reference saw:\n" + "\n".join(problems[:5])


# --------------------------------------------------------------------------- the metrics

def _frames_from(kps: list[np.ndarray | None]) -> list[dict]:
    return [{"index": i, "stamp": pl.stamp_of(i), "poses": [] if k is None else [
        {"score": 1.0, "keypoints": k.tolist(), "world": np.zeros((33, 3)).tolist()}]}
        for i, k in enumerate(kps)]


def _pose(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kp = np.zeros((33, 5))
    kp[:, :2] = rng.uniform(100, 300, (33, 2))
    kp[[11, 12], 1], kp[[23, 24], 1] = 100.0, 300.0  # torso size 200 px
    kp[[11, 23], 0], kp[[12, 24], 0] = 150.0, 250.0
    kp[:, 3] = 0.9
    return kp


def test_metrics_identical_pass_and_shifted_fail() -> None:
    ref = _frames_from([_pose(0), _pose(1), None])
    same = pl.compare("same", ref, _frames_from([_pose(0), _pose(1), None]))
    assert same.passed and same.median_px == 0 and same.matched == 2 and same.within_torso == 1.0
    shifted = [_pose(0), _pose(1), None]
    for k in shifted[:2]:
        k[:, 0] += 1.5  # 1.5 px: within 5 % of 200 px torso, but median >= 1 px
    m = pl.compare("shift", ref, _frames_from(shifted))
    assert m.median_px == pytest.approx(1.5) and m.within_torso == 1.0 and not m.passed
    far = [_pose(0), _pose(1), None]
    far[0][:2, 1] += 11.0  # 2 of 66 keypoints beyond 10 px (5 % of 200)
    m = pl.compare("far", ref, _frames_from(far))
    assert m.median_px == 0 and m.within_torso == pytest.approx(64 / 66) and not m.passed


def test_metrics_count_frames_where_only_one_side_finds_a_pose() -> None:
    ref = _frames_from([_pose(0), _pose(1), None])
    m = pl.compare("extra", ref, _frames_from([_pose(0), _pose(1), _pose(2)]))
    assert (m.ref_poses, m.our_poses, m.matched) == (2, 3, 2) and not m.passed
    m = pl.compare("missing", ref, _frames_from([_pose(0), None, None]))
    assert (m.ref_poses, m.our_poses, m.matched) == (2, 1, 1) and not m.passed
    with pytest.raises(ValueError):
        pl.compare("len", ref, ref[:2])


def test_invisible_keypoints_do_not_count_towards_the_torso_share() -> None:
    ref_kp = _pose(0)
    ref_kp[:3, 3] = 0.1
    ours = ref_kp.copy()
    ours[:3, :2] += 50.0
    m = pl.compare("vis", _frames_from([ref_kp]), _frames_from([ours]))
    assert m.within_torso == 1.0 and m.visible_within.size == 30 and m.max_px > 70


def test_variants_are_deterministic(tmp_path: Path, data_dir: Path) -> None:
    for name in ("bus.jpg", "zidane.jpg"):
        (tmp_path / name).write_bytes((data_dir / name).read_bytes())
    paths = pl.ensure_variants(tmp_path)
    again = {n: pl.make_variant(n, data_dir) for n in pl.VARIANTS}
    for n, p in paths.items():
        assert np.array_equal(pl.load_rgb(p)[:, :, ::-1], again[n]), n
    assert again["zidane_rot90.png"].shape[:2] == (1280, 720)


# --------------------------------------------------------------------------- our pipeline vs the reference

@pytest.fixture(scope="module")
def results(data_dir: Path) -> dict[str, pl.CaseMetrics]:
    out = {}
    for name, case in pl.CASES.items():
        _, frames = pl.case_inputs(case, data_dir)
        out[name] = pl.compare(name, pl.load_reference(name)["frames"], pl.run_ours(case, frames))
    print("\n" + pl.format_table(out.values()))
    return out


@pytest.mark.parametrize("case_name", ["static_images", "video_static", "fullbody_static"])
def test_static_mode_parity(results: dict[str, pl.CaseMetrics], case_name: str) -> None:
    m = results[case_name]
    assert m.same_detections, f"pose on different frames: ref {m.ref_poses}, ours {m.our_poses}"
    assert m.median_px < pl.TARGET_MEDIAN_PX, pl.format_table([m])
    assert m.within_torso >= pl.TARGET_WITHIN_TORSO, pl.format_table([m])
    # static mode has no loop to amplify differences: much tighter than the target
    assert m.median_px < 0.05 and m.max_px < 10.0 and float(np.median(m.world_mm)) < 1.0, pl.format_table([m])


def test_fullbody_tracking_with_smoothing_parity(results: dict[str, pl.CaseMetrics]) -> None:
    """Default math, tracking + smoothing, one full-body man: the issue's targets."""
    m = results["fullbody_tracking"]
    assert m.same_detections and m.matched == 100, pl.format_table([m])
    assert m.median_px < pl.TARGET_MEDIAN_PX, pl.format_table([m])
    assert m.within_torso >= pl.TARGET_WITHIN_TORSO, pl.format_table([m])
    assert float(np.median(m.world_mm)) < 10.0, pl.format_table([m])


def test_fullbody_clip_is_tracked_from_one_detection(data_dir: Path) -> None:
    """sample_fullbody.mp4 is well-conditioned: one detection, then the track holds on every frame."""
    from blazepose_ros.core import PoseTracker

    _, frames = pl.case_inputs(pl.CASES["fullbody_tracking"], data_dir)
    tracker = PoseTracker(model="full")
    found = [len(tracker.process(rgb, pl.stamp_of(i))) for i, rgb in enumerate(frames)]
    assert len(frames) == 100 and found == [1] * 100
    assert tracker.detector_runs == 1


def test_chaotic_tracking_is_bit_exact_with_reference_math(data_dir: Path) -> None:
    """reference_math=True rounds exp/atan2 like glibc (MediaPipe's): the loop then follows MediaPipe.

    sample_people.mp4 is chaotic (two overlapping half-body men; the track hops between
    them), so any 1-ulp difference can pick the other man; with MediaPipe's rounding
    there is none left: every keypoint equals the stored reference (4 decimals).
    """
    case = pl.CASES["video_tracking"]
    _, frames = pl.case_inputs(case, data_dir)
    ours = pl.run_ours(case, frames, tracker_kwargs={"reference_math": True})
    m = pl.compare("video_tracking (reference math)", pl.load_reference("video_tracking")["frames"], ours)
    assert m.same_detections and m.matched == 90, pl.format_table([m])
    exact = m.max_px < 1e-3 and float(np.max(m.world_mm)) < 0.1 and m.vis_diff.max() < 1e-3
    assert exact, pl.format_table([m])


def test_chaotic_tracking_default_math_stays_bounded(results: dict[str, pl.CaseMetrics]) -> None:
    """Regression guard for the default (NumPy) math on the chaotic clip: not parity, bounded drift.

    One-ulp differences from np.exp decide which of the two overlapping men the track
    follows for a few frames (docs/accuracy.md), so only loose bounds hold here.
    """
    m = results["video_tracking"]
    assert m.ref_poses == 90 and m.our_poses >= 88 and m.matched >= 88, pl.format_table([m])
    assert m.median_px < 8.0 and m.within_torso > 0.80, pl.format_table([m])
    assert float(np.median(m.world_mm)) < 40.0, pl.format_table([m])


def test_table_lists_every_case(results: dict[str, pl.CaseMetrics]) -> None:
    table = pl.format_table(results.values())
    for name in pl.CASES:
        assert name in table
    assert json.dumps({k: v.median_px for k, v in results.items()})
