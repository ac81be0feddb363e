"""Training losses, reachable by name for configs (``TrainConfig.loss``).

Every loss takes ``(clean, restored)`` batches ``[B, H, W, C]`` in [0, 1] and returns a scalar.
Family modules (``edge``, ``perceptual``) register their losses with :func:`register_loss`.
"""
from __future__ import annotations

import importlib

import keras
import tensorflow as tf

_LOSSES = {}
_FAMILIES = (
    "kerasdenoise.losses.edge",
    "kerasdenoise.losses.perceptual",
    "kerasdenoise.losses.classifier",
)
_loaded = False


def register_loss(name: str):
    def wrap(factory):
        _LOSSES[name] = factory
        return factory

    return wrap


def _load_families():
    global _loaded
    if _loaded:
        return
    for module in _FAMILIES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
    _loaded = True


@register_loss("mse")
def mse_loss(**_):
    return keras.losses.MeanSquaredError(name="mse")


@register_loss("l1")
def l1_loss(**_):
    return keras.losses.MeanAbsoluteError(name="l1")


def loss_names():
    _load_families()
    return sorted(_LOSSES)


def get_loss(name: str, **kwargs):
    """A Keras-compatible loss ``f(y_true, y_pred)`` for the config name ``name``."""
    _load_families()
    if name not in _LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(sorted(_LOSSES))}")
    return _LOSSES[name](**kwargs)


def mean_squared_error(clean, restored):
    return tf.reduce_mean(tf.square(tf.cast(clean, tf.float32) - tf.cast(restored, tf.float32)))
