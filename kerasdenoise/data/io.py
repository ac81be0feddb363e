"""Reading and writing images as float32 ``[H, W, C]`` arrays in [0, 1], with clear errors.

OpenCV does the decoding (PNG, JPEG, BMP, TIFF; 8 or 16 bit; gray, color, with or without
alpha).  Files are read through ``np.fromfile`` + ``cv2.imdecode`` rather than ``cv2.imread``
so that paths with non-ASCII characters work everywhere and a bad file gives an exception
naming it instead of a silent ``None``.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import NamedTuple, Optional

import cv2
import numpy as np

from kerasdenoise.data.color import COLORS, convert_color


def _to_unit_float(pixels: np.ndarray, path: Path) -> np.ndarray:
    """Scale integer pixels by their dtype's maximum (255, 65535, ...); floats pass through."""
    if np.issubdtype(pixels.dtype, np.unsignedinteger):
        return pixels.astype(np.float32) / np.float32(np.iinfo(pixels.dtype).max)
    if np.issubdtype(pixels.dtype, np.floating):
        return pixels.astype(np.float32)
    raise ValueError(f"cannot read image {path}: unsupported pixel type {pixels.dtype}")


def _drop_alpha_to_rgb(pixels: np.ndarray, path: Path) -> np.ndarray:
    """OpenCV's [H, W] / [H, W, 2|3|4] (BGR order) -> [H, W, 1] gray or [H, W, 3] RGB."""
    if pixels.ndim == 2:
        return pixels[..., None]
    channels = pixels.shape[2]
    if channels == 1:
        return pixels
    if channels == 2:  # gray + alpha
        return pixels[..., :1]
    if channels in (3, 4):  # BGR / BGRA
        return np.ascontiguousarray(pixels[..., 2::-1])
    raise ValueError(f"cannot read image {path}: unsupported channel count {channels}")


