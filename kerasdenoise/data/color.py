"""Color conversions between gray, RGB and Y (ITU-R BT.601 as MATLAB's ``rgb2ycbcr``).

The denoising papers report PSNR on the Y channel computed exactly as MATLAB does, so the
conversions here reproduce MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` for *double* images: every
channel lives in [0, 1] and Y spans [16/255, 235/255], Cb and Cr span [16/255, 240/255].

All functions are numpy, take float arrays in [0, 1] with the channels on the last axis and
return float32 (float64 in -> float64 out).
"""
from __future__ import annotations

import numpy as np

# MATLAB rgb2ycbcr: [Y; Cb; Cr] = (OFFSET + MATRIX @ [R; G; B]) / 255, R, G, B in [0, 1].
YCBCR_MATRIX = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=np.float64,
)
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64)
# Exact inverse (what MATLAB's ycbcr2rgb uses): rgb = 255 * inv(M) @ (ycbcr - offset/255).
_YCBCR_MATRIX_INV = np.linalg.inv(YCBCR_MATRIX)

# ITU-R BT.601 luma weights (MATLAB documents rgb2gray as 0.2989 R + 0.5870 G + 0.1140 B;
# the two differ by less than 1e-4).
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)

COLORS = ("rgb", "gray", "y")


def _as_float(image, what: str) -> tuple[np.ndarray, np.dtype]:
    """Return (image as float64, the float dtype to give back); reject integer input.

    Integer images would silently be read on a 0-255 scale, so they are refused.
    """
    array = np.asarray(image)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"{what} expects a float image in [0, 1], got dtype {array.dtype}; "
            "divide integer images by their maximum (e.g. 255) first"
        )
    out_dtype = np.float64 if array.dtype == np.float64 else np.float32
    return array.astype(np.float64, copy=False), out_dtype


def _check_channels(array: np.ndarray, what: str, channels: int = 3) -> None:
    if array.ndim < 1 or array.shape[-1] != channels:
        raise ValueError(
            f"{what} expects {channels} channels on the last axis, got shape {array.shape}"
        )


def rgb_to_ycbcr(image) -> np.ndarray:
    """RGB ``[..., 3]`` in [0, 1] -> YCbCr ``[..., 3]`` scaled as MATLAB ``rgb2ycbcr`` on doubles."""
    rgb, out_dtype = _as_float(image, "rgb_to_ycbcr")
    _check_channels(rgb, "rgb_to_ycbcr")
    ycbcr = (rgb @ YCBCR_MATRIX.T + YCBCR_OFFSET) / 255.0
    return ycbcr.astype(out_dtype)


def ycbcr_to_rgb(image, clip: bool = False) -> np.ndarray:
    """YCbCr ``[..., 3]`` (MATLAB double scaling) -> RGB ``[..., 3]``, the exact inverse of
    :func:`rgb_to_ycbcr`.  MATLAB's ``ycbcr2rgb`` also clips the result to [0, 1]; pass
    ``clip=True`` for that (the default keeps the exact inverse, which round-trips)."""
    ycbcr, out_dtype = _as_float(image, "ycbcr_to_rgb")
    _check_channels(ycbcr, "ycbcr_to_rgb")
    rgb = (ycbcr * 255.0 - YCBCR_OFFSET) @ _YCBCR_MATRIX_INV.T
    if clip:
        rgb = np.clip(rgb, 0.0, 1.0)
    return rgb.astype(out_dtype)


def rgb_to_y(image) -> np.ndarray:
    """RGB ``[..., 3]`` in [0, 1] -> the Y channel ``[..., 1]`` of MATLAB ``rgb2ycbcr``
    (Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255).  The channel axis is kept so the
    result is still an ``[H, W, C]`` image."""
    rgb, out_dtype = _as_float(image, "rgb_to_y")
    _check_channels(rgb, "rgb_to_y")
    y = (YCBCR_OFFSET[0] + rgb @ YCBCR_MATRIX[0]) / 255.0
    return y[..., None].astype(out_dtype)


def rgb_to_gray(image) -> np.ndarray:
    """RGB ``[..., 3]`` in [0, 1] -> luma ``[..., 1]`` with BT.601 weights (0.299, 0.587, 0.114)."""
    rgb, out_dtype = _as_float(image, "rgb_to_gray")
    _check_channels(rgb, "rgb_to_gray")
    return (rgb @ GRAY_WEIGHTS)[..., None].astype(out_dtype)


def convert_color(image, color: str) -> np.ndarray:
    """Convert an ``[H, W, C]`` image with C = 1 (gray) or 3 (RGB) to ``color``.

    ``"rgb"`` replicates a gray image into 3 channels; ``"gray"`` takes BT.601 luma of RGB;
    ``"y"`` takes MATLAB's Y channel of RGB.  A gray image asked for ``"gray"`` or ``"y"`` is
    returned unchanged (its gray value *is* its Y, the convention of the gray test sets).
    """
    if color not in COLORS:
        raise ValueError(f"unknown color {color!r}; expected one of {', '.join(COLORS)}")
    array, out_dtype = _as_float(image, "convert_color")
    if array.ndim != 3 or array.shape[-1] not in (1, 3):
        raise ValueError(
            f"convert_color expects an [H, W, C] image with C = 1 or 3, got shape {array.shape}"
        )
    if array.shape[-1] == 1:
        if color == "rgb":
            return np.repeat(array, 3, axis=-1).astype(out_dtype)
        return array.astype(out_dtype)
    if color == "rgb":
        return array.astype(out_dtype)
    if color == "gray":
        return rgb_to_gray(array).astype(out_dtype)
    return rgb_to_y(array).astype(out_dtype)
