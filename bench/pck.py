#!/usr/bin/env python3
"""PCK@0.2 of BlazePose on your own COCO-format keypoint annotations.

    . scripts/env.sh
    # run the pipeline (static mode) on the annotated images, then score it:
    python bench/pck.py annotations.json --images path/to/images [--save-predictions preds.json]
    # or score predictions you already have (COCO results format, 17 or 33 keypoints):
    python bench/pck.py annotations.json --predictions preds.json

A keypoint is correct when its error is below 0.2 x the torso size (shoulder
midpoint to hip midpoint; ``--torso diagonal``: left shoulder to right hip).
The 17 COCO keypoints are scored, those labelled (v > 0) in the annotations.
The pipeline returns one person per image (like MediaPipe's solution): other
annotated people count as misses unless ``--matched-only``. Definitions:
blazepose_ros/tools/pck.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blazepose_ros.tools.pck import TORSO_MODES, evaluate, load_json, pose_to_coco_result


def predict(annotations: dict, images: Path, model: str, threads: int) -> list[dict]:
    from blazepose_ros.core import PoseTracker

    tracker = PoseTracker(model=model, num_threads=threads, static_image_mode=True)
    out = []
    for img in annotations.get("images", []):
        path = images / img["file_name"]
        bgr = cv2.imread(str(path))
        if bgr is None:
            print(f"warning: cannot read {path}; image {img['id']} gets no prediction", file=sys.stderr)
            continue
        poses = tracker.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), 0.0)
        out += [pose_to_coco_result(img["id"], p.keypoints, p.score) for p in poses]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("annotations", type=Path, help="COCO keypoint annotations (json)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--predictions", type=Path, help="COCO results json (17 or 33 keypoints per person)")
    src.add_argument("--images", type=Path, help="folder of the annotated images: run the pipeline on them")
    ap.add_argument("--model", default="full", help="landmark model (lite/full/heavy or a .tflite path)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--alpha", type=float, default=0.2, help="threshold as a fraction of the torso size")
    ap.add_argument("--torso", choices=TORSO_MODES, default="mid")
    ap.add_argument("--matched-only", action="store_true", help="score only people a prediction matched")
    ap.add_argument("--save-predictions", type=Path, help="write the pipeline's predictions (with --images)")
    args = ap.parse_args(argv)
    ann = load_json(args.annotations)
    if args.predictions:
        preds = load_json(args.predictions)
    else:
        preds = predict(ann, args.images, args.model, args.threads)
        if args.save_predictions:
            args.save_predictions.write_text(json.dumps(preds))
    res = evaluate(ann, preds, args.alpha, args.torso, include_unmatched=not args.matched_only)
    print(res.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
