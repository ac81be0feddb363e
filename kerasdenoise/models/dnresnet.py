"""DN-ResNet and DS-DN-ResNet (Ren, El-khamy, Lee: "DN-ResNet: Efficient Deep Residual Network
for Image Denoising", ACCV 2018).

Registered builders:

- ``"dnresnet"``: the 3-layer base CNN (conv 64@9x9 + ReLU, conv 32@5x5 + ReLU, conv C@5x5)
  with ``blocks`` ResBlocks inserted before the last layer.  DN-ResNet-L has
  ``L = 3 + 2 * blocks`` convolutions (DN-ResNet-13: 5 blocks).  ``ds_blocks=k`` makes the
  last ``k`` blocks depthwise separable (the intermediate nets of incremental evolution).
- ``"ds_dnresnet"``: every block a DS-ResBlock (DS-DN-ResNet); first, second and last layers
  stay standard convolutions, as in the paper.

Design decisions (the paper's text decides; where README.md section 3 says something, it agrees):

- **Direct prediction, no global skip**: Sec. 3.1 says "the network takes a noisy image Y as
  input and predicts a clean image X as its output", and Fig. 2 shows no input-to-output skip;
  with 'valid' base convolutions a global skip would also need a crop.  So the model output is
  the last convolution itself, already following the project convention (degraded [0, 1] in,
  restored [0, 1] out; not clipped).
- **Initialisation N(0, 0.001) means standard deviation 0.001**: the paper writes "randomly
  initialized from a Gaussian distribution with sigma = 0.001", and sigma names the standard
  deviation (as in Caffe's ``gaussian`` filler ``std``, which SRCNN-style code of these authors
  uses).  Biases start at zero.
- **Padding**: the three base convolutions are 'valid' in training (``base_padding="valid"``:
  a 33x33 noisy patch gives the 17x17 output that is compared with the 17x17 clean center; the
  output pixel (i, j) sits at input pixel (i + 8, j + 8)).  ResBlock convolutions are always
  'same' (the paper zero-pads them "so that all the stages in cascade training have the same
  size as the output").  Whole images use ``base_padding="same"``; :func:`to_same_padding`
  converts a trained 'valid' model with identical weights.  The two forms agree exactly on the
  interior; near the border they differ because the 'valid' form's ResBlocks zero-pad the
  shrunk feature map while the 'same' form sees real features there.
- **Layer names** are stable per position so weights carry across cascade / evolution stages
  by name: ``conv1`` (9x9), ``conv2`` (5x5), ``res{i}_conv1`` / ``res{i}_conv2`` (ResBlock i,
  counted from the input side), ``res{i}_depthwise`` / ``res{i}_pointwise`` (DS-ResBlock i,
  deliberately different names: a DS block never inherits a standard block's weights) and
  ``output`` (the last 5x5).
- **Sizes** (weights only, one channel): 57,184 for the base, +18,432 per ResBlock
  (DN-ResNet-13: 149,344; 45.9 G MACs at 640x480), +1,312 per DS-ResBlock (one depthwise 3x3
  plus one pointwise 1x1-32: DS-DN-ResNet-13 63,744 weights and 19.6 G MACs).  The paper reports
  63,728 for DS-DN-ResNet-13 (16 fewer); the block structure of its Fig. 4b and its own MAC
  count (3*3*32 + 32*32 per pixel) give 63,744, which is what this builder has.
"""
from __future__ import annotations

import re

import keras
from keras import layers

from kerasdenoise.models._init import check_recipe_args

INIT_STDDEV = 0.001  # the paper's sigma = 0.001, a standard deviation
RES_FILTERS = 32
_PADDINGS = ("valid", "same")


# He-initialised residual nets start at the identity: the last layer's kernel is scaled by
# this (zero: the body's He features are large, any other scale leaves corrections of 1e-2 or
# more; Adam moves a zero layer as fast as any other, so the body gets gradients from step 2).
HE_OUTPUT_SCALE = 0.0


class _Init:
    """Kernel initialisers of one build: N(0, ``stddev``) (the paper) or He normal."""

    def __init__(self, init: str, stddev: float):
        self.init, self.stddev = init, stddev

    def kernel(self, scale: float = 1.0):
        if self.init == "paper":
            return keras.initializers.RandomNormal(mean=0.0, stddev=self.stddev)
        if scale == 0:
            return "zeros"
        # He normal is N(0, 2 / fan_in) truncated; scaled: variance 2 * scale^2 / fan_in
        return keras.initializers.VarianceScaling(2.0 * scale * scale, "fan_in", "truncated_normal")


def _conv(filters, size, padding, name, init: _Init, activation=None, scale: float = 1.0):
    return layers.Conv2D(
        filters, size, padding=padding, activation=activation, use_bias=True,
        kernel_initializer=init.kernel(scale), bias_initializer="zeros", name=name,
    )


