"""Model SPEC -> a denoiser you call on one image; tiled inference for large images.

A SPEC is one of (see :data:`SPEC_FORMS`)::

    runs/x/model.keras            a Keras model file (.keras, or legacy .h5)
    exported/x_savedmodel/        a TensorFlow SavedModel folder (holds saved_model.pb)
    exported/x.tflite             a TFLite flat buffer, run with ai-edge-litert
    dncnn-official:PATH.mat       the official DnCNN MatConvNet weights (see models.dncnn)
    bm3d                          BM3D / CBM3D (the ``bm3d`` package); needs the noise level
    identity                      returns its input (a baseline: the PSNR of the noisy image)
    shipped                       the shipped blind models (exported_models/): the gray one for
                                  gray images, the color one for color images
    shipped:NAME                  one shipped model folder, e.g. shipped:ds_dnresnet13_blind

Every :class:`Denoiser` maps an ``[H, W, C]`` image to the restored ``[H, W, C]`` image
clipped to [0, 1]: float images on the [0, 1] scale give float32, uint8 / uint16 images are
read by dtype and returned in it (see :mod:`kerasdenoise.scale`: NaN / inf, empty images and
floats clearly on another scale, e.g. 0-255, are refused with the same error whatever the
backend; degraded images may leave [0, 1], as unclipped noise does).  Networks run through
:func:`tiled_apply` (512x512 tiles overlapping by 32 pixels, center-cropped) so memory stays
bounded on large photographs; images that fit in one tile are processed whole.  A one-channel
network given an RGB image denoises Y, Cb and Cr separately (MATLAB BT.601 YCbCr) and converts
back, except a gray image stored as RGB (all three channels equal, e.g. a gray palette PNG):
its one plane is denoised and replicated, so it stays gray.  A three-channel network given a
gray image is an error (:class:`ChannelMismatchError`).
"""
from __future__ import annotations

import os
from typing import Callable, Optional

import numpy as np

SPEC_FORMS = (
    "PATH.keras (Keras model file; .h5 also read)",
    "PATH/ (SavedModel folder with saved_model.pb)",
    "PATH.tflite (TFLite model)",
    "dncnn-official:PATH.mat (official DnCNN MatConvNet weights)",
    "bm3d (BM3D / CBM3D; the noise level comes from the noise spec)",
    "identity (returns the input)",
    "shipped (the shipped gray / color models, chosen by the image) or shipped:NAME",
)
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "exported_models")
SHIPPED_GRAY, SHIPPED_COLOR = "ds_dnresnet13_blind", "color_blind"
SHIPPED_FILE = "model_float32.tflite"
RECEPTIVE_PROBE_LIMIT = 64  # pixels: how far NetworkDenoiser.receptive_radius looks
_MODEL_FILE_EXTENSIONS = (".keras", ".h5", ".tflite", ".mat")


def _forms() -> str:
    return "; ".join(SPEC_FORMS)


# --------------------------------------------------------------------------------------------
# Tiling


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


# --------------------------------------------------------------------------------------------
# Denoisers


class ChannelMismatchError(ValueError):
    """A denoiser was given an image with channels it cannot take (a color model, a gray
    image).  ``name``, ``model_channels`` and ``image_channels`` let a tool word the fix."""

    def __init__(self, name: str, model_channels: int, image_channels: int):
        self.name, self.model_channels, self.image_channels = name, model_channels, image_channels
        hint = (" (np.repeat(gray, 3, axis=-1) makes one of a gray image)"
                if (model_channels, image_channels) == (3, 1) else "")
        super().__init__(
            f"{name} takes {_channel_words(model_channels)} images but got a "
            f"{_channel_words(image_channels)} image; give it a "
            f"{_channel_words(model_channels)} image{hint} or use a "
            f"{_channel_words(image_channels)} model"
        )


def _channel_words(channels: int) -> str:
    return {1: "1-channel (gray)", 3: "3-channel (RGB)"}.get(channels, f"{channels}-channel")


def equal_channels(image: np.ndarray) -> bool:
    """Whether an ``[H, W, 3]`` image is gray stored as color (all three channels equal)."""
    return bool(
        image.ndim == 3 and image.shape[2] == 3
        and np.array_equal(image[..., 0], image[..., 1])
        and np.array_equal(image[..., 0], image[..., 2])
    )


