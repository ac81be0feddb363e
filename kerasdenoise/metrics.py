"""PSNR and SSIM: numpy in, float out for evaluation; a Keras metric for training progress.

Evaluation functions (:func:`psnr`, :func:`ssim`, :func:`psnr_y`, :func:`ssim_y`) take one
image ``[H, W, C]`` (or ``[H, W]``) in [0, 1] and by default quantize both images to 8 bit
first (``floor(x * 255 + 0.5) / 255``, saturated to [0, 255] like MATLAB ``im2uint8``), because
the published DnCNN / BM3D tables measure the 8-bit images that were written to disk.

They run on TensorFlow's ``tf.image.psnr`` / ``tf.image.ssim`` and agree with scikit-image's
``peak_signal_noise_ratio`` and ``structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=...)`` (Wang et al. 2004) to well under 1e-3:

* ``tf.image.ssim`` uses an 11x11 Gaussian window with sigma 1.5, k1 = 0.01, k2 = 0.03 and
  population (not sample) covariances, as skimage with the settings above (whose window is
  ``2 * int(3.5 * 1.5 + 0.5) + 1 = 11`` wide).
* TF convolves with a 'VALID' window, i.e. it only averages the SSIM map over positions where
  the window fits inside the image; skimage filters the whole image with reflected borders and
  then crops ``(11 - 1) // 2 = 5`` pixels on every side before averaging.  The averaged
  positions are therefore exactly the same and the border handling never enters the mean.
* For color images both average the per-channel SSIMs.
* TF computes in float32; the 8-bit inputs make that loss of precision irrelevant (~1e-6).

Images smaller than 11x11 cannot be measured with SSIM (the same limit as skimage).

Scales (see :mod:`kerasdenoise.scale`): ``uint8`` / ``uint16`` images are read by dtype;
float images are on the [0, ``data_range``] scale, and the 8-bit quantization happens on that
scale (``data_range=255`` with 0-255 floats gives the same numbers as [0, 1] floats).  The
*clean* image must lie in [0, ``data_range``] (tolerance 1e-3 of the range); the restored one
may leave it (an unclipped noisy input saturates like ``im2uint8``) unless it is clearly on
another scale; NaN / inf are refused.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras

from kerasdenoise.scale import to_unit_float

SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def quantize_8bit(image, data_range: float = 1.0) -> np.ndarray:
    """Round ``image`` in [0, ``data_range``] to the 256 levels of an 8-bit image (saturating),
    as float64 on the same scale.

    Rounds half away from zero like MATLAB ``im2uint8``; values outside the range (unclipped
    noisy inputs) saturate at 0 and 255.
    """
    image = np.asarray(image, dtype=np.float64)
    if data_range == 1.0:
        return np.clip(np.floor(image * 255.0 + 0.5), 0.0, 255.0) / 255.0
    levels = np.clip(np.floor(image * (255.0 / data_range) + 0.5), 0.0, 255.0)
    return levels * (data_range / 255.0)


def _unit_pair(clean, restored, data_range: float, what: str, quantize: bool):
    """Both images as float64 on the [0, 1] scale (8-bit quantized on their own scale first
    with ``quantize``), checked as the module docstring says."""
    checked = []
    for role, image in (("clean", clean), ("restored", restored)):
        array = np.asarray(image)
        integer = np.issubdtype(array.dtype, np.integer)
        unit, _ = to_unit_float(array, f"{what}: {role} image", clean=role == "clean",
                                data_range=data_range, dtype=np.float64)
        if quantize:
            unit = quantize_8bit(unit) if integer else quantize_8bit(array, data_range) / data_range
        checked.append(unit)
    return checked


def _prepare(clean, restored, quantize: bool, what: str, data_range: float = 1.0):
    """Both images ``[H, W, C]`` float64 on the [0, 1] scale (see :func:`_unit_pair`)."""
    if np.shape(clean) != np.shape(restored):
        raise ValueError(
            f"{what}: images differ in shape: clean {np.shape(clean)} vs restored "
            f"{np.shape(restored)}"
        )
    clean, restored = _unit_pair(clean, restored, data_range, what, quantize)
    if clean.ndim == 2:
        clean, restored = clean[..., None], restored[..., None]
    if clean.ndim != 3:
        raise ValueError(f"{what}: expected an image [H, W] or [H, W, C], got shape {clean.shape}")
    if clean.size == 0:
        raise ValueError(f"{what}: the images are empty (shape {clean.shape})")
    return clean, restored


def psnr(clean, restored, data_range: float = 1.0, quantize: bool = True) -> float:
    """Peak signal-to-noise ratio in dB of ``restored`` against ``clean`` (``inf`` if equal).

    ``data_range`` is the peak value of float images (1.0 for images in [0, 1], 255 for 0-255
    floats; uint8 / uint16 images are read by dtype).  With ``quantize`` both images are first
    rounded to 8 bit on that scale (see module docstring).
    """
    clean, restored = _prepare(clean, restored, quantize, "psnr", data_range)
    mse = float(np.mean(np.square(clean - restored)))
    if mse == 0.0:
        return float("inf")
    # tf.image.psnr works in float32, which is exact enough (~1e-5 dB) for 8-bit data.
    value = tf.image.psnr(
        tf.constant(clean, tf.float32), tf.constant(restored, tf.float32), max_val=1.0
    )
    return float(value.numpy())


def frame_psnr(clean, restored, width: int = 8, data_range: float = 1.0,
               quantize: bool = True) -> float:
    """PSNR of the outer frame ``width`` pixels wide (where padding artefacts show)."""
    clean, restored = _prepare(clean, restored, quantize, "frame_psnr", data_range)
    height, wide = clean.shape[:2]
    if int(width) != width or width < 1:
        raise ValueError(f"frame width must be a positive integer, got {width!r}")
    mask = np.ones((height, wide), bool)
    mask[width:height - width, width:wide - width] = False
    mse = float(np.mean(np.square(clean[mask] - restored[mask])))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(1.0 / mse))


def ssim(clean, restored, data_range: float = 1.0, quantize: bool = True) -> float:
    """Mean structural similarity (Wang et al. 2004, Gaussian 11x11 window, sigma 1.5).

    Averaged over the valid window positions and over channels; matches
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=data_range, channel_axis=-1)``.
    """
    clean, restored = _prepare(clean, restored, quantize, "ssim", data_range)
    height, width = clean.shape[:2]
    if min(height, width) < SSIM_FILTER_SIZE:
        raise ValueError(
            f"ssim: image {height}x{width} is smaller than the {SSIM_FILTER_SIZE}x"
            f"{SSIM_FILTER_SIZE} SSIM window"
        )
    value = tf.image.ssim(
        tf.constant(clean, tf.float32),
        tf.constant(restored, tf.float32),
        max_val=1.0,
        filter_size=SSIM_FILTER_SIZE,
        filter_sigma=SSIM_FILTER_SIGMA,
        k1=SSIM_K1,
        k2=SSIM_K2,
    )
    return float(value.numpy())


def _to_y(clean_rgb, restored_rgb, quantize: bool, data_range: float = 1.0):
    """Luma of both RGB images on the [0, 1] scale; with ``quantize`` as MATLAB
    ``rgb2ycbcr`` on uint8 images.

    MATLAB quantizes the RGB image (im2uint8), converts, and rounds Y back to uint8; the
    published Y-channel numbers are measured on that 8-bit Y.
    """
    from kerasdenoise.data import color

    if np.shape(clean_rgb) != np.shape(restored_rgb):
        raise ValueError(
            f"Y metrics: images differ in shape: clean {np.shape(clean_rgb)} vs restored "
            f"{np.shape(restored_rgb)}"
        )
    if np.ndim(clean_rgb) != 3 or np.shape(clean_rgb)[-1] != 3:
        raise ValueError(f"Y metrics need RGB images [H, W, 3], got shape {np.shape(clean_rgb)}")
    clean_rgb, restored_rgb = (
        a.astype(np.float32) for a in _unit_pair(clean_rgb, restored_rgb, data_range, "Y metrics",
                                                  quantize)
    )
    clean_y = np.asarray(color.rgb_to_y(clean_rgb), dtype=np.float64)
    restored_y = np.asarray(color.rgb_to_y(restored_rgb), dtype=np.float64)
    return clean_y, restored_y


def psnr_y(clean_rgb, restored_rgb, data_range: float = 1.0, quantize: bool = True) -> float:
    """PSNR on the BT.601 luma (MATLAB ``rgb2ycbcr`` Y) of two RGB images in [0, 1]."""
    clean_y, restored_y = _to_y(clean_rgb, restored_rgb, quantize, data_range)
    return psnr(clean_y, restored_y, data_range=1.0, quantize=quantize)


def ssim_y(clean_rgb, restored_rgb, data_range: float = 1.0, quantize: bool = True) -> float:
    """SSIM on the BT.601 luma (MATLAB ``rgb2ycbcr`` Y) of two RGB images in [0, 1]."""
    clean_y, restored_y = _to_y(clean_rgb, restored_rgb, quantize, data_range)
    return ssim(clean_y, restored_y, data_range=1.0, quantize=quantize)


# Detail measures: how much fine structure an output holds relative to the ground truth, for
# claims such as "sharper details" (IDGAN vs IDResNet).  Both are ratios, restored / clean, so
# 1 means as much detail as the clean image, below 1 an over-smoothed output; residual noise and
# artifacts also raise them, so they are read beside the PSNR, never alone.


def gradient_magnitude_ratio(clean, restored, quantize: bool = True) -> float:
    """Mean Sobel gradient magnitude of ``restored`` over that of ``clean`` (all channels).

    The Sobel filter is :func:`kerasdenoise.losses.edge.sobel_magnitude` (reflect padding).
    """
    from kerasdenoise.losses.edge import sobel_magnitude

    clean, restored = _prepare(clean, restored, quantize, "gradient_magnitude_ratio")
    pair = np.stack([clean, restored]).astype(np.float32)
    magnitude = sobel_magnitude(pair, scale=1.0).numpy()
    return float(magnitude[1].mean() / max(magnitude[0].mean(), 1e-12))


def high_frequency_energy_ratio(clean, restored, cutoff: float = 0.25,
                                quantize: bool = True) -> float:
    """Spectral energy above ``cutoff`` cycles per pixel (radial; Nyquist is 0.5), restored
    over clean, summed over channels; each channel's mean is removed first."""
    clean, restored = _prepare(clean, restored, quantize, "high_frequency_energy_ratio")
    height, width = clean.shape[:2]
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij"))
    band = radius > cutoff

    def energy(image):
        spectrum = np.fft.fft2(image - image.mean(axis=(0, 1)), axes=(0, 1))
        return float(np.sum(np.abs(spectrum[band]) ** 2))

    return energy(restored) / max(energy(clean), 1e-12)


