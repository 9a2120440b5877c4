"""pose_node with num_poses > 1 over real DDS, fed a real two-person clip (sports2d_demo.mp4).

The node's ~/poses must carry exactly what the core multi-person tracker gives on the same
frames and stamps (ids and keypoints), markers get a namespace per person, and the
diagnostics count the people, the id births and deaths.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from blazepose_ros.msg import PoseKeypoints33Array  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from node_harness import (  # noqa: E402
    RELIABLE,
    Graph,
    NodeProcess,
    diag_values,
    image_msg,
    keypoint_array,
    stamp_ns,
)
from sensor_msgs.msg import Image  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

pytestmark = [pytest.mark.dds, pytest.mark.slow, pytest.mark.timeout(400)]

FIRST, LAST = 30, 75  # the man alone, then the woman walks in from the right (enters ~34-52)
SCALE = 0.5  # 884x497: ~1.3 MB rgb8 frames, the people still 100-220 px tall


def _clip(data_dir) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(data_dir / "sports2d_demo.mp4"))
    out = []
    i = 0
    while i <= LAST:
        ok, f = cap.read()
        assert ok
        if i >= FIRST:
            out.append(cv2.cvtColor(cv2.resize(f, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA),
                                    cv2.COLOR_BGR2RGB))
        i += 1
    return out


def test_node_tracks_several_people_with_ids_like_the_core(graph: Graph, data_dir,
                                                           start_node: Callable[..., NodeProcess]) -> None:
    from blazepose_ros.core import PoseTracker

    node = start_node("/t_multi", params={"reliable": True, "num_poses": 3, "small_person_tiles": "auto",
                                          "use_camera_info": False})
    frames = _clip(data_dir)
    stamps = [500.0 + i / 30.0 for i in range(len(frames))]
    image_pub = graph.node.create_publisher(Image, node.topic("image"), RELIABLE)
    poses = graph.subscribe(PoseKeypoints33Array, node.topic("pose_node/poses"))
    markers = graph.subscribe(MarkerArray, node.topic("pose_node/markers"))
    diags = graph.subscribe(DiagnosticArray, "/diagnostics")
    graph.wait_connected(image_pub, node, [node.topic("pose_node/poses"), node.topic("pose_node/markers")])
    for stamp, rgb in zip(stamps, frames, strict=True):  # lock-step: every frame processed
        image_pub.publish(image_msg(rgb, stamp))
        graph.spin_until(lambda s=stamp: any(stamp_ns(m.header.stamp) == round(s * 1e9) for _, m in poses),
                         30, f"poses for the frame stamped {stamp}", node)
    graph.spin_for(0.3)

    core = PoseTracker(num_poses=3, small_person_tiles=(0, 0))
    by_stamp = {stamp_ns(m.header.stamp): m for _, m in poses}
    ids_seen: set[int] = set()
    for stamp, rgb in zip(stamps, frames, strict=True):
        want = core.process(rgb, round(stamp * 1e9) * 1e-9)
        got = by_stamp[round(stamp * 1e9)].poses
        assert [p.id for p in got] == [p.id for p in want]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(keypoint_array(g)[:, :2], w.keypoints[:, :2], atol=1e-3)
        ids_seen |= {p.id for p in got}
    assert len(by_stamp[round(stamps[0] * 1e9)].poses) == 1  # the man alone
    last = by_stamp[round(stamps[-1] * 1e9)].poses
    assert len(last) == 2 and len({p.id for p in last}) == 2  # the woman came in with a new id
    assert ids_seen == {p.id for p in last}  # nobody else, no id changes

    namespaces = {m.ns for _, arr in markers for m in arr.markers}
    assert all(any(ns.endswith(f"_{pid}") for ns in namespaces) for pid in ids_seen), namespaces

    def counted() -> bool:
        return any((v := diag_values(m, node.ns)) is not None and v.get("people") == "2"
                   and v.get("id_births") == str(core.births) and v.get("id_deaths") == str(core.deaths)
                   and v.get("num_poses") == "3" for _, m in diags)

    graph.spin_until(counted, 10, "diagnostics counting 2 people and the id births/deaths", node)
    assert core.births == 2 and core.deaths == 0


def test_people_leaving_delete_their_markers_and_count_as_deaths(
        graph: Graph, data_dir, start_node: Callable[..., NodeProcess]) -> None:
    """The end of the clip: the woman leaves through the left edge (~204) while the man stays,
    then blank frames: her markers get a DELETE, then one DELETEALL; with max_occlusion 0.3 s
    both ids end and the diagnostics count the deaths."""
    from visualization_msgs.msg import Marker

    node = start_node("/t_multi_leave", params={"reliable": True, "num_poses": 3, "use_camera_info": False,
                                                "small_person_tiles": "auto", "max_occlusion": 0.3})
    cap = cv2.VideoCapture(str(data_dir / "sports2d_demo.mp4"))
    frames = []
    for i in range(216):
        ok, f = cap.read()
        assert ok
        if i >= 190:  # the man has landed from his somersault
            frames.append(cv2.cvtColor(cv2.resize(f, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA),
                                       cv2.COLOR_BGR2RGB))
    frames += [np.zeros_like(frames[0])] * 15  # nobody: 0.5 s
    stamps = [700.0 + i / 30.0 for i in range(len(frames))]
    image_pub = graph.node.create_publisher(Image, node.topic("image"), RELIABLE)
    poses = graph.subscribe(PoseKeypoints33Array, node.topic("pose_node/poses"))
    markers = graph.subscribe(MarkerArray, node.topic("pose_node/markers"))
    diags = graph.subscribe(DiagnosticArray, "/diagnostics")
    graph.wait_connected(image_pub, node, [node.topic("pose_node/poses"), node.topic("pose_node/markers")])
    for stamp, rgb in zip(stamps, frames, strict=True):
        image_pub.publish(image_msg(rgb, stamp))
        graph.spin_until(lambda s=stamp: any(stamp_ns(m.header.stamp) == round(s * 1e9) for _, m in poses),
                         30, f"poses for the frame stamped {stamp}", node)
    graph.spin_for(0.3)

    by_stamp = {stamp_ns(m.header.stamp): [p.id for p in m.poses] for _, m in poses}
    during = [by_stamp[round(s * 1e9)] for s in stamps[:26]]  # source frames 190-215
    both = next(ids for ids in during[:10] if len(ids) == 2)  # both found within 10 frames
    left = [pid for pid in both if pid not in during[-1]]
    assert len(left) == 1 and len(during[-1]) == 1, during  # she left; the man is still there
    woman = left[0]
    assert by_stamp[round(stamps[-1] * 1e9)] == []
    deletes = {m.ns for _, arr in markers for m in arr.markers if m.action == Marker.DELETE}
    assert any(ns.endswith(f"_{woman}") for ns in deletes), deletes
    assert any(m.action == Marker.DELETEALL for _, arr in markers for m in arr.markers)

    def counted() -> bool:
        return any((v := diag_values(m, node.ns)) is not None and v.get("people") == "0"
                   and int(v.get("id_deaths", "0")) >= 2 and v.get("people_lost") == "0" for _, m in diags)

    graph.spin_until(counted, 10, "diagnostics counting the two deaths", node)


def test_changing_num_poses_at_runtime_keeps_ids_unique(graph: Graph, data_dir,
                                                        start_node: Callable[..., NodeProcess]) -> None:
    """num_poses 1 -> 3 while running (small-person tiles on: the people are ~100-220 px in an
    884 px frame) rebuilds the tracker; the ids go on from where they were
    (unique per node run). A malformed small_person_tiles is refused with the reason."""
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.msg import ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    node = start_node("/t_multi_param", params={"reliable": True, "use_camera_info": False,
                                                "small_person_tiles": "auto"})
    frames = _clip(data_dir)
    image_pub = graph.node.create_publisher(Image, node.topic("image"), RELIABLE)
    poses = graph.subscribe(PoseKeypoints33Array, node.topic("pose_node/poses"))
    graph.wait_connected(image_pub, node, [node.topic("pose_node/poses")])
    client = graph.node.create_client(SetParameters, node.topic("pose_node/set_parameters"))

    def set_param(name: str, pv: ParameterValue):
        request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=pv)])
        return graph.call(client, request).results[0]

    def feed(i0: int, i1: int) -> list[list[int]]:
        out = []
        for i in range(i0, i1):
            stamp = 900.0 + i / 30.0
            image_pub.publish(image_msg(frames[i], stamp))
            graph.spin_until(lambda s=stamp: any(stamp_ns(m.header.stamp) == round(s * 1e9)
                                                 for _, m in poses), 30, f"poses for {stamp}", node)
            out.append(next([p.id for p in m.poses] for _, m in poses
                            if stamp_ns(m.header.stamp) == round(stamp * 1e9)))
        return out

    before = feed(0, 5)
    assert all(len(ids) == 1 for ids in before)  # num_poses 1: the man
    bad = set_param("small_person_tiles", ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                         string_value="three by two"))
    assert not bad.successful and "small_person_tiles" in bad.reason
    ok = set_param("num_poses", ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=3))
    assert ok.successful, ok.reason
    after = feed(5, len(frames))
    assert any(len(ids) == 2 for ids in after)  # the woman walked in and is tracked too
    old = {i for ids in before for i in ids}
    new = {i for ids in after for i in ids}
    assert not old & new and min(new) > max(old)
