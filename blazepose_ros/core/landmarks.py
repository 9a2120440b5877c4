"""BlazePose landmark stage: rotated ROI crop -> model -> decoded, refined, projected landmarks.

docs/pipeline.md §6-7. Input: an RGB uint8 frame and a :class:`~.geometry.NormRect`.
Output (:class:`LandmarkResult`), all float32:

* ``landmarks`` (33, 5): x, y in normalized image coordinates, z in units of
  the image width (``z * W`` is pixels), visibility, presence.
* ``aux`` (2, 5): the two auxiliary ROI landmarks, same layout.
* ``world`` (33, 3): metres, hip-centred, rotated by the ROI rotation.
* ``mask``: optional (H, W) float32 person probability in the full image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .geometry import (
    F32,
    NormRect,
    crop_matrix,
    image_to_crop_affine,
    norm_to_pixel_rect,
    pad_roi,
    project_to_image,
    remove_letterbox,
    rotate_world,
    value_range_transform,
    warp_crop,
)
from .inference import TFLiteModel
from .model_surgery import prune_outputs
from .models import ModelError
from .refmath import sigmoid

NUM_LANDMARKS = 33
NUM_AUX = 2
NUM_RAW = 39  # 33 pose + 2 aux + 4 undocumented


@dataclass(frozen=True)
class LandmarkOptions:
    """Landmark-stage settings (docs/pipeline.md §6-7)."""

    input_size: int = 256
    refine_kernel_size: int = 9  # Python solution's effective value; the pbtxt says 7
    min_confidence_to_refine: float = 0.5
    min_presence: float = 0.5  # = min_tracking_confidence; pose kept iff flag > this
    enable_segmentation: bool = False
    # visibility/presence/refinement sigmoids with glibc-rounded expf (bit-exact with MediaPipe)
    reference_math: bool = False


@dataclass
class LandmarkResult:
    """Decoded output of one landmark-model run (coordinates: see module docstring)."""

    flag: float
    rect: NormRect
    landmarks: np.ndarray
    aux: np.ndarray
    world: np.ndarray
    mask: np.ndarray | None = None


def _is_segmentation(shape: tuple[int, ...]) -> bool:
    return len(shape) == 4 and shape[-1] == 1


def landmark_model_content(path: Path, enable_segmentation: bool) -> bytes | None:
    """The landmark model's flatbuffer without its segmentation decoder when the mask is
    not wanted (other outputs bit-identical, ~35 % less work); ``None`` = use the file."""
    if enable_segmentation:
        return None
    return prune_outputs(Path(path).read_bytes(), keep=lambda shape: not _is_segmentation(shape))


def refine_from_heatmap(landmarks: np.ndarray, heatmap: np.ndarray, kernel_size: int = 9,
                        min_confidence: float = 0.5, exact: bool = False) -> np.ndarray:
    """Heatmap refinement of x, y (docs/pipeline.md §7.3), in place-free: returns a new array.

    landmarks: (N, >=2) ROI-local normalized (x, y, ...); heatmap: (Hh, Wh, N)
    logits. For each landmark inside the heatmap, the window of ``kernel_size``
    cells around int(x*Wh), int(y*Hh) (clipped at the edges) gives
    x = sum(col*conf)/Wh/sum(conf), y likewise, if max(conf) >= min_confidence.
    Sums run sequentially in float32 like the reference loop (row-major).

    Vectorised over landmarks: one gather of every window from the flat
    heatmap, one sigmoid, one sequential reduction for the three sums.
    ``exact``: the sigmoid rounds ``exp`` like glibc's ``expf`` (:mod:`.refmath`).
    """
    out = landmarks.astype(F32, copy=True)
    hm_h, hm_w, n_ch = heatmap.shape
    n = min(n_ch, out.shape[0])
    xy = out[:n, :2] * np.array([hm_w, hm_h], F32)
    # fmax/fmin map NaN to -1 and clamp infinities (both then fall outside); the int cast
    # truncates toward zero like C++ int conversion
    cr = np.fmin(np.fmax(xy, F32(-1.0)), F32(1e6)).astype(np.int64)  # (n, 2): col, row
    inside = ((cr >= 0) & (cr < (hm_w, hm_h))).all(axis=1)
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return out
    m = idx.size
    off = (kernel_size - 1) // 2
    steps = np.arange(-off, off + 1)[:, None]
    k = steps.shape[0]
    # window-cell-major layout (k, k, m), so the sums below reduce the outer axis
    cols = cr[idx, 0] + steps  # (k, m)
    rows = cr[idx, 1] + steps
    cols_c = np.minimum(np.maximum(cols, 0), hm_w - 1)
    rows_c = np.minimum(np.maximum(rows, 0), hm_h - 1)
    flat = (rows_c[:, None, :] * (hm_w * n_ch) + cols_c[None, :, :] * n_ch) + idx
    conf = sigmoid(heatmap.reshape(-1)[flat], exact)  # (k, k, m)
    if cols[0].min() < 0 or rows[0].min() < 0 or cols[-1].max() >= hm_w or rows[-1].max() >= hm_h:
        valid = ((rows >= 0) & (rows < hm_h))[:, None, :] & ((cols >= 0) & (cols < hm_w))[None, :, :]
        conf = np.where(valid, conf, F32(0.0))  # +0.0 leaves the sums unchanged
    terms = np.empty((k, k, 3, m), F32)
    terms[:, :, 0] = conf
    np.multiply(cols_c[None, :, :].astype(F32), conf, out=terms[:, :, 1])
    np.multiply(rows_c[:, None, :].astype(F32), conf, out=terms[:, :, 2])
    # Reducing the outer (window-cell) axis of a C-contiguous array adds one row of
    # partial sums per cell: a sequential float32 sum in the reference's row-major cell
    # order (numpy's pairwise summation applies only along the contiguous axis).
    total, wcol, wrow = np.add.reduce(terms.reshape(k * k, 3, m), axis=0, dtype=F32)
    maxc = conf.reshape(k * k, m).max(axis=0)
    refine = (maxc >= F32(min_confidence)) & (total > 0)
    sel = idx[refine]
    out[sel, 0] = wcol[refine] / F32(hm_w) / total[refine]
    out[sel, 1] = wrow[refine] / F32(hm_h) / total[refine]
    return out


class PoseLandmarker:
    """Runs ``pose_landmark_{lite,full,heavy}.tflite`` on a rotated ROI of a frame."""

    def __init__(self, model: TFLiteModel, options: LandmarkOptions | None = None) -> None:
        self.model = model
        self.options = options or LandmarkOptions()
        s = self.options.input_size
        model.require_square_rgb_input(s, "landmark")
        self._idx = self._map_outputs(model)
        self._crop = np.empty((s, s, 3), np.uint8)
        self._scale, self._offset = value_range_transform(0.0, 1.0)
        self.last_timings: dict[str, float] = {}

    @staticmethod
    def _map_outputs(model: TFLiteModel) -> dict[str, int]:
        """Find the outputs by shape (docs/pipeline.md §11); names are not reliable across variants."""
        idx: dict[str, int] = {}
        for i, shape in enumerate(model.output_shapes):
            size = int(np.prod(shape))
            if len(shape) == 2 and size == NUM_RAW * 5:
                idx["landmarks"] = i
            elif len(shape) == 2 and size == 1:
                idx["flag"] = i
            elif _is_segmentation(shape):
                idx["segmentation"] = i
            elif len(shape) == 4 and shape[-1] == NUM_RAW:
                idx["heatmap"] = i
            elif len(shape) == 2 and size == NUM_RAW * 3:
                idx["world"] = i
        missing = {"landmarks", "flag", "heatmap", "world"} - idx.keys()
        if missing:
            raise ModelError(f"landmark model '{model.path}' lacks outputs {sorted(missing)} "
                             f"(outputs: {model.output_shapes}); expected the BlazePose layout")
        return idx

    def preprocess(self, rgb: np.ndarray, rect: NormRect) -> tuple[np.ndarray, object]:
        """Crop the ROI into the model input; returns (padding, padded pixel ROI)."""
        h, w = rgb.shape[:2]
        s = self.options.input_size
        roi, padding = pad_roi(norm_to_pixel_rect(rect, w, h), s, s, keep_aspect_ratio=True)
        warp_crop(rgb, crop_matrix(roi, s, s), s, s, border_replicate=True, dst=self._crop)
        view = self.model.input_view()
        np.multiply(self._crop, self._scale, out=view[0], dtype=F32)
        if self._offset != 0:
            view += self._offset
        del view
        return padding, roi

    def run(self, rgb: np.ndarray, rect: NormRect) -> LandmarkResult | None:
        """Landmarks for the person in ``rect``, or None when the pose flag <= min_presence."""
        o = self.options
        t0 = time.perf_counter()
        padding, roi = self.preprocess(rgb, rect)
        t1 = time.perf_counter()
        self.model.invoke()
        t2 = time.perf_counter()
        flag = float(self.model.output_view(self._idx["flag"]).reshape(-1)[0])
        if not flag > o.min_presence:  # strict; NaN counts as absent
            self.last_timings = {"crop": t1 - t0, "landmark_invoke": t2 - t1,
                                 "decode": time.perf_counter() - t2}
            return None
        s = F32(o.input_size)
        raw = self.model.output_view(self._idx["landmarks"]).reshape(NUM_RAW, 5)
        lm = np.empty((NUM_RAW, 5), F32)
        np.divide(raw[:, :3], s, out=lm[:, :3], dtype=F32)
        lm[:, 3:] = sigmoid(raw[:, 3:], o.reference_math)
        del raw
        if o.refine_kernel_size > 0:
            heatmap = self.model.output_view(self._idx["heatmap"])[0]
            lm = refine_from_heatmap(lm, heatmap, o.refine_kernel_size, o.min_confidence_to_refine,
                                     o.reference_math)
            del heatmap
        lm = lm[: NUM_LANDMARKS + NUM_AUX]
        lm[:, :3] = remove_letterbox(lm[:, :3], padding)
        lm[:, :3] = project_to_image(lm[:, :3], rect)
        world_raw = self.model.output_view(self._idx["world"]).reshape(NUM_RAW, 3)[:NUM_LANDMARKS]
        world = rotate_world(world_raw, rect.rotation)
        del world_raw
        mask = None
        if o.enable_segmentation and "segmentation" in self._idx:
            logits = self.model.output_view(self._idx["segmentation"])[0, :, :, 0]
            prob = sigmoid(logits)
            del logits
            h, w = rgb.shape[:2]
            m = image_to_crop_affine(roi, w, h, prob.shape[1], prob.shape[0])
            mask = cv2.warpAffine(prob, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        t3 = time.perf_counter()
        self.last_timings = {"crop": t1 - t0, "landmark_invoke": t2 - t1, "decode": t3 - t2}
        return LandmarkResult(flag=flag, rect=rect, landmarks=lm[:NUM_LANDMARKS].copy(),
                              aux=lm[NUM_LANDMARKS:].copy(), world=world, mask=mask)
