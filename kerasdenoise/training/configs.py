"""Training configurations: one dataclass, one named preset per paper experiment.

Presets are plain data: each ``kerasdenoise/training/presets/<paper>.py`` lists its
:class:`TrainConfig` instances in ``PRESETS``, and ``kerasdenoise.training.presets.PRESETS`` is
the one table of them by name (importing them imports neither TensorFlow nor Keras).  Each
paper-scale preset has a ``-cpu`` sibling whose budget fits the 2-core reference machine; both
run unchanged on a GPU.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Optional

from kerasdenoise._registry import Registry

# The table of presets by name, loaded on first use (the preset modules import this one).
_PRESETS = Registry("config", "kerasdenoise.training.presets:PRESETS")


# config.json files written before the procedure fields had their names
LEGACY_FIELDS = {"trainer": "procedure", "trainer_kwargs": "procedure_options"}


def upgrade_legacy_fields(data: dict) -> dict:
    """``data`` (a config as a dict) with the fields of :data:`LEGACY_FIELDS` renamed, and the
    fields added since it was written at their defaults (what such a run trained with)."""
    data = {LEGACY_FIELDS.get(key, key): value for key, value in data.items()}
    defaults = {}
    for f in dataclasses.fields(TrainConfig):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return {**defaults, **data}


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; written to ``config.json`` beside its results."""

    name: str
    description: str = ""
    # network
    model: str = "dncnn"
    model_kwargs: dict = field(default_factory=dict)
    # how it is trained: the training procedure ('supervised', 'joint_loss', 'idgan_two_phase',
    # 'cascade', 'evolution', ...: kerasdenoise.training.trainers) and its options, checked
    # against the procedure's options dataclass (unknown keys are refused)
    procedure: str = "supervised"
    procedure_options: dict = field(default_factory=dict)
    loss: str = "mse"
    loss_kwargs: dict = field(default_factory=dict)
    # how the patches of a batch are weighted in the loss (kerasdenoise.losses.LOSS_WEIGHTINGS);
    # other than 'uniform' for the 'supervised' procedure (and the stages of 'cascade') only
    loss_weighting: str = "uniform"
    # data: a folder, a shared set name (CBSD432, Train400, ...) or skimage-train / skimage-test
    train_data: str = "skimage-train"
    val_data: Optional[str] = "skimage-test"
    color: str = "gray"  # gray | rgb | y
    noise: str = "gaussian:sigma=25"
    patch_size: int = 40
    target_size: Optional[int] = None  # center crop of the clean target (valid-padding nets)
    # patches cut from each image per pass of the (endless) stream: a pass is a shuffle of
    # len(images) * patches_per_image patches, each image patches_per_image times
    patches_per_image: int = 1
    augment: bool = False  # one of the 8 flips / rotations per training patch (DnCNN's augmentation)
    batch_size: int = 64
    # budget and optimisation
    steps: int = 1000
    steps_per_epoch: int = 100  # logging / checkpoint granularity
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_decay_steps: tuple = ()  # multiply the learning rate by lr_decay_factor at each step here
    lr_decay_factor: float = 0.1
    adam_beta_1: float = 0.9
    clipnorm: Optional[float] = None  # global gradient-norm clipping
    # 'paper' or 'fast' (kerasdenoise.training.recipe): initialisation, residual output, schedule
    recipe: str = "paper"
    # a .keras model whose weights start the network, layer by layer by name (fine-tuning, a
    # longer schedule after a finished run); the run's checkpoint takes over on --resume
    init_weights: Optional[str] = None
    snapshot_every: int = 0  # save the denoiser every N steps to snapshots/ (0: never)
    # tf.distribute (kerasdenoise.training.distribute): none | mirrored | multi-worker | tpu;
    # devices of 'mirrored' (empty: every GPU, else the CPU); batch_size stays the global batch
    strategy: str = "none"
    devices: tuple = ()
    val_batches: int = 4
    seed: int = 0

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        data = upgrade_legacy_fields(data)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}; valid fields: {sorted(known)}")
        data = dict(data)
        for key in ("lr_decay_steps", "devices"):
            if key in data and isinstance(data[key], list):
                data[key] = tuple(data[key])
        for key, value in data.items():
            _check_field_type(key, value)
        if "recipe" in data:
            from kerasdenoise.training.recipe import get_recipe

            get_recipe(data["recipe"])  # unknown names: an error listing the valid ones
        if "loss_weighting" in data:
            from kerasdenoise.losses import check_loss_weighting

            check_loss_weighting(data["loss_weighting"])
        if "strategy" in data:
            from kerasdenoise.training.distribute import check_strategy_name

            check_strategy_name(data["strategy"])
        for key in ("lr_decay_steps", "devices"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def preset_names():
    return _PRESETS.names()


def get_preset(name: str) -> TrainConfig:
    """A copy of the preset ``name`` (unknown names: ValueError listing the valid presets)."""
    try:
        return copy.deepcopy(_PRESETS.get(name))
    except ValueError:
        raise ValueError(f"unknown config {name!r}; valid presets: {', '.join(preset_names())}") from None


def _field_types() -> dict:
    import typing

    return typing.get_type_hints(TrainConfig)


def _type_name(kind) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            dict: "a dict (JSON object)", tuple: "a list"}.get(kind, getattr(kind, "__name__", str(kind)))


def _check_field_type(key: str, value) -> None:
    """ValueError naming ``key`` if ``value`` does not fit the type of that config field
    (ints are accepted for float fields; bools are not numbers here)."""
    import typing

    kind = _field_types()[key]
    optional = False
    if typing.get_origin(kind) is typing.Union:
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        optional = len(options) < len(typing.get_args(kind))
        kind = options[0] if len(options) == 1 else object
    if value is None:
        if optional:
            return
        raise ValueError(f"config field {key!r} must be {_type_name(kind)}, got null")
    if kind is object:
        return
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is tuple:
        ok = isinstance(value, (list, tuple))
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ValueError(
            f"config field {key!r} must be {_type_name(kind)}{' or null' if optional else ''}, "
            f"got {value!r} ({type(value).__name__})"
        )


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # bare strings: --set noise=gaussian:sigma=15


def apply_overrides(config: TrainConfig, overrides) -> TrainConfig:
    """Apply ``key=value`` strings (``--set``); ``a.b=v`` sets key ``b`` of dict field ``a``.

    Values are parsed as JSON when they can be (numbers, lists, true/false, null), else taken
    as strings (a string field keeps the text as written: ``--set train_data=2024``).  A value
    of the wrong type for its field is a ValueError naming the field.
    """
    import typing

    data = config.to_dict()
    types = _field_types()
    for item in overrides or ():
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        value = _parse_value(text)
        kind = types.get(key)
        if kind is str or (typing.get_origin(kind) is typing.Union and str in typing.get_args(kind)):
            if value is not None and not isinstance(value, str):
                value = text
        if "." in key:
            outer, inner = key.split(".", 1)
            if not isinstance(data.get(outer), dict):
                raise ValueError(f"--set {key}: {outer!r} is not a dict field of the config")
            data[outer] = {**data[outer], inner: value}
        else:
            if key not in data:
                raise ValueError(f"--set {key}: unknown config field; valid fields: {sorted(data)}")
            try:
                _check_field_type(key, value)
            except ValueError as err:
                raise ValueError(f"--set {item}: {err}") from None
            data[key] = value
    return TrainConfig.from_dict(data)
