"""Deterministic, fully populated messages for DDS round-trip tests.

Run as a script to publish them: ``python test/msg_samples.py publish TOPIC``.
"""

from __future__ import annotations

import sys


def sample_pose_msg(seq: int = 7):
    from blazepose_ros.msg import Keypoint, PoseKeypoints33, PoseRoi
    from geometry_msgs.msg import Point

    m = PoseKeypoints33()
    m.header.stamp.sec = 1700000000 + seq
    m.header.stamp.nanosec = 123456789
    m.header.frame_id = "camera_optical_frame"
    m.id = 40 + seq
    m.score = 0.875
    m.keypoints = [Keypoint(x=10.5 + i, y=200.25 - i, z=-3.0 + 0.5 * i, visibility=i / 33.0,
                            presence=1.0 - i / 66.0) for i in range(33)]
    m.world_points = [Point(x=0.01 * i, y=-0.02 * i, z=0.003 * i) for i in range(33)]
    m.has_camera_points = True
    m.camera_points = [Point(x=0.1 * i, y=0.2, z=2.0 + 0.01 * i) for i in range(33)]
    m.camera_point_sources = [i % 3 for i in range(33)]
    m.roi = PoseRoi(x_center=320.0, y_center=240.5, width=300.0, height=300.0, rotation=-0.25)
    m.image_width = 640
    m.image_height = 480
    return m


def publish_forever(topic: str) -> None:
    import rclpy
    from blazepose_ros.msg import PoseKeypoints33
    from rclpy.executors import ExternalShutdownException

    rclpy.init()
    node = rclpy.create_node("sample_publisher")
    pub = node.create_publisher(PoseKeypoints33, topic, 10)
    msg = sample_pose_msg()
    node.create_timer(0.05, lambda: pub.publish(msg))
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "publish":
        publish_forever(sys.argv[2])
    else:
        sys.exit("usage: msg_samples.py publish TOPIC")
