"""launch/pose.launch.py: every argument, the lifecycle start-up, RViz with namespaces.

`launch` and `launch_ros` are not installable from PyPI, so the launch file is imported here
against stand-ins that record what the real classes are given (the real `ament_index_python` and
`lifecycle_msgs` are used). test_launch_nodes.py starts the nodes these actions describe, with
the command lines launch_ros builds, over real DDS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from launch_standins import declared_and_runner

from blazepose_ros.ros.rviz_config import namespaced_rviz_config, normalize_namespace

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
ARGUMENTS = ("image", "camera_info", "compressed", "params_file", "model", "delegate", "num_poses",
             "use_depth", "depth", "namespace", "lifecycle", "lifecycle_autostart", "gestures",
             "gestures_config", "rviz", "rviz_config", "use_sim_time")


@pytest.fixture
def launch(monkeypatch: pytest.MonkeyPatch) -> Any:
    """(declared arguments by name, run(**arguments) -> the actions launch_setup returns)."""
    return declared_and_runner(monkeypatch)


def by_type(actions: list[Any], name: str) -> list[Any]:
    return [a for a in actions if type(a).__name__ == name]


def test_every_argument_is_declared_with_a_description(launch) -> None:
    declared, _ = launch
    assert set(declared) == set(ARGUMENTS)
    for name, kw in declared.items():
        assert kw.get("description"), name
    for name in ("lifecycle", "lifecycle_autostart", "gestures", "rviz", "use_sim_time"):
        assert declared[name]["choices"] == ["true", "false"], name
    assert declared["use_depth"]["choices"] == ["", "true", "false"]
    # empty = the parameter file's value; lifecycle off, autostart on
    assert {n: declared[n]["default_value"] for n in ("model", "delegate", "compressed", "num_poses",
                                                      "use_depth", "lifecycle", "lifecycle_autostart")} == {
        "model": "", "delegate": "", "compressed": "", "num_poses": "", "use_depth": "",
        "lifecycle": "false", "lifecycle_autostart": "true"}
    params_default = declared["params_file"]["default_value"]
    assert type(params_default.args[0][0]).__name__ == "FindPackageShare"
    assert params_default.args[0][1:] == ["config", "pose.yaml"]


def test_defaults_start_pose_node_with_the_parameter_file(launch) -> None:
    _, run = launch
    (pose,) = run(params_file="/p/pose.yaml")
    kw = pose.kwargs
    assert type(pose).__name__ == "Node"
    assert (kw["package"], kw["executable"], kw["name"], kw["namespace"]) == (
        "blazepose_ros", "pose_node", "pose_node", "")
    assert dict(kw["remappings"]) == {"image": "/camera/image_raw", "camera_info": "/camera/camera_info",
                                      "image/compressed": "/camera/image_raw/compressed",
                                      "depth": "/camera/aligned_depth_to_color/image_raw"}
    assert kw["parameters"] == ["/p/pose.yaml", {"use_sim_time": False}]


def test_every_override_reaches_the_node(launch) -> None:
    _, run = launch
    (pose,) = run(params_file="/p/pose.yaml", image="/cam/color", camera_info="/cam/info", model="lite",
                  delegate="edgetpu", compressed="true", num_poses="3", use_depth="true", depth="/cam/depth",
                  namespace="robot1", use_sim_time="true")
    kw = pose.kwargs
    assert kw["namespace"] == "/robot1"
    assert kw["parameters"] == ["/p/pose.yaml", {"use_sim_time": True, "model": "lite", "delegate": "edgetpu",
                                                 "compressed": True, "num_poses": 3, "use_depth": True}]
    assert dict(kw["remappings"]) == {"image": "/cam/color", "image/compressed": "/cam/color/compressed",
                                      "camera_info": "/cam/info", "depth": "/cam/depth"}
    (pose,) = run(compressed="false", use_depth="false")
    assert pose.kwargs["parameters"][1] == {"use_sim_time": False, "compressed": False, "use_depth": False}


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_num_poses_must_be_a_positive_integer(launch, bad: str) -> None:
    _, run = launch
    with pytest.raises(ValueError, match=r"num_poses.*positive integer"):
        run(num_poses=bad)


def test_invalid_namespace_is_a_clear_error(launch) -> None:
    _, run = launch
    with pytest.raises(ValueError, match="namespace '1robot'"):
        run(namespace="1robot")


def test_lifecycle_starts_the_managed_node_and_configures_then_activates_it(launch) -> None:
    from lifecycle_msgs.msg import Transition

    _, run = launch
    actions = run(lifecycle="true", namespace="r2")
    (pose,) = by_type(actions, "LifecycleNode")
    assert (pose.kwargs["executable"], pose.kwargs["name"], pose.kwargs["namespace"]) == (
        "pose_lifecycle_node", "pose_node", "/r2")
    assert not by_type(actions, "Node")
    (handler,) = by_type(actions, "RegisterEventHandler")
    (configure,) = by_type(actions, "EmitEvent")
    assert actions.index(handler) < actions.index(configure)  # registered before it can fire
    change = configure.kwargs["event"]
    assert change.kwargs == {"lifecycle_node_matcher": ("matches_action", pose),
                             "transition_id": Transition.TRANSITION_CONFIGURE}
    (on_inactive,) = handler.args
    assert on_inactive.kwargs["target_lifecycle_node"] is pose
    states = (on_inactive.kwargs["start_state"], on_inactive.kwargs["goal_state"])
    assert states == ("configuring", "inactive")
    (activate,) = by_type(on_inactive.kwargs["entities"], "EmitEvent")
    assert activate.kwargs["event"].kwargs == {"lifecycle_node_matcher": ("matches_action", pose),
                                               "transition_id": Transition.TRANSITION_ACTIVATE}
    # left alone for a lifecycle manager
    actions = run(lifecycle="true", lifecycle_autostart="false")
    assert [type(a).__name__ for a in actions] == ["LifecycleNode"]


def test_gesture_node_reads_the_poses_in_the_same_namespace(launch) -> None:
    _, run = launch
    _, gesture = run(gestures="true", namespace="robot1", use_sim_time="true")
    assert (gesture.kwargs["executable"], gesture.kwargs["namespace"]) == ("gesture_node", "/robot1")
    assert dict(gesture.kwargs["remappings"]) == {"poses": "pose_node/poses"}
    assert gesture.kwargs["parameters"] == [{"use_sim_time": True,
                                             "config_file": str(ROOT / "config" / "gestures.yaml")}]
    _, no_map = run(gestures="true", gestures_config="/nonexistent.yaml")
    assert no_map.kwargs["parameters"] == [{"use_sim_time": False}]


def test_rviz_without_rviz2_installed_warns_and_starts_the_rest(launch) -> None:
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix("rviz2")
        pytest.skip("rviz2 is installed here")
    except PackageNotFoundError:
        pass
    _, run = launch
    pose, log = run(rviz="true")
    assert type(pose).__name__ == "Node" and type(log).__name__ == "LogInfo"
    assert "rviz2 is not installed" in log.kwargs["msg"] and "starting without RViz2" in log.kwargs["msg"]


def test_rviz_with_rviz2_gets_a_config_for_the_namespace(launch, monkeypatch, tmp_path) -> None:
    _, run = launch
    # pretend rviz2 is installed: an ament index holding the package
    index = tmp_path / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / "rviz2").write_text("")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    _, rviz = run(rviz="true")
    assert rviz.kwargs["arguments"] == ["-d", str(ROOT / "config" / "pose.rviz")]  # no namespace: as shipped
    _, rviz = run(rviz="true", namespace="/robot1/", use_sim_time="true")
    assert (rviz.kwargs["executable"], rviz.kwargs["namespace"]) == ("rviz2", "/robot1")
    assert rviz.kwargs["parameters"] == [{"use_sim_time": True}]
    _, path = rviz.kwargs["arguments"]
    try:
        cfg = yaml.safe_load(Path(path).read_text())
    finally:
        Path(path).unlink()
    displays = cfg["Visualization Manager"]["Displays"]
    topics = {d["Name"]: d["Topic"]["Value"] for d in displays if "Topic" in d}
    assert topics == {"Pose markers": "/robot1/pose_node/markers",
                      "Debug image": "/robot1/pose_node/debug_image"}


# --------------------------------------------------------------------------------------------
# the RViz configuration


def shipped_rviz() -> str:
    return (ROOT / "config" / "pose.rviz").read_text()


@pytest.mark.parametrize("given, expected", [("", ""), ("/", ""), ("robot1", "/robot1"),
                                             ("/robot1/", "/robot1"), ("fleet/r_2", "/fleet/r_2"),
                                             (" /a/b ", "/a/b")])
def test_normalize_namespace(given: str, expected: str) -> None:
    assert normalize_namespace(given) == expected


@pytest.mark.parametrize("bad", ["1robot", "robot-1", "a//b", "r 1", "ä"])
def test_normalize_namespace_rejects_invalid_names(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid ROS name segment"):
        normalize_namespace(bad)


def test_namespaced_rviz_config_moves_only_this_packages_topics() -> None:
    text = shipped_rviz()
    assert namespaced_rviz_config(text, "") == text
    out = namespaced_rviz_config(text, "fleet/robot1")
    before, after = yaml.safe_load(text), yaml.safe_load(out)
    displays = after["Visualization Manager"]["Displays"]
    assert [d["Topic"]["Value"] for d in displays if "Topic" in d] == [
        "/fleet/robot1/pose_node/markers", "/fleet/robot1/pose_node/debug_image"]
    # everything else is unchanged
    for d_before, d_after in zip(before["Visualization Manager"]["Displays"], displays, strict=True):
        if "Topic" in d_before:
            d_before["Topic"]["Value"] = d_after["Topic"]["Value"]
    assert before == after
    assert out.count("\n") == text.count("\n")
    # a user's own topics stay where they are
    extra = "  - Topic:\n      Value: /camera/image_raw\n  - Topic:\n      Value: /gesture_node/gesture\n"
    assert namespaced_rviz_config(extra, "r") == ("  - Topic:\n      Value: /camera/image_raw\n"
                                                  "  - Topic:\n      Value: /r/gesture_node/gesture\n")


def test_every_executable_the_launch_file_starts_is_installed(launch) -> None:
    import re

    _, run = launch
    started = set()
    for given in ({}, {"lifecycle": "true"}, {"gestures": "true"}):
        nodes = [a for a in run(**given) if type(a).__name__ in ("Node", "LifecycleNode")]
        started |= {n.kwargs["executable"] for n in nodes}
    assert started == {"pose_node", "pose_lifecycle_node", "gesture_node"}
    cmake = (ROOT / "CMakeLists.txt").read_text()
    programs = re.search(r"install\(PROGRAMS(.*?)DESTINATION lib/\$\{PROJECT_NAME\}", cmake, re.S)
    assert programs, "CMakeLists.txt installs no programs to lib/<package>"
    for exe in started:
        assert f"scripts/{exe}" in programs.group(1).split(), f"{exe} is not installed by CMakeLists.txt"
        assert (ROOT / "scripts" / exe).stat().st_mode & 0o111, f"scripts/{exe} is not executable"
