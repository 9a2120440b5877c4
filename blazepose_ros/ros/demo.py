"""The main job: a sample stream of real people through the real ROS 2 graph.

    video_publisher --/camera/image_raw, /camera/camera_info--> pose_node --~/poses--> gesture_node
                                                                 |                        |
                                            ~/keypoints ~/markers ~/debug_image    ~/gesture, /cmd_vel
                                                                 v
                                      this process: MCAP bag + annotated video + summary

Every node is its own process talking over DDS (loopback only). Leaves in --out:
``demo.mcap`` (a ROS 2 bag: ``ros2 bag info`` / Foxglove / mcap_ros2 read it),
``annotated.mp4`` (the pose node's debug image stream) and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CAMERA_REMAPS = ["-r", "image:=/camera/image_raw", "-r", "camera_info:=/camera/camera_info",
                 "-r", "image/compressed:=/camera/image_raw/compressed"]


def _start(module: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, "--ros-args", *args], env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    a = np.asarray(values)
    return {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 90, 99)} | {
        "max": round(float(a.max()), 2)}


def run(args: argparse.Namespace) -> int:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Twist
    from sensor_msgs.msg import Image
    from visualization_msgs.msg import MarkerArray

    from blazepose_ros.msg import Gesture, PoseKeypoints33, PoseKeypoints33Array
    from blazepose_ros.ros.bag import McapRecorder
    from blazepose_ros.ros.image_conversion import image_msg_to_rgb

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(args.source)
    if not source.exists():
        print(f"[demo] sample stream {source} not found: run `bash scripts/setup.sh` first", file=sys.stderr)
        return 2
    env = dict(os.environ, PYTHONUNBUFFERED="1", ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

    rclpy.init()
    node = rclpy.create_node("blazepose_demo")
    topics = {
        "/pose_node/keypoints": PoseKeypoints33,
        "/pose_node/poses": PoseKeypoints33Array,
        "/pose_node/markers": MarkerArray,
        "/diagnostics": DiagnosticArray,
        "/cmd_vel": Twist,
    }
    gestures = args.gestures and (ROOT / "blazepose_ros" / "ros" / "gesture_node.py").exists()
    if gestures:
        topics["/gesture_node/gesture"] = Gesture
    bag_path = out / "demo.mcap"
    recorder = McapRecorder(node, bag_path, topics, {})

    latencies_ms: list[float] = []
    people_frames = 0
    poses_out = 0
    first_out = last_out = 0.0  # monotonic arrival of the first and the last ~/poses
    last_diag: dict[str, str] = {}
    writer: cv2.VideoWriter | None = None

    def on_poses(msg: PoseKeypoints33Array) -> None:
        nonlocal poses_out, people_frames, first_out, last_out
        last_out = time.monotonic()
        first_out = first_out or last_out
        poses_out += 1
        people_frames += bool(msg.poses)
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        latencies_ms.append((time.time() - stamp) * 1e3)

    def on_debug(msg: Image) -> None:
        nonlocal writer
        bgr = cv2.cvtColor(image_msg_to_rgb(msg), cv2.COLOR_RGB2BGR)
        if writer is None:
            writer = cv2.VideoWriter(str(out / "annotated.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                                     args.rate, (bgr.shape[1], bgr.shape[0]))
        writer.write(bgr)

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if "pose" in status.name.lower():
                last_diag.update({kv.key: kv.value for kv in status.values})

    node.create_subscription(PoseKeypoints33Array, "/pose_node/poses", on_poses, 100)
    node.create_subscription(Image, "/pose_node/debug_image", on_debug, 100)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)

    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    streaming_diag: dict[str, str] = {}
    final_diag: dict[str, str] = {}
    try:
        procs["pose_node"] = _start("blazepose_ros.ros.pose_node",
                                    ["--params-file", str(args.params), *CAMERA_REMAPS],
                                    env, logs / "pose_node.log")
        if gestures:
            procs["gesture_node"] = _start(
                "blazepose_ros.ros.gesture_node",
                ["-r", "poses:=/pose_node/poses"],
                env, logs / "gesture_node.log")
        # start the camera only once the pose node listens, so no frame is lost to start-up
        deadline = time.monotonic() + 60
        while node.count_subscribers("/camera/image_raw") < 1 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
            if procs["pose_node"].poll() is not None:
                print((logs / "pose_node.log").read_text(), file=sys.stderr)
                print("[demo] pose_node exited during start-up (log above)", file=sys.stderr)
                return 1
        procs["video_publisher"] = _start(
            "blazepose_ros.ros.video_publisher",
            ["-p", f"source:={source}", "-p", f"rate:={args.rate}", "-p", "loop:=true",
             "-p", "preload:=true", *CAMERA_REMAPS], env, logs / "video_publisher.log")
        print(f"[demo] streaming {source.name} at {args.rate:g} fps for {args.duration:g} s "
              f"(logs in {logs})", flush=True)
        t_end = time.monotonic() + args.duration
        while time.monotonic() < t_end:
            rclpy.spin_once(node, timeout_sec=0.05)
            for name, p in procs.items():
                if p.poll() is not None:
                    print(f"[demo] {name} exited early with {p.returncode}; see {logs / name}.log",
                          file=sys.stderr)
                    return 1
        streaming_diag = dict(last_diag)  # before the camera stops and the rates fall
        _stop(procs.pop("video_publisher"))
        t_drain = time.monotonic() + 1.0
        while time.monotonic() < t_drain:
            rclpy.spin_once(node, timeout_sec=0.05)
        # the counts of the first diagnostics after the drain (1 Hz) cover every frame sent
        last_diag.clear()
        t_final = time.monotonic() + 2.0
        while not last_diag and time.monotonic() < t_final:
            rclpy.spin_once(node, timeout_sec=0.05)
        final_diag = dict(last_diag)
    finally:
        codes = {name: _stop(p) for name, p in procs.items()}
        recorder.close()
        if writer is not None:
            writer.release()
        node.destroy_node()
        rclpy.try_shutdown()

    counts = final_diag or streaming_diag
    frames_in = int(counts.get("frames_received", 0))
    summary = {
        "frames_in": frames_in,
        "frames_out": poses_out,
        "frames_with_person": people_frames,
        # over the span the camera streamed (it starts after the video is preloaded)
        "output_rate_hz": round((poses_out - 1) / (last_out - first_out), 2) if last_out > first_out else 0.0,
        "latency_ms": _percentiles(latencies_ms),
        "pose_node_diagnostics": streaming_diag,
        "pose_node_diagnostics_at_end": final_diag,
        "recorded_messages": recorder.counts,
        "node_exit_codes": codes,
        "bag": str(bag_path),
        "annotated_video": str(out / "annotated.mp4"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"[demo] frames in {frames_in}, out {poses_out} ({people_frames} with a person), "
          f"{summary['output_rate_hz']} Hz")
    lat = summary["latency_ms"]
    if lat:
        print(f"[demo] end-to-end latency ms: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  "
              f"max {lat['max']}")
    for key, source in (("active_delegate", streaming_diag), ("detector_runs", counts),
                        ("dropped_frames", counts), ("processing_time_ms", streaming_diag)):
        if key in source:
            print(f"[demo] {key}: {source[key]}")
    print(f"[demo] bag: {bag_path} {recorder.counts}")
    print(f"[demo] annotated video: {out / 'annotated.mp4'}; summary: {out / 'summary.json'}")
    bad = {n: c for n, c in codes.items() if c not in (0, -signal.SIGINT)}
    if bad:
        print(f"[demo] nodes did not shut down cleanly: {bad}", file=sys.stderr)
        return 1
    return 0 if poses_out > 0 and people_frames > 0 else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=str(ROOT / "test" / "data" / "sample_people.mp4"))
    ap.add_argument("--params", default=str(ROOT / "config" / "pose.yaml"))
    ap.add_argument("--duration", type=float, default=15.0, help="seconds of streaming")
    ap.add_argument("--rate", type=float, default=30.0, help="camera frame rate, Hz")
    ap.add_argument("--out", default=str(ROOT / "out" / "demo"))
    ap.add_argument("--no-gestures", dest="gestures", action="store_false")
    from rclpy.executors import ExternalShutdownException

    try:
        return run(ap.parse_args(argv))
    except (KeyboardInterrupt, ExternalShutdownException):  # run()'s finally stopped the nodes
        print("[demo] interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
