"""Training procedures: how a network is trained, named by ``config.procedure``, with options.

A *procedure* is what a config's ``procedure`` field names, with its options in
``procedure_options``: ``supervised`` (plain: the network compiled with the config's loss),
``joint_loss`` (pixel + VGG perceptual loss, ResUNet paper), ``joint_classifier_loss`` (the
gated conv-deconv paper's classifier-feature loss), ``idgan_two_phase`` (IDResNet with the MSE,
then IDGAN: its phases ``idresnet_mse`` and ``idgan`` are procedures too), ``cascade``
(DN-ResNet grown block by block), ``evolution`` (DN-ResNet -> DS-DN-ResNet) and ``distill``
(towards a blend of the clean patch and a trained teacher's output).

Each procedure declares its options as a frozen dataclass (a subclass of :class:`Options`:
field names = the ``procedure_options`` keys it understands, defaults = the papers' settings).
:func:`procedure_options` turns ``config.procedure`` + ``config.procedure_options`` into that
dataclass; :func:`parse_options` is the one check of the keys (an unknown or misspelt key is a
ValueError naming the procedure, the bad keys and the valid ones).  The decorator
:func:`uses_options` hands a procedure its parsed options.

Every procedure is declared in one table, :data:`PROCEDURES`.  They come in two kinds, both
called with the config first:

- single-run ones (*trainers*):
  ``trainer(config, network) -> keras.Model``, the compiled model that ``fit`` runs.  The plain
  case compiles the network itself; the others wrap it in a ``keras.Model`` subclass with its
  own ``train_step``.  Every trainable exposes the bare network as ``.denoiser`` (the plain
  case *is* the network: see :func:`denoiser_of`); that is what gets saved as ``final.keras``.
- staged ones (*drivers*, listed in :data:`STAGED`):
  ``driver(config, out_dir, resume, progress, datasets, callbacks) -> TrainResult``, which run
  :func:`kerasdenoise.training.runner.train` once per stage / phase, each in a sub-directory.

Every procedure honours ``config.recipe`` (:mod:`kerasdenoise.training.recipe`): networks are
built through ``runner.build_network`` / ``recipe.network_kwargs`` and optimizers through
:func:`make_optimizer`.

The runner's step of record is the trainable's update counter, :func:`step_counter`: the
optimizer's ``iterations`` (one per ``train_step``), or ``trainable.step_counter()`` for
trainables with several optimizers (a GAN), which must return a variable that grows by one per
``train_step`` and is saved by ``save_weights``.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import ClassVar

import keras

from kerasdenoise._registry import Registry
from kerasdenoise.losses import get_loss
from kerasdenoise.training.distribute import ReduceThenClip, per_replica_mean

#: Every training procedure (``config.procedure``), by name: ``"module:function"``, imported on
#: first use.  Those in :data:`STAGED` are drivers; the others are single-run trainers.
PROCEDURES = {
    "supervised": "kerasdenoise.training.trainers:supervised_trainer",
    "joint_loss": "kerasdenoise.training.joint:joint_loss_trainer",
    "idresnet_mse": "kerasdenoise.training.gan:idresnet_mse_trainer",
    "idgan": "kerasdenoise.training.gan:idgan_trainer",
    "joint_classifier_loss": "kerasdenoise.training.transfer:joint_classifier_loss_trainer",
    "cascade": "kerasdenoise.training.cascade:cascade_driver",
    "evolution": "kerasdenoise.training.evolution:evolution_driver",
    "idgan_two_phase": "kerasdenoise.training.gan:idgan_two_phase",
    "distill": "kerasdenoise.training.distill:distill_trainer",
}
#: The staged procedures: they run ``runner.train`` once per stage / phase.
STAGED = frozenset({"cascade", "evolution", "idgan_two_phase"})
PROCEDURE_REGISTRY = Registry("training procedure (config.procedure)", PROCEDURES)

# Marks a definition as its table entry (checks the name; registers nothing).
register_procedure = PROCEDURE_REGISTRY.entry


# --------------------------------------------------------------------------------------------
# Procedures and their options


@dataclass(frozen=True)
class Options:
    """The options of a procedure that has none (``supervised``); the base of every options
    dataclass.

    Class attributes a procedure may set: ``resumable``, the option names a resumed run may
    change (step budgets); ``fixed_on_resume``, ``{config field: why}`` for config fields that
    a resume may change in general (:data:`~kerasdenoise.training.runner.RESUMABLE_CHANGES`)
    but not for this procedure.
    """

    resumable: ClassVar[frozenset] = frozenset()
    fixed_on_resume: ClassVar[dict] = {}

    @classmethod
    def names(cls) -> list:
        """The option names (the ``procedure_options`` keys this procedure understands)."""
        return [f.name for f in dataclasses.fields(cls)]


def parse_options(options_class: type, procedure: str, kwargs: dict | None) -> Options:
    """``options_class(**kwargs)``; unknown keys: ValueError naming ``procedure``, the unknown
    keys and the valid ones.  The one check of every procedure's ``procedure_options``."""
    import difflib

    kwargs = dict(kwargs or {})
    valid = options_class.names()
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        hints = [f"{close[0]!r} for {key!r}" for key in unknown
                 for close in [difflib.get_close_matches(key, valid, 1)] if close]
        raise ValueError(
            f"training procedure {procedure!r}: unknown procedure_options {unknown}"
            + (f" (did you mean {', '.join(hints)}?)" if hints else "")
            + f"; valid options: {', '.join(valid) if valid else 'none (leave procedure_options empty)'}"
        )
    return options_class(**kwargs)


