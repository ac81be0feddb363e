"""MNIST digits as blur kernels for the deblur-and-denoise task (ResUNet paper).

The ResUNet authors made their blur kernel from an MNIST digit: resized to 7x7, normalized to
sum 1 (see the reading guide, section 1).  This module finds the digits and turns them into
kernels:

- :func:`load_mnist_digits` reads the IDX images file (gzipped or not) or a Keras ``mnist.npz``
  from ``path``, else from the environment variable ``KERASDENOISE_MNIST``, else from
  ``<shared data>/kernels/t10k-images-idx3-ubyte.gz`` (shared data = ``KERASDENOISE_DATA``
  or ``<repo root>/../shared/data``).  When none of these exists it draws the digits 0-9 with
  OpenCV's Hershey fonts instead, so the package still works without the data set; the returned
  source string then starts with ``hershey-standin`` and the degradation records it in its notes.
- :func:`blur_kernels` resizes each digit to ``size x size`` (``cv2.INTER_AREA``) and
  normalizes it to sum 1.  Both are cached, since degradation specs are built often.
"""
from __future__ import annotations

import functools
import gzip
import os
import zipfile
from pathlib import Path
from typing import Optional, Tuple, Union

import cv2
import numpy as np

from kerasdenoise.data.discovery import shared_data_candidate

#: Kernel side used by the ResUNet authors' code (MNIST digit resized to 7x7).
DEFAULT_KERNEL_SIZE = 7

#: File name of the MNIST test digits inside ``<shared data>/kernels``.
MNIST_FILE_NAME = "t10k-images-idx3-ubyte.gz"
#: File name of their labels (0-9), beside them.
MNIST_LABELS_FILE_NAME = "t10k-labels-idx1-ubyte.gz"

HERSHEY_PREFIX = "hershey-standin"

PathLike = Union[str, os.PathLike]

_IDX_UBYTE_3D_MAGIC = 0x00000803  # IDX: unsigned byte data, 3 dimensions
_IDX_UBYTE_1D_MAGIC = 0x00000801  # IDX: unsigned byte data, 1 dimension (labels)
_GZIP_MAGIC = b"\x1f\x8b"


def default_mnist_path() -> Path:
    """Where MNIST is looked for without a path: ``KERASDENOISE_MNIST``, else the shared data."""
    env = os.environ.get("KERASDENOISE_MNIST")
    if env:
        return Path(env).expanduser()
    return shared_data_candidate()[0] / "kernels" / MNIST_FILE_NAME


def _idx_bytes(path: Path) -> bytes:
    """The bytes of an IDX file, gunzipped when it is gzipped."""
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path}: corrupt gzip data ({err})") from err
    return raw


def _read_idx_images(path: Path) -> np.ndarray:
    """Read an IDX3 unsigned-byte file (``*-idx3-ubyte``, gzipped or not) -> uint8 [N, H, W]."""
    raw = _idx_bytes(path)
    if len(raw) < 16:
        raise ValueError(f"{path}: too short for an IDX images file ({len(raw)} bytes)")
    magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != _IDX_UBYTE_3D_MAGIC:
        raise ValueError(
            f"{path}: not an IDX3 unsigned-byte images file (magic {magic:#010x}, "
            f"expected {_IDX_UBYTE_3D_MAGIC:#010x})")
    expected = int(count) * int(rows) * int(cols)
    if len(raw) - 16 != expected:
        raise ValueError(
            f"{path}: header says {count}x{rows}x{cols} = {expected} bytes of pixels, "
            f"file holds {len(raw) - 16}")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(int(count), int(rows), int(cols))


