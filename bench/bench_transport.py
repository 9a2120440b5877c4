#!/usr/bin/env python3
"""One image hop over DDS, glibc malloc defaults vs ``keep_frame_memory``, side by side.

    . scripts/env.sh && python bench/bench_transport.py [--quick] [--sizes 640x480 1280x720 1920x1080]

A publisher process sends a real rgb8 frame (zidane.jpg, resized) at 10 Hz, BEST_EFFORT
keep-last 1 like a camera, stamping it with the system clock just before ``publish``; a
subscriber process takes latency = callback time - stamp and counts the minor page faults
per frame. Both processes run with the same malloc setting; both settings run in the same
invocation, one after the other. This is the transport part of ``bench_ros.py``'s ROS overhead.
"""

from __future__ import annotations

import argparse
import array
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl

FRAMES = 120
RATE_HZ = 10.0


def role_pub(size: tuple[int, int], keep: bool) -> None:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from blazepose_ros.ros.malloc_tuning import keep_frame_memory

    if keep:
        keep_frame_memory()
    rclpy.init()
    node = rclpy.create_node("bench_transport_pub")
    pub = node.create_publisher(Image, "bench_transport/image", qos_profile_sensor_data)
    w, h = size
    img = Image(height=h, width=w, encoding="rgb8", step=3 * w)
    img.data = array.array("B", cv2.resize(bl.photo("zidane.jpg"), size).tobytes())
    while pub.get_subscription_count() == 0:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(1.0)
    calls = []
    for _ in range(FRAMES):
        t = time.time_ns()
        img.header.stamp.sec, img.header.stamp.nanosec = divmod(t, 1_000_000_000)
        pub.publish(img)
        calls.append((time.time_ns() - t) * 1e-9)
        time.sleep(1.0 / RATE_HZ)
    print(json.dumps({"publish_ms": bl.ms(calls[10:])}))
    rclpy.shutdown()


def role_sub(keep: bool) -> None:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from blazepose_ros.ros.malloc_tuning import keep_frame_memory

    if keep:
        keep_frame_memory()
    rclpy.init()
    node = rclpy.create_node("bench_transport_sub")
    lat: list[float] = []
    faults: list[int] = []

    def on_image(msg: Image) -> None:
        now = time.time_ns()
        lat.append((now - msg.header.stamp.sec * 1_000_000_000 - msg.header.stamp.nanosec) * 1e-9)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)

    node.create_subscription(Image, "bench_transport/image", on_image, qos_profile_sensor_data)
    deadline = time.monotonic() + FRAMES / RATE_HZ + 20
    while len(lat) < FRAMES - 5 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    n = len(faults)
    print(json.dumps({"frames": n, "p50": bl.ms(lat[10:], 50), "p90": bl.ms(lat[10:], 90),
                      "faults": (faults[-1] - faults[10]) / (n - 11) if n > 12 else float("nan")}))
    rclpy.shutdown()


def hop(size: str, keep: bool) -> dict[str, float]:
    me = [sys.executable, __file__]
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    sub = subprocess.Popen([*me, "--role", "sub", "--keep", str(int(keep))], env=env, stdout=subprocess.PIPE,
                           text=True)
    pub = subprocess.run([*me, "--role", "pub", "--keep", str(int(keep)), "--sizes", size], env=env,
                         capture_output=True, text=True, check=True)
    out, _ = sub.communicate(timeout=60)
    return {**json.loads(out.strip().splitlines()[-1]), **json.loads(pub.stdout.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["640x480", "1280x720", "1920x1080"])
    ap.add_argument("--quick", action="store_true", help="1280x720 only")
    ap.add_argument("--role", choices=["pub", "sub"], help=argparse.SUPPRESS)
    ap.add_argument("--keep", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.role == "pub":
        role_pub(tuple(int(v) for v in args.sizes[0].split("x")), bool(args.keep))
        return 0
    if args.role == "sub":
        role_sub(bool(args.keep))
        return 0
    rows = []
    for s in ["1280x720"] if args.quick else args.sizes:
        w, h = (int(v) for v in s.split("x"))
        pages = w * h * 3 / 4096
        res = {keep: hop(s, keep) for keep in (False, True)}
        for keep in (False, True):
            r = res[keep]
            rows.append([s, "keep_frame_memory" if keep else "glibc defaults", r["frames"], r["publish_ms"],
                         r["p50"], r["p90"], r["faults"], r["faults"] / pages])
        rows.append([s, "ratio defaults / keep", "", res[False]["publish_ms"] / res[True]["publish_ms"],
                     res[False]["p50"] / res[True]["p50"], res[False]["p90"] / res[True]["p90"], "", ""])
    print(bl.header("One image hop over DDS (publisher process -> subscriber process), malloc side by side"))
    print(bl.table(["size", "malloc", "frames", "publish() ms", "stamp -> callback p50 ms", "p90 ms",
                    "minor faults per frame (subscriber)", "per page of the frame"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
