"""Pixel scales: what the Python API takes as an image, and the checks behind its errors.

Every image-taking function of the API (:class:`kerasdenoise.runtime.Denoiser`,
:func:`kerasdenoise.data.io.write_image`, :func:`kerasdenoise.metrics.psnr` / ``ssim``,
:func:`kerasdenoise.runtime.run_tflite`) reads the scale of an array from its dtype:

* ``uint8`` / ``uint16``: 0-255 / 0-65535 levels, divided by 255 / 65535.  Denoisers return
  their output in the same dtype.
* float (16, 32 or 64 bit): the [0, 1] scale.
* anything else (``bool``, signed or wider integers) is refused: its scale is ambiguous
  (``np.array([[0, 255]])`` is ``int64``); convert with ``.astype(np.uint8)`` or to floats.

NaN and inf are always refused.  How far a float image may leave [0, 1] depends on its role:

* a *clean* image (the reference of a metric) must lie in [0, 1] up to
  :data:`CLEAN_TOLERANCE` (1e-3, i.e. a quarter of an 8-bit level);
* a *degraded* or *restored* image (what a denoiser is given, what ``write_image`` writes, the
  second image of a metric) legitimately leaves [0, 1]: the evaluation protocol feeds
  unclipped noisy images (Gaussian sigma 75 reaches about -1.2 and 2.2, Poisson noise at peak
  1 gives values 3, 4, 5 ...).  Such an image is refused only when its *mean* lies outside
  :data:`DEGRADED_MEAN_RANGE` ([-1, 2]): every degradation here keeps the mean of an image in
  [0, 1] where it was, while a 0-255 (or 0-65535) float image has a mean far above 2 unless it
  is all but black.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

CLEAN_TOLERANCE = 1e-3
DEGRADED_MEAN_RANGE = (-1.0, 2.0)
INTEGER_DTYPES = (np.uint8, np.uint16)


def _dtype_error(what: str, dtype) -> ValueError:
    return ValueError(
        f"{what}: pixel type {np.dtype(dtype).name} is not accepted; give uint8 (0-255), "
        f"uint16 (0-65535) or float in [0, 1] (e.g. image.astype(np.uint8) for 0-255 integers, "
        f"or image / 255.0)"
    )


def check_finite(array: np.ndarray, what: str) -> None:
    """ValueError naming how many NaN / inf values ``array`` holds, if any."""
    finite = np.isfinite(array)
    if not finite.all():
        nan = int(np.isnan(array).sum())
        inf = int(array.size - finite.sum()) - nan
        raise ValueError(
            f"{what}: the image holds {nan} NaN and {inf} inf values; pixels must be finite"
        )


def check_range(array: np.ndarray, what: str, clean: bool, data_range: float = 1.0) -> None:
    """ValueError if the finite float ``array`` is not on the [0, ``data_range``] scale (the
    tolerances of the module docstring; ``clean`` picks the strict one)."""
    if array.size == 0:
        return
    if clean:
        low, high = float(array.min()), float(array.max())
        tolerance = CLEAN_TOLERANCE * data_range
        if low < -tolerance or high > data_range + tolerance:
            raise ValueError(
                f"{what}: values span [{low:.4g}, {high:.4g}], outside [0, {data_range:g}]"
                + _scale_hint(high, data_range)
            )
        return
    mean = float(np.mean(array, dtype=np.float64))
    low, high = DEGRADED_MEAN_RANGE
    if not low * data_range <= mean <= high * data_range:
        raise ValueError(
            f"{what}: the image's mean is {mean:.4g}, which no image on the [0, {data_range:g}] "
            f"scale has, even with noise" + _scale_hint(float(array.max()), data_range)
        )


def _scale_hint(high: float, data_range: float) -> str:
    if data_range == 1.0 and high > 2:
        scale = "0-65535" if high > 300 else "0-255"
        divisor = "65535" if high > 300 else "255"
        return (f"; it looks like a {scale} image: divide it by {divisor}.0 or pass it as "
                f"{'uint16' if high > 300 else 'uint8'}")
    return "; give float images on the [0, 1] scale (or uint8 / uint16)"


def to_unit_float(image, what: str, clean: bool = False, data_range: float = 1.0,
                  dtype=np.float32):
    """``(array on the [0, 1] scale as ``dtype``, integer dtype of the input or None)``.

    ``uint8`` / ``uint16`` are divided by their maximum (then ``data_range`` must be 1 or that
    maximum); floats are checked (finite, on the [0, ``data_range``] scale: ``clean`` picks the
    strict tolerance) and divided by ``data_range``.  ``what`` names the image in errors.
    """
    array = np.asarray(image)
    kind = array.dtype
    if kind == np.bool_ or not (np.issubdtype(kind, np.floating) or np.issubdtype(kind, np.integer)):
        raise _dtype_error(what, kind)
    if np.issubdtype(kind, np.integer):
        if kind.type not in INTEGER_DTYPES:
            raise _dtype_error(what, kind)
        maximum = float(np.iinfo(kind).max)
        if data_range not in (1.0, maximum):
            raise ValueError(
                f"{what}: a {kind.name} image is on the 0-{maximum:g} scale; data_range must be "
                f"1.0 or {maximum:g}, got {data_range:g}"
            )
        converted = array.astype(dtype)
        converted /= dtype(maximum)  # in place: a large image gets one float copy
        return converted, kind.type
    data_range = float(data_range)
    if not data_range > 0:
        raise ValueError(f"{what}: data_range must be > 0, got {data_range}")
    check_finite(array, what)
    check_range(array, what, clean, data_range)
    converted = array.astype(dtype, copy=False)
    if data_range != 1.0:
        converted = (converted / dtype(data_range)).astype(dtype)
    return converted, None


def from_unit_float(image: np.ndarray, integer_dtype: Optional[type]) -> np.ndarray:
    """``image`` on the [0, 1] scale back to ``integer_dtype`` (clipped, rounded); unchanged
    when ``integer_dtype`` is None."""
    if integer_dtype is None:
        return image
    maximum = np.iinfo(integer_dtype).max
    return np.rint(np.clip(image, 0.0, 1.0) * maximum).astype(integer_dtype)
