#!/usr/bin/env python3
"""ROS end to end: publisher -> pose_node -> subscriber, three processes over real DDS.

    . scripts/env.sh && python bench/bench_ros.py [--quick] [--sizes 640x480 1280x720 1920x1080]
                                                  [--repeats 3] [--compare-malloc] [--native]

For each size and transport (raw rgb8 ``Image``, JPEG ``CompressedImage``):

* ``video_publisher`` (its own process) publishes pre-encoded frames of a virtual camera
  moving over zidane.jpg (written once to a temporary folder), stamped with the
  system clock at publish time;
* ``pose_node`` (its own process, default parameters, markers on, one thread) tracks;
* this process subscribes to ``/pose_node/poses`` and takes latency = arrival time -
  header stamp (the image's stamp travels through), and reads ``/diagnostics``.

Runs per case: *latency* at 10 Hz (the node is never saturated, no queueing; ``--repeats``
runs, alternating with the floor runs below, samples pooled) and
*throughput* with the publisher at 100 Hz (the node drops to its own rate: latest frame
wins). ROS overhead = median end-to-end latency - median pipeline time, with the pipeline
time taken two ways: ``PoseTracker.process`` on the same frames in this process just
before, and the node's own ``pipeline_time_ms`` (same code, under the same CPU contention
as the rest of the graph, from ``/diagnostics``); the
target is <= 2 ms at 1280x720. All processes share the machine's cores.

The *floor* run replaces pose_node by a zero-work relay (``--relay``: same subscription QoS,
same ``keep_frame_memory``, publishes a prebuilt ``PoseKeypoints33Array`` with the image's
header from the subscription callback): what any Python node in this graph costs before it does
anything. "node over floor" = the node's overhead minus that floor.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl

from blazepose_ros.core import PoseTracker


def write_frames(size: tuple[int, int], n: int, folder: Path) -> list[np.ndarray]:
    frames = bl.motion("zidane.jpg", n, size)
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return frames


def pipeline_ms(frames: list[np.ndarray], reps: int) -> float:
    tr = PoseTracker()
    t = []
    for rep in range(reps):
        for i, f in enumerate(frames):
            t0 = time.perf_counter()
            tr.process(f, (rep * len(frames) + i) / 30)
            t.append(time.perf_counter() - t0)
    return bl.ms(t[len(frames) // 3:])


def relay(compressed: bool, keep: bool) -> int:
    """The zero-work stand-in for pose_node (run in its own process by ``run_case``)."""
    import rclpy
    from blazepose_ros.msg import PoseKeypoints33, PoseKeypoints33Array
    from rclpy.qos import QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    from blazepose_ros.ros.malloc_tuning import keep_frame_memory
    from blazepose_ros.ros.signals import init_with_stop_event

    stop = init_with_stop_event(None)
    if keep:
        keep_frame_memory()
    node = rclpy.create_node("pose_node")
    pub = node.create_publisher(PoseKeypoints33Array, "~/poses", QoSProfile(depth=10))
    out = PoseKeypoints33Array(poses=[PoseKeypoints33()])

    def on_image(msg: Image | CompressedImage) -> None:
        out.header = out.poses[0].header = msg.header
        pub.publish(out)

    image_qos = QoSProfile(depth=1, reliability=qos_profile_sensor_data.reliability)
    if compressed:
        node.create_subscription(CompressedImage, "image/compressed", on_image, image_qos)
    else:
        node.create_subscription(Image, "image", on_image, image_qos)
    while not stop.is_set():
        rclpy.spin_once(node, timeout_sec=0.1)
    rclpy.try_shutdown()
    return 0


def spawn(args: list[str], log: Path, program: str = sys.executable) -> subprocess.Popen:
    return subprocess.Popen([program, *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True, env=os.environ.copy())


def build_native(out: Path) -> Path:
    """Compile bench/native_endpoints.c against the venv's rcl and the built messages."""
    import sysconfig

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("--native needs a C compiler (cc or gcc)")
    venv, install = Path(sys.prefix), bl.ROOT / ".colcon" / "install" / "blazepose_ros"
    pylib = sysconfig.get_config_var("LIBDIR")
    libdirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    cmd = [cc, "-O2", "-o", str(out), str(bl.ROOT / "bench" / "native_endpoints.c"),
           *(f"-I{d}" for d in sorted((venv / "include").iterdir()) if d.is_dir()),
           f"-I{install / 'include' / 'blazepose_ros'}", f"-L{venv / 'lib'}", f"-L{install / 'lib'}",
           "-lrcl", "-lrcutils", "-lrmw", "-lrosidl_runtime_c", "-lsensor_msgs__rosidl_generator_c",
           "-lsensor_msgs__rosidl_typesupport_c", "-lblazepose_ros__rosidl_generator_c",
           "-lblazepose_ros__rosidl_typesupport_c", *(f"-Wl,-rpath-link,{d}" for d in libdirs),
           # the rcl wheel links message libraries that reference libpython's symbols
           f"-L{pylib}", "-Wl,--no-as-needed", f"-lpython{sysconfig.get_python_version()}",
           f"-Wl,-rpath,{pylib}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"building the native endpoints failed:\n{res.stderr[-3000:]}")
    return out


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def run_case(folder: Path, compressed: bool, rate: float, seconds: float, warmup: float,
             logdir: Path, floor: bool = False, keep: bool = True,
             native: Path | None = None) -> dict[str, float]:
    """One run; ``native``: the compiled native_endpoints as camera and consumer (raw only)."""
    import rclpy
    from blazepose_ros.msg import PoseKeypoints33Array
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile

    tag = (f"{folder.name}_{'jpeg' if compressed else 'raw'}_{rate:g}{'_floor' if floor else ''}"
           f"{'' if keep else '_mallocdefaults'}")
    comp = f"compressed:={str(compressed).lower()}"
    keep_param = ["-p", f"keep_frame_memory:={str(keep).lower()}"]
    log = logdir / f"node_{tag}.log"
    if floor:
        node = spawn([__file__, "--relay"] + (["--compressed"] if compressed else [])
                     + ([] if keep else ["--malloc-defaults"]), log)
    else:
        node = spawn(["-m", "blazepose_ros.ros.pose_node", "--ros-args", "-p", comp, *keep_param,
                      "-p", "use_camera_info:=false", "-p", "no_image_warning:=0.0"], log)
    native_sub = None
    if native is not None:
        w, h = (int(v) for v in folder.name.split("x"))
        pub = spawn(["pub", str(folder / "frames.rgb"), str(w), str(h), str(rate),
                     str(warmup + seconds + 10)], logdir / f"pub_{tag}_native.log", program=str(native))
        native_out = logdir / f"sub_{tag}_native.txt"
        native_sub = spawn(["sub", str(warmup + seconds)], native_out, program=str(native))
    else:
        pub = spawn(["-m", "blazepose_ros.ros.video_publisher", "--ros-args", "-p", f"source:={folder}",
                     "-p", f"rate:={rate}", "-p", "loop:=true", "-p", comp, "-p", "wait_for_subscribers:=1",
                     *keep_param], logdir / f"pub_{tag}.log")
    lat: list[float] = []
    arrivals: list[float] = []
    diag: dict[str, list[float]] = {"processing_time_ms": [], "pipeline_time_ms": [], "output_rate_hz": [],
                                    "input_rate_hz": []}
    t_start = time.monotonic()
    measuring = [False]

    def on_poses(msg: PoseKeypoints33Array) -> None:
        if not measuring[0]:
            return
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        lat.append((now - stamp) * 1e-9)
        arrivals.append(time.monotonic())

    def on_diag(msg: DiagnosticArray) -> None:
        if not measuring[0]:
            return
        for st in msg.status:
            if "pose tracking" in st.name:
                for kv in st.values:
                    if kv.key in diag and kv.value != "nan":
                        diag[kv.key].append(float(kv.value))

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    sub_node = rclpy.create_node("bench_ros_sub", context=ctx)
    if native_sub is None:
        sub_node.create_subscription(PoseKeypoints33Array, "/pose_node/poses", on_poses, QoSProfile(depth=50))
    sub_node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, QoSProfile(depth=10))
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(sub_node)
    try:
        while time.monotonic() - t_start < warmup + seconds:
            measuring[0] = time.monotonic() - t_start > warmup
            ex.spin_once(timeout_sec=0.05)
    finally:
        if native_sub is not None:
            native_sub.wait(10)
        stop(pub)
        stop(node)
        sub_node.destroy_node()
        rclpy.shutdown(context=ctx)
    if native_sub is not None:  # lines "latency_ns arrival_monotonic_ns"
        rows = [line.split() for line in native_out.read_text().splitlines()]
        rows = [(int(a) * 1e-9, int(b) * 1e-9) for a, b in rows if int(b) * 1e-9 - t_start > warmup]
        lat, arrivals = [r[0] for r in rows], [r[1] for r in rows]
    dur = (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else float("nan")
    return {"lat": lat, "rate": (len(arrivals) - 1) / dur if dur == dur and dur > 0 else float("nan"),
            **{k: v for k, v in diag.items()}}


def pooled(runs: list[dict]) -> dict[str, float]:
    """Statistics over the samples of several runs of one case (repeats are interleaved)."""
    lat = [x for r in runs for x in r["lat"]]

    def pool(key: str) -> float:
        return med([x for r in runs for x in r[key]])

    return {"n": len(lat), "p50": bl.ms(lat, 50), "p90": bl.ms(lat, 90), "p99": bl.ms(lat, 99),
            "rate": med([r["rate"] for r in runs]), "node_proc": pool("processing_time_ms"),
            "node_pipe": pool("pipeline_time_ms"), "in_rate": pool("input_rate_hz")}


def med(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs, 640x480 and 1280x720 only")
    ap.add_argument("--sizes", nargs="+", help="WxH list (default 640x480 1280x720 1920x1080)")
    ap.add_argument("--seconds", type=float, help="measured seconds per run (default 20, quick 6)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="latency runs per case, node and zero-work floor alternating (samples pooled)")
    ap.add_argument("--compare-malloc", action="store_true",
                    help="also run every case with glibc malloc defaults (keep_frame_memory:=false in "
                         "publisher and node), side by side")
    ap.add_argument("--native", action="store_true",
                    help="also run with a C camera and a C consumer (bench/native_endpoints.c, built with "
                         "cc against rcl) around the node, as on a robot with a C++ camera driver; raw only")
    ap.add_argument("--relay", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--malloc-defaults", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--compressed", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.relay:
        return relay(args.compressed, keep=not args.malloc_defaults)
    sizes = args.sizes or (["640x480", "1280x720"] if args.quick else ["640x480", "1280x720", "1920x1080"])
    seconds = args.seconds or (6.0 if args.quick else 20.0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ros_"))
    native = build_native(tmp / "native_endpoints") if args.native else None
    rows = []
    for s in sizes:
        w, h = (int(v) for v in s.split("x"))
        folder = tmp / s
        frames = write_frames((w, h), 30, folder)
        pipe = pipeline_ms(frames, 2 if args.quick else 4)
        mallocs = (True, False) if args.compare_malloc else (True,)
        cases = [(c, k, None) for c, k in itertools.product(("raw rgb8", "JPEG"), mallocs)]
        if native is not None:
            (folder / "frames.rgb").write_bytes(b"".join(np.ascontiguousarray(f).tobytes() for f in frames))
            cases += [("raw rgb8, C camera + C consumer", k, native) for k in mallocs]
        for transport, keep, exe in cases:
            compressed = transport == "JPEG"
            lat_runs, floor_runs = [], []
            for _ in range(args.repeats):  # node and floor alternate: drifts of the machine hit both
                for runs, floor in ((lat_runs, False), (floor_runs, True)):
                    runs.append(run_case(folder, compressed, 10.0, seconds, 4.0, tmp, floor=floor, keep=keep,
                                         native=exe))
            lat, floor = pooled(lat_runs), pooled(floor_runs)
            thr = pooled([run_case(folder, compressed, 100.0, seconds / 2, 4.0, tmp, keep=keep, native=exe)])
            overhead = lat["p50"] - lat["node_pipe"]
            rows.append([s, transport, "keep_frame_memory" if keep else "glibc defaults", lat["n"], pipe,
                         lat["p50"], lat["p90"], lat["p99"], lat["p50"] - pipe, lat["node_pipe"], overhead,
                         floor["p50"], overhead - floor["p50"], lat["node_proc"], thr["rate"],
                         thr["in_rate"]])
    print(bl.header("ROS end to end (publisher -> pose_node -> subscriber, separate processes)"))
    print(bl.table(["size", "transport", "malloc", "frames", "pipeline ms (in-process)", "e2e p50 ms",
                    "e2e p90 ms", "e2e p99 ms", "ROS overhead ms (p50 - pipeline)",
                    "pipeline ms in the node (diag)",
                    "ROS overhead ms (p50 - pipeline in the node)", "floor p50 ms (zero-work relay)",
                    "node over floor ms", "node processing ms (diag)",
                    "throughput Hz (pub 100 Hz)", "received Hz"], rows))
    print(f"\nLatency runs: publisher at 10 Hz; logs in {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
