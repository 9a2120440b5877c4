"""pose_lifecycle_node in-process: what each transition loads, opens, closes and frees
(the same node over DDS, driven by lifecycle service calls: test_launch_nodes.py)."""

from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from blazepose_ros.ros.pose_lifecycle_node import PoseLifecycleNode, release_free_memory  # noqa: E402

pytestmark = pytest.mark.unit
OK = TransitionCallbackReturn.SUCCESS


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=[])
    try:
        yield ctx
    finally:
        ctx.try_shutdown()


def state(node: PoseLifecycleNode) -> str:
    return node._state_machine.current_state[1]


def image_subscriptions(node: PoseLifecycleNode) -> list[str]:
    return [s.topic_name for s in node.subscriptions
            if s.topic_name.endswith(("/image", "/image/compressed"))]


def test_transitions_load_open_close_and_unload(context) -> None:
    node = PoseLifecycleNode(context=context)
    try:
        assert state(node) == "unconfigured" and not node.models_loaded and not image_subscriptions(node)
        assert node.trigger_configure() == OK
        assert state(node) == "inactive" and node.models_loaded and not image_subscriptions(node)
        assert node.trigger_activate() == OK
        assert state(node) == "active" and image_subscriptions(node) == ["/image"]
        assert node._worker is not None and node._worker.is_alive()
        node._pending = object()  # a frame waiting for the worker ...
        worker = node._worker
        assert node.trigger_deactivate() == OK
        assert state(node) == "inactive" and not image_subscriptions(node)
        assert node._pending is None and not worker.is_alive() and node._outputs is None  # ... is dropped
        assert node.models_loaded  # inactive keeps the models: activate again without reloading
        assert node.trigger_activate() == OK and image_subscriptions(node) == ["/image"]
        assert node.trigger_deactivate() == OK
        assert node.trigger_cleanup() == OK
        assert state(node) == "unconfigured" and not node.models_loaded
    finally:
        node.close_topics()
        node.destroy_node()


def test_configure_failure_leaves_it_unconfigured_and_configurable(context) -> None:
    node = PoseLifecycleNode(context=context, parameter_overrides=[
        Parameter("model", value="/nonexistent/pose.tflite")])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert state(node) == "unconfigured" and not node.models_loaded
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE  # tried again, same clear failure
    finally:
        node.destroy_node()


def test_shutdown_from_active_closes_everything(context) -> None:
    node = PoseLifecycleNode(context=context)
    try:
        assert node.trigger_configure() == OK and node.trigger_activate() == OK
        assert node.trigger_shutdown() == OK
        assert state(node) == "finalized" and not node.models_loaded and not image_subscriptions(node)
    finally:
        node.destroy_node()


def test_release_free_memory_runs_on_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert release_free_memory() is True
