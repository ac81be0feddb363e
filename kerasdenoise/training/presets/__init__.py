"""Every training preset, by name: :data:`PRESETS`, the table behind
:func:`kerasdenoise.training.configs.get_preset`.

Presets are plain data (:class:`~kerasdenoise.training.configs.TrainConfig` instances): each
module below lists its own in ``PRESETS``, and importing them imports neither TensorFlow nor
Keras (``kerasdenoise-train --list-configs`` stays fast).  A new paper's presets are a module
here and one entry in :data:`MODULES`.
"""
from __future__ import annotations

import importlib

#: The preset modules, each with a ``PRESETS`` sequence of TrainConfigs.
MODULES = ("foundation", "dnresnet", "resunet", "idgan", "gated")


def _table() -> dict:
    table = {}
    for module in MODULES:
        for config in importlib.import_module(f"{__name__}.{module}").PRESETS:
            if config.name in table:
                raise ValueError(f"preset {config.name!r} is declared twice")
            table[config.name] = config
    return table


PRESETS = _table()
