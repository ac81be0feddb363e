"""Tiles, reflection padding and the size-multiple probe: how any network runs on an image of
any size in bounded memory.

:func:`tiled_apply` runs a function tile by tile (overlapping tiles, center-cropped, optionally
on the image padded by reflection, cut per tile); :func:`reflect_pad` is that padding on a whole
image; :func:`size_multiple` finds the size multiple a network needs (down-sampling nets).
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def _tile_layout(length: int, tile: int, overlap: int):
    """Tile starts along one axis and, for each tile, the [keep_from, keep_to) range it fills.

    Tiles are ``tile`` long (or the whole axis if shorter), consecutive ones overlap by at least
    ``2 * overlap``, the last one ends at the border.  Each output pixel comes from the tile
    whose kept part is the middle of the overlaps, so every kept pixel is at least ``overlap``
    away from a tile border that is not an image border.
    """
    if length <= tile:
        return [(0, length, 0, length)]
    step = tile - 2 * overlap
    starts = list(range(0, length - tile, step)) + [length - tile]
    layout = []
    for i, start in enumerate(starts):
        keep_from = 0 if i == 0 else (starts[i - 1] + tile + start) // 2
        keep_to = length if i == len(starts) - 1 else (start + tile + starts[i + 1]) // 2
        layout.append((start, start + tile, keep_from, keep_to))
    return layout


def _reflect_indices(length: int, border: int) -> np.ndarray:
    """Indices into an axis of ``length`` that pad it by ``border`` on each side the way
    :func:`reflect_pad` does."""
    index = np.arange(length)
    if border == 0:
        return index
    return np.pad(index, border, mode="edge" if length == 1 else "reflect")


def tiled_apply(
    fn: Callable[[np.ndarray], np.ndarray], image, tile: int = 512, overlap: int = 32,
    border: int = 0,
) -> np.ndarray:
    """Apply ``fn`` (``[h, w, C] -> [h, w, C']``) to ``image`` ``[H, W, C]`` tile by tile.

    Tiles are at most ``tile`` x ``tile`` pixels and all of the same size (the last tile of a row
    or column is shifted back to end at the border, so a fixed-shape runtime such as TFLite sees
    one shape).  Neighbouring tiles overlap by at least ``2 * overlap`` pixels and each keeps only
    the center part of the overlap, so for a network whose receptive field reaches at most
    ``overlap`` pixels (DnCNN-17: 17, DnCNN-20: 20) the result equals running on the whole image,
    and for deeper nets the seams are far from the tile borders.  An image that fits in one tile
    is passed to ``fn`` whole.

    ``border``: tiles are cut from the image padded by reflection by this many pixels on each
    side (:func:`reflect_pad`) and the result is cropped back to ``[H, W]``; each tile is cut
    from the image directly, so the padded image is never held in memory.  The result has the
    dtype ``fn`` returns.
    """
    tile, overlap, border = int(tile), int(overlap), int(border)
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if tile <= 2 * overlap:
        raise ValueError(f"tile ({tile}) must be larger than twice the overlap ({overlap})")
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"tiled_apply expects an [H, W, C] image, got shape {image.shape}")
    height, width = image.shape[:2]
    row_index, col_index = _reflect_indices(height, border), _reflect_indices(width, border)
    padded_h, padded_w = len(row_index), len(col_index)
    rows, cols = _tile_layout(padded_h, tile, overlap), _tile_layout(padded_w, tile, overlap)
    output = None
    for top, bottom, keep_top, keep_bottom in rows:
        keep_top, keep_bottom = max(keep_top, border), min(keep_bottom, border + height)
        if keep_top >= keep_bottom:
            continue  # a tile whose kept part lies in the padding only
        for left, right, keep_left, keep_right in cols:
            keep_left, keep_right = max(keep_left, border), min(keep_right, border + width)
            if keep_left >= keep_right:
                continue
            region = image[row_index[top:bottom]][:, col_index[left:right]]
            result = np.asarray(fn(region))
            if result.shape[:2] != (bottom - top, right - left):
                raise ValueError(
                    f"tiled_apply: fn changed the tile size from {(bottom - top, right - left)} "
                    f"to {result.shape[:2]}"
                )
            if output is None:
                output = np.empty((height, width, result.shape[2]), result.dtype)
            output[keep_top - border : keep_bottom - border,
                   keep_left - border : keep_right - border] = result[
                keep_top - top : keep_bottom - top, keep_left - left : keep_right - left
            ]
    return output


def reflect_pad(image: np.ndarray, border: int) -> np.ndarray:
    """``image`` ``[H, W, C]`` padded by ``border`` pixels on each side by reflection (about
    the edge pixel, as ``np.pad(mode="reflect")``, repeated for images smaller than the
    border; a 1-pixel side is repeated)."""
    if border == 0:
        return image
    pads = [(border, border), (border, border), (0, 0)]
    for axis in (0, 1):
        if image.shape[axis] == 1:
            image = np.pad(image, [pads[a] if a == axis else (0, 0) for a in range(3)], mode="edge")
            pads[axis] = (0, 0)
    return np.pad(image, pads, mode="reflect")


def size_multiple(run: Callable[[np.ndarray], np.ndarray], channels: int, base: int = 17) -> int:
    """Smallest power of two m such that ``run`` (numpy ``[1, h, w, C] -> [1, h, w, C]``) maps a
    (base*m x base*m) input to the same size.

    Down-sampling networks (UNets, strided conv-deconv) only take sizes divisible by 2^levels;
    an odd ``base`` times m is divisible by exactly the powers of two dividing m, so the first m
    that works is the multiple needed (17: large enough for nets that reflect-pad inside).
    """
    for multiple in (1, 2, 4, 8, 16, 32, 64, 128):
        size = base * multiple
        try:
            out = np.asarray(run(np.zeros((1, size, size, channels), np.float32)))
        except Exception:  # noqa: BLE001 - any failure means "not this size"
            continue
        if out.shape == (1, size, size, channels):
            return multiple
    raise ValueError(
        f"the model does not map any tested input size ({base} x 2^k, k <= 7) to an output of the "
        "same size; is it an image-to-image denoiser?"
    )
