"""Shared fixtures: a private ROS_DOMAIN_ID per test session, real images, models."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "test" / "data"

# A private DDS domain for this pytest process so parallel runs never cross-talk,
# chosen before anything imports rclpy. Child processes inherit it.
if "BLAZEPOSE_TEST_DOMAIN_FIXED" not in os.environ:
    os.environ["ROS_DOMAIN_ID"] = str(random.Random(os.getpid()).randrange(1, 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "bus.jpg").exists():
        pytest.fail(f"test media missing in {DATA}: run `bash scripts/setup.sh`")
    return DATA


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """Environment for node subprocesses: same domain, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
    return env


@pytest.fixture
def graph():
    """An in-test ROS graph (node + executor) for talking to node processes."""
    from node_harness import Graph

    g = Graph()
    try:
        yield g
    finally:
        g.close()


@pytest.fixture
def start_node(ros_env: dict[str, str]):
    """start_node(namespace, **kwargs) -> a pose_node process, stopped after the test."""
    from node_harness import NodeProcess

    procs: list = []

    def start(ns: str, **kwargs):
        procs.append(NodeProcess(ros_env, ns, **kwargs))
        return procs[-1]

    try:
        yield start
    finally:
        for p in procs:
            p.close()


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


try:  # CI runs a fixed set of property-test examples, so a red run is reproducible
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")
except ImportError:  # pragma: no cover
    pass
