"""Denoisers: image in, restored image out, clipped to [0, 1], whatever runs underneath.

Every :class:`Denoiser` maps an ``[H, W, C]`` image to the restored ``[H, W, C]`` image
clipped to [0, 1]: float images on the [0, 1] scale give float32, uint8 / uint16 images are
read by dtype and returned in it (see :mod:`kerasdenoise.scale`: NaN / inf, empty images and
floats clearly on another scale, e.g. 0-255, are refused with the same error whatever the
backend; degraded images may leave [0, 1], as unclipped noise does).  Networks run through
:func:`~kerasdenoise.runtime.tiling.tiled_apply` (512x512 tiles overlapping by 32 pixels,
center-cropped, on the image padded by reflection) so memory stays bounded on large
photographs.  A one-channel network given an RGB image denoises Y, Cb and Cr separately
(MATLAB BT.601 YCbCr) and converts back, except a gray image stored as RGB (all three channels
equal, e.g. a gray palette PNG): its one plane is denoised and replicated, so it stays gray.  A
three-channel network given a gray image is an error (:class:`ChannelMismatchError`).
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from kerasdenoise.runtime.tiling import tiled_apply

RECEPTIVE_PROBE_LIMIT = 64  # pixels: how far NetworkDenoiser.receptive_radius looks


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


class IdentityDenoiser(Denoiser):
    """Returns the (clipped) input: the 'do nothing' baseline."""

    def __init__(self):
        super().__init__("identity", None)

    def _denoise(self, image):
        return image


class MedianDenoiser(Denoiser):
    """A k x k median filter on each channel (OpenCV): the classical baseline for impulse
    (salt-and-pepper) noise.  ``size``: 3 or 5 (OpenCV filters float images only at those)."""

    SIZES = (3, 5)

    def __init__(self, size: int = 3):
        if size not in self.SIZES:
            raise ValueError(f"median filter size {size!r}: valid sizes are {', '.join(map(str, self.SIZES))}")
        super().__init__(f"median:{size}", None)
        self.size = size

    def _denoise(self, image):
        import cv2

        planes = [cv2.medianBlur(np.ascontiguousarray(image[..., c], np.float32), self.size)
                  for c in range(image.shape[2])]
        return np.stack(planes, axis=-1)


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


class BM3DDenoiser(Denoiser):
    """BM3D (gray) / CBM3D (color) from the ``bm3d`` package; needs the Gaussian noise sigma.

    ``sigma`` is on the 0-255 scale; pass it, or call ``set_noise('gaussian:sigma=25')``.
    ``fixed_sigma``: the level given by the spec (``bm3d:sigma=25``), kept whatever the noise
    spec: BM3D as a baseline for noise that is not one Gaussian (told its Gaussian part).
    """

    uses_noise = True
    gray_plane_for_gray_rgb = True  # BM3D, not CBM3D, for a gray image stored as RGB

    def __init__(self, sigma: Optional[float] = None, fixed_sigma: Optional[float] = None):
        super().__init__("bm3d" if fixed_sigma is None else f"bm3d:sigma={fixed_sigma:g}", None)
        try:
            import bm3d  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "the 'bm3d' denoiser needs the bm3d package: pip install 'kerasdenoise[bm3d]' "
                "(or pip install bm3d)"
            ) from err
        self.sigma = sigma if fixed_sigma is None else fixed_sigma
        self.fixed_sigma = fixed_sigma
        self.uses_noise = fixed_sigma is None

    def set_noise(self, spec: Optional[str]) -> None:
        if self.fixed_sigma is not None:
            return
        if spec is None:
            self.sigma = None
            return
        from kerasdenoise.degrade import gaussian_sigma

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
