"""sensor_msgs/Image and CompressedImage <-> RGB numpy arrays, without the ROS 2 cv_bridge.

The pose pipeline wants an ``(H, W, 3)`` ``uint8`` RGB array. :func:`image_msg_to_rgb`
produces one from every common ``sensor_msgs/Image`` encoding:

=========================================  ==================================================
encoding (case-insensitive)                conversion
=========================================  ==================================================
``rgb8``                                   zero-copy view of ``msg.data`` (strided if padded)
``bgr8``, ``8UC3``                         channel swap (``8UC3`` is taken as BGR, like OpenCV)
``rgba8``, ``bgra8``, ``8UC4`` (BGRA)      alpha dropped
``mono8``, ``8UC1``                        grey replicated to 3 channels
``mono16``, ``16UC1``                      high byte (``v >> 8``), i.e. full 16-bit range -> 8 bit
``rgb16``, ``bgr16``, ``rgba16``,          high byte of each channel
``bgra16``, ``16UC3`` (BGR), ``16UC4``
``yuv422`` / ``uyvy``                      UYVY (ROS's ``yuv422`` is UYVY byte order), BT.601
``yuv422_yuy2`` / ``yuyv``                 YUYV, BT.601
``nv12``, ``nv21``                         4:2:0 semi-planar, BT.601 (see below for the layout)
``bayer_{rggb,bggr,gbrg,grbg}{8,16}``      bilinear demosaicing (16-bit: high byte first)
=========================================  ==================================================

Layout rules (REP-117 / sensor_msgs/Image): row ``r`` starts at byte ``r * step``;
``step >= width * bytes_per_pixel``; bytes past ``width * bytes_per_pixel`` in a row are
padding and ignored. ``is_bigendian`` selects the byte order of 16-bit samples. For
``nv12``/``nv21`` ``height`` is the image height, ``step`` the stride of the Y plane, and the
interleaved chroma plane (``height / 2`` rows of the same stride) follows the Y plane;
width and height must be even, as for ``yuv422``-family width.

Copies: ``msg.data`` (an ``array.array('B')`` from rclpy, or ``bytes``) is wrapped with
``np.frombuffer`` / ``np.ndarray(buffer=...)`` -- never copied just to be read. For ``rgb8`` the
result *is* a view of the message buffer (rows strided when the step is padded): do not
write into it if the message is still used elsewhere (and it is read-only when ``data`` is
``bytes``). Other encodings are converted with one OpenCV call into a fresh C-contiguous
array.

Every malformed input (unknown encoding, depth/float encodings such as ``32FC1``, zero/absurd
sizes (over 32766 px a side: OpenCV's warp limit), step too small, data too short,
odd widths for chroma-subsampled formats, undecodable compressed data) raises
:class:`ImageConversionError`, whose message says what was wrong and what to do.

The real ROS 2 ``cv_bridge`` is used only when asked (``prefer_cv_bridge=True``) and
importable; otherwise, and whenever it fails, the converter here is used.
"""

from __future__ import annotations

import array
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

__all__ = [
    "MAX_IMAGE_SIDE",
    "SUPPORTED_ENCODINGS",
    "ImageConversionError",
    "byte_array",
    "compressed_msg_to_rgb",
    "cv_bridge_available",
    "image_msg_to_rgb",
    "pack_image_msg",
    "rgb_to_compressed_msg",
    "rgb_to_image_msg",
]

MAX_IMAGE_SIDE = (1 << 15) - 2
"""Largest accepted width or height in pixels (32766); larger values are treated as corrupt.
OpenCV's warps (the pipeline's crops) assert ``side < SHRT_MAX`` (32767): a 32767-px side would
convert and then fail inside the tracker."""
MAX_IMAGE_PIXELS = 1 << 28
"""Largest accepted width * height (268 Mpx)."""
MAX_DECODED_PIXELS = 1 << 26
"""Largest width * height a CompressedImage may declare (67 Mpx, e.g. 8192x8192), checked in its
header *before* decoding: a few corrupt bytes must not make the decoder allocate gigabytes."""


