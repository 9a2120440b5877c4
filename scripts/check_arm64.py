#!/usr/bin/env python3
"""The core pipeline on arm64 (qemu-user emulation) vs x86-64, on real frames.

    . scripts/env.sh
    python scripts/check_arm64.py setup [--install]   # ~1 min once (--install: apt-get the tools)
    python scripts/check_arm64.py run                 # ~2-3 min under emulation
    make check-arm64                                  # both

``setup`` builds, under ``~/.cache/blazepose_ros/arm64`` (``$BLAZEPOSE_ARM64_DIR``):

* ``rootfs/``: Debian 12's arm64 ``python3.11`` and the C/C++ runtime, from the
  first (download + unpack) stage of ``debootstrap --arch=arm64 --foreign`` plus
  ``dpkg-deb -x`` of the included packages; nothing runs inside it, so no binfmt
  and no chroot are needed;
* ``site/``: the aarch64 manylinux wheels of the versions pinned in requirements.txt
  (numpy, opencv-python-headless, ai-edge-litert) and their dependencies at the
  project venv's versions (``pip install --target --platform manylinux..._aarch64``).

``run`` runs the same worker (this file, ``--worker``) natively and as
``qemu-aarch64-static -L rootfs rootfs/usr/bin/python3.11`` with ``QEMU_CPU=cortex-a72``
(a Raspberry Pi 4's core), on the same decoded frames (bus.jpg in static mode for
each landmark model; the first frames of sample_fullbody.mp4 in tracking mode with
the full model), and compares:

1. NumPy/OpenCV stages on fixed inputs (ROI crop + value scaling, sigmoid, heatmap
   refinement, projection, world rotation): must be bit-identical;
2. the landmark model alone on the x86 side's own input tensors: the XNNPACK float
   kernels of the two CPUs (NEON vs AVX/FMA3 micro-kernels, different tilings and
   summation orders, fused multiply-adds) differ by a few ulps: reported in crop px;
3. the landmark stage on the x86 side's ROIs (same frame, same rect): target 1e-3 px;
4. the whole pipeline (detector + landmarks; static bus.jpg; tracking on the clip):
   the detector's ulps move the ROI, so static mode is bounded by ``--max-px``, and
   tracking, which feeds each frame's keypoints into the next ROI, is reported.

Exit status: 0 pass, 1 fail, 77 skipped (no emulation here: the message says why).

qemu 7.2 (Debian 12) passes the host's x86 ``/proc/cpuinfo`` to the guest;
XNNPACK's CPU detection (cpuinfo) cannot parse it and TFLite crashes in its first
invoke. qemu looks guest paths up under ``-L`` first, so ``setup`` writes a
Cortex-A72 ``rootfs/proc/cpuinfo`` that matches ``QEMU_CPU``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ARM64_DIR = Path(os.environ.get("BLAZEPOSE_ARM64_DIR", Path.home() / ".cache" / "blazepose_ros" / "arm64"))
QEMU = "qemu-aarch64-static"
QEMU_CPU = "cortex-a72"
SUITE = "bookworm"  # Debian 12: the arm64 python3.11 (same minor version as the project venv)
INCLUDE = ["python3.11", "libpython3.11-stdlib", "libstdc++6", "libgcc-s1"]
PINNED = ("numpy", "opencv-python-headless", "ai-edge-litert")
SKIP = 77  # "skipped", as automake's test harness reads it
FULLBODY_FRAMES = 5
# Raspberry Pi 4 (BCM2711: 4 x Cortex-A72 r0p3), as its kernel reports it
CPUINFO_A72 = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
    "CPU revision\t: 3\n\n" for i in range(4))


def log(msg: str) -> None:
    print(f"[arm64] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- setup

def _host_debian_mirror() -> str | None:
    """The Debian mirror this machine's apt uses (debootstrap's default otherwise)."""
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = f.read_text()
        except OSError:
            continue
        for m in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M):
            uri = m.group(1)
            if "security" not in uri and "/debian" in uri:
                return uri
    return None


def _pins() -> list[str]:
    """requirements.txt's pins of the pipeline packages, and the venv's versions of their deps."""
    req = (ROOT / "requirements.txt").read_text()
    pins = []
    for name in PINNED:
        m = re.search(rf"^{re.escape(name)}==(\S+)", req, re.M | re.I)
        if not m:
            raise SystemExit(f"[arm64] {name} is not pinned in requirements.txt")
        pins.append(f"{name}=={m.group(1)}")
    return pins


def _constraints(path: Path) -> Path:
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--disable-pip-version-check"],
                            capture_output=True, text=True, check=True).stdout
    path.write_text(frozen)
    return path


def setup(install: bool) -> int:
    t0 = time.perf_counter()
    if shutil.which(QEMU) is None or shutil.which("debootstrap") is None:
        if not install:
            log(f"{QEMU} or debootstrap missing: `python scripts/check_arm64.py setup --install` "
                "(apt-get install qemu-user-static debootstrap, as root)")
            return SKIP
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "qemu-user-static",
                        "debootstrap"], check=True, env=env, stdout=subprocess.DEVNULL)
    rootfs, site = ARM64_DIR / "rootfs", ARM64_DIR / "site"
    python = rootfs / "usr" / "bin" / "python3.11"
    if not python.exists():
        ARM64_DIR.mkdir(parents=True, exist_ok=True)
        tmp = ARM64_DIR / "rootfs.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        mirror = _host_debian_mirror()
        log(f"debootstrap --foreign arm64 {SUITE} (download + unpack only)")
        cmd = ["debootstrap", "--arch=arm64", "--foreign", "--variant=minbase",
               f"--include={','.join(INCLUDE)}", SUITE, str(tmp)] + ([mirror] if mirror else [])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        # the first stage unpacks only the required set; the rest waits for the second stage
        # (which would run arm64 maintainer scripts): unpack the downloaded packages directly
        for deb in sorted((tmp / "var" / "cache" / "apt" / "archives").glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        tmp.rename(rootfs)
    (rootfs / "proc").mkdir(exist_ok=True)
    (rootfs / "proc" / "cpuinfo").write_text(CPUINFO_A72)
    pins = _pins()
    stamp = site / ".pins"
    if not stamp.exists() or stamp.read_text() != "\n".join(pins):
        shutil.rmtree(site, ignore_errors=True)
        log(f"aarch64 wheels: {' '.join(pins)}")
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                   "--only-binary=:all:", "--platform", "manylinux_2_27_aarch64",
                   "--platform", "manylinux2014_aarch64", "--python-version", "3.11",
                   "--implementation", "cp", "--abi", "cp311", "--target", str(site),
                   "-c", str(_constraints(Path(tmp) / "constraints.txt")), *pins]
            subprocess.run(cmd, check=True)
        stamp.write_text("\n".join(pins))
    probe = [*_arm64_cmd(), "-c", "import platform, numpy, cv2, ai_edge_litert; print(platform.machine())"]
    out = subprocess.run(probe, capture_output=True, text=True, env=_arm64_env())
    if out.returncode != 0 or out.stdout.strip() != "aarch64":
        log(f"the emulated python does not start: {out.stderr[-2000:]}")
        return 1
    log(f"ready in {ARM64_DIR} ({time.perf_counter() - t0:.0f} s)")
    return 0


def _arm64_cmd() -> list[str]:
    rootfs = ARM64_DIR / "rootfs"
    return [QEMU, "-L", str(rootfs), str(rootfs / "usr" / "bin" / "python3.11")]


def _arm64_env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "QEMU_CPU": QEMU_CPU, "PYTHONHASHSEED": "0",
            "PYTHONPATH": f"{ARM64_DIR / 'site'}:{ROOT}", "TF_CPP_MIN_LOG_LEVEL": "2"}


def unavailable() -> str | None:
    """Why the emulated environment cannot run here (None = it can)."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} not installed (`python scripts/check_arm64.py setup --install`)"
    if not (ARM64_DIR / "rootfs" / "usr" / "bin" / "python3.11").exists() \
            or not (ARM64_DIR / "site" / ".pins").exists():
        return f"no arm64 environment in {ARM64_DIR} (`python scripts/check_arm64.py setup`)"
    return None


