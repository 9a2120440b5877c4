"""The nodes' ``main()``: rclpy start-up with the process's own SIGINT/SIGTERM handling, one
clear line and an exit status for start-up errors, the spin loop and a clean shutdown.

rclpy's default handler raises KeyboardInterrupt wherever the main thread is; inside a
message take or a publish (C++ calling back into Python) that surfaces as a pybind11
RuntimeError and a traceback instead of a clean stop. Here a signal only sets an event,
which the node's spin loop checks between executor turns.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from blazepose_ros.ros.params import ParameterError


def init_with_stop_event(args: list[str] | None) -> threading.Event:
    """``rclpy.init`` without rclpy's signal handlers; returns the event SIGINT/SIGTERM set."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    return stop


EXIT_OK = 0
EXIT_CANNOT_START = 1
"""The node could not start for a reason outside its configuration (model file, delegate, device)."""
EXIT_BAD_CONFIG = 2
"""A parameter or the configuration it names is not usable; the error line says what to fix."""

N = TypeVar("N", bound=Node)


def spin_until_stopped(
    name: str,
    create: Callable[[], N],
    args: list[str] | None = None,
    *,
    start: Callable[[N], None] | None = None,
    finish: Callable[[N], None] | None = None,
    done: Callable[[N], bool] | None = None,
    drain_s: float = 0.0,
    config_errors: tuple[type[BaseException], ...] = (),
    startup_errors: tuple[type[BaseException], ...] = (),
) -> int:
    """A node's whole ``main()``: init, build, spin until stopped, clean shutdown; the exit status.

    ``create()`` builds the node and ``start(node)`` (optional) brings it up. A
    :class:`~blazepose_ros.ros.params.ParameterError` or one of ``config_errors`` raised there
    is logged as one ``cannot start: ...`` line and returns :data:`EXIT_BAD_CONFIG`; one of
    ``startup_errors`` likewise returns :data:`EXIT_CANNOT_START` -- no traceback either way.
    The node then spins until SIGINT/SIGTERM, rclpy shutdown, or ``done(node)``; after
    ``done`` the executor keeps spinning ``drain_s`` seconds so the middleware can hand out the
    last samples. On the way out ``finish(node)`` (e.g. stop a worker, send a zero command)
    runs before the node is destroyed (only if it started). Returns :data:`EXIT_OK` on every normal stop.
    """
    stop = init_with_stop_event(args)
    executor = SingleThreadedExecutor()
    node: N | None = None
    started = False
    try:
        try:
            node = create()
            if start is not None:
                start(node)
            started = True
        except (ParameterError, *config_errors, *startup_errors) as exc:
            bad_config = isinstance(exc, (ParameterError, *config_errors))
            rclpy.logging.get_logger(name).error(f"cannot start: {exc}")
            return EXIT_BAD_CONFIG if bad_config else EXIT_CANNOT_START
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok() and not (done is not None and done(node)):
            executor.spin_once(timeout_sec=0.1)
        if done is not None and done(node) and drain_s > 0:
            t_end = time.monotonic() + drain_s
            while not stop.is_set() and rclpy.ok() and time.monotonic() < t_end:
                executor.spin_once(timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        if node is not None:
            if finish is not None and started:
                finish(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return EXIT_OK
