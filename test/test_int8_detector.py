"""The opt-in int8 person detector (``bench/int8_build.py``) in the real pipeline.

``models/pose_detection_int8.tflite`` is a gitignored build output (the quantizer is a
build-time tool, not in the venv or CI): without it these tests are skipped. With it, the
pipeline runs it by path on evaluation footage (never used for its calibration) and must
find the person where the float detector does, with a nearby ROI. Clips with one clear
full-body person: where the float score itself is marginal (0.5-0.6, sample_people.mp4)
the int8 detector misses about half of them (docs/performance.md section 4, "matched %").
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from blazepose_ros.core import PoseTracker
from blazepose_ros.core.detector import iou

pytestmark = pytest.mark.unit

INT8 = Path(__file__).resolve().parents[1] / "models" / "pose_detection_int8.tflite"
needs_int8 = pytest.mark.skipif(
    not INT8.is_file(), reason=f"{INT8.name} is a build output: run `python bench/int8_build.py` "
    "(needs ai-edge-quantizer, docs/performance.md section 4)")


def _frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while len(out) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    assert out, path
    return out


@needs_int8
def test_int8_detector_loads_with_float_io_and_int8_ops() -> None:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(INT8))
    it.allocate_tensors()  # the runtime accepts every op (no non-zero weight zero point)
    assert it.get_input_details()[0]["dtype"] == np.float32
    assert all(o["dtype"] == np.float32 for o in it.get_output_details())
    convs = [o for o in it._get_ops_details() if o["op_name"] == "CONV_2D"]
    assert sum(np.int8 in o["operand_types"] for o in convs) >= len(convs) // 2


@needs_int8
@pytest.mark.parametrize("clip", ["sample_fullbody.mp4", "pose2sim_multi_cam03.mp4"])
def test_int8_detector_finds_the_person_where_float_does(data_dir: Path, clip: str) -> None:
    frames = _frames(data_dir / clip, 20)
    ref = PoseTracker(static_image_mode=True)
    q = PoseTracker(static_image_mode=True, detector_model=INT8)
    assert q.detector_path == INT8
    both = agree = 0
    centre = []
    for i, f in enumerate(frames):
        a, b = ref.process(f, i / 30), q.process(f, i / 30)
        da, db = ref.detector.detect(f), q.detector.detect(f)
        if not da:
            continue
        both += 1
        agree += bool(db) and iou(da[0].box, db[0].box) > 0.5 and len(a) == len(b) == 1
        if a and b:
            ra, rb = a[0].roi, b[0].roi
            centre.append(np.hypot(ra.x_center - rb.x_center, ra.y_center - rb.y_center) / ra.width)
    assert both >= 15, "the float detector sees the person in (nearly) every frame of these clips"
    assert agree >= 0.9 * both, (agree, both)
    assert np.median(centre) < 0.05, centre  # the landmark ROI's centre, in ROI widths
