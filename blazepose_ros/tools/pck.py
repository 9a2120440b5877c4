"""PCK@0.2 on COCO-format keypoint annotations (the BlazePose paper's accuracy metric).

A predicted keypoint is correct when its 2D distance to the ground truth is below
``alpha`` (0.2) times the person's *torso size*. Only the 17 COCO keypoints are
scored (BlazePose's 33 are mapped with :data:`.topology.COCO17_FROM_BLAZEPOSE`),
and only those labelled in the ground truth (``v > 0``).

Torso size (ground truth, pixels):

* ``"mid"`` (default): distance between the shoulder midpoint and the hip midpoint;
* ``"diagonal"``: left shoulder to right hip (the LSP / PCK convention);

a person whose four torso keypoints are not all labelled has no torso size and is
skipped (counted in ``skipped_no_torso``).

Inputs are plain COCO files: ``annotations`` with ``image_id`` and
``keypoints`` = 17 x (x, y, v); predictions in the COCO *results* format,
``[{"image_id", "keypoints": 17 x (x, y, score), "score"}]``. Each ground-truth
person is matched to the prediction of its image with the most correct
keypoints (ties: smaller mean error), each prediction at most once, greedily
over people with more labelled keypoints first. A person with no prediction
counts every labelled keypoint as wrong (``include_unmatched=False`` scores
matched people only).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from blazepose_ros.core.topology import COCO17_NAMES, to_coco17

NUM_COCO = 17
L_SHOULDER, R_SHOULDER = COCO17_NAMES.index("left_shoulder"), COCO17_NAMES.index("right_shoulder")
L_HIP, R_HIP = COCO17_NAMES.index("left_hip"), COCO17_NAMES.index("right_hip")
TORSO_MODES = ("mid", "diagonal")


@dataclass
class PckResult:
    """Scores of one evaluation; ``per_keypoint`` in COCO order (NaN when never labelled)."""

    alpha: float
    pck: float
    per_keypoint: np.ndarray
    correct: int
    labelled: int
    people: int
    matched: int
    skipped_no_torso: int
    per_person: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> str:
        """Markdown table: overall and per keypoint."""
        lines = [f"PCK@{self.alpha:g}: **{self.pck * 100:.1f} %** ({self.correct}/{self.labelled} keypoints, "
                 f"{self.matched}/{self.people} people matched, {self.skipped_no_torso} without a torso)",
                 "", "| keypoint | PCK % |", "|---|---|"]
        lines += [f"| {n} | {v * 100:.1f} |" if v == v else f"| {n} | n/a |"
                  for n, v in zip(COCO17_NAMES, self.per_keypoint, strict=True)]
        return "\n".join(lines)


def torso_size(gt: np.ndarray, mode: str = "mid") -> float | None:
    """Torso size in pixels of one (17, 3) ground-truth person, or None if not labelled."""
    if mode not in TORSO_MODES:
        raise ValueError(f"torso mode must be one of {TORSO_MODES}, got {mode!r}")
    idx = [L_SHOULDER, R_SHOULDER, L_HIP, R_HIP]
    if not np.all(gt[idx, 2] > 0):
        return None
    xy = gt[:, :2].astype(np.float64)
    if mode == "mid":
        size = np.linalg.norm((xy[L_SHOULDER] + xy[R_SHOULDER]) / 2 - (xy[L_HIP] + xy[R_HIP]) / 2)
    else:
        size = np.linalg.norm(xy[L_SHOULDER] - xy[R_HIP])
    return float(size) if size > 0 else None


def person_scores(gt: np.ndarray, pred: np.ndarray, torso: float, alpha: float = 0.2) -> np.ndarray:
    """Per-keypoint result of one person: 1 correct, 0 wrong, -1 not labelled. gt/pred: (17, >=2)."""
    labelled = gt[:, 2] > 0
    err = np.linalg.norm(pred[:, :2].astype(np.float64) - gt[:, :2], axis=1)
    ok = np.where(np.isfinite(err), err < alpha * torso, False)
    return np.where(labelled, ok.astype(int), -1)


def _as17(keypoints: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(keypoints, np.float64)
    if a.ndim == 1:
        if a.size % 3:
            raise ValueError(f"COCO keypoints must be a flat list of (x, y, v) triples, got {a.size} values")
        a = a.reshape(-1, 3)
    if a.shape[0] == 33:  # BlazePose order
        a = to_coco17(a)
    if a.shape[0] != NUM_COCO or a.shape[1] < 2:
        raise ValueError(f"expected 17 COCO (or 33 BlazePose) keypoints, got shape {a.shape}")
    return a


def evaluate(annotations: dict[str, Any], predictions: Iterable[dict[str, Any]], alpha: float = 0.2,
             torso: str = "mid", include_unmatched: bool = True) -> PckResult:
    """PCK@alpha of ``predictions`` (COCO results) against COCO keypoint ``annotations``."""
    if not 0 < alpha:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    preds: dict[Any, list[np.ndarray]] = defaultdict(list)
    for p in predictions:
        preds[p["image_id"]].append(_as17(p["keypoints"]))
    gts: dict[Any, list[np.ndarray]] = defaultdict(list)
    for a in annotations.get("annotations", []):
        if a.get("iscrowd", 0) or "keypoints" not in a:
            continue
        kp = _as17(a["keypoints"])
        if np.any(kp[:, 2] > 0):
            gts[a["image_id"]].append(kp)
    hits = np.zeros(NUM_COCO, int)
    counts = np.zeros(NUM_COCO, int)
    people = matched = skipped = 0
    per_person: list[dict[str, Any]] = []
    for image_id, persons in gts.items():
        candidates = list(range(len(preds.get(image_id, []))))
        for gt in sorted(persons, key=lambda g: -int(np.sum(g[:, 2] > 0))):
            size = torso_size(gt, torso)
            if size is None:
                skipped += 1
                continue
            people += 1
            best, best_key = None, None
            for c in candidates:
                pred = preds[image_id][c]
                s = person_scores(gt, pred, size, alpha)
                err = np.linalg.norm(pred[:, :2] - gt[:, :2], axis=1)[gt[:, 2] > 0]
                key = (int(np.sum(s == 1)), -float(np.nanmean(err)) if np.isfinite(err).any() else -np.inf)
                if best_key is None or key > best_key:
                    best, best_key = c, key
            labelled = gt[:, 2] > 0
            if best is None:
                if include_unmatched:
                    counts += labelled
                per_person.append({"image_id": image_id, "matched": False, "torso": size})
                continue
            candidates.remove(best)
            matched += 1
            s = person_scores(gt, preds[image_id][best], size, alpha)
            hits += s == 1
            counts += labelled
            per_person.append({"image_id": image_id, "matched": True, "torso": size,
                               "correct": int(np.sum(s == 1)), "labelled": int(labelled.sum())})
    with np.errstate(invalid="ignore", divide="ignore"):
        per_kp = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    total = int(counts.sum())
    return PckResult(alpha=alpha, pck=float(hits.sum() / total) if total else float("nan"),
                     per_keypoint=per_kp, correct=int(hits.sum()), labelled=total, people=people,
                     matched=matched, skipped_no_torso=skipped, per_person=per_person)


def pose_to_coco_result(image_id: Any, keypoints33: np.ndarray, score: float) -> dict[str, Any]:
    """A COCO results entry from BlazePose (33, >=4) keypoints (x, y px; visibility as the score)."""
    kp = to_coco17(np.asarray(keypoints33, np.float64))
    flat = np.column_stack([kp[:, 0], kp[:, 1], kp[:, 3] if kp.shape[1] > 3 else np.ones(NUM_COCO)])
    return {"image_id": image_id, "category_id": 1, "keypoints": [float(v) for v in flat.reshape(-1)],
            "score": float(score)}


def load_json(path: str | Path) -> Any:
    with open(path) as f:
        return json.load(f)
