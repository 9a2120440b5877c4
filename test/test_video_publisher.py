"""video_publisher: the node as a separate process over real DDS, and its ROS-free parts.

Both ends run with config/fastdds_large_frames.xml: with Fast DDS's default 512 KiB shared-memory
segment, about half of the 900 KiB BEST_EFFORT frames are lost between processes (see the
profile's header), and frame counts could not be checked exactly.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402

from blazepose_ros.media import FrameSource, SourceError  # noqa: E402
from blazepose_ros.ros.image_conversion import compressed_msg_to_rgb, image_msg_to_rgb  # noqa: E402
from blazepose_ros.ros.video_publisher import load_camera_info, pinhole_camera_info  # noqa: E402

pytestmark = pytest.mark.dds

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "test" / "data" / "sample_people.mp4"
DDS_PROFILE = ROOT / "config" / "fastdds_large_frames.xml"
BEST_EFFORT = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=500,
                         reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)


def video_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VIDEO))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            return frames
        frames.append(f)


@pytest.fixture
def node(monkeypatch):
    monkeypatch.setenv("FASTDDS_DEFAULT_PROFILES_FILE", str(DDS_PROFILE))  # read when rclpy creates the node
    rclpy.init()
    n = rclpy.create_node("video_publisher_test")
    try:
        yield n
    finally:
        n.destroy_node()
        rclpy.try_shutdown()


class Child:
    """The publisher as a child process; always stopped in ``stop`` (called from finally)."""

    def __init__(self, ros_env: dict[str, str], *params: str, remaps: tuple[str, ...] = ()) -> None:
        args = [sys.executable, "-m", "blazepose_ros.ros.video_publisher", "--ros-args"]
        for p in params:
            args += ["-p", p]
        for r in remaps:
            args += ["-r", r]
        env = dict(ros_env, FASTDDS_DEFAULT_PROFILES_FILE=str(DDS_PROFILE))
        self.proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out + err

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spin_until(node, cond, timeout: float, child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)


def test_publishes_the_whole_video_with_camera_info(node, ros_env):
    expected = video_frames()
    images: list[tuple[float, Image]] = []
    infos: list[CameraInfo] = []
    node.create_subscription(Image, "/cam/image", lambda m: images.append((time.monotonic(), m)), BEST_EFFORT)
    node.create_subscription(CameraInfo, "/cam/camera_info", infos.append, BEST_EFFORT)
    child = Child(ros_env, f"source:={VIDEO}", "rate:=60.0", "frame_id:=test_optical", "fov_deg:=90.0",
                  "wait_for_subscribers:=1",
                  remaps=("image:=/cam/image", "camera_info:=/cam/camera_info"))
    try:
        spin_until(node, lambda: child.proc.poll() is not None, 40.0)
        assert child.proc.poll() == 0, child.output()  # exits 0 by itself at the end of the video
        spin_until(node, lambda: len(images) >= len(expected) and len(infos) >= len(expected), 3.0)
        log = child.output()
    finally:
        child.stop()
    assert "opened video" in log and "640x480" in log and "30.00 fps" in log
    assert f"{len(expected)} frames" in log
    assert "Traceback" not in log
    assert len(images) == len(expected) == 90, f"got {len(images)} of {len(expected)} frames"
    first = images[0][1]
    assert (first.encoding, first.width, first.height, first.step) == ("rgb8", 640, 480, 1920)
    assert first.header.frame_id == "test_optical"
    for k in (0, 45, 89):  # the very pixels of the video, in RGB
        np.testing.assert_array_equal(image_msg_to_rgb(images[k][1]), expected[k][..., ::-1])
    # stamps from the node clock, one per frame, ~1/60 s apart; arrival rate roughly 60 Hz
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in images])
    assert (np.diff(stamps) > 0).all()
    assert np.median(np.diff(stamps)) == pytest.approx(1 / 60, rel=0.25)
    span = images[-1][0] - images[0][0]
    assert 89 / 60 * 0.7 < span < 89 / 60 * 1.6, span
    # camera info: same stamps and frame, pinhole K of a 90 degree horizontal field of view
    info = infos[0]
    assert (info.width, info.height, info.header.frame_id) == (640, 480, "test_optical")
    k = np.array(info.k).reshape(3, 3)
    np.testing.assert_allclose(k, [[320, 0, 319.5], [0, 320, 239.5], [0, 0, 1]])
    np.testing.assert_allclose(np.array(info.p).reshape(3, 4)[:, :3], k)
    assert info.distortion_model == "plumb_bob" and list(info.d) == [0.0] * 5
    # one CameraInfo per image, same stamp (best effort: a rare loss of one is transport, not us)
    info_stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in infos]
    image_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for _, m in images}
    assert len(set(info_stamps)) == len(info_stamps) and set(info_stamps) <= image_stamps
    assert len(info_stamps) >= len(expected) - 2, f"{len(info_stamps)} CameraInfo for {len(expected)} images"


def test_bgr8_compressed_max_frames_reliable_and_loop(node, ros_env):
    expected = video_frames()
    images: list[Image] = []
    comp: list[CompressedImage] = []
    node.create_subscription(Image, "/vp2/image", images.append, QoSProfile(depth=100))  # reliable
    node.create_subscription(CompressedImage, "/vp2/image/compressed", comp.append, QoSProfile(depth=100))
    child = Child(ros_env, f"source:={VIDEO}", "rate:=100.0", "encoding:=bgr8", "compressed:=true",
                  "jpeg_quality:=95", "max_frames:=120", "loop:=true", "reliable:=true", "qos_depth:=50",
                  "wait_for_subscribers:=2", "preload:=false",
                  remaps=("image:=/vp2/image", "image/compressed:=/vp2/image/compressed"))
    try:
        spin_until(node, lambda: child.proc.poll() is not None, 40.0)
        assert child.proc.poll() == 0, child.output()
        spin_until(node, lambda: len(images) >= 120 and len(comp) >= 120, 3.0)
        log = child.output()
    finally:
        child.stop()
    assert "streamed" in log
    assert len(images) == 120 and len(comp) == 120  # reliable: every frame, past the loop point
    assert images[0].encoding == "bgr8"
    np.testing.assert_array_equal(np.frombuffer(images[95].data, np.uint8).reshape(480, 640, 3), expected[5])
    assert comp[0].format == "jpeg" and comp[0].header.frame_id == "camera_optical_frame"
    dec = compressed_msg_to_rgb(comp[95])
    err = np.abs(dec.astype(int) - expected[5][..., ::-1].astype(int)).mean()
    assert err < 3.0, err
    assert comp[95].header.stamp == images[95].header.stamp


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_stop_a_looping_publisher_cleanly(node, ros_env, sig):
    got: list[Image] = []
    node.create_subscription(Image, "/vp3/image", got.append, BEST_EFFORT)
    child = Child(ros_env, f"source:={VIDEO}", "loop:=true", "rate:=30.0", remaps=("image:=/vp3/image",))
    try:
        spin_until(node, lambda: len(got) >= 5 or child.proc.poll() is not None, 30.0)
        assert len(got) >= 5, child.output()
        child.proc.send_signal(sig)
        rc = child.wait(timeout=15)
        log = child.output()
    finally:
        child.stop()
    assert rc == 0, log
    assert "Traceback" not in log and "Error" not in log


def test_image_folder_with_calibration_file(node, ros_env, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    src = cv2.imread(str(ROOT / "test" / "data" / "bus.jpg"))
    src = cv2.resize(src, (320, 240))
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.roll(src, 10 * i, axis=1))
    (folder / "notes.txt").write_text("not an image")
    calib = tmp_path / "cam.yaml"
    calib.write_text(
        "image_width: 640\nimage_height: 480\ncamera_name: test\n"
        "camera_matrix: {rows: 3, cols: 3, data: [500.0, 0, 320.0, 0, 502.0, 240.0, 0, 0, 1]}\n"
        "distortion_model: plumb_bob\n"
        "distortion_coefficients: {rows: 1, cols: 5, data: [-0.1, 0.01, 0, 0, 0]}\n"
        "rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}\n"
        "projection_matrix: {rows: 3, cols: 4, data: [500.0, 0, 320.0, 0, 0, 502.0, 240.0, 0, 0, 0, 1, 0]}\n")
    images: list[Image] = []
    infos: list[CameraInfo] = []
    node.create_subscription(Image, "/vp4/image", images.append, BEST_EFFORT)
    node.create_subscription(CameraInfo, "/vp4/camera_info", infos.append, BEST_EFFORT)
    child = Child(ros_env, f"source:={folder}", f"camera_info_file:={calib}", "rate:=20.0",
                  "wait_for_subscribers:=1", remaps=("image:=/vp4/image", "camera_info:=/vp4/camera_info"))
    try:
        spin_until(node, lambda: child.proc.poll() is not None, 30.0)
        assert child.proc.poll() == 0, child.output()
        spin_until(node, lambda: len(images) >= 4 and len(infos) >= 4, 3.0)
        log = child.output()
    finally:
        child.stop()
    assert "folder" in log and "4 images" in log and "scaled K and P" in log
    assert len(images) == 4
    np.testing.assert_array_equal(image_msg_to_rgb(images[2]), np.roll(src, 20, axis=1)[..., ::-1])
    k = np.array(infos[0].k).reshape(3, 3)
    np.testing.assert_allclose(k, [[250, 0, 160], [0, 251, 120], [0, 0, 1]])
    assert list(infos[0].d) == pytest.approx([-0.1, 0.01, 0, 0, 0])


def test_bad_source_exits_with_a_clear_error(ros_env):
    child = Child(ros_env, "source:=/no/such/video.mp4")
    try:
        rc = child.wait(timeout=30)
        log = child.output()
    finally:
        child.stop()
    assert rc == 2
    assert "neither a file, a folder nor a camera index" in log and "Traceback" not in log


def test_bad_encoding_parameter_exits_with_a_clear_error(ros_env):
    child = Child(ros_env, f"source:={VIDEO}", "encoding:=mono8")
    try:
        rc = child.wait(timeout=30)
        log = child.output()
    finally:
        child.stop()
    assert rc == 2 and "rgb8 or bgr8" in log


# ------------------------------------------------------------------------------ ROS-free parts


def test_frame_source_video_and_rewind():
    src = FrameSource(str(VIDEO))
    try:
        assert (src.info.width, src.info.height, src.info.fps, src.info.frames) == (640, 480, 30.0, 90)
        frames = list(src.frames())
        assert len(frames) == 90
        src.rewind()
        np.testing.assert_array_equal(src.read(), frames[0])
    finally:
        src.close()


@pytest.mark.parametrize(("source", "match"), [("", "empty"), ("/nonexistent", "neither"),
                                              (str(ROOT / "README.md"), "cannot open video")])
def test_frame_source_errors(source, match, tmp_path):
    with pytest.raises(SourceError, match=match):
        FrameSource(source)
    with pytest.raises(SourceError, match="no images"):
        FrameSource(str(tmp_path))


def test_camera_info_helpers(tmp_path):
    info = pinhole_camera_info(1280, 720, 60.0)
    f = 640 / np.tan(np.radians(30))
    assert info.k[0] == pytest.approx(f) and info.k[4] == pytest.approx(f)
    assert (info.k[2], info.k[5]) == (639.5, 359.5)
    bad = tmp_path / "bad.yaml"
    bad.write_text("image_width: 640\n")
    with pytest.raises(SourceError, match="cannot read camera calibration"):
        load_camera_info(bad, 640, 480)