class Denoiser:
    """Callable ``image [H, W, C] -> restored [H, W, C]`` clipped to [0, 1].

    Float images (on the [0, 1] scale, noise may take them outside it) give float32; uint8 /
    uint16 images are read by dtype and the result is returned in the same dtype (see the
    module docstring for what is refused).

    ``name``: for reports.  ``channels``: what the underlying model takes (1, 3, or None for
    any).  ``notes``: things a report should mention (e.g. per-channel YCbCr processing).
    ``set_noise(spec)`` tells denoisers that need the noise level (BM3D) what was added;
    networks ignore it (``uses_noise`` says which kind this is).
    """

    #: whether :meth:`set_noise` changes anything (BM3D) or is ignored (networks)
    uses_noise = False
    #: denoise an RGB image with three equal channels as one gray plane (so it stays gray)
    gray_plane_for_gray_rgb = False

    def __init__(self, name: str, channels: Optional[int]):
        self.name = name
        self.channels = channels
        self.notes: list[str] = []

    def set_noise(self, spec: Optional[str]) -> None:
        """Networks are blind or trained for one level: nothing to do."""

    def _denoise(self, image: np.ndarray) -> np.ndarray:
        """Restore an ``[H, W, C]`` image whose C this denoiser takes."""
        raise NotImplementedError

    def _denoise_gray_plane(self, plane: np.ndarray) -> np.ndarray:
        """Restore the ``[H, W, 1]`` plane of a gray image stored as RGB."""
        return self._denoise(plane)

    def _checked(self, image):
        """``(float32 [H, W, C] on the [0, 1] scale, integer dtype or None, was 2-D)``."""
        shape = np.shape(image)
        if not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3))):
            raise ValueError(
                f"{self.name}: expected an image [H, W], [H, W, 1] or [H, W, 3], got shape "
                f"{shape}"
            )
        if 0 in shape[:2]:
            raise ValueError(f"{self.name}: the image is empty (shape {shape})")
        from kerasdenoise.scale import to_unit_float

        array, integer = to_unit_float(image, f"{self.name}: input image")
        squeeze = array.ndim == 2
        return (array[..., None] if squeeze else array), integer, squeeze

    def _plan(self, array: np.ndarray, denoise: Callable, denoise_gray_plane: Callable):
        """How this image's channels are restored, decided once for the whole image: a function
        from a float ``[h, w, C]`` region of it to the restored region (``denoise`` runs this
        denoiser's model on a region it takes)."""
        image_channels = array.shape[2]
        takes_plane = self.channels == 1 or self.gray_plane_for_gray_rgb
        if image_channels == 3 and takes_plane and equal_channels(array):
            def gray_plane(region):
                plane = np.asarray(denoise_gray_plane(region[..., :1]), np.float32)
                return np.repeat(plane, 3, axis=-1)

            return gray_plane
        if self.channels is None or self.channels == image_channels:
            return denoise
        if self.channels == 1 and image_channels == 3:
            from kerasdenoise.data.color import rgb_to_ycbcr, ycbcr_to_rgb

            def by_ycbcr_plane(region):
                ycbcr = rgb_to_ycbcr(region)
                for i in range(3):
                    ycbcr[..., i : i + 1] = denoise(ycbcr[..., i : i + 1])
                return ycbcr_to_rgb(ycbcr)

            return by_ycbcr_plane
        raise ChannelMismatchError(self.name, self.channels, image_channels)

    def _apply(self, restore: Callable, array: np.ndarray) -> np.ndarray:
        """``restore`` on the whole image (networks override this to tile)."""
        return restore(array)

    def __call__(self, image) -> np.ndarray:
        from kerasdenoise.scale import from_unit_float

        array, integer, squeeze = self._checked(image)
        restore_region = self._plan_for(array)

        def restore(region):
            restored = np.clip(np.asarray(restore_region(region), np.float32), 0.0, 1.0)
            return from_unit_float(restored, integer)

        restored = self._apply(restore, array)
        return restored[..., 0] if squeeze else restored

    def _plan_for(self, array):
        return self._plan(array, self._denoise, self._denoise_gray_plane)

    def tiling_warnings(self, image_shape) -> list[str]:
        """Warnings for running an image of ``image_shape`` (e.g. a tile overlap smaller than
        the network's reach); none for denoisers that do not tile."""
        return []

    def describe_color(self, image_channels: int) -> list[str]:
        """Notes on how images with ``image_channels`` channels are handled."""
        if self.channels == 1 and image_channels == 3:
            return [
                f"{self.name} is a 1-channel model: each of Y, Cb, Cr (MATLAB BT.601) was "
                f"denoised separately and converted back to RGB"
            ]
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, channels={self.channels})"


