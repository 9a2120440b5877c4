#!/usr/bin/env python3
"""Fetch the BlazePose models and the sample media of real people.

Models: ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` are taken
out of the ``mediapipe==0.10.21`` wheel (downloaded with pip, never installed)
and checked against their SHA-256.
Media: ``bus.jpg`` and ``zidane.jpg`` from the ``ultralytics`` wheel, plus a
two short real-motion sequences made from them: ``test/data/sample_people.mp4`` (zidane.jpg:
two overlapping half-body men) and ``test/data/sample_fullbody.mp4`` (bus.jpg: one
full-body man followed by a sideways-held camera; ``blazepose_ros.core.media``).
Already-present, valid files are left alone, so a second run is instant.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blazepose_ros.core.models import KNOWN_SHA256, MODELS_DIR, sha256_of  # noqa: E402

CACHE = Path.home() / ".cache" / "blazepose_ros"
MEDIAPIPE = "mediapipe==0.10.21"
MODEL_MEMBERS = {
    "pose_detection.tflite": "mediapipe/modules/pose_detection/pose_detection.tflite",
    "pose_landmark_full.tflite": "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
}
ULTRALYTICS = "ultralytics==8.4.190"
MEDIA_DIR = ROOT / "test" / "data"
MEDIA_MEMBERS = {
    "bus.jpg": "ultralytics/assets/bus.jpg",
    "zidane.jpg": "ultralytics/assets/zidane.jpg",
}
MEDIA_SHA256 = {
    "bus.jpg": "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63",
    "zidane.jpg": "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb",
}


def _download_wheel(requirement: str) -> Path:
    dest = CACHE / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0]
    found = sorted(dest.glob(f"{name}-{requirement.split('==')[1]}-*.whl"))
    if found:
        return found[0]
    print(f"[fetch] downloading {requirement} (not installed; only files are extracted)", flush=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
           "--no-deps", "--only-binary=:all:", "-d", str(dest), requirement]
    if subprocess.run(cmd).returncode != 0:
        # any platform's wheel carries the same files
        cmd[-1:-1] = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"]
        subprocess.run(cmd, check=True)
    found = sorted(dest.glob(f"{name}-*.whl"))
    if not found:
        raise SystemExit(f"[fetch] pip did not produce a wheel for {requirement} in {dest}")
    return found[0]


def _extract(wheel: Path, members: dict[str, str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for fname, member in members.items():
            with tempfile.NamedTemporaryFile(dir=out_dir, delete=False) as tmp:
                tmp.write(z.read(member))
            Path(tmp.name).replace(out_dir / fname)


def _valid(path: Path, expected: str) -> bool:
    return path.is_file() and sha256_of(path) == expected


def fetch_models(out_dir: Path = MODELS_DIR) -> None:
    missing = {f: m for f, m in MODEL_MEMBERS.items() if not _valid(out_dir / f, KNOWN_SHA256[f])}
    if missing:
        _extract(_download_wheel(MEDIAPIPE), missing, out_dir)
    for f in MODEL_MEMBERS:
        digest = sha256_of(out_dir / f)
        if digest != KNOWN_SHA256[f]:
            raise SystemExit(f"[fetch] {out_dir / f}: sha256 {digest} != expected {KNOWN_SHA256[f]}")
    print(f"[fetch] models ok in {out_dir}: {', '.join(MODEL_MEMBERS)}")


def fetch_media(out_dir: Path = MEDIA_DIR) -> None:
    missing = {f: m for f, m in MEDIA_MEMBERS.items() if not _valid(out_dir / f, MEDIA_SHA256[f])}
    if missing:
        _extract(_download_wheel(ULTRALYTICS), missing, out_dir)
    for f in MEDIA_MEMBERS:
        if not _valid(out_dir / f, MEDIA_SHA256[f]):
            raise SystemExit(f"[fetch] {out_dir / f}: unexpected checksum")
    from blazepose_ros.core.media import write_fullbody_sequence, write_motion_sequence

    made = []
    for name, write, src in (("sample_people.mp4", write_motion_sequence, "zidane.jpg"),
                             ("sample_fullbody.mp4", write_fullbody_sequence, "bus.jpg")):
        if not (out_dir / name).exists():
            write(out_dir / src, out_dir / name)
        made.append(name)
    print(f"[fetch] media ok in {out_dir}: {', '.join([*MEDIA_MEMBERS, *made])}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    ap.add_argument("--no-media", action="store_true", help="only fetch the models")
    args = ap.parse_args()
    fetch_models(args.models_dir)
    if not args.no_media:
        fetch_media()
    return 0


if __name__ == "__main__":
    sys.exit(main())