# --------------------------------------------------------------------------- worker (both arches)

MODELS = ("lite", "full", "heavy")
TRACKED = ("lite", "full")  # heavy is ~10 s per invoke under emulation: static only


def _cases(model: str) -> tuple[str, ...]:
    return ("static", "tracking") if model in TRACKED else ("static",)


def _recording(tracker: Any, frame: list[int]) -> list[list[float]]:
    """[frame[0], x_center, y_center, width, height, rotation] of every NormRect the tracker's
    landmark stage is called with (``frame[0]``: the caller's current frame index)."""
    rects: list[list[float]] = []
    run = tracker.landmarker.run

    def recorded(rgb: Any, rect: Any) -> Any:
        rects.append([frame[0], rect.x_center, rect.y_center, rect.width, rect.height, rect.rotation])
        return run(rgb, rect)

    tracker.landmarker.run = recorded
    return rects


def worker(inputs: Path, out: Path) -> None:
    import platform

    import cv2
    import numpy as np

    from blazepose_ros.core import PoseTracker
    from blazepose_ros.core.geometry import F32, NormRect, project_to_image, rotate_world
    from blazepose_ros.core.landmarks import refine_from_heatmap, sigmoid

    data = np.load(inputs)
    res: dict[str, Any] = {}
    bus, fullbody = data["bus"], data["fullbody"]
    # 1. NumPy/OpenCV stages on fixed inputs (a real run's tensors, from the x86 side)
    probe = PoseTracker("full", static_image_mode=True)
    rect = NormRect(*(F32(v) for v in data["fixed_rect"]))
    probe.landmarker.preprocess(bus, rect)
    res["stage_crop"] = np.array(probe.landmarker.model.input_view(), copy=True)
    raw = data["fixed_raw"]
    lm = np.empty((39, 5), F32)
    lm[:, :3] = raw[:, :3] / F32(256)
    for exact in (False, True):
        lm[:, 3:] = sigmoid(raw[:, 3:], exact)
        res[f"stage_sigmoid_{'exact' if exact else 'numpy'}"] = lm.copy()
    res["stage_refine_exact"] = refine_from_heatmap(lm, data["fixed_heatmap"], exact=True)
    res["stage_project"] = project_to_image(lm[:, :3], rect)
    res["stage_world"] = rotate_world(data["fixed_world"], rect.rotation)
    del probe
    for model in (str(m) for m in data["models"]):
        # 2. the landmark model alone on the x86 side's input tensor
        tr = PoseTracker(model, static_image_mode=True, reference_math=True)
        m = tr.landmarker.model
        view = m.input_view()
        view[...] = data[f"{model}_input"]
        del view
        m.invoke()
        res[f"{model}_model_out"] = m.output(0)  # (1, 195) landmarks, crop px
        # 3. the landmark stage on the x86 side's ROI, same frame (reference math)
        for case, frames in (("static", bus[None]), ("tracking", fullbody))[:len(_cases(model))]:
            rects = data.get(f"{model}_{case}_rects")
            if rects is None:
                continue
            lms = []
            for r in rects:
                got = tr.landmarker.run(frames[int(r[0])], NormRect(*(F32(v) for v in r[1:])))
                lms.append(got.landmarks if got is not None else np.full((33, 5), np.nan, F32))
            res[f"{model}_{case}_same_roi"] = np.stack(lms)
        # 4. the whole pipeline: bus.jpg static; the full-body clip in tracking mode
        runs = (("static", bus[None], True), ("tracking", fullbody, False))[:len(_cases(model))]
        for case, frames, static in runs:
            tr = PoseTracker(model, static_image_mode=static, reference_math=True)
            frame = [0]
            rects = _recording(tr, frame)
            kps = []
            for i, f in enumerate(frames):
                frame[0] = i
                poses = tr.process(f, (i + 1) / 30)
                kps.append(poses[0].keypoints if poses else np.full((33, 5), np.nan, F32))
            res[f"{model}_{case}_kp"] = np.stack(kps)
            res[f"{model}_{case}_rects"] = np.array(rects, np.float32)
    res["machine"] = np.array(platform.machine())
    res["versions"] = np.array(json.dumps({"numpy": np.__version__, "cv2": cv2.__version__,
                                           "python": platform.python_version(), "runtime": m.runtime}))
    np.savez(out, **res)


