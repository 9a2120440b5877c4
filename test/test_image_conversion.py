"""sensor_msgs/Image and CompressedImage -> RGB on a real photo, for every supported encoding.

Each encoding is produced from test/data/zidane.jpg with OpenCV (or a plain numpy packing
where OpenCV has no encoder, e.g. Bayer mosaics and NV12/NV21 from I420), packed into a
message with a padded ``step`` filled with garbage, and converted back. The result must equal
OpenCV's own decode of the same buffer, and must be close to the original photo (which
catches channel-order and pattern mix-ups that a pure OpenCV-vs-OpenCV check would not).
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("sensor_msgs")
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from blazepose_ros.ros.image_conversion import (
    MAX_IMAGE_SIDE,
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    compressed_msg_to_rgb,
    cv_bridge_available,
    image_msg_to_rgb,
    rgb_to_compressed_msg,
    rgb_to_image_msg,
)

pytestmark = pytest.mark.unit

PAD_BYTE = 0xAB


@pytest.fixture(scope="module")
def photo(data_dir) -> np.ndarray:
    """zidane.jpg as RGB, cropped to 640x360 (even sides) to keep the tests quick."""
    bgr = cv2.imread(str(data_dir / "zidane.jpg"))
    assert bgr is not None
    bgr = cv2.resize(bgr, (640, 360), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def pack(encoding: str, pixels: np.ndarray, width: int, height: int, pad: int = 0,
         bigendian: bool = False, as_bytes: bool = False) -> Image:
    """Pack ``pixels`` (rows x anything, uint8 or uint16) into an Image with ``pad`` garbage bytes a row."""
    rows = pixels.shape[0]
    dtype = np.dtype(">u2" if bigendian else "<u2") if pixels.dtype == np.uint16 else np.dtype(np.uint8)
    row_bytes = np.ascontiguousarray(pixels.astype(dtype)).view(np.uint8).reshape(rows, -1)
    step = row_bytes.shape[1] + pad
    buf = np.full((rows, step), PAD_BYTE, np.uint8)
    buf[:, : row_bytes.shape[1]] = row_bytes
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(bigendian), step=step)
    msg.data = buf.tobytes()  # stored as array.array('B'), as rclpy delivers it
    if as_bytes:
        msg._data = buf.tobytes()  # bypass the setter: data stays immutable bytes
    return msg


def mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Bayer mosaic of ``rgb``: pattern letters name the 2x2 cell row by row (e.g. rggb)."""
    idx = {"r": 0, "g": 1, "b": 2}
    out = np.empty(rgb.shape[:2], rgb.dtype)
    for k, ch in enumerate(pattern):
        dy, dx = divmod(k, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, idx[ch]]
    return out