def res_block(x, index: int, init: _Init, branch_scale: float = 1.0):
    """ResBlock of Fig. 1b: conv3x3-32, ReLU, conv3x3-32, + input (no BN, no ReLU after the sum)."""
    y = _conv(RES_FILTERS, 3, "same", f"res{index}_conv1", init, activation="relu")(x)
    y = _conv(RES_FILTERS, 3, "same", f"res{index}_conv2", init, scale=branch_scale)(y)
    return layers.Add(name=f"res{index}_add")([x, y])


# A DS-ResBlock closes with a ReLU, whose gradient is zero where its input is: a zero closing
# layer would keep the block at the identity for good.  An inserted DS block therefore starts
# near it instead: its pointwise layer at this fraction of the He scale (features move by ~1 %).
DS_INSERTED_SCALE = 0.01


def ds_res_block(x, index: int, init: _Init, branch_scale: float = 1.0):
    """DS-ResBlock of Fig. 4b: depthwise 3x3, ReLU, pointwise 1x1-32, ReLU, + input.

    ``branch_scale=0`` (a block inserted at the identity) gives :data:`DS_INSERTED_SCALE`."""
    y = layers.DepthwiseConv2D(
        3, padding="same", activation="relu", use_bias=True,
        depthwise_initializer=init.kernel(), bias_initializer="zeros",
        name=f"res{index}_depthwise",
    )(x)
    y = _conv(RES_FILTERS, 1, "same", f"res{index}_pointwise", init, activation="relu",
              scale=branch_scale or DS_INSERTED_SCALE)(y)
    return layers.Add(name=f"res{index}_add")([x, y])


def build_dnresnet(
    blocks: int = 5,
    channels: int = 1,
    base_padding: str = "valid",
    ds_blocks: int = 0,
    init_stddev: float = INIT_STDDEV,
    residual: bool = False,
    init: str = "paper",
    identity_blocks: tuple = (),
    name: str | None = None,
) -> keras.Model:
    """DN-ResNet with ``blocks`` ResBlocks, the last ``ds_blocks`` of them depthwise separable.

    Input ``(None, None, channels)``: any size; with ``base_padding="valid"`` the output is 16
    pixels smaller in each dimension (33x33 -> 17x17), with ``"same"`` it keeps the input size.

    - ``init="paper"``: all kernels ~ N(0, ``init_stddev``) (std), biases zero, and (with
      ``residual=False``) the output is the last convolution: the paper's direct prediction.
    - ``init="he"`` (the fast recipe): He-normal kernels, with ``residual=True`` the last
      layer's scaled by :data:`HE_OUTPUT_SCALE`; the blocks listed in ``identity_blocks`` get a zero-initialised
      closing layer (they start as the identity: blocks inserted by cascade or evolution; a
      DS block near it, :data:`DS_INSERTED_SCALE`).
    - ``residual=True``: the model returns input + last convolution (layer ``residual_add``;
      needs ``base_padding="same"``).
    """
    if int(blocks) != blocks or blocks < 0:
        raise ValueError(f"blocks must be a non-negative integer, got {blocks!r}")
    if int(ds_blocks) != ds_blocks or not 0 <= ds_blocks <= blocks:
        raise ValueError(f"ds_blocks must be an integer in [0, blocks={blocks}], got {ds_blocks!r}")
    if int(channels) != channels or channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels!r}")
    if base_padding not in _PADDINGS:
        raise ValueError(f"base_padding must be one of {_PADDINGS}, got {base_padding!r}")
    check_recipe_args("dnresnet", residual, init)
    if residual and base_padding != "same":
        raise ValueError("residual=True needs base_padding='same' (a 'valid' output is smaller "
                         "than its input)")
    initializers = _Init(init, init_stddev)
    if name is None:
        depth = 3 + 2 * blocks
        name = f"ds_dnresnet{depth}" if ds_blocks == blocks and blocks else f"dnresnet{depth}"
        if 0 < ds_blocks < blocks:
            name += f"_ds{ds_blocks}"
    inputs = keras.Input(shape=(None, None, channels), name="degraded")
    x = _conv(64, 9, base_padding, "conv1", initializers, activation="relu")(inputs)
    x = _conv(RES_FILTERS, 5, base_padding, "conv2", initializers, activation="relu")(x)
    first_ds = blocks - ds_blocks + 1
    for index in range(1, blocks + 1):
        block = ds_res_block if index >= first_ds else res_block
        x = block(x, index, initializers, branch_scale=0.0 if index in identity_blocks else 1.0)
    outputs = _conv(channels, 5, base_padding, "output", initializers,
                    scale=HE_OUTPUT_SCALE if residual else 1.0)(x)
    if residual:
        outputs = layers.Add(name="residual_add")([inputs, outputs])
    return keras.Model(inputs, outputs, name=name)


def build_ds_dnresnet(
    blocks: int = 5,
    channels: int = 1,
    base_padding: str = "valid",
    init_stddev: float = INIT_STDDEV,
    residual: bool = False,
    init: str = "paper",
    name: str | None = None,
) -> keras.Model:
    """DS-DN-ResNet: :func:`build_dnresnet` with every block a DS-ResBlock."""
    return build_dnresnet(blocks=blocks, channels=channels, base_padding=base_padding,
                          ds_blocks=blocks, init_stddev=init_stddev, residual=residual,
                          init=init, name=name)


