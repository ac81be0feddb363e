"""One registry for every network in kerasdenoise.

Builders are plain functions ``build_x(...) -> keras.Model``, declared by name in one table,
:data:`NETWORKS` (``name -> "module:function"``); :func:`build` imports a builder's module when
its name is first asked for.  A new network family is its builder file plus one line here::

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

#: Every network, by name: ``"module:builder"``, imported on first use.
NETWORKS = {
    "dncnn": "kerasdenoise.models.dncnn:build_dncnn",
    "dnresnet": "kerasdenoise.models.dnresnet:build_dnresnet",
    "ds_dnresnet": "kerasdenoise.models.dnresnet:build_ds_dnresnet",
    "unet": "kerasdenoise.models.unet:build_unet",
    "resunet": "kerasdenoise.models.unet:build_resunet",
    "idresnet": "kerasdenoise.models.idresnet:build_idresnet",
    "srgan_discriminator": "kerasdenoise.models.idresnet:build_srgan_discriminator",
    "gated_convdeconv": "kerasdenoise.models.gated_convdeconv:build_gated_convdeconv",
    "gated_classifier": "kerasdenoise.models.gated_convdeconv:build_gated_classifier",
    "opponent_color": "kerasdenoise.models.opponent:build_opponent_color",
}
_MODELS = Registry("model", NETWORKS)


def names():
    """Sorted names of every network (imports none of them)."""
    return _MODELS.names()


def load_all() -> dict:
    """Import every network family: ``{name: builder}``.  Loading a saved model
    (``keras.models.load_model``) needs this first, for the families' custom layers."""
    return _MODELS.load_all()


def get_builder(name: str):
    """The builder function declared as ``name`` (unknown names: ValueError listing the valid ones)."""
    return _MODELS.get(name)


def build(name: str, **kwargs) -> keras.Model:
    """Build the network ``name`` with the builder's keyword arguments."""
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
