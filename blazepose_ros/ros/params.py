"""One declarative parameter schema for the nodes: declare, validate, snapshot.

A node lists its parameters as :class:`ParamSpec` entries (default, description, range or
choices, read-only flag) and calls :func:`declare_parameters` once in its constructor: every
parameter is declared with a ``ParameterDescriptor`` built from its spec (``ros2 param
describe`` shows the description and limits), the start values are checked against the specs
and returned as a plain ``dict``. A bad start value raises :class:`ParameterError`, whose
message is one line naming the parameter, the value, what is allowed and how to fix it.

Changes at run time go through :func:`check_parameters` from the node's
``add_on_set_parameters_callback`` callback: the same checks, the same message as the
rejection reason.

rclpy itself enforces types, numeric ranges and ``read_only`` from the descriptors; the specs
add what rclpy does not: string choices, finite floats, and the range of floats declared
with ``dynamic_typing`` (which accept integers such as ``rate:=30``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter

ParamValue = bool | int | float | str
"""The parameter types the schema supports (no arrays)."""


class ParameterError(ValueError):
    """A parameter value is not allowed; ``str()`` is one line with the value and the fix."""

    def __init__(self, name: str, value: object, allowed: str, fix: str) -> None:
        self.name, self.value, self.allowed, self.fix = name, value, allowed, fix
        super().__init__(f"parameter {name}:={_show(value)} is not allowed: expected {allowed}. Fix: {fix}")


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: default, description, limits, and whether it is fixed at start.

    ``float_range`` / ``int_range`` are inclusive. ``choices`` are the allowed strings.
    ``dynamic_typing`` also accepts integers: for a float parameter (``rate:=30``) the snapshot
    holds the value as a float; for a string parameter (``source:=0``, which the command line
    types as an integer) as its decimal text.
    """

    name: str
    default: ParamValue
    description: str
    read_only: bool = False
    float_range: tuple[float, float] | None = None
    int_range: tuple[int, int] | None = None
    choices: tuple[str, ...] = ()
    dynamic_typing: bool = False

    def descriptor(self) -> ParameterDescriptor:
        d = ParameterDescriptor(name=self.name, description=self.description, read_only=self.read_only,
                                dynamic_typing=self.dynamic_typing)
        if self.float_range is not None:
            d.floating_point_range = [FloatingPointRange(
                from_value=float(self.float_range[0]), to_value=float(self.float_range[1]), step=0.0)]
        if self.int_range is not None:
            d.integer_range = [IntegerRange(from_value=self.int_range[0], to_value=self.int_range[1], step=1)]
        if self.choices or self.float_range is not None or self.int_range is not None:
            d.additional_constraints = self.allowed()
        return d

    def allowed(self) -> str:
        """What the parameter accepts, in words (the 'expected ...' part of errors)."""
        if self.choices:
            return "one of " + _or(self.choices)
        if isinstance(self.default, bool):
            return "true or false"
        if self.int_range is not None:
            return f"an integer in [{self.int_range[0]}, {self.int_range[1]}]"
        if isinstance(self.default, int):
            return "an integer"
        if isinstance(self.default, float):
            kind = ("a number" if self.dynamic_typing
                    else "a floating-point number (with a decimal point, e.g. 1.0)")
            if self.float_range is not None:
                return f"{kind} in [{self.float_range[0]:g}, {self.float_range[1]:g}]"
            return f"a finite {kind.removeprefix('a ')}"
        return "a string or an integer" if self.dynamic_typing else "a string"

    def error(self, value: object) -> ParameterError:
        """The :class:`ParameterError` for a rejected ``value`` of this parameter."""
        return ParameterError(self.name, value, self.allowed(),
                              f"set {self.name}:={_show(self.default)} (the default) or another allowed "
                              "value (-p on the command line, or the parameters file)")

    def check(self, value: object) -> ParamValue:
        """``value`` as the snapshot holds it (ints as floats for dynamically typed floats);
        raises :class:`ParameterError` when it is not allowed."""
        d = self.default
        if isinstance(d, bool) or isinstance(value, bool):
            if not (isinstance(d, bool) and isinstance(value, bool)):
                raise self.error(value)
            return value
        if isinstance(d, float):
            ok_types = (int, float) if self.dynamic_typing else (float,)
            if not isinstance(value, ok_types) or not math.isfinite(value):
                raise self.error(value)
            if self.float_range is not None and not self.float_range[0] <= value <= self.float_range[1]:
                raise self.error(value)
            return float(value)
        if isinstance(d, int):
            if not isinstance(value, int):
                raise self.error(value)
            if self.int_range is not None and not self.int_range[0] <= value <= self.int_range[1]:
                raise self.error(value)
            return value
        if self.dynamic_typing and isinstance(value, int):
            value = str(value)
        if not isinstance(value, str) or (self.choices and value not in self.choices):
            raise self.error(value)
        return value


def declare_parameters(node: Node, specs: Iterable[ParamSpec]) -> dict[str, ParamValue]:
    """Declare every spec on ``node`` (with its descriptor), check the start values, return them.

    Raises :class:`ParameterError` for the first value that is not allowed (wrong type, out of
    range, not one of the choices, not finite) -- also when rclpy itself rejects it.
    """
    specs = tuple(specs)
    for spec in specs:
        try:
            node.declare_parameter(spec.name, spec.default, spec.descriptor())
        except ParameterException as exc:
            raise spec.error(_override_value(node, spec.name, exc)) from exc
    return snapshot(node, specs)


def snapshot(node: Node, specs: Iterable[ParamSpec]) -> dict[str, ParamValue]:
    """The current values of the declared ``specs``, checked (raises :class:`ParameterError`)."""
    return {spec.name: spec.check(node.get_parameter(spec.name).value) for spec in specs}


def check_parameters(params: Sequence[Parameter], specs: Iterable[ParamSpec]) -> SetParametersResult:
    """For an on-set-parameters callback: unsuccessful (reason = the one-line error) when a
    changed parameter of ``specs`` is not allowed; parameters not in ``specs`` pass."""
    by_name = {s.name: s for s in specs}
    for p in params:
        spec = by_name.get(p.name)
        if spec is None:
            continue
        try:
            spec.check(p.value)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
    return SetParametersResult(successful=True)


def _override_value(node: Node, name: str, exc: ParameterException) -> object:
    """The value rclpy refused to declare: the command-line / file override (rclpy keeps the
    overrides in ``Node._parameter_overrides``; without it, the exception text)."""
    override = getattr(node, "_parameter_overrides", {}).get(name)
    return override.value if isinstance(override, Parameter) else _Raw(str(exc))


class _Raw(str):
    """A value known only as text (shown without quotes)."""


def _show(value: object) -> str:
    """A value as it is written after ``name:=`` (lower-case booleans, quoted strings)."""
    if isinstance(value, _Raw):
        return f"? ({value})"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value if value and value.strip() == value and " " not in value else repr(value)
    return str(value)


def _or(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
