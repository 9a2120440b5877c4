#!/usr/bin/env python3
"""Fetch the BlazePose models and the sample media of real people.

Models: ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` are taken
out of the ``mediapipe==0.10.21`` wheel (downloaded with pip, never installed),
``pose_landmark_lite.tflite`` and ``pose_landmark_heavy.tflite`` out of the
``@mediapipe/pose@0.5.1675469404`` npm package (Apache-2.0; ``npm pack``, never
installed); each is checked against its SHA-256. Both archives are cached in
``~/.cache/blazepose_ros``.
Media: ``bus.jpg`` and ``zidane.jpg`` from the ``ultralytics`` wheel, plus a
two short real-motion sequences made from them: ``test/data/sample_people.mp4`` (zidane.jpg:
two overlapping half-body men) and ``test/data/sample_fullbody.mp4`` (bus.jpg: one
full-body man followed by a sideways-held camera; ``blazepose_ros.media.synthetic``).
Footage: real multi-person clips from the ``sports2d`` and ``pose2sim`` wheels (BSD-3-Clause,
downloaded with pip, never installed): ``test/data/sports2d_demo.mp4`` and
``test/data/pose2sim_multi_cam0[1-4].mp4``.
Already-present, valid files are left alone, so a second run is instant.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
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
# MediaPipe's web package ships all three landmark models (its full one is the wheel's file)
NPM_POSE = "@mediapipe/pose@0.5.1675469404"
NPM_TARBALL = "mediapipe-pose-0.5.1675469404.tgz"
NPM_MEMBERS = {
    "pose_landmark_lite.tflite": "package/pose_landmark_lite.tflite",
    "pose_landmark_heavy.tflite": "package/pose_landmark_heavy.tflite",
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

# Real multi-person footage (BSD-3-Clause), taken out of the projects' wheels.
SPORTS2D = "sports2d==0.8.34"
POSE2SIM = "pose2sim==0.10.49"
FOOTAGE: dict[str, tuple[str, str, str]] = {  # file: (wheel, member, sha256)
    "sports2d_demo.mp4": (SPORTS2D, "Sports2D/Demo/demo.mp4",
                          "d9a66417185647b112304b57093f0c180f37a768e6a14daca75ca541f3b78039"),
    "pose2sim_multi_cam01.mp4": (POSE2SIM, "Pose2Sim/Demo_MultiPerson/videos/cam01.mp4",
                                 "543cee6a4c2c2b52dc9eac9137ee63d14f1f84e706a9a7264769edcb11e5ea53"),
    "pose2sim_multi_cam02.mp4": (POSE2SIM, "Pose2Sim/Demo_MultiPerson/videos/cam02.mp4",
                                 "8895092a7cf26359205a427b7ac2f4a935c2e0bd36d9b7a5140cb33faa468a6b"),
    "pose2sim_multi_cam03.mp4": (POSE2SIM, "Pose2Sim/Demo_MultiPerson/videos/cam03.mp4",
                                 "d3daf48cdf9f5603868ddb99166ddaf9b12279e7ce968922926560d5fd3f0c99"),
    "pose2sim_multi_cam04.mp4": (POSE2SIM, "Pose2Sim/Demo_MultiPerson/videos/cam04.mp4",
                                 "1490149dc40e7301fa5ceae23862b044ba5c398a8b2a40df21ed894702728c09"),
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


def _download_npm() -> Path:
    """The npm tarball of NPM_POSE, cached; fetched with ``npm pack`` (nothing is installed)."""
    dest = CACHE / "npm"
    dest.mkdir(parents=True, exist_ok=True)
    tgz = dest / NPM_TARBALL
    if tgz.is_file():
        return tgz
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(f"[fetch] npm not found: the lite/heavy models come from the npm package "
                         f"{NPM_POSE}. "
                         "Fix: install npm (`apt-get install npm`), or put that `npm pack` tarball "
                         f"at {tgz}")
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        print(f"[fetch] npm pack {NPM_POSE} (not installed; only the models are extracted)", flush=True)
        subprocess.run([npm, "pack", "--silent", NPM_POSE, "--pack-destination", tmp],
                       check=True, stdout=subprocess.DEVNULL)
        got = Path(tmp) / NPM_TARBALL
        if not got.is_file():
            raise SystemExit(f"[fetch] npm pack did not produce {NPM_TARBALL}")
        got.replace(tgz)
    return tgz


def _extract_tar(tgz: Path, members: dict[str, str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz, "r:gz") as t:
        for fname, member in members.items():
            f = t.extractfile(member)
            if f is None:
                raise SystemExit(f"[fetch] {tgz} has no file {member}")
            with tempfile.NamedTemporaryFile(dir=out_dir, delete=False) as tmp:
                tmp.write(f.read())
            Path(tmp.name).replace(out_dir / fname)


def _valid(path: Path, expected: str) -> bool:
    return path.is_file() and sha256_of(path) == expected


def fetch_models(out_dir: Path = MODELS_DIR) -> None:
    missing = {f: m for f, m in MODEL_MEMBERS.items() if not _valid(out_dir / f, KNOWN_SHA256[f])}
    if missing:
        _extract(_download_wheel(MEDIAPIPE), missing, out_dir)
    missing = {f: m for f, m in NPM_MEMBERS.items() if not _valid(out_dir / f, KNOWN_SHA256[f])}
    if missing:
        tgz = _download_npm()
        _extract_tar(tgz, missing, out_dir)
        if not all(_valid(out_dir / f, KNOWN_SHA256[f]) for f in missing):
            tgz.unlink()  # a damaged cached tarball: fetch it again once
            _extract_tar(_download_npm(), missing, out_dir)
    for f in [*MODEL_MEMBERS, *NPM_MEMBERS]:
        digest = sha256_of(out_dir / f)
        if digest != KNOWN_SHA256[f]:
            raise SystemExit(f"[fetch] {out_dir / f}: sha256 {digest} != expected {KNOWN_SHA256[f]}")
    print(f"[fetch] models ok in {out_dir}: {', '.join([*MODEL_MEMBERS, *NPM_MEMBERS])}")


def fetch_media(out_dir: Path = MEDIA_DIR) -> None:
    missing = {f: m for f, m in MEDIA_MEMBERS.items() if not _valid(out_dir / f, MEDIA_SHA256[f])}
    if missing:
        _extract(_download_wheel(ULTRALYTICS), missing, out_dir)
    for f in MEDIA_MEMBERS:
        if not _valid(out_dir / f, MEDIA_SHA256[f]):
            raise SystemExit(f"[fetch] {out_dir / f}: unexpected checksum")
    fetch_footage(out_dir)
    from blazepose_ros.media.synthetic import write_fullbody_sequence, write_motion_sequence

    made = []
    for name, write, src in (("sample_people.mp4", write_motion_sequence, "zidane.jpg"),
                             ("sample_fullbody.mp4", write_fullbody_sequence, "bus.jpg")):
        if not (out_dir / name).exists():
            write(out_dir / src, out_dir / name)
        made.append(name)
    print(f"[fetch] media ok in {out_dir}: {', '.join([*MEDIA_MEMBERS, *made])}")


def fetch_footage(out_dir: Path = MEDIA_DIR) -> None:
    """The real multi-person clips, each checked by SHA-256 (a second run only re-hashes)."""
    by_wheel: dict[str, dict[str, str]] = {}
    for fname, (wheel, member, digest) in FOOTAGE.items():
        if not _valid(out_dir / fname, digest):
            by_wheel.setdefault(wheel, {})[fname] = member
    for wheel, members in by_wheel.items():
        _extract(_download_wheel(wheel), members, out_dir)
    for fname, (wheel, _member, digest) in FOOTAGE.items():
        got = sha256_of(out_dir / fname)
        if got != digest:
            raise SystemExit(f"[fetch] {out_dir / fname} (from {wheel}): sha256 {got} != expected {digest}; "
                             f"delete it and run scripts/fetch_models.py again")
    print(f"[fetch] footage ok in {out_dir}: {', '.join(FOOTAGE)}")


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
