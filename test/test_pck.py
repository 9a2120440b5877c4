"""PCK@0.2 tool on a small hand-made COCO file built from real keypoints.

Ground truth: MediaPipe's keypoints on bus.jpg and zidane_rot20.png (test/reference/static_images.json),
mapped to the 17 COCO points, with hand-set visibility flags.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from blazepose_ros.core.topology import COCO17_FROM_BLAZEPOSE, to_coco17
from blazepose_ros.tools.pck import (
    L_HIP,
    L_SHOULDER,
    R_HIP,
    R_SHOULDER,
    evaluate,
    pose_to_coco_result,
    torso_size,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "test" / "reference" / "static_images.json").read_text())


def real_people() -> dict[str, np.ndarray]:
    """image name -> (33, 5) real keypoints (x, y px, z, visibility, presence=None->nan)."""
    out = {}
    for inp, frame in zip(REF["inputs"], REF["frames"], strict=True):
        if inp["name"] in ("bus.jpg", "zidane_rot20.png") and frame["poses"]:
            rows = frame["poses"][0]["keypoints"]
            out[inp["name"]] = np.array([[np.nan if v is None else v for v in row] for row in rows])
    assert set(out) == {"bus.jpg", "zidane_rot20.png"}
    return out


def coco_file(people: dict[str, np.ndarray], hidden: dict[str, list[int]] | None = None) -> dict:
    images, anns = [], []
    for i, (name, kp) in enumerate(sorted(people.items()), start=1):
        img = cv2.imread(str(ROOT / "test" / "data" / name))
        images.append({"id": i, "file_name": name, "width": img.shape[1], "height": img.shape[0]})
        k17 = to_coco17(kp)
        v = np.full(17, 2)
        for j in (hidden or {}).get(name, []):
            v[j] = 0
        flat = np.column_stack([k17[:, 0], k17[:, 1], v]).reshape(-1)
        anns.append({"id": i, "image_id": i, "category_id": 1, "iscrowd": 0,
                     "num_keypoints": int((v > 0).sum()), "keypoints": [float(x) for x in flat]})
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}


def preds_from(people: dict[str, np.ndarray], ann: dict, shift: dict[str, dict[int, float]] | None = None,
               torso: str = "mid") -> list[dict]:
    """Predictions = the ground truth, with COCO keypoint j moved right by f x torso size."""
    out = []
    by_name = {im["file_name"]: im["id"] for im in ann["images"]}
    for name, kp in people.items():
        kp = kp.copy()
        gt = next(a for a in ann["annotations"] if a["image_id"] == by_name[name])["keypoints"]
        size = torso_size(np.array(gt).reshape(17, 3), torso)
        for j, f in (shift or {}).get(name, {}).items():
            kp[COCO17_FROM_BLAZEPOSE[j], 0] += f * size
        out.append(pose_to_coco_result(by_name[name], kp, 0.9))
    return out


def test_perfect_predictions_score_one() -> None:
    people = real_people()
    ann = coco_file(people)
    res = evaluate(ann, preds_from(people, ann))
    assert res.pck == 1.0 and res.labelled == 34 and res.people == 2 and res.matched == 2
    assert np.all(res.per_keypoint == 1.0)


def test_threshold_is_a_fraction_of_the_torso() -> None:
    people = real_people()
    ann = coco_file(people)
    # bus: 4 keypoints at 0.3 torso (wrong), 3 at 0.1 torso (right); zidane: 1 just inside, 1 just outside
    shift = {"bus.jpg": {0: 0.3, 5: 0.3, 9: 0.3, 16: 0.3, 1: 0.1, 7: 0.1, 14: 0.1},
             "zidane_rot20.png": {10: 0.199, 11: 0.201}}
    res = evaluate(ann, preds_from(people, ann, shift))
    assert res.correct == 34 - 5 and res.labelled == 34
    assert res.pck == pytest.approx(29 / 34)
    assert res.per_keypoint[0] == 0.5 and res.per_keypoint[11] == 0.5 and res.per_keypoint[10] == 1.0
    # alpha 0.35 makes every shifted keypoint correct
    assert evaluate(ann, preds_from(people, ann, shift), alpha=0.35).pck == 1.0


def test_only_labelled_keypoints_count() -> None:
    people = real_people()
    ann = coco_file(people, hidden={"bus.jpg": [0, 1, 2]})
    res = evaluate(ann, preds_from(people, ann, {"bus.jpg": {0: 1.0, 1: 1.0, 2: 1.0}}))
    assert res.pck == 1.0 and res.labelled == 31
    assert np.isnan(res.per_keypoint).sum() == 0 and res.per_keypoint[0] == 1.0  # zidane's nose


def test_unmatched_people_and_missing_torso() -> None:
    people = real_people()
    ann = coco_file(people)
    only_bus = [p for p in preds_from(people, ann) if p["image_id"] == 1]
    res = evaluate(ann, only_bus)
    assert res.people == 2 and res.matched == 1 and res.pck == pytest.approx(0.5)
    assert evaluate(ann, only_bus, include_unmatched=False).pck == 1.0
    no_torso = coco_file(people, hidden={"zidane_rot20.png": [L_HIP]})
    res = evaluate(no_torso, preds_from(people, ann))
    assert res.skipped_no_torso == 1 and res.people == 1


def test_torso_modes() -> None:
    gt = np.zeros((17, 3))
    gt[:, 2] = 2
    gt[L_SHOULDER, :2], gt[R_SHOULDER, :2] = (10, 0), (0, 0)
    gt[L_HIP, :2], gt[R_HIP, :2] = (10, 30), (0, 30)
    assert torso_size(gt, "mid") == pytest.approx(30.0)
    assert torso_size(gt, "diagonal") == pytest.approx(np.hypot(10, 30))
    with pytest.raises(ValueError):
        torso_size(gt, "neck")


def test_33_keypoint_predictions_and_bad_shapes() -> None:
    people = real_people()
    ann = coco_file(people)
    preds = [{"image_id": 1, "keypoints": people["bus.jpg"][:, [0, 1, 3]].reshape(-1).tolist()},
             {"image_id": 2, "keypoints": people["zidane_rot20.png"][:, [0, 1, 3]].reshape(-1).tolist()}]
    assert evaluate(ann, preds).pck == 1.0
    with pytest.raises(ValueError):
        evaluate(ann, [{"image_id": 1, "keypoints": [1.0, 2.0]}])


def test_pipeline_on_real_images_matches_mediapipe_ground_truth(tmp_path: Path) -> None:
    """The CLI end to end: our pipeline vs MediaPipe's keypoints as ground truth."""
    from bench.pck import main

    people = real_people()
    ann_path = tmp_path / "ann.json"
    ann_path.write_text(json.dumps(coco_file(people)))
    preds_path = tmp_path / "preds.json"
    assert main([str(ann_path), "--images", str(ROOT / "test" / "data"), "--save-predictions",
                 str(preds_path)]) == 0
    res = evaluate(json.loads(ann_path.read_text()), json.loads(preds_path.read_text()))
    assert res.matched == 2 and res.pck == 1.0