class ByChannelsDenoiser(Denoiser):
    """One denoiser for gray images and another for color ones (``color`` may be None: color
    images then go to the gray one, which denoises Y, Cb and Cr)."""

    gray_plane_for_gray_rgb = True  # a gray image stored as RGB goes to the gray model

    def __init__(self, name: str, gray: Denoiser, color: Optional[Denoiser]):
        super().__init__(name, None)
        self.gray, self.color = gray, color
        self.uses_noise = any(d is not None and d.uses_noise for d in (gray, color))

    def _pick(self, channels: int) -> Denoiser:
        return self.color if channels == 3 and self.color is not None else self.gray

    def set_noise(self, spec: Optional[str]) -> None:
        for denoiser in (self.gray, self.color):
            if denoiser is not None:
                denoiser.set_noise(spec)

    def __call__(self, image) -> np.ndarray:
        # hand the image over as it is: the chosen denoiser checks it and converts it once
        shape = np.shape(image)
        channels = shape[2] if len(shape) == 3 else 1
        if channels == 3 and equal_channels(np.asarray(image)):
            return np.repeat(self.gray(np.asarray(image)[..., :1]), 3, axis=-1)
        return self._pick(channels)(image)

    def tiling_warnings(self, image_shape) -> list[str]:
        channels = image_shape[2] if len(image_shape) == 3 else 1
        return self._pick(channels).tiling_warnings(image_shape)

    def describe_color(self, image_channels: int) -> list[str]:
        chosen = self._pick(image_channels)
        return [f"{self.name}: {chosen.name} for {image_channels}-channel images"] + \
            chosen.describe_color(image_channels)


def _load_shipped(name: Optional[str], tile: int, overlap: int) -> Denoiser:
    def load(folder):
        path = os.path.join(SHIPPED_DIR, folder, SHIPPED_FILE)
        if not os.path.isfile(path):
            available = sorted(d for d in os.listdir(SHIPPED_DIR)
                               if os.path.isfile(os.path.join(SHIPPED_DIR, d, SHIPPED_FILE))) \
                if os.path.isdir(SHIPPED_DIR) else []
            raise FileNotFoundError(
                f"shipped model {folder!r} not found: no {path}; shipped models here: "
                f"{', '.join(available) or 'none'} (make them with benchmarks/ship_models.py)")
        denoiser = _load_tflite(path, tile, overlap)
        denoiser.name = f"shipped:{folder}"
        return denoiser

    if name:
        return load(name)
    gray = load(SHIPPED_GRAY)
    color_path = os.path.join(SHIPPED_DIR, SHIPPED_COLOR, SHIPPED_FILE)
    color = load(SHIPPED_COLOR) if os.path.isfile(color_path) else None
    return ByChannelsDenoiser("shipped", gray, color)


class IdentityDenoiser(Denoiser):
    """Returns the (clipped) input: the 'do nothing' baseline."""

    def __init__(self):
        super().__init__("identity", None)

    def _denoise(self, image):
        return image


