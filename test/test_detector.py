"""Detector: anchors, decoding, scores, weighted NMS, letterbox removal, detection -> ROI, real model."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from blazepose_ros.core.detector import (
    AnchorOptions,
    Detection,
    DetectorOptions,
    PoseDetector,
    decode_boxes,
    detection_to_rect,
    detection_without_letterbox,
    generate_anchors,
    input_lut,
    iou,
    sigmoid_scores,
    to_detections,
    weighted_nms,
)
from blazepose_ros.core.inference import TFLiteModel
from blazepose_ros.core.models import resolve_model

pytestmark = pytest.mark.unit

F32 = np.float32


# --- anchors ------------------------------------------------------------------------------------
def test_anchor_count_and_layout():
    a = generate_anchors()
    assert a.shape == (2254, 4) and a.dtype == np.float32
    assert np.all(a[:, 2:] == 1.0)  # fixed_anchor_size
    # stride 8: 28x28 cells x 2, stride 16: 14x14 x 2, stride 32 (3 merged layers): 7x7 x 6
    n8, n16, n32 = 28 * 28 * 2, 14 * 14 * 2, 7 * 7 * 6
    assert (n8, n16, n32) == (1568, 392, 294)
    np.testing.assert_allclose(a[0, :2], [0.5 / 28, 0.5 / 28], rtol=1e-6)
    np.testing.assert_array_equal(a[0], a[1])  # 2 anchors per cell
    np.testing.assert_allclose(a[2, :2], [1.5 / 28, 0.5 / 28], rtol=1e-6)  # then next column
    np.testing.assert_allclose(a[2 * 28, :2], [0.5 / 28, 1.5 / 28], rtol=1e-6)  # then next row
    np.testing.assert_allclose(a[n8 - 1, :2], [27.5 / 28, 27.5 / 28], rtol=1e-6)
    np.testing.assert_allclose(a[n8, :2], [0.5 / 14, 0.5 / 14], rtol=1e-6)
    np.testing.assert_allclose(a[n8 + n16, :2], [0.5 / 7, 0.5 / 7], rtol=1e-6)
    assert np.all(a[n8 + n16: n8 + n16 + 6] == a[n8 + n16])  # 6 anchors per stride-32 cell
    np.testing.assert_allclose(a[-1, :2], [6.5 / 7, 6.5 / 7], rtol=1e-6)
    # per-layer counts from the centre grid spacing
    assert len(np.unique(a[:n8, 0])) == 28 and len(np.unique(a[n8:n8 + n16, 0])) == 14
    assert len(np.unique(a[n8 + n16:, 0])) == 7


def test_anchor_generation_follows_the_options():
    a = generate_anchors(AnchorOptions(num_layers=2, strides=(16, 32), input_size_width=64,
                                       input_size_height=32, interpolated_scale_aspect_ratio=0.0))
    assert len(a) == 4 * 2 + 2 * 1  # 4x2 cells, then 2x1; one anchor each (no interpolated)
    b = generate_anchors(AnchorOptions(fixed_anchor_size=False))
    assert len(b) == 2254 and not np.all(b[:, 2] == 1.0)


# --- decoding and scores ------------------------------------------------------------------------
def test_decode_zero_regression_sits_on_the_anchor():
    anchors = generate_anchors()[:3]
    raw = np.zeros((3, 12), F32)
    raw[1] = [22.4, -11.2, 44.8, 22.4, 0, 0, 2.24, 0, 0, 0, 0, -22.4]
    d = decode_boxes(raw, anchors, DetectorOptions())
    np.testing.assert_allclose(d[0, :4], [anchors[0, 0], anchors[0, 1]] * 2, rtol=1e-6)
    np.testing.assert_allclose(d[0, 4:].reshape(4, 2), np.tile(anchors[0, :2], (4, 1)), rtol=1e-6)
    ax, ay = anchors[1, :2]
    xc, yc, w, h = ax + 0.1, ay - 0.05, 0.2, 0.1  # raw / 224
    np.testing.assert_allclose(d[1, :4], [xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], atol=1e-6)
    np.testing.assert_allclose(d[1, 4:].reshape(4, 2),
                               [[ax, ay], [ax + 0.01, ay], [ax, ay], [ax, ay - 0.1]], atol=1e-6)


def test_sigmoid_scores_clip_at_100():
    s = sigmoid_scores(np.array([[1e4], [-1e4], [0.0], [100.0], [-100.0]], F32), 100.0)
    assert s.dtype == np.float32
    np.testing.assert_allclose(s, [1.0, 0.0, 0.5, 1.0, 0.0], atol=1e-30)
    assert np.all(np.isfinite(s))


def test_to_detections_threshold_is_inclusive_and_drops_negative_boxes():
    dec = np.array([[0.1, 0.1, 0.2, 0.2] + [0.0] * 8,
                    [0.1, 0.1, 0.05, 0.2] + [0.0] * 8,  # negative width
                    [0.1, 0.1, 0.2, 0.2] + [0.0] * 8], F32)
    scores = np.array([0.5, 0.9, 0.49999], F32)
    dets = to_detections(dec, scores, 0.5)
    assert len(dets) == 1 and dets[0].score == 0.5
    np.testing.assert_allclose(dets[0].box, [0.1, 0.1, 0.1, 0.1], atol=1e-7)


# --- NMS ------------------------------------------------------------------------------------------
def _det(score, box, kp_offset=0.0):
    kps = np.array([[box[0] + kp_offset, box[1]]] * 4, F32)
    return Detection(score, np.array(box, F32), kps)


def test_iou_values():
    a = np.array([0, 0, 1, 1], F32)
    assert iou(a, a) == 1.0
    assert iou(a, np.array([0.5, 0, 1, 1], F32)) == pytest.approx(0.5 / 1.5)
    assert iou(a, np.array([1.0, 0, 1, 1], F32)) == 0.0  # touching edge: area 0
    assert iou(a, np.array([2.0, 0, 1, 1], F32)) == 0.0


def test_weighted_nms_merges_overlaps_with_score_weighted_means():
    a = _det(0.9, [0.10, 0.10, 0.20, 0.20], 0.0)
    b = _det(0.6, [0.12, 0.10, 0.20, 0.20], 0.03)  # IoU with a = 0.18/0.22 > 0.3
    c = _det(0.7, [0.60, 0.60, 0.10, 0.10])  # far away: its own cluster
    out = weighted_nms([b, c, a])
    assert [d.score for d in out] == [pytest.approx(0.9), pytest.approx(0.7)]  # top score kept
    m = out[0]
    exp_xmin = (0.9 * 0.10 + 0.6 * 0.12) / 1.5
    exp_xmax = (0.9 * 0.30 + 0.6 * 0.32) / 1.5
    np.testing.assert_allclose(m.box, [exp_xmin, 0.10, exp_xmax - exp_xmin, 0.20], atol=1e-6)
    np.testing.assert_allclose(m.keypoints[:, 0], (0.9 * 0.10 + 0.6 * 0.15) / 1.5, atol=1e-6)
    np.testing.assert_allclose(out[1].box, c.box, atol=1e-7)  # re-weighted alone: ulp-level


def test_weighted_nms_threshold_is_strict():
    a = _det(0.9, [0.0, 0.0, 0.2, 0.2])
    b = _det(0.8, [0.07, 0.0, 0.2, 0.2])
    overlap = float(iou(b.box, a.box))
    assert len(weighted_nms([a, b], threshold=overlap)) == 2  # equal is not "> threshold"
    assert len(weighted_nms([a, b], threshold=float(np.nextafter(F32(overlap), F32(0))))) == 1


def test_detection_letterbox_removal():
    d = _det(0.8, [0.5, 0.125, 0.25, 0.25])
    out = detection_without_letterbox(d, np.array([0.0, 0.125, 0.0, 0.125], F32))
    np.testing.assert_allclose(out.box, [0.5, 0.0, 0.25, 1 / 3], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[0], [0.5, 0.0], atol=1e-6)


# --- detection -> ROI ------------------------------------------------------------------------------
def _kp_det(kp0, kp1):
    kps = np.array([kp0, kp1, kp0, kp1], F32)
    return Detection(0.9, np.array([0, 0, 0.1, 0.1], F32), kps)


def test_detection_to_rect_upright():
    w, h = 640, 480
    r = detection_to_rect(_kp_det((0.5, 0.6), (0.5, 0.4)), w, h)  # kp1 96 px above kp0
    assert float(r.rotation) == 0.0
    assert float(r.x_center) == pytest.approx(0.5) and float(r.y_center) == pytest.approx(0.6)
    assert float(r.width) * w == pytest.approx(2 * 96 * 1.25, rel=1e-6)
    assert float(r.height) * h == pytest.approx(2 * 96 * 1.25, rel=1e-6)


@pytest.mark.parametrize("deg", [-150, -90, -30, 15, 45, 90, 135, 180])
def test_detection_to_rect_rotated(deg):
    w, h = 800, 600
    d = 100.0
    # body "up" vector rotated clockwise on screen by deg
    dx, dy = d * math.sin(math.radians(deg)), -d * math.cos(math.radians(deg))
    kp0 = (0.5, 0.5)
    kp1 = ((400 + dx) / w, (300 + dy) / h)
    r = detection_to_rect(_kp_det(kp0, kp1), w, h)
    expected = math.remainder(math.radians(deg), 2 * math.pi)
    got = float(r.rotation)
    assert math.isclose(math.cos(got), math.cos(expected), abs_tol=1e-5)
    assert math.isclose(math.sin(got), math.sin(expected), abs_tol=1e-5)
    assert float(r.width) * w == pytest.approx(250.0, rel=1e-5)


# --- the real model --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def detector():
    return PoseDetector(TFLiteModel(resolve_model("detector", "detector").path))


def _rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_detector_input_is_letterboxed_in_minus_one_one(detector, data_dir):
    img = _rgb(data_dir / "bus.jpg")  # 810 x 1080 portrait: left/right bands
    pad = detector.preprocess(img)
    np.testing.assert_allclose(pad, [0.125, 0, 0.125, 0], atol=1e-7)
    x = detector.model.input_view()[0].copy()
    # u8 * float32(2/255) - 1 rounded once (OpenCV convertTo): 255 maps to 1 + 1 ulp
    assert x.dtype == np.float32 and x.min() >= -1.0 and x.max() <= np.nextafter(np.float32(1), 2)
    assert np.all(x[:, :27] == -1.0) and np.all(x[:, 198:] == -1.0)  # zero border -> -1
    # the middle equals the uint8 crop scaled by 2/255 - 1
    crop = detector._crop.astype(np.float32)
    np.testing.assert_allclose(x, crop * np.float32(2 / 255) - 1, atol=1e-6)
    fused = (detector._crop.astype(np.float64) * np.float64(np.float32(2) / np.float32(255)) - 1.0)
    assert np.array_equal(x, fused.astype(np.float32))  # one rounding, not two


def test_input_lut_rounds_once() -> None:
    scale, offset = np.float32(np.float32(2) / np.float32(255)), np.float32(-1)
    lut = input_lut(scale, offset).reshape(-1)
    two_roundings = np.arange(256).astype(np.float32) * scale + offset
    assert lut[0] == -1 and lut[255] == np.nextafter(np.float32(1), 2)
    assert 0 < np.count_nonzero(lut != two_roundings) < 256
    assert np.abs(lut - two_roundings).max() <= np.float32(1.2e-7)


def test_detector_finds_the_person_in_bus(detector, data_dir):
    img = _rgb(data_dir / "bus.jpg")
    dets = detector.detect(img)
    assert dets and dets[0].score > 0.5
    assert all(dets[i].score >= dets[i + 1].score for i in range(len(dets) - 1))
    kp = dets[0].keypoints * [img.shape[1], img.shape[0]]
    hip, shoulder = kp[0], kp[2]
    assert shoulder[1] < hip[1]  # upright person: mid-shoulder above mid-hip
    assert 40 < hip[0] < 260 and 400 < hip[1] < 900  # inside the left man (x 50-245, y 400-905)
    rect = detection_to_rect(dets[0], img.shape[1], img.shape[0])
    assert abs(float(rect.rotation)) < 0.3


def test_detector_min_score_on_zidane(data_dir):
    """zidane.jpg (two half-bodies): best detection scores between 0.3 and 0.5."""
    img = _rgb(data_dir / "zidane.jpg")
    m = TFLiteModel(resolve_model("detector", "detector").path)
    assert PoseDetector(m, DetectorOptions(min_score_thresh=0.5)).detect(img) == []
    dets = PoseDetector(m, DetectorOptions(min_score_thresh=0.3)).detect(img)
    assert len(dets) >= 1 and 0.3 <= dets[0].score < 0.5


def test_detector_on_blank_image_finds_nothing(detector):
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
