"""Parity with MediaPipe: the shared cases, inputs, metrics and table.

Used by ``bench/parity.py`` (the comparison CLI), ``bench/make_reference.py``
(its project-side half prepares the inputs) and ``test/test_parity.py``.
It runs in the project venv only; the MediaPipe half lives in
``bench/make_reference.py`` and runs in the reference venv.

Inputs are decoded once, here, with the project's OpenCV, and handed to
MediaPipe as raw RGB arrays (an ``.npz``), so a JPEG/MPEG-4 decoder that differs
between the two venvs cannot show up as a parity error. Each stored reference
records the SHA-256 of every input frame, and the comparison refuses to run on
inputs that differ from them.

Metric definitions (per matched frame: both sides found a pose):
- px error: Euclidean distance of (x, y) in source-image pixels, over all 33 keypoints.
- torso size: mean of the left (11-23) and right (12-24) shoulder-hip distances
  of the *reference* pose, in pixels.
- within 5% torso: share of the *visible* keypoints (reference visibility > 0.5)
  whose px error is below 0.05 * torso size.
- world error: Euclidean distance of the world keypoints, in millimetres.
- z error: |dz| in pixels (z scaled like x, docs/pipeline.md §7.6).
- visibility diff: |dvisibility|.
Targets (the issue): median px error < 1 px and >= 99% within 5% of torso size,
and both sides find a pose on the same frames.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "test" / "data"
REF_DIR = ROOT / "test" / "reference"
REF_VENV = Path.home() / ".cache" / "blazepose_ros" / "mediapipe-ref"

# MediaPipe's Python solution advances its clock by exactly 33 333 us per process()
# call, *before* sending the frame (solution_base.py), so frame i (0-based) is at
# (i + 1) * 33 333 us, never 0. Our side is fed the same stamps. Starting at 0
# instead changes the one-euro filters' frequency on frame 1 (30 vs 30.0003 Hz:
# a zero stamp does not update it, docs/pipeline.md §9.2), enough to move the tracking ROI.
MP_STAMP_STEP_S = 0.033333

MEDIAPIPE_VERSION = "0.10.21"
MEDIAPIPE_OPTIONS = {"model_complexity": 1, "enable_segmentation": False,
                     "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5}
MODELS = ("lite", "full", "heavy")  # model_complexity 0, 1, 2


def mediapipe_options(model: str = "full") -> dict[str, Any]:
    """MediaPipe's options for the landmark model ``model``."""
    return {**MEDIAPIPE_OPTIONS, "model_complexity": MODELS.index(model)}

TARGET_MEDIAN_PX = 1.0
TARGET_WITHIN_TORSO = 0.99
TORSO_FRACTION = 0.05
VISIBLE = 0.5

VIDEO = "sample_people.mp4"  # zidane.jpg: two overlapping half-body men (chaotic for tracking)
FULLBODY_VIDEO = "sample_fullbody.mp4"  # bus.jpg: one full-body man, sideways camera (well-conditioned)
# name -> how it is made from the shipped images (all lossless PNG, deterministic)
VARIANTS = {
    "zidane_rot20.png": "zidane.jpg rotated 20 deg about its centre, same size, black border",
    "zidane_rot90.png": "zidane.jpg rotated 90 deg clockwise (exact)",
    "bus_crop_left.png": "bus.jpg rows 280:960, cols 0:340 (the man on the left)",
    "bus_crop_mid.png": "bus.jpg rows 360:900, cols 190:410 (the man in the middle)",
    "bus_flip.png": "bus.jpg mirrored left-right (exact)",
    "bus_half.png": "bus.jpg resized to 405x540 with INTER_AREA",
}
STATIC_IMAGES = ("bus.jpg", "zidane.jpg", *VARIANTS)


@dataclass(frozen=True)
class Case:
    name: str
    static: bool  # static_image_mode
    smooth: bool  # smooth_landmarks (only meaningful when not static)
    source: str  # "images" or "video"
    description: str
    video: str = VIDEO  # test/data file of a "video" case