class NetworkDenoiser(Denoiser):
    """A network run on one ``[1, h, w, C]`` batch at a time through :func:`tiled_apply`.

    ``run``: numpy ``[1, h, w, C] -> [1, h, w, C]``.  ``multiple``: the network needs h and w
    divisible by it (down-sampling nets), tiles are padded by reflection up to it and cropped
    back.  ``fixed_hw``: the network only takes this size; tiles have that size and smaller
    images are padded.

    The image is padded by reflection by ``border`` pixels on each side (default: the tile
    overlap, which bounds the receptive field the tiling assumes) before it is run and cropped
    back after: a network's own 'same' padding is zeros, which darkens a frame along the
    border of the output; reflected content is what it saw in training.
    """

    def __init__(
        self,
        name: str,
        channels: int,
        run: Callable[[np.ndarray], np.ndarray],
        tile: int = 512,
        overlap: int = 32,
        multiple: int = 1,
        fixed_hw: Optional[tuple] = None,
        border: Optional[int] = None,
    ):
        super().__init__(name, channels)
        self._run = run
        self.multiple = int(multiple)
        self.fixed_hw = fixed_hw
        if fixed_hw is not None:
            tile = min(fixed_hw)
            overlap = min(overlap, (tile - 1) // 4)
        self.tile, self.overlap = int(tile), int(overlap)
        self.border = self.overlap if border is None else int(border)
        if self.border < 0:
            raise ValueError(f"border must be >= 0, got {border}")

    def _run_tile(self, tile: np.ndarray) -> np.ndarray:
        height, width = tile.shape[:2]
        if self.fixed_hw is not None:
            target_h, target_w = self.fixed_hw
        else:
            target_h = -(-height // self.multiple) * self.multiple
            target_w = -(-width // self.multiple) * self.multiple
        if (target_h, target_w) != (height, width):
            tile = np.pad(
                tile, ((0, target_h - height), (0, target_w - width), (0, 0)), mode="symmetric"
            )
        result = np.asarray(self._run(tile[None]), np.float32)[0]
        return result[:height, :width]

    def _denoise(self, image):
        return tiled_apply(self._run_tile, image, tile=self.tile, overlap=self.overlap,
                           border=self.border)

    def _plan_for(self, array):
        # regions are tiles already: the network runs on each without further tiling
        return self._plan(array, self._run_tile, self._run_tile)

    def _apply(self, restore, array):
        # tile outermost, so color conversions and the result's dtype are per tile: a large
        # RGB photograph holds only its float copy and its result, not one array per step
        return tiled_apply(restore, array, tile=self.tile, overlap=self.overlap,
                           border=self.border)

    def receptive_radius(self, limit: int = RECEPTIVE_PROBE_LIMIT) -> Optional[int]:
        """How far (pixels, Chebyshev) a change of one input pixel reaches in the output,
        measured once by probing (``limit`` + 1 means 'beyond ``limit``'); None for a network
        that only takes a fixed size.

        The probe changes the center pixel of a fixed random texture by 0.25 and reports the
        farthest output pixel that moved by more than 1e-6 of that change (above float32
        noise, so in effect the network's whole reach: the shipped gray model reaches 10 px;
        tiled with overlap 8 its seams stay below one 8-bit level, with overlap 6 they reach
        20 levels, with 12 or more the tiled result equals the untiled one).
        """
        if self.fixed_hw is not None:
            return None
        if getattr(self, "_radius", None) is None:
            channels = self.channels
            size = -(-(2 * limit + 3) // self.multiple) * self.multiple
            rng = np.random.default_rng(0)
            base = (0.5 + 0.1 * rng.standard_normal((1, size, size, channels))).astype(np.float32)
            center = size // 2
            poked = base.copy()
            poked[0, center, center, :] += 0.25
            change = np.abs(np.asarray(self._run(poked), np.float64)
                            - np.asarray(self._run(base), np.float64))[0].max(axis=-1)
            rows, cols = np.nonzero(change > 0.25e-6)
            if rows.size == 0:
                self._radius = 0
            else:
                reach = int(max(np.abs(rows - center).max(), np.abs(cols - center).max()))
                self._radius = reach if reach <= limit else limit + 1
        return self._radius

    def tiling_warnings(self, image_shape) -> list[str]:
        height, width = int(image_shape[0]), int(image_shape[1])
        if self.fixed_hw is not None or max(height, width) + 2 * self.border <= self.tile:
            return []  # one tile: no seams
        radius = self.receptive_radius()
        if radius is None or self.overlap >= radius:
            return []
        reach = (f"more than {RECEPTIVE_PROBE_LIMIT}" if radius > RECEPTIVE_PROBE_LIMIT
                 else f"about {radius}")
        return [
            f"the tile overlap ({self.overlap} px) is smaller than the reach of {self.name} "
            f"({reach} px): seams may show where tiles meet; use an overlap of at least "
            f"{min(radius, (self.tile - 1) // 2)} px (or a larger tile)"
        ]


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


def _probe_multiple(run: Callable[[np.ndarray], np.ndarray], channels: int) -> int:
    """Smallest power of two m such that the network maps a (5m x 5m) input to the same size.

    Down-sampling networks (UNets, strided conv-deconv) only take sizes divisible by 2^levels;
    a size 5m is divisible by exactly the powers of two dividing m, so the first m that works
    is the multiple needed.
    """
    for multiple in (1, 2, 4, 8, 16, 32, 64, 128):
        size = 5 * multiple
        try:
            out = np.asarray(run(np.zeros((1, size, size, channels), np.float32)))
        except Exception:  # noqa: BLE001 - any failure means "not this size"
            continue
        if out.shape == (1, size, size, channels):
            return multiple
    raise ValueError(
        "the model does not map any tested input size (5 x 2^k, k <= 7) to an output of the "
        "same size; is it an image-to-image denoiser?"
    )


class BM3DDenoiser(Denoiser):
    """BM3D (gray) / CBM3D (color) from the ``bm3d`` package; needs the Gaussian noise sigma.

    ``sigma`` is on the 0-255 scale; pass it, or call ``set_noise('gaussian:sigma=25')``.
    """

    uses_noise = True
    gray_plane_for_gray_rgb = True  # BM3D, not CBM3D, for a gray image stored as RGB

    def __init__(self, sigma: Optional[float] = None):
        super().__init__("bm3d", None)
        try:
            import bm3d  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "the 'bm3d' denoiser needs the bm3d package: pip install 'kerasdenoise[bm3d]' "
                "(or pip install bm3d)"
            ) from err
        self.sigma = sigma

    def set_noise(self, spec: Optional[str]) -> None:
        if spec is None:
            self.sigma = None
            return
        self.sigma = gaussian_sigma(spec, who="bm3d")

    def _denoise(self, image):
        import bm3d

        if self.sigma is None:
            raise ValueError(
                "bm3d needs the noise level: call set_noise('gaussian:sigma=25') (the CLIs pass "
                "--noise)"
            )
        sigma = float(self.sigma) / 255.0
        if image.shape[2] == 1:
            return np.asarray(bm3d.bm3d(image[..., 0], sigma_psd=sigma), np.float32)[..., None]
        return np.asarray(bm3d.bm3d_rgb(image, sigma_psd=sigma), np.float32)


def gaussian_sigma(spec: str, who: str = "this denoiser") -> float:
    """The sigma (0-255 scale) of a plain Gaussian noise spec such as ``gaussian:sigma=25``.

    Anything else (Poisson, JPEG, blur, mixtures) raises ValueError: ``who`` only models
    additive white Gaussian noise of known level.
    """
    text = str(spec).strip()
    kind, _, params = text.partition(":")
    kind = kind.strip().lower()
    values = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"bad noise spec {spec!r}: expected key=value pairs after ':'")
        values[key.strip().lower()] = value.strip()
    if kind not in ("gaussian", "awgn") or set(values) - {"sigma"} or "sigma" not in values:
        raise ValueError(
            f"{who} only handles additive Gaussian noise of a known level, given as "
            f"'gaussian:sigma=S' (0-255 scale); got noise spec {spec!r}"
        )
    try:
        sigma = float(values["sigma"])
    except ValueError:
        raise ValueError(f"bad noise spec {spec!r}: sigma must be a number") from None
    if sigma < 0:
        raise ValueError(f"bad noise spec {spec!r}: sigma must be >= 0")
    return sigma


# --------------------------------------------------------------------------------------------
# Loading


def _keras_runner(model, channels: int):
    """A graph-compiled ``[1, h, w, C] -> [1, h, w, C]`` numpy function for a Keras model
    (one trace for every image size)."""
    import tensorflow as tf

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32)],
        reduce_retracing=True,
    )
    def forward(batch):
        return model(batch, training=False)

    return lambda batch: forward(tf.constant(batch, tf.float32)).numpy()


