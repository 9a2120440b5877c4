"""Landmark smoothing filters (docs/pipeline.md §9): low-pass and one-euro.

All filters are *vectorised*: one object filters an array of independent values
(e.g. 33×3 keypoint coordinates) that share one timestamp per call.  Per element
the result equals that of an independent scalar filter fed the same sequence.

Numerics follow the reference implementation: the low-pass state (raw input and
output) is float32, the one-euro frequency/derivative arithmetic is float64, and
the blend ``α·v + (1 − α)·prev`` is done with a float32 product and a float64
complement, then stored as float32.

Timestamps are integers in nanoseconds (use the image stamp, never wall time).
Values are whatever unit the caller uses (pixels for image keypoints with z
scaled by the image width, metres for world keypoints); ``value_scale`` makes the
derivative unit-free (1/object size in the same unit).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "AUX_FILTER",
    "POSE_FILTER",
    "WORLD_FILTER",
    "LandmarksSmoother",
    "LowPassFilter",
    "OneEuroFilter",
    "one_euro_alpha",
]

#: One-euro settings of the 33 pose landmarks (docs/pipeline.md §9.4).
POSE_FILTER: dict = dict(min_cutoff=0.05, beta=80.0, derivate_cutoff=1.0)
#: One-euro settings of the 2 auxiliary ROI landmarks (always on, docs/pipeline.md §9.4).
AUX_FILTER: dict = dict(min_cutoff=0.01, beta=10.0, derivate_cutoff=1.0)
#: One-euro settings of the metric world landmarks (no value scaling, never reset on loss).
WORLD_FILTER: dict = dict(min_cutoff=0.1, beta=40.0, derivate_cutoff=1.0, disable_value_scaling=True)

_NS_TO_S = 1e-9
_F32 = np.float32
_F64 = np.float64


def one_euro_alpha(cutoff: float | np.ndarray, frequency: float) -> np.ndarray:
    """Smoothing factor α = 1 / (1 + τ/Tₑ) with τ = 1/(2π·cutoff) [s], Tₑ = 1/frequency [s].

    ``cutoff`` and ``frequency`` are in Hz; the result is float64 (same shape as ``cutoff``).
    """
    cutoff = np.asarray(cutoff, dtype=_F64)
    te = 1.0 / frequency
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / te)


def _scalar_alpha(cutoff: float, frequency: float) -> float:
    """:func:`one_euro_alpha` for one positive cutoff, in Python floats (the same double ops)."""
    if not cutoff > 0.0 or not frequency > 0.0:
        return float(one_euro_alpha(cutoff, frequency))
    te = 1.0 / frequency
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / te)


class LowPassFilter:
    """Exponential low-pass filter with float32 state, vectorised over a fixed-shape array.

    The first call returns its input and marks the filter initialised; later calls
    return ``α·v + (1 − α)·prev_out``.  Both the last raw input and the last output
    are kept.  An α outside [0, 1] is ignored per element (the previous α is kept),
    as in the reference.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self._alpha_init = _F32(alpha)
        self.alpha: np.ndarray | np.float32 = self._alpha_init
        self.raw: np.ndarray | None = None
        self.stored: np.ndarray | None = None
        self._scratch: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def initialized(self) -> bool:
        return self.stored is not None

    def reset(self) -> None:
        """Forget the state; the next input passes through."""
        self.alpha = self._alpha_init
        self.raw = None
        self.stored = None

    def set_alpha(self, alpha: float | np.ndarray) -> None:
        """Set α (scalar or per element); elements outside [0, 1] keep their previous α."""
        new = np.asarray(alpha, dtype=_F32)
        bad = (new < 0.0) | (new > 1.0)  # NaN compares false, so it is accepted (as in C++)
        if bad.any():
            new = np.where(bad, np.broadcast_to(self.alpha, new.shape), new).astype(_F32)
        self.alpha = new

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Filter ``values`` with the current α; returns a new float32 array.

        ``α·v`` is a float32 product, ``(1 − α)·prev`` and the sum are float64, the
        result is rounded to float32 (the reference's arithmetic), computed in place in
        the filter's own scratch buffers.
        """
        v = np.array(values, dtype=_F32, copy=True)
        if self.stored is None or self.stored.shape != v.shape:
            out = v.copy()
        else:
            a32 = np.asarray(self.alpha, dtype=_F32)
            if self._scratch is None or self._scratch[0].shape != v.shape:
                self._scratch = (np.empty(v.shape, _F32), np.empty(v.shape, _F64))
            weighted, keep = self._scratch
            np.multiply(a32, v, out=weighted)  # float32 product
            np.subtract(1.0, a32, out=keep, dtype=_F64)  # double complement
            np.multiply(keep, self.stored, out=keep, dtype=_F64)
            np.add(weighted, keep, out=keep, dtype=_F64)
            out = keep.astype(_F32)
        self.raw = v
        self.stored = out
        return out.copy()

    def apply_with_alpha(self, values: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
        self.set_alpha(alpha)
        return self.apply(values)

    def last_raw(self) -> np.ndarray | None:
        return None if self.raw is None else self.raw.copy()


class OneEuroFilter:
    """One-euro filter (docs/pipeline.md §9.2), vectorised: all elements share time and frequency.

    Args:
        min_cutoff: minimum cutoff frequency [Hz].
        beta: speed coefficient (cutoff grows by ``beta·|derivative|``).
        derivate_cutoff: cutoff of the derivative low-pass [Hz].
        frequency: initial sampling frequency [Hz]; updated from the timestamps.
    """

    def __init__(
        self, min_cutoff: float, beta: float, derivate_cutoff: float, frequency: float = 30.0
    ) -> None:
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.derivate_cutoff = float(derivate_cutoff)
        self.initial_frequency = float(frequency)
        self.frequency = float(frequency)
        self.last_time_ns = -1
        self.x = LowPassFilter(float(one_euro_alpha(self.min_cutoff, self.frequency)))
        self.dx = LowPassFilter(float(one_euro_alpha(self.derivate_cutoff, self.frequency)))

    def reset(self) -> None:
        """Back to the freshly constructed state (the next input passes through)."""
        self.frequency = self.initial_frequency
        self.last_time_ns = -1
        self.x = LowPassFilter(float(one_euro_alpha(self.min_cutoff, self.frequency)))
        self.dx = LowPassFilter(float(one_euro_alpha(self.derivate_cutoff, self.frequency)))

    def __call__(self, values: np.ndarray, t_ns: int, value_scale: float = 1.0) -> np.ndarray:
        """Filter ``values`` observed at ``t_ns`` [ns]; ``value_scale`` scales the derivative.

        A timestamp not after the previous one returns the input unchanged (state untouched).
        """
        t_ns = int(t_ns)
        v32 = np.asarray(values, dtype=_F32)
        if self.last_time_ns >= t_ns:
            return v32.copy()
        if self.last_time_ns != 0 and t_ns != 0:
            self.frequency = 1.0 / ((t_ns - self.last_time_ns) * _NS_TO_S)
        self.last_time_ns = t_ns

        prev_raw = self.x.raw
        if prev_raw is not None and prev_raw.shape == v32.shape:
            dv = np.subtract(v32, prev_raw, dtype=_F64)  # float64 difference of the float32 values
            dv *= float(value_scale)
            dv *= self.frequency
        else:
            dv = np.zeros(v32.shape, _F64)
        # both alphas are 1 / (1 + tau/te) with tau, te > 0 (or NaN): always valid, no check needed
        self.dx.alpha = _F32(_scalar_alpha(self.derivate_cutoff, self.frequency))
        edv = self.dx.apply(dv)
        cutoff = np.abs(edv, dtype=_F64)
        cutoff *= self.beta
        cutoff += self.min_cutoff
        if self.min_cutoff > 0.0:  # cutoff > 0: the same double arithmetic as one_euro_alpha
            cutoff *= 2.0 * math.pi
            np.divide(1.0, cutoff, out=cutoff)  # tau
            cutoff /= 1.0 / self.frequency  # tau / te
            cutoff += 1.0
            alpha = np.divide(1.0, cutoff, out=cutoff).astype(_F32)
        else:
            alpha = one_euro_alpha(cutoff, self.frequency).astype(_F32)
        self.x.alpha = alpha
        return self.x.apply(v32)


class LandmarksSmoother:
    """Smooths one person's landmarks: visibility low-pass, then per-axis one-euro
    (docs/pipeline.md §9.3-9.4).

    Args:
        min_cutoff, beta, derivate_cutoff, frequency: one-euro settings (see :class:`OneEuroFilter`).
        disable_value_scaling: if True the derivative is not divided by the object scale
            (world landmarks in metres); ``object_scale`` is then ignored.
        visibility_alpha: α of the visibility low-pass filter.

    Use ``LandmarksSmoother(**POSE_FILTER)``, ``(**AUX_FILTER)`` or ``(**WORLD_FILTER)``.
    """

    MIN_ALLOWED_OBJECT_SCALE = 1e-6

    def __init__(
        self,
        min_cutoff: float,
        beta: float,
        derivate_cutoff: float,
        frequency: float = 30.0,
        disable_value_scaling: bool = False,
        visibility_alpha: float = 0.1,
    ) -> None:
        self.disable_value_scaling = bool(disable_value_scaling)
        self._coords = OneEuroFilter(min_cutoff, beta, derivate_cutoff, frequency)
        self._visibility = LowPassFilter(visibility_alpha)

    def __call__(
        self, values: np.ndarray, visibility: np.ndarray, t_ns: int, object_scale: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Filter one frame.

        Args:
            values: (N, 3) coordinates -- pixels (x, y, z·W) for image landmarks, metres for world.
            visibility: (N,) visibility probabilities in [0, 1].
            t_ns: frame timestamp [ns] (image stamp).
            object_scale: object size in the unit of ``values`` (pose: 2·|aux1 − aux0| px).
        Returns:
            (filtered values (N, 3) float32, filtered visibility (N,) float32).
            Values pass through unfiltered (filters untouched) when value scaling is on and
            ``object_scale`` < 1e-6, or when ``t_ns`` is not after the previous timestamp.
            The visibility filter runs in every call (it has no notion of time).
        """
        values = np.asarray(values, dtype=_F32)
        if values.ndim != 2 or values.shape[1] != 3:
            raise ValueError(f"values must be (N, 3), got {values.shape}")
        vis = self._visibility.apply(np.asarray(visibility, dtype=_F32).reshape(values.shape[0]))
        if self._coords.x.raw is not None and self._coords.x.raw.shape != values.shape:
            self._coords.reset()  # a different landmark count: start over
        value_scale = _F32(1.0)
        if not self.disable_value_scaling:
            scale = _F32(object_scale)
            if not scale >= self.MIN_ALLOWED_OBJECT_SCALE:  # also catches NaN
                return values.copy(), vis
            value_scale = _F32(1.0) / scale
        return self._coords(values, t_ns, float(value_scale)), vis

    def reset_values(self) -> None:
        """Reset the coordinate filters only; visibility keeps its state (pose lost,
        docs/pipeline.md §9.4)."""
        self._coords.reset()

    def reset(self) -> None:
        """Reset coordinates and visibility."""
        self._coords.reset()
        self._visibility.reset()