def feature_distance(clean, restored, feature_loss, quantize: bool = True) -> float:
    """Distance between the deep features of ``clean`` and ``restored`` (``[H, W, C]`` in [0, 1]):
    ``feature_loss`` (a :class:`kerasdenoise.losses.perceptual.PerceptualLoss`: its layers, VGG
    weights and normalization) of the pair, i.e. the mean squared feature difference summed over
    its layers.  Lower = closer in the feature space the perceptual losses train for; report it
    with ``feature_loss.description`` (the weights may be an offline stand-in)."""
    clean, restored = _prepare(clean, restored, quantize, "feature_distance")
    return float(feature_loss(clean[None].astype(np.float32), restored[None].astype(np.float32)))


@keras.saving.register_keras_serializable(package="kerasdenoise")
class PSNRMetric(keras.metrics.Metric):
    """Mean per-image PSNR (dB) over everything seen since the last reset, for progress bars.

    The prediction is clipped to [0, ``data_range``] first (what evaluation measures); images
    are not quantized here.  An exact match is capped at 100 dB so one perfect image cannot make
    the mean infinite.
    """

    def __init__(self, name: str = "psnr", data_range: float = 1.0, **kwargs):
        super().__init__(name=name, **kwargs)
        self.data_range = float(data_range)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        ops = keras.ops
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.clip(ops.cast(y_pred, "float32"), 0.0, self.data_range)
        axes = tuple(range(1, len(y_true.shape)))
        mse = ops.mean(ops.square(y_true - y_pred), axis=axes)
        floor = (self.data_range**2) * 1e-10  # 100 dB cap
        values = 10.0 * ops.log(self.data_range**2 / ops.maximum(mse, floor)) / np.log(10.0)
        if sample_weight is not None:
            weights = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
            weights = ops.broadcast_to(weights, ops.shape(values))
            self.total.assign_add(ops.sum(values * weights))
            self.count.assign_add(ops.sum(weights))
        else:
            self.total.assign_add(ops.sum(values))
            self.count.assign_add(ops.cast(ops.shape(values)[0], "float32"))

    def result(self):
        return keras.ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "data_range": self.data_range}