def denoiser_from_keras(
    model, name: Optional[str] = None, tile: int = 512, overlap: int = 32, probe: bool = True
) -> "NetworkDenoiser":
    """Wrap an in-memory Keras image-to-image model as a :class:`Denoiser`.

    A model with a fixed input size runs on tiles of that size; otherwise, with ``probe``, the
    size multiple it needs (down-sampling nets) is found by :func:`_probe_multiple`.
    """
    name = name or model.name
    input_shape = tuple(model.input_shape)
    if len(input_shape) != 4:
        raise ValueError(f"{name}: expected an image model with input [B, H, W, C], got {input_shape}")
    channels = int(input_shape[-1])
    fixed = None
    if input_shape[1] is not None and input_shape[2] is not None:
        fixed = (int(input_shape[1]), int(input_shape[2]))
    if fixed is not None:
        import tensorflow as tf

        run = lambda batch: model(tf.constant(batch, tf.float32), training=False).numpy()  # noqa: E731
        return NetworkDenoiser(name, channels, run, tile, overlap, fixed_hw=fixed)
    run = _keras_runner(model, channels)
    multiple = _probe_multiple(run, channels) if probe else 1
    return NetworkDenoiser(name, channels, run, tile, overlap, multiple=multiple)


def _load_keras_file(path: str, tile: int, overlap: int) -> Denoiser:
    import keras

    from kerasdenoise import models

    models.names()  # import every network family so their custom layers are registered
    import kerasdenoise.metrics  # noqa: F401  (PSNRMetric)

    problem = _keras_file_problem(path)
    if problem:
        raise ValueError(f"cannot load Keras model {path}: {problem}")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named
        raise ValueError(f"cannot load Keras model {path}: {err}") from err
    return denoiser_from_keras(model, os.path.splitext(os.path.basename(path))[0], tile, overlap)