# --------------------------------------------------------------------------- driver

def _inputs(path: Path, models: tuple[str, ...], x86: dict[str, Any] | None = None) -> None:
    """The frames and fixed tensors both workers get; with ``x86`` (the first native run's
    results) also its ROIs, for the arm64 landmark stage to run on the same ones."""
    import cv2
    import numpy as np

    from blazepose_ros.core import PoseTracker

    data = ROOT / "test" / "data"
    bus = cv2.cvtColor(cv2.imread(str(data / "bus.jpg")), cv2.COLOR_BGR2RGB)
    cap = cv2.VideoCapture(str(data / "sample_fullbody.mp4"))
    frames = []
    while len(frames) < FULLBODY_FRAMES:
        ok, bgr = cap.read()
        if not ok:
            raise SystemExit("[arm64] sample_fullbody.mp4 missing or short: run scripts/setup.sh")
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    arrays: dict[str, Any] = {"bus": bus, "fullbody": np.stack(frames), "models": np.array(models)}
    for model in models:
        tr = PoseTracker(model, static_image_mode=True, reference_math=True)
        rects = _recording(tr, [0])
        tr.process(bus, 1 / 30)
        m, idx = tr.landmarker.model, tr.landmarker._idx
        arrays[f"{model}_input"] = np.array(m.input_view(), copy=True)
        if model == "full":
            arrays["fixed_rect"] = np.array(rects[-1][1:], np.float32)
            arrays["fixed_raw"] = m.output(idx["landmarks"]).reshape(39, 5)
            arrays["fixed_heatmap"] = m.output(idx["heatmap"])[0]
            arrays["fixed_world"] = m.output(idx["world"]).reshape(39, 3)[:33]
        if x86 is not None:
            for case in _cases(model):
                arrays[f"{model}_{case}_rects"] = x86[f"{model}_{case}_rects"]
    np.savez(path, **arrays)


