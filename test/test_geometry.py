"""Pure geometry: letterbox padding, crop matrices vs projection, alignment rects, refinement."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blazepose_ros.core.geometry import (
    F32,
    PixelRect,
    alignment_points_rect,
    box_points,
    crop_matrix,
    image_to_crop_affine,
    make_norm_rect,
    norm_to_pixel_rect,
    normalize_radians,
    pad_roi,
    project_to_image,
    remove_letterbox,
    rotate_world,
    transform_rect,
    whole_image_rect,
)
from blazepose_ros.core.landmarks import refine_from_heatmap

pytestmark = pytest.mark.unit


def apply_h(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ m.T
    return p[:, :2] / p[:, 2:3]


# --- letterbox ---------------------------------------------------------------------------------
def test_pad_roi_landscape_adds_vertical_padding():
    roi, pad = pad_roi(whole_image_rect(640, 480), 224, 224)
    assert (roi.width, roi.height) == (640, 640)
    assert pad.dtype == np.float32
    np.testing.assert_allclose(pad, [0, 0.125, 0, 0.125], atol=1e-7)  # (1 - 480/640)/2


def test_pad_roi_portrait_adds_horizontal_padding():
    roi, pad = pad_roi(whole_image_rect(810, 1080), 224, 224)
    assert (roi.width, roi.height) == (1080, 1080)
    np.testing.assert_allclose(pad, [0.125, 0, 0.125, 0], atol=1e-7)  # (1 - 810/1080)/2


def test_pad_roi_square_is_identity():
    roi, pad = pad_roi(PixelRect(F32(10), F32(20), F32(300), F32(300), F32(0.3)), 256, 256)
    assert float(roi.width) == 300 and float(roi.height) == 300
    assert np.all(pad == 0)


def test_pad_roi_rejects_empty_roi():
    with pytest.raises(ValueError):
        pad_roi(PixelRect(F32(1), F32(1), F32(0), F32(5), F32(0)), 256, 256)


def test_letterboxed_crop_maps_image_into_the_middle_band():
    """Whole-image letterbox of a 640x480 frame: rows 0..27 and 196..223 of the 224 crop are border."""
    img = np.full((480, 640, 3), 200, np.uint8)
    roi, _ = pad_roi(whole_image_rect(640, 480), 224, 224)
    crop = cv2.warpPerspective(img, crop_matrix(roi, 224, 224), (224, 224), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    assert np.all(crop[:27] == 0) and np.all(crop[197:] == 0)
    assert np.all(crop[29:195] == 200)


# --- crop corners and matrices ------------------------------------------------------------------
def test_box_points_order_at_zero_rotation():
    pts = box_points(PixelRect(F32(100), F32(50), F32(40), F32(20), F32(0)))
    np.testing.assert_allclose(pts, [[80, 60], [80, 40], [120, 40], [120, 60]])


def test_crop_matrix_maps_corners_without_half_pixel_offset():
    roi = PixelRect(F32(100), F32(50), F32(40), F32(20), F32(0))
    m = crop_matrix(roi, 256, 256)
    np.testing.assert_allclose(apply_h(m, np.array([[80.0, 40.0], [120.0, 60.0], [100.0, 50.0]])),
                               [[0, 0], [256, 256], [128, 128]], atol=1e-4)


def test_crop_matrix_quarter_turn_puts_the_rect_right_side_on_top():
    """Rotation +90 deg (clockwise on screen): the crop's top edge is the rect's right side."""
    roi = PixelRect(F32(100), F32(100), F32(40), F32(40), F32(math.pi / 2))
    m = crop_matrix(roi, 256, 256)
    # a point right of the centre in the image lands above the crop centre
    u, v = apply_h(m, np.array([[115.0, 100.0]]))[0]
    assert abs(u - 128) < 1e-3 and v < 128 - 90


finite = {"allow_nan": False, "allow_infinity": False}


@settings(max_examples=200, deadline=None)
@given(cx=st.floats(0.0, 1.0, **finite), cy=st.floats(0.0, 1.0, **finite),
       size=st.floats(0.05, 1.5, **finite), rot=st.floats(-math.pi, math.pi, **finite),
       u=st.floats(0.0, 1.0, **finite), v=st.floats(0.0, 1.0, **finite),
       w=st.integers(64, 1920), h=st.integers(64, 1080))
def test_crop_matrix_inverts_projection(cx, cy, size, rot, u, v, w, h):
    """ROI-local (u, v) -> image (projection, docs/pipeline.md §7.6) -> crop pixels (crop matrix)
    == (256u, 256v)."""
    side = size * min(w, h)
    rect = make_norm_rect(cx, cy, side / w, side / h, rot)  # square in pixels, like every pose ROI
    roi, pad = pad_roi(norm_to_pixel_rect(rect, w, h), 256, 256)
    assert np.all(np.abs(pad) < 1e-5)
    img_n = project_to_image(np.array([[u, v, 0.0]], np.float32), rect)[0]
    img_px = np.array([[img_n[0] * w, img_n[1] * h]])
    crop_px = apply_h(crop_matrix(roi, 256, 256), img_px)[0]
    tol = 1e-3 * max(1.0, 256 / side) + 2e-3
    np.testing.assert_allclose(crop_px, [256 * u, 256 * v], atol=tol)
    # the affine used to warp the segmentation mask back is the same mapping
    aff = image_to_crop_affine(roi, w, h, 256, 256)
    np.testing.assert_allclose(aff @ [img_px[0, 0], img_px[0, 1], 1.0], [256 * u, 256 * v], atol=tol)


# --- alignment points -> rect -> transformed rect -----------------------------------------------
def test_alignment_rect_upright_body_has_zero_rotation():
    w, h = 640, 480
    hip, top = np.array([0.5, 0.6]), np.array([0.5, 0.4])  # kp1 96 px straight above kp0
    r = alignment_points_rect(hip, top, w, h)
    assert float(r.rotation) == 0.0
    assert float(r.x_center) == pytest.approx(0.5) and float(r.y_center) == pytest.approx(0.6)
    assert float(r.width) * w == pytest.approx(192.0, rel=1e-6)  # 2 * 96 px
    assert float(r.height) * h == pytest.approx(192.0, rel=1e-6)
    t = transform_rect(r, w, h)
    assert float(t.width) * w == pytest.approx(240.0, rel=1e-6)  # x1.25
    assert float(t.height) * h == pytest.approx(240.0, rel=1e-6)
    assert float(t.rotation) == 0.0 and t.x_center == r.x_center


@pytest.mark.parametrize(("end", "expected"), [
    ((0.6, 0.5), math.pi / 2),  # end to the right: body lies along +x, rotate crop clockwise
    ((0.4, 0.5), -math.pi / 2),
    ((0.5, 0.7), -math.pi),  # upside down wraps to -pi ([-pi, pi) like the reference)
    ((0.6, 0.4), None),
])
def test_alignment_rect_rotation(end, expected):
    w, h = 500, 500
    r = alignment_points_rect(np.array([0.5, 0.5]), np.array(end), w, h)
    if expected is not None:
        assert float(r.rotation) == pytest.approx(expected, abs=1e-6)
    assert -math.pi <= float(r.rotation) < math.pi


@settings(max_examples=200, deadline=None)
@given(x0=st.floats(0.1, 0.9, **finite), y0=st.floats(0.1, 0.9, **finite),
       ang=st.floats(-math.pi, math.pi, **finite), d=st.floats(10, 400, **finite),
       w=st.integers(100, 1920), h=st.integers(100, 1080))
def test_next_roi_top_centre_lands_beyond_the_end_point(x0, y0, ang, d, w, h):
    """The crop's top-centre (u=0.5, v=0) projects to start + 1.25 (end - start): the ROI points at kp1."""
    start = np.array([x0 * w, y0 * h])
    end = start + d * np.array([math.cos(ang), math.sin(ang)])
    rect = transform_rect(alignment_points_rect(start / [w, h], end / [w, h], w, h), w, h)
    top = project_to_image(np.array([[0.5, 0.0, 0.0]], np.float32), rect)[0, :2] * [w, h]
    np.testing.assert_allclose(top, start + 1.25 * (end - start), atol=1e-3 * d + 1e-2)
    assert float(rect.width) * w == pytest.approx(float(rect.height) * h, rel=1e-5)  # square in px


