"""Shared helpers of the performance benchmarks: real frames, statistics, tables, machine info."""

from __future__ import annotations

import importlib
import os
import platform
import shlex
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "test" / "data"
VIDEO = DATA / "sample_people.mp4"
MODELS = ROOT / "models"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def video_frames(path: Path = VIDEO, limit: int | None = None) -> list[np.ndarray]:
    """Decoded RGB frames of a video (all, or the first ``limit``)."""
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while limit is None or len(frames) < limit:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    if not frames:
        raise FileNotFoundError(f"no frames in {path}")
    return frames


def photo(name: str) -> np.ndarray:
    bgr = cv2.imread(str(DATA / name))
    if bgr is None:
        raise FileNotFoundError(DATA / name)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def motion(name: str, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """``n`` frames of a virtual camera moving over a real photo, at ``size`` (w, h)."""
    from blazepose_ros.media.synthetic import motion_frames

    return list(motion_frames(photo(name), n, size))


def ms(values: Iterable[float], q: float = 50.0) -> float:
    v = np.asarray(list(values), float)
    return float(np.percentile(v, q) * 1e3) if v.size else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats with 3 significant decimals."""

    def fmt(x: Any) -> str:
        if isinstance(x, float):
            return "nan" if x != x else (f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}")
        return str(x)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def machine() -> str:
    """CPU model, cores, Python / numpy / OpenCV / runtime versions, and the load right now."""
    model = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        from importlib.metadata import version

        rt = f"ai-edge-litert {version('ai-edge-litert')}"
    except Exception:  # any runtime is fine to report
        rt = "litert ?"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python "
            f"{platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__}, {rt}; "
            f"load average at start {load:.2f}")


def command() -> str:
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def header(title: str) -> str:
    return f"## {title}\n\nMachine: {machine()}\n\nCommand: `{command()}`\n"


def load_baseline_core(ref: str) -> Any:
    """Import ``blazepose_ros/core`` as it was at git ``ref``, under another package name.

    Lets a benchmark run the old and the new pipeline interleaved in one process.
    """
    data = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "blazepose_ros/core"],
                          capture_output=True, check=True).stdout
    tmp = Path(tempfile.mkdtemp(prefix="bp_baseline_"))
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(tmp, filter="data")
    name = "bp_baseline_" + "".join(c if c.isalnum() else "_" for c in ref)
    pkg = tmp / name
    (tmp / "blazepose_ros" / "core").rename(pkg)
    sys.path.insert(0, str(tmp))
    return importlib.import_module(name)


def model_path(name: str) -> Path:
    p = MODELS / name
    if not p.is_file():
        raise FileNotFoundError(f"{p} missing: run `python scripts/fetch_models.py`")
    return p
