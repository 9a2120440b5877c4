"""video_publisher's ``source:=0`` (its own docstring's syntax for a camera): the command line
types it as an integer; the parameter takes it as the camera index, and the error hint for a
bad source suggests a syntax that works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
from blazepose_ros.ros.params import ParameterError, ParamSpec
from blazepose_ros.ros.video_publisher import PARAMS

pytestmark = pytest.mark.dds

ROOT = Path(__file__).resolve().parents[1]
SOURCE = next(p for p in PARAMS if p.name == "source")


def run_publisher(ros_env: dict[str, str], *params: str) -> tuple[int, str]:
    args = [sys.executable, "-m", "blazepose_ros.ros.video_publisher", "--ros-args"]
    for p in params:
        args += ["-p", p]
    proc = subprocess.run(args, env=ros_env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.unit
def test_source_takes_an_integer_as_the_camera_index_text() -> None:
    assert SOURCE.dynamic_typing and SOURCE.check(0) == "0" and SOURCE.check(2) == "2"
    assert SOURCE.check("video.mp4") == "video.mp4"
    for bad in (True, 1.5):
        with pytest.raises(ParameterError, match="expected a string or an integer"):
            SOURCE.check(bad)
    # without dynamic typing a string parameter still refuses integers
    with pytest.raises(ParameterError, match="expected a string\\. "):
        ParamSpec("frame_id", "cam", "frame").check(0)


@pytest.mark.dds
def test_source_0_on_the_command_line_opens_camera_0(ros_env: dict[str, str]) -> None:
    if Path("/dev/video0").exists():
        pytest.skip("a camera 0 exists here: the publisher would run")
    code, out = run_publisher(ros_env, "source:=0")
    assert "is not allowed" not in out, out  # before: "parameter source:=0 is not allowed: expected a string"
    assert code != 0 and "cannot open camera device 0" in out, out
    assert "Traceback" not in out


@pytest.mark.dds
def test_the_hint_for_a_bad_source_suggests_a_syntax_that_works(ros_env: dict[str, str]) -> None:
    code, out = run_publisher(ros_env, "source:=true")
    assert code == 2 and "parameter source:=true is not allowed: expected a string or an integer" in out, out
    suggested = re.search(r"Fix: set (source:=\S+)", out)
    assert suggested, out
    _, out2 = run_publisher(ros_env, suggested.group(1), "max_frames:=1")
    assert "is not allowed" not in out2, f"the suggested {suggested.group(1)} fails too:\n{out2}"
