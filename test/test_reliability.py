"""Reliability of pose_node against bad input and faults, triggered for real over DDS.

Every test runs ``python -m blazepose_ros.ros.pose_node`` as its own process (as users run
it) and talks to it over real DDS from this process; nothing is called as a function of
the node. What test/test_pose_node.py already triggers against the running node (wrong
encoding, short data, a 1x1 frame the tracker refuses, a stamp jump back, camera timeout +
DELETEALL, invalid parameters, start-up failures for a missing model / delegate library /
bad parameters, SIGINT/SIGTERM) is not repeated; this file adds:

* property-based DDS fuzzing (hypothesis) of ``Image`` and ``CompressedImage``: every
  message's fate is predicted in-test (the converter, then an in-test ``PoseTracker`` fed
  exactly what the node is fed), and the node's diagnostics must account for every one of
  them, its results must equal the in-test tracker's, its error log must be rate-limited,
  and a real frame of people after the batch must be tracked exactly like in-test;
* hand-picked cases: big-endian mono16, 32FC1 depth with NaN/inf, camera_info with zero
  focal length and with unusable distortion, a frame that raises inside the worker, a
  looping bag (several loops), a parameter update that cannot be applied (the model file
  vanished), the camera stopping;
* start-up faults: corrupt models (truncated copies), ``delegate: gpu`` without the GPU
  delegate library (exit 1 with the fix), ``delegate: auto`` with no accelerator (falls back
  to cpu and says so in the log and in diagnostics).

Load and soak are benchmarks, not tests: bench/bench_flood.py and bench/bench_soak.py.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
hypothesis = pytest.importorskip("hypothesis")

from blazepose_ros.msg import PoseKeypoints33Array  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from hypothesis import HealthCheck, Phase, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from node_harness import (  # noqa: E402
    FRAME,
    RELIABLE,
    Graph,
    NodeProcess,
    assert_clean_exit,
    camera_info_msg,
    diag_values,
    image_rgb,
    keypoint_array,
    points_array,
    stamp_ns,
    stamp_of,
    unaccounted,
    video_frames,
)
from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.msg import ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from blazepose_ros.core import PoseTracker  # noqa: E402
from blazepose_ros.ros.image_conversion import (  # noqa: E402
    _ENCODINGS,
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    rgb_to_compressed_msg,
    rgb_to_image_msg,
)

pytestmark = [pytest.mark.dds, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
UINT32_MAX = 2**32 - 1
MAX_DATA = 1 << 20  # bytes actually sent per fuzz message (declared sizes may be far larger)
N_RAW = 300
N_COMPRESSED = 200
GAP_S = 0.08  # after a message that gets no answer: let the node take it before the next one
# (keep-last-1: a message the node has not taken yet is replaced inside DDS by the next one)
# the node's own error lines (libjpeg / libpng also print to stderr, unthrottled: counted apart)
ERROR_LINE = re.compile(r"^\[(WARN|ERROR)\].*\[[\w.]*pose_node\]: "
                        r"(dropping an image that cannot be converted|frame failed)", re.M)
ROS_LINE = re.compile(r"^\[(DEBUG|INFO|WARN|ERROR|FATAL)\] \[")


# --------------------------------------------------------------------------------------------
# fixtures and helpers




def wait_answer(graph: Graph, poses: list[tuple[float, Any]], stamp: int, node: NodeProcess,
                timeout: float = 15.0) -> PoseKeypoints33Array:
    graph.spin_until(lambda: any(stamp_ns(m.header.stamp) == stamp for _, m in poses[-5:]), timeout,
                     f"the answer to the image stamped {stamp} ns", node)
    return next(m for _, m in reversed(poses) if stamp_ns(m.header.stamp) == stamp)


def assert_same_poses(got: PoseKeypoints33Array, want: list[Any], what: str) -> None:
    """The node's answer equals the in-test tracker's poses (1e-3 px; finite everywhere)."""
    assert len(got.poses) == len(want), f"{what}: {len(got.poses)} poses, in-test {len(want)}"
    for msg, pose in zip(got.poses, want, strict=True):
        kp = keypoint_array(msg)
        assert np.isfinite(kp).all() and np.isfinite(points_array(msg.world_points)).all(), what
        np.testing.assert_allclose(kp[:, :2], pose.keypoints[:, :2], atol=1e-3, rtol=0, err_msg=what)
        np.testing.assert_allclose(kp[:, 2:], pose.keypoints[:, 2:], atol=1e-4, rtol=0, err_msg=what)


def latest_diag(diags: list[tuple[float, Any]], node: NodeProcess) -> dict[str, Any] | None:
    found = [v for _, m in diags if (v := diag_values(m, node.ns))]
    return found[-1] if found else None


def wait_diag(graph: Graph, diags: list[tuple[float, Any]], node: NodeProcess,
              cond: Callable[[dict[str, Any]], bool], what: str, timeout: float = 15.0) -> dict[str, Any]:
    graph.spin_until(lambda: (d := latest_diag(diags, node)) is not None and cond(d), timeout, what, node)
    d = latest_diag(diags, node)
    assert d is not None
    return d


class Mirror:
    """Feeds an in-test PoseTracker exactly the frames the node gets, predicting each fate."""

    def __init__(self) -> None:
        self.tracker = PoseTracker(model="full", delegate="cpu", num_threads=1)
        self.fates: Counter[str] = Counter()
        self.raised: Counter[str] = Counter()  # processing errors by exception type and message

    def predict(self, msg: Image | CompressedImage) -> tuple[str, list[Any] | None]:
        """('conversion_error' | 'processing_error' | 'processed', poses or None)."""
        try:
            rgb = compressed_msg_to_rgb(msg) if isinstance(msg, CompressedImage) else image_msg_to_rgb(msg)
        except ImageConversionError:
            self.fates["conversion_error"] += 1
            return "conversion_error", None
        try:
            poses = self.tracker.process(rgb, stamp_ns(msg.header.stamp) * 1e-9)
        except Exception as e:  # what the node's worker catches and counts
            self.fates["processing_error"] += 1
            self.raised[f"{type(e).__name__}: {re.sub(r'[0-9]+', 'N', str(e))[:60]}"] += 1
            return "processing_error", None
        self.fates["processed"] += 1
        return "processed", poses


def fuzz_node(graph: Graph, node: NodeProcess, pub: Any, mirror: Mirror, msg: Image | CompressedImage,
              poses: list[tuple[float, Any]], what: str) -> None:
    """Publish one message; lock-step on the answer when the node must answer it."""
    fate, want = mirror.predict(msg)
    pub.publish(msg)
    if fate == "processed":
        assert want is not None
        assert_same_poses(wait_answer(graph, poses, stamp_ns(msg.header.stamp), node), want, what)
    else:
        graph.spin_for(GAP_S)
    node.assert_running()


def check_accounting(graph: Graph, diags: list[tuple[float, Any]], node: NodeProcess, mirror: Mirror,
                     sent: int) -> dict[str, Any]:
    d = wait_diag(graph, diags, node, lambda d: int(d["frames_received"]) == sent and unaccounted(d) == 0,
                  f"diagnostics counting all {sent} messages")
    print(f"\n{node.ns}: processing errors {dict(mirror.raised)}")
    print(f"{node.ns}: sent {sent}, predicted {dict(mirror.fates)}; node: received {d['frames_received']} "
          f"processed {d['frames_processed']} conversion_errors {d['conversion_errors']} "
          f"processing_errors {d['processing_errors']} dropped {d['dropped_frames']}")
    assert int(d["dropped_frames"]) == 0, "paced messages were dropped: the accounting below is inexact"
    assert int(d["conversion_errors"]) == mirror.fates["conversion_error"]
    assert int(d["processing_errors"]) == mirror.fates["processing_error"]
    assert int(d["frames_processed"]) == mirror.fates["processed"]
    return d


def check_error_log(node: NodeProcess, n_bad: int, seconds: float) -> int:
    """The node's warnings about bad frames are rate-limited: at most one per 5 s per kind."""
    lines = ERROR_LINE.findall(node.stderr())
    assert lines, "no log line about the bad messages"
    assert len(lines) <= 2 * (seconds / 5.0 + 1.0), f"{len(lines)} error lines for {n_bad} bad messages"
    assert len(lines) < max(3, n_bad / 5), f"{len(lines)} error lines for {n_bad} bad messages"
    err = node.stderr()
    assert "Traceback" not in err
    codec = [line for line in err.splitlines() if line.strip() and not ROS_LINE.match(line)
             and "XNNPACK" not in line]
    print(f"{node.ns}: {len(lines)} error lines of the node for {n_bad} bad messages in {seconds:.1f} s; "
          f"{len(codec)} lines printed by the codec libraries (libjpeg/libpng/OpenCV)")
    return len(lines)


