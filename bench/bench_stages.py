#!/usr/bin/env python3
"""Per-stage cost of the pipeline on real frames of people, and how it grows.

    . scripts/env.sh && python bench/bench_stages.py [--quick] [--threads 1] [--baseline REF]

Tables (markdown, medians over every frame of every repetition):

1. Stages, tracking and detection (static) mode, on test/data/sample_people.mp4
   (640x480, people moving): ROS image conversion (rgb8 zero-copy, bgr8, JPEG),
   detector, crop, landmark inference, decoding, filters, message building,
   publishing (rclpy, no subscriber: serialisation + DDS write). The *bare
   invoke* column is ``interpreter.invoke()`` alone on the same frames' crops,
   timed interleaved with the pipeline in the same run on the same interpreter;
   the target is pipeline total <= 1.15 x bare invoke (tracking, one thread).
   With ``--baseline REF`` the pipeline of git REF runs interleaved too (before/after).
2. Input size 320x240 .. 3840x2160 (a virtual camera moving over zidane.jpg):
   tracking and detection mode, ratio to 640x480 (target: 4K <= 1.5 x 640x480),
   and what a bgr8 / rgb8 ROS image adds.
3. Number of people in view: 1..6 tiles of real frames on one 1280x720 canvas.
   The pipeline follows ONE person (like MediaPipe's solution): in tracking mode
   the cost does not depend on the crowd; in detection mode the detector's
   decoding/NMS grows with the number of detections.

Frames are decoded once up front; each repetition replays them with stamps at 30 fps.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl

from blazepose_ros.core import PoseTracker

STAGES = ("conversion", "detector", "crop", "landmark_invoke", "decode", "filters", "message", "publish")


class RosStages:
    """Conversion, message building and publishing, as the pose node does them (optional: needs rclpy)."""

    def __init__(self) -> None:
        import rclpy
        from blazepose_ros.msg import PoseKeypoints33Array
        from rclpy.node import Node
        from rclpy.qos import QoSProfile
        from visualization_msgs.msg import MarkerArray

        from blazepose_ros.ros import conversions, image_conversion, markers

        self.ic, self.conv, self.markers = image_conversion, conversions, markers
        rclpy.init(args=[])
        self.rclpy = rclpy
        self.node = Node("bench_stages")
        self.pub = self.node.create_publisher(PoseKeypoints33Array, "bench/poses", QoSProfile(depth=10))
        self.mpub = self.node.create_publisher(MarkerArray, "bench/markers", QoSProfile(depth=10))

    def messages(self, frame: np.ndarray) -> dict[str, Any]:
        from std_msgs.msg import Header

        h = Header(frame_id="camera")
        return {"rgb8": self.ic.rgb_to_image_msg(frame, h, "rgb8"),
                "bgr8": self.ic.rgb_to_image_msg(frame, h, "bgr8"),
                "jpeg": self.ic.rgb_to_compressed_msg(frame, h, "jpeg", 90)}

    def convert(self, msg: Any) -> np.ndarray:
        if hasattr(msg, "encoding"):
            return self.ic.image_msg_to_rgb(msg)
        return self.ic.compressed_msg_to_rgb(msg)

    def publish(self, poses: list[Any], header: Any, size: tuple[int, int]) -> tuple[float, float]:
        t0 = time.perf_counter()
        arr = self.conv.poses_to_array_msg(poses, header, size)
        mk = self.markers.pose_markers(poses, header, 0.5, True) if poses else None
        t1 = time.perf_counter()
        self.pub.publish(arr)
        if mk is not None:
            self.mpub.publish(mk)
        return t1 - t0, time.perf_counter() - t1

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.try_shutdown()


def make_tracker(core: Any, static: bool, threads: int, model: str = "full") -> Any:
    return core.PoseTracker(model=bl.model_path(f"pose_landmark_{model}.tflite"),
                            detector_model=bl.model_path("pose_detection.tflite"),
                            num_threads=threads, static_image_mode=static)


def stage_table(frames: list[np.ndarray], reps: int, threads: int, baseline: Any, ros: RosStages | None,
                ref: str, models: tuple[str, ...] = ("full",)) -> str:
    out = []
    cores = {"now": sys.modules["blazepose_ros.core"]}
    if baseline is not None:
        cores[f"baseline {ref}"] = baseline
    summary: list[list[Any]] = []
    for model in models:
        for static in (False, True):
            mode = "detection (static)" if static else "tracking"
            trackers = {k: make_tracker(c, static, threads, model) for k, c in cores.items()}
            cur = trackers["now"]
            # the same frames' crops for the bare-invoke floor: one untimed pass
            crops: list[np.ndarray | None] = []
            for i, f in enumerate(frames):
                cur.process(f, i / 30)
                crops.append(cur.landmarker._crop.copy() if cur.last_timings.get("landmark_invoke") else None)
            msgs = [ros.messages(f) for f in frames] if ros else []
            t: dict[str, list[float]] = defaultdict(list)
            lm_model = cur.landmarker.model
            scale = cur.landmarker._scale
            for rep in range(reps):
                for tr in trackers.values():
                    tr.reset()
                for i, f in enumerate(frames):
                    stamp = (rep * len(frames) + i) / 30
                    for name, tr in trackers.items():
                        t0 = time.perf_counter()
                        poses = tr.process(f, stamp)
                        dt = time.perf_counter() - t0
                        if name == "now":
                            lt = tr.last_timings
                            for k in ("detector", "crop", "landmark_invoke", "decode", "filters"):
                                t[k].append(lt.get(k, 0.0))
                            t["pipeline"].append(dt)
                            cur_poses = poses
                        else:
                            t[f"pipeline {name}"].append(dt)
                    if crops[i] is not None:  # bare invoke on this frame's crop, same interpreter
                        view = lm_model.input_view()
                        np.multiply(crops[i], scale, out=view[0], dtype=np.float32)
                        del view
                        t0 = time.perf_counter()
                        lm_model.invoke()
                        t["bare_invoke"].append(time.perf_counter() - t0)
                    if ros is not None:
                        for enc, m in msgs[i].items():
                            t0 = time.perf_counter()
                            ros.convert(m)
                            t[f"conversion {enc}"].append(time.perf_counter() - t0)
                        build, pub = ros.publish(cur_poses, msgs[i]["rgb8"].header, (f.shape[1], f.shape[0]))
                        t["message"].append(build)
                        t["publish"].append(pub)
            rows = []
            if ros is not None:
                for enc in ("rgb8", "bgr8", "jpeg"):
                    rows.append([f"conversion ({enc})", bl.ms(t[f"conversion {enc}"]),
                                 bl.ms(t[f"conversion {enc}"], 90)])
            for k in ("detector", "crop", "landmark_invoke", "decode", "filters"):
                rows.append([k, bl.ms(t[k]), bl.ms(t[k], 90)])
            if ros is not None:
                rows += [["message building", bl.ms(t["message"]), bl.ms(t["message"], 90)],
                         ["publishing", bl.ms(t["publish"]), bl.ms(t["publish"], 90)]]
            rows.append(["**pipeline total** (PoseTracker.process)", bl.ms(t["pipeline"]),
                         bl.ms(t["pipeline"], 90)])
            for name in cores:
                if name != "now":
                    rows.append([f"pipeline total, {name}", bl.ms(t[f"pipeline {name}"]),
                                 bl.ms(t[f"pipeline {name}"], 90)])
            rows.append(["bare landmark invoke (same crops)", bl.ms(t["bare_invoke"]),
                         bl.ms(t["bare_invoke"], 90)])
            out.append(f"### Stages, {model} model, {mode} mode, {len(frames)} frames x {reps} reps, "
                       f"{threads} thread(s)\n\n"
                       + bl.table(["stage", "median ms", "p90 ms"], rows) + "\n")
            ratio = bl.ms(t["pipeline"]) / bl.ms(t["bare_invoke"])
            line = [model, mode, bl.ms(t["pipeline"]), bl.ms(t["bare_invoke"]), ratio]
            if baseline is not None:
                base = bl.ms(t[f"pipeline baseline {ref}"])
                line += [base, base / bl.ms(t["bare_invoke"]), bl.ms(t["pipeline"]) / base]
            summary.append(line)
    heads = ["model", "mode", "pipeline ms", "bare invoke ms", "pipeline / invoke"]
    if baseline is not None:
        heads += [f"pipeline {ref} ms", f"{ref} / invoke", "now / before"]
    out.append("### Pipeline vs the bare model (target: tracking <= 1.15)\n\n"
               + bl.table(heads, summary) + "\n")
    return "\n".join(out)


SIZES = ((320, 240), (640, 480), (1280, 720), (1920, 1080), (3840, 2160))


def size_table(n: int, reps: int, threads: int) -> str:
    rows_t: dict[tuple[int, int], dict[str, list[float]]] = {}
    seqs = {s: bl.motion("zidane.jpg", n, s) for s in SIZES}
    trackers = {(s, st): PoseTracker(num_threads=threads, static_image_mode=st) for s in SIZES
                for st in (False, True)}
    for rep in range(reps):  # interleave the sizes frame by frame
        for tr in trackers.values():
            tr.reset()
        for i in range(n):
            for s in SIZES:
                f = seqs[s][i]
                d = rows_t.setdefault(s, defaultdict(list))
                for st in (False, True):
                    tr = trackers[(s, st)]
                    t0 = time.perf_counter()
                    tr.process(f, (rep * n + i) / 30)
                    d["static" if st else "track"].append(time.perf_counter() - t0)
                    if not st:
                        d["crop"].append(tr.last_timings.get("crop", 0.0))
                t0 = time.perf_counter()
                cv2.cvtColor(f, cv2.COLOR_BGR2RGB)  # what a bgr8 image costs to convert
                d["bgr8"].append(time.perf_counter() - t0)
    base_t, base_s = bl.ms(rows_t[(640, 480)]["track"]), bl.ms(rows_t[(640, 480)]["static"])
    rows = []
    for s in SIZES:
        d = rows_t[s]
        tr_ms, st_ms, bgr = bl.ms(d["track"]), bl.ms(d["static"]), bl.ms(d["bgr8"])
        rows.append([f"{s[0]}x{s[1]}", tr_ms, tr_ms / base_t, bl.ms(d["crop"]), st_ms, st_ms / base_s, bgr,
                     (tr_ms + bgr) / base_t])
    return (f"### Cost vs input size ({n} frames x {reps} reps, zidane.jpg moving camera, "
            f"{threads} thread(s))\n\n"
            "rgb8 images reach the pipeline without a copy; a bgr8 image adds one cvtColor.\n\n"
            + bl.table(["input", "tracking ms", "x 640x480", "crop ms", "detection ms", "x 640x480",
                        "+bgr8 conversion ms", "tracking+bgr8 x 640x480"], rows) + "\n")


def people_table(n: int, reps: int, threads: int) -> str:
    sources = [bl.motion("zidane.jpg", n, (640, 360)), bl.motion("bus.jpg", n, (360, 480))]
    canvas_w, canvas_h = 1280, 720
    layouts = {1: (1, 1), 2: (1, 2), 4: (2, 2), 6: (2, 3)}
    rows = []
    for count, (gr, gc) in layouts.items():
        cw, ch = canvas_w // gc, canvas_h // gr
        frames = []
        for i in range(n):
            canvas = np.zeros((canvas_h, canvas_w, 3), np.uint8)
            for k in range(count):
                r, c = divmod(k, gc)
                tile = sources[k % 2][(i + 3 * k) % n]
                canvas[r * ch:(r + 1) * ch, c * cw:(c + 1) * cw] = cv2.resize(tile, (cw, ch),
                                                                              interpolation=cv2.INTER_AREA)
            frames.append(canvas)
        t: dict[str, list[float]] = defaultdict(list)
        trk = PoseTracker(num_threads=threads)
        det = PoseTracker(num_threads=threads, static_image_mode=True)
        ndet: list[int] = []
        for rep in range(reps):
            trk.reset()
            for i, f in enumerate(frames):
                t0 = time.perf_counter()
                trk.process(f, (rep * n + i) / 30)
                t["track"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                det.process(f, (rep * n + i) / 30)
                t["static"].append(time.perf_counter() - t0)
                dt = det.detector.last_timings
                t["det_decode"].append(dt.get("detector_decode", 0.0))
                ndet.append(len(det.detector.detect(f)))
        rows.append([count, float(np.mean(ndet)), bl.ms(t["track"]), bl.ms(t["static"]),
                     bl.ms(t["det_decode"])])
    return (f"### Cost vs people in view (1280x720 canvas, {n} frames x {reps} reps)\n\n"
            "Tiles of moving-camera views of zidane.jpg (2 people) and bus.jpg (4 people).\n"
            "One person is tracked (MediaPipe's solution does the same); the others cost only in the\n"
            "detector's decoding + weighted NMS, and only when the detector runs.\n\n"
            + bl.table(["people tiles", "detections (mean)", "tracking ms", "detection-mode ms",
                        "detector decode+NMS ms"], rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer frames and repetitions (~1 min)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, help="repetitions of the frame set (default 3, quick 1)")
    ap.add_argument("--baseline", metavar="REF", help="also run blazepose_ros/core of git REF, interleaved")
    ap.add_argument("--no-ros", action="store_true", help="skip conversion/message/publish (no rclpy)")
    ap.add_argument("--only", choices=("stages", "sizes", "people"), action="append")
    ap.add_argument("--model", action="append", choices=("lite", "full", "heavy"),
                    help="landmark model(s) of the stage tables (repeatable; default: all three)")
    args = ap.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    only = set(args.only or ("stages", "sizes", "people"))
    ros = None
    if not args.no_ros and "stages" in only:
        try:
            ros = RosStages()
        except ImportError as e:
            print(f"(no ROS stages: {e})", file=sys.stderr)
    baseline = bl.load_baseline_core(args.baseline) if args.baseline else None
    print(bl.header("Pipeline stages"))
    if "stages" in only:
        frames = bl.video_frames(limit=30 if args.quick else None)
        print(stage_table(frames, reps, args.threads, baseline, ros, args.baseline or "",
                          tuple(args.model or ("lite", "full", "heavy"))))
    if ros is not None:
        ros.close()
    if "sizes" in only:
        print(size_table(10 if args.quick else 30, reps, args.threads))
    if "people" in only:
        print(people_table(10 if args.quick else 30, reps, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
