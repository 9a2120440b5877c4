"""Page faults per received camera frame over DDS (helper process for test_malloc_tuning.py).

    python test/frame_fault_probe.py pub TOPIC N        # N 1280x720 rgb8 frames at 20 Hz
    python test/frame_fault_probe.py sub TOPIC N KEEP   # prints {"frames": .., "faults_per_frame": ..}

KEEP=1 calls keep_frame_memory() before subscribing. Faults are counted from the 5th frame
on, so start-up allocations do not count.
"""

from __future__ import annotations

import array
import json
import resource
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from blazepose_ros.ros.malloc_tuning import keep_frame_memory

W, H = 1280, 720


def main() -> int:
    role, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rclpy.init()
    node = rclpy.create_node(f"fault_probe_{role}")
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    if role == "pub":
        pub = node.create_publisher(Image, topic, qos)
        img = Image(height=H, width=W, encoding="rgb8", step=3 * W)
        img.data = array.array("B", np.random.default_rng(0).integers(0, 255, H * W * 3, np.uint8).tobytes())
        deadline = time.monotonic() + 15
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        time.sleep(0.5)
        for _ in range(n):
            pub.publish(img)
            time.sleep(0.05)
        time.sleep(1.0)
    else:
        if sys.argv[4] == "1" and keep_frame_memory() is not None:
            print(json.dumps({"error": "keep_frame_memory refused"}))
            return 1
        faults: list[int] = []
        node.create_subscription(
            Image, topic, lambda m: faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt), qos)
        deadline = time.monotonic() + 25
        while len(faults) < n and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        per = (faults[-1] - faults[4]) / (len(faults) - 5) if len(faults) > 6 else float("nan")
        print(json.dumps({"frames": len(faults), "faults_per_frame": per}))
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
