"""PoseTracker: the BlazePose detector-tracker loop with smoothing, for one or several people.

num_poses = 1 (default) is the reference loop: the detector runs only when there is no
ROI from the previous frame (first frame, person lost) or in static-image mode; otherwise
the ROI comes from the previous frame's *filtered* auxiliary landmarks. The track is
lost only through the landmark model's pose flag (<= min_tracking_confidence).

num_poses > 1 (or a small-person search) runs :mod:`.multi_person`: one landmark run per
tracked person on their own ROI, duplicate suppression and identities that stay with
the person (docs/multi_person.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .association import carry_ids, rect_box
from .detector import DetectorOptions, PoseDetector, detection_to_rect
from .geometry import NormRect
from .inference import TFLiteModel
from .landmarks import LandmarkOptions, LandmarkResult, PoseLandmarker, landmark_model_content
from .models import COMPLEXITY_TO_MODEL, resolve_model
from .multi_person import MultiPersonOptions, MultiPersonTracker
from .pose_track import TrackFilters, finish_pose
from .types import Pose

log = logging.getLogger(__name__)

MIN_IMAGE_SIDE = 2


@dataclass(frozen=True)
class TrackerOptions:
    """Loop-level settings; the per-stage ones live in DetectorOptions / LandmarkOptions."""

    static_image_mode: bool = False
    smooth: bool = True
    aux_roi_scale: float = 1.25  # next ROI from aux points: scale, square_long (docs/pipeline.md §8)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Validate a frame and return an HxWx3 uint8 RGB array OpenCV can read.

    Accepts HxWx3 RGB, HxW or HxWx1 grey (replicated), HxWx4 RGBA (alpha
    dropped). Row-strided views pass through without a copy; other
    non-contiguous layouts are copied. Raises ValueError otherwise.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (0-255), got dtype {image.dtype}; "
                         "convert with (img * 255).clip(0, 255).astype(np.uint8) for [0, 1] floats")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"image must be HxW, HxWx3 (RGB) or HxWx4 (RGBA), got shape {image.shape}")
    h, w = image.shape[:2]
    if h < MIN_IMAGE_SIDE or w < MIN_IMAGE_SIDE:
        raise ValueError(f"image is too small ({w}x{h}); need at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}")
    if image.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGBA2RGB)
    s = image.strides
    if not (s[2] == 1 and s[1] == 3 and s[0] >= 3 * w):
        image = np.ascontiguousarray(image)
    return image


class PoseTracker:
    """BlazePose detector + landmark tracker for one person.

    Args:
        model: landmark model ``"lite" | "full" | "heavy"``, a complexity 0/1/2,
            or a path to a ``.tflite`` file.
        delegate: ``"cpu" | "gpu" | "edgetpu" | "auto"`` (see :mod:`.inference`).
        num_threads: interpreter threads per model.
        static_image_mode: run the detector on every frame, no smoothing.
        smooth: one-euro smoothing of the pose and world landmarks.
        min_detection_confidence: detector score threshold (>=).
        min_tracking_confidence: pose-flag threshold (pose kept iff flag > it).
        enable_segmentation: also return a full-image mask per pose.
        refine_kernel_size: heatmap refinement kernel (9 = MediaPipe Python; 7 = pbtxt).
        detector_model: detector ``.tflite`` path (default: the shipped one).
        delegate_library: path of a custom external delegate ``.so`` (overrides ``delegate``).
        reference_math: round every sigmoid's ``exp`` exactly like glibc's ``expf``, the
            function MediaPipe calls, instead of NumPy's SIMD ``np.exp`` (1 ulp apart on
            ~40 % of inputs). Bit-exact with MediaPipe 0.10.21 on glibc x86_64, also in
            tracking mode, where the loop can amplify one ulp into a different track on
            ambiguous scenes; ~0.2 ms slower per tracked frame (~0.4 ms with the detector).
            Default off: static mode and well-conditioned tracking already match
            MediaPipe within 1 px (docs/accuracy.md).
        num_poses: most people tracked at once (MediaPipe Tasks' name). 1 = the reference
            single-person loop, exactly; > 1 = :mod:`.multi_person`.
        detection_interval: (num_poses > 1) seconds between whole-frame detector runs while
            fewer than num_poses people are tracked (finding newcomers).
        max_occlusion: (num_poses > 1) seconds a lost person's id waits to be re-identified.
        small_person_tiles: None = off; ``(0, 0)`` = square tiles along the long side;
            ``(nx, ny)`` = grid. Each detector run also searches one tile (round robin) to
            find people too small for the whole-frame detector. Setting it selects the
            multi-person loop even with num_poses = 1.
        small_person_height: px; the tile grid is chosen per frame so that a person this
            tall is big enough for the detector (overrides small_person_tiles).
        tiles_per_run: tiles searched per detector run.

    :meth:`process` takes an RGB frame and its stamp in seconds (the image
    stamp, not wall time) and returns a list of :class:`Pose` (at most num_poses),
    each with its person's ``id`` (unique per tracker, never reused, from 1).
    """

    def __init__(self, model: str | int | Path = "full", delegate: str = "cpu", num_threads: int = 1,
                 static_image_mode: bool = False, smooth: bool = True,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 enable_segmentation: bool = False, refine_kernel_size: int = 9,
                 detector_model: str | Path | None = None,
                 delegate_library: str | Path | None = None, reference_math: bool = False,
                 num_poses: int = 1, detection_interval: float = 0.2, max_occlusion: float = 1.0,
                 small_person_tiles: tuple[int, int] | None = None,
                 small_person_height: float | None = None, tiles_per_run: int = 1) -> None:
        for name, v in (("min_detection_confidence", min_detection_confidence),
                        ("min_tracking_confidence", min_tracking_confidence)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if refine_kernel_size < 0 or (refine_kernel_size and refine_kernel_size % 2 == 0):
            raise ValueError(f"refine_kernel_size must be odd (or 0 to disable), got {refine_kernel_size}")
        if isinstance(model, int):
            if model not in COMPLEXITY_TO_MODEL:
                raise ValueError(f"model complexity must be one of {sorted(COMPLEXITY_TO_MODEL)}")
            model = COMPLEXITY_TO_MODEL[model]
        lm_file = resolve_model(model, "landmark")
        det_file = resolve_model(detector_model or "detector", "detector")
        self.options = TrackerOptions(static_image_mode=static_image_mode, smooth=smooth)
        self.reference_math = bool(reference_math)
        self.detector = PoseDetector(
            TFLiteModel(det_file.path, delegate, num_threads, delegate_library),
            DetectorOptions(min_score_thresh=float(min_detection_confidence),
                            reference_math=bool(reference_math)))
        self.landmarker = PoseLandmarker(
            TFLiteModel(lm_file.path, delegate, num_threads, delegate_library,
                        model_content=landmark_model_content(lm_file.path, enable_segmentation)),
            LandmarkOptions(refine_kernel_size=refine_kernel_size,
                            min_presence=float(min_tracking_confidence),
                            enable_segmentation=enable_segmentation,
                            reference_math=bool(reference_math)))
        self.model_path = lm_file.path
        self.detector_path = det_file.path
        self.active_delegate = self.landmarker.model.active_delegate
        self._filters = TrackFilters()
        self.detector_runs = 0
        self.landmark_runs = 0
        self.frames = 0
        self.last_timings: dict[str, float] = {}
        self.multi: MultiPersonTracker | None = None
        if int(num_poses) != num_poses or num_poses < 1:
            raise ValueError(f"num_poses must be an integer >= 1, got {num_poses}")
        if num_poses > 1 or small_person_tiles is not None or small_person_height:
            tiles = None if small_person_tiles is None else tuple(int(v) for v in small_person_tiles)
            self.multi = MultiPersonTracker(
                self.detector, self.landmarker,
                MultiPersonOptions(num_poses=int(num_poses), detection_interval=float(detection_interval),
                                   max_occlusion=float(max_occlusion), small_person_tiles=tiles,
                                   small_person_height=float(small_person_height) if small_person_height
                                   else None, tiles_per_run=int(tiles_per_run),
                                   roi_iou=float(min_tracking_confidence)),
                smooth=smooth, static=static_image_mode, aux_roi_scale=self.options.aux_roi_scale,
                new_id=self._allocate_id)
        self.num_poses = int(num_poses)
        self.resets = 0  # automatic resets inside process() (stamp backwards, size change)
        self.last_reset: str | None = None  # reason of a reset inside the last process() call
        self._next_id = 0
        self._deaths = 0
        self.reset()

    def _allocate_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # --- state -----------------------------------------------------------------
    def reset(self) -> None:
        """Forget the track and every filter state (counters are kept; ids are not reused)."""
        if getattr(self, "_track_id", 0):
            self._deaths += 1
        self._rect: NormRect | None = None
        self._track_id = 0
        self._static_box: np.ndarray | None = None  # static mode: last detection's box (px)
        self._size: tuple[int, int] | None = None
        self._last_ns: int | None = None
        self._filters.reset()
        if self.multi is not None:
            self.multi.reset()

    @property
    def tracking(self) -> bool:
        """True when the next frame will reuse a previous ROI (single person: detector skipped)."""
        if self.multi is not None:
            return bool(self.multi.tracked_ids) and not self.options.static_image_mode
        return self._rect is not None and not self.options.static_image_mode

    @property
    def births(self) -> int:
        """Person ids given so far (by this tracker and those it took its ids from)."""
        return self._next_id

    @property
    def deaths(self) -> int:
        """Person ids that ended: lost (single person), not re-identified within
        max_occlusion (several people), or cleared by a reset."""
        return self._deaths + (self.multi.deaths if self.multi is not None else 0)

    @property
    def live_ids(self) -> list[int]:
        """Ids of the people tracked now, and (several people) of those lost but still
        waiting to be re-identified."""
        if self.multi is not None:
            return sorted(self.multi.tracked_ids + self.multi.lost_ids)
        return [self._track_id] if self._track_id else []

    def take_ids_from(self, other: PoseTracker) -> None:
        """Continue another tracker's ids and birth/death counts (a rebuilt tracker, e.g. on
        a parameter change): ids stay unique per node run. The other's live ids end."""
        self._next_id = max(self._next_id, other._next_id)
        self._deaths += other.deaths + len(other.live_ids)

    def _auto_reset(self, reason: str) -> None:
        self.reset()
        self.resets += 1
        self.last_reset = reason

    def _lose_track(self) -> None:
        if self._track_id:
            self._deaths += 1
        self._track_id = 0
        self._rect = None
        self._static_box = None
        self._filters.lose()

    # --- main entry --------------------------------------------------------------
    def process(self, rgb: np.ndarray, stamp: float) -> list[Pose]:
        """Poses in one RGB uint8 frame (HxWx3; grey and RGBA are converted).

        ``stamp``: the frame's time in seconds (filters use round(stamp*1e9) ns).
        A stamp earlier than the previous one (a looping bag) or a new frame size
        resets the tracker first; :attr:`last_reset` then names the reason
        (``"stamp_backwards"`` / ``"size_changed"``, else None) and :attr:`resets`
        counts such resets. Returns [] when nobody is found.
        """
        t_start = time.perf_counter()
        image = as_rgb(rgb)
        try:
            t_ns = round(float(stamp) * 1e9)
        except (TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"stamp must be a finite time in seconds, got {stamp!r}") from e
        self.last_reset = None
        if self._last_ns is not None and t_ns < self._last_ns:
            log.info("stamp went backwards (%.6f s < %.6f s): resetting the tracker",
                     t_ns * 1e-9, self._last_ns * 1e-9)
            self._auto_reset("stamp_backwards")
        h, w = image.shape[:2]
        if self._size is not None and self._size != (w, h):
            log.info("frame size changed %s -> %s: resetting the tracker", self._size, (w, h))
            self._auto_reset("size_changed")
        self._size = (w, h)
        self._last_ns = t_ns
        self.frames += 1
        timings = {"detector": 0.0, "crop": 0.0, "landmark_invoke": 0.0, "decode": 0.0, "filters": 0.0}
        if self.multi is not None:
            m = self.multi
            det0, lm0 = m.detector_runs, m.landmark_runs
            poses = m.process(image, t_ns, timings)
            self.detector_runs += m.detector_runs - det0
            self.landmark_runs += m.landmark_runs - lm0
            timings["total"] = time.perf_counter() - t_start
            self.last_timings = timings
            return poses

        static = self.options.static_image_mode
        rect = None if static else self._rect
        from_detector = False
        if rect is None:
            t0 = time.perf_counter()
            dets = self.detector.detect(image)
            self.detector_runs += 1
            timings["detector"] = time.perf_counter() - t0
            if dets:
                rect = detection_to_rect(dets[0], w, h, self.detector.options)
                from_detector = True
                box = rect_box(rect, w, h)
                kept = carry_ids([(self._track_id, self._static_box)], [box])[0] \
                    if static and self._track_id and self._static_box is not None else None
                if kept is None:  # static mode keeps the id of a person still in place
                    if self._track_id:
                        self._deaths += 1
                    self._track_id = self._allocate_id()
                self._static_box = box if static else None

        result: LandmarkResult | None = None
        if rect is not None:
            result = self.landmarker.run(image, rect)
            self.landmark_runs += 1
            timings.update(self.landmarker.last_timings)
        if result is None:
            self._lose_track()
            timings["total"] = time.perf_counter() - t_start
            self.last_timings = timings
            return []

        t0 = time.perf_counter()
        pose = self._finish(result, w, h, t_ns, from_detector)
        timings["filters"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        self.last_timings = timings
        return [pose]

    def _finish(self, res: LandmarkResult, w: int, h: int, t_ns: int, from_detector: bool) -> Pose:
        """Smoothing and the next ROI of the single-person loop (:func:`.pose_track.finish_pose`)."""
        o = self.options
        pose, next_rect = finish_pose(res, w, h, t_ns, from_detector, self._filters, smooth=o.smooth,
                                      static=o.static_image_mode, aux_roi_scale=o.aux_roi_scale,
                                      track_id=self._track_id)
        if not o.static_image_mode:
            self._rect = next_rect
        return pose
