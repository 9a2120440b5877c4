"""The core pipeline under arm64 emulation equals the x86-64 one (scripts/check_arm64.py).

Runs only where the emulated environment was built (``make check-arm64`` or
``python scripts/check_arm64.py setup [--install]``: qemu-user-static, Debian's arm64
python3.11 and the aarch64 wheels of the pinned versions); elsewhere it is skipped and
says how to build it. This is the quick variant (the full model: NumPy/OpenCV stages
bit-identical, the model within 1e-3 crop px on the same input, the landmark stage within
1e-3 px on the same ROI, the whole pipeline within 0.1 px); ``make check-arm64`` runs all
three models.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import check_arm64  # noqa: E402

pytestmark = [pytest.mark.unit, pytest.mark.slow, pytest.mark.timeout(600)]


def test_pipeline_on_arm64_matches_x86() -> None:
    why = check_arm64.unavailable()
    if why:
        pytest.skip(f"arm64 emulation unavailable: {why}")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_arm64.py"), "run", "--quick"],
                       capture_output=True, text=True, timeout=580)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    table = r.stdout
    for check in ("crop (fixed input) | bit-identical | bit-identical | PASS",
                  "refine_exact (fixed input) | bit-identical | bit-identical | PASS",
                  "full model alone, same input tensor", "full landmark stage on the x86 ROIs, bus.jpg",
                  "full whole pipeline, bus.jpg static"):
        assert check in table, table
    assert "FAIL" not in table and table.rstrip().endswith("PASS")


def test_skip_reason_names_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(check_arm64, "ARM64_DIR", tmp_path)
    why = check_arm64.unavailable()
    assert why is not None and ("setup" in why)
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_arm64.py"), "run"],
                       capture_output=True, text=True, env={"BLAZEPOSE_ARM64_DIR": str(tmp_path),
                                                            "PATH": "/usr/bin:/bin"}, timeout=60)
    assert r.returncode == check_arm64.SKIP and "SKIPPED" in r.stderr and "setup" in r.stderr