def _keras_file_problem(path: str) -> Optional[str]:
    """Why the existing file ``path`` cannot be a Keras model file, or None if it may be one
    (Keras itself reports a corrupt ``.keras`` file as 'File not found')."""
    import zipfile

    if os.path.getsize(path) == 0:
        return "the file is empty (0 bytes)"
    if path.lower().endswith(".keras"):
        if not zipfile.is_zipfile(path):
            return ("not a valid .keras file (a .keras file is a zip archive; this one is "
                    "corrupt, truncated or something else renamed)")
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError) as err:
            return f"not a valid .keras file (corrupt zip archive: {err})"
        if bad is not None:
            return f"not a valid .keras file (corrupt member {bad!r} in the zip archive)"
        if "config.json" not in names:
            return "not a valid .keras file (the zip archive holds no config.json)"
    elif path.lower().endswith(".h5"):
        import h5py

        if not h5py.is_hdf5(path):
            return "not a valid .h5 file (not HDF5: corrupt, truncated or something else renamed)"
    return None


def _load_saved_model(path: str, tile: int, overlap: int) -> Denoiser:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(path)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"cannot load SavedModel {path}: {err}") from err
    signatures = getattr(loaded, "signatures", {}) or {}
    if "serving_default" in signatures:
        function = signatures["serving_default"]
    elif signatures:
        function = next(iter(signatures.values()))
    else:
        raise ValueError(f"SavedModel {path} has no serving signature to call")
    specs = function.structured_input_signature[1]
    if len(specs) != 1:
        raise ValueError(
            f"SavedModel {path}: expected one image input, got inputs {sorted(specs)}"
        )
    input_name, spec = next(iter(specs.items()))
    shape = spec.shape
    if shape.rank != 4 or shape[-1] is None:
        raise ValueError(f"SavedModel {path}: expected an input [B, H, W, C], got {shape}")
    channels = int(shape[-1])

    def run(batch):
        outputs = function(**{input_name: tf.constant(batch, spec.dtype)})
        return next(iter(outputs.values())).numpy()

    name = os.path.basename(os.path.normpath(path))
    if shape[1] is not None and shape[2] is not None:
        return NetworkDenoiser(name, channels, run, tile, overlap, fixed_hw=(int(shape[1]), int(shape[2])))
    return NetworkDenoiser(name, channels, run, tile, overlap, multiple=_probe_multiple(run, channels))