def nv(rgb: np.ndarray, swap: bool) -> np.ndarray:
    """NV12 (or NV21 when ``swap``) as (H * 3/2, W) uint8 from OpenCV's I420 encoder."""
    h, w = rgb.shape[:2]
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
    y = i420[: h * w].reshape(h, w)
    u = i420[h * w : h * w + h * w // 4]
    v = i420[h * w + h * w // 4 :]
    uv = np.stack([v, u] if swap else [u, v], axis=1).reshape(h // 2, w)
    return np.vstack([y, uv])


def encoded(encoding: str, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(buffer pixels to pack, OpenCV's decode of them as RGB, min PSNR vs the photo in dB)."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gray3 = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    e = encoding.lower()
    rng = np.random.default_rng(0)

    def to16(a: np.ndarray) -> np.ndarray:  # 8-bit value in the high byte, noise in the low byte
        return (a.astype(np.uint16) << 8) | rng.integers(0, 256, a.shape, dtype=np.uint16)

    if e == "rgb8":
        return rgb, rgb, 99
    if e in ("bgr8", "8uc3"):
        return bgr, rgb, 99
    if e == "rgba8":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA), rgb, 99
    if e in ("bgra8", "8uc4"):
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA), rgb, 99
    if e in ("mono8", "8uc1"):
        return gray, gray3, 20
    if e in ("mono16", "16uc1"):
        return to16(gray), gray3, 20
    if e == "rgb16":
        return to16(rgb), rgb, 99
    if e in ("bgr16", "16uc3"):
        return to16(bgr), rgb, 99
    if e == "rgba16":
        return to16(cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)), rgb, 99
    if e in ("bgra16", "16uc4"):
        return to16(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)), rgb, 99
    if e in ("yuv422", "uyvy"):
        buf = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_UYVY)
        return buf, cv2.cvtColor(buf, cv2.COLOR_YUV2RGB_UYVY), 30
    if e in ("yuv422_yuy2", "yuyv"):
        buf = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_YUY2)
        return buf, cv2.cvtColor(buf, cv2.COLOR_YUV2RGB_YUY2), 30
    if e in ("nv12", "nv21"):
        buf = nv(rgb, swap=e == "nv21")
        return buf, cv2.cvtColor(buf, cv2.COLOR_YUV2RGB_NV21 if e == "nv21" else cv2.COLOR_YUV2RGB_NV12), 30
    if e.startswith("bayer_"):
        pattern, bits = e[6:10], e[10:]
        raw = mosaic(rgb, pattern)
        code = {"rggb": cv2.COLOR_BayerRGGB2RGB, "bggr": cv2.COLOR_BayerBGGR2RGB,
                "gbrg": cv2.COLOR_BayerGBRG2RGB, "grbg": cv2.COLOR_BayerGRBG2RGB}[pattern]
        ref = cv2.cvtColor(raw, code)
        return (to16(raw) if bits == "16" else raw), ref, 24
    raise AssertionError(f"test has no encoder for {encoding}")


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
@pytest.mark.parametrize("pad", [0, 13])
def test_every_encoding_matches_opencv_reference(photo, encoding, pad):
    pixels, expected, min_psnr = encoded(encoding, photo)
    h, w = photo.shape[:2]
    for bigendian in ([False, True] if pixels.dtype == np.uint16 else [False]):
        msg = pack(encoding, pixels, w, h, pad=pad, bigendian=bigendian)
        out = image_msg_to_rgb(msg)
        assert out.shape == (h, w, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, expected, err_msg=f"{encoding} pad={pad} be={bigendian}")
        # semantics, independent of OpenCV's decoder: close to the photo we started from
        assert psnr(out, photo if min_psnr > 20 else expected) >= min_psnr


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_pattern_is_not_mixed_up(photo, pattern):
    """Demosaicing with the right pattern beats every other pattern by a wide margin."""
    h, w = photo.shape[:2]
    raw = mosaic(photo, pattern)
    scores = {}
    for guess in ("rggb", "bggr", "gbrg", "grbg"):
        scores[guess] = psnr(image_msg_to_rgb(pack(f"bayer_{guess}8", raw, w, h)), photo)
    best = max(scores, key=scores.get)
    assert best == pattern, scores
    assert scores[pattern] > 24
    assert all(scores[pattern] - s > 5 for g, s in scores.items() if g != pattern), scores


def test_rgb8_is_zero_copy_with_and_without_padding(photo):
    h, w = photo.shape[:2]
    for pad in (0, 5, 64):
        msg = pack("rgb8", photo, w, h, pad=pad)
        out = image_msg_to_rgb(msg)
        assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8)), pad
        assert out.strides[0] == msg.step
        np.testing.assert_array_equal(out, photo)
    # rgb_to_image_msg -> image_msg_to_rgb is the identity and still shares the message's buffer
    msg = rgb_to_image_msg(photo, Header(frame_id="cam"))
    out = image_msg_to_rgb(msg)
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, photo)


def test_bytes_data_works_and_is_not_copied(photo):
    h, w = photo.shape[:2]
    msg = pack("rgb8", photo, w, h, pad=3, as_bytes=True)
    assert isinstance(msg.data, bytes)
    out = image_msg_to_rgb(msg)
    np.testing.assert_array_equal(out, photo)
    assert not out.flags.writeable  # a view into immutable bytes, not a copy
    out2 = image_msg_to_rgb(pack("bgr8", photo[..., ::-1], w, h, as_bytes=True))
    np.testing.assert_array_equal(out2, photo)


def test_big_endian_mono16_uses_the_high_byte():
    v = np.array([[0x0000, 0x00FF, 0x0100, 0xFF00, 0xFFFF, 0x1234]], np.uint16)
    for be in (False, True):
        out = image_msg_to_rgb(pack("mono16", v, 6, 1, pad=2, bigendian=be))
        assert out[0, :, 0].tolist() == [0x00, 0x00, 0x01, 0xFF, 0xFF, 0x12]
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    # the same bytes read with the wrong byte order give a different image: the flag matters
    msg = pack("mono16", v, 6, 1, bigendian=True)
    msg.is_bigendian = 0
    assert image_msg_to_rgb(msg)[0, :, 0].tolist() != [0x00, 0x00, 0x01, 0xFF, 0xFF, 0x12]


def test_encoding_names_are_case_insensitive(photo):
    h, w = photo.shape[:2]
    np.testing.assert_array_equal(image_msg_to_rgb(pack("RGB8", photo, w, h)), photo)
    np.testing.assert_array_equal(image_msg_to_rgb(pack("8uc3", photo[..., ::-1], w, h)), photo)


