"""tf.data training streams: cached images -> random patches -> degrade on the fly -> batches.

Every patch of a stream is a pure function of ``(seed, n)`` where ``n`` = 0, 1, 2, ... counts
patches: which image it comes from, where it is cropped and the noise added to it are all drawn
with stateless random ops keyed by :func:`element_seed`.  So a stream is repeatable, does not
depend on the batch size, and a resumed run can jump straight to patch ``n`` without decoding
or drawing anything for the patches it skips.

Images are decoded once by the caller (see :mod:`kerasdenoise.data.discovery`) and kept in
memory packed into one flat pixel tensor (uint8 / uint16 when the pixels are exactly 8- / 16-bit
values, as images read from files are, else float32) with per-image offsets and sizes, so any
mix of image sizes works without padding.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

Degradation = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]

# Salt for deriving the crop / augmentation draws of an element from its seed, so they are
# independent of the noise the degradation draws from the element seed itself.
_CROP_SALT = 1

# How patch_dataset applies the degradation element by element (see patch_dataset);
# chosen by benchmarks/pipeline.py, which times the three.
DEGRADE_MODE = "map_fn"


def element_seed(seed: int, index) -> tf.Tensor:
    """The int32 ``[2]`` stateless seed of element ``index`` of the stream keyed by ``seed``.

    ``[seed, index]`` is hashed through a Philox draw, so neighbouring indices (and seeds) give
    unrelated seeds.  Works eagerly and inside ``tf.function`` / ``tf.data``; ``index`` may be a
    Python int or an integer tensor (negative indices are fine and used internally).
    """
    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    return tf.random.stateless_uniform(
        [2], seed=key, minval=None, maxval=None, dtype=tf.int32
    )


def _resolve_degradation(degradation) -> Degradation:
    """A spec string -> ``kerasdenoise.degrade.from_spec(spec)``; a callable as is; ``None`` ->
    identity (clean inputs)."""
    if degradation is None:
        return lambda images, seed: images
    if isinstance(degradation, str):
        from kerasdenoise.degrade import from_spec  # imported late: keeps data import light

        return from_spec(degradation)
    if callable(degradation):
        return degradation
    raise ValueError(
        "degradation must be a spec string (e.g. 'gaussian:sigma=25'), a callable "
        f"(images, seed) -> images, or None; got {degradation!r}"
    )


def degrade_for_eval(image, degradation, seed: int, index: int) -> np.ndarray:
    """Degrade one ``[H, W, C]`` test image deterministically in ``(seed, index)``.

    Uses the same per-element seed as patch ``index`` of a training stream with ``seed``
    (``element_seed(seed, index)``), so evaluations are repeatable image by image whatever the
    order or subset evaluated.  Returns float32 ``[H, W, C]`` (not clipped).
    """
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 3:
        raise ValueError(f"degrade_for_eval expects an [H, W, C] image, got shape {array.shape}")
    degrade = _resolve_degradation(degradation)
    degraded = degrade(tf.convert_to_tensor(array[None]), element_seed(seed, index))
    return np.asarray(degraded)[0].astype(np.float32, copy=False)


def _pack_images(images: Sequence[np.ndarray], names: Sequence[str], patch_size: int):
    """Check the images and pack them: (flat pixels [total, C], scale, offsets, heights, widths).

    ``scale`` is 255 / 65535 when every pixel is exactly an 8- / 16-bit value (k / scale in
    float32), so they can be kept 4x / 2x smaller and restored bit-exactly; else 1 (float32).
    """
    if len(images) == 0:
        raise ValueError("patch_dataset needs at least one image, got an empty list")
    if len(names) != len(images):
        raise ValueError(f"got {len(names)} names for {len(images)} images")
    arrays = []
    for array, name in zip(images, names):
        array = np.asarray(array)
        if array.ndim != 3:
            raise ValueError(f"image {name} must be [H, W, C], got shape {array.shape}")
        height, width = array.shape[:2]
        if height < patch_size or width < patch_size:
            raise ValueError(
                f"image {name} is {height}x{width} (HxW), smaller than the "
                f"{patch_size}x{patch_size} patch"
            )
        arrays.append(array.astype(np.float32, copy=False))
    channels = {array.shape[2] for array in arrays}
    if len(channels) != 1:
        counts = ", ".join(f"{name}: {array.shape[2]}" for name, array in zip(names, arrays))
        raise ValueError(f"all images must have the same number of channels; got {counts}")

    scale, pixels = 1, arrays
    for dtype in (np.uint8, np.uint16):
        quantized = _quantize_exactly(arrays, dtype)
        if quantized is not None:
            scale, pixels = np.iinfo(dtype).max, quantized
            break
    heights = np.array([a.shape[0] for a in pixels], dtype=np.int64)
    widths = np.array([a.shape[1] for a in pixels], dtype=np.int64)
    sizes = heights * widths
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    flat = np.concatenate([a.reshape(-1, a.shape[2]) for a in pixels], axis=0)
    return flat, scale, offsets, heights, widths


def _quantize_exactly(arrays, dtype):
    """``arrays`` as ``dtype`` integers if every pixel is exactly ``k / max`` in float32 (so
    ``q.astype(float32) / max`` gives the same bits back), else ``None``."""
    max_value = np.float32(np.iinfo(dtype).max)
    quantized = []
    for array in arrays:
        if array.size and (array.min() < 0 or array.max() > 1):
            return None
        candidate = np.rint(array * max_value).astype(dtype)
        if not np.array_equal(candidate.astype(np.float32) / max_value, array):
            return None
        quantized.append(candidate)
    return quantized


def _dihedral(patch: tf.Tensor, mode: tf.Tensor) -> tf.Tensor:
    """One of the 8 flips / rotations (DnCNN's data augmentation), ``mode`` in [0, 8)."""
    patch = tf.image.rot90(patch, k=tf.cast(mode % 4, tf.int32))
    return tf.cond(mode >= 4, lambda: tf.reverse(patch, axis=[1]), lambda: patch)


def _degrade_each(degrade: Degradation, mode: str):
    """Batch-level function applying ``degrade`` to each element with its own seed.

    ``mode``: ``"map_fn"`` (a graph loop over [1, ...] slices) or ``"vectorized"``
    (``tf.vectorized_map``; falls back to a loop for the stateless random ops, which it cannot
    vectorize).  ``map_fn`` is the one used: it was the fastest in benchmarks/pipeline.py, and
    ``vectorized`` once failed on the ``|`` mixture spec ("Incompatible shapes during merge"
    in pfor's DynamicPartition).
    """

    def one(args):
        patch, seed = args
        return degrade(patch[None], seed)[0]

    def apply(clean: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
        if mode == "map_fn":
            degraded = tf.map_fn(
                one, (clean, seeds), fn_output_signature=tf.TensorSpec(clean.shape[1:], clean.dtype)
            )
        elif mode == "vectorized":
            degraded = tf.vectorized_map(one, (clean, seeds), fallback_to_while_loop=True)
        else:
            raise ValueError(f"unknown degrade mode {mode!r}")
        return tf.ensure_shape(tf.cast(degraded, tf.float32), clean.shape)

    return apply


def patch_dataset(
    images: Sequence[np.ndarray],
    *,
    patch_size: int,
    degradation,
    batch_size: int,
    seed: int,
    patches_per_image: int = 1,
    target_size: int | None = None,
    start_step: int = 0,
    shuffle: bool = True,
    augment: bool = False,
    names: Sequence[str] | None = None,
    degrade_mode: str = DEGRADE_MODE,
) -> tf.data.Dataset:
    """An endless stream of ``(degraded [B, p, p, C], clean [B, t, t, C])`` float32 batches.

    - ``images``: decoded float32 ``[H, W, C]`` arrays in [0, 1], any sizes >= ``patch_size``,
      all with the same C (``names``, e.g. ``ImageSet.names()``, make errors readable).
    - ``degradation``: a spec string for ``kerasdenoise.degrade.from_spec``, a callable
      ``(images, seed int32 [2]) -> images``, or ``None`` for clean inputs.  Each patch is
      degraded with its own seed ``element_seed(seed, n)`` (applied per batch, element by
      element), so the result does not depend on ``batch_size``.
    - Patch ``n`` comes from image ``k // patches_per_image`` where ``k`` is ``n``'s place in an
      epoch of ``len(images) * patches_per_image`` patches (a stateless shuffle of the epoch when
      ``shuffle``, in order otherwise): every image gives ``patches_per_image`` patches per
      epoch.  The crop position (and with ``augment``, one of the 8 flips / rotations of DnCNN's
      augmentation) is drawn from the patch's seed.
    - ``target_size`` t < p (valid-padding networks, e.g. 33 in -> 17 out): the clean target is
      the center crop (offset ``(p - t) // 2``) of the clean patch; the input is the full
      degraded patch.
    - ``start_step``: start at patch ``start_step * batch_size`` at no cost, so batch ``k`` of
      a fresh stream equals batch 0 of a stream started at ``start_step=k``.
    - ``degrade_mode``: how the degradation is applied element by element: ``"map_fn"``
      (default), ``"vectorized"`` or ``"per_element"`` (before batching); same values,
      different speed (``benchmarks/pipeline.py`` times the three).
    """
    for label, value in (
        ("patch_size", patch_size),
        ("batch_size", batch_size),
        ("patches_per_image", patches_per_image),
    ):
        if int(value) != value or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    if int(start_step) != start_step or start_step < 0:
        raise ValueError(f"start_step must be a non-negative integer, got {start_step!r}")
    target = patch_size if target_size is None else int(target_size)
    if not 1 <= target <= patch_size:
        raise ValueError(
            f"target_size must be between 1 and patch_size={patch_size}, got {target_size!r}"
        )
    if names is None:
        names = [f"#{i}" for i in range(len(images))]
    degrade = _resolve_degradation(degradation)

    flat, scale, offsets_np, heights_np, widths_np = _pack_images(images, list(names), patch_size)
    channels = flat.shape[1]
    flat_pixels = tf.constant(flat)
    offsets = tf.constant(offsets_np)
    heights = tf.constant(heights_np)
    widths = tf.constant(widths_np)
    num_images = len(offsets_np)
    epoch_length = num_images * patches_per_image
    seed = int(seed)
    span = tf.range(patch_size, dtype=tf.int64)
    margin = (patch_size - target) // 2

    def make_patch(n):
        """Clean patch n and its seed: image from a per-epoch shuffle, crop drawn from the seed."""
        this_seed = element_seed(seed, n)
        epoch, position = n // epoch_length, n % epoch_length
        if shuffle:
            position = tf.random.experimental.index_shuffle(
                position, element_seed(seed, -1 - epoch), tf.constant(epoch_length - 1, tf.int64)
            )
        image = position // patches_per_image
        draws = tf.random.stateless_uniform(
            [3],
            seed=tf.random.experimental.stateless_fold_in(this_seed, _CROP_SALT),
            minval=None,
            maxval=None,
            dtype=tf.int64,
        )
        height, width = heights[image], widths[image]
        top = tf.math.floormod(draws[0], height - patch_size + 1)
        left = tf.math.floormod(draws[1], width - patch_size + 1)
        index = offsets[image] + (top + span)[:, None] * width + (left + span)[None, :]
        patch = tf.gather(flat_pixels, index)
        patch = tf.cast(patch, tf.float32)
        if scale != 1:
            patch = patch / tf.constant(scale, tf.float32)
        if augment:
            patch = _dihedral(patch, tf.math.floormod(draws[2], 8))
        patch = tf.ensure_shape(patch, [patch_size, patch_size, channels])
        return patch, this_seed

    def crop_target(degraded, clean):
        if target != patch_size:
            clean = clean[..., margin : margin + target, margin : margin + target, :]
        return degraded, clean

    dataset = tf.data.Dataset.counter(start=int(start_step) * int(batch_size), dtype=tf.int64)
    dataset = dataset.map(make_patch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if degrade_mode == "per_element":

        def degrade_one(clean, this_seed):
            degraded = tf.cast(degrade(clean[None], this_seed)[0], tf.float32)
            degraded = tf.ensure_shape(degraded, clean.shape)
            return crop_target(degraded, clean)

        dataset = dataset.map(degrade_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        dataset = dataset.batch(int(batch_size), drop_remainder=True)
    else:
        degrade_batch = _degrade_each(degrade, degrade_mode)
        dataset = dataset.batch(int(batch_size), drop_remainder=True)
        dataset = dataset.map(
            lambda clean, seeds: crop_target(degrade_batch(clean, seeds), clean),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)

