"""UNet and ResUNet denoisers (Zhou, Liu & Zhang, "Leveraging Residual Neural Network for UNet
Image Denoising with Perceptual Loss"; reading guide section 1).

Registered builders:

* ``"unet"`` -> :func:`build_unet`: the Ronneberger et al. (2015) U shape: per level a double
  conv3x3 + ReLU, 2x2 max-pool down; a bottleneck double conv; per level up a 2x2 stride-2
  transposed convolution, **concatenation** with the matching down features, double
  conv3x3 + ReLU; a final 1x1 convolution to the image channels.
* ``"resunet"`` -> :func:`build_resunet`: the same U shape, but each down block is
  ``res_blocks`` (2) Res-blocks (conv3x3 - ReLU - conv3x3, plus the block input) before the
  2x2 max-pool, the bottleneck is 2 Res-blocks too, and the skips between down and up blocks are
  **added**, not concatenated.

Choices the paper leaves open, and how they are made here:

* Widths are not in the paper: ``base_filters * 2**level`` per level (64-128-256-512 for
  ``depth=4``) and ``base_filters * 2**depth`` (1024) in the bottleneck, as the reading guide
  says; ``base_filters`` shrinks the net for CPU budgets.
* A Res-block whose input width differs from its output width (the first block of every level,
  and the first one, which sees the image) adds a 1x1 convolution of its input ("projection
  shortcut", He et al. 2016) instead of the input itself.  There is no activation after the sum
  (the paper's Fig. 4: conv-ReLU-conv + input).
* Initialization: He-normal (Ronneberger et al.), except the second convolution of every
  Res-block, which starts at zero so that each block starts as its shortcut ("zero-init
  residual", Goyal et al. 2017; Fixup), and the linear 1x1 projections, which are LeCun-normal
  (variance-preserving without a ReLU).  Without normalization layers, 10 He-initialized
  Res-blocks double the signal variance each: the untrained ResUNet's output then had a
  standard deviation of about 120 on [0, 1] inputs (initial MSE ~2e4); with these choices it
  starts at about 1, like the UNet's.
* The up path of the ResUNet is the UNet's (transposed conv, skip, double conv3x3 + ReLU), with
  the skip added: the paper changes only the down blocks and the skip operation.
* Global residual: the authors' public code (a PyTorch course project, models ``Unet`` and
  ``ResUnet``) returns ``input + net(input)`` for both networks, so ``residual=True`` is the
  default here: the net predicts the correction and the model returns the restored image (the
  project convention: degraded [0, 1] in, restored [0, 1] out, not clipped).  Their code also
  used LeakyReLU(0.2), bilinear up-sampling, 16 base filters and a 256 cap on the widths; the
  reading guide's Ronneberger-style description (ReLU, transposed convolutions, no cap) is
  followed here instead.

Input sizes: the model takes ``(None, None, channels)``.  The pooling path needs sides that
divide by ``2**depth``; any other size is **reflect-padded** inside the model (split evenly
between the two borders) up to the next multiple and the output is cropped back, so the output
always has the input's size.  Reflect padding needs each border pad to be smaller than the
side, so a side shorter than :func:`minimum_side` (``2**depth``) is refused with an
``InvalidArgumentError`` naming the minimum (a 4-level net works from 6 pixels up).
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from kerasdenoise.models._init import check_recipe_args


def _pad_amounts(size, multiple: int):
    """(before, after) pad of a side ``size`` up to the next multiple of ``multiple``."""
    total = (-size) % multiple
    before = total // 2
    return before, total - before


def minimum_side(multiple: int) -> int:
    """The shortest side that can be reflect-padded to a multiple of ``multiple``.

    Reflect padding needs each border pad to be smaller than the side: the smallest ``s`` with
    ``ceil((multiple - s) / 2) <= s - 1`` (larger sides need at most ``ceil((multiple - 1) / 2)``
    per border, which always fits).
    """
    for side in range(1, multiple + 1):
        if max(_pad_amounts(side, multiple)) <= side - 1:
            return side
    return multiple


@keras.saving.register_keras_serializable(package="kerasdenoise")
class ReflectPadToMultiple(layers.Layer):
    """Reflect-pad height and width up to the next multiple of ``multiple`` (split evenly).

    Sides that already divide pass unchanged.  A side too short for reflect padding (a pad as
    large as the side) raises an ``InvalidArgumentError`` that says so.
    """

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        if int(multiple) < 1:
            raise ValueError(f"multiple must be >= 1, got {multiple}")
        self.multiple = int(multiple)

    def call(self, inputs):
        if self.multiple == 1:
            return inputs
        shape = tf.shape(inputs)
        top, bottom = _pad_amounts(shape[1], self.multiple)
        left, right = _pad_amounts(shape[2], self.multiple)
        minimum = minimum_side(self.multiple)
        check = tf.debugging.assert_greater_equal(
            tf.minimum(shape[1], shape[2]),
            minimum,
            message=(
                f"{self.name}: the image is too small to reflect-pad to a multiple of "
                f"{self.multiple} (the network's 2**depth); sides of at least {minimum} pixels "
                "are needed"
            ),
        )
        with tf.control_dependencies([check]):
            paddings = tf.stack([[0, 0], [top, bottom], [left, right], [0, 0]])
            padded = tf.pad(inputs, paddings, mode="REFLECT")
        # Dynamic paddings lose the static channel count, which the convolutions after this
        # (and TFLite's builtin Conv2D) need; a reshape with a constant channel restores it
        # (tf.ensure_shape would too, but is no TFLite builtin).
        return tf.reshape(padded, tf.stack(
            [shape[0], shape[1] + top + bottom, shape[2] + left + right, inputs.shape[-1]]
        ))

    def compute_output_shape(self, input_shape):
        def padded(side):
            return None if side is None else side + sum(_pad_amounts(side, self.multiple))

        return (input_shape[0], padded(input_shape[1]), padded(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="kerasdenoise")
class CropToReference(layers.Layer):
    """Undo :class:`ReflectPadToMultiple`: crop ``[padded, reference]`` to the reference's size."""

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, inputs):
        padded, reference = inputs
        shape = tf.shape(reference)
        top, _ = _pad_amounts(shape[1], self.multiple)
        left, _ = _pad_amounts(shape[2], self.multiple)
        return padded[:, top:top + shape[1], left:left + shape[2], :]

    def compute_output_shape(self, input_shapes):
        padded, reference = input_shapes
        return (padded[0], reference[1], reference[2], padded[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


def _conv(filters, name, activation="relu", kernel_size=3, kernel_initializer="he_normal"):
    return layers.Conv2D(
        filters, kernel_size, padding="same", activation=activation,
        kernel_initializer=kernel_initializer, name=name,
    )


def _double_conv(x, filters, name):
    """Ronneberger's level: conv3x3 + ReLU, conv3x3 + ReLU."""
    x = _conv(filters, f"{name}_conv1")(x)
    return _conv(filters, f"{name}_conv2")(x)


def _res_block(x, filters, name):
    """conv3x3 - ReLU - conv3x3, plus the input (a 1x1 projection of it if widths differ)."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = _conv(filters, f"{name}_projection", activation=None, kernel_size=1,
                         kernel_initializer="lecun_normal")(x)
    y = _conv(filters, f"{name}_conv1")(x)
    # Zero-initialized last convolution: the block starts as its shortcut (see module docstring).
    y = _conv(filters, f"{name}_conv2", activation=None, kernel_initializer="zeros")(y)
    return layers.Add(name=f"{name}_add")([shortcut, y])


def _up(x, filters, name):
    """2x2 stride-2 transposed convolution (Ronneberger's 'up-convolution'), no activation."""
    return layers.Conv2DTranspose(
        filters, 2, strides=2, padding="same", kernel_initializer="he_normal", name=f"{name}_upconv"
    )(x)


def _check_args(base_filters, depth, channels):
    if int(depth) < 1:
        raise ValueError(f"depth must be >= 1 (number of down-sampling blocks), got {depth}")
    if int(base_filters) < 1 or int(channels) < 1:
        raise ValueError(
            f"base_filters and channels must be positive, got {base_filters}, {channels}"
        )


def _u_net(name, depth, base_filters, channels, residual, init, down_level, merge):
    """The shared U as a model: pad, down levels (+ pool), bottleneck, up levels (transposed
    conv, ``merge`` with the skip: ``"concat"`` or ``"add"``, double conv), 1x1 out, crop,
    residual.

    ``init="he"`` with ``residual``: the 1x1 output convolution starts at zero (the untrained
    model is exactly the identity); everything else is initialised as with ``init="paper"``.
    """
    depth = int(depth)
    widths = [int(base_filters) * 2**level for level in range(depth + 1)]
    multiple = 2 ** depth
    inputs = keras.Input(shape=(None, None, channels), name="degraded")
    x = ReflectPadToMultiple(multiple, name="pad_to_multiple")(inputs)
    skips = []
    for level in range(depth):
        x = down_level(x, widths[level], f"down{level + 1}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level + 1}_pool")(x)
    x = down_level(x, widths[depth], "bottleneck")
    for level in reversed(range(depth)):
        level_name = f"up{level + 1}"
        x = _up(x, widths[level], level_name)
        if merge == "concat":
            x = layers.Concatenate(name=f"{level_name}_concat")([skips[level], x])
        else:
            x = layers.Add(name=f"{level_name}_skip_add")([skips[level], x])
        x = _double_conv(x, widths[level], level_name)
    out_init = "zeros" if init == "he" and residual else "he_normal"
    x = layers.Conv2D(channels, 1, kernel_initializer=out_init, name="out_conv")(x)
    x = CropToReference(multiple, name="crop_to_input")([x, inputs])
    if residual:
        x = layers.Add(name="restored")([inputs, x])
    return keras.Model(inputs, x, name=name)


def build_unet(
    base_filters: int = 64,
    depth: int = 4,
    channels: int = 3,
    residual: bool = True,
    init: str = "paper",
    name: str = "unet",
) -> keras.Model:
    """Ronneberger-style UNet denoiser with concatenation skips (see the module docstring).

    ``depth`` down-sampling blocks of widths ``base_filters * 2**level``, a bottleneck of
    ``base_filters * 2**depth``; ``residual`` returns ``input + net(input)`` (the authors' code).
    Any input size works (reflect padding to a multiple of ``2**depth`` inside).
    ``init`` (the training recipe's argument): ``"paper"`` (default) He normal, as described in
    the module docstring; ``"he"`` the same with, when ``residual``, a zero 1x1 output
    convolution, so the untrained model is exactly the identity.
    """
    check_recipe_args("unet", residual, init)
    _check_args(base_filters, depth, channels)
    return _u_net(name, depth, base_filters, channels, residual, init, _double_conv, "concat")


def build_resunet(
    base_filters: int = 64,
    depth: int = 4,
    channels: int = 3,
    res_blocks: int = 2,
    residual: bool = True,
    init: str = "paper",
    name: str = "resunet",
) -> keras.Model:
    """The paper's ResUNet: Res-block down path, **additive** skips (see the module docstring).

    Each of the ``depth`` down blocks (and the bottleneck) is ``res_blocks`` Res-blocks of
    conv3x3-ReLU-conv3x3 + input (1x1 projection where the width changes); the up path is
    transposed conv, + skip, double conv3x3 + ReLU.  ``residual`` returns
    ``input + net(input)`` as the authors' code did.  ``init``: as in :func:`build_unet`
    (``"he"`` with ``residual``: zero 1x1 output convolution, the untrained model is the
    identity; the zero-initialised Res-block closings and LeCun projections are kept).
    """
    check_recipe_args("resunet", residual, init)
    _check_args(base_filters, depth, channels)
    if int(res_blocks) < 1:
        raise ValueError(f"res_blocks must be >= 1, got {res_blocks}")

    def down_level(x, filters, name):
        for block in range(int(res_blocks)):
            x = _res_block(x, filters, f"{name}_res{block + 1}")
        return x

    return _u_net(name, depth, base_filters, channels, residual, init, down_level, "add")
