"""core/depth.py: camera points from an aligned depth image of a known scene around a real person."""

from __future__ import annotations

import numpy as np
import pytest
from depth_scene import HOLE_KEYPOINT, make_scene

from blazepose_ros.core.camera import camera_frame_points, intrinsics_from_fov
from blazepose_ros.core.depth import (
    SOURCE_DEPTH,
    SOURCE_NONE,
    SOURCE_PNP,
    DepthBuffer,
    DepthError,
    DepthOptions,
    FrameInfo,
    camera_points_from_depth,
    decode_depth,
    depth_image,
    depth_problem,
    depth_to_metres,
    sample_keypoint_depths,
)

pytestmark = pytest.mark.unit

LEFT_WRIST, RIGHT_FOOT_INDEX = 15, 32


@pytest.fixture(scope="module")
def scene():
    return make_scene()


@pytest.fixture(scope="module")
def pnp(scene):
    pts = camera_frame_points(scene.pose.world, scene.pose.keypoints, scene.k)
    assert pts is not None
    return pts


def _decode(img: np.ndarray, encoding: str) -> np.ndarray:
    return decode_depth(img.tobytes(), img.shape[1], img.shape[0], img.strides[0], encoding)


def _visible_on_person(scene, radius: int = 4) -> np.ndarray:
    """Keypoints a depth camera sees on the person: visible, whole window on the mask, no hole."""
    kp = scene.pose.keypoints
    person = scene.person_pixels()
    out = np.zeros(33, bool)
    for i, (x, y, vis) in enumerate(kp[:, [0, 1, 3]]):
        u, v = int(x), int(y)
        win = person[v - radius:v + radius + 1, u - radius:u + radius + 1]
        out[i] = vis >= 0.5 and win.size and win.all() and i != HOLE_KEYPOINT
    return out


@pytest.mark.parametrize(("encoding", "distance"), [("16UC1", None), ("32FC1", None), ("16UC1", 3.2)])
def test_depth_points_within_2cm_of_the_truth(scene, pnp, encoding, distance):
    if distance is not None:  # the photo at 3.2 m: a 2.3 m tall person, larger than the model's
        scene = make_scene(distance=distance)
    depth = _decode(scene.depth_image(encoding), encoding)
    got = camera_points_from_depth(depth, scene.pose.keypoints, scene.pose.world, scene.k, None, pnp)
    truth = scene.truth()
    err = np.linalg.norm(got.points.astype(np.float64) - truth, axis=1)
    from_depth = got.source == SOURCE_DEPTH
    on_person = _visible_on_person(scene)
    assert on_person.sum() >= 20  # the scene really tests something
    # every keypoint the camera sees on the person is measured, and every measured one is right
    assert from_depth[on_person].all(), np.flatnonzero(on_person & ~from_depth)
    assert err[from_depth].max() < 0.02, err[from_depth]
    assert got.points.dtype == np.float32 and got.points.shape == (33, 3)
    assert np.isfinite(got.points).all() and (got.source != SOURCE_NONE).all()


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_unconverted_depth_image_gives_the_same_points(scene, pnp, encoding):
    img = scene.depth_image(encoding)
    padded = np.zeros((img.shape[0], img.shape[1] * img.itemsize + 6), np.uint8)  # row padding
    padded[:, :img.shape[1] * img.itemsize] = img.view(np.uint8).reshape(img.shape[0], -1)
    buf = padded.tobytes()
    raw = depth_image(buf, img.shape[1], img.shape[0], padded.shape[1], encoding)
    assert raw.shape == img.shape and np.shares_memory(raw.values, np.frombuffer(buf, np.uint8))
    a = camera_points_from_depth(raw, scene.pose.keypoints, scene.pose.world, scene.k, None, pnp)
    b = camera_points_from_depth(raw.metres(), scene.pose.keypoints, scene.pose.world, scene.k, None, pnp)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.source, b.source)
    assert a.from_depth.sum() >= 20


