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
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras

SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def quantize_8bit(image) -> np.ndarray:
    """Round ``image`` in [0, 1] to the 256 levels of an 8-bit image (saturating), as float64.

    Rounds half away from zero like MATLAB ``im2uint8``; values outside [0, 1] (unclipped noisy
    inputs) saturate at 0 and 255.
    """
    image = np.asarray(image, dtype=np.float64)
    return np.clip(np.floor(image * 255.0 + 0.5), 0.0, 255.0) / 255.0


def _prepare(clean, restored, quantize: bool, what: str):
    clean = np.asarray(clean, dtype=np.float64)
    restored = np.asarray(restored, dtype=np.float64)
    if clean.shape != restored.shape:
        raise ValueError(
            f"{what}: images differ in shape: clean {clean.shape} vs restored {restored.shape}"
        )
    if clean.ndim == 2:
        clean, restored = clean[..., None], restored[..., None]
    if clean.ndim != 3:
        raise ValueError(f"{what}: expected an image [H, W] or [H, W, C], got shape {clean.shape}")
    if quantize:
        clean, restored = quantize_8bit(clean), quantize_8bit(restored)
    return clean, restored


def psnr(clean, restored, data_range: float = 1.0, quantize: bool = True) -> float:
    """Peak signal-to-noise ratio in dB of ``restored`` against ``clean`` (``inf`` if equal).

    ``data_range`` is the peak value (1.0 for images in [0, 1]).  With ``quantize`` both images
    are first rounded to 8 bit (see module docstring).
    """
    clean, restored = _prepare(clean, restored, quantize, "psnr")
    mse = float(np.mean(np.square(clean - restored)))
    if mse == 0.0:
        return float("inf")
    # tf.image.psnr works in float32, which is exact enough (~1e-5 dB) for 8-bit data.
    value = tf.image.psnr(
        tf.constant(clean, tf.float32), tf.constant(restored, tf.float32), max_val=data_range
    )
    return float(value.numpy())


def frame_psnr(clean, restored, width: int = 8, data_range: float = 1.0,
               quantize: bool = True) -> float:
    """PSNR of the outer frame ``width`` pixels wide (where padding artefacts show)."""
    clean, restored = _prepare(clean, restored, quantize, "frame_psnr")
    height, wide = clean.shape[:2]
    if int(width) != width or width < 1:
        raise ValueError(f"frame width must be a positive integer, got {width!r}")
    mask = np.ones((height, wide), bool)
    mask[width:height - width, width:wide - width] = False
    mse = float(np.mean(np.square(clean[mask] - restored[mask])))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def ssim(clean, restored, data_range: float = 1.0, quantize: bool = True) -> float:
    """Mean structural similarity (Wang et al. 2004, Gaussian 11x11 window, sigma 1.5).

    Averaged over the valid window positions and over channels; matches
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=data_range, channel_axis=-1)``.
    """
    clean, restored = _prepare(clean, restored, quantize, "ssim")
    height, width = clean.shape[:2]
    if min(height, width) < SSIM_FILTER_SIZE:
        raise ValueError(
            f"ssim: image {height}x{width} is smaller than the {SSIM_FILTER_SIZE}x"
            f"{SSIM_FILTER_SIZE} SSIM window"
        )
    value = tf.image.ssim(
        tf.constant(clean, tf.float32),
        tf.constant(restored, tf.float32),
        max_val=data_range,
        filter_size=SSIM_FILTER_SIZE,
        filter_sigma=SSIM_FILTER_SIGMA,
        k1=SSIM_K1,
        k2=SSIM_K2,
    )
    return float(value.numpy())


def _to_y(clean_rgb, restored_rgb, quantize: bool):
    """Luma of both RGB images; with ``quantize`` as MATLAB ``rgb2ycbcr`` on uint8 images.

    MATLAB quantizes the RGB image (im2uint8), converts, and rounds Y back to uint8; the
    published Y-channel numbers are measured on that 8-bit Y.
    """
    from kerasdenoise.data import color

    clean_rgb = np.asarray(clean_rgb, dtype=np.float32)
    restored_rgb = np.asarray(restored_rgb, dtype=np.float32)
    if clean_rgb.shape != restored_rgb.shape:
        raise ValueError(
            f"Y metrics: images differ in shape: clean {clean_rgb.shape} vs restored "
            f"{restored_rgb.shape}"
        )
    if clean_rgb.ndim != 3 or clean_rgb.shape[-1] != 3:
        raise ValueError(f"Y metrics need RGB images [H, W, 3], got shape {clean_rgb.shape}")
    if quantize:
        clean_rgb = quantize_8bit(clean_rgb).astype(np.float32)
        restored_rgb = quantize_8bit(restored_rgb).astype(np.float32)
    clean_y = np.asarray(color.rgb_to_y(clean_rgb), dtype=np.float64)
    restored_y = np.asarray(color.rgb_to_y(restored_rgb), dtype=np.float64)
    return clean_y, restored_y


def psnr_y(clean_rgb, restored_rgb, data_range: float = 1.0, quantize: bool = True) -> float:
    """PSNR on the BT.601 luma (MATLAB ``rgb2ycbcr`` Y) of two RGB images in [0, 1]."""
    clean_y, restored_y = _to_y(clean_rgb, restored_rgb, quantize)
    return psnr(clean_y, restored_y, data_range=data_range, quantize=quantize)


def ssim_y(clean_rgb, restored_rgb, data_range: float = 1.0, quantize: bool = True) -> float:
    """SSIM on the BT.601 luma (MATLAB ``rgb2ycbcr`` Y) of two RGB images in [0, 1]."""
    clean_y, restored_y = _to_y(clean_rgb, restored_rgb, quantize)
    return ssim(clean_y, restored_y, data_range=data_range, quantize=quantize)


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