def uses_options(options_class: type):
    """Decorator of a procedure ``fn(config, ..., options)``: the decorated procedure is called
    as ``fn(config, ...)`` and passes ``options=parse_options(options_class, ...)`` of the
    config's ``procedure_options``; its ``.options`` is ``options_class``."""

    def wrap(fn):
        @functools.wraps(fn)
        def procedure(config, *args, **kwargs):
            options = parse_options(options_class, config.procedure, config.procedure_options)
            return fn(config, *args, options=options, **kwargs)

        procedure.options = options_class
        return procedure

    return wrap


def procedure_names() -> list:
    """Every training procedure (single-run trainers and staged drivers), sorted."""
    return PROCEDURE_REGISTRY.names()


def trainer_names() -> list:
    """The single-run procedures, sorted."""
    return [name for name in procedure_names() if name not in STAGED]


def get_procedure(name: str):
    """The procedure ``config.procedure = name`` runs: a driver (staged) or a trainer; unknown
    names: ValueError listing every procedure."""
    return PROCEDURE_REGISTRY.get(name)


def get_driver(name: str):
    """The staged procedure ``name``, or None (a single-run trainer or an unknown name)."""
    return PROCEDURE_REGISTRY.get(name) if name in STAGED else None


def options_class(name: str) -> type:
    """The options dataclass of procedure ``name``."""
    return getattr(get_procedure(name), "options", Options)


def procedure_options(config) -> Options:
    """``config.procedure`` + ``config.procedure_options`` as the procedure's frozen options
    dataclass (unknown procedure or option: ValueError listing the valid ones)."""
    return parse_options(options_class(config.procedure), config.procedure, config.procedure_options)


class Unsaved:
    """Holds a callable (a frozen loss) out of Keras' sight.

    Keras tracks layers assigned to a model (their weights would join the trainable's
    variables) and ``save_weights`` walks every attribute that is a Keras object, a
    ``keras.losses.Loss`` included, and with it the VGG or classifier it holds: a frozen
    extractor would add its weights to every checkpoint (~80 MB for VGG19) and would have to
    match at load time.  Behind this plain object it is only called; it is rebuilt from the
    config instead, so checkpoints hold the trained networks and their optimizers only (one
    layout whichever losses are used).
    """

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        # a per-replica mean: the custom train steps scale their total once (distribute.py)
        return per_replica_mean(self.fn, self.fn(*args))


class OwnLossTrainer(keras.Model):
    """The base of the trainables whose ``train_step`` computes its own loss around one network,
    ``.denoiser``: ``call`` forwards to it, ``compile(optimizer)`` takes no loss, and the
    optimizer's variables are those of the denoiser (:meth:`build_optimizer_state`, before
    ``load_weights``)."""

    def __init__(self, denoiser: keras.Model, name: str):
        super().__init__(name=name)
        self.denoiser = denoiser

    def call(self, inputs, training=False):
        return self.denoiser(inputs, training=training)

    def compile(self, optimizer="adam", **kwargs):
        if "loss" in kwargs:
            raise ValueError(f"{type(self).__name__} computes its own loss; compile(optimizer) only")
        super().compile(optimizer=optimizer, **kwargs)
        self.build_optimizer_state()

    def build_optimizer_state(self):
        """Create the optimizer's variables for the denoiser (before ``load_weights``)."""
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.denoiser.trainable_variables)


# --------------------------------------------------------------------------------------------
# The plain procedure and the helpers every procedure uses


@keras.saving.register_keras_serializable(package="kerasdenoise")
class Adam(ReduceThenClip, keras.optimizers.Adam):
    """Keras' Adam that clips the global batch's gradient under a tf.distribute strategy."""


@keras.saving.register_keras_serializable(package="kerasdenoise")
class SGD(ReduceThenClip, keras.optimizers.SGD):
    """Keras' SGD that clips the global batch's gradient under a tf.distribute strategy."""


def make_optimizer(config, learning_rate=None):
    """Adam (or SGD) with the config recipe's learning-rate schedule (see
    :func:`kerasdenoise.training.recipe.learning_rate`) and global gradient clipping
    (``config.clipnorm``)."""
    from kerasdenoise.training.recipe import learning_rate as recipe_learning_rate

    lr = recipe_learning_rate(config, learning_rate)
    if config.optimizer == "adam":
        return Adam(lr, beta_1=config.adam_beta_1, global_clipnorm=config.clipnorm)
    if config.optimizer == "sgd":
        return SGD(lr, momentum=0.9, global_clipnorm=config.clipnorm)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; valid: adam, sgd")


@uses_options(Options)
def supervised_trainer(config, network, options: Options):
    """The network itself, compiled with the config's loss and a PSNR metric (no options)."""
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
    """The compiled model of a single-run procedure (``config.procedure``) around ``network``."""
    procedure = get_procedure(config.procedure)  # unknown: the error lists every procedure
    if config.procedure in STAGED:
        raise ValueError(
            f"training procedure {config.procedure!r} is staged (it runs train() per stage); "
            f"it has no single trainable. Single-run procedures: {', '.join(trainer_names())}"
        )
    return procedure(config, network)


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
