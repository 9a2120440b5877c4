"""Run the BlazePose pipeline without ROS on an image, a video file or a camera.

    python -m blazepose_ros.cli run INPUT --out-json OUT.json [--static] [--fps F]
        [--model full|lite|heavy|PATH] [--delegate cpu|gpu|edgetpu|auto] [--threads N]
        [--annotate OUT.mp4|OUT.png] [--max-frames N] [--start-stamp S] [--reference-math]
        [--detector-model PATH]

JSON: {"frames": [{"index": i, "stamp": s, "poses": [{"score", "keypoints" (33 x
[x, y, z, visibility, presence], pixels), "world" (33 x [x, y, z], metres)}]}]}.
Frame i is stamped ``start_stamp + i / fps`` seconds. MediaPipe's Python solution
stamps frame i at (i + 1) * 0.033333 s; ``--start-stamp 0.033333 --fps 30.000300003``
reproduces that (add ``--reference-math`` for bit-exact tracking, docs/accuracy.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from .core.inference import DELEGATES
from .core.types import Pose
from .media import IMAGE_SUFFIXES, FrameSource, SourceError

STILL_FPS = 30.0
"""Stamp step of image files and folders without --fps, frames/s."""


class CliError(RuntimeError):
    pass


def _open(source: str, fps_opt: float | None) -> tuple[FrameSource, float, bool]:
    """(frame source, stamp step fps, is_still_image)."""
    try:
        frames = FrameSource(source)
    except SourceError as e:
        raise CliError(str(e)) from e
    still = frames.info.kind == "image"
    fps = fps_opt or (STILL_FPS if frames.info.kind in ("image", "folder") else frames.info.fps)
    return frames, fps, still


def _pose_json(pose: Pose) -> dict:
    return {"score": round(float(pose.score), 6), "id": int(pose.id),
            "keypoints": [[round(float(v), 4) for v in row] for row in pose.keypoints],
            "world": [[round(float(v), 5) for v in row] for row in pose.world]}


def run(args: argparse.Namespace) -> int:
    source, fps, still = _open(args.input, args.fps)
    with source:
        return _run(args, source, fps, still)


def _run(args: argparse.Namespace, source: FrameSource, fps: float, still: bool) -> int:
    from .core import PoseTracker
    from .core.draw import draw_poses

    tracker = PoseTracker(model=args.model, detector_model=args.detector_model, delegate=args.delegate,
                          num_threads=args.threads,
                          static_image_mode=args.static or still, reference_math=args.reference_math,
                          num_poses=args.num_poses, small_person_height=args.small_person_height)
    writer = None
    out: list[dict] = []
    t0 = time.perf_counter()
    annotate = Path(args.annotate) if args.annotate else None
    for index, bgr in enumerate(source.frames()):
        if args.max_frames is not None and index >= args.max_frames:
            break
        stamp = args.start_stamp + index / fps
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        poses = tracker.process(rgb, stamp)
        out.append({"index": index, "stamp": stamp, "poses": [_pose_json(p) for p in poses]})
        if annotate is not None:
            draw_poses(bgr, poses)
            if annotate.suffix.lower() in IMAGE_SUFFIXES:
                if index == 0 or not still:
                    cv2.imwrite(str(annotate), bgr)  # a still: the last frame wins
            else:
                if writer is None:
                    h, w = bgr.shape[:2]
                    writer = cv2.VideoWriter(str(annotate), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                    if not writer.isOpened():
                        raise CliError(f"cannot write video '{annotate}' (mp4v codec unavailable)")
                writer.write(bgr)
    if writer is not None:
        writer.release()
    elapsed = time.perf_counter() - t0
    Path(args.out_json).write_text(json.dumps({"frames": out}))
    n = len(out)
    found = sum(1 for f in out if f["poses"])
    print(f"{n} frame(s), pose in {found}, detector runs {tracker.detector_runs}, "
          f"{elapsed / max(n, 1) * 1e3:.1f} ms/frame on {tracker.active_delegate} -> {args.out_json}",
          file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m blazepose_ros.cli", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the pipeline and write poses as JSON")
    r.add_argument("input", help="image, video file, or camera index (e.g. 0)")
    r.add_argument("--out-json", required=True, help="output JSON path")
    r.add_argument("--static", action="store_true", help="detector on every frame, no smoothing")
    r.add_argument("--fps", type=float, default=None,
                   help="stamp step in frames/s (default: the video's rate; images: 30)")
    r.add_argument("--model", default="full", help="landmark model: full, lite, heavy or a .tflite path")
    r.add_argument("--detector-model", default=None, metavar="PATH",
                   help="person detector .tflite (default: the shipped pose_detection.tflite), e.g. "
                        "models/pose_detection_int8.tflite from bench/int8_build.py")
    r.add_argument("--num-poses", type=int, default=1, metavar="N",
                   help="people tracked at once, each with their own id (MediaPipe Tasks' num_poses)")
    r.add_argument("--small-person-height", type=float, default=None, metavar="PX",
                   help="also search detector tiles so that people this tall (px) are found")
    r.add_argument("--delegate", default="cpu", choices=DELEGATES)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--annotate", default=None, help="write an annotated OUT.mp4 (video) or OUT.png")
    r.add_argument("--max-frames", type=int, default=None)
    r.add_argument("--start-stamp", type=float, default=0.0, metavar="S",
                   help="stamp of the first frame in seconds (default 0; MediaPipe's solution: 0.033333)")
    r.add_argument("--reference-math", action="store_true",
                   help="round exp like glibc's expf, as MediaPipe does: bit-exact with MediaPipe 0.10.21 "
                        "on glibc x86_64, ~0.2 ms/frame slower")
    r.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from .core import DelegateError, InferenceError, ModelError

    if args.fps is not None and not args.fps > 0:
        print("error: --fps must be > 0", file=sys.stderr)
        return 2
    if not (np.isfinite(args.start_stamp) and args.start_stamp >= 0):
        print("error: --start-stamp must be a finite time >= 0 s", file=sys.stderr)
        return 2
    try:
        return run(args)
    except (CliError, ModelError, DelegateError, InferenceError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
