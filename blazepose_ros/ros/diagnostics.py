"""pose_node's frame statistics and their ``diagnostic_msgs/DiagnosticStatus``.

:class:`FrameStats` is the thread-safe tally the node's callbacks and worker update;
:meth:`FrameStats.window` takes one diagnostics window (totals, what changed since the previous
window, the timing samples) as a frozen :class:`StatsWindow`. :func:`diagnostic_status` is a
pure function of that window and the node's :class:`TrackerInfo`, so the level/message rules
are tested in-process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

__all__ = ["FrameStats", "StatsWindow", "Totals", "TrackerInfo", "diagnostic_status",
           "transport_loss_warning"]


@dataclass(frozen=True)
class Totals:
    """Counters since start."""

    received: int = 0
    processed: int = 0
    dropped: int = 0  # replaced by a newer frame before the worker took it
    lost: int = 0  # lost in transport, as the middleware reports it (message_lost event)
    conversion_errors: int = 0
    processing_errors: int = 0
    timestamp_resets: int = 0
    camera_timeouts: int = 0
    people: int = 0  # in the last processed frame (not a running total)

    @property
    def errors(self) -> int:
        return self.conversion_errors + self.processing_errors


@dataclass(frozen=True)
class StatsWindow:
    """One diagnostics window: totals, changes since the previous window, timing samples.

    Times in seconds; ``last_image_age_s`` is None before the first image.
    """

    totals: Totals
    window_s: float
    received: int  # in this window
    processed: int
    lost: int
    errors: int
    processing_s: tuple[float, ...] = ()  # per frame: conversion + tracking + publishing
    pipeline_s: tuple[float, ...] = ()  # per frame: PoseTracker.process alone
    latency_s: tuple[float, ...] = ()  # per frame: node clock at the end minus the image stamp
    last_image_age_s: float | None = None

    @property
    def input_rate_hz(self) -> float:
        return self.received / self.window_s

    @property
    def output_rate_hz(self) -> float:
        return self.processed / self.window_s


@dataclass
class FrameStats:
    """Counters and per-window samples, updated from several threads (every access holds ``lock``).

    ``totals`` is replaced (frozen) on each update: ``with stats.lock: stats.add(received=1)``.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    totals: Totals = field(default_factory=Totals)
    last_image_monotonic: float | None = None
    processing_s: list[float] = field(default_factory=list)
    pipeline_s: list[float] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    _window_start: float = field(default_factory=time.monotonic)  # the first window starts at creation
    _window_totals: Totals = field(default_factory=Totals)

    def add(self, **increments: int) -> None:
        """Add to counters of :class:`Totals` (caller holds ``lock``)."""
        t = self.totals
        self.totals = replace(t, **{k: getattr(t, k) + v for k, v in increments.items()})

    def set(self, **values: int) -> None:
        """Set counters of :class:`Totals` (caller holds ``lock``)."""
        self.totals = replace(self.totals, **values)

    def window(self, now: float) -> StatsWindow:
        """Take the window that ends at ``now`` (monotonic s) and start the next one."""
        with self.lock:
            totals = self.totals
            proc, pipe, lat = self.processing_s, self.pipeline_s, self.latency_s
            self.processing_s, self.pipeline_s, self.latency_s = [], [], []
            last = self.last_image_monotonic
            start = self._window_start
            prev = self._window_totals
            self._window_start, self._window_totals = now, totals
        return StatsWindow(
            totals=totals, window_s=max(now - start, 1e-6),
            received=totals.received - prev.received, processed=totals.processed - prev.processed,
            lost=totals.lost - prev.lost, errors=totals.errors - prev.errors,
            processing_s=tuple(proc), pipeline_s=tuple(pipe), latency_s=tuple(lat),
            last_image_age_s=None if last is None else now - last)


@dataclass(frozen=True)
class TrackerInfo:
    """What the status reports besides the counters."""

    name: str  # DiagnosticStatus.name
    image_topic: str
    active_delegate: str
    requested_delegate: str
    model: str
    detector_runs: int
    camera_info: str  # "no" | "yes" | "ignored: <why>"
    camera_timeout_s: float
    num_poses: int = 1
    id_births: int = 0  # person ids given this node run
    id_deaths: int = 0  # person ids ended (left, lost beyond max_occlusion, cleared)
    people_lost: int = 0  # lost people waiting to be re-identified


def _ms(values: tuple[float, ...], f: Callable[[np.ndarray], float]) -> str:
    return f"{f(np.asarray(values)) * 1e3:.1f}" if values else "nan"


def diagnostic_status(w: StatsWindow, info: TrackerInfo) -> DiagnosticStatus:
    """OK "tracking N person(s)"; WARN when no image arrived (yet / for longer than the camera
    timeout, at least 1 s) or some frames failed in the window; ERROR when every frame failed."""
    t = w.totals
    level, message = DiagnosticStatus.OK, f"tracking {t.people} person(s)"
    if w.last_image_age_s is None:
        level, message = DiagnosticStatus.WARN, f"no image received on '{info.image_topic}'"
    elif w.last_image_age_s > max(info.camera_timeout_s, 1.0):
        level, message = DiagnosticStatus.WARN, f"no image for {w.last_image_age_s:.1f} s"
    if w.errors:
        level = DiagnosticStatus.WARN
        message = f"{w.errors} bad frame(s) in the last {w.window_s:.1f} s"
        if w.processed == 0:
            level = DiagnosticStatus.ERROR
            message = f"every frame failed in the last {w.window_s:.1f} s (see the log)"
    values = {
        "input_rate_hz": f"{w.input_rate_hz:.1f}",
        "output_rate_hz": f"{w.output_rate_hz:.1f}",
        "processing_time_ms": _ms(w.processing_s, np.mean),
        "processing_time_max_ms": _ms(w.processing_s, np.max),
        "pipeline_time_ms": _ms(w.pipeline_s, np.mean),
        "latency_ms": _ms(w.latency_s, np.mean),
        "latency_max_ms": _ms(w.latency_s, np.max),
        "active_delegate": info.active_delegate,
        "model": info.model,
        "detector_runs": str(info.detector_runs),
        "frames_received": str(t.received),
        "frames_processed": str(t.processed),
        "dropped_frames": str(t.dropped),
        "lost_in_transport": str(t.lost),
        "conversion_errors": str(t.conversion_errors),
        "processing_errors": str(t.processing_errors),
        "timestamp_resets": str(t.timestamp_resets),
        "camera_timeouts": str(t.camera_timeouts),
        "people": str(t.people),
        "num_poses": str(info.num_poses),
        "id_births": str(info.id_births),
        "id_deaths": str(info.id_deaths),
        "people_lost": str(info.people_lost),
        "camera_info": info.camera_info,
        "requested_delegate": info.requested_delegate,
    }
    return DiagnosticStatus(level=level, name=info.name, message=message, hardware_id=info.active_delegate,
                            values=[KeyValue(key=k, value=v) for k, v in values.items()])


def transport_loss_warning(w: StatsWindow, reliable: bool) -> str | None:
    """The advice to log when best-effort transport lost more images than arrived (at least 6)."""
    if reliable or w.lost <= max(5, w.received):
        return None
    return (f"{w.lost} of {w.lost + w.received} images in the last {w.window_s:.1f} s were lost in transport "
            "before reaching this node (large images over best-effort QoS): run the camera node with "
            "FASTDDS_DEFAULT_PROFILES_FILE=<blazepose_ros share>/config/fastdds_large_frames.xml, or set "
            "reliable:=true if the camera publishes RELIABLE")

