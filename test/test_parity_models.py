"""Parity with MediaPipe for the lite and heavy landmark models (model_complexity 0 and 2).

The references (test/reference/<case>.<model>.json) were made by
``python bench/make_reference.py --case static_images --case fullbody_tracking --model lite
--model heavy`` with mediapipe==0.10.21 running the very same npm model files (placed in its
package dir: its solution would otherwise download them). Static mode must meet the parity
targets tightly with the default math; tracking with smoothing must be bit-exact with
``reference_math=True`` (the default math's ulp differences are amplified by the tracking
loop on lite: see docs/accuracy.md and ``bench/parity.py --live --model lite``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import parity_lib as pl  # noqa: E402

pytestmark = [pytest.mark.unit, pytest.mark.timeout(180)]

MODELS = ("lite", "heavy")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("case_name", ["static_images", "fullbody_tracking"])
def test_stored_reference_ran_that_model(case_name: str, model: str, data_dir: Path) -> None:
    ref = pl.load_reference(case_name, model=model)
    assert ref["mediapipe_version"] == pl.MEDIAPIPE_VERSION
    assert ref["options"]["model_complexity"] == pl.MODELS.index(model)
    assert ref["command"].endswith(f"--model {model}")
    names, frames = pl.case_inputs(pl.CASES[case_name], data_dir)
    assert not pl.check_inputs(ref, names, frames)
    # a different model: the reference is not the full model's
    full = pl.load_reference(case_name)
    a = np.asarray(ref["frames"][0]["poses"][0]["keypoints"])[:, :2]
    b = np.asarray(full["frames"][0]["poses"][0]["keypoints"])[:, :2]
    assert np.abs(a - b).max() > 1.0


@pytest.mark.parametrize("model", MODELS)
def test_static_images_parity(model: str, data_dir: Path) -> None:
    case = pl.CASES["static_images"]
    _, frames = pl.case_inputs(case, data_dir)
    m = pl.compare(f"static_images {model}", pl.load_reference("static_images", model=model)["frames"],
                   pl.run_ours(case, frames, tracker_kwargs={"model": model}))
    assert m.passed and m.matched == 7, pl.format_table([m])
    assert m.median_px < 0.05 and m.max_px < 1.0 and float(np.median(m.world_mm)) < 1.0, pl.format_table([m])


@pytest.mark.parametrize("model", [pytest.param("lite"), pytest.param("heavy", marks=pytest.mark.slow)])
def test_fullbody_tracking_is_bit_exact_with_reference_math(model: str, data_dir: Path) -> None:
    case = pl.CASES["fullbody_tracking"]
    _, frames = pl.case_inputs(case, data_dir)
    ours = pl.run_ours(case, frames, tracker_kwargs={"model": model, "reference_math": True})
    m = pl.compare(f"fullbody_tracking {model} (reference math)",
                   pl.load_reference("fullbody_tracking", model=model)["frames"], ours)
    assert m.same_detections and m.matched == 100, pl.format_table([m])
    exact = m.max_px < 1e-3 and float(np.max(m.world_mm)) < 0.1 and m.vis_diff.max() < 1e-3
    assert exact, pl.format_table([m])
