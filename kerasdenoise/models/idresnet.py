"""IDResNet (Chen et al., ICISS 2019) and the SRGAN discriminator (Ledig et al., CVPR 2017).

``build_idresnet`` (the network ``"idresnet"``) is the IDGAN generator: SRResNet without batch
normalization and without the PixelShuffler up-sampling, with 32 residual blocks instead of 16.
``build_srgan_discriminator`` (``"srgan_discriminator"``) is the SRGAN discriminator, used by
``kerasdenoise.training.gan.IDGAN``.

Scaling, as in the paper (and SRGAN): the noisy input is in [0, 1], the clean target is mapped to
[-1, 1] and the generator is trained to output [-1, 1] (the MSE is computed there).  Every other
denoiser in kerasdenoise maps [0, 1] -> [0, 1], so :func:`to_unit_range` wraps the generator as
``(G(y) + 1) / 2``; that wrapper is what is saved as ``final.keras``, evaluated and exported, so
PSNR compares directly with the other models.  :func:`generator_of` gets the [-1, 1] generator back
out of such a wrapper (phase 2 starts from phase 1 this way).
"""
from __future__ import annotations

import keras
from keras import layers

from kerasdenoise.models._init import check_recipe_args

# PyTorch's default convolution initializer (kaiming_uniform with a = sqrt(5), i.e. variance
# 1 / (3 fan_in)).  The paper does not give one.  With 32 residual blocks and no batch
# normalization every residual branch adds its variance to the trunk, so the usual
# initializers blow the features up; measured with random 48x48 inputs at blocks=32, filters=64
# (std of the trunk after the last block / of the output): He normal 2.5e7 / 4.4e7, Glorot
# uniform 40 / 52, this one 0.40 / 0.12.
DEFAULT_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_in", "distribution": "uniform"},
}


def _prelu(name):
    # shared_axes=[1, 2]: one slope per channel, as PReLU in SRResNet (and He et al. 2015);
    # also what keeps the network fully convolutional.  Slopes start at 0.25 (He et al.).
    return layers.PReLU(
        alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name
    )


def build_idresnet(
    blocks: int = 32,
    filters: int = 64,
    channels: int = 3,
    output_activation: str = "linear",
    unit_range: bool = False,
    kernel_initializer=None,
    residual: bool = False,
    init: str = "paper",
    name: str = "idresnet",
) -> keras.Model:
    """The IDResNet generator: noisy ``[B, H, W, channels]`` in [0, 1] -> ``[B, H, W, channels]`` in [-1, 1].

    conv9x9-``filters`` + PReLU; ``blocks`` x [conv3x3, PReLU, conv3x3, + block input];
    conv3x3-``filters`` + the first features (the long skip); conv9x9-``channels``.  'same'
    padding and stride 1 everywhere, input shape ``(None, None, channels)``: any image size.
    The paper (section 3.1.1, and README section 2) has 32 blocks of 64 filters and RGB in/out.

    ``output_activation``: ``"linear"`` (default) or ``"tanh"``.  The paper's Figure 1 is lost in
    the text; SRGAN's generator figure (which IDResNet follows) ends in a plain k9n3s1
    convolution, so the default is linear: the target range [-1, 1] is learnt through the MSE, and
    outputs are clipped to [0, 1] (after :func:`to_unit_range`) before measuring, like every model
    here.  ``"tanh"`` bounds the output exactly (as some SRGAN re-implementations do) at the cost
    of saturating gradients for black / white pixels.

    ``unit_range=True`` returns ``to_unit_range(generator)`` instead: [0, 1] in and out.
    ``kernel_initializer`` defaults to :data:`DEFAULT_KERNEL_INITIALIZER` (see its comment).

    ``residual`` / ``init`` are the training recipe's arguments (``kerasdenoise.training.recipe``):

    - ``residual=True``: the generator returns ``(2 * input - 1) + conv_out(...)``, the noisy
      input mapped to [-1, 1] (layer ``input_signed``) plus a predicted correction (layer
      ``residual_add``), so its [0, 1] form (:func:`to_unit_range`, what is saved and
      evaluated) is ``input + correction / 2``.  The output activation would squash the sum, so
      it must be ``"linear"`` (``"tanh"`` is refused).
    - ``init="paper"`` (default): ``kernel_initializer`` everywhere, today's network.
      ``init="he"``: He-normal kernels, except the closing convolution of every residual block
      (``block{i}_conv2``), which starts at zero so each block starts as the identity (with
      He-normal branches the 32 blocks, without normalisation, grow the trunk to a standard
      deviation of ~3e7: see :data:`DEFAULT_KERNEL_INITIALIZER`), and, with ``residual=True``,
      ``conv_out``, which starts at zero too: the untrained [0, 1] model is the identity.
      ``kernel_initializer`` must then be left unset.
    """
    check_recipe_args("idresnet", residual, init)
    if residual and output_activation != "linear":
        raise ValueError(
            f"idresnet: residual=True needs output_activation='linear' (the {output_activation!r} "
            "activation would squash input + correction)"
        )
    if init == "he" and kernel_initializer is not None:
        raise ValueError(
            "idresnet: init='he' sets the kernel initialisers; leave kernel_initializer unset "
            f"(got {kernel_initializer!r})"
        )
    if blocks < 0:
        raise ValueError(f"blocks must be >= 0, got {blocks}")
    if filters < 1 or channels < 1:
        raise ValueError(f"filters and channels must be positive, got {filters}, {channels}")
    if output_activation not in ("linear", "tanh"):
        raise ValueError(f"output_activation must be 'linear' or 'tanh', got {output_activation!r}")
    if init == "he":
        body_init = "he_normal"
    else:
        body_init = (DEFAULT_KERNEL_INITIALIZER if kernel_initializer is None
                     else kernel_initializer)
    branch_init = "zeros" if init == "he" else body_init
    out_init = "zeros" if init == "he" and residual else body_init

    def conv(n, size, conv_name, x, initializer=body_init):
        return layers.Conv2D(n, size, padding="same", kernel_initializer=initializer,
                             name=conv_name)(x)

    inputs = keras.Input(shape=(None, None, channels), name="noisy")
    first = _prelu("prelu_in")(conv(filters, 9, "conv_in", inputs))
    x = first
    for i in range(1, blocks + 1):
        branch = conv(filters, 3, f"block{i}_conv1", x)
        branch = _prelu(f"block{i}_prelu")(branch)
        branch = conv(filters, 3, f"block{i}_conv2", branch, branch_init)
        x = layers.Add(name=f"block{i}_add")([x, branch])
    x = conv(filters, 3, "conv_mid", x)
    x = layers.Add(name="skip_add")([x, first])
    outputs = layers.Conv2D(
        channels, 9, padding="same", kernel_initializer=out_init, activation=output_activation,
        name="conv_out",
    )(x)
    if residual:
        signed = layers.Rescaling(2.0, offset=-1.0, name="input_signed")(inputs)
        outputs = layers.Add(name="residual_add")([signed, outputs])
    generator = keras.Model(inputs, outputs, name=name)
    return to_unit_range(generator) if unit_range else generator


