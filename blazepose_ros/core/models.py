"""Model files: names, checksums, and resolving a model name or path to a verified file."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
FETCH_HINT = "run `python scripts/fetch_models.py` (or `make setup`) to download it"

# SHA-256 of the shipped files: detector and full from the mediapipe==0.10.21 wheel, lite and
# heavy from the @mediapipe/pose@0.5.1675469404 npm package (its full model is the same file).
KNOWN_SHA256 = {
    "pose_detection.tflite": "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    "pose_landmark_full.tflite": "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    "pose_landmark_lite.tflite": "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
    "pose_landmark_heavy.tflite": "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
}
LANDMARK_MODELS = {
    "lite": "pose_landmark_lite.tflite",
    "full": "pose_landmark_full.tflite",
    "heavy": "pose_landmark_heavy.tflite",
}
DETECTOR_MODEL = "pose_detection.tflite"
# MediaPipe's model_complexity option
COMPLEXITY_TO_MODEL = {0: "lite", 1: "full", 2: "heavy"}


class ModelError(RuntimeError):
    """A model file is missing, corrupt or unusable; the message says how to fix it."""


@dataclass(frozen=True)
class ModelFile:
    path: Path
    sha256: str
    verified: bool  # True when the checksum matched a known value


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def models_search_dirs() -> list[Path]:
    """$BLAZEPOSE_MODELS_DIR, the source-tree models/, then an installed share/blazepose_ros/models."""
    dirs = [Path(os.environ["BLAZEPOSE_MODELS_DIR"])] if os.environ.get("BLAZEPOSE_MODELS_DIR") else []
    dirs.append(MODELS_DIR)
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory("blazepose_ros")) / "models")
    except Exception:  # not on a ROS install / package not found
        pass
    return dirs


def resolve_model(name_or_path: str | Path, kind: str = "landmark") -> ModelFile:
    """Resolve ``"lite" | "full" | "heavy"`` (landmark), ``"detector"`` or a file path.

    Known files are checked against their SHA-256. Raises ModelError with a fix.
    """
    s = str(name_or_path)
    if kind == "detector" and s in ("", "default", "detector"):
        s = DETECTOR_MODEL
    if s in LANDMARK_MODELS:
        s = LANDMARK_MODELS[s]
    p = Path(s).expanduser()
    if not p.is_absolute() and p.parent == Path("."):
        for d in models_search_dirs():
            if (d / p).exists():
                p = d / p
                break
        else:
            hint = FETCH_HINT if p.name in KNOWN_SHA256 else (
                f"put the file in {MODELS_DIR}/ or pass its full path "
                "(Edge TPU and int8 variants are built, not downloaded: see models/README.md)")
            raise ModelError(f"{kind} model '{p.name}' not found in "
                             f"{', '.join(str(d) for d in models_search_dirs())}: {hint}")
    if not p.is_file():
        raise ModelError(f"{kind} model file '{p}' does not exist or is not a file")
    digest = sha256_of(p)
    expected = KNOWN_SHA256.get(p.name)
    if expected is not None and digest != expected:
        raise ModelError(
            f"{kind} model '{p}' is corrupt or a different version "
            f"(sha256 {digest[:12]}..., expected {expected[:12]}...): delete it and {FETCH_HINT}")
    with open(p, "rb") as f:
        header = f.read(8)
    if len(header) < 8 or header[4:8] != b"TFL3":
        raise ModelError(f"{kind} model '{p}' is not a TFLite flatbuffer (no TFL3 identifier)")
    return ModelFile(path=p, sha256=digest, verified=expected is not None)
