"""refmath: glibc-rounded expf / atan2f (MediaPipe's float math) and the sigmoid switch."""

from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest

from blazepose_ros.core import refmath
from blazepose_ros.core.landmarks import refine_from_heatmap

pytestmark = pytest.mark.unit

F32 = np.float32
needs_libm = pytest.mark.skipif(not refmath.LIBM_AVAILABLE, reason="no loadable C math library")


def _libm() -> ctypes.CDLL:
    lib = ctypes.CDLL("libm.so.6")
    lib.expf.restype, lib.expf.argtypes = ctypes.c_float, [ctypes.c_float]
    return lib


def _inputs() -> np.ndarray:
    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, 1e-30, -1e-30, 88.0, 88.72, 88.7228, 88.72283, 88.72284, 89.0, 3e38,
                        -87.3, -103.9, -103.972, -103.9721, -103.973, -104.0, -150.0, 100.0, -100.0,
                        np.inf, -np.inf, np.nan], F32)
    return np.concatenate([rng.normal(0, 6, 100_000).astype(F32), rng.uniform(-110, 110, 50_000).astype(F32),
                           special])


@needs_libm
def test_expf_is_bit_identical_to_glibc() -> None:
    x = _inputs()
    lib = _libm()
    want = np.array([lib.expf(float(v)) for v in x], F32)
    got = refmath.expf(x)
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), x[~same][:10]
    # and NumPy's float32 exp really is different on many of them (why this module exists)
    fast = np.exp(x[:100_000])
    assert np.count_nonzero(fast != want[:100_000]) > 1000


def test_expf_keeps_shape_and_is_within_half_an_ulp() -> None:
    x = np.linspace(-20, 20, 7 * 9 * 3, dtype=F32).reshape(7, 9, 3)
    got = refmath.expf(x)
    assert got.shape == x.shape and got.dtype == F32
    exact = np.exp(x.astype(np.float64))
    ulp = np.spacing(got).astype(np.float64)
    assert np.all(np.abs(got - exact) <= 0.5001 * ulp)
    assert refmath.expf(F32(0.0)) == 1.0


def test_sigmoid_exact_and_fast_agree_within_an_ulp() -> None:
    x = np.random.default_rng(1).normal(0, 5, 10_000).astype(F32)
    a, b = refmath.sigmoid(x), refmath.sigmoid(x, exact=True)
    assert a.dtype == b.dtype == F32
    assert np.max(np.abs(a - b)) <= 2 * np.spacing(F32(1.0))
    assert refmath.sigmoid(np.array([1e4, -1e4], F32), exact=True).tolist() == [1.0, 0.0]


def test_atan2f_matches_float64_atan2_within_an_ulp() -> None:
    rng = np.random.default_rng(2)
    for y, x in rng.normal(0, 100, (500, 2)).astype(F32):
        got = refmath.atan2f(y, x)
        assert isinstance(got, np.float32)
        assert abs(float(got) - math.atan2(float(y), float(x))) <= abs(float(np.spacing(got)))
    assert refmath.atan2f(F32(0.0), F32(-1.0)) == F32(math.pi)


def test_refinement_exact_switch_changes_at_most_ulps() -> None:
    rng = np.random.default_rng(3)
    heat = rng.normal(-1, 3, (64, 64, 39)).astype(F32)
    lm = rng.uniform(0.05, 0.95, (39, 5)).astype(F32)
    a = refine_from_heatmap(lm, heat, 9, 0.5)
    b = refine_from_heatmap(lm, heat, 9, 0.5, exact=True)
    assert np.max(np.abs(a - b)) < 1e-5


@needs_libm
def test_cosf_sinf_are_glibcs_and_differ_from_numpy_near_half_pi() -> None:
    lib = ctypes.CDLL("libm.so.6")
    for f in (lib.cosf, lib.sinf):
        f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    angles = np.random.default_rng(4).uniform(-np.pi, np.pi, 2000).astype(F32)
    angles = np.concatenate([angles, (F32(np.pi / 2) + np.arange(-200, 200) * F32(1e-5)).astype(F32)])
    for a in angles:
        assert refmath.cosf(a) == F32(lib.cosf(float(a))) and refmath.sinf(a) == F32(lib.sinf(float(a)))
    glibc_cos = np.array([lib.cosf(float(a)) for a in angles], F32)
    assert np.count_nonzero(np.cos(angles, dtype=F32) != glibc_cos) > 0  # why the ROI angle uses libm
