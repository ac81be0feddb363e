"""Reading and writing images as float32 ``[H, W, C]`` arrays in [0, 1], with clear errors.

OpenCV does the decoding (PNG, JPEG, BMP, TIFF; 8 or 16 bit; gray, color, with or without
alpha).  Files are read through ``np.fromfile`` + ``cv2.imdecode`` rather than ``cv2.imread``
so that paths with non-ASCII characters work everywhere and a bad file gives an exception
naming it instead of a silent ``None``.
"""
from __future__ import annotations

import os
from pathlib import Path

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
    if not path.exists():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.is_dir():
        raise ValueError(f"cannot read image {path}: it is a directory")
    encoded = np.fromfile(str(path), dtype=np.uint8)
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
    image = _to_unit_float(_drop_alpha_to_rgb(pixels, path), path)
    return convert_color(image, color)


def write_image(path, image, bit_depth: int = 8) -> Path:
    """Write a float image in [0, 1] (``[H, W]``, ``[H, W, 1]`` or ``[H, W, 3]`` RGB) to ``path``.

    Values are clipped to [0, 1] and rounded to ``bit_depth`` (8 or 16) bits; the format
    follows the extension (16 bit needs PNG or TIFF).  Parent folders are created.
    Returns the path written.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    path = Path(path)
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(
            f"cannot write {path}: expected an [H, W], [H, W, 1] or [H, W, 3] image, "
            f"got shape {np.shape(image)}"
        )
    if array.size == 0:
        raise ValueError(f"cannot write {path}: the image is empty (shape {array.shape})")
    extension = path.suffix.lower()
    if bit_depth == 16 and extension not in (".png", ".tif", ".tiff"):
        raise ValueError(f"cannot write {path}: 16-bit output needs a .png or .tif(f) file")
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    max_value = np.iinfo(dtype).max
    pixels = np.rint(np.clip(np.nan_to_num(array), 0.0, 1.0) * max_value).astype(dtype)
    if pixels.ndim == 3:
        pixels = np.ascontiguousarray(pixels[..., ::-1])  # RGB -> OpenCV's BGR
    try:
        ok, encoded = cv2.imencode(extension, pixels)
    except cv2.error as err:
        raise ValueError(f"cannot write {path}: OpenCV cannot encode {extension!r} ({err})") from err
    if not ok:
        raise ValueError(f"cannot write {path}: OpenCV failed to encode {extension!r}")
    os.makedirs(path.parent, exist_ok=True)
    encoded.tofile(str(path))
    return path
