"""ros/depth_input.py in-process: stamp matching, checks and counters on a real rclpy node."""

from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from blazepose_ros.core.depth import DepthOptions  # noqa: E402
from blazepose_ros.ros.depth_input import DepthCounts, DepthInput, depth_diagnostics  # noqa: E402

pytestmark = pytest.mark.unit

FRAME = "cam_color_optical_frame"


def _header(ns: int, frame: str = FRAME) -> Header:
    return Header(stamp=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=frame)


def _depth(ns: int, w: int = 8, h: int = 6, encoding: str = "16UC1", frame: str = FRAME) -> Image:
    a = np.full((h, w), 1500, np.uint16)
    m = Image(height=h, width=w, encoding=encoding, step=w * 2)
    m.header = _header(ns, frame)
    m.data = a.tobytes()
    return m


@pytest.fixture
def depth_input():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("depth_input_test", context=ctx)
    try:
        yield DepthInput(node, QoSProfile(depth=4), 0.02, DepthOptions())
    finally:
        node.destroy_node()
        ctx.try_shutdown()


def test_matches_by_stamp_and_counts_each_problem(depth_input):
    d = depth_input
    assert d.status() == "no" and d.for_image(_header(1_000_000_000), 8, 6) is None
    assert d.counts() == DepthCounts()  # nothing received yet is not a mismatch
    d._on_depth(_depth(1_010_000_000))  # the subscription callback
    assert d.status() == "received, not used yet"
    got = d.for_image(_header(1_000_000_000), 8, 6)
    assert got is not None and got.stamp_dt_s == pytest.approx(0.01)
    np.testing.assert_allclose(got.depth.metres(), 1.5)
    assert d.status() == "yes"
    assert d.for_image(_header(1_100_000_000), 8, 6) is None  # 90 ms away
    assert d.for_image(_header(1_000_000_000), 16, 12) is None  # size
    d._on_depth(_depth(2_000_000_000, frame="cam_depth_optical_frame"))
    assert d.for_image(_header(2_000_000_000), 8, 6) is None  # frame
    d._on_depth(_depth(3_000_000_000, encoding="mono16"))
    assert d.for_image(_header(3_000_000_000), 8, 6) is None  # encoding
    assert d.status().startswith("ignored: depth encoding 'mono16' is not supported")
    c = d.counts()
    assert (c.received, c.used, c.stamp_mismatch, c.size_mismatch, c.frame_mismatch, c.bad_encoding) == (
        3, 1, 1, 1, 1, 1)
    assert c.problems == 4


def test_diagnostics_values_and_warning():
    before = DepthCounts(received=10, used=10)
    values, warning = depth_diagnostics(DepthCounts(received=12, used=12, measured_points=29), before, "yes")
    assert warning is None and values["depth"] == "yes" and values["depth_measured_points"] == "29"
    assert set(values) == {"depth", "depth_received", "depth_used", "depth_size_mismatch",
                           "depth_frame_mismatch", "depth_stamp_mismatch", "depth_bad_encoding",
                           "depth_measured_points"}
    now = DepthCounts(received=12, used=10, size_mismatch=2)
    values, warning = depth_diagnostics(now, before, "ignored: depth image is 4x3 but ...")
    assert values["depth_size_mismatch"] == "2"
    assert warning == ("2 frame(s) without usable depth since the last report "
                       "(ignored: depth image is 4x3 but ...)")