def to_unit_range(generator: keras.Model, name: str | None = None) -> keras.Model:
    """``generator`` (output in [-1, 1]) as a [0, 1] -> [0, 1] denoiser: ``(G(y) + 1) / 2``.

    The wrapper holds ``generator`` itself (shared weights, no copy) and only built-in layers, so
    it saves and loads as a plain ``.keras`` file.
    """
    inputs = keras.Input(shape=generator.input_shape[1:], name="noisy")
    outputs = layers.Rescaling(0.5, offset=0.5, name="to_unit_range")(generator(inputs))
    return keras.Model(inputs, outputs, name=name or f"{generator.name}_unit")


def generator_of(model: keras.Model) -> keras.Model:
    """The [-1, 1] generator inside a :func:`to_unit_range` wrapper (``model`` itself if not one)."""
    if model.layers and model.layers[-1].name == "to_unit_range":
        nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
        if len(nested) == 1:
            return nested[0]
    return model


def build_srgan_discriminator(
    input_size=96,
    channels: int = 3,
    filters: int = 64,
    dense_units: int = 1024,
    name: str = "srgan_discriminator",
) -> keras.Model:
    """The SRGAN discriminator on ``[B, input_size, input_size, channels]`` images in [-1, 1] -> logits ``[B, 1]``.

    conv3x3-64 s1 + LeakyReLU(0.2); conv3x3-BN-LeakyReLU(0.2) with (filters, stride) = (64, 2)
    (128, 1) (128, 2) (256, 1) (256, 2) (512, 1) (512, 2) (for ``filters`` = 64); Flatten;
    Dense ``dense_units`` + LeakyReLU(0.2); Dense 1.

    The output is the **logit**: the paper's final sigmoid is left out, and the losses in
    ``kerasdenoise.training.gan`` use the numerically stable forms
    ``-log D = softplus(-logit)`` and ``-log(1 - D) = softplus(logit)`` instead of taking logs
    of a saturated sigmoid (which give inf / NaN).  ``keras.activations.sigmoid`` of the output
    is the paper's D.

    The Dense layers need a fixed input size: ``input_size`` (an int, or ``(height, width)``)
    must equal the training crop (96 in SRGAN; 4 stride-2 convolutions need a multiple of 16 to
    lose no border).  Convolutions before BN have no bias (BN's offset replaces it).
    """
    if isinstance(input_size, int):
        height = width = input_size
    else:
        height, width = (int(v) for v in input_size)
    if min(height, width) < 16:
        raise ValueError(f"input_size must be at least 16 (4 stride-2 convolutions), got {input_size}")
    if channels < 1 or filters < 1 or dense_units < 1:
        raise ValueError(
            f"channels, filters and dense_units must be positive, got {channels}, {filters}, {dense_units}"
        )
    inputs = keras.Input(shape=(height, width, channels), name="image")
    x = layers.Conv2D(filters, 3, padding="same", name="conv1")(inputs)
    x = layers.LeakyReLU(negative_slope=0.2, name="lrelu1")(x)
    stack = [(1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2)]
    for i, (multiple, stride) in enumerate(stack, start=2):
        x = layers.Conv2D(
            filters * multiple, 3, strides=stride, padding="same", use_bias=False, name=f"conv{i}"
        )(x)
        # synchronized: the global batch's statistics under a tf.distribute strategy
        x = layers.BatchNormalization(synchronized=True, name=f"bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, name="dense1")(x)
    x = layers.LeakyReLU(negative_slope=0.2, name="lrelu_dense")(x)
    logits = layers.Dense(1, name="logit")(x)
    return keras.Model(inputs, logits, name=name)
