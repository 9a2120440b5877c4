#!/usr/bin/env python3
"""Run the quick version of every performance benchmark, one after the other.

    . scripts/env.sh && python bench/run_all.py [--full] [--out out/bench.md]

Each benchmark runs in its own process (so one failing or a missing optional tool
does not stop the others) and its markdown tables are printed and collected in
``--out``. ``--full`` drops ``--quick`` (the numbers of docs/performance.md; ~15 min).
quantize.py needs ``pip install ai-edge-quantizer==0.10.0`` and is skipped without it.
The MediaPipe side-by-side comparison is bench/bench_vs_mediapipe.py (its own venv).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BENCHES = ("bench_stages.py", "bench_memory.py", "bench_conversions.py", "bench_transport.py", "bench_ros.py",
           "quantize.py")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="full runs instead of --quick")
    ap.add_argument("--only", nargs="+", choices=BENCHES)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench.md")
    args = ap.parse_args(argv)
    parts, failed = [], []
    for name in args.only or BENCHES:
        if name == "quantize.py" and importlib.util.find_spec("ai_edge_quantizer") is None:
            msg = f"## {name}\n\nskipped: `pip install ai-edge-quantizer==0.10.0` to run it\n"
            print(msg)
            parts.append(msg)
            continue
        cmd = [sys.executable, str(BENCH / name)] + ([] if args.full else ["--quick"])
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        out = proc.stdout.strip()
        if proc.returncode != 0:
            failed.append(name)
            out += f"\n\n**{name} failed (exit {proc.returncode})**:\n```\n{proc.stderr[-3000:]}\n```"
        out += f"\n\n({name}: {time.perf_counter() - t0:.0f} s)\n"
        print(out, flush=True)
        parts.append(out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n\n".join(parts))
    print(f"tables written to {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
