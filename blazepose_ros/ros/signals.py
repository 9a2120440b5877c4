"""rclpy start-up with the process's own SIGINT/SIGTERM handling, shared by the nodes.

rclpy's default handler raises KeyboardInterrupt wherever the main thread is; inside a
message take or a publish (C++ calling back into Python) that surfaces as a pybind11
RuntimeError and a traceback instead of a clean stop. Here a signal only sets an event,
which the node's spin loop checks between executor turns.
"""

from __future__ import annotations

import signal
import threading

import rclpy
from rclpy.signals import SignalHandlerOptions


def init_with_stop_event(args: list[str] | None) -> threading.Event:
    """``rclpy.init`` without rclpy's signal handlers; returns the event SIGINT/SIGTERM set."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    return stop