def test_prefer_cv_bridge_falls_back_to_own_converter(photo):
    h, w = photo.shape[:2]
    out = image_msg_to_rgb(pack("bgr8", photo[..., ::-1], w, h), prefer_cv_bridge=True)
    np.testing.assert_array_equal(out, photo)
    if not cv_bridge_available():
        with pytest.raises(ImageConversionError):
            image_msg_to_rgb(pack("bgr8", photo[:2], w, 4), prefer_cv_bridge=True)


def test_rgb_to_image_msg_bgr8_and_header(photo):
    header = Header(frame_id="camera_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = rgb_to_image_msg(photo, header, encoding="bgr8")
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("bgr8", 640, 360, 1920)
    assert msg.header.frame_id == "camera_optical_frame" and msg.header.stamp.nanosec == 345
    np.testing.assert_array_equal(np.frombuffer(msg.data, np.uint8).reshape(360, 640, 3)[..., ::-1], photo)
    np.testing.assert_array_equal(image_msg_to_rgb(msg), photo)


# ---------------------------------------------------------------------------------- compressed


def test_compressed_jpeg_and_png_round_trip(photo):
    jpg = rgb_to_compressed_msg(photo, Header(frame_id="f"), fmt="jpeg", quality=95)
    assert jpg.format == "jpeg" and jpg.header.frame_id == "f"
    assert bytes(jpg.data[:2]) == b"\xff\xd8"
    out = compressed_msg_to_rgb(jpg)
    assert out.shape == photo.shape and psnr(out, photo) > 33
    png = rgb_to_compressed_msg(photo, None, fmt="png")
    np.testing.assert_array_equal(compressed_msg_to_rgb(png), photo)
    # what image_transport's compressed plugin writes for an rgb8 camera: a normal JPEG
    _, enc = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    msg = CompressedImage(format="rgb8; jpeg compressed bgr8")
    msg.data = enc.tobytes()
    assert psnr(compressed_msg_to_rgb(msg), photo) > 30
    # decoding straight to RGB (OpenCV >= 4.10) gives exactly the pixels of BGR decode + swap
    np.testing.assert_array_equal(compressed_msg_to_rgb(msg), cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1])


@pytest.mark.parametrize(
    "data", [b"", b"\x00" * 100, b"\xff\xd8\xff\xe0garbage", b"\x89PNG\r\n\x1a\n" + b"x" * 50])
def test_compressed_garbage_raises(data):
    msg = CompressedImage(format="jpeg")
    msg.data = data
    with pytest.raises(ImageConversionError, match="CompressedImage"):
        compressed_msg_to_rgb(msg)


def test_compressed_depth_is_refused(photo):
    msg = rgb_to_compressed_msg(photo, None, fmt="png")
    msg.format = "16UC1; compressedDepth png"
    with pytest.raises(ImageConversionError, match="depth"):
        compressed_msg_to_rgb(msg)


# ---------------------------------------------------------------------------------- errors


def _msg(encoding="rgb8", width=4, height=3, step=None, data_len=None, **kw) -> SimpleNamespace:
    """Message-like object that accepts any field values (a real Image's setters may refuse some)."""
    bpp = 3
    step = width * bpp if step is None else step
    n = step * height if data_len is None else data_len
    return SimpleNamespace(encoding=encoding, width=width, height=height, step=step,
                           is_bigendian=0, data=bytes(max(n, 0)), **kw)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"encoding": "32FC1"}, "unsupported image encoding '32FC1'.*rgb8"),
        ({"encoding": ""}, "unsupported image encoding"),
        ({"encoding": "jpeg"}, "unsupported"),
        ({"width": 0}, "empty image"),
        ({"height": 0, "data_len": 0}, "empty image"),
        ({"width": -3, "step": 0}, "empty image"),
        ({"width": MAX_IMAGE_SIDE + 1, "height": 1}, "implausible image size"),
        ({"width": 20000, "height": 20000, "step": 60000, "data_len": 10}, "implausible"),
        ({"step": 11}, "step 11 B is smaller than width\\*bytes_per_pixel = 4\\*3 = 12"),
        ({"step": 0}, "smaller than"),
        ({"data_len": 35}, "needs 36 bytes of data, got 35"),
        ({"data_len": 0}, "needs 36 bytes"),
        ({"step": 16, "data_len": 47}, "needs 48 bytes"),
        ({"encoding": "yuv422", "width": 3, "step": 6, "data_len": 18}, "even width"),
        ({"encoding": "nv12", "width": 4, "height": 3, "step": 4, "data_len": 100}, "even height"),
        ({"encoding": "nv21", "width": 4, "height": 4, "step": 4, "data_len": 16}, "needs 24 bytes"),
        ({"encoding": "mono16", "width": 4, "height": 1, "step": 4}, "smaller than"),
    ],
)
def test_malformed_messages_raise_clear_errors(kwargs, match):
    with pytest.raises(ImageConversionError, match=match):
        image_msg_to_rgb(_msg(**kwargs))


