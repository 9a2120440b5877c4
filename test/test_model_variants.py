"""The lite and heavy landmark models (``model_complexity`` 0 and 2) on real people.

They come from the ``@mediapipe/pose`` npm package (scripts/fetch_models.py). Each must
have the BlazePose I/O, lose only its segmentation decoder to pruning (the kept outputs
bit-identical), and put the keypoints on the man in bus.jpg and on the full-body clip
where the full model puts them (the models differ, so the bound is loose: a few % of
the torso, not a pixel).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blazepose_ros.core import PoseTracker
from blazepose_ros.core.inference import TFLiteModel
from blazepose_ros.core.landmarks import landmark_model_content
from blazepose_ros.core.models import COMPLEXITY_TO_MODEL, KNOWN_SHA256, resolve_model

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
pytestmark = pytest.mark.unit

VARIANTS = ("lite", "full", "heavy")
LANDMARK_OUTPUTS = [(1, 195), (1, 1), (1, 256, 256, 1), (1, 64, 64, 39), (1, 117)]


def _rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _torso(kp: np.ndarray) -> float:
    return float((np.linalg.norm(kp[11, :2] - kp[23, :2]) + np.linalg.norm(kp[12, :2] - kp[24, :2])) / 2)


def _ops(content: bytes) -> int:
    return schema.Model.GetRootAsModel(content, 0).Subgraphs(0).OperatorsLength()


@pytest.fixture(scope="module")
def bus_poses(data_dir) -> dict[str, object]:
    rgb = _rgb(data_dir / "bus.jpg")
    out = {}
    for name in VARIANTS:
        poses = PoseTracker(name, static_image_mode=True).process(rgb, 0.0)
        assert len(poses) == 1, name
        out[name] = poses[0]
    return out


@pytest.mark.parametrize("name", VARIANTS)
def test_model_has_the_blazepose_io_and_is_verified(name: str) -> None:
    mf = resolve_model(name)
    assert mf.verified and mf.sha256 == KNOWN_SHA256[mf.path.name]
    m = TFLiteModel(mf.path)
    assert m.input_shape == (1, 256, 256, 3) and m.input_dtype == np.float32
    assert m.output_shapes == LANDMARK_OUTPUTS


@pytest.mark.parametrize("name", VARIANTS)
def test_pruning_drops_only_the_mask_bit_for_bit(name: str, data_dir) -> None:
    path = resolve_model(name).path
    pruned = landmark_model_content(path, enable_segmentation=False)
    assert pruned is not None and _ops(pruned) < _ops(path.read_bytes())
    whole, small = TFLiteModel(path), TFLiteModel(path, model_content=pruned)
    assert small.output_shapes == [s for s in LANDMARK_OUTPUTS if s != (1, 256, 256, 1)]
    # the square around the man on the left (the ROI the pipeline finds), black beyond the edge
    padded = cv2.copyMakeBorder(_rgb(data_dir / "bus.jpg"), 0, 0, 200, 0, cv2.BORDER_CONSTANT)
    crop = cv2.resize(padded[320:964, 14:658], (256, 256), interpolation=cv2.INTER_AREA)
    for m in (whole, small):
        view = m.input_view()
        view[0] = crop.astype(np.float32) / 255.0
        del view
        m.invoke()
    by_shape = {s: whole.output(i) for i, s in enumerate(whole.output_shapes)}
    for i, s in enumerate(small.output_shapes):
        np.testing.assert_array_equal(small.output(i), by_shape[s])
    assert float(by_shape[(1, 1)].reshape(-1)[0]) > 0.5  # the crop holds a person: the flag says so


@pytest.mark.parametrize("complexity", sorted(COMPLEXITY_TO_MODEL))
def test_model_complexity_selects_the_variant(complexity: int) -> None:
    t = PoseTracker(complexity, static_image_mode=True)
    assert t.model_path.name == f"pose_landmark_{COMPLEXITY_TO_MODEL[complexity]}.tflite"


@pytest.mark.parametrize("name", ["lite", "heavy"])
def test_keypoints_on_the_man_in_bus_jpg(name: str, bus_poses) -> None:
    p, ref = bus_poses[name], bus_poses["full"]
    kp = p.keypoints
    assert p.score > 0.9
    assert kp.shape == (33, 5) and np.isfinite(kp).all()
    assert (kp[:, 3:] >= 0).all() and (kp[:, 3:] <= 1).all()
    # upright man, left of the bus: nose above shoulders above hips above knees above ankles
    y = kp[:, 1]
    assert y[0] < min(y[11], y[12]) < min(y[23], y[24]) < min(y[25], y[26]) < min(y[27], y[28])
    assert (kp[:, 0] > 0).all() and (kp[:, 0] < 340).all() and (y > 380).all() and (y < 960).all()
    torso = _torso(ref.keypoints)
    assert torso > 100
    err = np.linalg.norm(kp[:, :2] - ref.keypoints[:, :2], axis=1)
    assert np.median(err) < 0.06 * torso and err.max() < 0.25 * torso, (np.median(err), err.max(), torso)
    # world keypoints in metres: the models' depth guesses differ by a few cm, the body's size not
    world_err = np.linalg.norm(p.world - ref.world, axis=1)
    assert np.median(world_err) < 0.12, np.median(world_err)
    shoulders = float(np.linalg.norm(p.world[11] - p.world[12]))
    assert 0.2 < shoulders < 0.5, shoulders


@pytest.mark.parametrize("name", ["lite", "heavy"])
def test_tracking_the_full_body_clip(name: str, data_dir) -> None:
    """30 frames of sample_fullbody.mp4 in tracking mode: a pose on every frame, on the full
    model's, and the landmark model (not the detector) carries the track."""
    cap = cv2.VideoCapture(str(data_dir / "sample_fullbody.mp4"))
    frames = []
    while len(frames) < 30:
        ok, bgr = cap.read()
        assert ok, "sample_fullbody.mp4 ended early"
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    ours, full = PoseTracker(name), PoseTracker("full")
    for i, rgb in enumerate(frames):
        a, b = ours.process(rgb, i / 30), full.process(rgb, i / 30)
        assert len(a) == len(b) == 1, i
        err = np.linalg.norm(a[0].keypoints[:, :2] - b[0].keypoints[:, :2], axis=1)
        assert np.median(err) < 0.08 * _torso(b[0].keypoints), i
    assert ours.detector_runs < 5 and ours.landmark_runs == 30
