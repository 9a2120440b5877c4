"""Smoothing filters against docs/pipeline.md §9 (formulas, α values, reset rules)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blazepose_ros.core.filters import (
    AUX_FILTER,
    POSE_FILTER,
    WORLD_FILTER,
    LandmarksSmoother,
    LowPassFilter,
    OneEuroFilter,
    one_euro_alpha,
)

pytestmark = pytest.mark.unit

DT_NS = 33_333_000  # MediaPipe's Python solution: 33 333 µs per process() call


class ScalarOneEuro:
    """Independent plain-Python scalar reference of docs/pipeline.md §9.2 (float64 throughout)."""

    def __init__(self, min_cutoff: float, beta: float, dcut: float, freq: float = 30.0) -> None:
        self.mc, self.beta, self.dc, self.f = min_cutoff, beta, dcut, freq
        self.last = -1
        self.x_raw = self.x_out = self.dx_out = None

    @staticmethod
    def _alpha(fc: float, f: float) -> float:
        return 1.0 / (1.0 + f / (2 * math.pi * fc))

    def __call__(self, t: int, v: float, scale: float = 1.0) -> float:
        if self.last >= t:
            return v
        if self.last != 0 and t != 0:
            self.f = 1.0 / ((t - self.last) * 1e-9)
        self.last = t
        dv = (v - self.x_raw) * scale * self.f if self.x_raw is not None else 0.0
        a = self._alpha(self.dc, self.f)
        self.dx_out = dv if self.dx_out is None else a * dv + (1 - a) * self.dx_out
        cutoff = self.mc + self.beta * abs(self.dx_out)
        a = self._alpha(cutoff, self.f)
        self.x_out = v if self.x_out is None else a * v + (1 - a) * self.x_out
        self.x_raw = v
        return self.x_out


def test_alpha_values_at_python_rate():
    f = 1.0 / (DT_NS * 1e-9)
    assert f == pytest.approx(30.0003, abs=1e-4)
    assert float(one_euro_alpha(1.0, f)) == pytest.approx(0.1732, abs=1e-4)
    assert float(one_euro_alpha(0.05, f)) == pytest.approx(0.0104, abs=1e-4)
    assert float(one_euro_alpha(0.1, f)) == pytest.approx(0.0205, abs=1e-4)
    assert float(one_euro_alpha(0.01, f)) == pytest.approx(0.00209, abs=1e-5)


def test_low_pass_first_sample_then_blend_and_bad_alpha():
    lpf = LowPassFilter(0.25)
    np.testing.assert_array_equal(lpf.apply(np.array([4.0, -8.0])), [4.0, -8.0])
    out = lpf.apply(np.array([8.0, 0.0]))
    np.testing.assert_allclose(out, [5.0, -6.0])
    assert out.dtype == np.float32 and lpf.stored.dtype == np.float32
    np.testing.assert_array_equal(lpf.last_raw(), [8.0, 0.0])
    # α outside [0, 1] is ignored per element, the previous α stays
    out = lpf.apply_with_alpha(np.array([9.0, 2.0]), np.array([1.5, 1.0]))
    np.testing.assert_allclose(out, [0.25 * 9 + 0.75 * 5.0, 2.0])
    lpf.reset()
    assert not lpf.initialized
    np.testing.assert_array_equal(lpf.apply(np.array([1.0, 1.0])), [1.0, 1.0])


def test_one_euro_first_sample_passes_through_whatever_time():
    f = OneEuroFilter(**POSE_FILTER)
    v = np.array([[123.25, -7.5, 3.0]], np.float32)
    np.testing.assert_array_equal(f(v, 987_654_321_000), v)
    f2 = OneEuroFilter(**POSE_FILTER)
    np.testing.assert_array_equal(f2(v, 0), v)


def test_step_response_derivative_cutoff_alpha():
    # beta = 0: the value cutoff is min_cutoff = 1 Hz, so one step of a unit jump moves α(1.0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0, derivate_cutoff=1.0)
    f(np.zeros(3), DT_NS)
    out = f(np.ones(3), 2 * DT_NS)
    np.testing.assert_allclose(out, 0.1732, atol=1e-4)
    # and the next sample: prev + α(1 - prev)
    out2 = f(np.ones(3), 3 * DT_NS)
    a = 1.0 / (1.0 + 30.0003 / (2 * math.pi))
    np.testing.assert_allclose(out2, out + a * (1 - out), atol=1e-5)


def test_step_response_matches_scalar_reference_with_beta():
    f = OneEuroFilter(**POSE_FILTER)
    ref = ScalarOneEuro(0.05, 80.0, 1.0)
    seq = [0.0, 0.0, 10.0, 10.0, 10.0, 25.0, 24.0, 24.5]
    scale = 1.0 / 400.0
    for i, x in enumerate(seq):
        t = (i + 1) * DT_NS
        got = float(f(np.array([x], np.float32), t, scale)[0])
        assert got == pytest.approx(ref(t, x, scale), rel=1e-5, abs=1e-4)


def test_constant_input_stays_constant():
    sm = LandmarksSmoother(**POSE_FILTER)
    vals = np.random.default_rng(0).uniform(0, 640, (33, 3)).astype(np.float32)
    vis = np.full(33, 0.7, np.float32)
    for i in range(20):
        out, ovis = sm(vals, vis, (i + 1) * DT_NS, 300.0)
        np.testing.assert_allclose(out, vals, rtol=0, atol=1e-4)
        np.testing.assert_allclose(ovis, vis, atol=1e-6)


def test_non_increasing_timestamp_returns_input_and_keeps_state():
    f = OneEuroFilter(**AUX_FILTER)
    f(np.array([0.0]), 10 * DT_NS)
    f(np.array([0.0]), 11 * DT_NS)
    for t in (11 * DT_NS, 5 * DT_NS):
        np.testing.assert_array_equal(f(np.array([50.0]), t), [50.0])
    assert f.last_time_ns == 11 * DT_NS
    # state untouched: the next real sample is filtered from 0, not from 50
    out = f(np.array([1.0]), 12 * DT_NS)
    assert 0.0 < out[0] < 1.0


def test_frequency_follows_timestamps():
    f = OneEuroFilter(**WORLD_FILTER_NO_FLAG)
    f(np.zeros(1), 1_000_000_000)
    f(np.zeros(1), 1_000_000_000 + 3 * DT_NS)  # a 3-frame gap -> ~10 Hz
    assert f.frequency == pytest.approx(10.0, rel=1e-3)


WORLD_FILTER_NO_FLAG = {k: v for k, v in WORLD_FILTER.items() if k != "disable_value_scaling"}


def test_reset_values_keeps_visibility_reset_clears_all():
    sm = LandmarksSmoother(**POSE_FILTER)
    v0 = np.zeros((2, 3), np.float32)
    sm(v0, np.array([1.0, 1.0]), DT_NS, 100.0)
    _, vis = sm(v0, np.array([0.0, 0.0]), 2 * DT_NS, 100.0)
    np.testing.assert_allclose(vis, 0.9, atol=1e-6)  # LPF α = 0.1
    sm.reset_values()
    v1 = np.full((2, 3), 77.0, np.float32)
    out, vis = sm(v1, np.array([0.0, 0.0]), 3 * DT_NS, 100.0)
    np.testing.assert_array_equal(out, v1)  # coordinates restart: first sample passes
    np.testing.assert_allclose(vis, 0.81, atol=1e-6)  # visibility continued
    sm.reset()
    out, vis = sm(v0, np.array([0.3, 0.3]), 4 * DT_NS, 100.0)
    np.testing.assert_array_equal(out, v0)
    np.testing.assert_allclose(vis, 0.3, atol=1e-7)


def test_tiny_object_scale_passes_through_and_visibility_still_filtered():
    sm = LandmarksSmoother(**POSE_FILTER)
    sm(np.zeros((1, 3)), np.array([1.0]), DT_NS, 100.0)
    v = np.full((1, 3), 40.0, np.float32)
    out, vis = sm(v, np.array([0.0]), 2 * DT_NS, 1e-7)
    np.testing.assert_array_equal(out, v)
    assert vis[0] == pytest.approx(0.9)
    # world filter ignores object_scale entirely
    w = LandmarksSmoother(**WORLD_FILTER)
    w(np.zeros((1, 3)), np.array([1.0]), DT_NS, 0.0)
    out, _ = w(np.ones((1, 3)), np.array([1.0]), 2 * DT_NS, 0.0)
    assert 0.0 < out[0, 0] < 1.0


def test_value_scaling_effect():
    """A larger object makes the same pixel motion look slower -> stronger smoothing."""
    jump = np.full((1, 3), 20.0, np.float32)
    outs = {}
    for scale in (50.0, 500.0):
        sm = LandmarksSmoother(**POSE_FILTER)
        sm(np.zeros((1, 3)), np.ones(1), DT_NS, scale)
        outs[scale] = float(sm(jump, np.ones(1), 2 * DT_NS, scale)[0][0, 0])
    assert outs[50.0] > outs[500.0] > 0.0
    # disabling value scaling = scale 1
    a = LandmarksSmoother(**POSE_FILTER, disable_value_scaling=True)
    b = LandmarksSmoother(**POSE_FILTER)
    for sm, sc in ((a, 123.0), (b, 1.0)):
        sm(np.zeros((1, 3)), np.ones(1), DT_NS, sc)
    np.testing.assert_array_equal(
        a(jump, np.ones(1), 2 * DT_NS, 123.0)[0], b(jump, np.ones(1), 2 * DT_NS, 1.0)[0]
    )


def test_bad_shape_rejected():
    with pytest.raises(ValueError):
        LandmarksSmoother(**POSE_FILTER)(np.zeros((33, 2)), np.zeros(33), DT_NS, 1.0)


_vals = st.floats(-2000, 2000, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    seq=st.lists(st.lists(_vals, min_size=6, max_size=6), min_size=1, max_size=12),
    dts=st.lists(st.integers(1_000_000, 200_000_000), min_size=12, max_size=12),
    scale=st.floats(1.0, 1000.0),
    which=st.sampled_from(["pose", "aux", "world"]),
)
def test_vectorised_equals_independent_scalar_filters(seq, dts, scale, which):
    cfg = {"pose": POSE_FILTER, "aux": AUX_FILTER, "world": WORLD_FILTER}[which]
    vec = LandmarksSmoother(**cfg)
    scalars = [[LandmarksSmoother(**cfg) for _ in range(3)] for _ in range(2)]
    refs = [ScalarOneEuro(cfg["min_cutoff"], cfg["beta"], cfg["derivate_cutoff"]) for _ in range(6)]
    t = 0
    peak = 0.0
    for row, dt in zip(seq, dts, strict=False):
        t += dt
        arr = np.array(row, np.float32).reshape(2, 3)
        peak = max(peak, float(np.abs(arr).max()))
        vis = np.array([0.5, 0.9], np.float32)
        out, _ = vec(arr, vis, t, scale)
        for i in range(2):
            for j in range(3):
                o, _ = scalars[i][j](arr[i : i + 1, j : j + 1].repeat(3, 1), vis[i : i + 1], t, scale)
                assert out[i, j] == o[0, 0]  # bit-identical per element
                vs = 1.0 if cfg.get("disable_value_scaling") else float(np.float32(1) / np.float32(scale))
                r = refs[3 * i + j](t, float(arr[i, j]), vs)
                # float32 state vs a float64 reference: the rounding error scales with the largest
                # value the filter has seen (a 1 ms step of 1800 px drives the derivative to 1.8e6)
                assert out[i, j] == pytest.approx(r, rel=1e-4, abs=1e-2 + 1e-4 * peak)