_Converter = Callable[[np.ndarray, int, int, bool], np.ndarray]
"""``(byte_rows (rows, step) uint8, width, step, is_bigendian) -> (H, W, 3) uint8 RGB``."""


class ImageConversionError(ValueError):
    """An image message cannot be turned into an RGB array; the message says why and what to do."""


# --------------------------------------------------------------------------------------------
# encoding table


@dataclass(frozen=True)
class _Encoding:
    """How one ROS encoding is laid out and converted.

    bytes_per_pixel: bytes of one pixel in a row (for 4:2:2 formats: 2; for nv12/nv21: 1,
        the Y plane; the chroma plane is accounted for by ``extra_rows_den``).
    convert: ``(msg_bytes_view, height, width, step, bigendian) -> RGB`` where
        ``msg_bytes_view`` is the ``(rows, step)`` uint8 view of the buffer.
    even_width / even_height: required by chroma subsampling (and nv12 / nv21).
    chroma_rows: nv12/nv21 need ``height + height // 2`` rows of ``step`` bytes.
    """

    bytes_per_pixel: int
    convert: _Converter
    even_width: bool = False
    even_height: bool = False
    chroma_rows: bool = False


def _high_bytes(rows: np.ndarray, width: int, channels: int, bigendian: bool) -> np.ndarray:
    """(H, step) bytes of 16-bit samples -> (H, W, C) uint8 view of the high byte of each sample.

    Equivalent to ``sample >> 8`` in the declared byte order, without arithmetic or copy.
    """
    start = 0 if bigendian else 1
    return rows[:, start : start + 2 * width * channels : 2].reshape(rows.shape[0], width, channels)


def _rgb8(rows: np.ndarray, w: int, step: int, be: bool) -> np.ndarray:
    return rows[:, : w * 3].reshape(rows.shape[0], w, 3)


def _cvt(code: int, channels: int, sixteen: bool = False) -> _Converter:
    def convert(rows: np.ndarray, w: int, step: int, be: bool) -> np.ndarray:
        if sixteen:
            px = _high_bytes(rows, w, channels, be)
        else:
            px = rows[:, : w * channels].reshape(-1, w, channels)
        return cv2.cvtColor(px, code)

    return convert


def _gray(sixteen: bool) -> _Converter:
    def convert(rows: np.ndarray, w: int, step: int, be: bool) -> np.ndarray:
        g = _high_bytes(rows, w, 1, be)[:, :, 0] if sixteen else rows[:, :w]
        return cv2.cvtColor(g, cv2.COLOR_GRAY2RGB)

    return convert


def _rgb16(rows: np.ndarray, w: int, step: int, be: bool) -> np.ndarray:
    return np.ascontiguousarray(_high_bytes(rows, w, 3, be))


def _packed422(code: int) -> _Converter:
    def convert(rows: np.ndarray, w: int, step: int, be: bool) -> np.ndarray:
        return cv2.cvtColor(rows[:, : w * 2].reshape(-1, w, 2), code)

    return convert


def _semi_planar(code: int) -> _Converter:
    def convert(rows: np.ndarray, w: int, step: int, be: bool) -> np.ndarray:
        return cv2.cvtColor(rows[:, :w], code)  # (H * 3/2, W): Y rows, then interleaved chroma rows

    return convert


def _bayer(code: int, sixteen: bool) -> _Converter:
    def convert(rows: np.ndarray, w: int, step: int, be: bool) -> np.ndarray:
        raw = _high_bytes(rows, w, 1, be)[:, :, 0] if sixteen else rows[:, :w]
        return cv2.cvtColor(np.ascontiguousarray(raw), code)

    return convert


