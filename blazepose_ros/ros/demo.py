"""The main job: real footage of two people through the real ROS 2 graph, gesture control included.

    video_publisher --/camera/image_raw, /camera/camera_info--> pose_node --~/poses--> gesture_node
                                                                 |               |
                                            ~/keypoints ~/markers ~/debug_image  ~/gesture ~/state /cmd_vel
                                                                 v
                                      this process: MCAP bag + annotated video + summary

The default clip is the Sports2D demo (test/data/sports2d_demo.mp4, fetched by setup; 1768x994,
30 fps, 230 frames; streamed at 15 fps, half speed, so pose_node processes every frame on one
CPU thread): a man doing jumping jacks on a box, a woman walking past. pose_node tracks
up to two people (num_poses:=2); gesture_node runs with config/demo_gestures.yaml and engages the
person who holds both arms up for 0.1 s (a jumping jack does), so the man becomes the operator
and his gestures command the robot; the woman never takes control. The summary prints the
gestures of each person, the operator over time and the commands sent.

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
DEMO_GESTURE_PARAMS = [
    "-p", f"config_file:={ROOT / 'config' / 'demo_gestures.yaml'}",
    "-p", "engage_gestures:=both_arms_up", "-p", "engage_hold:=0.1",
    "-p", "enabled_at_start:=true", "-p", "max_linear_accel:=2.0",
]
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


def gesture_summary(gestures: list[tuple[float, str, int, str, float]], states: list[tuple[float, object]],
                    cmds: list[tuple[float, float, float, float]]) -> dict:
    """What the gesture layer did: each person's gestures (onsets), the operator over time
    (every ~/state change) and the commands sent (non-zero spans). Times in s from the start."""
    people: dict[str, list[tuple[float, str]]] = {}
    for t, frame, pid, name, _conf in gestures:
        seq = people.setdefault(f"{frame}#{pid}", [])
        if name != "none" and (not seq or seq[-1][1] != name):
            seq.append((t, name))
        elif name == "none" and seq and seq[-1][1] != "none":
            seq.append((t, "none"))
    timeline = []
    for t, st in states:
        who = f"{st.operator_frame_id}#{st.operator_id}" if st.engaged else "-"
        entry = {"t": t, "operator": who, "reason": st.reason, "gesture": st.gesture, "mode": st.mode}
        if not timeline or {k: v for k, v in timeline[-1].items() if k != "t"} != \
                {k: v for k, v in entry.items() if k != "t"}:
            timeline.append(entry)
    moving = [c for c in cmds if c[1] or c[2] or c[3]]
    spans: list[list[float]] = []
    for t, vx, _vy, _wz in moving:
        if spans and t - spans[-1][1] < 0.15:
            spans[-1][1] = t
            spans[-1][2] = max(spans[-1][2], abs(vx))
        else:
            spans.append([t, t, abs(vx)])
    operators = sorted({e["operator"] for e in timeline if e["operator"] != "-"})
    return {
        "gestures": {k: [{"t": t, "gesture": g} for t, g in v] for k, v in people.items()},
        "operators": operators,
        "operator_timeline": timeline,
        "commands_sent": len(cmds),
        "moving_commands": len(moving),
        "moving_spans": [{"from": a, "to": b, "max_linear_x": round(m, 3)} for a, b, m in spans],
    }


def run(args: argparse.Namespace) -> int:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import TwistStamped
    from sensor_msgs.msg import Image
    from visualization_msgs.msg import MarkerArray

    from blazepose_ros.msg import Gesture, OperatorState, PoseKeypoints33, PoseKeypoints33Array
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
        "/cmd_vel": TwistStamped,
    }
    gestures = args.gestures and (ROOT / "blazepose_ros" / "ros" / "gesture_node.py").exists()
    if gestures:
        topics["/gesture_node/gesture"] = Gesture
        topics["/gesture_node/state"] = OperatorState
    bag_path = out / "demo.mcap"
    recorder = McapRecorder(node, bag_path, topics, {})

    latencies_ms: list[float] = []
    people_seen: dict[str, list] = {}  # "frame#id" -> [first s, last s, frames]
    people_frames = 0
    poses_out = 0
    first_out = last_out = 0.0  # monotonic arrival of the first and the last ~/poses
    last_diag: dict[str, str] = {}
    writer: cv2.VideoWriter | None = None

    t_start = time.time()

    def on_poses(msg: PoseKeypoints33Array) -> None:
        nonlocal poses_out, people_frames, first_out, last_out
        last_out = time.monotonic()
        first_out = first_out or last_out
        poses_out += 1
        people_frames += bool(msg.poses)
        t_rel = round(time.time() - t_start, 2)
        for pose in msg.poses:
            seen = people_seen.setdefault(f"{msg.header.frame_id}#{pose.id}", [t_rel, t_rel, 0])
            seen[1], seen[2] = t_rel, seen[2] + 1
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

    gesture_log: list[tuple[float, str, int, str, float]] = []  # (t, frame, id, gesture, confidence)
    state_log: list[tuple[float, OperatorState]] = []
    cmd_log: list[tuple[float, float, float, float]] = []  # (t, vx, vy, wz)

    def rel(stamp) -> float:
        return round(stamp.sec + stamp.nanosec * 1e-9 - t_start, 2)

    def on_gesture(msg: Gesture) -> None:
        gesture_log.append((rel(msg.header.stamp), msg.header.frame_id, int(msg.person_id), msg.gesture,
                            round(float(msg.confidence), 2)))

    def on_state(msg: OperatorState) -> None:
        state_log.append((round(time.time() - t_start, 2), msg))

    def on_cmd(msg: TwistStamped) -> None:
        t = msg.twist
        cmd_log.append((rel(msg.header.stamp), t.linear.x, t.linear.y, t.angular.z))

    if gestures:
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(Gesture, "/gesture_node/gesture", on_gesture, 100)
        node.create_subscription(OperatorState, "/gesture_node/state", on_state, latched)
        node.create_subscription(TwistStamped, "/cmd_vel", on_cmd,
                                 QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
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
                                    ["--params-file", str(args.params), "-p", f"num_poses:={args.num_poses}",
                                     *CAMERA_REMAPS], env, logs / "pose_node.log")
        if gestures:
            procs["gesture_node"] = _start(
                "blazepose_ros.ros.gesture_node",
                ["-r", "poses:=/pose_node/poses", *DEMO_GESTURE_PARAMS],
                env, logs / "gesture_node.log")
        # start the camera only once the pose node listens, so no frame is lost to start-up
        deadline = time.monotonic() + 60
        while node.count_subscribers("/camera/image_raw") < 1 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
            if procs["pose_node"].poll() is not None:
                print((logs / "pose_node.log").read_text(), file=sys.stderr)
                print("[demo] pose_node exited during start-up (log above)", file=sys.stderr)
                return 1
        if gestures:  # the gesture node listens before the first frame, too
            while node.count_subscribers("/pose_node/poses") < 2 and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
        loop = "true" if args.loop else "false"
        procs["video_publisher"] = _start(
            "blazepose_ros.ros.video_publisher",
            ["-p", f"source:={source}", "-p", f"rate:={args.rate}", "-p", f"loop:={loop}",
             "-p", "preload:=true", "-p", "wait_for_subscribers:=1",  # no frame lost to discovery
             *CAMERA_REMAPS], env, logs / "video_publisher.log")
        how = f"for {args.duration:g} s" if args.loop else f"once (at most {args.duration:g} s)"
        print(f"[demo] streaming {source.name} at {args.rate:g} fps {how} (logs in {logs})", flush=True)
        t_start = time.time()
        t_end = time.monotonic() + args.duration
        while time.monotonic() < t_end:
            rclpy.spin_once(node, timeout_sec=0.05)
            if procs["video_publisher"].poll() == 0 and not args.loop:
                break  # the clip has been sent
            for name, p in procs.items():
                if p.poll() is not None:
                    print(f"[demo] {name} exited early with {p.returncode}; see {logs / name}.log",
                          file=sys.stderr)
                    return 1
            if last_diag:
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
        "people_seen": {k: {"first_s": a, "last_s": b, "frames": n} for k, (a, b, n) in people_seen.items()},
        "gesture_control": gesture_summary(gesture_log, state_log, cmd_log) if gestures else {},
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
    gc = summary["gesture_control"]
    for who, (a, b, n) in people_seen.items():
        seq = gc.get("gestures", {}).get(who, [])
        shown = ", ".join(f"{e['gesture']}@{e['t']:.1f}s" for e in seq if e["gesture"] != "none")
        role = " (operator)" if who in gc.get("operators", []) else ""
        print(f"[demo] person {who}{role}: seen {a:.1f}-{b:.1f} s in {n} frames; "
              f"gestures: {shown or 'none'}")
    if gc:
        print("[demo] operator over time:")
        for e in gc["operator_timeline"]:
            print(f"[demo]   {e['t']:6.2f} s  operator {e['operator']:<26} {e['reason']:<17} "
                  f"gesture {e['gesture']}, mode {e['mode']}")
        spans = ", ".join(f"{s['from']:.2f}-{s['to']:.2f} s (up to {s['max_linear_x']} m/s)"
                          for s in gc["moving_spans"])
        print(f"[demo] cmd_vel: {gc['commands_sent']} sent, {gc['moving_commands']} moving: "
              f"{spans or 'none'}; "
              f"operators: {', '.join(gc['operators']) or 'nobody engaged'}")
    print(f"[demo] bag: {bag_path} {recorder.counts}")
    print(f"[demo] annotated video: {out / 'annotated.mp4'}; summary: {out / 'summary.json'}")
    bad = {n: c for n, c in codes.items() if c not in (0, -signal.SIGINT)}
    if bad:
        print(f"[demo] nodes did not shut down cleanly: {bad}", file=sys.stderr)
        return 1
    return 0 if poses_out > 0 and people_frames > 0 else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=str(ROOT / "test" / "data" / "sports2d_demo.mp4"))
    ap.add_argument("--params", default=str(ROOT / "config" / "pose.yaml"))
    ap.add_argument("--num-poses", type=int, default=2, help="people tracked by pose_node (num_poses)")
    ap.add_argument("--loop", action="store_true",
                    help="loop the clip for --duration s (default: play it once)")
    ap.add_argument("--duration", type=float, default=30.0,
                    help="seconds of streaming with --loop; otherwise the longest wait for the clip to end")
    ap.add_argument("--rate", type=float, default=15.0,
                    help="camera frame rate, Hz (default 15: the 30 fps clip at half speed, so an "
                         "embedded-class CPU tracks both people in every frame without dropping any)")
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