def _load_tflite(path: str, tile: int, overlap: int) -> Denoiser:
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=path, num_threads=os.cpu_count() or 1)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"cannot load TFLite model {path}: {err}") from err
    (input_detail,) = interpreter.get_input_details()
    output_index = interpreter.get_output_details()[0]["index"]
    base_shape = tuple(int(v) for v in input_detail["shape"])
    if len(base_shape) != 4:
        raise ValueError(f"TFLite model {path}: expected an input [B, H, W, C], got {base_shape}")
    channels = base_shape[-1]
    dynamic = any(int(v) == -1 for v in input_detail.get("shape_signature", [])[1:3])
    state = {"shape": None}
    in_dtype = input_detail["dtype"]
    in_scale, in_zero = input_detail.get("quantization", (0.0, 0))

    def run(batch):
        shape = tuple(batch.shape)
        if state["shape"] != shape:
            interpreter.resize_tensor_input(input_detail["index"], list(shape), strict=False)
            interpreter.allocate_tensors()
            state["shape"] = shape
        data = batch
        if np.issubdtype(in_dtype, np.integer) and in_scale:
            data = np.round(batch / in_scale + in_zero)
        interpreter.set_tensor(input_detail["index"], data.astype(in_dtype))
        interpreter.invoke()
        out_detail = interpreter.get_output_details()[0]
        result = interpreter.get_tensor(output_index)
        out_scale, out_zero = out_detail.get("quantization", (0.0, 0))
        if np.issubdtype(result.dtype, np.integer) and out_scale:
            result = (result.astype(np.float32) - out_zero) * out_scale
        return result.astype(np.float32)

    name = os.path.splitext(os.path.basename(path))[0]
    if not dynamic and base_shape[1] > 1 and base_shape[2] > 1:
        # Exported with a fixed size: try resizing (works for fully convolutional graphs);
        # if the graph cannot be resized, run it at its own size.
        try:
            probe_run_size = (1, base_shape[1] + 8, base_shape[2] + 8, channels)
            out = run(np.zeros(probe_run_size, np.float32))
            if out.shape != probe_run_size:
                raise ValueError("output size differs")
        except Exception:  # noqa: BLE001
            state["shape"] = None
            return NetworkDenoiser(
                name, channels, run, tile, overlap, fixed_hw=(base_shape[1], base_shape[2])
            )
    return NetworkDenoiser(name, channels, run, tile, overlap, multiple=_probe_multiple(run, channels))


def _missing(path: str) -> FileNotFoundError:
    return FileNotFoundError(f"model file not found: {path} (accepted model specs: {_forms()})")


def load_denoiser(spec: str, tile: int = 512, overlap: int = 32) -> Denoiser:
    """Build the :class:`Denoiser` named by ``spec`` (forms in the module docstring).

    ``tile`` / ``overlap``: tiling of network inference (see :func:`tiled_apply`).
    Raises FileNotFoundError (naming the path and the accepted forms) for a missing model file,
    ValueError listing the forms for a spec that is none of them.
    """
    text = os.fspath(spec) if not isinstance(spec, str) else spec
    text = text.strip()
    lowered = text.lower()
    if lowered == "identity":
        return IdentityDenoiser()
    if lowered == "bm3d":
        return BM3DDenoiser()
    if lowered == "shipped" or lowered.startswith("shipped:"):
        return _load_shipped(text.split(":", 1)[1].strip() if ":" in text else None, tile, overlap)
    if lowered.startswith("dncnn-official:"):
        from kerasdenoise.models.dncnn import load_matconvnet_dncnn

        path = os.path.expanduser(text.split(":", 1)[1])
        if not os.path.isfile(path):
            raise _missing(path)
        model = load_matconvnet_dncnn(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        # DnCNN is fully convolutional with 'same' padding: no size probing needed.
        return denoiser_from_keras(model, f"dncnn-official:{stem}", tile, overlap, probe=False)
    path = os.path.expanduser(text)
    extension = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return _load_saved_model(path, tile, overlap)
        raise ValueError(
            f"{path} is a folder but not a SavedModel (no saved_model.pb in it); accepted model "
            f"specs: {_forms()}"
        )
    if extension in (".keras", ".h5", ".tflite", ".mat"):
        if not os.path.isfile(path):
            raise _missing(path)
        if extension == ".tflite":
            return _load_tflite(path, tile, overlap)
        if extension == ".mat":
            raise ValueError(
                f"{path}: .mat files are read as official DnCNN weights; write the spec as "
                f"dncnn-official:{path}"
            )
        return _load_keras_file(path, tile, overlap)
    if os.sep in text or text.startswith(".") or extension:
        raise _missing(path)
    raise ValueError(f"unknown model spec {spec!r}; accepted forms: {_forms()}")