def _build_table() -> dict[str, _Encoding]:
    t: dict[str, _Encoding] = {
        "rgb8": _Encoding(3, _rgb8),
        "bgr8": _Encoding(3, _cvt(cv2.COLOR_BGR2RGB, 3)),
        "8uc3": _Encoding(3, _cvt(cv2.COLOR_BGR2RGB, 3)),
        "rgba8": _Encoding(4, _cvt(cv2.COLOR_RGBA2RGB, 4)),
        "bgra8": _Encoding(4, _cvt(cv2.COLOR_BGRA2RGB, 4)),
        "8uc4": _Encoding(4, _cvt(cv2.COLOR_BGRA2RGB, 4)),
        "mono8": _Encoding(1, _gray(False)),
        "8uc1": _Encoding(1, _gray(False)),
        "mono16": _Encoding(2, _gray(True)),
        "16uc1": _Encoding(2, _gray(True)),
        "rgb16": _Encoding(6, _rgb16),
        "bgr16": _Encoding(6, _cvt(cv2.COLOR_BGR2RGB, 3, sixteen=True)),
        "16uc3": _Encoding(6, _cvt(cv2.COLOR_BGR2RGB, 3, sixteen=True)),
        "rgba16": _Encoding(8, _cvt(cv2.COLOR_RGBA2RGB, 4, sixteen=True)),
        "bgra16": _Encoding(8, _cvt(cv2.COLOR_BGRA2RGB, 4, sixteen=True)),
        "16uc4": _Encoding(8, _cvt(cv2.COLOR_BGRA2RGB, 4, sixteen=True)),
        "yuv422": _Encoding(2, _packed422(cv2.COLOR_YUV2RGB_UYVY), even_width=True),
        "uyvy": _Encoding(2, _packed422(cv2.COLOR_YUV2RGB_UYVY), even_width=True),
        "yuv422_yuy2": _Encoding(2, _packed422(cv2.COLOR_YUV2RGB_YUY2), even_width=True),
        "yuyv": _Encoding(2, _packed422(cv2.COLOR_YUV2RGB_YUY2), even_width=True),
        "nv12": _Encoding(1, _semi_planar(cv2.COLOR_YUV2RGB_NV12), True, True, True),
        "nv21": _Encoding(1, _semi_planar(cv2.COLOR_YUV2RGB_NV21), True, True, True),
    }
    # OpenCV's *pattern-named* aliases (COLOR_BayerRGGB2RGB == COLOR_BayerBG2RGB), as cv_bridge maps them.
    for pattern, code in (("rggb", cv2.COLOR_BayerRGGB2RGB), ("bggr", cv2.COLOR_BayerBGGR2RGB),
                          ("gbrg", cv2.COLOR_BayerGBRG2RGB), ("grbg", cv2.COLOR_BayerGRBG2RGB)):
        t[f"bayer_{pattern}8"] = _Encoding(1, _bayer(code, False))
        t[f"bayer_{pattern}16"] = _Encoding(2, _bayer(code, True))
    return t


_ENCODINGS = _build_table()
_DEPTH_ENCODING = re.compile(r"(8s|16s|32s|32f|64f)c[1-4]")
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(
    k.upper() if k[0].isdigit() else k for k in _ENCODINGS
)
"""Encodings :func:`image_msg_to_rgb` accepts, in ROS spelling."""


# --------------------------------------------------------------------------------------------
# raw Image -> RGB


def _as_bytes(data: Any) -> np.ndarray:
    """``msg.data`` as a flat uint8 array, sharing memory with it when it exposes a buffer."""
    try:
        flat = np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError, BufferError):
        try:
            flat = np.asarray(data, dtype=np.uint8).reshape(-1)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ImageConversionError(
                f"image data of type {type(data).__name__} is not a byte buffer ({exc}); "
                "fill sensor_msgs/Image.data with bytes or array.array('B')") from exc
    return flat


def _int_field(msg: Any, name: str) -> int:
    try:
        value = int(getattr(msg, name))
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImageConversionError(f"image message has no usable integer '{name}' field ({exc})") from exc
    return value