_BLOCK_LAYER = re.compile(r"^res(\d+)_(conv1|conv2|depthwise|pointwise)$")


def describe(model: keras.Model) -> dict:
    """``{"blocks", "ds_blocks", "channels", "base_padding"}`` of a DN-ResNet built here.

    Read from the layer names and the base layers' padding, so a model loaded from a
    ``.keras`` file can be rebuilt, grown (cascade) or evolved without any side file.
    """
    names = [layer.name for layer in model.layers]
    if "conv1" not in names or "output" not in names:
        raise ValueError(
            f"model {model.name!r} is not a DN-ResNet built by kerasdenoise (needs layers "
            f"'conv1' and 'output'; has {names})"
        )
    kinds = {}
    for layer_name in names:
        match = _BLOCK_LAYER.match(layer_name)
        if match:
            kind = "ds" if match.group(2) in ("depthwise", "pointwise") else "res"
            kinds.setdefault(int(match.group(1)), set()).add(kind)
    blocks = len(kinds)
    if sorted(kinds) != list(range(1, blocks + 1)) or any(len(k) != 1 for k in kinds.values()):
        raise ValueError(f"model {model.name!r} has inconsistent ResBlock layers: {kinds}")
    ds = [i for i in range(1, blocks + 1) if kinds[i] == {"ds"}]
    if ds != list(range(blocks - len(ds) + 1, blocks + 1)):
        raise ValueError(f"model {model.name!r}: DS blocks {ds} are not the last ones")
    return {
        "blocks": blocks,
        "ds_blocks": len(ds),
        "channels": int(model.get_layer("conv1").kernel.shape[2]),
        "base_padding": model.get_layer("conv1").padding,
        "residual": "residual_add" in names,
    }


def copy_weights_by_name(source: keras.Model, target: keras.Model) -> list[str]:
    """Copy the weights of every layer of ``target`` that ``source`` has under the same name.

    Returns the names of the copied layers; layers only in ``target`` keep their (fresh)
    initialisation.  A same-named layer with other weight shapes is an error.
    """
    source_layers = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in target.layers:
        if not layer.weights or layer.name not in source_layers:
            continue
        values = source_layers[layer.name].get_weights()
        shapes = [tuple(v.shape) for v in values]
        expected = [tuple(w.shape) for w in layer.weights]
        if shapes != expected:
            raise ValueError(
                f"layer {layer.name!r}: weights of shapes {shapes} cannot replace {expected}"
            )
        layer.set_weights(values)
        copied.append(layer.name)
    return copied


def rebuild(model: keras.Model, *, blocks: int | None = None, ds_blocks: int | None = None,
            base_padding: str | None = None, init_stddev: float = INIT_STDDEV,
            init: str = "paper") -> keras.Model:
    """A DN-ResNet like ``model`` with some of its structure changed, inheriting every layer
    whose name (and shape) is still there.

    - ``blocks=n+1``: cascade growth; the new ResBlock ``res{n+1}`` goes just before the last
      layer, so the output barely changes (``init="paper"``: N(0, ``init_stddev``) weights) or
      not at all (``init="he"``: its closing layer starts at zero).
    - ``ds_blocks=k``: incremental evolution; the last ``k`` blocks become DS-ResBlocks with
      fresh weights (with ``init="he"`` the new DS blocks start near the identity: see
      :data:`DS_INSERTED_SCALE`), all other layers keep theirs.
    - ``base_padding``: 'valid' <-> 'same' with identical weights.
    """
    spec = describe(model)
    new_blocks = spec["blocks"] if blocks is None else blocks
    new_ds = spec["ds_blocks"] if ds_blocks is None else ds_blocks
    old_ds = set(range(spec["blocks"] - spec["ds_blocks"] + 1, spec["blocks"] + 1))
    new_ds_set = set(range(new_blocks - new_ds + 1, new_blocks + 1))
    fresh = {i for i in range(1, new_blocks + 1)
             if i > spec["blocks"] or (i in new_ds_set) != (i in old_ds)}
    target = build_dnresnet(
        blocks=new_blocks, channels=spec["channels"],
        base_padding=spec["base_padding"] if base_padding is None else base_padding,
        ds_blocks=new_ds, init_stddev=init_stddev, residual=spec["residual"], init=init,
        identity_blocks=tuple(sorted(fresh)) if init == "he" else (),
    )
    copy_weights_by_name(model, target)
    return target


def to_same_padding(model: keras.Model) -> keras.Model:
    """The 'same'-padded (whole-image) form of a trained model, with identical weights.

    Works on any functional model of standard layers (every ``padding='valid'`` becomes
    ``'same'``), so DN-ResNet, DS-DN-ResNet and mixed nets alike; a model already in 'same'
    form comes back as an equal copy.
    """

    def same_padded(layer):
        config = layer.get_config()
        if config.get("padding") == "valid":
            config["padding"] = "same"
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=same_padded)
    copy_weights_by_name(model, clone)
    return clone