def _ulps(a: Any, b: Any) -> int:
    import numpy as np

    ia = np.asarray(a, np.float32).view(np.int32).astype(np.int64)
    ib = np.asarray(b, np.float32).view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return int(np.abs(ia - ib).max()) if ia.size else 0


def compare(x86: dict[str, Any], arm: dict[str, Any], max_px: float,
            sizes: dict[str, tuple[int, int]], models: tuple[str, ...] = MODELS) -> tuple[bool, list[str]]:
    """The table of checks; hard targets: NumPy/OpenCV stages with reference math bit-identical,
    the models <= 1e-3 crop px on the same input, the landmark stage <= 1e-3 px on the same
    ROI; the end-to-end pipeline within ``max_px`` (the detector's and the tracking loop's
    amplification of the models' ulps)."""
    import numpy as np

    lines = ["| check | x86-64 vs arm64 (Cortex-A72, qemu) | bound | result |", "|---|---|---|---|"]
    ok = True

    def row(name: str, value: str, bound: str, good: bool | None) -> None:
        nonlocal ok
        ok &= good is not False
        verdict = "-" if good is None else "PASS" if good else "FAIL"
        lines.append(f"| {name} | {value} | {bound} | {verdict} |")

    for k in ("stage_crop", "stage_sigmoid_exact", "stage_refine_exact", "stage_project", "stage_world",
              "stage_sigmoid_numpy"):
        same = x86[k].shape == arm[k].shape and np.array_equal(x86[k], arm[k], equal_nan=True)
        what = "bit-identical" if same else f"{_ulps(x86[k], arm[k])} ulp"
        row(f"{k[6:]} (fixed input)", what, "report" if k.endswith("numpy") else "bit-identical",
            None if k.endswith("numpy") else same)
    for model in models:
        a, b = x86[f"{model}_model_out"].reshape(39, 5), arm[f"{model}_model_out"].reshape(39, 5)
        d = float(np.abs(a[:, :2] - b[:, :2]).max())
        row(f"{model} model alone, same input tensor: landmark x, y",
            f"max {d:.1e} crop px ({_ulps(a[:, :2], b[:, :2])} ulp)", "<= 1e-3 crop px", d <= 1e-3)
    for model in models:
        for case in _cases(model):
            n = len(x86[f"{model}_{case}_rects"])
            a, b = x86[f"{model}_{case}_same_roi"], arm[f"{model}_{case}_same_roi"]
            h, w = sizes[case]
            d = float(np.nanmax(np.abs((a[..., :2] - b[..., :2]) * np.array([w, h])))) if a.size else np.inf
            # the full-body clip's camera is held sideways (ROI rotation ~ -93 deg): cv2.boxPoints'
            # float corners then differ by 1 ulp (FMA contraction on aarch64), which moves a few
            # dozen of the 65536 crop pixels by 1-3/255
            bound = 1e-3 if case == "static" else 0.05
            row(f"{model} landmark stage on the x86 ROIs, {'bus.jpg' if case == 'static' else 'fullbody'} "
                f"({n} runs): keypoints x, y", f"max {d:.1e} px", f"<= {bound:g} px", d <= bound)
    for model in models:
        for case in _cases(model):
            a, b = x86[f"{model}_{case}_kp"], arm[f"{model}_{case}_kp"]
            found = a.shape == b.shape and not np.isnan(a).any() and not np.isnan(b).any()
            d = float(np.abs(a[..., :2] - b[..., :2]).max()) if found else np.inf
            if case == "static":
                row(f"{model} whole pipeline, bus.jpg static: keypoints x, y", f"max {d:.1e} px",
                    f"<= {max_px:g} px", d <= max_px)
            else:  # the loop feeds each frame's keypoints into the next ROI: differences grow
                row(f"{model} whole pipeline, fullbody tracking, {len(a)} frames: keypoints x, y",
                    f"max {d:.1e} px, median {float(np.median(np.abs(a[..., :2] - b[..., :2]))):.1e} px",
                    "a pose on every frame", found)
    return ok, lines