# --------------------------------------------------------------------------------------------
# strategies

BAD_ENCODINGS = ("", "bogus42", "32FC1", "64FC1", "16SC1", "8SC3", "jpeg", "yuv420", "h264", "rgb",
                 "RGB8", " bgr8 ", "rgb8\x01", "mono12", "bayer_xyz8", "type_32FC1")


@st.composite
def raw_images(draw: st.DrawFn) -> dict[str, Any]:
    """The fields of a sensor_msgs/Image, mostly malformed: encodings (unknown, mismatched with
    the layout), sizes (0, 1, edge, huge), steps (short, 0, padded, huge), data (short, long,
    empty), byte order; actual data never over MAX_DATA bytes. One in three is laid out
    consistently (odd but valid: padded rows, trailing data, thin or edge sizes)."""
    consistent = draw(st.integers(0, 2)) == 0
    encoding = draw(st.sampled_from(SUPPORTED_ENCODINGS) if consistent else
                    st.sampled_from(SUPPORTED_ENCODINGS) | st.sampled_from(BAD_ENCODINGS))
    kind = draw(st.sampled_from(("small", "small", "small", "edge", "thin") if consistent else
                                ("small", "small", "small", "small", "zero", "huge", "edge", "thin")))
    if kind == "small":
        w, h = draw(st.integers(1, 200)), draw(st.integers(1, 160))
    elif kind == "zero":
        w, h = draw(st.sampled_from([(0, 0), (0, 10), (10, 0)]))
    elif kind == "huge":
        w = draw(st.sampled_from([32767, 32768, 65535, 1 << 20, UINT32_MAX]) | st.integers(1, UINT32_MAX))
        h = draw(st.sampled_from([1, 2, 480, 100_000, UINT32_MAX]))
        if draw(st.booleans()):
            w, h = h, w
    elif kind == "edge":
        w, h = draw(st.sampled_from([(32766, 2), (2, 32766), (32767, 2), (2, 2), (1, 1), (3, 1)]))
    else:  # thin: one side of 1..3 px
        w, h = draw(st.integers(1, 3)), draw(st.integers(1, 2000))
        if draw(st.booleans()):
            w, h = h, w
    # the layout the data really has: the declared encoding's, or another one (mismatched)
    declared = _ENCODINGS.get(encoding.strip().lower())
    bpp = draw(st.sampled_from((1, 2, 3, 4, 6, 8)))
    if declared is not None and (consistent or draw(st.booleans())):
        bpp = declared.bytes_per_pixel
    if consistent and declared is not None and declared.even_width:
        w += w % 2
    if consistent and declared is not None and declared.even_height:
        h += h % 2
    row = min(w * bpp, UINT32_MAX)
    step_kind = draw(st.sampled_from(("exact", "pad") if consistent else
                                     ("exact", "exact", "pad", "short", "zero", "huge")))
    step = {"exact": row, "pad": min(row + draw(st.integers(1, 64)), UINT32_MAX),
            "short": max(row - draw(st.integers(1, 8)), 0), "zero": 0, "huge": UINT32_MAX}[step_kind]
    full = step * (h + h // 2 if declared is not None and declared.chroma_rows and consistent else h)
    data_kind = draw(st.sampled_from(("exact", "long") if consistent else
                                     ("exact", "exact", "short", "long", "empty")))
    if data_kind == "exact":
        n = full
    elif data_kind == "short":
        n = draw(st.integers(0, max(full - 1, 0)))
    elif data_kind == "long":
        n = full + draw(st.integers(1, 4096))
    else:
        n = 0
    if n > MAX_DATA:
        n = draw(st.integers(0, MAX_DATA))
    return {"encoding": encoding, "width": w, "height": h, "step": step, "n": n,
            "is_bigendian": draw(st.sampled_from((0, 1, 1, 255))), "seed": draw(st.integers(0, 2**32 - 1))}


def build_image(spec: dict[str, Any], stamp: float) -> Image:
    rng = np.random.default_rng(spec["seed"])
    msg = Image(header=Header(stamp=stamp_of(stamp), frame_id=FRAME), encoding=spec["encoding"],
                width=spec["width"], height=spec["height"], step=spec["step"],
                is_bigendian=spec["is_bigendian"])
    msg.data = rng.integers(0, 256, spec["n"], dtype=np.uint8).tobytes()
    return msg


def _decoder_bombs() -> tuple[bytes, bytes]:
    """A 2x2 PNG whose IDAT length byte is flipped (OpenCV 4.12 spent 3-4 s on these 79 bytes)
    and a JPEG whose SOF declares 30000x30000 (9.7 s and 2.7 GB in cv2.imdecode)."""
    png = bytearray(_encoded((2, 2), ".png", 0))
    idat = png.index(b"IDAT") - 4
    png[idat] = 0x96
    jpeg = bytearray(_encoded((64, 48), ".jpg", 0))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5:sof + 9] = (30000).to_bytes(2, "big") + (30000).to_bytes(2, "big")
    return bytes(png), bytes(jpeg)


