"""Edge-aware MSE of DN-ResNet (Ren et al. 2018, Eq. 4), registered as ``edge-a`` and ``edge-b``.

    loss = MSE(X, X_hat) + w * MSE(M * X, M * X_hat) = mean((1 + w * M^2) * (X - X_hat)^2)

with ``M`` an edge map of the *clean* image X:

- ``edge-a``: M = Sobel gradient magnitude, w = 0.025;
- ``edge-b``: M = (Sobel gradient magnitude > 150), a binary mask, w = 4.

Sobel: ``tf.image.sobel_edges`` (the unnormalised 3x3 kernels [1 2 1] x [-1 0 1], reflect
padding at the patch border), magnitude ``sqrt(gx^2 + gy^2)``, per channel (the paper trains on
the Y channel, i.e. C = 1; for C > 1 each channel gets its own map).

Scale of M (the paper leaves it implicit; decided here): both maps are computed on the
**0-255 scale** (``scale=255``: the [0, 1] image times 255).  The paper defines edge-b as
"thresholding (a)" at 150, so (a) and (b) share one Sobel map and 150 only makes sense on the
0-255 scale (on [0, 1] the magnitude never exceeds 4*sqrt(2) ~ 5.7).  Measured on 20 CBSD432
Y images, this gives edge-a per-pixel weights 1 + w M^2 with median 27 and 90th percentile 540,
the top 10 % of pixels carrying 75 % of the loss weight; edge-b marks 9.7 % of pixels, which
carry 35 % of the weight.  M on the [0, 1] scale instead would make edge-a a no-op (99th
percentile weight 1.06), which cannot give the SSIM gains of the paper's Table 2.  Pass
``scale=1`` in ``loss_kwargs`` to try that reading.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from kerasdenoise.losses import register_loss

EDGE_MODES = {
    # mode: (default weight w, binary threshold on the scaled magnitude or None)
    "edge-a": (0.025, None),
    "edge-b": (4.0, 150.0),
}


def sobel_magnitude(images, scale: float = 255.0) -> tf.Tensor:
    """Per-channel Sobel gradient magnitude ``[B, H, W, C]`` of ``images * scale``."""
    images = tf.cast(images, tf.float32) * scale
    gradients = tf.image.sobel_edges(images)  # [B, H, W, C, 2]: (dy, dx)
    return tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=-1))


def edge_map(clean, mode: str = "edge-a", scale: float = 255.0, threshold: float | None = None):
    """The edge map M of Eq. 4 for ``mode`` 'edge-a' (magnitude) or 'edge-b' (binary mask)."""
    if mode not in EDGE_MODES:
        raise ValueError(f"unknown edge mode {mode!r}; valid: {', '.join(EDGE_MODES)}")
    magnitude = sobel_magnitude(clean, scale)
    if mode == "edge-a":
        return magnitude
    limit = EDGE_MODES[mode][1] if threshold is None else threshold
    return tf.cast(magnitude > limit, tf.float32)


def _per_image_edge_mse(clean, restored, mode, weight, scale, threshold):
    clean = tf.cast(clean, tf.float32)
    restored = tf.cast(restored, tf.float32)
    squared = tf.square(clean - restored)
    edges = tf.stop_gradient(edge_map(clean, mode, scale, threshold))
    weighted = tf.square(edges) * squared  # (M X - M X_hat)^2
    axes = list(range(1, len(squared.shape)))
    return tf.reduce_mean(squared, axis=axes) + weight * tf.reduce_mean(weighted, axis=axes)


def edge_aware_mse(clean, restored, mode: str = "edge-a", weight: float | None = None,
                   scale: float = 255.0, threshold: float | None = None) -> tf.Tensor:
    """Scalar ``MSE + w * MSE(M * clean, M * restored)`` over a ``[B, H, W, C]`` batch.

    ``weight`` defaults to the paper's w for ``mode`` (edge-a 0.025, edge-b 4); ``threshold``
    to 150 for edge-b.  On a flat clean image M = 0 and this is the plain MSE.
    """
    if mode not in EDGE_MODES:
        raise ValueError(f"unknown edge mode {mode!r}; valid: {', '.join(EDGE_MODES)}")
    w = EDGE_MODES[mode][0] if weight is None else float(weight)
    return tf.reduce_mean(_per_image_edge_mse(clean, restored, mode, w, scale, threshold))


@keras.saving.register_keras_serializable(package="kerasdenoise")
class EdgeAwareMSE(keras.losses.Loss):
    """Keras loss form of :func:`edge_aware_mse` (``y_true`` = clean, ``y_pred`` = restored).

    Serializable, so a compiled model saved with it loads back without custom objects.
    """

    def __init__(self, mode: str = "edge-a", weight: float | None = None, scale: float = 255.0,
                 threshold: float | None = None, name: str | None = None, **kwargs):
        if mode not in EDGE_MODES:
            raise ValueError(f"unknown edge mode {mode!r}; valid: {', '.join(EDGE_MODES)}")
        super().__init__(name=name or mode.replace("-", "_"), **kwargs)
        self.mode = mode
        self.weight = EDGE_MODES[mode][0] if weight is None else float(weight)
        self.scale = float(scale)
        self.threshold = threshold

    def call(self, y_true, y_pred):
        return _per_image_edge_mse(y_true, y_pred, self.mode, self.weight, self.scale,
                                   self.threshold)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, weight=self.weight, scale=self.scale,
                      threshold=self.threshold)
        return config


@register_loss("edge-a")
def edge_a_loss(*, weight: float = EDGE_MODES["edge-a"][0], scale: float = 255.0):
    """Edge-aware MSE with M = Sobel magnitude (0-255 scale), w = 0.025."""
    return EdgeAwareMSE("edge-a", weight=weight, scale=scale)


@register_loss("edge-b")
def edge_b_loss(*, weight: float = EDGE_MODES["edge-b"][0], scale: float = 255.0,
                threshold: float = EDGE_MODES["edge-b"][1]):
    """Edge-aware MSE with M = (Sobel magnitude on 0-255 > 150), w = 4."""
    return EdgeAwareMSE("edge-b", weight=weight, scale=scale, threshold=threshold)
