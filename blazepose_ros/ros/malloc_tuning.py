"""Keep camera-frame-sized memory in the process instead of faulting it in again every frame.

glibc serves allocations above ``M_MMAP_THRESHOLD`` (dynamic, starting at 128 KiB) with a fresh
``mmap`` and gives freed heap tops back to the kernel above ``M_TRIM_THRESHOLD``. A received
1280x720 rgb8 image (2.7 MiB) passes through several such buffers in Fast DDS and rclpy, so
every frame pays ~2,000 minor page faults: measured here 4.7 ms of kernel time per frame in a
bare subscriber, 6.4 ms stamp-to-callback instead of 2.6 ms (``bench/bench_transport.py``).
Raising both thresholds lets freed buffers be reused as they are, which is what the ROS 2
real-time guidance does with ``mallopt`` for the same reason.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's maximum on 64-bit: covers a 4K rgb8 frame (24 MiB)
TRIM_THRESHOLD_BYTES = 128 << 20  # freed memory kept for reuse before any is returned


def keep_frame_memory() -> str | None:
    """Raise glibc's mmap and trim thresholds for this process.

    Returns ``None`` on success, else why nothing was changed (not glibc, or refused).
    Affects allocations made after the call; memory freed later stays mapped up to
    ``TRIM_THRESHOLD_BYTES``, so resident size follows the peak, not the current use.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        gnu_libc_version = libc.gnu_get_libc_version
    except (OSError, AttributeError, TypeError):
        return f"the C library ({name}) is not glibc"
    gnu_libc_version.restype = ctypes.c_char_p
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    for option, value in ((M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)):
        if mallopt(option, value) != 1:
            return f"glibc {gnu_libc_version().decode()} refused mallopt({option}, {value})"
    return None
