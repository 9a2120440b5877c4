"""ros/camera_input.py in-process: CameraInfo checks, what is logged once, camera points from PnP
and depth, on a real rclpy node's logger with real CameraInfo messages and the real pipeline's pose
of test/data/bus.jpg (no DDS, no node process)."""

from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from builtin_interfaces.msg import Time  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from blazepose_ros.core.camera import camera_frame_points, intrinsics_from_fov  # noqa: E402
from blazepose_ros.core.depth import SOURCE_DEPTH, SOURCE_PNP, DepthOptions  # noqa: E402
from blazepose_ros.ros.camera_input import CAMERA_INFO_GRACE_S, CameraInput  # noqa: E402
from blazepose_ros.ros.depth_input import DepthInput  # noqa: E402

pytestmark = pytest.mark.unit

FRAME = "camera_color_optical_frame"
TOPIC = "/cam/camera_info"
MISSING = ("no CameraInfo on '/cam/camera_info': publishing markers of the world skeleton (metres, "
           "origin between the hips) in the image frame, no camera_points")


def info_msg(width: int, height: int, fov_deg: float = 60.0, d: list[float] | None = None,
             p_fov_deg: float | None = None, distortion_model: str = "plumb_bob") -> CameraInfo:
    """A CameraInfo as a driver sends it: K of a ``fov_deg`` pinhole, D, and P (of ``p_fov_deg``,
    as rectification changes the focal length; default the same as K)."""
    k = intrinsics_from_fov(width, height, fov_deg)
    kp = intrinsics_from_fov(width, height, p_fov_deg or fov_deg)
    info = CameraInfo(width=width, height=height, distortion_model=distortion_model)
    info.header = Header(stamp=Time(sec=1), frame_id=FRAME)
    info.k = [float(v) for v in k.reshape(-1)]
    info.d = [0.0] * 5 if d is None else list(d)
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [kp[0, 0], 0.0, kp[0, 2], 0.0, 0.0, kp[1, 1], kp[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def header(ns: int) -> Header:
    return Header(stamp=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=FRAME)


def reprojection_px(points: np.ndarray, k: np.ndarray, keypoints: np.ndarray) -> float:
    """Median distance in px between the camera points projected with ``k`` and the visible keypoints
    (keypoints are measured from the top-left pixel corner, K from the first pixel's centre)."""
    uvw = points @ k.T
    uv = uvw[:, :2] / uvw[:, 2:] + 0.5
    visible = keypoints[:, 3] > 0.5
    return float(np.median(np.linalg.norm(uv - keypoints[:, :2], axis=1)[visible]))


@pytest.fixture(scope="module")
def scene():
    from depth_scene import make_scene  # the real pose of bus.jpg and a depth image around it

    return make_scene()


@pytest.fixture
def node():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    n = rclpy.create_node("camera_input_test", context=ctx)
    try:
        yield n
    finally:
        n.destroy_node()
        ctx.try_shutdown()


def logged(capfd: pytest.CaptureFixture[str]) -> str:
    return capfd.readouterr().err


def test_a_message_is_checked_once_and_a_replaced_one_again(node, capfd) -> None:
    cam = CameraInput(node.get_logger(), TOPIC)
    assert cam.info is None and cam.status() == "no" and not cam.usable
    assert cam.model((810, 1080), False) is None  # nothing yet, no image yet: nothing said
    first = info_msg(810, 1080, d=[-0.05, 0.01, 0.0, 0.0, 0.0])
    cam.set_info(first)
    model = cam.model(None, False)  # before the first image: the size is not checked
    assert model is not None and cam.status() == "yes" and cam.usable
    np.testing.assert_array_equal(model.k, np.asarray(first.k).reshape(3, 3))
    np.testing.assert_array_equal(model.d, first.d)  # zeros would be None: no distortion
    at_size = cam.model((810, 1080), False)
    assert at_size is not None and at_size is not model  # another image size: checked again
    assert cam.model((810, 1080), False) is at_size  # same message, size and mode: the cached check
    cam.set_info(info_msg(810, 1080))  # the driver's next message, same intrinsics
    again = cam.model((810, 1080), False)
    assert again is not None and again is not at_size
    np.testing.assert_array_equal(again.k, at_size.k)
    cam.set_info(info_msg(810, 1080, fov_deg=50.0))  # replaced by another calibration: it is used
    wider = cam.model((810, 1080), False)
    assert wider is not None and wider.k[0, 0] > at_size.k[0, 0] * 1.2
    assert cam.info is not None and cam.info.k[0] == pytest.approx(wider.k[0, 0])
    assert "camera_info" not in logged(capfd)  # a good CameraInfo says nothing


def test_bad_k_and_size_mismatch_are_ignored_and_warned_once_each(node, capfd, scene) -> None:
    cam = CameraInput(node.get_logger(), TOPIC)
    size = (810, 1080)
    for _ in range(3):  # a new message every frame with the same problem: warned once
        nan_fx = info_msg(*size)
        nan_fx.k = [float("nan"), *nan_fx.k[1:]]
        cam.set_info(nan_fx)
        assert cam.model(size, False) is None
    assert cam.status().startswith("ignored: its K matrix has non-finite values ([nan, 0, 404.5")
    assert not cam.usable
    assert cam.camera_points([scene.pose], None, header(1), size) == ([None], None)  # no model, no points

    other = info_msg(640, 480)  # another stream's camera_info
    cam.set_info(other)
    assert cam.model(None, False) is not None  # no image yet: cannot tell it is the wrong one
    for _ in range(3):
        assert cam.model(size, False) is None
    mismatch = ("it is for 640x480 images but the images are 810x1080 (use the camera_info of this "
                "image stream)")
    assert cam.status() == f"ignored: {mismatch}" and not cam.usable

    zero = info_msg(*size)
    zero.k = [0.0] * 9
    cam.set_info(zero)
    assert cam.model(size, False) is None
    assert cam.status().startswith("ignored: its K matrix is all zeros: the camera is uncalibrated; ")

    cam.set_info(info_msg(*size))  # a good one: usable again, the problem is gone
    assert cam.model(size, False) is not None and cam.status() == "yes" and cam.usable
    nan_again = info_msg(*size)
    nan_again.k = [float("nan"), *nan_again.k[1:]]
    cam.set_info(nan_again)  # a problem already said: ignored again, not said again
    assert cam.model(size, False) is None and not cam.usable

    err = logged(capfd)
    assert err.count("ignoring camera_info: its K matrix has non-finite values") == 1, err
    assert err.count(f"ignoring camera_info: {mismatch}") == 1, err
    assert err.count("ignoring camera_info: its K matrix is all zeros: the camera is uncalibrated") == 1, err
    assert "[WARN]" in err.splitlines()[0]


def test_unsupported_distortion_is_used_as_undistorted_and_said_once(node, capfd) -> None:
    cam = CameraInput(node.get_logger(), TOPIC)
    for _ in range(2):
        cam.set_info(info_msg(810, 1080, d=[0.1, 0.2, 0.3, 0.4], distortion_model="equidistant"))
        model = cam.model((810, 1080), False)
        assert model is not None and model.d is None
    assert cam.status() == "yes" and cam.usable
    err = logged(capfd)
    assert err.count("camera_info distortion model 'equidistant' is not supported by solvePnP: using it "
                     "as undistorted") == 1, err


def test_missing_camera_info_is_said_once_after_the_grace_time(node, capfd) -> None:
    cam = CameraInput(node.get_logger(), TOPIC)
    cam.image_received(time.monotonic())  # the first image just arrived: give camera_info time
    assert cam.model((810, 1080), False) is None
    assert "no CameraInfo" not in logged(capfd)

    late = CameraInput(node.get_logger(), TOPIC)
    late.image_received(time.monotonic() - CAMERA_INFO_GRACE_S - 0.5)
    late.image_received(time.monotonic())  # later images do not restart the grace time
    for _ in range(3):
        assert late.model((810, 1080), False) is None
    err = logged(capfd)
    assert err.count(MISSING) == 1 and "[INFO]" in err, err
    late.forget()  # a new stream: said already, not again
    late.image_received(time.monotonic() - CAMERA_INFO_GRACE_S - 0.5)
    assert late.model((810, 1080), False) is None and late.status() == "no"
    assert "no CameraInfo" not in logged(capfd)

    late.set_info(info_msg(810, 1080))
    assert late.model((810, 1080), False) is not None and late.status() == "yes"
    late.forget()
    assert late.info is None and late.status() == "no" and not late.usable

    disabled = CameraInput(node.get_logger())  # use_camera_info false: no topic
    disabled.image_received(time.monotonic() - CAMERA_INFO_GRACE_S - 0.5)
    assert disabled.model((810, 1080), False) is None
    assert "no CameraInfo on 'camera_info (disabled)'" in logged(capfd)


def test_rectified_images_use_p_and_no_distortion(node, capfd, scene) -> None:
    """A rectified stream's P has another focal length than the raw camera's K: with ``rectified``
    the points come from P (they project back onto the keypoints through P) and D is ignored."""
    h, w = scene.rgb.shape[:2]
    pose = scene.pose
    cam = CameraInput(node.get_logger(), TOPIC)
    cam.set_info(info_msg(w, h, fov_deg=60.0, d=[-0.05, 0.01, 0.0, 0.0, 0.0], p_fov_deg=50.0))
    raw = cam.model((w, h), False)
    rect = cam.model((w, h), True)  # the parameter changed at run time: checked again
    assert raw is not None and rect is not None
    np.testing.assert_array_equal(raw.k, np.asarray(cam.info.k).reshape(3, 3))
    np.testing.assert_array_equal(rect.k, np.asarray(cam.info.p).reshape(3, 4)[:, :3])
    assert raw.d is not None and rect.d is None
    assert cam.model((w, h), True) is rect

    (p_raw,), src_raw = cam.camera_points([pose], raw, header(1), (w, h))
    (p_rect,), src_rect = cam.camera_points([pose], rect, header(1), (w, h))
    assert src_raw is None and src_rect is None  # no depth: all PnP
    assert p_raw is not None and p_rect is not None
    assert (p_rect[:, 2] > 0).all()
    # each projects onto the keypoints through its own intrinsics, not through the other's
    own = reprojection_px(p_rect, rect.k, pose.keypoints)
    assert own < 15.0 and reprojection_px(p_rect, raw.k, pose.keypoints) > 2 * own
    assert reprojection_px(p_raw, raw.k, pose.keypoints) < 15.0  # D is small: K nearly alone
    # the same skeleton seen with a longer focal length stands farther away, by the focal ratio
    ratio = rect.k[0, 0] / raw.k[0, 0]
    assert np.median(p_rect[:, 2]) / np.median(p_raw[:, 2]) == pytest.approx(ratio, rel=0.05)
    assert cam.camera_points([], rect, header(1), (w, h)) == ([], None)
    assert "camera_info" not in logged(capfd)


def test_depth_measured_points_replace_pnp_where_the_depth_image_has_them(node, scene) -> None:
    h, w = scene.rgb.shape[:2]
    cam = CameraInput(node.get_logger(), TOPIC)
    info = info_msg(w, h)
    info.k = [float(v) for v in scene.k.reshape(-1)]  # the scene's camera
    cam.set_info(info)
    model = cam.model((w, h), False)
    assert model is not None
    depth = DepthInput(node, QoSProfile(depth=4), 0.02, DepthOptions())
    pose = scene.pose
    pnp = camera_frame_points(pose.world, pose.keypoints, model.k, model.d)
    assert pnp is not None

    # no depth image yet: PnP, as without depth
    (points,), sources = cam.camera_points([pose], model, header(1_000_000_000), (w, h), depth)
    assert sources is None and points is not None
    np.testing.assert_array_equal(points, pnp)

    msg = Image(height=h, width=w, encoding="16UC1", step=w * 2, header=header(1_005_000_000))
    msg.data = scene.depth_image("16UC1").tobytes()
    depth._on_depth(msg)  # the subscription callback
    (points,), sources = cam.camera_points([pose], model, header(1_000_000_000), (w, h), depth)
    assert points is not None and sources is not None
    (src,) = sources
    measured = src == SOURCE_DEPTH
    assert measured.sum() >= 25 and set(np.unique(src)) <= {SOURCE_PNP, SOURCE_DEPTH}
    err = np.linalg.norm(points - scene.truth(), axis=1)
    assert err[measured].max() < 0.02, err[measured]  # measured: within 2 cm of the scene
    pnp_err = np.linalg.norm(pnp - scene.truth(), axis=1)
    assert np.median(err) < np.median(pnp_err)
    assert depth.counts().used == 1 and depth.counts().measured_points == int(measured.sum())

    # a colour frame 0.5 s away from the depth image: not used, PnP again
    (points,), sources = cam.camera_points([pose], model, header(1_500_000_000), (w, h), depth)
    assert sources is None
    np.testing.assert_array_equal(points, pnp)
    assert depth.counts().stamp_mismatch == 1
    assert cam.camera_points([], model, header(1_000_000_000), (w, h), depth) == ([], None)
