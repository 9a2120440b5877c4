"""pose_node's in-process parts: the diagnostics window and status, the outputs' person
selection and per-person markers, CameraInfo -> camera model (no DDS, no node process)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diagnostic_msgs")
from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from blazepose_ros.core.camera import (
    CameraInfoError,
    camera_model_from_info,
    intrinsics_from_fov,
)
from blazepose_ros.core.types import Pose, Roi
from blazepose_ros.ros.diagnostics import (
    FrameStats,
    StatsWindow,
    Totals,
    TrackerInfo,
    diagnostic_status,
    transport_loss_warning,
)
from blazepose_ros.ros.outputs import FrameResult, OutputOptions, marker_update, primary_index

pytestmark = pytest.mark.unit

INFO = TrackerInfo(name="ns/pose_node: pose tracking", image_topic="/cam/image", active_delegate="cpu",
                   requested_delegate="auto", model="full", detector_runs=3, camera_info="yes",
                   camera_timeout_s=1.0)


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def test_stats_window_counts_changes_since_the_previous_window() -> None:
    stats = FrameStats(_window_start=100.0)
    with stats.lock:
        stats.add(received=10, processed=8, dropped=2)
        stats.processing_s.extend([0.010, 0.030])
        stats.last_image_monotonic = 101.5
    w = stats.window(102.0)
    assert (w.received, w.processed, w.errors, w.window_s) == (10, 8, 0, 2.0)
    assert w.input_rate_hz == 5.0 and w.output_rate_hz == 4.0 and w.last_image_age_s == 0.5
    assert w.processing_s == (0.010, 0.030)
    with stats.lock:
        stats.add(received=1, conversion_errors=1)
        stats.set(lost=7)
    w2 = stats.window(103.0)
    assert (w2.received, w2.processed, w2.errors, w2.lost, w2.window_s) == (1, 0, 1, 7, 1.0)
    assert w2.totals.received == 11 and w2.processing_s == ()


def test_status_levels_and_values() -> None:
    ok = StatsWindow(Totals(received=30, processed=30, people=2), 1.0, 30, 30, 0, 0,
                     processing_s=(0.02, 0.04), latency_s=(0.05,), last_image_age_s=0.03)
    s = diagnostic_status(ok, INFO)
    v = values(s)
    assert s.level == DiagnosticStatus.OK and s.message == "tracking 2 person(s)" and s.hardware_id == "cpu"
    assert v["input_rate_hz"] == "30.0" and v["processing_time_ms"] == "30.0"
    assert v["processing_time_max_ms"] == "40.0" and v["pipeline_time_ms"] == "nan"
    assert v["detector_runs"] == "3" and v["requested_delegate"] == "auto" and v["people"] == "2"

    never = StatsWindow(Totals(), 1.0, 0, 0, 0, 0)
    assert diagnostic_status(never, INFO).message == "no image received on '/cam/image'"
    stale = StatsWindow(Totals(received=5), 1.0, 0, 0, 0, 0, last_image_age_s=3.0)
    assert diagnostic_status(stale, INFO).level == DiagnosticStatus.WARN
    some_bad = StatsWindow(Totals(received=10, processed=8, processing_errors=2), 1.0, 10, 8, 0, 2,
                           last_image_age_s=0.0)
    assert diagnostic_status(some_bad, INFO).message == "2 bad frame(s) in the last 1.0 s"
    all_bad = StatsWindow(Totals(received=10, conversion_errors=10), 1.0, 10, 0, 0, 10, last_image_age_s=0.0)
    assert diagnostic_status(all_bad, INFO).level == DiagnosticStatus.ERROR


def test_transport_loss_warning_only_for_heavy_best_effort_loss() -> None:
    lossy = StatsWindow(Totals(), 1.0, received=3, processed=3, lost=20, errors=0)
    assert "fastdds_large_frames.xml" in transport_loss_warning(lossy, reliable=False)
    assert transport_loss_warning(lossy, reliable=True) is None
    assert transport_loss_warning(StatsWindow(Totals(), 1.0, 30, 30, 5, 0), reliable=False) is None


def pose(pid: int, side_px: float) -> Pose:
    rng = np.random.default_rng(pid)
    kp = np.zeros((33, 5), np.float32)
    kp[:, :2] = rng.uniform(0, 400, (33, 2))
    kp[:, 3:] = 0.9
    return Pose(keypoints=kp, world=rng.uniform(-0.5, 0.5, (33, 3)).astype(np.float32), score=0.9,
                roi=Roi(200, 200, side_px, side_px, 0.0), id=pid)


def frame(*poses: Pose) -> FrameResult:
    return FrameResult(Header(frame_id="cam"), np.zeros((480, 640, 3), np.uint8), poses,
                       [None] * len(poses), use_world_markers=True)


def test_primary_person_is_the_largest_roi() -> None:
    assert primary_index([]) is None
    assert primary_index([pose(1, 100)]) == 0
    assert primary_index([pose(1, 100), pose(2, 300), pose(3, 200)]) == 1
    assert primary_index([pose(1, 200), pose(2, 200)]) == 0  # a tie: the first


def test_markers_per_person_delete_departed_ids_and_deleteall_when_nobody_is_left() -> None:
    opts = OutputOptions(publish_markers=True, marker_lifetime_s=0.5)
    arr, shown = marker_update(frame(pose(1, 100), pose(2, 200)), opts, set())
    assert shown == {1, 2} and {m.ns for m in arr.markers} == {"pose_1", "pose_2"}
    assert all(m.action == Marker.ADD for m in arr.markers)

    arr, shown = marker_update(frame(pose(2, 200)), opts, shown)  # person 1 left
    assert shown == {2}
    deleted = [(m.ns, m.id) for m in arr.markers if m.action == Marker.DELETE]
    assert deleted == [("pose_1", 0), ("pose_1", 1), ("pose_1", 2)]
    assert {m.ns for m in arr.markers if m.action == Marker.ADD} == {"pose_2"}

    arr, shown = marker_update(frame(), opts, shown)  # nobody left
    assert shown == set() and [m.action for m in arr.markers] == [Marker.DELETEALL]
    assert marker_update(frame(), opts, shown) == (None, set())  # nothing shown: nothing to send

    off = OutputOptions(publish_markers=False)
    assert marker_update(frame(pose(4, 100)), off, set()) == (None, {4})


def test_camera_model_from_info_checks_in_one_place() -> None:
    k = intrinsics_from_fov(640, 480, 60.0).reshape(-1).tolist()
    p = [k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
    model = camera_model_from_info(k, [0.0] * 5, "plumb_bob", 640, 480, (640, 480))
    assert model.k.shape == (3, 3) and model.d is None and model.note is None
    d = camera_model_from_info(k, [0.1, 0.01, 0.0, 0.0, 0.0], "plumb_bob", 640, 480, (640, 480)).d
    assert d is not None and d.size == 5
    with pytest.raises(CameraInfoError, match="its K matrix is all zeros: the camera is uncalibrated"):
        camera_model_from_info([0.0] * 9, [], "plumb_bob", 640, 480)
    with pytest.raises(CameraInfoError, match="it is for 640x480 images but the images are 320x240"):
        camera_model_from_info(k, [], "plumb_bob", 640, 480, (320, 240))
    with pytest.raises(CameraInfoError, match="its D has 3 coefficients; solvePnP takes 4, 5, 8, 12 or 14"):
        camera_model_from_info(k, [0.1, 0.2, 0.3], "plumb_bob", 640, 480)
    fisheye = camera_model_from_info(k, [0.1, 0.2, 0.3, 0.4], "equidistant", 640, 480)
    assert fisheye.d is None and "not supported by solvePnP" in fisheye.note
    rect = camera_model_from_info([0.0] * 9, [0.1] * 5, "plumb_bob", 0, 0, (640, 480), p, rectified=True)
    np.testing.assert_array_equal(rect.k, np.asarray(p).reshape(3, 4)[:, :3])
    assert rect.d is None
