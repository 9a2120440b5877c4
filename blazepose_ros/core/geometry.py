"""Pure geometry of the BlazePose pipeline: rotated rectangles, crops, projections.

Coordinate frames used throughout:

* **image pixels**: x right, y down, origin at the top-left corner of the
  top-left pixel of the source image (W x H).
* **normalized image**: image pixels divided by (W, H); a :class:`NormRect`
  lives here, exactly like MediaPipe's ``NormalizedRect``.
* **crop / ROI-local normalized**: (u, v) in [0, 1]^2 over the rotated ROI,
  (0, 0) = top-left corner of the upright crop the model sees.

Rotation is in radians, positive clockwise on screen (y down); the rotation
matrix is [[c, -s], [s, c]], the same convention as OpenCV's ``RotatedRect``.

All arithmetic that MediaPipe does in C++ ``float`` is done here in float32
(docs/pipeline.md §12: float64 ROI math drifts by up to ~3e-6, which moves landmarks by
tenths of a pixel through OpenCV's fixed-point warp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .refmath import atan2f, cosf, sinf
from .types import Roi

F32 = np.float32


@dataclass(frozen=True)
class NormRect:
    """Rotated rectangle normalized by the image size (MediaPipe ``NormalizedRect``).

    x_center, y_center: centre / (W, H); width, height: size / (W, H);
    rotation: radians, clockwise on screen. Values are float32.
    """

    x_center: np.float32
    y_center: np.float32
    width: np.float32
    height: np.float32
    rotation: np.float32

    def to_roi(self, image_w: int, image_h: int) -> Roi:
        """The same rectangle in source-image pixels (float32 products, like GetRoi)."""
        cx, cy, w, h = roi_pixels(self, image_w, image_h)
        return Roi(float(cx), float(cy), float(w), float(h), float(self.rotation))


@dataclass(frozen=True)
class PixelRect:
    """Rotated rectangle in image pixels, float32 (MediaPipe's ``RotatedRect``)."""

    center_x: np.float32
    center_y: np.float32
    width: np.float32
    height: np.float32
    rotation: np.float32


def make_norm_rect(x_center: float, y_center: float, width: float, height: float,
                   rotation: float = 0.0) -> NormRect:
    """Build a :class:`NormRect` with every field rounded to float32."""
    return NormRect(F32(x_center), F32(y_center), F32(width), F32(height), F32(rotation))


def roi_pixels(rect: NormRect, image_w: int, image_h: int) -> tuple[np.float32, ...]:
    """(cx, cy, w, h) in pixels: float32 products as in ImageToTensor's GetRoi."""
    W, H = F32(image_w), F32(image_h)  # noqa: N806
    return (F32(rect.x_center * W), F32(rect.y_center * H),
            F32(rect.width * W), F32(rect.height * H))


def whole_image_rect(image_w: int, image_h: int) -> PixelRect:
    """The ROI used when no rect is given: the whole image, upright (pixels)."""
    return PixelRect(F32(0.5) * F32(image_w), F32(0.5) * F32(image_h),
                     F32(image_w), F32(image_h), F32(0.0))


def norm_to_pixel_rect(rect: NormRect, image_w: int, image_h: int) -> PixelRect:
    cx, cy, w, h = roi_pixels(rect, image_w, image_h)
    return PixelRect(cx, cy, w, h, F32(rect.rotation))


def pad_roi(roi: PixelRect, tensor_w: int, tensor_h: int,
            keep_aspect_ratio: bool = True) -> tuple[PixelRect, np.ndarray]:
    """Letterbox a pixel ROI to the tensor's aspect ratio (MediaPipe PadRoi).

    Returns the enlarged ROI and the padding ``[left, top, right, bottom]``
    (float32), each a fraction of the padded ROI's size.
    """
    if not keep_aspect_ratio:
        return roi, np.zeros(4, F32)
    if roi.width <= 0 or roi.height <= 0 or not np.isfinite([roi.width, roi.height]).all():
        raise ValueError(f"ROI width and height must be > 0 (got {roi.width} x {roi.height})")
    tensor_aspect = F32(tensor_h) / F32(tensor_w)
    roi_aspect = F32(roi.height / roi.width)
    one, two = F32(1.0), F32(2.0)
    v_pad = h_pad = F32(0.0)
    if tensor_aspect > roi_aspect:
        new_w = roi.width
        new_h = F32(roi.width * tensor_aspect)
        v_pad = F32((one - F32(roi_aspect / tensor_aspect)) / two)
    else:
        new_w = F32(roi.height / tensor_aspect)
        new_h = roi.height
        h_pad = F32((one - F32(tensor_aspect / roi_aspect)) / two)
    padded = PixelRect(roi.center_x, roi.center_y, F32(new_w), F32(new_h), roi.rotation)
    return padded, np.array([h_pad, v_pad, h_pad, v_pad], F32)


def box_points(roi: PixelRect) -> np.ndarray:
    """The 4 corners of the rotated rect in pixels, in OpenCV ``boxPoints`` order.

    At rotation 0: bottom-left, top-left, top-right, bottom-right. The angle is
    converted as MediaPipe does: ``rotation * 180.f / M_PI`` (float, then double).
    """
    angle_deg = float(np.float32(F32(roi.rotation) * F32(180.0))) / math.pi
    return cv2.boxPoints(((float(roi.center_x), float(roi.center_y)),
                          (float(roi.width), float(roi.height)), angle_deg))


def crop_matrix(roi: PixelRect, out_w: int, out_h: int) -> np.ndarray:
    """3x3 perspective matrix mapping source pixels to crop pixels.

    The ROI's corners go to (0, out_h), (0, 0), (out_w, 0), (out_w, out_h): no
    half-pixel offset (docs/pipeline.md §1). Use with ``cv2.warpPerspective``.
    """
    src = box_points(roi).astype(F32)
    dst = np.array([[0, out_h], [0, 0], [out_w, 0], [out_w, out_h]], F32)
    return cv2.getPerspectiveTransform(src, dst)


def warp_crop(image: np.ndarray, matrix: np.ndarray, out_w: int, out_h: int,
              border_replicate: bool, dst: np.ndarray | None = None) -> np.ndarray:
    """Crop with ``cv2.warpPerspective`` INTER_LINEAR on uint8 (docs/pipeline.md §1).

    ``border_replicate`` selects BORDER_REPLICATE, else BORDER_CONSTANT 0.
    ``dst`` (out_h, out_w, C) uint8 is reused when given.
    """
    border = cv2.BORDER_REPLICATE if border_replicate else cv2.BORDER_CONSTANT
    if dst is not None:
        return cv2.warpPerspective(image, matrix, (out_w, out_h), dst=dst,
                                   flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
    return cv2.warpPerspective(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                               borderMode=border, borderValue=0)


def value_range_transform(range_min: float, range_max: float) -> tuple[np.float32, np.float32]:
    """(scale, offset) mapping [0, 255] to [range_min, range_max], in float32."""
    scale = F32(F32(range_max) - F32(range_min)) / F32(255.0)
    offset = F32(F32(range_min) - F32(0.0) * scale)
    return F32(scale), offset


def normalize_radians(angle: float) -> np.float32:
    """Wrap to [-pi, pi) like MediaPipe's NormalizeRadians (double math, float result)."""
    a = float(angle)
    return F32(a - 2 * math.pi * math.floor((a + math.pi) / (2 * math.pi)))


TARGET_ANGLE_90 = F32(math.pi * 90.0 / 180.0)


def alignment_points_rect(start: np.ndarray, end: np.ndarray, image_w: int, image_h: int,
                          target_angle: np.float32 = TARGET_ANGLE_90) -> NormRect:
    """AlignmentPointsRects: a rect centred on ``start`` whose half-size reaches ``end``.

    start, end: normalized image coordinates (x, y). The rect is square in
    pixels with side S = 2 |end - start|_px; rotation makes the start->end
    vector point up (target 90 deg) on the crop. The angle is glibc's ``atan2f``
    (the function MediaPipe calls), not ``np.arctan2``, which differs by one ulp on
    about half the frames -- enough to steer the tracking loop (docs/accuracy.md).
    """
    W, H = F32(image_w), F32(image_h)  # noqa: N806
    x0, y0 = F32(F32(start[0]) * W), F32(F32(start[1]) * H)
    x1, y1 = F32(F32(end[0]) * W), F32(F32(end[1]) * H)
    dx, dy = F32(x1 - x0), F32(y1 - y0)
    box = F32(np.sqrt(F32(F32(dx * dx) + F32(dy * dy)))) * F32(2.0)
    rot = normalize_radians(F32(target_angle - atan2f(-dy, dx)))
    return NormRect(F32(x0 / W), F32(y0 / H), F32(box / W), F32(box / H), rot)


def transform_rect(rect: NormRect, image_w: int, image_h: int, scale_x: float = 1.25,
                   scale_y: float = 1.25, square_long: bool = True) -> NormRect:
    """RectTransformation without shift: optional square_long, then scale (docs/pipeline.md §5)."""
    W, H = F32(image_w), F32(image_h)  # noqa: N806
    w, h = rect.width, rect.height
    if square_long:
        long_side = max(F32(w * W), F32(h * H))
        w, h = F32(long_side / W), F32(long_side / H)
    return NormRect(rect.x_center, rect.y_center, F32(w * F32(scale_x)), F32(h * F32(scale_y)),
                    rect.rotation)


def letterbox_scale(padding: np.ndarray) -> tuple[np.float32, np.float32]:
    """The unpadded fraction of a letterboxed square, horizontally and vertically (float32):
    ``1 - (left + right)``, ``1 - (top + bottom)`` for ``padding`` = (left, top, right, bottom)."""
    left, top, right, bottom = (F32(p) for p in padding)
    one = F32(1.0)
    return F32(one - F32(left + right)), F32(one - F32(top + bottom))


def remove_letterbox(points: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """Undo letterboxing on (N, >=2) normalized points; z (col 2) scales like x.

    ``padding`` = (left, top, right, bottom) as fractions of the letterboxed square.
    """
    left, top = F32(padding[0]), F32(padding[1])
    lr, tb = letterbox_scale(padding)
    out = points.astype(F32, copy=True)
    out[:, 0] = (out[:, 0] - left) / lr
    out[:, 1] = (out[:, 1] - top) / tb
    if out.shape[1] > 2:
        out[:, 2] = out[:, 2] / lr
    return out


def project_to_image(points: np.ndarray, rect: NormRect) -> np.ndarray:
    """ROI-local normalized (N, 3) points -> normalized image coordinates (docs/pipeline.md §7.6).

    z is multiplied by the rect's normalized width, so ``z * W`` is in pixels. cos/sin
    are glibc's ``cosf``/``sinf`` (MediaPipe's), not NumPy's (1 ulp apart near +-pi/2).
    """
    c, s = cosf(rect.rotation), sinf(rect.rotation)
    u = points[:, 0].astype(F32) - F32(0.5)
    v = points[:, 1].astype(F32) - F32(0.5)
    out = np.empty((points.shape[0], 3), F32)
    out[:, 0] = (c * u - s * v) * rect.width + rect.x_center
    out[:, 1] = (s * u + c * v) * rect.height + rect.y_center
    out[:, 2] = points[:, 2].astype(F32) * rect.width
    return out


def rotate_world(world: np.ndarray, rotation: float) -> np.ndarray:
    """Rotate (N, 3) metric points about z by the ROI rotation (docs/pipeline.md §7.7; glibc cosf/sinf)."""
    r = F32(rotation)
    c, s = cosf(r), sinf(r)
    out = world.astype(F32, copy=True)
    out[:, 0] = c * world[:, 0] - s * world[:, 1]
    out[:, 1] = s * world[:, 0] + c * world[:, 1]
    return out


def roi_local_to_image_matrix(roi: PixelRect, image_w: int, image_h: int) -> np.ndarray:
    """3x3 affine mapping ROI-local normalized (u, v) to normalized image coordinates.

    The 2-D part of the MATRIX output of ImageToTensor (docs/pipeline.md §6), float64.
    """
    a, b = float(roi.width), float(roi.height)
    c, s = math.cos(float(roi.rotation)), math.sin(float(roi.rotation))
    e, f = float(roi.center_x), float(roi.center_y)
    return np.array([
        [a * c / image_w, -b * s / image_w, (-0.5 * a * c + 0.5 * b * s + e) / image_w],
        [a * s / image_h, b * c / image_h, (-0.5 * b * c - 0.5 * a * s + f) / image_h],
        [0.0, 0.0, 1.0]])


def image_to_crop_affine(roi: PixelRect, image_w: int, image_h: int, crop_w: int,
                         crop_h: int) -> np.ndarray:
    """2x3 affine mapping image pixels to crop pixels (for WARP_INVERSE_MAP warps back).

    diag(crop) . M^-1 . diag(1/W, 1/H), docs/pipeline.md §7.8.
    """
    m = roi_local_to_image_matrix(roi, image_w, image_h)
    full = np.diag([crop_w, crop_h, 1.0]) @ np.linalg.inv(m) @ np.diag([1.0 / image_w, 1.0 / image_h, 1.0])
    return full[:2]
