"""float32 transcendental functions that round like the C library MediaPipe calls.

MediaPipe's C++ calculators call ``std::exp``, ``std::atan2``, ``std::cos`` and
``std::sin`` on floats, i.e. glibc's ``expf`` / ``atan2f`` / ``cosf`` / ``sinf``.
NumPy's float32 ``np.exp``, ``np.arctan2``, ``np.cos`` and ``np.sin`` use their own
SIMD kernels, which differ from glibc by one ulp on a large share of inputs
(``np.exp``: ~40 % of sigmoid inputs; ``np.cos`` near +-pi/2). In static mode that
is invisible (< 0.01 px), but the tracking loop amplifies it (docs/accuracy.md).

* :func:`atan2f`, :func:`cosf`, :func:`sinf` -- one scalar each (the ROI angle):
  glibc through ctypes; without a loadable libm (non-glibc systems) ``math`` in
  float64, rounded to float32.
* :func:`expf` -- arrays: ``exp`` in float64, rounded once to float32 (correctly
  rounded). glibc's ``expf`` evaluates in double with < 0.002 float-ulp error before
  its final rounding (its documented bound: 0.502 ulp), so the two agree except when
  the exact value lies within that distance of a float32 rounding midpoint. The
  ~3 % of inputs within 1/64 ulp of a midpoint (and NaN or 88 <= x < 89, near
  overflow) are recomputed by glibc's ``expf`` through ctypes, which makes the
  result bit-identical to glibc's at a small fraction of a per-element ctypes loop.
  Without libm the correctly rounded value is returned.
* :func:`sigmoid` -- ``1.0f / (1.0f + exp(-x))`` in float32 with either NumPy's
  ``np.exp`` (fast default) or :func:`expf` (``exact=True``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Callable

import numpy as np

F32 = np.float32

# Share of a float32 ulp: exact values nearer than this to a rounding midpoint are
# recomputed by libm (glibc expf's pre-rounding error is < 0.0016 ulp, see above).
MIDPOINT_MARGIN = 1.0 / 64.0
# float32 exp overflows at x ~ 88.72: x in [88, 89) goes to libm; above, both give inf
# (a clipped detector logit of -100 is common). Subnormal and zero results (x down to
# ~-104 and below) need no special case: the midpoint test covers them.
NEAR_OVERFLOW = (88.0, 89.0)


def _load_libm() -> dict[str, Callable[..., float]]:
    """expf, atan2f, cosf, sinf from the C math library; {} when unavailable."""
    for name in ("libm.so.6", ctypes.util.find_library("m")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            funcs = {f: getattr(lib, f) for f in ("expf", "atan2f", "cosf", "sinf")}
        except (OSError, AttributeError):
            continue
        for f, fn in funcs.items():
            fn.restype = ctypes.c_float
            fn.argtypes = [ctypes.c_float] * (2 if f == "atan2f" else 1)
        return funcs
    return {}


_LIBM = _load_libm()
_LIBM_EXPF = _LIBM.get("expf")
_LIBM_ATAN2F = _LIBM.get("atan2f")
_LIBM_COSF = _LIBM.get("cosf")
_LIBM_SINF = _LIBM.get("sinf")
LIBM_AVAILABLE = bool(_LIBM)


def atan2f(y: float, x: float) -> np.float32:
    """float32 ``atan2(y, x)`` as glibc's ``atan2f`` rounds it (float64 fallback without libm)."""
    if _LIBM_ATAN2F is not None:
        return F32(_LIBM_ATAN2F(float(y), float(x)))
    return F32(math.atan2(float(F32(y)), float(F32(x))))


def cosf(x: float) -> np.float32:
    """float32 ``cos(x)`` as glibc's ``cosf`` rounds it (float64 fallback without libm)."""
    if _LIBM_COSF is not None:
        return F32(_LIBM_COSF(float(x)))
    return F32(math.cos(float(F32(x))))


def sinf(x: float) -> np.float32:
    """float32 ``sin(x)`` as glibc's ``sinf`` rounds it (float64 fallback without libm)."""
    if _LIBM_SINF is not None:
        return F32(_LIBM_SINF(float(x)))
    return F32(math.sin(float(F32(x))))


def expf(x: np.ndarray) -> np.ndarray:
    """Element-wise float32 ``exp``, bit-identical to glibc's ``expf`` (see module docstring)."""
    x = np.asarray(x, F32)
    with np.errstate(over="ignore", invalid="ignore"):
        exact = np.exp(x.astype(np.float64))
        out = exact.astype(F32)
        if _LIBM_EXPF is None:
            return out
        # position of the exact value between the two float32 neighbours around it
        lo = np.where(out.astype(np.float64) <= exact, out, np.nextafter(out, F32(-np.inf)))
        lo64 = lo.astype(np.float64)
        frac = (exact - lo64) / (np.nextafter(lo, F32(np.inf)).astype(np.float64) - lo64)
        finite_ok = np.isinf(exact) | (np.abs(frac - 0.5) >= MIDPOINT_MARGIN)  # False for NaN
        risky = ~finite_ok | ((x >= F32(NEAR_OVERFLOW[0])) & (x < F32(NEAR_OVERFLOW[1])))
    idx = np.flatnonzero(risky)
    if idx.size:
        flat_x, flat_out = x.reshape(-1), out.reshape(-1)
        f = _LIBM_EXPF
        flat_out[idx] = [f(v) for v in flat_x[idx].tolist()]
    return out


def sigmoid(x: np.ndarray, exact: bool = False) -> np.ndarray:
    """float32 logistic ``1 / (1 + exp(-x))``; ``exact`` rounds ``exp`` like glibc's ``expf``."""
    x = np.asarray(x, F32)
    with np.errstate(over="ignore"):  # exp(-x) -> inf gives 0, as in C++
        e = expf(-x) if exact else np.exp(-x)
        return F32(1.0) / (F32(1.0) + e)
