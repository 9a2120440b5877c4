"""pose_node with model_complexity 0 (lite) and 2 (heavy), as fetched by scripts/setup.sh.

A real node process over real DDS: bus.jpg in, a pose of the man out, and the diagnostics
name the model that runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from blazepose_ros.msg import PoseKeypoints33Array  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from node_harness import (  # noqa: E402
    RELIABLE,
    Graph,
    NodeProcess,
    assert_clean_exit,
    diag_values,
    image_msg,
    image_rgb,
    keypoint_array,
)
from sensor_msgs.msg import Image  # noqa: E402

pytestmark = [pytest.mark.dds, pytest.mark.timeout(120)]


@pytest.mark.usefixtures("data_dir")
@pytest.mark.parametrize("complexity,name", [(0, "lite"), (2, "heavy")])
def test_node_runs_the_lite_and_heavy_models(complexity: int, name: str, graph: Graph,
                                             start_node: Callable[..., NodeProcess]) -> None:
    node = start_node(f"/t_model{complexity}", params={"model_complexity": complexity, "reliable": True})
    image_pub = graph.node.create_publisher(Image, node.topic("image"), RELIABLE)
    poses = graph.subscribe(PoseKeypoints33Array, node.topic("pose_node/poses"))
    diags = graph.subscribe(DiagnosticArray, "/diagnostics")
    graph.wait_connected(image_pub, node, [node.topic("pose_node/poses")])
    image_pub.publish(image_msg(image_rgb("bus.jpg"), 1.0))
    graph.spin_until(lambda: any(m.poses for _, m in poses), 30, f"a pose from the {name} model", node)
    msg = next(m for _, m in poses if m.poses)
    kp = keypoint_array(msg.poses[0])
    assert kp.shape == (33, 5) and np.isfinite(kp).all()
    # the man on the left of bus.jpg (810x1080): nose above hips above ankles, inside his region
    assert kp[0, 1] < kp[23, 1] < kp[27, 1] and (kp[:, 0] < 340).all()
    graph.spin_until(lambda: any((v := diag_values(m, node.ns)) is not None and name in v.get("model", "")
                                 for _, m in diags), 10, f"diagnostics naming the {name} model", node)
    assert_clean_exit(node)