def test_hole_falls_back_to_pnp_moved_to_the_measured_distance(scene, pnp):
    got = camera_points_from_depth(scene.depth_m, scene.pose.keypoints, scene.pose.world, scene.k, None, pnp)
    i = HOLE_KEYPOINT
    assert not got.sampled[i] and got.source[i] == SOURCE_PNP
    # along the PnP point's ray (same pixel), at the distance the rest of the body measured
    np.testing.assert_allclose(got.points[i], pnp[i] * got.scale, rtol=1e-5)
    truth = scene.truth()[i]
    assert np.linalg.norm(got.points[i] - truth) < 0.5 * np.linalg.norm(pnp[i] - truth)
    assert np.linalg.norm(got.points[i] - truth) < 0.10


def test_keypoint_over_the_wall_is_rejected_by_the_skeleton(scene, pnp):
    # BlazePose puts the right toe just off the mask: its window sees the wall 3.6 m behind
    i = RIGHT_FOOT_INDEX
    assert scene.pose.mask[int(scene.pose.keypoints[i, 1]), int(scene.pose.keypoints[i, 0])] < 0.5
    got = camera_points_from_depth(scene.depth_m, scene.pose.keypoints, scene.pose.world, scene.k, None, pnp)
    assert got.sampled[i] and got.outlier[i] and got.source[i] == SOURCE_PNP
    assert got.outlier.sum() == 1


def test_occluder_in_front_of_a_wrist_is_rejected(scene, pnp):
    depth = scene.depth_m.copy()
    x, y = scene.pose.keypoints[LEFT_WRIST, :2].astype(int)
    depth[y - 6:y + 7, x - 6:x + 7] = 0.9  # something held 1.5 m in front of the body
    got = camera_points_from_depth(depth, scene.pose.keypoints, scene.pose.world, scene.k, None, pnp)
    assert got.outlier[LEFT_WRIST] and got.source[LEFT_WRIST] == SOURCE_PNP
    base = camera_points_from_depth(scene.depth_m, scene.pose.keypoints, scene.pose.world, scene.k, None, pnp)
    others = np.arange(33) != LEFT_WRIST
    np.testing.assert_array_equal(got.source[others], base.source[others])


def test_outline_keypoint_takes_the_body_not_the_flying_pixels(scene):
    # a keypoint right on the silhouette: its window is half person, half wall and flying pixels
    person = scene.person_pixels()
    ys, xs = np.nonzero(person)
    row = 600
    x_edge = xs[ys == row].max()  # the last person pixel in that row
    kp = np.zeros((33, 5))
    kp[:, :2] = (x_edge + 0.5, row + 0.5)
    kp[:, 3] = 1.0
    z = sample_keypoint_depths(scene.depth_m, kp)
    truth_z = scene.plane_z(scene.rays(kp[:1, :2]))[0]
    assert abs(z[0] - truth_z) < 0.05


def test_without_pnp_unmeasured_points_sit_on_their_rays_at_the_body_depth(scene):
    got = camera_points_from_depth(scene.depth_m, scene.pose.keypoints, scene.pose.world, scene.k)
    assert np.isnan(got.scale)
    fallback = got.source == SOURCE_PNP
    assert fallback[HOLE_KEYPOINT]
    z = got.points[fallback, 2]
    np.testing.assert_allclose(z, np.median(got.points[got.from_depth, 2]), rtol=1e-6)
    ray = scene.rays(scene.pose.keypoints[[HOLE_KEYPOINT], :2].astype(np.float64))[0]
    np.testing.assert_allclose(got.points[HOLE_KEYPOINT] / got.points[HOLE_KEYPOINT, 2], ray, atol=1e-6)


def test_no_depth_at_all_gives_pnp_unchanged_or_nothing(scene, pnp):
    empty = np.full(scene.depth_m.shape, np.nan, np.float32)
    got = camera_points_from_depth(empty, scene.pose.keypoints, scene.pose.world, scene.k, None, pnp)
    assert (got.source == SOURCE_PNP).all() and got.scale == 1.0
    np.testing.assert_allclose(got.points, pnp)
    none = camera_points_from_depth(empty, scene.pose.keypoints, scene.pose.world, scene.k)
    assert (none.source == SOURCE_NONE).all() and np.isnan(none.points).all()