def _encoded(shape: tuple[int, int], ext: str, seed: int, quality: int = 80) -> bytes:
    """A real JPEG/PNG: bus.jpg scaled to ``shape`` (w, h), or noise when the image is tiny."""
    w, h = shape
    if w >= 16 and h >= 16:
        bus = cv2.imread(str(ROOT / "test" / "data" / "bus.jpg"))
        img = cv2.resize(bus, (w, h), interpolation=cv2.INTER_AREA)
    else:
        img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, img, params)
    assert ok
    return buf.tobytes()


@st.composite
def compressed_images(draw: st.DrawFn) -> dict[str, Any]:
    """A sensor_msgs/CompressedImage: garbage, empty, truncated or corrupted JPEG/PNG, JPEG
    magic + garbage, compressedDepth, valid tiny / thin / small images; any format string."""
    fmt = draw(st.sampled_from(("jpeg", "png", "", "rgb8; jpeg compressed bgr8", "compressedDepth png",
                                "bogus", "h264")))
    kind = draw(st.sampled_from(("garbage", "empty", "truncated", "truncated", "corrupted", "corrupted",
                                 "magic", "valid", "valid")))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ext = draw(st.sampled_from((".jpg", ".png")))
    shape = draw(st.sampled_from([(1, 1), (2, 2), (1, 300), (300, 1), (64, 48), (160, 213), (320, 427)]))
    if kind == "garbage":
        data = rng.integers(0, 256, draw(st.integers(1, 5000)), dtype=np.uint8).tobytes()
    elif kind == "empty":
        data = b""
    elif kind == "magic":
        head = b"\xff\xd8\xff\xe0" if ext == ".jpg" else b"\x89PNG\r\n\x1a\n"
        data = head + rng.integers(0, 256, draw(st.integers(0, 3000)), dtype=np.uint8).tobytes()
    else:
        data = _encoded(shape, ext, seed, draw(st.integers(5, 95)))
        if kind == "truncated":
            data = data[: draw(st.integers(0, len(data) - 1))]
        elif kind == "corrupted":
            buf = bytearray(data)
            for _ in range(draw(st.integers(1, 20))):
                buf[int(rng.integers(0, len(buf)))] = int(rng.integers(0, 256))
            data = bytes(buf)
    return {"format": fmt, "data": data}


