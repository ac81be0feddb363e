"""Incremental evolution DN-ResNet -> DS-DN-ResNet (Ren et al. 2018, Sec. 3.2, Fig. 5),
registered as driver ``"evolution"``.

Starting from a trained DN-ResNet, the ResBlocks are replaced by DS-ResBlocks one at a time
from the tail (the block nearest the output first), with a fine-tuning stage after each
replacement.  The new DS block starts from N(0, 0.001) weights; every other layer (first,
second and last convolutions, the remaining ResBlocks, the DS blocks of earlier stages) keeps
its trained weights.  ``one_shot=True`` is the paper's 'DS-DN-os' ablation: every block is
replaced at once, then the net is fine-tuned for the same total number of steps.

Config (``trainer="evolution"``)::

    trainer_kwargs = {
        "init": "runs/dnresnet-cascade-blind",  # a trained DN-ResNet: .keras file or run dir
                                                 # (its final.keras; 'valid' or 'same' form)
        "finetune_steps": N,   # per replacement (default config.steps); the paper: 10 epochs
        "one_shot": False,
    }

The learning rate is the config's (the paper: the cascade's fixed 1e-4).  Stages live in
``out_dir/stage{k}`` with k the number of DS blocks after the stage (incremental: stage1 ...
stage5; one-shot: stage5 only); each finished stage is exported in the 'same' form as
``out_dir/ds{k}.keras`` and the last as ``out_dir/final.keras``.  Resume skips finished stages
exactly as the cascade does (see :mod:`kerasdenoise.training.cascade`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import keras

from kerasdenoise.models import dnresnet
from kerasdenoise.training.cascade import Stage, positive_int, run_stages
from kerasdenoise.training.configs import TrainConfig
from kerasdenoise.training.runner import TrainResult
from kerasdenoise.training.trainers import Options, register_procedure, uses_options


@dataclass(frozen=True)
class EvolutionOptions(Options):
    """``trainer_kwargs`` of the procedure ``evolution`` (see the module doc): ``init`` (the
    trained DN-ResNet), ``finetune_steps`` (per replacement; ``None``: ``config.steps``; may
    change when a run is resumed), ``one_shot`` and ``blocks`` (``None``: read from ``init``)."""

    init: Optional[str] = None
    finetune_steps: Optional[int] = None
    one_shot: bool = False
    blocks: Optional[int] = None

    resumable = frozenset({"finetune_steps"})

    def __post_init__(self):
        if self.finetune_steps is not None:
            positive_int("finetune_steps", self.finetune_steps)
        if self.blocks is not None and int(self.blocks) < 1:
            raise ValueError(f"trainer_kwargs.blocks must be >= 1, got {self.blocks}")


def resolve_init(path) -> Path:
    """The ``.keras`` file named by ``init``: the file itself, or ``<run dir>/final.keras``."""
    if not path:
        raise ValueError("trainer_kwargs.init must name a trained DN-ResNet (.keras file or run dir)")
    path = Path(path)
    if path.is_dir():
        candidate = path / "final.keras"
        if not candidate.exists():
            raise FileNotFoundError(
                f"trainer_kwargs.init: run directory {path} has no final.keras (is its training "
                "finished?)"
            )
        return candidate
    if not path.exists():
        raise FileNotFoundError(f"trainer_kwargs.init: no such model file or run directory: {path}")
    return path


def load_init(path) -> keras.Model:
    """Load the DN-ResNet to evolve; checks it is one (all standard ResBlocks)."""
    file = resolve_init(path)
    from kerasdenoise.runtime import load_keras_model

    model = load_keras_model(file)
    spec = dnresnet.describe(model)
    if spec["blocks"] == 0:
        raise ValueError(f"{file}: a DN-ResNet without ResBlocks has nothing to evolve")
    if spec["ds_blocks"]:
        raise ValueError(f"{file} already has {spec['ds_blocks']} DS block(s); evolve a DN-ResNet")
    return model


@register_procedure("evolution")
@uses_options(EvolutionOptions)
def evolution_driver(config: TrainConfig, out_dir, resume: bool = False, progress: bool = True,
                     datasets=None, callbacks=(), *, options: EvolutionOptions) -> TrainResult:
    """Evolve ``trainer_kwargs.init`` into a DS-DN-ResNet (see the module doc)."""
    finetune_steps = positive_int("finetune_steps", options.finetune_steps or config.steps)
    one_shot = bool(options.one_shot)
    init_path = options.init
    # The block count decides the stages; read it from the init model unless the config
    # states it (a resumed run whose stages are all done does not need the init any more).
    blocks = options.blocks
    loaded = {}

    def initial():
        if "model" not in loaded:
            loaded["model"] = load_init(init_path)
        return loaded["model"]

    if blocks is None:
        blocks = dnresnet.describe(initial())["blocks"]
    blocks = int(blocks)
    if blocks < 1:
        raise ValueError(f"trainer_kwargs.blocks must be >= 1, got {blocks}")
    if one_shot:
        stages = [Stage(index=blocks, blocks=blocks, ds_blocks=blocks,
                        steps=finetune_steps * blocks, early_stop=False,
                        export_name=f"ds{blocks}")]
    else:
        stages = [Stage(index=k, blocks=blocks, ds_blocks=k, steps=finetune_steps,
                        early_stop=False, export_name=f"ds{k}")
                  for k in range(1, blocks + 1)]

    def checked_initial():
        model = initial()
        found = dnresnet.describe(model)["blocks"]
        if found != blocks:
            raise ValueError(f"trainer_kwargs.blocks={blocks} but {init_path} has {found} blocks")
        return model

    channels = config.model_kwargs.get("channels")
    if channels is None:
        channels = dnresnet.describe(initial())["channels"]
    return run_stages(
        config, out_dir, stages, initial=checked_initial, channels=int(channels),
        resume=resume, progress=progress, datasets=datasets, callbacks=callbacks,
        options=options,
    )
