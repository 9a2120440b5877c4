"""pose_node as a managed (lifecycle) node: the same parameters, topics and processing, started
and stopped through the ROS 2 lifecycle state machine (``lifecycle_msgs``).

=================  ===================================================================
transition         what happens
=================  ===================================================================
configure          loads the models (:meth:`PoseNode.load_models`); a model or delegate
                   error fails the transition with one log line, the node stays
                   unconfigured and can be configured again
activate           subscribes to the camera, creates the publishers, timers and the
                   worker (:meth:`PoseNode.open_topics`): frames are processed
deactivate         stops the worker, removes subscriptions, publishers and timers
                   (:meth:`PoseNode.close_topics`), drops the pending frame and the
                   tracking state, and gives freed frame memory back to the OS
cleanup            unloads the models (back to unconfigured)
shutdown / error   everything above that applies
=================  ===================================================================

Frames are processed only while active: inactive, the node has no image subscription at all
(a camera publisher sees no reader), so nothing is received, queued or converted.

Run: ``ros2 run blazepose_ros pose_lifecycle_node --ros-args --params-file config/pose.yaml``,
then ``ros2 lifecycle set /pose_node configure`` and ``ros2 lifecycle set /pose_node activate``
(``pose.launch.py lifecycle:=true`` does both).
"""

from __future__ import annotations

import ctypes
import ctypes.util

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from blazepose_ros.ros.pose_node import STARTUP_ERRORS, PoseNode
from blazepose_ros.ros.signals import spin_until_stopped

__all__ = ["PoseLifecycleNode", "main", "release_free_memory"]


def release_free_memory() -> bool:
    """Return freed heap memory to the OS (glibc ``malloc_trim(0)``).

    pose_node keeps frame-sized buffers for reuse (``keep_frame_memory``: up to 128 MiB stays
    mapped after it is freed); an inactive node does not need them. Returns False where the C
    library has no ``malloc_trim`` (not glibc).
    """
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return False
    trim.argtypes = (ctypes.c_size_t,)
    trim(0)
    return True


class PoseLifecycleNode(PoseNode, LifecycleNode):
    """pose_node with lifecycle transitions (see the module doc); node name ``pose_node``."""

    # PoseNode.__init__ -> LifecycleNode.__init__ (cooperative MRO): parameters are declared
    # at construction, as for pose_node; nothing is loaded before configure.

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.load_models()
        except STARTUP_ERRORS as e:
            self._tracker = None
            self.get_logger().error(f"configure failed: {e}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"configured: model {self._model_name()}, delegate {self._active_delegate()}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.open_topics()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._close_and_forget_frames()
        self.get_logger().info("deactivated: no subscriptions, frame buffers released")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unload()
        self.get_logger().info("cleaned up: models unloaded")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._close_and_forget_frames()
        self._unload()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error in state {state.label}: closing topics and unloading the models")
        self._close_and_forget_frames()
        self._unload()
        return TransitionCallbackReturn.SUCCESS  # -> unconfigured, can be configured again

    @property
    def models_loaded(self) -> bool:
        """True between configure and cleanup."""
        return self._tracker is not None

    def _close_and_forget_frames(self) -> None:
        self.close_topics()
        with self._cond:
            self._pending = None
        with self._tracker_lock:
            if self._tracker is not None:
                self._tracker.reset()  # the next activation starts a new stream
        self._camera.forget()
        self._timed_out = False
        release_free_memory()

    def _unload(self) -> None:
        with self._tracker_lock:
            if self._tracker is not None:
                self._detector_runs_before += self._tracker.detector_runs
            self._tracker = None
        release_free_memory()


def main(argv: list[str] | None = None) -> int:
    """Run the managed node until SIGINT/SIGTERM (unconfigured at start); exit 2 on a bad parameter."""
    return spin_until_stopped("pose_node", PoseLifecycleNode, argv, finish=PoseLifecycleNode.close_topics,
                              startup_errors=STARTUP_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