def _decode(path) -> np.ndarray:
    """The pixels of an image file as OpenCV decodes them (``IMREAD_UNCHANGED``), with errors
    naming the file: FileNotFoundError if missing, ValueError if a folder, empty or unreadable."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.is_dir():
        raise ValueError(f"cannot read image {path}: it is a directory")
    try:
        encoded = np.fromfile(str(path), dtype=np.uint8)
    except OSError as err:
        raise ValueError(f"cannot read image {path}: {err.strerror or err}") from err
    if encoded.size == 0:
        raise ValueError(f"cannot read image {path}: the file is empty (0 bytes)")
    try:
        pixels = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise ValueError(f"cannot read image {path}: OpenCV failed to decode it ({err})") from err
    if pixels is None or pixels.size == 0:
        raise ValueError(
            f"cannot read image {path}: not a readable image (corrupt, truncated, zero-size "
            "or an unsupported format)"
        )
    return pixels


class ImageFile(NamedTuple):
    """An image file as stored: see :func:`read_image_file`."""

    image: np.ndarray  # float32 [H, W, 1] gray or [H, W, 3] RGB in [0, 1]
    alpha: Optional[np.ndarray]  # [H, W] in the file's own integer type, or None
    bit_depth: int  # 8 or 16


def read_image_file(path) -> ImageFile:
    """Read an image file as it is stored, for writing a processed copy of it back.

    ``image``: gray files as ``[H, W, 1]``, color ones (and palette files, which decode as
    color) as ``[H, W, 3]`` RGB, float32 in [0, 1]; ``alpha``: the alpha channel untouched
    (gray + alpha files decode as RGBA); ``bit_depth``: 16 for 16-bit files, else 8.
    Errors as :func:`read_image`.
    """
    path = Path(path)
    pixels = _decode(path)
    alpha = None
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        alpha = np.ascontiguousarray(pixels[..., -1])
    image = _to_unit_float(_drop_alpha_to_rgb(pixels, path), path)
    return ImageFile(image, alpha, 16 if pixels.dtype == np.uint16 else 8)


def read_image(path, color: str = "rgb") -> np.ndarray:
    """Read an image file as float32 ``[H, W, C]`` in [0, 1].

    ``color``: ``"rgb"`` (C = 3; a gray file is replicated), ``"gray"`` (C = 1; BT.601 luma of
    a color file) or ``"y"`` (C = 1; MATLAB ``rgb2ycbcr`` Y of a color file, the gray value
    itself for a gray file).  Integer pixels are divided by the dtype's maximum (255 for 8 bit,
    65535 for 16 bit); an alpha channel is dropped.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for an empty, corrupt
    or zero-size one, each naming the file.
    """
    if color not in COLORS:
        raise ValueError(f"unknown color {color!r}; expected one of {', '.join(COLORS)}")
    path = Path(path)
    pixels = _decode(path)
    image = _to_unit_float(_drop_alpha_to_rgb(pixels, path), path)
    return convert_color(image, color)


def write_image(path, image, bit_depth: int = 8, alpha=None) -> Path:
    """Write an image (``[H, W]``, ``[H, W, 1]`` or ``[H, W, 3]`` RGB) to ``path``.

    ``image``: float on the [0, 1] scale, or uint8 / uint16 read by dtype (see
    :mod:`kerasdenoise.scale`: NaN / inf and floats clearly on another scale, e.g. 0-255, are
    refused; values slightly outside [0, 1], such as unclipped noise, are clipped).  It is
    rounded to ``bit_depth`` (8 or 16) bits; the format follows the extension (16 bit needs
    PNG or TIFF).  ``alpha``: an optional ``[H, W]`` alpha channel (uint8 / uint16 by dtype, or
    float in [0, 1]) written as a fourth channel (a gray image is then stored as RGBA; needs
    PNG, TIFF or BMP).  Parent folders are created.  The file is written to a temporary file in
    the same folder and renamed over ``path``, so a failed or interrupted write never leaves a
    partial file.  Returns the path written.
    """
    from kerasdenoise.scale import to_unit_float

    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    path = Path(path)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(
            f"cannot write {path}: expected an [H, W], [H, W, 1] or [H, W, 3] image, "
            f"got shape {np.shape(image)}"
        )
    if array.size == 0:
        raise ValueError(f"cannot write {path}: the image is empty (shape {array.shape})")
    precision = np.float64 if array.dtype == np.float64 else np.float32
    array, _ = to_unit_float(array, f"cannot write {path}", dtype=precision)
    extension = path.suffix.lower()
    if bit_depth == 16 and extension not in (".png", ".tif", ".tiff"):
        raise ValueError(f"cannot write {path}: 16-bit output needs a .png or .tif(f) file")
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    pixels = _quantize(array, dtype)
    if pixels.ndim == 3:
        pixels = np.ascontiguousarray(pixels[..., ::-1])  # RGB -> OpenCV's BGR
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.ndim == 3 and alpha.shape[2] == 1:
            alpha = alpha[..., 0]
        if alpha.shape != pixels.shape[:2]:
            raise ValueError(
                f"cannot write {path}: alpha shape {alpha.shape} does not match the image "
                f"{pixels.shape[:2]}"
            )
        if extension not in (".png", ".tif", ".tiff", ".bmp"):
            raise ValueError(f"cannot write {path}: an alpha channel needs a .png, .tif(f) or .bmp file")
        if alpha.dtype != dtype:
            unit, _ = to_unit_float(alpha, f"cannot write {path}: alpha", clean=True,
                                    dtype=np.float64)
            alpha = _quantize(unit, dtype)
        color = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=-1)
        pixels = np.ascontiguousarray(np.concatenate([color, alpha[..., None]], axis=-1))
    try:
        ok, encoded = cv2.imencode(extension, pixels)
    except cv2.error as err:
        raise ValueError(f"cannot write {path}: OpenCV cannot encode {extension!r} ({err})") from err
    if not ok:
        raise ValueError(f"cannot write {path}: OpenCV failed to encode {extension!r}")
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a directory")
    try:
        os.makedirs(path.parent, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise ValueError(f"cannot write {path}: {path.parent} is not a folder") from err
    write_bytes_atomic(path, encoded.tobytes())
    return path


def _quantize(unit: np.ndarray, dtype) -> np.ndarray:
    """``rint(clip(unit, 0, 1) * max)`` as ``dtype``, computed in float64 a band of rows at a
    time (a 12-megapixel RGB image needs no whole-image float64 temporaries)."""
    max_value = np.iinfo(dtype).max
    out = np.empty(unit.shape, dtype)
    rows = max(1, (1 << 21) // max(1, unit[0].size))
    for top in range(0, unit.shape[0], rows):
        band = unit[top : top + rows].astype(np.float64)
        np.clip(band, 0.0, 1.0, out=band)
        band *= max_value
        out[top : top + rows] = np.rint(band, out=band)
    return out


def write_bytes_atomic(path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it to ``path``
    (``os.replace``): readers see the old file or the whole new one, never a partial one."""
    path = Path(path)
    while True:  # like tempfile.mkstemp, but with the usual permissions (0666 less the umask)
        temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            handle = os.open(temporary, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