def test_out_of_range_depths_are_rejected(scene, pnp):
    too_far = DepthOptions(max_depth=2.0)  # the person is at 2.2-2.6 m
    got = camera_points_from_depth(scene.depth_m, scene.pose.keypoints, scene.pose.world, scene.k,
                                   None, pnp, too_far)
    assert not got.from_depth.any()
    ok = DepthOptions(min_depth=0.5, max_depth=4.0)  # the wall (6 m) is out of range
    got = camera_points_from_depth(scene.depth_m, scene.pose.keypoints, scene.pose.world, scene.k,
                                   None, pnp, ok)
    assert not got.sampled[RIGHT_FOOT_INDEX]  # only the wall and flying pixels under it


def test_distortion_is_undone_before_back_projection():
    import cv2

    k = np.array([[520.0, 0, 330.0], [0, 515.0, 236.0], [0, 0, 1]])
    d = np.array([-0.28, 0.09, 0.001, -0.0005, 0.0])
    rng = np.random.default_rng(3)
    pts = np.column_stack([rng.uniform(-0.8, 0.8, 33), rng.uniform(-0.6, 0.6, 33), np.full(33, 2.0)])
    px, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), k, d)
    kp = np.zeros((33, 5))
    kp[:, :2] = px.reshape(-1, 2) + 0.5  # keypoints count from the pixel corner, K from its centre
    kp[:, 3] = 1.0
    depth = np.full((480, 640), 2.0, np.float32)
    got = camera_points_from_depth(depth, kp, pts - pts.mean(0), k, d)
    inside = (kp[:, 0] >= 0) & (kp[:, 0] < 640) & (kp[:, 1] >= 0) & (kp[:, 1] < 480)
    assert inside.sum() > 25 and got.from_depth[inside].all()
    assert np.abs(got.points[inside] - pts[inside]).max() < 1e-3


def test_low_visibility_and_off_image_keypoints_are_not_sampled():
    depth = np.full((100, 100), 1.5, np.float32)
    kp = np.zeros((33, 5))
    kp[:, :2] = 50.0
    kp[:, 3] = 1.0
    kp[1, 3] = 0.2
    kp[2, :2] = (-3.0, 50.0)
    kp[3, :2] = (50.0, 100.0)
    kp[4, :2] = (np.nan, 50.0)
    kp[5, :2] = (0.2, 0.2)  # corner: a clipped window is still fine
    z = sample_keypoint_depths(depth, kp)
    assert np.isnan(z[[1, 2, 3, 4]]).all()
    np.testing.assert_allclose(z[[0, 5]], 1.5)


def test_sparse_window_is_not_trusted():
    depth = np.full((50, 50), np.nan, np.float32)
    depth[25, 25] = 1.0  # one valid sample of 49: below min_valid_fraction
    kp = np.zeros((33, 5))
    kp[:, :2] = 25.5
    kp[:, 3] = 1.0
    assert np.isnan(sample_keypoint_depths(depth, kp)).all()
    depth[22:29, 22:26] = 1.0  # 28 of 49
    np.testing.assert_allclose(sample_keypoint_depths(depth, kp), 1.0)


# -- decoding --------------------------------------------------------------------------------

def test_decode_16uc1_with_row_padding_and_big_endian():
    mm = np.array([[0, 1000, 2500], [65535, 1, 4000]], np.uint16)
    padded = np.zeros((2, 8), np.uint8)
    padded[:, :6] = mm.view(np.uint8)
    got = decode_depth(padded.tobytes(), 3, 2, 8, "16UC1")
    np.testing.assert_allclose(got, [[np.nan, 1.0, 2.5], [65.535, 0.001, 4.0]], rtol=1e-6)
    big = mm.astype(">u2")
    np.testing.assert_allclose(decode_depth(big.tobytes(), 3, 2, 6, "16UC1", is_bigendian=True), got,
                               rtol=1e-6)