def build_compressed(spec: dict[str, Any], stamp: float) -> CompressedImage:
    msg = CompressedImage(header=Header(stamp=stamp_of(stamp), frame_id=FRAME), format=spec["format"])
    msg.data = spec["data"]
    return msg


FUZZ_SETTINGS = {"deadline": None, "database": None, "phases": (Phase.explicit, Phase.generate),
                 "suppress_health_check": list(HealthCheck)}


# --------------------------------------------------------------------------------------------
# fuzzing over DDS


def _good_frame_after_batch(graph: Graph, node: NodeProcess, pub: Any, mirror: Mirror, msg: Any,
                            poses: list[tuple[float, Any]]) -> None:
    fate, want = mirror.predict(msg)
    assert fate == "processed" and want, "the in-test tracker finds nobody in the good frame"
    pub.publish(msg)
    got = wait_answer(graph, poses, stamp_ns(msg.header.stamp), node)
    assert_same_poses(got, want, "the good frame after the fuzz batch")
    assert got.header.frame_id == FRAME


@pytest.mark.usefixtures("data_dir")  # real test media (scripts/setup.sh)
def test_fuzzed_images_over_dds_are_counted_and_the_next_good_frame_is_exact(
        graph: Graph, start_node: Callable[..., NodeProcess]) -> None:
    node = start_node("/t_fuzz_raw", params={"reliable": True, "use_camera_info": False,
                                            "camera_timeout": 0.0})
    pub = graph.node.create_publisher(Image, node.topic("image"), RELIABLE)
    poses = graph.subscribe(PoseKeypoints33Array, node.topic("pose_node/poses"))
    diags = graph.subscribe(DiagnosticArray, "/diagnostics")
    graph.wait_connected(pub, node, [node.topic("pose_node/poses")])
    mirror = Mirror()
    clock = {"t": 100.0, "sent": 0}
    t0 = time.monotonic()

    @settings(max_examples=N_RAW, **FUZZ_SETTINGS)
    @given(raw_images())
    # hand-picked layouts, always tried first
    @example({"encoding": "rgb8", "width": 640, "height": 480, "step": 1920, "n": 1000, "is_bigendian": 0,
              "seed": 1})  # data much shorter than step x height
    @example({"encoding": "rgb8", "width": 640, "height": 480, "step": 1000, "n": 921600, "is_bigendian": 0,
              "seed": 2})  # step smaller than a row
    @example({"encoding": "rgb8", "width": UINT32_MAX, "height": UINT32_MAX, "step": UINT32_MAX, "n": 16,
              "is_bigendian": 0, "seed": 3})  # huge declared sizes
    @example({"encoding": "rgb8", "width": 0, "height": 0, "step": 0, "n": 0, "is_bigendian": 0, "seed": 4})
    @example({"encoding": "mono8", "width": 32767, "height": 2, "step": 32767, "n": 65534, "is_bigendian": 0,
              "seed": 5})  # one px over OpenCV's warp limit: was a processing error, now refused early
    @example({"encoding": "mono8", "width": 32766, "height": 2, "step": 32766, "n": 65532, "is_bigendian": 0,
              "seed": 6})  # the largest side the pipeline takes
    @example({"encoding": "bgr8", "width": 100, "height": 1, "step": 300, "n": 300, "is_bigendian": 0,
              "seed": 7})  # converts, then the tracker refuses it: a processing error in the worker
    @example({"encoding": "mono16", "width": 64, "height": 48, "step": 128, "n": 6144, "is_bigendian": 1,
              "seed": 8})  # big-endian 16 bit
    @example({"encoding": "rgb8", "width": 64, "height": 48, "step": 192, "n": 9216, "is_bigendian": 0,
              "seed": 9})  # declared rgb8, data laid out as... rgb8 (a valid control)
    @example({"encoding": "mono8", "width": 64, "height": 48, "step": 192, "n": 9216, "is_bigendian": 0,
              "seed": 10})  # mismatched: mono8 declared over rgb8-sized rows (valid, padded)
    @example({"encoding": "rgba8", "width": 64, "height": 48, "step": 192, "n": 9216, "is_bigendian": 0,
              "seed": 11})  # mismatched: rgba8 declared over rgb8-sized rows (step too small)
    def fuzz(spec: dict[str, Any]) -> None:
        clock["t"] += 1.0 / 30.0
        clock["sent"] += 1
        fuzz_node(graph, node, pub, mirror, build_image(spec, clock["t"]), poses, f"raw {spec}")

    fuzz()
    n_fuzz = clock["sent"]
    # a real frame of people after the batch: tracked exactly like the in-test tracker does
    clock["t"] += 1.0 / 30.0
    good = rgb_to_image_msg(video_frames(1)[0], Header(stamp=stamp_of(clock["t"]), frame_id=FRAME))
    _good_frame_after_batch(graph, node, pub, mirror, good, poses)
    seconds = time.monotonic() - t0
    check_accounting(graph, diags, node, mirror, n_fuzz + 1)
    n_bad = mirror.fates["conversion_error"] + mirror.fates["processing_error"]
    # the mix: mostly malformed, some odd but valid layouts, some the tracker refuses
    assert mirror.fates["conversion_error"] >= n_fuzz // 5 and mirror.fates["processing_error"] >= 1
    assert mirror.fates["processed"] >= n_fuzz // 10
    n_lines = check_error_log(node, n_bad, seconds)
    print(f"raw fuzz: {n_fuzz} messages in {seconds:.1f} s, {n_bad} bad, {n_lines} error log lines")
    assert_clean_exit(node)