CASES: dict[str, Case] = {c.name: c for c in (
    Case("static_images", True, False, "images",
         "static mode on bus.jpg, zidane.jpg and 6 deterministic variants"),
    Case("video_static", True, False, "video",
         "static mode on the 90 frames of sample_people.mp4"),
    Case("video_tracking", False, True, "video",
         "tracking mode with landmark smoothing on the 90 frames of sample_people.mp4"),
    Case("fullbody_static", True, False, "video",
         "static mode on the 100 frames of sample_fullbody.mp4", FULLBODY_VIDEO),
    Case("fullbody_tracking", False, True, "video",
         "tracking mode with landmark smoothing on the 100 frames of sample_fullbody.mp4", FULLBODY_VIDEO),
)}


# --------------------------------------------------------------------------- inputs

def make_variant(name: str, data_dir: Path = DATA) -> np.ndarray:
    """BGR image of the named variant, computed from the shipped JPEGs."""
    bus = _imread(data_dir / "bus.jpg")
    zidane = _imread(data_dir / "zidane.jpg")
    if name == "zidane_rot20.png":
        h, w = zidane.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), -20.0, 1.0)
        return cv2.warpAffine(zidane, m, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    if name == "zidane_rot90.png":
        return cv2.rotate(zidane, cv2.ROTATE_90_CLOCKWISE)
    if name == "bus_crop_left.png":
        return np.ascontiguousarray(bus[280:960, 0:340])
    if name == "bus_crop_mid.png":
        return np.ascontiguousarray(bus[360:900, 190:410])
    if name == "bus_flip.png":
        return cv2.flip(bus, 1)
    if name == "bus_half.png":
        return cv2.resize(bus, (405, 540), interpolation=cv2.INTER_AREA)
    raise KeyError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")


def ensure_variants(data_dir: Path = DATA) -> dict[str, Path]:
    """Write the variant PNGs into ``data_dir`` (test/data is generated, not committed)."""
    out = {}
    for name in VARIANTS:
        path = data_dir / name
        img = make_variant(name, data_dir)
        if not path.exists() or not np.array_equal(_imread(path), img):
            if not cv2.imwrite(str(path), img):
                raise OSError(f"cannot write {path}")
        out[name] = path
    return out


def _imread(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read {path} (run `bash scripts/setup.sh` for test media)")
    return img


def load_rgb(path: Path) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(_imread(path), cv2.COLOR_BGR2RGB))


def video_rgb_frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open {path} (run `bash scripts/setup.sh` for test media)")
    frames = []
    try:
        while limit is None or len(frames) < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    finally:
        cap.release()
    return frames


def case_inputs(case: Case, data_dir: Path = DATA) -> tuple[list[str], list[np.ndarray]]:
    """(names, RGB uint8 frames) of a case, decoded with the project's OpenCV."""
    if case.source == "images":
        ensure_variants(data_dir)
        names = list(STATIC_IMAGES)
        return names, [load_rgb(data_dir / n) for n in names]
    frames = video_rgb_frames(data_dir / case.video)
    return [f"{case.video}#{i}" for i in range(len(frames))], frames


def frame_sha256(rgb: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(repr((rgb.shape, str(rgb.dtype))).encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


def input_records(names: Sequence[str], frames: Sequence[np.ndarray]) -> list[dict[str, Any]]:
    return [{"name": n, "shape": list(f.shape), "sha256": frame_sha256(f)}
            for n, f in zip(names, frames, strict=True)]


def stamp_of(index: int) -> float:
    """MediaPipe's synthetic stamp of the index-th process() call, in seconds."""
    return (index + 1) * MP_STAMP_STEP_S


# --------------------------------------------------------------------------- our side

def run_ours(case: Case, frames: Sequence[np.ndarray], num_threads: int = 1,
             tracker_kwargs: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Our PoseTracker on the frames, in the CLI's JSON schema (lists, not arrays)."""
    from blazepose_ros.core import PoseTracker

    kwargs: dict[str, Any] = {"model": "full", "delegate": "cpu", "num_threads": num_threads,
                              "static_image_mode": case.static, "smooth": case.smooth}
    kwargs.update(tracker_kwargs or {})
    tracker = PoseTracker(**kwargs)
    out = []
    for i, rgb in enumerate(frames):
        poses = tracker.process(rgb, stamp_of(i))
        out.append({"index": i, "stamp": stamp_of(i), "poses": [
            {"score": float(p.score),
             "keypoints": np.asarray(p.keypoints, np.float64).tolist(),
             "world": np.asarray(p.world, np.float64).tolist(),
             "debug": _our_debug(p)} for p in poses]})
    close = getattr(tracker, "close", None)
    if callable(close):
        close()
    return out


def _our_debug(pose: Any) -> dict[str, Any]:
    """The intermediate values MediaPipe's debug run also reports (see make_reference.py)."""
    d: dict[str, Any] = {}
    roi = getattr(pose, "roi", None)
    if roi is not None:
        d["roi"] = [float(roi.x_center), float(roi.y_center), float(roi.width), float(roi.height),
                    float(roi.rotation)]
    aux = getattr(pose, "aux", None)
    if aux is not None:
        d["aux"] = np.asarray(aux, np.float64).tolist()
    d["from_detector"] = bool(getattr(pose, "from_detector", False))
    return d


# --------------------------------------------------------------------------- reference files

def reference_path(case_name: str, ref_dir: Path = REF_DIR, model: str = "full") -> Path:
    """``<case>.json`` for the full model, ``<case>.<model>.json`` for lite and heavy."""
    return ref_dir / (f"{case_name}.json" if model == "full" else f"{case_name}.{model}.json")


def load_reference(case_name: str, ref_dir: Path = REF_DIR, model: str = "full") -> dict[str, Any]:
    path = reference_path(case_name, ref_dir, model)
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run `python bench/make_reference.py --case {case_name}"
                                f"{'' if model == 'full' else ' --model ' + model}`")
    with open(path) as f:
        return json.load(f)


def check_inputs(ref: dict[str, Any], names: Sequence[str], frames: Sequence[np.ndarray]) -> list[str]:
    """Problems with our inputs vs the ones the reference was made from (empty = same)."""
    want = ref["inputs"]
    if len(want) != len(frames):
        return [f"{len(frames)} input frames here, {len(want)} in the reference"]
    problems = []
    for rec, name, rgb in zip(want, names, frames, strict=True):
        if rec["name"] != name or rec["sha256"] != frame_sha256(rgb):
            problems.append(f"{name}: differs from the reference's input {rec['name']} "
                            f"(shape {list(rgb.shape)} vs {rec['shape']})")
    return problems


# --------------------------------------------------------------------------- metrics

@dataclass
class CaseMetrics:
    case: str
    frames: int
    ref_poses: int
    our_poses: int
    matched: int
    px: np.ndarray = field(repr=False)  # (n*33,) px errors of matched poses
    visible_within: np.ndarray = field(repr=False)  # (m,) bool over visible keypoints
    world_mm: np.ndarray = field(repr=False)
    z_px: np.ndarray = field(repr=False)
    vis_diff: np.ndarray = field(repr=False)
    worst: list[tuple[float, int, int]] = field(default_factory=list)  # (px, frame, keypoint)

    @property
    def median_px(self) -> float:
        return float(np.median(self.px)) if self.px.size else math.nan

    @property
    def p95_px(self) -> float:
        return float(np.percentile(self.px, 95)) if self.px.size else math.nan

    @property
    def max_px(self) -> float:
        return float(self.px.max()) if self.px.size else math.nan

    @property
    def within_torso(self) -> float:
        return float(self.visible_within.mean()) if self.visible_within.size else math.nan

    @property
    def same_detections(self) -> bool:
        return self.matched == self.ref_poses == self.our_poses

    @property
    def passed(self) -> bool:
        return (self.matched > 0 and self.same_detections and self.median_px < TARGET_MEDIAN_PX
                and self.within_torso >= TARGET_WITHIN_TORSO)


def torso_size(kp: np.ndarray) -> float:
    """Mean of the left (11-23) and right (12-24) shoulder-hip distances, pixels."""
    left = np.linalg.norm(kp[11, :2] - kp[23, :2])
    right = np.linalg.norm(kp[12, :2] - kp[24, :2])
    return float((left + right) / 2)


def _best_pose(poses: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(poses, key=lambda p: p.get("score") or 0.0) if poses else None


def compare(case_name: str, ref_frames: Sequence[dict[str, Any]],
            our_frames: Sequence[dict[str, Any]]) -> CaseMetrics:
    """Per-keypoint errors of our best pose vs the reference pose, frame by frame."""
    if len(ref_frames) != len(our_frames):
        raise ValueError(f"{case_name}: {len(our_frames)} frames vs {len(ref_frames)} in the reference")
    px, within, world, z, vis, worst = [], [], [], [], [], []
    ref_n = our_n = matched = 0
    for i, (rf, of) in enumerate(zip(ref_frames, our_frames, strict=True)):
        rp, op = _best_pose(rf["poses"]), _best_pose(of["poses"])
        ref_n += rp is not None
        our_n += op is not None
        if rp is None or op is None:
            continue
        matched += 1
        rk = np.asarray(rp["keypoints"], np.float64)
        ok = np.asarray(op["keypoints"], np.float64)
        err = np.linalg.norm(rk[:, :2] - ok[:, :2], axis=1)
        px.append(err)
        visible = rk[:, 3] > VISIBLE
        within.append(err[visible] < TORSO_FRACTION * torso_size(rk))
        world.append(1000 * np.linalg.norm(np.asarray(rp["world"]) - np.asarray(op["world"]), axis=1))
        z.append(np.abs(rk[:, 2] - ok[:, 2]))
        vis.append(np.abs(rk[:, 3] - ok[:, 3]))
        j = int(err.argmax())
        worst.append((float(err[j]), i, j))
    cat = (lambda xs, dt=np.float64: np.concatenate(xs) if xs else np.zeros(0, dt))  # noqa: E731
    worst.sort(reverse=True)
    return CaseMetrics(case_name, len(ref_frames), ref_n, our_n, matched, cat(px), cat(within, bool),
                       cat(world), cat(z), cat(vis), worst[:5])


# --------------------------------------------------------------------------- table

def _f(v: float, nd: int = 3) -> str:
    return "nan" if math.isnan(v) else f"{v:.{nd}f}"


def format_table(rows: Iterable[CaseMetrics]) -> str:
    head = ("case", "frames", "poses ref/ours/match", "median px", "p95 px", "max px",
            "<5% torso", "world med mm", "z med px", "vis med|max", "result")
    lines = []
    for m in rows:
        lines.append((
            m.case, str(m.frames), f"{m.ref_poses}/{m.our_poses}/{m.matched}",
            _f(m.median_px), _f(m.p95_px), _f(m.max_px),
            "nan" if math.isnan(m.within_torso) else f"{100 * m.within_torso:.2f}%",
            _f(float(np.median(m.world_mm)) if m.world_mm.size else math.nan, 2),
            _f(float(np.median(m.z_px)) if m.z_px.size else math.nan),
            (f"{np.median(m.vis_diff):.4f}|{m.vis_diff.max():.4f}" if m.vis_diff.size else "nan"),
            "PASS" if m.passed else "FAIL"))
    widths = [max(len(h), *(len(r[k]) for r in lines)) if lines else len(h) for k, h in enumerate(head)]
    fmt = lambda r: "  ".join(s.rjust(w) if k else s.ljust(w)  # noqa: E731
                              for k, (s, w) in enumerate(zip(r, widths, strict=True)))
    out = [fmt(head), fmt(tuple("-" * w for w in widths)), *(fmt(r) for r in lines)]
    out.append(f"targets: median px < {TARGET_MEDIAN_PX:g}, >= {100 * TARGET_WITHIN_TORSO:g}% of visible "
               f"keypoints (ref vis > {VISIBLE:g}) within {100 * TORSO_FRACTION:g}% of torso size "
               "(mean shoulder-hip distance), and the same frames with a pose")
    return "\n".join(out)