def run(max_px: float, out_dir: Path | None, models: tuple[str, ...] = MODELS) -> int:
    import numpy as np

    why = unavailable()
    if why:
        log(f"SKIPPED: {why}")
        return SKIP
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bp_arm64_") as tmp:
        tmpd = Path(tmp)
        inputs = tmpd / "inputs.npz"
        _inputs(inputs, models)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = str(ROOT)
        results: dict[str, dict[str, Any]] = {}
        # the first native pass gives the x86 ROIs; then both run on the inputs that carry them
        for arch, cmd, e in (("x86_64", [sys.executable], env), ("x86_64", [sys.executable], env),
                             ("arm64", _arm64_cmd(), _arm64_env())):
            if arch in results:
                _inputs(inputs, models, results[arch])
            t1 = time.perf_counter()
            out = tmpd / f"{arch}.npz"
            p = subprocess.run([*cmd, str(Path(__file__).resolve()), "--worker", str(inputs), str(out)],
                               env=e, capture_output=True, text=True)
            if p.returncode != 0:
                log(f"{arch} worker failed ({p.returncode}):\n{p.stderr[-3000:]}")
                return 1
            results[arch] = dict(np.load(out))
            log(f"{arch} worker: {time.perf_counter() - t1:.0f} s ({results[arch]['machine']}, "
                f"{results[arch]['versions']})")
            if out_dir:
                out_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy(out, out_dir / out.name)
        with np.load(inputs) as inp:
            sizes = {"static": inp["bus"].shape[:2], "tracking": inp["fullbody"].shape[1:3]}
    ok, lines = compare(results["x86_64"], results["arm64"], max_px, sizes, models)
    print("\n".join(lines))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    s = sub.add_parser("setup", help="build the arm64 environment (idempotent)")
    s.add_argument("--install", action="store_true", help="apt-get install qemu-user-static debootstrap")
    r = sub.add_parser("run", help="compare x86-64 and arm64")
    r.add_argument("--max-px", type=float, default=0.1,
                   help="bound on the whole pipeline's keypoint differences in static mode (px): the "
                        "detector's ulps move the ROI")
    r.add_argument("--keep", type=Path, metavar="DIR", help="keep both sides' raw results here")
    r.add_argument("--quick", action="store_true", help="the full model only (~1 min; what the test runs)")
    ap.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    if args.cmd == "setup":
        return setup(args.install)
    if args.cmd == "run":
        return run(args.max_px, args.keep, ("full",) if args.quick else MODELS)
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