def test_decode_32fc1_marks_zero_nan_inf_as_missing():
    m = np.array([[0.0, np.nan, np.inf], [-np.inf, 1.25, 3.0]], np.float32)
    got = decode_depth(m.tobytes(), 3, 2, 12, "32FC1")
    assert np.isnan(got[0]).all() and np.isnan(got[1, 0])
    np.testing.assert_allclose(got[1, 1:], [1.25, 3.0])
    np.testing.assert_allclose(depth_to_metres(np.array([[2]], np.uint16), "16UC1"), [[0.002]])


@pytest.mark.parametrize(("args", "match"), [
    ((b"\0" * 12, 3, 2, 6, "mono8"), "depth encoding 'mono8' is not supported: a depth image is 16UC1"),
    ((b"\0" * 12, 3, 2, 6, "rgb8"), "16UC1 \\(millimetres\\) or 32FC1 \\(metres\\)"),
    ((b"\0" * 10, 3, 2, 6, "16UC1"), "depth image data has 10 B, a 3x2 16UC1 image with step 6 needs 12"),
    ((b"\0" * 12, 3, 2, 4, "16UC1"), "depth row step 4 B is shorter than 3 px x 2 B"),
    ((b"", 0, 2, 0, "32FC1"), "depth image is 0x2 pixels"),
])
def test_decode_errors_say_what_is_wrong(args, match):
    with pytest.raises(DepthError, match=match):
        decode_depth(*args)


# -- matching --------------------------------------------------------------------------------

def test_buffer_matches_by_stamp_within_tolerance():
    buf: DepthBuffer[str] = DepthBuffer(size=3)
    assert buf.match(10, 0.01) == (None, None)
    for t in (1_000_000_000, 1_033_000_000, 1_066_000_000, 1_100_000_000):
        buf.add(t, f"d{t}")
    assert len(buf) == 3  # the oldest went
    item, dt = buf.match(1_070_000_000, 0.005)
    assert item == "d1066000000" and dt == pytest.approx(-0.004)
    item, dt = buf.match(1_200_000_000, 0.02)
    assert item is None and dt == pytest.approx(-0.1)
    item, _ = buf.match(1_000_000_000, 0.02)
    assert item is None  # evicted; nearest is 33 ms later
    buf.clear()
    assert len(buf) == 0


def test_depth_problems_have_plain_messages():
    image = FrameInfo(640, 480, "camera_color_optical_frame", 5_000_000_000)
    ok = FrameInfo(640, 480, "camera_color_optical_frame", 5_001_000_000)
    assert depth_problem(ok, image, 0.02) is None
    assert depth_problem(FrameInfo(640, 480, "", 0), image, 0.02) is None  # no frame to compare
    p = depth_problem(FrameInfo(848, 480, "camera_color_optical_frame", 0), image, 0.02)
    assert p.kind == "size" and p.message.startswith("depth image is 848x480 but the colour image is 640x480")
    p = depth_problem(FrameInfo(640, 480, "camera_depth_optical_frame", 0), image, 0.02)
    assert p.kind == "frame" and "'camera_depth_optical_frame' but the colour image in " \
        "'camera_color_optical_frame'" in p.message
    p = depth_problem(None, image, 0.02, nearest_dt_s=-0.25)
    assert p.kind == "stamp" and "no depth image within 0.02 s" in p.message and "0.250 s before" in p.message
    assert depth_problem(None, image, 0.02).message == "no depth image received yet"


@pytest.mark.parametrize("kwargs", [dict(window_radius=-1), dict(min_depth=3.0, max_depth=2.0),
                                    dict(min_visibility=1.5), dict(skeleton_tolerance_m=-0.1)])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(ValueError):
        DepthOptions(**kwargs)


def test_shape_errors():
    k = intrinsics_from_fov(64, 48)
    with pytest.raises(ValueError, match="depth image must be \\(H, W\\) metres"):
        camera_points_from_depth(np.zeros((48, 64, 1)), np.zeros((33, 5)), np.zeros((33, 3)), k)
    with pytest.raises(ValueError, match="keypoints must be"):
        camera_points_from_depth(np.zeros((48, 64)), np.zeros((17, 5)), np.zeros((33, 3)), k)
    with pytest.raises(ValueError, match="world landmarks"):
        camera_points_from_depth(np.zeros((48, 64)), np.zeros((33, 5)), np.zeros((33, 2)), k)
