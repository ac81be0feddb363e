"""Training losses, reachable by name for configs (``TrainConfig.loss``).

Every loss takes ``(clean, restored)`` batches ``[B, H, W, C]`` in [0, 1] and returns a scalar.
Every loss is declared by name in one table, :data:`LOSSES` (``name -> "module:factory"``).
A loss factory takes keyword arguments only, each named (no ``**kwargs``): :func:`get_loss`
checks a config's ``loss_kwargs`` against that signature, so a misspelt one is an error.
"""
from __future__ import annotations

import inspect

import keras
import tensorflow as tf

from kerasdenoise._registry import Registry

#: Every loss, by name: ``"module:factory"``, imported on first use.
LOSSES = {
    "mse": "kerasdenoise.losses:mse_loss",
    "l1": "kerasdenoise.losses:l1_loss",
    "edge-a": "kerasdenoise.losses.edge:edge_a_loss",
    "edge-b": "kerasdenoise.losses.edge:edge_b_loss",
    "perceptual": "kerasdenoise.losses.perceptual:perceptual_loss",
    "classifier-features": "kerasdenoise.losses.classifier:classifier_feature_loss",
}
_LOSSES = Registry("loss", LOSSES)

# Marks a definition as its table entry (checks the name; registers nothing).
register_loss = _LOSSES.entry


def mse_loss():
    return keras.losses.MeanSquaredError(name="mse")


def l1_loss():
    return keras.losses.MeanAbsoluteError(name="l1")


def loss_names():
    return _LOSSES.names()


def loss_arguments(name: str) -> list[str]:
    """The keyword arguments (sorted) that the factory of loss ``name`` takes."""
    factory = _LOSSES.get(name)
    parameters = inspect.signature(factory).parameters.values()
    # A catch-all would swallow misspelt keywords, which is what this check exists to stop.
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        raise TypeError(f"loss factory {factory.__qualname__} of {name!r} takes **kwargs; "
                        "name each argument")
    return sorted(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def get_loss(name: str, **kwargs):
    """A Keras-compatible loss ``f(y_true, y_pred)`` for the config name ``name``, built with
    ``kwargs`` (a config's ``loss_kwargs``); a keyword the factory does not take is a
    ``ValueError`` naming the loss, the unknown keywords and the valid ones."""
    valid = loss_arguments(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"loss {name!r}: unknown keyword argument(s) {unknown}; valid: "
            f"{', '.join(valid) if valid else 'none (it takes no arguments)'}"
        )
    return _LOSSES.get(name)(**kwargs)


def mean_squared_error(clean, restored):
    return tf.reduce_mean(tf.square(tf.cast(clean, tf.float32) - tf.cast(restored, tf.float32)))


#: How the patches of a training batch are weighted in the loss (``TrainConfig.loss_weighting``).
LOSS_WEIGHTINGS = {
    "uniform": "every patch counts alike (the papers' choice)",
    "inverse_noise_rms": (
        "each patch weighted by 1 / (rms(degraded - clean) + 5/255), normalised to mean 1 in each "
        "batch. A blind model's restoration MSE grows about linearly with the noise level, so "
        "under uniform weights the strongest levels dominate the loss. These weights give each "
        "level about equal weight in PSNR terms (log-MSE). The 5/255 floor keeps nearly clean "
        "patches from taking over"
    ),
}
NOISE_RMS_FLOOR = 5.0 / 255.0


def check_loss_weighting(name: str) -> str:
    """``name`` if it is a declared loss weighting, else a ValueError listing them."""
    if name not in LOSS_WEIGHTINGS:
        raise ValueError(f"unknown loss_weighting {name!r}; valid: {', '.join(LOSS_WEIGHTINGS)}")
    return name


#: The losses that take per-patch weights: Keras losses with one value per pixel.
WEIGHTABLE_LOSSES = ("mse", "l1")


def patch_weights(name: str, degraded, clean):
    """Per-patch loss weights ``[B, 1, 1]`` (they broadcast over a per-pixel loss of
    :data:`WEIGHTABLE_LOSSES`) of the weighting ``name`` for a batch; ``None`` for ``uniform``
    (Keras then weighs every patch alike).  A degraded patch larger than its clean target
    (valid-padding networks) is compared on its center crop."""
    check_loss_weighting(name)
    if name == "uniform":
        return None
    degraded, clean = tf.cast(degraded, tf.float32), tf.cast(clean, tf.float32)
    margin = (tf.shape(degraded)[1] - tf.shape(clean)[1]) // 2
    degraded = degraded[:, margin:margin + tf.shape(clean)[1], margin:margin + tf.shape(clean)[2], :]
    rms = tf.sqrt(tf.reduce_mean(tf.square(degraded - clean), axis=[1, 2, 3]))
    weights = 1.0 / (rms + NOISE_RMS_FLOOR)
    return (weights / tf.reduce_mean(weights))[:, None, None]