def _check_dims(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageConversionError(
            f"empty image ({width}x{height}): the publisher sent an image with no pixels; "
            "check the camera driver")
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise ImageConversionError(
            f"implausible image size {width}x{height} (limit {MAX_IMAGE_SIDE} px a side, "
            f"{MAX_IMAGE_PIXELS} px in all): the header is probably corrupt")


def _own_convert(msg: Any) -> np.ndarray:
    raw_encoding = getattr(msg, "encoding", "")
    encoding = str(raw_encoding).strip().lower()
    spec = _ENCODINGS.get(encoding)
    if spec is None and _DEPTH_ENCODING.fullmatch(encoding):
        raise ImageConversionError(
            f"unsupported image encoding {raw_encoding!r}: a depth or other non-colour image "
            "(signed/float samples) is not a camera image; subscribe to the colour camera's topic "
            "(e.g. image:=/camera/color/image_raw, in rgb8 or bgr8)")
    if spec is None:
        raise ImageConversionError(
            f"unsupported image encoding {raw_encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}. "
            "Republish the camera in one of them (e.g. rgb8 or bgr8), or use a compressed topic")
    width, height, step = _int_field(msg, "width"), _int_field(msg, "height"), _int_field(msg, "step")
    _check_dims(width, height)
    if spec.even_width and width % 2:
        raise ImageConversionError(
            f"{encoding} needs an even width (chroma is shared by pixel pairs), got {width}")
    if spec.even_height and height % 2:
        raise ImageConversionError(f"{encoding} needs an even height (4:2:0 chroma), got {height}")
    min_step = width * spec.bytes_per_pixel
    if step < min_step:
        raise ImageConversionError(
            f"{encoding} image step {step} B is smaller than width*bytes_per_pixel = {width}*"
            f"{spec.bytes_per_pixel} = {min_step} B; the publisher must set step to the row stride in bytes")
    rows = height + height // 2 if spec.chroma_rows else height
    needed = step * rows
    flat = _as_bytes(msg.data)
    if flat.size < needed:
        raise ImageConversionError(
            f"{encoding} {width}x{height} image with step {step} needs {needed} bytes of data, got "
            f"{flat.size}: the message is truncated or width/height/step are wrong")
    bigendian = bool(getattr(msg, "is_bigendian", False))
    byte_rows = flat[:needed].reshape(rows, step)
    try:
        rgb = spec.convert(byte_rows, width, step, bigendian)
    except cv2.error as exc:  # should not happen after validation; keep the contract anyway
        raise ImageConversionError(f"OpenCV could not convert the {encoding} image: {exc}") from exc
    return rgb


_bridge: Any = None
_bridge_checked = False


def cv_bridge_available() -> bool:
    """True when the ROS 2 ``cv_bridge`` Python module can be imported (a full ROS 2 install)."""
    global _bridge, _bridge_checked
    if not _bridge_checked:
        _bridge_checked = True
        try:
            from cv_bridge import CvBridge  # type: ignore[import-not-found]

            _bridge = CvBridge()
        except Exception:  # ImportError, or the ROS 1 PyPI port failing on NumPy 2
            _bridge = None
    return _bridge is not None


def image_msg_to_rgb(msg: Any, prefer_cv_bridge: bool = False) -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` to an ``(H, W, 3)`` uint8 RGB array.

    Args:
        msg: the image message (any object with ``encoding, width, height, step,
            is_bigendian, data``).
        prefer_cv_bridge: use the ROS 2 ``cv_bridge`` when importable
            (``imgmsg_to_cv2(msg, "rgb8")``); falls back to the converter here if it is
            missing or refuses the message.

    Returns:
        RGB pixels of the source image. For ``rgb8`` a (possibly strided, possibly read-only)
        view of ``msg.data``; otherwise a new C-contiguous array.

    Raises:
        ImageConversionError: for every malformed or unsupported message.
    """
    if prefer_cv_bridge and cv_bridge_available():
        try:
            out = _bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8")
            if isinstance(out, np.ndarray) and out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8:
                return out
        except Exception:  # CvBridgeError, cv2.error, ...: the own converter gives the clear message
            pass
    return _own_convert(msg)


# --------------------------------------------------------------------------------------------
# CompressedImage -> RGB


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _compressed_header_problem(b: memoryview) -> str | None:
    """Why a PNG / JPEG must not be handed to the decoder, from its header; None if it may be.

    Checked: PNG chunk lengths within the buffer (one flipped length byte made OpenCV 4.12 spend
    3-4 s on a 79-byte PNG) and the size a PNG (IHDR) or JPEG (SOF) declares. Other formats and
    headers that cannot be parsed are left to OpenCV.
    """
    size: tuple[int, int] | None = None
    if bytes(b[:8]) == b"\x89PNG\r\n\x1a\n":
        pos = 8
        while pos + 8 <= len(b):
            length = int.from_bytes(b[pos:pos + 4], "big")
            kind = bytes(b[pos + 4:pos + 8])
            if length > len(b) - pos - 12:
                return (f"PNG chunk {kind!r} at byte {pos} declares {length} bytes but only "
                        f"{max(len(b) - pos - 12, 0)} follow (truncated or corrupt)")
            if kind == b"IHDR" and length >= 8:
                size = (int.from_bytes(b[pos + 8:pos + 12], "big"),
                        int.from_bytes(b[pos + 12:pos + 16], "big"))
            if kind == b"IEND":
                break
            pos += length + 12
    elif bytes(b[:2]) == b"\xff\xd8":
        pos = 2
        while pos + 4 <= len(b) and b[pos] == 0xFF:
            marker = b[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            length = int.from_bytes(b[pos + 2:pos + 4], "big")
            if marker in _JPEG_SOF and pos + 9 <= len(b):
                size = (int.from_bytes(b[pos + 7:pos + 9], "big"), int.from_bytes(b[pos + 5:pos + 7], "big"))
                break
            if marker == 0xDA:  # start of scan: no frame header before it
                break
            pos += 2 + length
    if size is not None and size[0] * size[1] > MAX_DECODED_PIXELS:
        return (f"its header declares a {size[0]}x{size[1]} image (limit {MAX_DECODED_PIXELS} px "
                "for compressed images)")
    return None


# OpenCV >= 4.10 decodes straight to RGB: the same pixels as BGR + cvtColor, 5-8 % faster
# (1280x720 JPEG 2.74 -> 2.61 ms); older OpenCV (distribution packages) swaps afterwards.
_IMREAD_RGB: int = getattr(cv2, "IMREAD_COLOR_RGB", 0)


def compressed_msg_to_rgb(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) to an ``(H, W, 3)`` uint8 RGB array.

    ``format`` is informational (``"jpeg"``, ``"png"``, ``"rgb8; jpeg compressed bgr8"``, ...):
    OpenCV detects the codec from the data. ``compressedDepth`` (depth PNG with a header) is
    rejected: it is a depth image, not a colour image.

    Raises:
        ImageConversionError: empty, undecodable or depth data.
    """
    fmt = str(getattr(msg, "format", ""))
    if "compresseddepth" in fmt.lower():
        raise ImageConversionError(
            f"CompressedImage format {fmt!r} is a compressed depth image, not a colour image; "
            "subscribe to the colour camera's image/compressed topic")
    buf = _as_bytes(msg.data)
    if buf.size == 0:
        raise ImageConversionError("CompressedImage has no data; check the publisher (format "
                                   f"{fmt!r})")
    problem = _compressed_header_problem(memoryview(buf))
    if problem:
        raise ImageConversionError(f"corrupt CompressedImage (format {fmt!r}, {buf.size} bytes): {problem}")
    try:
        px = cv2.imdecode(buf, _IMREAD_RGB or cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageConversionError(f"cannot decode CompressedImage (format {fmt!r}): {exc}") from exc
    if px is None or px.size == 0:
        raise ImageConversionError(
            f"cannot decode {buf.size} bytes of CompressedImage data (format {fmt!r}) as JPEG/PNG; "
            "the data is corrupt or in a codec OpenCV does not read (use jpeg or png)")
    _check_dims(px.shape[1], px.shape[0])
    return px if _IMREAD_RGB else cv2.cvtColor(px, cv2.COLOR_BGR2RGB)


# --------------------------------------------------------------------------------------------
# RGB -> messages (publishers, tests)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageConversionError(
            f"expected an (H, W, 3) uint8 RGB array, got shape {a.shape} dtype {a.dtype}")
    return a


def byte_array(a: np.ndarray) -> array.array:
    """C-contiguous ndarray -> ``array.array('B')`` with one copy (what rclpy stores without checks)."""
    out = array.array("B")
    out.frombytes(memoryview(np.ascontiguousarray(a)).cast("B"))
    return out


def rgb_to_image_msg(rgb: np.ndarray, header: Any = None,
                     encoding: Literal["rgb8", "bgr8"] = "rgb8") -> Any:
    """Pack an ``(H, W, 3)`` uint8 RGB array into a ``sensor_msgs/Image`` (``rgb8`` or ``bgr8``).

    ``step`` is ``3 * W`` (no padding); ``header`` (stamp, frame_id) is used as given.
    """
    a = _check_rgb(rgb)
    if encoding == "bgr8":
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    elif encoding != "rgb8":
        raise ImageConversionError(f"rgb_to_image_msg encodes rgb8 or bgr8, not {encoding!r}")
    return pack_image_msg(a, header, encoding)


def pack_image_msg(pixels: np.ndarray, header: Any = None,
                   encoding: Literal["rgb8", "bgr8"] = "rgb8") -> Any:
    """Pack an ``(H, W, 3)`` uint8 array whose channels are already in ``encoding`` order
    (no colour conversion) into a ``sensor_msgs/Image``; ``step`` is ``3 * W``."""
    from sensor_msgs.msg import Image

    a = _check_rgb(pixels)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(a.shape[0]), int(a.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = 3 * msg.width
    msg.data = byte_array(a)
    return msg


def mono8_to_image_msg(gray: np.ndarray, header: Any = None) -> Any:
    """Pack an ``(H, W)`` uint8 array into a ``mono8`` ``sensor_msgs/Image`` (``step`` = W)."""
    from sensor_msgs.msg import Image

    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ImageConversionError(f"mono8 needs an (H, W) uint8 array, got {gray.shape} {gray.dtype}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(gray.shape[0]), int(gray.shape[1])
    msg.encoding, msg.is_bigendian, msg.step = "mono8", 0, msg.width
    msg.data = byte_array(gray)
    return msg


def rgb_to_compressed_msg(rgb: np.ndarray, header: Any = None,
                          fmt: Literal["jpeg", "png"] = "jpeg", quality: int = 90) -> Any:
    """Encode an ``(H, W, 3)`` uint8 RGB array as a ``sensor_msgs/CompressedImage``.

    ``quality`` is the JPEG quality 1..100 (ignored for PNG). ``format`` is set to
    ``"jpeg"``/``"png"`` as image_transport's compressed plugin expects.
    """
    from sensor_msgs.msg import CompressedImage

    a = _check_rgb(rgb)
    if fmt not in ("jpeg", "png"):
        raise ImageConversionError(f"rgb_to_compressed_msg encodes jpeg or png, not {fmt!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(np.clip(quality, 1, 100))] if fmt == "jpeg" else []
    ok, enc = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", cv2.cvtColor(a, cv2.COLOR_RGB2BGR), params)
    if not ok:  # pragma: no cover - OpenCV always encodes valid uint8 images
        raise ImageConversionError(f"OpenCV failed to encode a {a.shape} image as {fmt}")
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = fmt
    msg.data = byte_array(enc)
    return msg