def test_transform_rect_square_long_uses_the_long_side():
    r = make_norm_rect(0.5, 0.5, 0.25, 0.5, 0.0)  # 100 x 200 px on 400x400
    t = transform_rect(r, 400, 400, 1.25, 1.25, square_long=True)
    assert float(t.width) * 400 == pytest.approx(250) and float(t.height) * 400 == pytest.approx(250)


@settings(max_examples=300, deadline=None)
@given(a=st.floats(-50, 50, **finite))
def test_normalize_radians_range(a):
    n = float(normalize_radians(a))
    assert -math.pi - 1e-6 <= n < math.pi + 1e-6
    assert math.isclose(math.cos(n), math.cos(a), abs_tol=1e-5)
    assert math.isclose(math.sin(n), math.sin(a), abs_tol=1e-5)


# --- projection, letterbox, world ---------------------------------------------------------------
def test_project_to_image_scales_z_by_rect_width():
    rect = make_norm_rect(0.5, 0.5, 0.5, 0.25, 0.0)
    out = project_to_image(np.array([[0.5, 0.5, 0.1], [1.0, 1.0, 0.0]], np.float32), rect)
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.05], [0.75, 0.625, 0.0]], atol=1e-7)


def test_remove_letterbox():
    pts = np.array([[0.5, 0.125, 0.2]], np.float32)
    out = remove_letterbox(pts, np.array([0.1, 0.125, 0.1, 0.125], np.float32))
    np.testing.assert_allclose(out, [[0.5, 0.0, 0.25]], atol=1e-6)


