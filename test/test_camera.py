"""camera_frame_points: PnP of the metric world skeleton against the 2D keypoints."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blazepose_ros.core.camera import (
    MIN_PNP_POINTS,
    CameraInfoError,
    camera_frame_points,
    camera_model_from_info,
    intrinsics_from_fov,
)

pytestmark = pytest.mark.unit

# A plausible standing person, metres, hip-centred, x right / y down / z away (used only when the
# landmark models are not fetched; otherwise a real BlazePose world skeleton is used).
_FALLBACK_WORLD = np.array([
    [0.00, -0.62, -0.10], [0.02, -0.66, -0.09], [0.03, -0.66, -0.09], [0.05, -0.66, -0.08],
    [-0.02, -0.66, -0.09], [-0.03, -0.66, -0.09], [-0.05, -0.66, -0.08], [0.08, -0.64, -0.02],
    [-0.08, -0.64, -0.02], [0.03, -0.58, -0.09], [-0.03, -0.58, -0.09], [0.18, -0.45, 0.00],
    [-0.18, -0.45, 0.02], [0.26, -0.20, 0.05], [-0.25, -0.21, 0.06], [0.30, 0.03, -0.05],
    [-0.28, 0.02, -0.04], [0.32, 0.08, -0.07], [-0.30, 0.07, -0.06], [0.31, 0.09, -0.08],
    [-0.29, 0.08, -0.07], [0.29, 0.06, -0.07], [-0.27, 0.05, -0.06], [0.10, 0.00, 0.01],
    [-0.10, 0.00, -0.01], [0.11, 0.40, -0.02], [-0.12, 0.41, 0.03], [0.12, 0.80, 0.06],
    [-0.13, 0.80, 0.08], [0.12, 0.85, 0.09], [-0.13, 0.85, 0.11], [0.13, 0.88, -0.05],
    [-0.14, 0.88, -0.03]], np.float64)


@pytest.fixture(scope="module")
def real_pose(data_dir):
    """(world (33,3) m, keypoints (33,5) px, image size) from BlazePose on zidane.jpg, if it can run."""
    try:
        from blazepose_ros.core.tracker import PoseTracker

        rgb = cv2.cvtColor(cv2.imread(str(data_dir / "zidane.jpg")), cv2.COLOR_BGR2RGB)
        poses = PoseTracker(static_image_mode=True, min_detection_confidence=0.3).process(rgb, 0.0)
    except Exception as exc:  # models not fetched, runtime missing
        pytest.skip(f"BlazePose pipeline not runnable here: {exc}")
    if not poses:
        pytest.skip("no person found on zidane.jpg")
    return poses[0].world.astype(np.float64), poses[0].keypoints, (rgb.shape[1], rgb.shape[0])


@pytest.fixture(scope="module")
def world_skeleton(request) -> np.ndarray:
    try:
        return request.getfixturevalue("real_pose")[0]
    except pytest.skip.Exception:
        return _FALLBACK_WORLD


def _project(world: np.ndarray, rvec: np.ndarray, tvec: np.ndarray, k: np.ndarray,
             d: np.ndarray | None = None, visibility: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """(keypoints (33,5) as the pipeline would give them, ground-truth camera points (33,3))."""
    px, _ = cv2.projectPoints(world, rvec, tvec, k, d)
    kp = np.zeros((33, 5), np.float32)
    kp[:, :2] = px.reshape(-1, 2)
    kp[:, 3:] = visibility
    rot, _ = cv2.Rodrigues(rvec)
    return kp, world @ rot.T + tvec.reshape(1, 3)


@pytest.mark.parametrize(
    ("rvec", "tvec"),
    [
        ((0.0, 0.0, 0.0), (0.0, 0.0, 2.5)),
        ((0.05, -0.6, 0.1), (0.4, 0.2, 3.0)),  # turned ~35 degrees, off-centre
        ((0.2, 0.3, -0.25), (-0.8, -0.3, 5.5)),  # tilted, rolled, far
        ((0.0, np.pi - 0.2, 0.0), (0.0, 0.1, 2.0)),  # facing away from the camera
    ],
)
def test_recovers_known_placement_to_sub_millimetre(world_skeleton, rvec, tvec):
    k = intrinsics_from_fov(640, 480, 60.0)
    kp, truth = _project(world_skeleton, np.array(rvec), np.array(tvec), k)
    got = camera_frame_points(world_skeleton, kp, k, None)
    assert got is not None and got.shape == (33, 3) and got.dtype == np.float32
    assert np.abs(got - truth).max() < 1e-3  # metres


def test_with_distortion_and_occlusions(world_skeleton):
    k = np.array([[520.0, 0, 330.0], [0, 515.0, 236.0], [0, 0, 1]])
    d = np.array([-0.28, 0.09, 0.001, -0.0005, 0.0])
    kp, truth = _project(world_skeleton, np.array([0.1, 0.4, 0.0]), np.array([0.2, 0.1, 3.2]), k, d)
    kp[[0, 5, 9, 15, 17, 19, 21, 27, 29, 31], 3] = 0.1  # occluded points: not used, still returned
    kp[[15, 17], :2] += 80.0  # ... and wrong, which must not matter
    got = camera_frame_points(world_skeleton, kp, k, d)
    assert got is not None
    assert np.abs(got - truth).max() < 1e-3
    # the same input read as undistorted gives a different (wrong) answer: D is actually used
    wrong = camera_frame_points(world_skeleton, kp, k, None)
    assert wrong is None or np.abs(wrong - truth).max() > 5e-3


def test_noisy_keypoints_stay_close(world_skeleton):
    k = intrinsics_from_fov(1280, 720, 70.0)
    kp, truth = _project(world_skeleton, np.array([0.0, 0.3, 0.05]), np.array([0.0, 0.0, 3.0]), k)
    kp[:, :2] += np.random.default_rng(1).normal(0, 1.0, (33, 2))  # 1 px noise
    got = camera_frame_points(world_skeleton, kp, k, None)
    assert got is not None
    assert np.linalg.norm(got - truth, axis=1).mean() < 0.05


def test_real_blazepose_result_is_plausible(real_pose):
    """On a real photo the skeleton lands in front of the camera, reprojecting onto the keypoints."""
    world, kp, (w, h) = real_pose
    k = intrinsics_from_fov(w, h, 60.0)
    got = camera_frame_points(world, kp, k, None)
    assert got is not None
    assert (got[:, 2] > 0.5).all() and (got[:, 2] < 20).all()
    proj = (got / got[:, 2:3]) @ k.T
    vis = kp[:, 3] >= 0.5
    err = np.linalg.norm(proj[vis, :2] - kp[vis, :2], axis=1)
    assert np.median(err) < 0.05 * h, err
    # it is a rigid transform of the world skeleton: pairwise distances are kept
    dw = np.linalg.norm(world[:, None] - world[None], axis=2)
    dc = np.linalg.norm(got[:, None].astype(np.float64) - got[None], axis=2)
    assert np.abs(dw - dc).max() < 1e-4


def test_too_few_visible_points_returns_none(world_skeleton):
    k = intrinsics_from_fov(640, 480)
    kp, _ = _project(world_skeleton, np.zeros(3), np.array([0, 0, 2.0]), k)
    kp[:, 3] = 0.2
    kp[: MIN_PNP_POINTS - 1, 3] = 0.9
    assert camera_frame_points(world_skeleton, kp, k) is None
    kp[MIN_PNP_POINTS - 1, 3] = 0.9
    assert camera_frame_points(world_skeleton, kp, k) is not None
    assert camera_frame_points(world_skeleton, kp, k, min_visibility=0.95) is None


def test_degenerate_inputs_return_none(world_skeleton):
    k = intrinsics_from_fov(640, 480)
    kp, _ = _project(world_skeleton, np.zeros(3), np.array([0, 0, 2.0]), k)
    nan_kp = kp.copy()
    nan_kp[:, 0] = np.nan
    assert camera_frame_points(world_skeleton, nan_kp, k) is None
    one_pixel = kp.copy()
    one_pixel[:, :2] = 100.0
    assert camera_frame_points(world_skeleton, one_pixel, k) is None
    assert camera_frame_points(np.zeros((33, 3)), kp, k) is None
    # a skeleton whose pose can only be explained from behind the camera is refused, not returned
    kp_behind, _ = _project(world_skeleton, np.zeros(3), np.array([0, 0, 2.0]), k)
    kp_behind[:, :2] = 2 * k[:2, 2] - kp_behind[:, :2]  # point-mirrored image: z < 0 solution
    res = camera_frame_points(world_skeleton, kp_behind, k)
    assert res is None or (res[:, 2] > 0).all()


@pytest.mark.parametrize("k", [np.zeros((3, 3)), np.diag([0.0, 500.0, 1.0]), np.diag([500.0, -1.0, 1.0]),
                               np.eye(2), np.full((3, 3), np.nan)])
def test_bad_camera_matrix_raises(world_skeleton, k):
    kp = np.zeros((33, 5), np.float32)
    with pytest.raises(ValueError, match="K"):
        camera_frame_points(world_skeleton, kp, k)


def test_bad_shapes_and_distortion_raise(world_skeleton):
    k = intrinsics_from_fov(640, 480)
    kp = np.ones((33, 5), np.float32)
    with pytest.raises(ValueError, match="world"):
        camera_frame_points(world_skeleton[:17], kp, k)
    with pytest.raises(ValueError, match="keypoints"):
        camera_frame_points(world_skeleton, kp[:, :3], k)
    with pytest.raises(ValueError, match="distortion"):
        camera_frame_points(world_skeleton, kp, k, np.array([0.1, 0.2, 0.3]))
    # empty or all-zero distortion means "none"
    kp2, truth = _project(world_skeleton, np.zeros(3), np.array([0, 0, 2.0]), k)
    for d in (np.zeros(0), np.zeros(5), [0.0] * 8):
        assert np.abs(camera_frame_points(world_skeleton, kp2, k, d) - truth).max() < 1e-3


def test_intrinsics_from_fov():
    k = intrinsics_from_fov(640, 480, 90.0)
    assert k[0, 0] == pytest.approx(320.0) and k[1, 1] == pytest.approx(320.0)
    assert (k[0, 2], k[1, 2]) == (319.5, 239.5)
    with pytest.raises(ValueError):
        intrinsics_from_fov(0, 480)
    with pytest.raises(ValueError):
        intrinsics_from_fov(640, 480, 180.0)


_K = intrinsics_from_fov(640, 480, 60.0).reshape(-1).tolist()
_P = [_K[0], 0.0, _K[2], 0.0, 0.0, _K[4], _K[5], 0.0, 0.0, 0.0, 1.0, 0.0]


def _with(values: list[float], i: int, v: float) -> list[float]:
    out = list(values)
    out[i] = v
    return out


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(k=[0.0] * 9), "its K matrix is all zeros: the camera is uncalibrated; calibrate it"),
    (dict(k=_with(_K, 0, float("nan"))), "its K matrix has non-finite values ([nan, 0, 319.5, "),
    (dict(k=_with(_K, 4, float("inf"))), "its K matrix has non-finite values ("),
    (dict(k=_with(_K, 0, -554.3)), "its K matrix has a non-positive focal length (fx=-554.3, fy=554.256)"),
    (dict(k=_K[:4]), "its K matrix has 4 values, a 3x3 matrix needs 9 (row-major)"),
    (dict(k=_with(_K, 8, 0.0)), "its K matrix has the last row [0, 0, 0], a camera matrix has [0, 0, 1]"),
    (dict(d=[0.1, 0.2, 0.3]), "its D has 3 coefficients; solvePnP takes 4, 5, 8, 12 or 14 (plumb_bob: 5, "
                              "rational_polynomial: 8): cannot use camera_info distortion with solvePnP"),
    (dict(d=[0.1, float("nan"), 0, 0, 0]), "its D has non-finite coefficients ([0.1, nan, 0, 0, 0])"),
    (dict(image_size=(1280, 720)), "it is for 640x480 images but the images are 1280x720 (use the "
                                   "camera_info of this image stream)"),
    (dict(p=_P[:9], rectified=True), "its P matrix must have 12 values (rectified images), got 9"),
    (dict(p=[0.0] * 12, rectified=True), "its P matrix (rectified images) is all zeros"),
    (dict(p=_with(_P, 5, float("nan")), rectified=True), "its P matrix (rectified images) has non-finite"),
])
def test_each_camera_info_problem_has_its_own_plain_message(kwargs, message):
    args = dict(k=_K, d=[0.0] * 5, distortion_model="plumb_bob", width=640, height=480, image_size=(640, 480),
                p=_P, rectified=False) | kwargs
    with pytest.raises(CameraInfoError) as e:
        camera_model_from_info(**args)
    assert str(e.value).startswith(message), str(e.value)
    assert "got shape (3, 3)" not in str(e.value)


def test_usable_camera_info_passes():
    m = camera_model_from_info(_K, [0.0] * 5, "plumb_bob", 640, 480, (640, 480), _P)
    assert m.d is None and m.note is None and m.k[0, 0] == pytest.approx(554.256, abs=1e-3)
    m = camera_model_from_info(_K, [0.1, -0.05, 0.0, 0.0, 0.01], "plumb_bob", 0, 0, (1280, 720), _P)
    assert m.d is not None  # 0x0: size unknown, not checked
    m = camera_model_from_info(_K, [0.1] * 4, "equidistant", 640, 480, (640, 480), _P)
    assert m.d is None and "equidistant" in m.note
