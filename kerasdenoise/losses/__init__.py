"""Training losses, reachable by name for configs (``TrainConfig.loss``).

Every loss takes ``(clean, restored)`` batches ``[B, H, W, C]`` in [0, 1] and returns a scalar.
Family modules (``edge``, ``perceptual``) register their losses with :func:`register_loss`.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from kerasdenoise._registry import Registry

_LOSSES = Registry("loss", (
    "kerasdenoise.losses.edge",
    "kerasdenoise.losses.perceptual",
    "kerasdenoise.losses.classifier",
))


def register_loss(name: str):
    return _LOSSES.register(name)


@register_loss("mse")
def mse_loss(**_):
    return keras.losses.MeanSquaredError(name="mse")


@register_loss("l1")
def l1_loss(**_):
    return keras.losses.MeanAbsoluteError(name="l1")


def loss_names():
    return _LOSSES.names()


def get_loss(name: str, **kwargs):
    """A Keras-compatible loss ``f(y_true, y_pred)`` for the config name ``name``."""
    return _LOSSES.get(name)(**kwargs)


def mean_squared_error(clean, restored):
    return tf.reduce_mean(tf.square(tf.cast(clean, tf.float32) - tf.cast(restored, tf.float32)))
