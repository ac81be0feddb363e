"""10-layer conv-deconv network with gated symmetric connections (Zhao, Stanford CS231n 2016,
"Image Denoising with Deep Convolutional Neural Networks"), and its small classifier.

Registered builders:

- ``"gated_convdeconv"`` (:func:`build_gated_convdeconv`): the denoiser, with the paper's
  'Direct Symmetric Connections' (DSC, gates 0.1/0.2/0.3/0.4) or, with ``gates=None``, the plain
  10-layer conv-deconv ablation;
- ``"gated_classifier"`` (:func:`build_gated_classifier`): the same 5 conv layers + FC-1024 +
  softmax, whose FC-1024 features give the paper's perceptual loss
  (:mod:`kerasdenoise.losses.classifier`) and which can start from the denoiser's conv weights
  (:func:`init_classifier_from_denoiser`, the transfer experiment of the paper's Fig. 10-11).

The module name follows Mao et al.'s RED-Net, the 30-layer symmetric-skip network this paper
extends.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import keras
from keras import layers, ops

from kerasdenoise.models._init import check_recipe_args

# (filters, stride) of Conv-1..Conv-5 and Deconv-1..Deconv-4; Deconv-5 gives the image channels.
# Table 1 of the paper for a 64x64 input: 64x64x64, 32x32x64, 16x16x128, 8x8x256, 4x4x512 then
# 8x8x256, 16x16x128, 32x32x64, 64x64x64, 64x64x3 (the paper's "518" is a typo for 512).
CONV_LAYERS = ((64, 1), (64, 2), (128, 2), (256, 2), (512, 2))
DECONV_LAYERS = ((256, 2), (128, 2), (64, 2), (64, 2))
PAPER_GATES = (0.1, 0.2, 0.3, 0.4)
# Total downsampling of the conv stack: image sides must be multiples of this.
SIZE_MULTIPLE = 16


@keras.saving.register_keras_serializable(package="kerasdenoise")
class UnitInterval(keras.constraints.Constraint):
    """Keeps a learnable gate in [0, 1] (a gating factor outside it has no meaning)."""

    def __call__(self, w):
        return ops.clip(w, 0.0, 1.0)

    def get_config(self):
        return {}


@keras.saving.register_keras_serializable(package="kerasdenoise")
class GatingFactor(layers.Layer):
    """One gating factor ``delta`` of the paper, shared by its two uses.

    ``gate(x)`` returns ``delta * x`` (the gated input of a conv layer);
    ``gate(x, complement=True)`` returns ``(1 - delta) * x`` (the gated symmetric connection).
    ``delta`` is a scalar weight: fixed (non-trainable) unless ``learnable=True``, in which case
    it is trained with the network and kept in [0, 1].  Calling the same layer for both uses
    makes a learnable gate one variable, as in the paper's equations.
    """

    def __init__(self, delta: float, learnable: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(delta) <= 1.0:
            raise ValueError(f"gating factor must be in [0, 1], got {delta!r}")
        self.initial_delta = float(delta)
        self.learnable = bool(learnable)
        self.delta = self.add_weight(
            name="delta",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_delta),
            trainable=self.learnable,
            constraint=UnitInterval() if self.learnable else None,
        )

    def call(self, inputs, complement=False):
        delta = ops.cast(self.delta, inputs.dtype)
        return inputs * ((1.0 - delta) if complement else delta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "delta": self.initial_delta, "learnable": self.learnable}


@keras.saving.register_keras_serializable(package="kerasdenoise")
class SizeCheck(layers.Layer):
    """Identity that refuses images whose sides are not multiples of ``multiple``.

    Four stride-2 convolutions then four stride-2 transposed convolutions only give back the
    input size (and matching shapes for the symmetric connections) when the sides divide by 16;
    otherwise the output would silently have another size.  The check uses the static shape
    (eager calls, a ``fit`` on fixed-size patches): ValueError naming the size; a shape only
    known at run time (e.g. inside ``predict``) is checked by a graph assertion that prints the
    shape (``tf.errors.InvalidArgumentError``).
    """

    def __init__(self, multiple: int = SIZE_MULTIPLE, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def _message(self, height, width):
        return (
            f"gated_convdeconv needs image sides divisible by {self.multiple} (4 stride-2 "
            f"layers), got a {height}x{width} input; crop or pad it, e.g. to "
            f"{height - height % self.multiple}x{width - width % self.multiple}"
        )

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        if height is not None and width is not None:
            if height % self.multiple or width % self.multiple:
                raise ValueError(self._message(height, width))
            return inputs
        import tensorflow as tf

        dynamic = tf.shape(inputs)
        divisible = tf.reduce_all(tf.equal(tf.math.floormod(dynamic[1:3], self.multiple), 0))
        check = tf.debugging.Assert(
            divisible,
            [f"gated_convdeconv needs image sides divisible by {self.multiple}; input shape:",
             dynamic],
        )
        with tf.control_dependencies([check]):
            return tf.identity(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


def _check_input_size(input_size):
    if input_size is None:
        return None
    height, width = (input_size, input_size) if np.isscalar(input_size) else tuple(input_size)
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise ValueError(
            f"input_size {height}x{width} is not divisible by {SIZE_MULTIPLE}: the gated "
            f"conv-deconv network has 4 stride-2 layers"
        )
    return int(height), int(width)


def _check_gates(gates):
    if gates is None:
        return None
    gates = tuple(float(g) for g in gates)
    if len(gates) != 4:
        raise ValueError(
            f"gates must give 4 gating factors (Conv-1..Conv-4), got {len(gates)}: {gates}"
        )
    for g in gates:
        if not 0.0 <= g <= 1.0:
            raise ValueError(f"each gate must be in [0, 1], got {gates}")
    return gates


def _conv_stack(x, gate_layers, kernel_initializer):
    """Conv-1..Conv-5 (3x3, ReLU); returns [X_1, ..., X_5]."""
    outputs = []
    for index, (filters, stride) in enumerate(CONV_LAYERS, start=1):
        if gate_layers is not None and index <= len(gate_layers):
            x = gate_layers[index - 1](x)  # Conv-i sees delta_i * X_{i-1}
        x = layers.Conv2D(
            filters, 3, strides=stride, padding="same", activation="relu",
            kernel_initializer=kernel_initializer, name=f"conv{index}",
        )(x)
        outputs.append(x)
    return outputs


def build_gated_convdeconv(
    gates: Optional[Sequence[float]] = PAPER_GATES,
    channels: int = 3,
    learnable_gates: bool = False,
    output_activation: Optional[str] = None,
    input_size=None,
    kernel_initializer="he_normal",
    residual: bool = False,
    init: str = "paper",
    name: str | None = None,
) -> keras.Model:
    """The paper's 10-layer conv-deconv denoiser, with or without gated symmetric connections.

    Layers (Table 1, for a 64x64 input; any size whose sides divide by 16 works):
    Conv-1..Conv-5 = 3x3 convolutions + ReLU to 64x64x64 (stride 1), 32x32x64, 16x16x128,
    8x8x256, 4x4x512 (stride 2); Deconv-1..Deconv-5 = 3x3 transposed convolutions to 8x8x256,
    16x16x128, 32x32x64, 64x64x64 (stride 2), 64x64x``channels`` (stride 1).

    Gates (``gates=(d1, d2, d3, d4)``, the paper's 'DSC' = 0.1, 0.2, 0.3, 0.4), following the
    paper's equations ``X_i = ReLU(Conv(delta * X_{i-1}))`` and
    ``X'_i = ReLU(Deconv(X'_{i-1} + (1 - delta) * X_i))`` with ``delta`` read as the factor of
    conv layer ``i`` (the reading guide's statement, implemented literally):

    - Conv-i (i = 1..4) sees ``d_i * X_{i-1}`` (``X_0`` = the noisy image); Conv-5 sees ``X_4``
      unscaled (the paper gives no fifth factor: Conv-5 has no connection).
    - The conv output ``X_i`` (i = 1..4) reaches the deconv layer whose input has its shape,
      scaled by ``(1 - d_i)``: Deconv-2 sees ``X'_1 + (1 - d_4) X_4``, Deconv-3
      ``X'_2 + (1 - d_3) X_3``, Deconv-4 ``X'_3 + (1 - d_2) X_2``, Deconv-5
      ``X'_4 + (1 - d_1) X_1``; Deconv-1 sees ``X'_0 = X_5``.  (The paper writes the
      connection as ``X_i`` inside ``X'_i``; with its Table 1 only the mirrored pairing, conv
      ``i`` with deconv ``6 - i``, has matching shapes, and it is what 'symmetric' means.)

    So gate ``i`` belongs to Conv-i: it damps what Conv-i receives (``d_i``) and sets how much of
    what Conv-i produces crosses to the decoder (``1 - d_i``).  (Another reading of the paper,
    ``d_i`` splitting ``X_i`` between Conv-(i+1) and the connection, would scale Conv-(i+1)'s
    input by ``d_i`` instead; the reading guide fixes the literal one, used here.)  Each gate
    is a :class:`GatingFactor` layer
    ``gate1..gate4``: a fixed scalar by default, one trainable scalar (kept in [0, 1]) per gate
    with ``learnable_gates=True``.  ``gates=None`` is the paper's ablation: no connections and no
    input scaling, a plain 10-layer conv-deconv net.

    Output: the paper applies ReLU after every layer, Deconv-5 included, because pixel values are
    non-negative.  Here images are in [0, 1], so ``output_activation="clip"`` (the default
    without ``residual``) is that ReLU capped at 1 (``ReLU(max_value=1)``, i.e. a linear output
    clipped to [0, 1]); ``"sigmoid"`` is offered as a smooth alternative (the clip passes no
    gradient where the pre-activation is outside [0, 1], as the paper's ReLU below 0);
    ``"linear"`` returns Deconv-5 (or the residual sum) as it is.  No residual learning by
    default (the paper has none).  Where the paper and the reading guide differ, the guide is
    followed: Conv-5 has 512 channels (the paper's '518' is a typo), and training uses 64x64
    crops of any image set instead of STL-10.

    ``input_size`` (int or (h, w)) fixes the input shape; by default it is ``(None, None,
    channels)`` and the size is checked when the model is called (ValueError naming the size).
    Weights: ``he_normal`` (Keras draws it from a truncated normal, as the paper's
    'truncated normal initialization').

    ``residual`` / ``init`` are the training recipe's arguments (``kerasdenoise.training.recipe``):
    ``residual=True`` returns ``input + Deconv-5(...)`` (layer ``residual_add``, Deconv-5 then
    predicts a correction); its default output activation is ``"linear"`` (the unclipped sum,
    the project convention), ``"clip"`` clips the sum to [0, 1], ``"sigmoid"`` is refused (it
    would squash the sum).  ``init="paper"`` (default): ``kernel_initializer`` everywhere,
    today's network; ``init="he"``: He normal everywhere and, with ``residual=True``, a zero
    Deconv-5, so the untrained model is exactly the identity (``kernel_initializer`` must then
    stay at its default).
    """
    check_recipe_args("gated_convdeconv", residual, init)
    if output_activation is None:
        output_activation = "linear" if residual else "clip"
    if init == "he" and kernel_initializer != "he_normal":
        raise ValueError(
            "gated_convdeconv: init='he' sets the kernel initialisers; leave kernel_initializer "
            f"at its default 'he_normal' (got {kernel_initializer!r})"
        )
    gates = _check_gates(gates)
    if gates is None and learnable_gates:
        raise ValueError(
            "learnable_gates=True needs gates (e.g. (0.1, 0.2, 0.3, 0.4)), got gates=None"
        )
    if channels < 1:
        raise ValueError(f"channels must be positive, got {channels}")
    if output_activation not in ("clip", "sigmoid", "linear"):
        raise ValueError(
            f"output_activation must be 'clip', 'sigmoid' or 'linear', got {output_activation!r}"
        )
    if residual and output_activation == "sigmoid":
        raise ValueError(
            "gated_convdeconv: residual=True cannot use output_activation='sigmoid' (it would "
            "squash input + correction); use 'linear' (default) or 'clip'"
        )
    size = _check_input_size(input_size)
    if name is None:
        name = "gated_convdeconv" if gates is not None else "convdeconv"
    inputs = keras.Input(shape=(*(size or (None, None)), channels), name="degraded")
    x = SizeCheck(name="size_check")(inputs)
    gate_layers = None
    if gates is not None:
        gate_layers = [
            GatingFactor(delta, learnable=learnable_gates, name=f"gate{i}")
            for i, delta in enumerate(gates, start=1)
        ]
    conv_outputs = _conv_stack(x, gate_layers, kernel_initializer)

    x = conv_outputs[-1]  # X'_0 = X_5
    for index, (filters, stride) in enumerate(DECONV_LAYERS, start=1):
        if gate_layers is not None and index > 1:
            conv_index = 6 - index  # Deconv-i is paired with Conv-(6 - i)
            skip = gate_layers[conv_index - 1](conv_outputs[conv_index - 1], complement=True)
            x = layers.Add(name=f"dsc{conv_index}")([x, skip])
        x = layers.Conv2DTranspose(
            filters, 3, strides=stride, padding="same", activation="relu",
            kernel_initializer=kernel_initializer, name=f"deconv{index}",
        )(x)
    if gate_layers is not None:
        skip = gate_layers[0](conv_outputs[0], complement=True)
        x = layers.Add(name="dsc1")([x, skip])
    x = layers.Conv2DTranspose(
        channels, 3, strides=1, padding="same", name="deconv5",
        kernel_initializer="zeros" if init == "he" and residual else kernel_initializer,
    )(x)
    if residual:
        x = layers.Add(name="residual_add")([inputs, x])
    if output_activation == "clip":
        outputs = layers.ReLU(max_value=1.0, name="restored")(x)
    elif output_activation == "sigmoid":
        outputs = layers.Activation("sigmoid", name="restored")(x)
    else:
        outputs = x if residual else layers.Identity(name="restored")(x)
    return keras.Model(inputs, outputs, name=name)


def build_gated_classifier(
    num_classes: int = 10,
    channels: int = 3,
    image_size: int = 64,
    dropout: float = 0.5,
    kernel_initializer="he_normal",
    name: str = "gated_classifier",
) -> keras.Model:
    """The paper's small classifier (Table 2): Conv-1..Conv-5 as in the denoiser (same layer
    names ``conv1..conv5``, so weights transfer), Flatten, FC-1024 + ReLU (``fc1024``, the
    perceptual-loss features), dropout (the paper's 'fully-connected layer with drop-out'; the
    rate is not given, 0.5 here), and a softmax over ``num_classes`` (``predictions``).

    Input ``image_size`` x ``image_size`` x ``channels`` in [0, 1], fixed because of the FC
    layer; it must divide by 16.  No gates: a gated denoiser's ``delta_i`` are folded into the
    kernels by :func:`init_classifier_from_denoiser`.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    height, width = _check_input_size(image_size)
    inputs = keras.Input(shape=(height, width, channels), name="image")
    x = _conv_stack(inputs, None, kernel_initializer)[-1]
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", kernel_initializer=kernel_initializer,
                     name="fc1024")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def conv_layer_names():
    """``['conv1', ..., 'conv5']``: the layers a denoiser and a classifier share."""
    return [f"conv{i}" for i in range(1, len(CONV_LAYERS) + 1)]


def init_classifier_from_denoiser(classifier: keras.Model, denoiser: keras.Model,
                                  fold_gates: bool = False) -> keras.Model:
    """Copy the denoiser's Conv-1..Conv-5 weights into ``classifier`` (in place; returned).

    By default the kernels and biases are copied as they are: the paper's transfer ("applying
    learned weights of the Conv layers as pre-training initialization"; its classifier has no
    gates).  With ``fold_gates=True`` a gated denoiser's input factor ``delta_i`` of Conv-i is
    folded into the copied kernel (``Conv(delta * x, W) + b = Conv(x, delta * W) + b``), so the
    classifier's conv stack computes exactly the denoiser's features ``X_1..X_5``; those are
    small (the factors multiply along the stack: 0.1 * 0.2 * 0.3 * 0.4 = 0.0024 for the DSC
    gates, biases aside), which can leave a freshly initialised FC layer near-uniform.
    Raises ValueError naming the layer when a layer is missing or its shape differs (e.g.
    another channel count).
    """
    for index, layer_name in enumerate(conv_layer_names(), start=1):
        try:
            source = denoiser.get_layer(layer_name)
        except ValueError:
            raise ValueError(
                f"denoiser {denoiser.name!r} has no layer {layer_name!r}: "
                "expected a 'gated_convdeconv' model"
            ) from None
        try:
            target = classifier.get_layer(layer_name)
        except ValueError:
            raise ValueError(
                f"classifier {classifier.name!r} has no layer {layer_name!r}: "
                "expected a 'gated_classifier' model"
            ) from None
        kernel, bias = source.get_weights()
        target_shapes = [w.shape for w in target.get_weights()]
        if [kernel.shape, bias.shape] != [tuple(s) for s in target_shapes]:
            raise ValueError(
                f"layer {layer_name}: denoiser weights {kernel.shape}, {bias.shape} do not fit "
                f"the classifier's {target_shapes} (same channels needed)"
            )
        if fold_gates:
            try:
                gate = denoiser.get_layer(f"gate{index}")
            except ValueError:
                gate = None
            if gate is not None:
                kernel = kernel * float(gate.delta.numpy())  # convert_to_numpy(variable) warns (NumPy 2)
        target.set_weights([kernel, bias])
    return classifier
