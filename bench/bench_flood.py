#!/usr/bin/env python3
"""Flood: 1920x1080 rgb8 frames at 100 Hz for 60 s into a running pose_node, over real DDS.

    . scripts/env.sh && python bench/bench_flood.py [--quick] [--rate 100] [--seconds 60]
                                                    [--size 1920x1080] [--json out.json]

Three processes: ``pose_node`` (defaults, best-effort sensor QoS, keep last 1), a publisher
(this script with ``--publisher``: 30 real frames of sample_people.mp4 scaled to the size,
packed into ``sensor_msgs/Image`` once before the clock starts, then published on a fixed
100 Hz schedule, stamped with the wall clock at publish time; when it falls behind it skips
the missed ticks instead of bursting) and this process (subscribes to ``~/poses`` and
``/diagnostics``, reads the node's VmRSS from /proc every second).

Reported: frames published (and the publisher's achieved rate), received by the node,
processed, dropped (replaced by a newer frame in the node), lost in transport (as Fast DDS
reports it), end-to-end latency (arrival of ``~/poses`` - image stamp) p50/p95/max per 10 s
window (first vs last window: no backlog growth), and the node's RSS at start and end.
``--quick``: 12 s in 3 s windows. The node and the publisher share the machine's cores with
this process (and whatever else runs): read the figures with the load average printed.
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


def publisher(topic: str, rate: float, seconds: float, size: tuple[int, int], out: Path) -> int:
    """The publisher process: pre-built messages, a fixed schedule, counts to ``out`` (JSON)."""
    import cv2
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from blazepose_ros.ros.image_conversion import rgb_to_image_msg

    frames = [cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in bl.video_frames(limit=30)]
    msgs = [rgb_to_image_msg(f, None, "rgb8") for f in frames]
    for m in msgs:
        m.header.frame_id = "camera_optical_frame"
    ros = nl.Graph("flood_publisher")
    pub = ros.node.create_publisher(Image, topic, qos_profile_sensor_data)
    try:
        ros.spin_until(lambda: pub.get_subscription_count() >= 1, 60, "pose_node's subscription")
        ros.spin_for(0.5)
        period = 1.0 / rate
        sent, skipped, publish_s = 0, 0, []
        t0_wall = time.time()
        t0 = t_next = time.monotonic()
        while time.monotonic() - t0 < seconds:
            now = time.monotonic()
            if now < t_next:
                time.sleep(min(t_next - now, 0.005))
                continue
            if now - t_next > period:  # behind: skip the missed ticks rather than burst
                missed = int((now - t_next) / period)
                skipped += missed
                t_next += missed * period
            msg = msgs[sent % len(msgs)]
            ns = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, 1_000_000_000)
            p0 = time.perf_counter()
            pub.publish(msg)
            publish_s.append(time.perf_counter() - p0)
            sent += 1
            t_next += period
        elapsed = time.monotonic() - t0
        ros.spin_for(0.5)
    finally:
        ros.close()
    out.write_text(json.dumps({"sent": sent, "skipped_ticks": skipped, "t0_wall": t0_wall,
                               "elapsed_s": elapsed, "rate_hz": sent / elapsed,
                               "publish_ms_p50": bl.ms(publish_s, 50),
                               "publish_ms_max": bl.ms(publish_s, 100),
                               "bytes_per_frame": len(msgs[0].data)}))
    return 0


def run(rate: float, seconds: float, size: tuple[int, int], window: float, logdir: Path) -> dict[str, Any]:
    import subprocess

    from blazepose_ros.msg import PoseKeypoints33Array
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile

    ns = "/bench_flood"
    node = nl.NodeProcess(ns, {"use_camera_info": False, "no_image_warning": 0.0},
                          log=logdir / "pose_node.log", new_session=True)
    ros = nl.Graph("flood_observer")
    outputs: list[tuple[float, int]] = []  # (arrival wall time, stamp ns)
    diags: list[tuple[float, dict[str, str]]] = []
    rss: list[tuple[float, float]] = []

    def on_poses(m: Any) -> None:
        outputs.append((time.time(), m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec))

    def on_diag(m: Any) -> None:
        if (v := nl.diag_values(m, ns)) is not None:
            diags.append((time.time(), v))

    ros.node.create_subscription(PoseKeypoints33Array, f"{ns}/pose_node/poses", on_poses,
                                 QoSProfile(depth=100))
    ros.node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, QoSProfile(depth=10))
    pub_json = logdir / "publisher.json"
    pub = None
    try:
        ros.spin_until(lambda: ros.node.count_publishers(f"{ns}/pose_node/poses") >= 1, 60,
                       "pose_node to start", node)
        ros.spin_until(lambda: bool(diags), 10, "the first diagnostics", node)
        rss_start = node.rss_mib()
        pub = subprocess.Popen([sys.executable, __file__, "--publisher", "--topic", f"{ns}/image",
                                "--rate", str(rate), "--seconds", str(seconds),
                                "--size", f"{size[0]}x{size[1]}", "--publisher-out", str(pub_json)],
                               stdout=(logdir / "publisher.log").open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + seconds + 120
        next_rss = 0.0
        while pub.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the publisher did not finish")
            if not node.alive():
                raise RuntimeError(f"pose_node exited with {node.proc.returncode}; see {node.log}")
            if time.monotonic() >= next_rss:
                rss.append((time.time(), node.rss_mib()))
                next_rss = time.monotonic() + 1.0
            ros.executor.spin_once(timeout_sec=0.01)
        t_pub_end = time.time()
        ros.spin_for(2.5)  # the last results and two more diagnostics
        rss.append((time.time(), node.rss_mib()))
        final = diags[-1][1]
        alive = node.alive()
        code = node.stop()
    finally:
        if pub is not None and pub.poll() is None:
            pub.kill()
            pub.wait()
        node.stop()
        ros.close()
    if pub.returncode != 0 or not pub_json.exists():
        raise RuntimeError(f"publisher failed ({pub.returncode}); see {logdir / 'publisher.log'}")
    p = json.loads(pub_json.read_text())
    t0 = p["t0_wall"]
    windows = []
    n_win = max(1, round(p["elapsed_s"] / window))
    for i in range(n_win):
        lat = [t_rx - s * 1e-9 for t_rx, s in outputs if t0 + i * window <= s * 1e-9 < t0 + (i + 1) * window]
        windows.append({"window": f"{i * window:g}-{(i + 1) * window:g} s", "results": len(lat),
                        "rate_hz": len(lat) / window, "p50_ms": nl.percentile_ms(lat, 50),
                        "p95_ms": nl.percentile_ms(lat, 95), "max_ms": nl.percentile_ms(lat, 100)})
    lat_all = [t_rx - s * 1e-9 for t_rx, s in outputs if s * 1e-9 >= t0]
    return {
        "size": f"{size[0]}x{size[1]}", "rate_target_hz": rate, "seconds": seconds,
        "published": p["sent"], "publisher_rate_hz": p["rate_hz"],
        "publisher_skipped_ticks": p["skipped_ticks"],
        "publish_call_ms_p50": p["publish_ms_p50"], "bytes_per_frame": p["bytes_per_frame"],
        "received": int(final["frames_received"]), "processed": int(final["frames_processed"]),
        "dropped": int(final["dropped_frames"]), "lost_in_transport": int(final["lost_in_transport"]),
        "conversion_errors": int(final["conversion_errors"]),
        "processing_errors": int(final["processing_errors"]),
        "results_received_here": len(lat_all), "processing_time_ms_last": final["processing_time_ms"],
        "latency_p50_ms": nl.percentile_ms(lat_all, 50), "latency_p95_ms": nl.percentile_ms(lat_all, 95),
        "latency_max_ms": nl.percentile_ms(lat_all, 100), "windows": windows,
        "not_taken_by_node": p["sent"] - int(final["frames_received"]) - int(final["lost_in_transport"]),
        "rss_start_mib": rss_start, "rss_end_mib": rss[-1][1],
        "rss_after_first_window_mib": next((r for t, r in rss if t >= t0 + window), float("nan")),
        "rss_max_mib": max(r for _, r in rss), "rss_samples": len(rss),
        "node_alive_at_end": alive, "node_exit_code": code,
        "publisher_end_to_last_result_s": (max(t for t, _ in outputs) - t_pub_end) if outputs else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="12 s, 3 s windows")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--window", type=float, help="latency window in seconds (default 10, quick 3)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--publisher", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--topic", help=argparse.SUPPRESS)
    ap.add_argument("--publisher-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    seconds = args.seconds or (12.0 if args.quick else 60.0)
    if args.publisher:
        return publisher(args.topic, args.rate, seconds, size, args.publisher_out)
    window = args.window or (3.0 if args.quick else 10.0)
    nl.private_domain()
    logdir = Path(tempfile.mkdtemp(prefix="bench_flood_"))
    r = run(args.rate, seconds, size, window, logdir)
    print(bl.header(f"Flood: {r['size']} rgb8 at {args.rate:g} Hz for {seconds:g} s into pose_node"))
    print(bl.table(["published", "publisher Hz", "received by node", "processed", "dropped (newer frame)",
                    "lost in transport", "replaced in the DDS reader (keep last 1)", "errors",
                    "latency p50 ms", "p95 ms", "max ms", "node RSS idle MiB", f"after {window:g} s MiB",
                    "end MiB", "max MiB"],
                   [[r["published"], r["publisher_rate_hz"], r["received"], r["processed"], r["dropped"],
                     r["lost_in_transport"], r["not_taken_by_node"],
                     r["conversion_errors"] + r["processing_errors"],
                     r["latency_p50_ms"], r["latency_p95_ms"], r["latency_max_ms"], r["rss_start_mib"],
                     r["rss_after_first_window_mib"], r["rss_end_mib"], r["rss_max_mib"]]]))
    print()
    print(bl.table(["window", "results", "results Hz", "latency p50 ms", "p95 ms", "max ms"],
                   [[w["window"], w["results"], w["rate_hz"], w["p50_ms"], w["p95_ms"], w["max_ms"]]
                    for w in r["windows"]]))
    print(f"\nnode alive at the end: {r['node_alive_at_end']}, exit code after SIGINT {r['node_exit_code']}; "
          f"publish() call p50 {r['publish_call_ms_p50']:.2f} ms for {r['bytes_per_frame']} B; "
          f"publisher skipped {r['publisher_skipped_ticks']} ticks; logs in {logdir}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=1))
    ok = r["node_alive_at_end"] and r["node_exit_code"] == 0 and r["processed"] > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
