#!/usr/bin/env python3
"""Soak: 10,000 frames through a running pose_node at the rate it sustains; resident memory flat.

    . scripts/env.sh && python bench/bench_soak.py [--quick] [--frames 10000] [--json out.json]

``pose_node`` runs in its own process (RELIABLE subscription, markers on, camera_info given),
this process publishes the 90 real frames of sample_people.mp4 (640x480 rgb8) in a loop, in
lock-step: the next frame goes out when the node's ``~/poses`` answer to the previous one is
back, so every frame is processed and the run goes as fast as the node can. Stamps advance
by 1/30 s, except that every 2,000 frames the stamp jumps back to the start (a looping bag:
the tracker resets). After every 100th good frame a bad one is sent too (alternately an
unknown encoding and truncated data), to exercise the error paths for leaks.

The node's VmRSS (/proc/<pid>/status) is read at frame 100 (after warm-up) and every 500
frames; the figure of merit is RSS at frame 10,000 vs frame 100 (target: within 5 %).
``--quick``: 600 frames.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl
import nodelib as nl


def run(n_frames: int, logdir: Path) -> dict[str, Any]:
    from blazepose_ros.msg import PoseKeypoints33Array
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from blazepose_ros.core.camera import intrinsics_from_fov
    from blazepose_ros.ros.image_conversion import rgb_to_image_msg

    frames = bl.video_frames()
    msgs = [rgb_to_image_msg(f, None, "rgb8") for f in frames]
    for m in msgs:
        m.header.frame_id = "camera_optical_frame"
    h, w = frames[0].shape[:2]
    bad_encoding = rgb_to_image_msg(frames[0], None, "rgb8")
    bad_encoding.encoding = "bogus"
    bad_short = rgb_to_image_msg(frames[0], None, "rgb8")
    bad_short.data = bad_short.data[: len(bad_short.data) // 3]
    info = CameraInfo(width=w, height=h, distortion_model="plumb_bob")
    info.header.frame_id = "camera_optical_frame"
    k = intrinsics_from_fov(w, h, 60.0)
    info.k = [float(v) for v in k.reshape(-1)]
    info.d = [0.0] * 5
    info.p = [k[0, 0], 0.0, k[0, 2], 0.0, 0.0, k[1, 1], k[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]

    ns = "/bench_soak"
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    node = nl.NodeProcess(ns, {"reliable": True, "no_image_warning": 0.0}, log=logdir / "pose_node.log",
                             new_session=True)
    ros = nl.Graph("soak_driver")
    answered: list[int] = []
    diags: list[dict[str, str]] = []
    ros.node.create_subscription(
        PoseKeypoints33Array, f"{ns}/pose_node/poses",
        lambda m: answered.append(m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec), reliable)
    ros.node.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: (v := nl.diag_values(m, ns)) and diags.append(v), reliable)
    image_pub = ros.node.create_publisher(Image, f"{ns}/image", reliable)
    info_pub = ros.node.create_publisher(CameraInfo, f"{ns}/camera_info", reliable)
    rss: list[tuple[int, float, float]] = []  # (frame, seconds since start, MiB)
    t_start = time.monotonic()
    try:
        ros.spin_until(lambda: image_pub.get_subscription_count() >= 1
                       and info_pub.get_subscription_count() >= 1
                       and ros.node.count_publishers(f"{ns}/pose_node/poses") >= 1, 60, "pose_node", node)
        info_pub.publish(info)
        ros.spin_for(0.3)
        rss.append((0, 0.0, node.rss_mib()))
        t_start = time.monotonic()
        stamp_base = 1000.0
        for i in range(1, n_frames + 1):
            t = stamp_base + ((i - 1) % 2000) / 30.0  # jumps back every 2,000 frames
            ns_stamp = round(t * 1e9)
            msg = msgs[(i - 1) % len(msgs)]
            msg.header.stamp = Time(sec=ns_stamp // 1_000_000_000, nanosec=ns_stamp % 1_000_000_000)
            n_answers = len(answered)
            image_pub.publish(msg)
            ros.spin_until(lambda n=n_answers: len(answered) > n, 30, f"the answer to frame {i}", node)
            if answered[-1] != ns_stamp:
                raise RuntimeError(f"frame {i}: answer for stamp {answered[-1]}, sent {ns_stamp}")
            if i % 100 == 0:
                bad = bad_encoding if (i // 100) % 2 else bad_short
                bad.header.stamp = msg.header.stamp
                image_pub.publish(bad)
                ros.spin_for(0.01)
            if i == 100 or i % 500 == 0 or i == n_frames:
                rss.append((i, time.monotonic() - t_start, node.rss_mib()))
        elapsed = time.monotonic() - t_start
        n_diag = len(diags)
        ros.spin_until(lambda: len(diags) >= n_diag + 2, 5, "the final diagnostics", node)
        final = diags[-1]
        alive = node.alive()
        code = node.stop()
    finally:
        node.stop()
        ros.close()
    at100 = next(r for f, _, r in rss if f == 100)
    end = rss[-1][2]
    return {"frames": n_frames, "elapsed_s": elapsed, "rate_hz": n_frames / elapsed,
            "rss_idle_mib": rss[0][2], "rss_at_100_mib": at100, "rss_end_mib": end,
            "rss_change_pct": (end - at100) / at100 * 100.0, "rss_max_mib": max(r for _, _, r in rss),
            "rss_curve": [(f, round(s, 1), round(r, 1)) for f, s, r in rss],
            "received": int(final["frames_received"]), "processed": int(final["frames_processed"]),
            "dropped": int(final["dropped_frames"]), "conversion_errors": int(final["conversion_errors"]),
            "processing_errors": int(final["processing_errors"]),
            "timestamp_resets": int(final["timestamp_resets"]), "detector_runs": int(final["detector_runs"]),
            "node_alive_at_end": alive, "node_exit_code": code}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="600 frames")
    ap.add_argument("--frames", type=int)
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    n = args.frames or (600 if args.quick else 10_000)
    if n < 100:
        ap.error("--frames must be >= 100 (RSS is compared from frame 100)")
    nl.private_domain()
    logdir = Path(tempfile.mkdtemp(prefix="bench_soak_"))
    r = run(n, logdir)
    print(bl.header(f"Soak: {n} frames (640x480 rgb8, lock-step) through pose_node"))
    print(bl.table(["frames", "seconds", "rate Hz", "received", "processed", "dropped", "conversion errors",
                    "processing errors", "timestamp resets", "detector runs", "RSS idle MiB",
                    "RSS @100 MiB", f"RSS @{n} MiB", "change %", "max MiB"],
                   [[r["frames"], r["elapsed_s"], r["rate_hz"], r["received"], r["processed"], r["dropped"],
                     r["conversion_errors"], r["processing_errors"], r["timestamp_resets"],
                     r["detector_runs"],
                     r["rss_idle_mib"], r["rss_at_100_mib"], r["rss_end_mib"], r["rss_change_pct"],
                     r["rss_max_mib"]]]))
    print("\nRSS curve (frame, s, MiB): " + ", ".join(f"{f}: {r_:.1f}" for f, _, r_ in r["rss_curve"]))
    print(f"node alive at the end: {r['node_alive_at_end']}, exit code after SIGINT {r['node_exit_code']}; "
          f"logs in {logdir}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=1))
    ok = r["node_alive_at_end"] and r["node_exit_code"] == 0 and abs(r["rss_change_pct"]) <= 5.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
