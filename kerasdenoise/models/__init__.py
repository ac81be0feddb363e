"""One registry for every network in kerasdenoise.

Builders are plain functions ``build_x(...) -> keras.Model``; each network family module
registers its builders with :func:`register` and :func:`build` finds them by name::

    from kerasdenoise import models
    models.names()                       # ['dncnn', 'dnresnet', ...]
    net = models.build("dncnn", depth=17, channels=1)
    models.stats(net, input_hw=(480, 640))  # {'params', 'weights', 'macs'}

Convention shared by every denoiser here: the model maps a degraded image batch
``[B, H, W, C]`` in [0, 1] to the restored batch of the same shape and range (residual
learning, where a paper uses it, happens inside the model).
"""
from __future__ import annotations

import keras

from kerasdenoise._registry import Registry

_MODELS = Registry("model", (
    "kerasdenoise.models.dncnn",
    "kerasdenoise.models.dnresnet",
    "kerasdenoise.models.unet",
    "kerasdenoise.models.idresnet",
    "kerasdenoise.models.gated_convdeconv",
    "kerasdenoise.models.opponent",
))


def register(name: str):
    """Decorator: make a builder reachable as ``build(name, ...)``."""
    return _MODELS.register(name)


def names():
    """Sorted names of every registered network."""
    return _MODELS.names()


def get_builder(name: str):
    """The builder function registered as ``name``."""
    return _MODELS.get(name)


def build(name: str, **kwargs) -> keras.Model:
    """Build the network registered as ``name`` with the builder's keyword arguments."""
    return _MODELS.get(name)(**kwargs)


def stats(model: keras.Model, input_hw=(480, 640)) -> dict:
    """Size and cost of ``model``.

    Returns ``{"params", "weights", "macs"}``: ``params`` counts every parameter;
    ``weights`` only convolution and dense kernels (no biases, BN or PReLU parameters: the
    count the papers report); ``macs`` the multiply-accumulates of those kernels for one image
    of ``input_hw``, read off the traced TensorFlow graph so that nested layers, custom blocks
    and any padding are counted exactly as they run ('same' padding counts every output pixel
    with the full kernel, as the papers do).
    """
    from kerasdenoise.models._cost import kernel_macs

    weights = 0
    for w in model.weights:
        # Keras 3 names conv/dense kernels "kernel", depthwise "depthwise_kernel" and
        # separable "pointwise_kernel"; biases, gammas, alphas do not count.
        leaf = w.path.rsplit("/", 1)[-1]
        if leaf.endswith("kernel"):
            weights += int(w.numpy().size)
    return {
        "params": int(model.count_params()),
        "weights": int(weights),
        "macs": int(kernel_macs(model, input_hw)),
    }


def layer_activations(model: keras.Model, layer_name: str, images):
    """The output of ``model``'s layer ``layer_name`` for ``images`` ``[B, H, W, C]``, as numpy
    (e.g. a denoiser's first-layer feature maps, the gated conv-deconv paper's Fig. 7-9)."""
    probe = keras.Model(model.input, model.get_layer(layer_name).output)
    return keras.ops.convert_to_numpy(probe(images, training=False))