def test_non_buffer_data_and_missing_fields_raise():
    m = _msg()
    m.data = object()
    with pytest.raises(ImageConversionError, match="not a byte buffer"):
        image_msg_to_rgb(m)
    m = _msg()
    m.data = list(range(36))  # a plain list of ints is accepted (converted)
    assert image_msg_to_rgb(m).shape == (3, 4, 3)
    m = _msg()
    del m.step
    with pytest.raises(ImageConversionError, match="'step'"):
        image_msg_to_rgb(m)
    with pytest.raises(ImageConversionError):
        image_msg_to_rgb(SimpleNamespace(encoding="rgb8", width="x", height=1, step=3, data=b"abc"))


def test_error_is_a_value_error():
    assert issubclass(ImageConversionError, ValueError)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8),
                                 np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8)])
def test_rgb_to_msg_rejects_non_rgb(bad):
    with pytest.raises(ImageConversionError, match=r"\(H, W, 3\) uint8"):
        rgb_to_image_msg(bad, None)
    with pytest.raises(ImageConversionError):
        rgb_to_compressed_msg(bad, None)


def test_rgb_to_msg_rejects_unknown_encoding():
    with pytest.raises(ImageConversionError, match="rgb8 or bgr8"):
        rgb_to_image_msg(np.zeros((2, 2, 3), np.uint8), None, encoding="mono8")  # type: ignore[arg-type]
    with pytest.raises(ImageConversionError, match="jpeg or png"):
        rgb_to_compressed_msg(np.zeros((2, 2, 3), np.uint8), None, fmt="webp")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- properties

ENCODINGS_AND_JUNK = [*SUPPORTED_ENCODINGS, "rgb8 ", "32FC1", "bayer_xyzw8", "", "MONO8"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    encoding=st.sampled_from(ENCODINGS_AND_JUNK),
    width=st.integers(-2, 40),
    height=st.integers(-2, 40),
    extra_step=st.integers(-9, 17),
    data_delta=st.integers(-50, 50),
    bigendian=st.booleans(),
    step_mode=st.sampled_from(["bpp", "random", "zero"]),
    random_step=st.integers(0, 400),
)
def test_property_only_image_conversion_errors(encoding, width, height, extra_step, data_delta, bigendian,
                                               step_mode, random_step):
    """Any combination of sizes, steps, encodings and data lengths either converts or raises
    ImageConversionError -- never IndexError, cv2.error, ...; a success is (height, width, 3) uint8."""
    if step_mode == "bpp":
        step = max(width, 0) * 3 + extra_step
    elif step_mode == "random":
        step = random_step
    else:
        step = 0
    n = max(0, step * max(height, 0) * 2 + data_delta)
    data = np.random.default_rng(n).integers(0, 256, n, np.uint8).tobytes()
    msg = SimpleNamespace(encoding=encoding, width=width, height=height, step=step,
                          is_bigendian=bigendian, data=data)
    try:
        out = image_msg_to_rgb(msg)
    except ImageConversionError:
        return
    assert out.shape == (height, width, 3) and out.dtype == np.uint8


@settings(max_examples=200, deadline=None)
@given(
    encoding=st.sampled_from(SUPPORTED_ENCODINGS),
    width=st.integers(1, 24),
    height=st.integers(1, 24),
    pad=st.integers(0, 9),
    short=st.integers(0, 3),
)
def test_property_valid_layouts_convert_and_truncated_ones_fail(encoding, width, height, pad, short):
    """Real Image messages with the exact bytes per pixel: a full buffer converts, a short one is refused."""
    e = encoding.lower()
    bpp = {"rgb8": 3, "bgr8": 3, "8uc3": 3, "rgba8": 4, "bgra8": 4, "8uc4": 4, "rgb16": 6, "bgr16": 6,
           "16uc3": 6, "rgba16": 8, "bgra16": 8, "16uc4": 8, "mono16": 2, "16uc1": 2}.get(e)
    if bpp is None:
        bpp = 2 if (e.endswith("16") or e in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")) else 1
    rows = height + height // 2 if e in ("nv12", "nv21") else height
    step = width * bpp + pad
    msg = Image(encoding=encoding, width=width, height=height, step=step)
    msg.data = bytes(range(256)) * ((step * rows) // 256 + 1)
    msg.data = msg.data[: max(step * rows - short, 0)]  # (a 1-byte image with short=2 is empty)
    subsampled = (e in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv", "nv12", "nv21") and width % 2) or (
        e in ("nv12", "nv21") and height % 2)
    if short or subsampled:
        with pytest.raises(ImageConversionError):
            image_msg_to_rgb(msg)
    else:
        out = image_msg_to_rgb(msg)
        assert out.shape == (height, width, 3) and out.dtype == np.uint8
