"""The parameter schema (ros/params.py) on a real in-process rclpy node: descriptors, start
values from the command line, one-line errors, run-time checks through set_parameters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.context import Context  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from blazepose_ros.ros.params import (  # noqa: E402
    ParameterError,
    ParamSpec,
    check_parameters,
    declare_parameters,
    snapshot,
)

pytestmark = pytest.mark.unit

SPECS = (
    ParamSpec("score", 0.5, "A score.", float_range=(0.0, 1.0)),
    ParamSpec("threads", 1, "Threads.", read_only=True, int_range=(1, 64)),
    ParamSpec("delegate", "cpu", "Delegate.", read_only=True, choices=("cpu", "gpu", "auto")),
    ParamSpec("flag", True, "A flag."),
    ParamSpec("path", "", "A path.", read_only=True),
    ParamSpec("rate", 0.0, "Hz.", float_range=(0.0, 1000.0), dynamic_typing=True),
)


@pytest.fixture
def make_node() -> Iterator:
    context = Context()
    rclpy.init(context=context)
    nodes: list[Node] = []

    def make(*cli: str) -> Node:
        nodes.append(Node(f"params_test_{len(nodes)}", context=context,
                          cli_args=["--ros-args", *[a for kv in cli for a in ("-p", kv)]]))
        return nodes[-1]

    try:
        yield make
    finally:
        for n in nodes:
            n.destroy_node()
        rclpy.shutdown(context=context)


def test_defaults_and_descriptors(make_node) -> None:
    node = make_node()
    values = declare_parameters(node, SPECS)
    assert values == {"score": 0.5, "threads": 1, "delegate": "cpu", "flag": True, "path": "", "rate": 0.0}
    d = {s.name: node.describe_parameter(s.name) for s in SPECS}
    assert d["score"].floating_point_range[0].to_value == 1.0 and not d["score"].read_only
    assert d["threads"].read_only and d["threads"].integer_range[0].to_value == 64
    assert d["delegate"].additional_constraints == "one of cpu, gpu or auto"
    assert d["score"].description == "A score." and d["rate"].dynamic_typing


def test_command_line_values_and_int_for_a_dynamically_typed_float(make_node) -> None:
    node = make_node("score:=0.25", "threads:=4", "delegate:=gpu", "flag:=false", "rate:=30")
    values = declare_parameters(node, SPECS)
    assert values["score"] == 0.25 and values["threads"] == 4 and values["delegate"] == "gpu"
    assert values["flag"] is False
    assert values["rate"] == 30.0 and isinstance(values["rate"], float)


@pytest.mark.parametrize("arg, name, shown, allowed", [
    ("score:=2.0", "score", "2.0", "in [0, 1]"),
    ("score:=1", "score", "1", "with a decimal point"),
    ("threads:=0", "threads", "0", "an integer in [1, 64]"),
    ("delegate:=tpu", "delegate", "tpu", "one of cpu, gpu or auto"),
    ("flag:=maybe", "flag", "maybe", "true or false"),
    ("rate:=-5", "rate", "-5", "a number in [0, 1000]"),
    ("rate:=.nan", "rate", "nan", "a number in [0, 1000]"),
])
def test_bad_start_values_raise_one_clear_line(make_node, arg, name, shown, allowed) -> None:
    node = make_node(arg)
    with pytest.raises(ParameterError) as info:
        declare_parameters(node, SPECS)
    text = str(info.value)
    assert "\n" not in text and info.value.name == name
    assert f"parameter {name}:={shown} is not allowed" in text, text
    assert allowed in text and "Fix: set" in text and f"{name}:=" in text.split("Fix:")[1]


def test_run_time_changes_are_checked_by_the_same_schema(make_node) -> None:
    node = make_node()
    declare_parameters(node, SPECS)
    node.add_on_set_parameters_callback(lambda params: check_parameters(params, SPECS))
    ok, = node.set_parameters([Parameter("rate", value=12)])
    assert ok.successful and snapshot(node, SPECS)["rate"] == 12.0
    bad, = node.set_parameters([Parameter("rate", value=5000)])  # an int: rclpy skips the float range
    assert not bad.successful and "parameter rate:=5000 is not allowed" in bad.reason
    far, = node.set_parameters([Parameter("rate", value=5000.0)])  # rclpy's own range check
    assert not far.successful and snapshot(node, SPECS)["rate"] == 12.0
    nan, = node.set_parameters([Parameter("score", value=float("nan"))])
    assert not nan.successful and "score" in nan.reason
    assert node.get_parameter("score").value == 0.5  # rejected: unchanged
    assert check_parameters([Parameter("use_sim_time", value=True)], SPECS).successful


def test_check_holds_the_value_as_the_schema_type() -> None:
    spec = ParamSpec("x", 1.0, "x", float_range=(0.0, 2.0), dynamic_typing=True)
    assert spec.check(2) == 2.0 and isinstance(spec.check(2), float)
    with pytest.raises(ParameterError):
        spec.check(True)  # a bool is not a number here
    with pytest.raises(ParameterError, match="expected a string"):
        ParamSpec("s", "", "s").check(3)
