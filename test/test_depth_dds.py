"""pose_node with use_depth over real DDS: a depth image of a known scene beside real colour frames.

The colour frame is test/data/bus.jpg; the depth image is the scene of test/depth_scene.py (the
person on a plane at 2.4 m, turned 20 degrees, a wall at 6 m, noise, flying pixels, holes,
NaN/inf), sent as 16UC1 and 32FC1 on 'depth' beside the colour image and its CameraInfo. The node
runs as a separate process; every wait is bounded by a condition, never by a fixed sleep.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from blazepose_ros.msg import PoseKeypoints33, PoseKeypoints33Array  # noqa: E402
from depth_scene import make_scene  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseArray, PoseStamped  # noqa: E402
from node_harness import (  # noqa: E402
    RELIABLE,
    Graph,
    NodeProcess,
    camera_info_msg,
    diag_values,
    image_msg,
    stamp_ns,
    stamp_of,
)
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from blazepose_ros.ros.people import person_position  # noqa: E402

pytestmark = [pytest.mark.dds, pytest.mark.slow]

FRAME = "camera_color_optical_frame"
DEPTH = PoseKeypoints33.CAMERA_POINT_DEPTH


def depth_msg(array: np.ndarray, encoding: str, seconds: float, frame_id: str = FRAME) -> Image:
    m = Image(height=array.shape[0], width=array.shape[1], encoding=encoding, is_bigendian=0,
              step=array.strides[0])
    m.header = Header(stamp=stamp_of(seconds), frame_id=frame_id)
    m.data = array.tobytes()
    return m


def latest(diags: list[tuple[float, Any]], ns: str) -> dict[str, Any] | None:
    for _, m in reversed(diags):
        v = diag_values(m, ns)
        if v is not None:
            return v
    return None


def points(msg: PoseKeypoints33) -> np.ndarray:
    return np.array([(p.x, p.y, p.z) for p in msg.camera_points])


def test_depth_over_dds(graph: Graph, start_node) -> None:
    scene = make_scene()
    h, w = scene.rgb.shape[:2]
    node: NodeProcess = start_node("/t_depth", params={"reliable": True, "use_depth": True,
                                                       "frame_id": FRAME, "depth_tolerance": 0.02})
    image_pub = graph.node.create_publisher(Image, node.topic("image"), RELIABLE)
    info_pub = graph.node.create_publisher(CameraInfo, node.topic("camera_info"), RELIABLE)
    depth_pub = graph.node.create_publisher(Image, node.topic("depth"), RELIABLE)
    poses = graph.subscribe(PoseKeypoints33Array, node.topic("pose_node/poses"))
    people = graph.subscribe(PoseArray, node.topic("pose_node/people"))
    person = graph.subscribe(PoseStamped, node.topic("pose_node/person"))
    diags = graph.subscribe(DiagnosticArray, "/diagnostics")
    graph.wait_connected(image_pub, node, [node.topic("pose_node/poses"), node.topic("pose_node/people"),
                                           node.topic("pose_node/person")])
    graph.spin_until(lambda: info_pub.get_subscription_count() >= 1
                     and depth_pub.get_subscription_count() >= 1, 10, "camera_info and depth subscriptions",
                     node)
    info = camera_info_msg(w, h, 1.0)
    info.header.frame_id = FRAME
    np.testing.assert_allclose(np.asarray(info.k).reshape(3, 3), scene.k)
    info_pub.publish(info)
    graph.spin_until(lambda: (d := latest(diags, node.ns)) is not None and d["camera_info"] == "yes",
                     10, "the node to hold the CameraInfo", node)

    sent_depth = 0
    t = [10.0]

    def frame(depth: Image | None, image_frame_id: str = "") -> PoseKeypoints33Array:
        """Send a depth image (waiting until the node has it), then the colour image; its result."""
        nonlocal sent_depth
        t[0] += 1.0
        if depth is not None:
            depth_pub.publish(depth)
            sent_depth += 1
            graph.spin_until(lambda: (d := latest(diags, node.ns)) is not None
                             and int(d["depth_received"]) >= sent_depth, 10, "the node to receive the depth",
                             node)
        image_pub.publish(image_msg(scene.rgb, t[0], frame_id=image_frame_id))
        want = round(t[0] * 1e9)
        graph.spin_until(lambda: any(stamp_ns(m.header.stamp) == want for _, m in poses), 20,
                         f"poses of the frame stamped {t[0]}", node)
        return next(m for _, m in poses if stamp_ns(m.header.stamp) == want)

    # -- 16UC1 and 32FC1: measured points within 2 cm of the truth -------------------------
    for encoding in ("16UC1", "32FC1"):
        got = frame(depth_msg(scene.depth_image(encoding), encoding, t[0] + 1.0 + 0.005))
        assert got.header.frame_id == FRAME  # the empty image frame_id was replaced
        assert len(got.poses) == 1 and got.poses[0].has_camera_points
        p = got.poses[0]
        src = np.asarray(p.camera_point_sources)
        kp = np.array([(k.x, k.y) for k in p.keypoints], np.float64)
        rays = scene.rays(kp)
        truth = rays * scene.plane_z(rays)[:, None]
        err = np.linalg.norm(points(p) - truth, axis=1)
        measured = src == DEPTH
        assert measured.sum() >= 25, (encoding, src)
        assert err[measured].max() < 0.02, (encoding, err[measured])
        assert set(np.unique(src)) <= {PoseKeypoints33.CAMERA_POINT_PNP, DEPTH}
        # ~/people and ~/person: the hip centre and body frame of this person, in the image frame
        graph.spin_until(lambda s=p.header.stamp: any(m.header.stamp == s for _, m in people), 10, "~/people",
                         node)
        arr = next(m for _, m in people if m.header.stamp == p.header.stamp)
        assert arr.header.frame_id == FRAME and len(arr.poses) == 1
        pos = person_position(p)
        assert pos.from_depth
        at = arr.poses[0].position
        np.testing.assert_allclose([at.x, at.y, at.z], pos.position, atol=1e-6)
        q = arr.poses[0].orientation
        assert np.linalg.norm([q.x, q.y, q.z, q.w]) == pytest.approx(1.0, abs=1e-6)
        assert abs(pos.position[2] - scene.distance) < 0.1
        graph.spin_until(lambda s=p.header.stamp: any(m.header.stamp == s for _, m in person), 10, "~/person",
                         node)

    graph.spin_until(lambda: int(latest(diags, node.ns)["depth_used"]) >= 2, 10, "depth_used counting", node)
    assert latest(diags, node.ns)["depth"] == "yes"
    err_text = node.stderr()
    assert "images have an empty frame_id: using frame_id 'camera_color_optical_frame'" in err_text
    assert err_text.count("images have an empty frame_id") == 1
    assert "tf2_ros is not importable" in err_text  # this machine's wheels have no tf2

    # -- mismatches: warned, counted, the frame falls back to PnP ---------------------------
    good = scene.depth_image("16UC1")
    cases = [
        ("size", "depth_size_mismatch", depth_msg(good[::2, ::2].copy(), "16UC1", t[0] + 1.0),
         "depth not used: depth image is 405x540 but the colour image is 810x1080"),
        ("frame", "depth_frame_mismatch", depth_msg(good, "16UC1", t[0] + 2.0, "camera_depth_optical_frame"),
         "depth not used: depth image is in frame 'camera_depth_optical_frame' but the colour image in "
         "'camera_color_optical_frame'"),
        ("stamp", "depth_stamp_mismatch", depth_msg(good, "16UC1", t[0] + 3.0 - 0.5),
         "depth not used: no depth image within 0.02 s of the colour image (the nearest is 0.500 s "
         "before it)"),
        ("encoding", "depth_bad_encoding", depth_msg(good.view(np.uint8).reshape(h, w * 2)[:, :w].copy(),
                                                       "mono8", t[0] + 4.0),
         "depth not used: depth encoding 'mono8' is not supported: a depth image is 16UC1"),
    ]
    for kind, counter, msg, warning in cases:
        before = int(latest(diags, node.ns)[counter])
        got = frame(msg)
        assert got.poses and got.poses[0].has_camera_points, kind
        assert not (np.asarray(got.poses[0].camera_point_sources) == DEPTH).any(), kind  # PnP only
        graph.spin_until(lambda c=counter, b=before: int(latest(diags, node.ns)[c]) > b, 10,
                         f"diagnostics counting the {kind} mismatch", node)
        graph.spin_until(lambda s=warning: s in node.stderr(), 5, f"the {kind} warning", node)
    # the level said so while it happened
    assert any((v := diag_values(m, node.ns)) is not None and v["_level"] == 1
               and "without usable depth" in v["_message"] for _, m in diags)
    assert latest(diags, node.ns)["depth"].startswith("ignored: depth encoding 'mono8'")

    # -- a good depth image again: measured again -------------------------------------------
    got = frame(depth_msg(good, "16UC1", t[0] + 1.0))
    assert (np.asarray(got.poses[0].camera_point_sources) == DEPTH).sum() >= 25

    # -- depth_tolerance changes at run time: 0.5 s apart is now close enough -------------------
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.msg import ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    client = graph.node.create_client(SetParameters, node.topic("pose_node/set_parameters"))
    value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=1.0)
    request = SetParameters.Request(parameters=[ParameterMsg(name="depth_tolerance", value=value)])
    result = graph.call(client, request)
    assert result.results[0].successful
    got = frame(depth_msg(good, "16UC1", t[0] + 1.0 - 0.5))
    assert (np.asarray(got.poses[0].camera_point_sources) == DEPTH).sum() >= 25
    node.assert_running()
    assert "Traceback" not in node.stderr()


def test_tf_frames_where_tf2_is_importable(graph: Graph, start_node) -> None:
    """With tf2_ros (any ROS 2 install; not this repository's PyPI wheels) each person is a TF frame."""
    pytest.importorskip("tf2_ros")
    from tf2_msgs.msg import TFMessage

    scene = make_scene()
    h, w = scene.rgb.shape[:2]
    node: NodeProcess = start_node("/t_tf", params={"reliable": True})
    image_pub = graph.node.create_publisher(Image, node.topic("image"), RELIABLE)
    info_pub = graph.node.create_publisher(CameraInfo, node.topic("camera_info"), RELIABLE)
    tf = graph.subscribe(TFMessage, "/tf")
    poses = graph.subscribe(PoseKeypoints33Array, node.topic("pose_node/poses"))
    graph.wait_connected(image_pub, node, [node.topic("pose_node/poses"), "/tf"])
    graph.spin_until(lambda: info_pub.get_subscription_count() >= 1, 10, "camera_info subscription", node)
    info_pub.publish(camera_info_msg(w, h, 1.0))
    stamp = [5.0]

    def tf_of_person() -> bool:
        stamp[0] += 0.1
        image_pub.publish(image_msg(scene.rgb, stamp[0], frame_id=FRAME))
        graph.spin_for(0.3)
        ids = {p.id for _, m in poses for p in m.poses if p.has_camera_points}
        return any(t.child_frame_id in {f"body_{i}" for i in ids} and t.header.frame_id == FRAME
                   for _, m in tf for t in m.transforms)

    graph.spin_until(tf_of_person, 30, "a body_<id> TF frame under the image frame", node)


def test_camera_info_diagnostics_tell_the_truth(graph: Graph, start_node) -> None:
    """camera_info is 'yes' only when usable; each distinct problem is logged once, in plain words."""
    scene = make_scene()
    h, w = scene.rgb.shape[:2]
    node: NodeProcess = start_node("/t_info", params={"reliable": True})
    image_pub = graph.node.create_publisher(Image, node.topic("image"), RELIABLE)
    info_pub = graph.node.create_publisher(CameraInfo, node.topic("camera_info"), RELIABLE)
    poses = graph.subscribe(PoseKeypoints33Array, node.topic("pose_node/poses"))
    diags = graph.subscribe(DiagnosticArray, "/diagnostics")
    graph.wait_connected(image_pub, node, [node.topic("pose_node/poses")])
    graph.spin_until(lambda: info_pub.get_subscription_count() >= 1, 10, "camera_info subscription", node)

    def diag_says(prefix: str) -> None:
        graph.spin_until(lambda: (d := latest(diags, node.ns)) is not None
                         and d["camera_info"].startswith(prefix), 10, f"camera_info: {prefix}", node)

    nan_fx = camera_info_msg(w, h, 1.0)
    nan_fx.k = [float("nan"), *nan_fx.k[1:]]
    for _ in range(3):  # the same problem again and again: logged once
        info_pub.publish(nan_fx)
    diag_says("ignored: its K matrix has non-finite values ([nan, 0, 404.5")  # before any image
    stamp = [3.0]

    def one_frame() -> PoseKeypoints33Array:
        stamp[0] += 0.1
        image_pub.publish(image_msg(scene.rgb, stamp[0], frame_id=FRAME))
        want = round(stamp[0] * 1e9)
        graph.spin_until(lambda: any(stamp_ns(m.header.stamp) == want for _, m in poses), 20, "poses", node)
        return next(m for _, m in poses if stamp_ns(m.header.stamp) == want)

    assert not one_frame().poses[0].has_camera_points
    info_pub.publish(camera_info_msg(640, 480, 2.0))  # another stream's camera_info
    diag_says("ignored: it is for 640x480 images but the images are 810x1080")
    assert not one_frame().poses[0].has_camera_points
    info_pub.publish(camera_info_msg(w, h, 2.0))
    diag_says("yes")
    assert one_frame().poses[0].has_camera_points
    err = node.stderr()
    assert err.count("ignoring camera_info: its K matrix has non-finite values") == 1, err
    assert err.count("ignoring camera_info: it is for 640x480 images but the images are 810x1080") == 1, err
    assert "got shape (3, 3)" not in err