def _read_idx_labels(path: Path) -> np.ndarray:
    """Read an IDX1 unsigned-byte file (``*-idx1-ubyte``, gzipped or not) -> uint8 [N]."""
    raw = _idx_bytes(path)
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for an IDX labels file ({len(raw)} bytes)")
    magic, count = np.frombuffer(raw[:8], dtype=">u4")
    if magic != _IDX_UBYTE_1D_MAGIC:
        raise ValueError(
            f"{path}: not an IDX1 unsigned-byte labels file (magic {magic:#010x}, "
            f"expected {_IDX_UBYTE_1D_MAGIC:#010x})")
    if len(raw) - 8 != int(count):
        raise ValueError(f"{path}: header says {count} labels, file holds {len(raw) - 8}")
    return np.frombuffer(raw, dtype=np.uint8, offset=8)


def _read_npz_images(path: Path) -> Tuple[np.ndarray, str]:
    """Read a Keras ``mnist.npz``: ``x_test`` if present, else ``x_train``."""
    try:
        archive = np.load(path)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable .npz file ({err})") from err
    with archive:
        for key in ("x_test", "x_train"):
            if key in archive.files:
                digits = np.asarray(archive[key])
                break
        else:
            raise ValueError(
                f"{path}: no 'x_test' or 'x_train' array (has {sorted(archive.files)})")
    if digits.ndim != 3:
        raise ValueError(f"{path}: '{key}' has shape {digits.shape}, expected [N, H, W]")
    if digits.dtype != np.uint8:
        digits = np.clip(np.round(digits), 0, 255).astype(np.uint8)
    return digits, key


def _fit_glyph(glyph: np.ndarray, box: int = 20, canvas: int = 28) -> np.ndarray:
    """Crop a drawn glyph to its ink, fit it in ``box x box`` and center it on ``canvas``,
    the way MNIST digits are laid out (20x20 box in a 28x28 image)."""
    rows = np.flatnonzero(glyph.max(axis=1))
    cols = np.flatnonzero(glyph.max(axis=0))
    crop = glyph[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
    scale = box / max(crop.shape)
    new_h = max(1, int(round(crop.shape[0] * scale)))
    new_w = max(1, int(round(crop.shape[1] * scale)))
    resized = cv2.resize(crop, (new_w, new_h), interpolation=cv2.INTER_AREA)
    out = np.zeros((canvas, canvas), np.float32)
    top, left = (canvas - new_h) // 2, (canvas - new_w) // 2
    out[top:top + new_h, left:left + new_w] = resized
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def hershey_digits() -> np.ndarray:
    """Digits 0-9 drawn with OpenCV's Hershey fonts, laid out like MNIST: uint8 ``[N, 28, 28]``,
    white ink on black, a few hundred distinct stand-ins.

    Each digit is drawn with the 8 Hershey faces, thin and bold strokes, and slanted left,
    upright and slanted right (a shear, as handwriting slants); identical drawings are dropped
    (recent OpenCV renders several face/weight pairs alike).
    """
    faces = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX,
             cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL,
             cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)
    side = 160
    unique = {}
    for face in faces:
        for thickness in (1, 2, 6):
            for slant in (-0.3, 0.0, 0.3):
                shear = np.float32([[1.0, slant, -slant * side / 2], [0.0, 1.0, 0.0]])
                for digit in "0123456789":
                    scale = 80.0 / cv2.getTextSize(digit, face, 1.0, 1)[0][1]
                    canvas = np.zeros((side, side), np.uint8)
                    cv2.putText(canvas, digit, (40, 120), face, scale, 255, thickness, cv2.LINE_AA)
                    if slant:
                        canvas = cv2.warpAffine(canvas, shear, (side, side), flags=cv2.INTER_LINEAR)
                    glyph = _fit_glyph(canvas)
                    unique.setdefault(glyph.tobytes(), glyph)
    result = np.stack(list(unique.values()))
    result.setflags(write=False)
    return result


