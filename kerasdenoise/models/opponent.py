"""A color denoiser built around a trained gray one, in an opponent color space.

Registered builder ``"opponent_color"``.  RGB is split by an orthonormal opponent transform into
luminance ``L = (R + G + B) / sqrt 3`` and two chroma channels ``C1 = (R - B) / sqrt 2``,
``C2 = (R - 2G + B) / sqrt 6``; i.i.d. RGB noise stays i.i.d. with the same sigma, and the MSE of
RGB is the mean of the three channels' MSEs, so luminance and chroma can be restored apart:

- luminance: the trained gray network (``luma``: a ``.keras`` file or model) on the mean of R, G,
  B (``L / sqrt 3``, in [0, 1], noise sigma / sqrt 3: a blind gray model takes it as it is);
  frozen by default;
- chroma: a small residual network at half resolution (chroma is smooth) that sees the denoised
  and the noisy luminance beside the noisy chroma, so it can follow luminance edges, as CBM3D's
  chroma grouping does; a full-resolution head adds its correction to the noisy chroma.

Fixed 1x1 convolutions do the transforms, so the model is one fully convolutional Keras graph
(exports to TFLite like any other); heights and widths must be even (the runtime pads).  With a
zero-initialised correction (``init="he"``) and an identity ``luma`` the model is exactly the
identity.
"""
from __future__ import annotations

import math
import os

import keras
import numpy as np
from keras import layers

from kerasdenoise.models._init import check_recipe_args

# Rows: L, C1, C2 (orthonormal).
OPPONENT = np.array([
    [1, 1, 1],
    [1, 0, -1],
    [1, -2, 1],
], np.float32) / np.array([[math.sqrt(3)], [math.sqrt(2)], [math.sqrt(6)]], np.float32)


def _fixed_1x1(matrix: np.ndarray, name: str):
    """A frozen 1x1 convolution computing ``out[c] = sum_i matrix[c, i] * in[i]``."""
    out_channels, in_channels = matrix.shape
    return layers.Conv2D(
        out_channels, 1, use_bias=False, trainable=False, name=name,
        kernel_initializer=keras.initializers.Constant(matrix.T.reshape(1, 1, in_channels, out_channels)),
    )


def _load_luma(luma) -> keras.Model:
    if isinstance(luma, keras.Model):
        return luma
    if not luma:
        raise ValueError("opponent_color needs luma: a trained gray denoiser (.keras file or model)")
    path = os.path.expanduser(str(luma))
    if os.path.isdir(path):
        path = os.path.join(path, "final.keras")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"opponent_color: luma model not found: {path}")
    from kerasdenoise.runtime import load_keras_model

    return load_keras_model(path)


def build_opponent_color(
    luma=None,
    filters: int = 32,
    blocks: int = 6,
    train_luma: bool = False,
    residual: bool = True,
    init: str = "he",
    name: str = "opponent_color",
) -> keras.Model:
    """RGB denoiser: ``luma`` (a 1-channel denoiser) on luminance, a ``blocks``-ResBlock chroma
    network of ``filters`` channels at half resolution (see the module doc).

    ``residual`` must be True (the chroma network always predicts a correction); ``init``:
    "he" (He normal, zero last layer: the chroma path starts as the identity) or "paper" (the
    same: this network has no paper of its own).
    """
    check_recipe_args("opponent_color", residual, init)
    if not residual:
        raise ValueError("opponent_color: residual=False is not supported (the chroma network "
                         "predicts a correction)")
    for label, value in (("filters", filters), ("blocks", blocks)):
        if int(value) != value or value < 1:
            raise ValueError(f"opponent_color: {label} must be a positive integer, got {value!r}")
    gray = _load_luma(luma)
    if tuple(gray.input_shape[1:]) != (None, None, 1):
        raise ValueError(f"opponent_color: luma must take [B, H, W, 1] images of any size, got "
                         f"input shape {gray.input_shape}")
    gray.trainable = bool(train_luma)
    gray.name = "luma"

    inputs = keras.Input((None, None, 3), name="degraded")
    luminance = _fixed_1x1(OPPONENT[:1] / math.sqrt(3), "to_luminance")(inputs)  # mean of R, G, B
    chroma = _fixed_1x1(OPPONENT[1:], "to_chroma")(inputs)
    restored_luminance = gray(luminance)
    guide = layers.Concatenate(name="guide")([restored_luminance, luminance, chroma])

    he = "he_normal"
    x = layers.Conv2D(filters, 4, strides=2, padding="same", activation="relu",
                      kernel_initializer=he, name="chroma_down")(guide)
    for index in range(1, blocks + 1):
        y = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=he,
                          name=f"chroma_res{index}_conv1")(x)
        # zero closing layer: every block starts as its shortcut (no blow-up without BN)
        y = layers.Conv2D(filters, 3, padding="same", kernel_initializer="zeros",
                          name=f"chroma_res{index}_conv2")(y)
        x = layers.Add(name=f"chroma_res{index}_add")([x, y])
    x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", activation="relu",
                               kernel_initializer=he, name="chroma_up")(x)
    x = layers.Concatenate(name="chroma_head_in")([x, guide])
    x = layers.Conv2D(max(filters // 2, 1), 3, padding="same", activation="relu",
                      kernel_initializer=he, name="chroma_head")(x)
    correction = layers.Conv2D(2, 3, padding="same", kernel_initializer="zeros",
                               name="chroma_correction")(x)
    restored_chroma = layers.Add(name="residual_add")([chroma, correction])
    opponent = layers.Concatenate(name="restored_opponent")([restored_luminance, restored_chroma])
    # back to RGB: L = sqrt 3 * mean, so the mean's row of the inverse is (1, 1, 1)
    inverse = OPPONENT.T.copy()
    inverse[:, 0] *= math.sqrt(3)
    outputs = _fixed_1x1(inverse, "to_rgb")(opponent)
    return keras.Model(inputs, outputs, name=name)
