"""DnCNN (Zhang et al., TIP 2017): a trainable Keras builder and an importer for the official weights.

``build_dncnn`` is the network ``"dncnn"``.  ``load_matconvnet_dncnn`` turns the official
MatConvNet models (``sigma=15/25/50.mat`` DnCNN-S, ``GD_Gray_Blind.mat`` DnCNN-B,
``GD_Color_Blind.mat`` CDnCNN-B, ``DnCNN3.mat``) into Keras models with the same convention as
every other denoiser here: degraded image in [0, 1] -> restored image in [0, 1] (not clipped;
the net predicts the noise and the model subtracts it).
"""
from __future__ import annotations

import os

import numpy as np
import keras
from keras import layers

from kerasdenoise.models._init import check_recipe_args


def build_dncnn(
    depth: int = 17,
    channels: int = 1,
    filters: int = 64,
    batch_norm: bool = True,
    residual: bool = True,
    init: str = "paper",
    name: str = "dncnn",
) -> keras.Model:
    """DnCNN with residual learning inside: ``output = input - net(input)``.

    ``net`` = conv3x3-``filters`` + ReLU, ``depth - 2`` x [conv3x3 (no bias when followed by
    BN) + BN + ReLU], conv3x3-``channels``.  ``depth`` 17 is DnCNN-S, 20 DnCNN-B / DnCNN-3.
    Input shape ``(None, None, channels)``: any image size, 'same' padding everywhere.
    BN epsilon is 1e-4 as in MatConvNet's ``vl_nnbnorm`` used by the authors.

    ``residual`` / ``init`` are the training recipe's arguments (``kerasdenoise.training.recipe``):
    DnCNN is always residual (the model subtracts the predicted noise), so ``residual=False`` is
    refused.  ``init="paper"`` (default): He normal everywhere, the paper's and today's network;
    ``init="he"``: the same, but the last convolution (``residual``) starts at zero, so the
    untrained model is exactly the identity.
    """
    check_recipe_args("dncnn", residual, init)
    if not residual:
        raise ValueError(
            "dncnn: residual=False is not supported; DnCNN always predicts the noise and returns "
            "input - net(input) (the recipe 'paper' passes no residual argument)"
        )
    if depth < 2:
        raise ValueError(f"depth must be >= 2 (first and last convolution), got {depth}")
    if channels < 1 or filters < 1:
        raise ValueError(f"channels and filters must be positive, got {channels}, {filters}")
    inputs = keras.Input(shape=(None, None, channels), name="degraded")
    x = layers.Conv2D(
        filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name="conv1"
    )(inputs)
    for i in range(2, depth):
        x = layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=not batch_norm,
            kernel_initializer="he_normal",
            name=f"conv{i}",
        )(x)
        if batch_norm:
            # synchronized: the global batch's statistics under a tf.distribute strategy
            x = layers.BatchNormalization(epsilon=1e-4, synchronized=True, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    noise = layers.Conv2D(
        channels, 3, padding="same", name="residual",
        kernel_initializer="zeros" if init == "he" else "he_normal",
    )(x)
    outputs = layers.Subtract(name="restored")([inputs, noise])
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------------------------
# Official MatConvNet weights


def _matlab_string(dataset) -> str:
    """A MATLAB char array stored by v7.3 (uint16 code points) as a Python string."""
    return "".join(chr(int(c)) for c in np.asarray(dataset[()]).flatten())


def _matlab_array(handle, shape_ndim: int) -> np.ndarray:
    """A numeric MATLAB array from HDF5, in MATLAB's own dimension order.

    HDF5 stores MATLAB's column-major arrays with the dimensions reversed, and MATLAB drops
    trailing singleton dimensions (so a 3x3x64x1 kernel arrives as (64, 3, 3)); this restores
    the ``shape_ndim`` MATLAB dimensions.
    """
    array = np.asarray(handle[()])
    array = array.reshape((1,) * (shape_ndim - array.ndim) + array.shape)
    return np.transpose(array, tuple(reversed(range(shape_ndim))))


def _read_matconvnet_layers(path: str):
    """[(type, kernel (kh, kw, in, out) or None, bias or None, pad, stride, leak), ...]."""
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(
            f"{path} is not a DnCNN MatConvNet model: cannot read it as a MATLAB v7.3 (HDF5) "
            f"file ({err})"
        ) from None
    with handle:
        if "net" not in handle or "layers" not in handle["net"]:
            raise ValueError(
                f"{path} is not a DnCNN MatConvNet model: it has no 'net/layers' "
                f"(top-level keys: {sorted(handle.keys())})"
            )
        refs = np.asarray(handle["net/layers"][()]).flatten()
        parsed = []
        for index, ref in enumerate(refs):
            try:
                layer = handle[ref]
                kind = _matlab_string(layer["type"])
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(
                    f"{path} is not a DnCNN MatConvNet model: layer {index} has no readable "
                    f"'type' ({err})"
                ) from None
            if kind == "conv":
                weight_refs = np.asarray(layer["weights"][()]).flatten()
                kernel = _matlab_array(handle[weight_refs[0]], 4).astype(np.float32)
                bias = None
                if len(weight_refs) > 1:
                    bias = np.asarray(handle[weight_refs[1]][()], np.float32).flatten()
                    if bias.size == 0:
                        bias = None
                pad = np.asarray(layer["pad"][()]).flatten() if "pad" in layer else np.zeros(1)
                stride = (
                    np.asarray(layer["stride"][()]).flatten() if "stride" in layer else np.ones(1)
                )
                parsed.append(("conv", kernel, bias, pad, stride, None))
            elif kind == "relu":
                leak = float(np.asarray(layer["leak"][()]).flatten()[0]) if "leak" in layer else 0.0
                parsed.append(("relu", None, None, None, None, leak))
            else:
                raise ValueError(
                    f"{path}: layer {index} has type {kind!r}; a DnCNN model (batch norm folded) "
                    f"has only 'conv' and 'relu' layers"
                )
    return parsed


def load_matconvnet_dncnn(path: str, name: str | None = None) -> keras.Model:
    """Keras model from an official DnCNN MatConvNet ``.mat`` file (MATLAB v7.3 / HDF5).

    The file's ``net/layers`` is a cell array of structs (``type`` 'conv' / 'relu', conv
    ``weights`` = {kernel, bias}, ``pad``, ``stride``) with batch normalization folded into the
    convolutions.  MatConvNet stores a kernel as MATLAB ``[kh, kw, in, out]`` (h5py shows it
    reversed as ``(out, in, kw, kh)``) and, like Keras, computes a correlation; so the Keras
    kernel is the MATLAB array as is.  (This orientation follows from the storage format; the
    published numbers can hardly tell: DnCNN was trained with flips and rotations, so the
    spatially transposed kernels also denoise well -- 29.227 dB against 29.229 dB with the
    orientation used here, DnCNN-S sigma 25 on BSD68, one noise draw.)

    Returns a model ``degraded [B, H, W, C] in [0, 1] -> input - net(input)`` with input shape
    ``(None, None, C)``; C = 1 for all files except ``GD_Color_Blind.mat`` (3).
    Raises FileNotFoundError for a missing file, ValueError naming the file for anything that
    is not such a model.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"DnCNN MatConvNet model not found: {path}")
    parsed = _read_matconvnet_layers(path)
    convs = [p for p in parsed if p[0] == "conv"]
    if not convs:
        raise ValueError(f"{path} is not a DnCNN MatConvNet model: it has no conv layers")
    channels = convs[0][1].shape[2]
    if convs[-1][1].shape[3] != channels:
        raise ValueError(
            f"{path} is not a DnCNN model: the last conv gives {convs[-1][1].shape[3]} channels "
            f"but the first takes {channels} (a residual net needs the same)"
        )
    if name is None:
        stem = os.path.splitext(os.path.basename(path))[0]
        name = "dncnn_" + "".join(c if c.isalnum() else "_" for c in stem)

    inputs = keras.Input(shape=(None, None, channels), name="degraded")
    x = inputs
    previous_in = channels
    conv_index = 0
    for kind, kernel, bias, pad, stride, leak in parsed:
        if kind == "relu":
            x = layers.ReLU(negative_slope=leak, name=f"relu{conv_index}")(x)
            continue
        conv_index += 1
        kh, kw, cin, cout = kernel.shape
        if cin != previous_in:
            raise ValueError(
                f"{path}: conv {conv_index} takes {cin} channels but receives {previous_in}"
            )
        if np.any(stride != 1):
            raise ValueError(f"{path}: conv {conv_index} has stride {stride.tolist()}, DnCNN uses 1")
        expected_pad = ((kh - 1) // 2, (kw - 1) // 2)
        if kh % 2 == 0 or kw % 2 == 0 or not np.all(np.isin(pad, expected_pad)) or (
            pad.size == 4 and (pad[0] != pad[1] or pad[2] != pad[3])
        ):
            raise ValueError(
                f"{path}: conv {conv_index} pads {pad.tolist()} with a {kh}x{kw} kernel; only "
                f"'same' padding is supported"
            )
        conv = layers.Conv2D(
            cout, (kh, kw), padding="same", use_bias=True, name=f"conv{conv_index}"
        )
        x = conv(x)
        conv.set_weights([kernel, bias if bias is not None else np.zeros(cout, np.float32)])
        previous_in = cout
    outputs = layers.Subtract(name="restored")([inputs, x])
    return keras.Model(inputs, outputs, name=name)
