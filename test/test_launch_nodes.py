"""The nodes pose.launch.py starts, started the way launch_ros starts them, checked over real DDS.

`launch`/`launch_ros` are not installable here, so the installed launch file
(share/blazepose_ros/launch/pose.launch.py, found through the ament index as ``ros2 launch
blazepose_ros pose.launch.py`` finds it; FindPackageShare = that share folder) is run against
the stand-ins of launch_standins.py, and each Node / LifecycleNode action is run with the command
line launch_ros builds for it (the installed lib/blazepose_ros/<executable>, ``__node``/``__ns``,
one ``--params-file`` per parameter entry -- a dict becomes a temporary file -- and ``-r``
remaps). The graph is then queried: node names, topics, parameters. For ``lifecycle:=true``
the launch file's own event plan (ChangeState configure, then ChangeState activate when the node
reports configuring -> inactive on ``transition_event``) is carried out with real lifecycle
service calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy")
from blazepose_ros.msg import PoseKeypoints33Array  # noqa: E402
from launch_standins import declared_and_runner, node_command  # noqa: E402
from lifecycle_msgs.msg import State, Transition, TransitionEvent  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from node_harness import Graph, image_msg, image_rgb  # noqa: E402
from rcl_interfaces.srv import GetParameters  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from blazepose_ros.ros.pose_node import PARAM_SPECS  # noqa: E402

pytestmark = pytest.mark.dds

ROOT = Path(__file__).resolve().parents[1]


def installed() -> tuple[Path, Path]:
    """(share/blazepose_ros, lib/blazepose_ros) of the package in the ament index."""
    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    lib = Path(get_package_prefix("blazepose_ros")) / "lib" / "blazepose_ros"
    return Path(get_package_share_directory("blazepose_ros")), lib


RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class Launched:
    """The processes of one launch, stopped (SIGINT, like ros2 launch) at the end."""

    def __init__(self, ros_env: dict[str, str], tmp: Path) -> None:
        import subprocess

        self._subprocess = subprocess
        self.env, self.tmp = ros_env, tmp
        self.procs: list[tuple[str, Any, Path]] = []

    def start(self, action: Any) -> Any:
        name = action.kwargs["name"]
        log = self.tmp / f"{name}.log"
        with open(log, "w") as out:
            cmd = node_command(action, installed()[1], self.tmp)
            assert Path(cmd[0]).is_file(), f"{cmd[0]} is not installed: rebuild (bash scripts/setup.sh)"
            proc = self._subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=out,
                                          stderr=self._subprocess.STDOUT)
        self.procs.append((name, proc, log))
        return proc

    def log(self, name: str) -> str:
        return next(p for n, _, p in self.procs if n == name).read_text()

    def assert_running(self) -> None:
        for name, proc, log in self.procs:
            assert proc.poll() is None, f"{name} exited {proc.returncode}:\n{log.read_text()}"

    def stop(self) -> None:
        import signal

        for _, proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for _, proc, _ in self.procs:
            try:
                proc.wait(timeout=15)
            except self._subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def launched(ros_env: dict[str, str], tmp_path: Path) -> Iterator[Launched]:
    run = Launched(ros_env, tmp_path)
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture
def launch_file(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[Any]]:
    _, run = declared_and_runner(monkeypatch, share=installed()[0])
    return run


def of_type(actions: list[Any], name: str) -> list[Any]:
    return [a for a in actions if type(a).__name__ == name]


def get_parameters(graph: Graph, node: str, names: list[str]) -> dict[str, Any]:
    from rclpy.parameter import parameter_value_to_python

    client = graph.node.create_client(GetParameters, f"{node}/get_parameters")
    reply = graph.call(client, GetParameters.Request(names=names), timeout=20.0)
    return {n: parameter_value_to_python(v) for n, v in zip(names, reply.values, strict=True)}


def topics_of(graph: Graph, name: str, ns: str, kind: str) -> set[str]:
    get = (graph.node.get_subscriber_names_and_types_by_node if kind == "sub"
           else graph.node.get_publisher_names_and_types_by_node)
    return {t for t, _ in get(name, ns)}


def test_every_launch_argument_reaches_the_running_nodes(graph: Graph, launched: Launched,
                                                         launch_file: Callable[..., list[Any]]) -> None:
    assert {"num_poses", "use_depth"} <= set(PARAM_SPECS)  # the launch arguments' parameters
    actions = launch_file(
        image="/t_la/cam/image", camera_info="/t_la/cam/info", compressed="true", model="lite",
        delegate="cpu", num_poses="2", use_depth="true", depth="/t_la/cam/depth", namespace="t_launch",
        gestures="true", rviz="true", use_sim_time="true")
    nodes = of_type(actions, "Node")
    assert [n.kwargs["executable"] for n in nodes] == ["pose_node", "gesture_node"]
    (rviz_note,) = of_type(actions, "LogInfo")  # rviz2 is not installed here: a warning, not a failure
    assert "rviz2 is not installed" in rviz_note.kwargs["msg"]
    for node in nodes:
        launched.start(node)

    want_subs = {"/t_la/cam/image/compressed", "/t_la/cam/info", "/t_la/cam/depth"}  # remapped
    want_pubs = {"/t_launch/pose_node/poses", "/t_launch/pose_node/markers", "/diagnostics"}

    def up() -> bool:  # discovery is incremental: wait for everything expected
        launched.assert_running()
        names = set(graph.node.get_node_names_and_namespaces())
        if not {("pose_node", "/t_launch"), ("gesture_node", "/t_launch")} <= names:
            return False
        return want_subs <= topics_of(graph, "pose_node", "/t_launch", "sub") and \
            want_pubs <= topics_of(graph, "pose_node", "/t_launch", "pub") and \
            "/t_launch/pose_node/poses" in topics_of(graph, "gesture_node", "/t_launch", "sub")

    graph.spin_until(up, 60.0, "both nodes to come up with their topics")
    assert "/t_la/cam/image" not in topics_of(graph, "pose_node", "/t_launch", "sub")

    names = ["model", "delegate", "compressed", "use_sim_time", "model_complexity", "num_poses", "use_depth"]
    params = get_parameters(graph, "/t_launch/pose_node", names)
    expected = {"model": "lite", "delegate": "cpu", "compressed": True, "use_sim_time": True,
                "model_complexity": 1,  # from params_file: not overridden
                "num_poses": 2, "use_depth": True}
    assert params == expected
    gesture = get_parameters(graph, "/t_launch/gesture_node", ["use_sim_time"])
    assert gesture == {"use_sim_time": True}
    assert "model lite" in launched.log("pose_node")


class Lifecycle:
    """Lifecycle service clients of one node and the transition events it publishes."""

    def __init__(self, graph: Graph, node: str) -> None:
        self.graph = graph
        self.change = graph.node.create_client(ChangeState, f"{node}/change_state")
        self.get = graph.node.create_client(GetState, f"{node}/get_state")
        self.events: list[TransitionEvent] = []
        graph.node.create_subscription(TransitionEvent, f"{node}/transition_event", self.events.append,
                                       QoSProfile(depth=20))

    def state(self) -> str:
        return self.graph.call(self.get, GetState.Request(), timeout=20.0).current_state.label

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return bool(self.graph.call(self.change, request, timeout=60.0).success)


def test_lifecycle_launch_configures_then_activates_and_frames_flow_only_while_active(
        graph: Graph, launched: Launched, launch_file: Callable[..., list[Any]]) -> None:
    actions = launch_file(lifecycle="true", namespace="t_lc", image="/t_lc_cam/image")
    (node,) = of_type(actions, "LifecycleNode")
    (on_inactive,) = of_type(actions, "RegisterEventHandler")[0].args
    (configure,) = of_type(actions, "EmitEvent")
    (activate,) = of_type(on_inactive.kwargs["entities"], "EmitEvent")
    launched.start(node)

    lc = Lifecycle(graph, "/t_lc/pose_node")
    poses: list = []
    graph.node.create_subscription(PoseKeypoints33Array, "/t_lc/pose_node/poses", poses.append, RELIABLE)
    image_pub = graph.node.create_publisher(Image, "/t_lc_cam/image", RELIABLE)
    person = image_rgb("bus.jpg")
    t = [100.0]

    def publish_for(seconds: float, until: Callable[[], bool] = lambda: False) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            launched.assert_running()
            t[0] += 0.1
            image_pub.publish(image_msg(person, t[0]))
            graph.spin_for(0.1)

    assert lc.get.wait_for_service(timeout_sec=30.0), "no lifecycle services"
    assert lc.state() == "unconfigured"
    publish_for(1.0)  # unconfigured: not even subscribed
    assert image_pub.get_subscription_count() == 0 and not poses

    # the launch file's plan: ChangeState(configure) now ...
    assert configure.kwargs["event"].kwargs["transition_id"] == Transition.TRANSITION_CONFIGURE
    assert lc.transition(configure.kwargs["event"].kwargs["transition_id"])
    # ... and ChangeState(activate) on the configuring -> inactive transition event
    graph.spin_until(lambda: any(e.start_state.label == on_inactive.kwargs["start_state"] and
                                 e.goal_state.label == on_inactive.kwargs["goal_state"] for e in lc.events),
                     30.0, "the configuring -> inactive transition event")
    assert lc.state() == "inactive"
    publish_for(1.0)
    assert image_pub.get_subscription_count() == 0 and not poses  # configured, not processing
    assert activate.kwargs["event"].kwargs["transition_id"] == Transition.TRANSITION_ACTIVATE
    assert lc.transition(activate.kwargs["event"].kwargs["transition_id"])
    assert lc.state() == "active"

    publish_for(30.0, until=lambda: any(len(m.poses) == 1 for m in poses))
    assert any(len(m.poses) == 1 for m in poses), "no pose of the person while active"
    assert image_pub.get_subscription_count() == 1

    assert lc.transition(Transition.TRANSITION_DEACTIVATE)
    assert lc.state() == "inactive"
    graph.spin_until(lambda: image_pub.get_subscription_count() == 0, 10.0, "the image subscription to go")
    graph.spin_for(0.5)  # poses published before the deactivation may still be delivered
    n_before = len(poses)
    publish_for(1.5)
    assert len(poses) == n_before, "poses published while inactive"

    # active again: processing resumes with the same models
    assert lc.transition(Transition.TRANSITION_ACTIVATE)
    publish_for(30.0, until=lambda: len(poses) > n_before)
    assert len(poses) > n_before
    assert lc.transition(Transition.TRANSITION_DEACTIVATE)
    assert lc.transition(Transition.TRANSITION_CLEANUP)
    assert lc.state() == "unconfigured"
    assert lc.transition(Transition.TRANSITION_CONFIGURE)  # and configurable again
    assert lc.state() == "inactive"
    log = launched.log("pose_node")
    assert "models unloaded" in log and "frame buffers released" in log and "Traceback" not in log
    assert [e.goal_state.id for e in lc.events][:2] == [State.TRANSITION_STATE_CONFIGURING,
                                                        State.PRIMARY_STATE_INACTIVE]


def test_lifecycle_configure_failure_keeps_the_node_unconfigured_and_running(
        graph: Graph, launched: Launched, launch_file: Callable[..., list[Any]]) -> None:
    (node, *_) = launch_file(lifecycle="true", namespace="t_lc_bad", model="/nonexistent/pose.tflite")
    launched.start(node)
    lc = Lifecycle(graph, "/t_lc_bad/pose_node")
    assert lc.get.wait_for_service(timeout_sec=30.0)
    assert not lc.transition(Transition.TRANSITION_CONFIGURE)
    assert lc.state() == "unconfigured"
    launched.assert_running()
    graph.spin_for(0.5)
    log = launched.log("pose_node")
    assert "configure failed" in log and "/nonexistent/pose.tflite" in log and "Traceback" not in log