@pytest.mark.usefixtures("data_dir")  # real test media (scripts/setup.sh)
def test_fuzzed_compressed_images_over_dds_are_counted_and_the_next_good_frame_is_exact(
        graph: Graph, start_node: Callable[..., NodeProcess]) -> None:
    node = start_node("/t_fuzz_jpeg", params={"compressed": True, "reliable": True, "use_camera_info": False,
                                             "camera_timeout": 0.0})
    pub = graph.node.create_publisher(CompressedImage, node.topic("image/compressed"), RELIABLE)
    poses = graph.subscribe(PoseKeypoints33Array, node.topic("pose_node/poses"))
    diags = graph.subscribe(DiagnosticArray, "/diagnostics")
    graph.wait_connected(pub, node, [node.topic("pose_node/poses")])
    mirror = Mirror()
    clock = {"t": 200.0, "sent": 0}
    t0 = time.monotonic()
    jpeg = _encoded((320, 427), ".jpg", 0)
    png = _encoded((64, 48), ".png", 0)
    png_bomb, jpeg_bomb = _decoder_bombs()

    @settings(max_examples=N_COMPRESSED, **FUZZ_SETTINGS)
    @given(compressed_images())
    @example({"format": "jpeg", "data": b""})
    @example({"format": "jpeg", "data": jpeg[: len(jpeg) // 2]})  # truncated JPEG (libjpeg fills grey)
    @example({"format": "jpeg", "data": jpeg[:200]})  # only the headers
    @example({"format": "png", "data": png[: len(png) // 2]})  # truncated PNG
    @example({"format": "png", "data": png_bomb})  # refused from the header, in microseconds
    @example({"format": "jpeg", "data": jpeg_bomb})
    @example({"format": "png", "data": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100})
    @example({"format": "compressedDepth png", "data": png})  # a depth stream on the colour topic
    @example({"format": "png", "data": _encoded((32767, 1), ".png", 0)})  # over the warp limit
    @example({"format": "jpeg", "data": _encoded((1, 300), ".jpg", 0)})  # decodes, tracker refuses it
    def fuzz(spec: dict[str, Any]) -> None:
        clock["t"] += 1.0 / 30.0
        clock["sent"] += 1
        fuzz_node(graph, node, pub, mirror, build_compressed(spec, clock["t"]), poses,
                  f"compressed {spec['format']!r} {len(spec['data'])} B")

    fuzz()
    n_fuzz = clock["sent"]
    clock["t"] += 1.0 / 30.0
    good = rgb_to_compressed_msg(image_rgb("bus.jpg"), Header(stamp=stamp_of(clock["t"]), frame_id=FRAME))
    _good_frame_after_batch(graph, node, pub, mirror, good, poses)
    seconds = time.monotonic() - t0
    check_accounting(graph, diags, node, mirror, n_fuzz + 1)
    n_bad = mirror.fates["conversion_error"] + mirror.fates["processing_error"]
    assert mirror.fates["conversion_error"] >= n_fuzz // 5 and mirror.fates["processing_error"] >= 1
    n_lines = check_error_log(node, n_bad, seconds)
    print(f"compressed fuzz: {n_fuzz} messages in {seconds:.1f} s, {n_bad} bad, {n_lines} error log lines")
    assert_clean_exit(node)


# --------------------------------------------------------------------------------------------
# hand-picked cases, each against a running node and an in-test tracker fed the same frames


class FaultSession:
    """One running pose_node (landmark model copied to ``tmp_path``, so it can vanish) with an
    in-test tracker (:class:`Mirror`) fed the same frames; ``camera_timeout`` starts off, so no
    wait inside a test clears the tracker unless the test sets it."""

    def __init__(self, graph: Graph, tmp_path: Path, start_node: Callable[..., NodeProcess], ns: str) -> None:
        self.model = tmp_path / "pose_landmark_full.tflite"
        shutil.copy(ROOT / "models" / "pose_landmark_full.tflite", self.model)
        self.graph = graph
        self.node = start_node(ns, params={"reliable": True, "camera_timeout": 0.0, "model": str(self.model)})
        self.image_pub = graph.node.create_publisher(Image, self.node.topic("image"), RELIABLE)
        self.info_pub = graph.node.create_publisher(CameraInfo, self.node.topic("camera_info"), RELIABLE)
        self.poses = graph.subscribe(PoseKeypoints33Array, self.node.topic("pose_node/poses"))
        self.markers = graph.subscribe(MarkerArray, self.node.topic("pose_node/markers"))
        self.diags = graph.subscribe(DiagnosticArray, "/diagnostics")
        self.set_client = graph.node.create_client(SetParameters, self.node.topic("pose_node/set_parameters"))
        graph.wait_connected(self.image_pub, self.node, [self.node.topic("pose_node/poses"),
                                                         self.node.topic("pose_node/markers")])
        graph.spin_until(lambda: self.info_pub.get_subscription_count() >= 1, 10, "camera_info subscription",
                         self.node)
        self.mirror = Mirror()
        self.frames = video_frames(30)
        self.height, self.width = self.frames[0].shape[:2]
        self.t, self.i = 50.0, 0

    def next_frame(self, t: float | None = None) -> Image:
        self.t = self.t + 1.0 / 30.0 if t is None else t
        self.i += 1
        header = Header(stamp=stamp_of(self.t), frame_id=FRAME)
        return rgb_to_image_msg(self.frames[self.i % len(self.frames)], header)

    def good(self, msg: Image, what: str) -> PoseKeypoints33Array:
        fate, want = self.mirror.predict(msg)
        assert fate == "processed", what
        self.image_pub.publish(msg)
        got = wait_answer(self.graph, self.poses, stamp_ns(msg.header.stamp), self.node)
        assert_same_poses(got, want or [], what)
        return got

    def bad(self, msg: Image, fate: str) -> None:
        assert self.mirror.predict(msg)[0] == fate
        self.image_pub.publish(msg)
        self.graph.spin_for(0.1)
        self.node.assert_running()

    def set_info(self, info: CameraInfo) -> None:
        self.info_pub.publish(info)
        self.graph.spin_for(0.2)

    def set_double(self, name: str, value: float) -> Any:
        req = SetParameters.Request(parameters=[ParameterMsg(name=name, value=ParameterValue(
            type=ParameterType.PARAMETER_DOUBLE, double_value=value))])
        return self.graph.call(self.set_client, req).results[0]

    def diag(self, cond: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        return wait_diag(self.graph, self.diags, self.node, cond, what)

    def assert_every_frame_accounted_then_clean_exit(self) -> None:
        fates = self.mirror.fates
        d = self.diag(lambda d: unaccounted(d) == 0 and int(d["frames_received"]) == sum(fates.values()),
                      "diagnostics accounting for every frame")
        assert int(d["conversion_errors"]) == fates["conversion_error"]
        assert int(d["processing_errors"]) == fates["processing_error"]
        assert int(d["frames_processed"]) == fates["processed"]
        assert "Traceback" not in self.node.stderr()
        assert_clean_exit(self.node)


@pytest.mark.usefixtures("data_dir")  # real test media (scripts/setup.sh)
def test_unusable_camera_info_is_said_once_and_tracking_goes_on(
        graph: Graph, tmp_path: Path, start_node: Callable[..., NodeProcess]) -> None:
    f = FaultSession(graph, tmp_path, start_node, "/t_faults_info")
    # camera_info with zero focal length: said once, no camera points, tracking unaffected
    zero = camera_info_msg(f.width, f.height, f.t)
    zero.k = [0.0] * 9
    zero.p = [0.0] * 12
    f.set_info(zero)
    for i in range(3):
        got = f.good(f.next_frame(), f"frame {i} with a zero-focal camera_info")
        assert got.poses and not any(p.has_camera_points for p in got.poses)
    assert f.node.stderr().count("ignoring camera_info: its K") == 1, f.node.stderr()
    d = f.diag(lambda d: d["camera_info"].startswith("ignored"),
               "diagnostics saying the camera_info is ignored")
    assert "K" in d["camera_info"]

    # camera_info whose distortion solvePnP cannot take (3 coefficients): said once, no points
    odd = camera_info_msg(f.width, f.height, f.t)
    odd.d = [0.1, 0.01, 0.001]
    f.set_info(odd)
    for i in range(2):
        got = f.good(f.next_frame(), f"frame {i} with 3 distortion coefficients")
        assert got.poses and not any(p.has_camera_points for p in got.poses)
    assert f.node.stderr().count("cannot use camera_info") == 1, f.node.stderr()
    f.set_info(camera_info_msg(f.width, f.height, f.t))  # a good one: camera points come back
    got = f.good(f.next_frame(), "frame with a valid camera_info")
    assert got.poses and all(p.has_camera_points for p in got.poses)
    assert all(np.isfinite(points_array(p.camera_points)).all() for p in got.poses)
    f.assert_every_frame_accounted_then_clean_exit()


@pytest.mark.usefixtures("data_dir")
def test_odd_frames_are_refused_or_converted_and_the_next_one_is_tracked(
        graph: Graph, tmp_path: Path, start_node: Callable[..., NodeProcess]) -> None:
    f = FaultSession(graph, tmp_path, start_node, "/t_faults_frames")
    f.good(f.next_frame(), "a first frame")
    # a depth image (32FC1, metres with NaN and inf) sent to the camera topic: refused, clearly
    depth = np.full((f.height, f.width), 2.5, np.float32)
    depth[::7, ::5] = np.nan
    depth[1::9, ::3] = np.inf
    depth[2::11] = -np.inf
    depth_msg = Image(header=Header(stamp=stamp_of(f.t + 0.01), frame_id=FRAME), encoding="32FC1",
                      width=f.width, height=f.height, step=f.width * 4, is_bigendian=0)
    depth_msg.data = depth.tobytes()
    f.bad(depth_msg, "conversion_error")
    graph.spin_until(lambda: "not a camera image" in f.node.stderr(), 5, "the depth-image error line", f.node)

    # big-endian mono16 (a grey camera): the high byte of each big-endian sample
    grey = cv2.cvtColor(f.frames[3], cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    f.t += 1.0 / 30.0
    mono16 = Image(header=Header(stamp=stamp_of(f.t), frame_id=FRAME), encoding="mono16",
                   width=f.width, height=f.height, step=f.width * 2, is_bigendian=1)
    mono16.data = grey.astype(">u2").tobytes()
    little = Image(header=mono16.header, encoding="mono16", width=f.width, height=f.height,
                   step=f.width * 2, is_bigendian=0)
    little.data = grey.astype("<u2").tobytes()
    np.testing.assert_array_equal(image_msg_to_rgb(mono16), image_msg_to_rgb(little))
    assert f.good(mono16, "big-endian mono16").poses, "nobody found in the grey frame"

    # a frame that raises inside the worker (converts, the tracker refuses a 640x1 image):
    # skipped, counted, logged; the next frame is tracked exactly
    thin = rgb_to_image_msg(f.frames[0][:1], Header(stamp=stamp_of(f.t + 0.01), frame_id=FRAME))
    f.bad(thin, "processing_error")
    graph.spin_until(lambda: "frame failed: ValueError" in f.node.stderr(), 5, "the frame-failed line",
                     f.node)
    f.good(f.next_frame(), "the frame after a processing error")
    assert f.mirror.fates["conversion_error"] == f.mirror.fates["processing_error"] == 1
    f.assert_every_frame_accounted_then_clean_exit()


@pytest.mark.usefixtures("data_dir")
def test_a_looping_bag_resets_the_tracker_every_loop(graph: Graph, tmp_path: Path,
                                                      start_node: Callable[..., NodeProcess]) -> None:
    """Three loops of the same 8 stamps: every loop resets the tracker, no NaN/inf anywhere,
    results equal the in-test tracker (which resets the same way)."""
    f = FaultSession(graph, tmp_path, start_node, "/t_faults_loop")
    f.good(f.next_frame(), "a first frame")
    resets_before = int(f.diag(lambda d: unaccounted(d) == 0, "diagnostics")["timestamp_resets"])
    loop_start = f.t - 5.0
    for loop in range(3):
        for k in range(8):
            got = f.good(f.next_frame(loop_start + k / 30.0), f"loop {loop} frame {k}")
            for p in got.poses:
                assert np.isfinite(points_array(p.camera_points)).all()
                assert math.isfinite(p.score) and math.isfinite(p.roi.rotation)
    d = f.diag(lambda d: int(d["timestamp_resets"]) >= resets_before + 3,
               "diagnostics counting 3 timestamp resets")
    assert int(d["timestamp_resets"]) == resets_before + 3
    assert "jumped back" in f.node.stderr()
    f.assert_every_frame_accounted_then_clean_exit()


@pytest.mark.usefixtures("data_dir")
def test_rejected_parameter_updates_then_the_camera_timeout(graph: Graph, tmp_path: Path,
                                                            start_node: Callable[..., NodeProcess]) -> None:
    f = FaultSession(graph, tmp_path, start_node, "/t_faults_params")
    f.good(f.next_frame(), "a first frame")
    # a parameter update the pipeline cannot take (the model file is gone, so the tracker
    # cannot be rebuilt): rejected with the reason, the running tracker keeps working
    f.model.unlink()
    r = f.set_double("min_tracking_confidence", 0.7)
    assert not r.successful, "a parameter update that cannot rebuild the tracker was accepted"
    assert "could not rebuild the tracker" in r.reason and "does not exist" in r.reason, r.reason
    for value in (math.nan, math.inf):
        r = f.set_double("min_detection_confidence", value)
        assert not r.successful and r.reason, f"min_detection_confidence={value} accepted"
    r = f.set_double("no_such_parameter", 1.0)
    assert not r.successful
    f.good(f.next_frame(), "a frame after the rejected parameter updates")

    # the camera stops: after camera_timeout (set now, a valid update) the markers go
    # (DELETEALL), tracking is cleared, and the next frame starts from the detector like a
    # fresh in-test tracker
    n_markers = len(f.markers)
    r = f.set_double("camera_timeout", 0.5)
    assert r.successful, r.reason
    graph.spin_until(lambda: any(m.action == Marker.DELETEALL
                                 for _, a in f.markers[n_markers:] for m in a.markers),
                     5, "DELETEALL after camera_timeout", f.node)
    f.diag(lambda d: d["camera_timeouts"] == "1", "the camera timeout in diagnostics")
    f.mirror.tracker.reset()
    got = f.good(f.next_frame(), "the first frame after the camera came back")
    assert got.poses
    f.assert_every_frame_accounted_then_clean_exit()


# --------------------------------------------------------------------------------------------
# start-up faults


def test_startup_faults_corrupt_model_and_delegates(tmp_path: Path, graph: Graph,
                                                    start_node: Callable[..., NodeProcess]) -> None:
    full = (ROOT / "models" / "pose_landmark_full.tflite").read_bytes()
    renamed = tmp_path / "my_landmarks.tflite"  # unknown name: the TFLite runtime finds the damage
    renamed.write_bytes(full[: len(full) // 2])
    known = tmp_path / "pose_landmark_full.tflite"  # known name: the SHA-256 check finds it
    known.write_bytes(full[:-1000])
    failing = {
        "truncated model": ({"model": str(renamed)}, ["cannot load model", "my_landmarks.tflite", "corrupt"]),
        "truncated known model": ({"model": str(known)}, ["corrupt", "fetch_models.py"]),
        "missing detector": ({"detector_model": str(tmp_path / "none.tflite")}, ["none.tflite"]),
        "gpu delegate missing": ({"delegate": "gpu"}, ["libtensorflowlite_gpu_delegate.so", "Fix:",
                                                       "delegate='cpu'"]),
        "edgetpu without compiled model": ({"delegate": "edgetpu"}, ["_edgetpu.tflite", "Fix:"]),
    }
    procs = {name: start_node(f"/t_start{i}", params=p) for i, (name, (p, _)) in enumerate(failing.items())}
    auto = start_node("/t_auto", params={"delegate": "auto"})
    diags = graph.subscribe(DiagnosticArray, "/diagnostics")
    for name, proc in procs.items():
        try:
            code = proc.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name}: pose_node kept running:\n{proc.stderr()}")
        err = proc.stderr()
        assert code == 1, f"{name}: exit code {code}\n{err}"
        assert "Traceback" not in err, f"{name}:\n{err}"
        errors = [line for line in err.splitlines() if "[ERROR]" in line]
        assert len(errors) == 1 and "cannot start" in errors[0], f"{name}: not one clear line:\n{err}"
        for want in failing[name][1]:
            assert want in errors[0], f"{name}: the error does not say {want!r}:\n{err}"
    # auto with no accelerator here: falls back to cpu, says why in the log and in diagnostics
    d = wait_diag(graph, diags, auto, lambda d: True, "diagnostics of the delegate:=auto node", timeout=30)
    assert d["active_delegate"] == "cpu" and d["requested_delegate"] == "auto"
    err = auto.stderr()
    assert "delegate auto: running on cpu because gpu:" in err and "libtensorflowlite_gpu_delegate.so" in err
    assert_clean_exit(auto)
