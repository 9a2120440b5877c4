"""Stand-ins of `launch` / `launch_ros` (not installable from PyPI) that record what the real
classes are given, and a loader of launch/pose.launch.py against them."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


class Recorded:
    """Base of the stand-ins: keeps the constructor's arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


def _standin(name: str) -> type:
    return type(name, (Recorded,), {})


class LaunchConfiguration(Recorded):
    def perform(self, context: dict[str, str]) -> str:
        return context[self.args[0]]


def load_launch_file(monkeypatch: pytest.MonkeyPatch, path: Path = ROOT / "launch" / "pose.launch.py") -> Any:
    names = {
        "launch": ["LaunchDescription"],
        "launch.actions": ["DeclareLaunchArgument", "EmitEvent", "LogInfo", "OpaqueFunction",
                           "RegisterEventHandler"],
        "launch.substitutions": ["PathJoinSubstitution"],
        "launch_ros": [],
        "launch_ros.actions": ["LifecycleNode", "Node"],
        "launch_ros.event_handlers": ["OnStateTransition"],
        "launch_ros.events": [],
        "launch_ros.events.lifecycle": ["ChangeState"],
        "launch_ros.substitutions": ["FindPackageShare"],
    }
    for module, classes in names.items():
        mod = types.ModuleType(module)
        for c in classes:
            setattr(mod, c, _standin(c))
        monkeypatch.setitem(sys.modules, module, mod)
    sys.modules["launch"].LaunchContext = dict
    sys.modules["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    events = types.ModuleType("launch.events")
    events.matches_action = lambda action: ("matches_action", action)
    monkeypatch.setitem(sys.modules, "launch.events", events)
    spec = importlib.util.spec_from_file_location("pose_launch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def declared_and_runner(monkeypatch: pytest.MonkeyPatch, share: Path = ROOT) -> tuple[dict, Any]:
    """(declared arguments by name, run(**arguments) -> the actions launch_setup returns).

    ``share``: where FindPackageShare(blazepose_ros) points (the source tree or an install's
    share/blazepose_ros); the launch file is loaded from its launch/ folder.
    """
    module = load_launch_file(monkeypatch, share / "launch" / "pose.launch.py")
    entities = module.generate_launch_description().args[0]
    declared = {e.args[0]: e.kwargs for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    (opaque,) = [e for e in entities if type(e).__name__ == "OpaqueFunction"]

    def run(**given: str) -> list[Any]:
        context = {name: kw["default_value"] for name, kw in declared.items()
                   if isinstance(kw["default_value"], str)}
        context |= {"params_file": str(share / "config" / "pose.yaml"),
                    "rviz_config": str(share / "config" / "pose.rviz"),
                    "gestures_config": str(share / "config" / "gestures.yaml")} | given
        return opaque.kwargs["function"](context)

    return declared, run


def node_command(node: Recorded, lib_dir: Path, tmp_dir: Path) -> list[str]:
    """The command line launch_ros (Humble and later) runs for a Node / LifecycleNode action:
    ``<prefix>/lib/<package>/<executable> --ros-args -r __node:=<name> -r __ns:=<namespace>
    --params-file <file>... -r <from>:=<to>...``; a parameter dict becomes a temporary file
    ``{"/**": {"ros__parameters": dict}}``."""
    import yaml

    kw = node.kwargs
    cmd = [str(lib_dir / kw["executable"]), "--ros-args", "-r", f"__node:={kw['name']}"]
    if kw.get("namespace"):
        cmd += ["-r", f"__ns:={kw['namespace']}"]
    for i, params in enumerate(kw.get("parameters", [])):
        if isinstance(params, dict):
            path = tmp_dir / f"launch_params_{kw['name']}_{i}.yaml"
            path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
            params = str(path)
        cmd += ["--params-file", str(params)]
    for src, dst in kw.get("remappings", []):
        cmd += ["-r", f"{src}:={dst}"]
    return cmd