def test_rotate_world_quarter_turn():
    out = rotate_world(np.array([[1.0, 0.0, 0.3], [0.0, 1.0, 0.0]], np.float32), math.pi / 2)
    np.testing.assert_allclose(out, [[0.0, 1.0, 0.3], [-1.0, 0.0, 0.0]], atol=1e-6)


# --- heatmap refinement (docs/pipeline.md §7.3) -------------------------------------------------------------
def _heatmap_with_blob(centre_rc: tuple[float, float], n: int = 3, peak: float = 6.0) -> np.ndarray:
    rr, cc = np.mgrid[0:64, 0:64]
    blob = peak - 0.5 * ((rr - centre_rc[0]) ** 2 + (cc - centre_rc[1]) ** 2)
    return np.repeat(blob[:, :, None], n, axis=2).astype(np.float32)


def _reference_refine(x, y, hm, k):
    """Plain loop of docs/pipeline.md §7.3, float64 (tests the vectorised version)."""
    col, row = int(x * 64), int(y * 64)
    off = (k - 1) // 2
    s = wc = wr = mx = 0.0
    for r in range(max(0, row - off), min(64, row + off + 1)):
        for c in range(max(0, col - off), min(64, col + off + 1)):
            conf = 1 / (1 + math.exp(-float(hm[r, c])))
            s, wc, wr, mx = s + conf, wc + c * conf, wr + r * conf, max(mx, conf)
    if mx >= 0.5 and s > 0:
        return wc / 64 / s, wr / 64 / s
    return x, y


@pytest.mark.parametrize("k", [7, 9])
def test_refinement_matches_the_spec_loop(k):
    hm = _heatmap_with_blob((20.3, 40.7), n=4)
    hm[:, :, 1] = _heatmap_with_blob((1.0, 62.0), n=1)[:, :, 0]  # near the corner: clipped window
    lms = np.array([[41 / 64, 21 / 64, 0.3, 0.9, 0.8], [62.5 / 64, 0.5 / 64, 0, 0, 0],
                    [0.5, 0.5, 0, 0, 0], [-0.2, 0.5, 0, 0, 0]], np.float32)
    out = refine_from_heatmap(lms, hm, k)
    for i in range(3):
        exp = _reference_refine(float(lms[i, 0]), float(lms[i, 1]), hm[:, :, i], k)
        np.testing.assert_allclose(out[i, :2], exp, atol=2e-6)
    np.testing.assert_array_equal(out[:, 2:], lms[:, 2:])  # z, visibility, presence untouched
    np.testing.assert_array_equal(out[3], lms[3])  # outside the heatmap: unchanged
    # the blob's weighted mean pulls landmark 0 towards (40.7, 20.3) cells
    assert abs(out[0, 0] * 64 - 40.7) < 0.6 and abs(out[0, 1] * 64 - 20.3) < 0.6


def test_refinement_skips_low_confidence_and_kernel_matters():
    hm = np.full((64, 64, 1), -3.0, np.float32)  # sigmoid(-3) < 0.5 everywhere
    lm = np.array([[0.3, 0.3, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(refine_from_heatmap(lm, hm, 9), lm)
    hm = _heatmap_with_blob((10.0, 10.0), n=1, peak=1.0)
    lm = np.array([[13.2 / 64, 10.5 / 64, 0, 0, 0]], np.float32)  # off-centre: window size matters
    a, b = refine_from_heatmap(lm, hm, 7), refine_from_heatmap(lm, hm, 9)
    assert not np.allclose(a[0, :2], b[0, :2], atol=1e-4)
    assert a[0, 0] > b[0, 0]  # the bigger window sees more of the blob on the left