@functools.lru_cache(maxsize=8)
def _load_digits_cached(resolved: str, explicit: bool) -> Tuple[np.ndarray, str]:
    path = Path(resolved)
    if not path.is_file():
        digits = hershey_digits()
        how = "given path" if explicit else "default path"
        return digits, (f"{HERSHEY_PREFIX} (no MNIST file found; looked for {path} ({how}); "
                        f"using {len(digits)} digits drawn with OpenCV Hershey fonts)")
    if path.suffix == ".npz":
        digits, key = _read_npz_images(path)
        source = f"mnist npz {path} [{key}] ({len(digits)} digits)"
    else:
        digits = _read_idx_images(path)
        source = f"mnist idx {path} ({len(digits)} digits)"
    if len(digits) == 0:
        raise ValueError(f"{path}: holds no digits")
    digits = np.ascontiguousarray(digits)
    digits.setflags(write=False)
    return digits, source


def load_mnist_digits(path: Optional[PathLike] = None) -> Tuple[np.ndarray, str]:
    """MNIST digits as uint8 ``[N, 28, 28]`` and a string saying where they came from.

    ``path`` may be an IDX images file (``*-idx3-ubyte``, optionally ``.gz``) or a Keras
    ``mnist.npz`` (``x_test`` preferred over ``x_train``).  Without ``path``: env
    ``KERASDENOISE_MNIST``, else ``<shared data>/kernels/t10k-images-idx3-ubyte.gz``.
    If the file does not exist, Hershey-font digits are returned instead and the source string
    starts with ``"hershey-standin (no MNIST file found; ..."``.  A file that exists but cannot
    be read raises ``ValueError`` naming it.  The returned array is read-only (it is cached).
    """
    explicit = path is not None
    resolved = Path(path).expanduser() if explicit else default_mnist_path()
    return _load_digits_cached(str(resolved), explicit)


def default_mnist_labels_path() -> Path:
    """Where the MNIST labels are looked for without a path: beside the default digits file
    (``<shared data>/kernels/t10k-labels-idx1-ubyte.gz``, or next to ``KERASDENOISE_MNIST``)."""
    return default_mnist_path().with_name(MNIST_LABELS_FILE_NAME)


def load_mnist_labels(path: Optional[PathLike] = None) -> np.ndarray:
    """The MNIST labels (0-9) of the IDX labels file ``path`` (``*-idx1-ubyte``, optionally
    ``.gz``; default :func:`default_mnist_labels_path`) as uint8 ``[N]``, in the order of the
    digits of the matching images file.  No stand-in: a missing file raises FileNotFoundError,
    an unreadable one ValueError."""
    resolved = Path(path).expanduser() if path is not None else default_mnist_labels_path()
    if not resolved.is_file():
        raise FileNotFoundError(f"MNIST labels file not found: {resolved}")
    return _read_idx_labels(resolved)


@functools.lru_cache(maxsize=16)
def _kernels_cached(size: int, resolved: str, explicit: bool) -> Tuple[np.ndarray, str]:
    digits, source = _load_digits_cached(resolved, explicit)
    kernels = []
    for digit in digits:
        kernel = cv2.resize(digit.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
        total = float(kernel.sum())
        if total > 0:
            kernels.append(kernel / total)
    if not kernels:
        raise ValueError(f"no usable blur kernel: every digit from {source} is blank")
    stack = np.stack(kernels).astype(np.float32)
    stack.setflags(write=False)
    return stack, f"{source}; {len(stack)} kernels {size}x{size}"


def blur_kernels(size: int = DEFAULT_KERNEL_SIZE,
                 path: Optional[PathLike] = None) -> Tuple[np.ndarray, str]:
    """Blur kernels made from MNIST digits: float32 ``[N, size, size]``, each summing to 1.

    Each digit from :func:`load_mnist_digits` (``path`` as there) is resized to
    ``size x size`` with ``cv2.INTER_AREA`` and divided by its sum; blank digits are skipped.
    The default size 7 follows the ResUNet authors' code, which resized the digits to 7x7
    (the paper itself gives no size).  Returns the read-only, cached stack and a source string
    (it starts with ``hershey-standin`` when no MNIST file was found).
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"blur kernel size must be a positive integer, got {size!r}")
    explicit = path is not None
    resolved = Path(path).expanduser() if explicit else default_mnist_path()
    return _kernels_cached(int(size), str(resolved), explicit)
