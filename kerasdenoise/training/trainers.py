"""Trainers turn a denoising network into the compiled ``keras.Model`` that ``fit`` runs.

The plain case compiles the network itself with the config's loss. Papers that need more
(a joint MSE + perceptual loss, a GAN) register a trainer that wraps the network in a
``keras.Model`` subclass with its own ``train_step``. Every trainable exposes the bare network
as ``.denoiser`` (the plain case *is* the network: see :func:`denoiser_of`); that is what gets
saved as ``final.keras`` and evaluated.

The runner's step of record is the trainable's update counter, :func:`step_counter`: the
optimizer's ``iterations`` (one per ``train_step``), or ``trainable.step_counter()`` for
trainables with several optimizers (a GAN), which must return a variable that grows by one per
``train_step`` and is saved by ``save_weights``.
"""
from __future__ import annotations

import keras

from kerasdenoise._registry import Registry
from kerasdenoise.losses import get_loss

_TRAINERS = Registry("trainer", (
    "kerasdenoise.training.joint",
    "kerasdenoise.training.gan",
    "kerasdenoise.training.transfer",
))


def register_trainer(name: str):
    return _TRAINERS.register(name)


def trainer_names():
    return _TRAINERS.names()


def make_optimizer(config, learning_rate=None):
    """Adam (or SGD) with the config recipe's learning-rate schedule (see
    :func:`kerasdenoise.training.recipe.learning_rate`) and global gradient clipping
    (``config.clipnorm``)."""
    from kerasdenoise.training.recipe import learning_rate as recipe_learning_rate

    lr = recipe_learning_rate(config, learning_rate)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr, beta_1=config.adam_beta_1,
                                     global_clipnorm=config.clipnorm)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, global_clipnorm=config.clipnorm)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; valid: adam, sgd")


@register_trainer("supervised")
def supervised_trainer(config, network):
    """The network itself, compiled with the config's loss and a PSNR metric."""
    from kerasdenoise.metrics import PSNRMetric

    network.compile(
        optimizer=make_optimizer(config),
        loss=get_loss(config.loss, **config.loss_kwargs),
        metrics=[PSNRMetric(name="psnr")],
    )
    return network


def denoiser_of(trainable: keras.Model) -> keras.Model:
    """The bare network inside a trainable (a wrapper's ``.denoiser``, else the model itself).

    The plain case cannot point ``.denoiser`` at itself: Keras tracks model attributes and a
    self-reference makes weight saving recurse forever.
    """
    return getattr(trainable, "denoiser", trainable)


def make_trainable(config, network) -> keras.Model:
    return _TRAINERS.get(config.trainer)(config, network)


def build_optimizer_state(trainable: keras.Model):
    """Create optimizer variables so a checkpoint's optimizer state can be loaded into them.

    Trainers with several optimizers (GANs) provide ``build_optimizer_state()`` themselves.
    """
    if hasattr(trainable, "build_optimizer_state"):
        trainable.build_optimizer_state()
    elif trainable.optimizer is not None and not trainable.optimizer.built:
        trainable.optimizer.build(trainable.trainable_variables)


def step_counter(trainable: keras.Model):
    """The variable counting ``trainable``'s finished training steps (saved with its weights):
    ``trainable.step_counter()`` when it defines one, else its optimizer's ``iterations``."""
    if hasattr(trainable, "step_counter"):
        return trainable.step_counter()
    if trainable.optimizer is None:
        raise ValueError(f"{trainable.name}: a trainable needs an optimizer (compile it) or a "
                         "step_counter() method")
    return trainable.optimizer.iterations
