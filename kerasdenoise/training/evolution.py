"""Incremental evolution DN-ResNet -> DS-DN-ResNet (Ren et al. 2018, Sec. 3.2, Fig. 5),
registered as driver ``"evolution"``.

Starting from a trained DN-ResNet, the ResBlocks are replaced by DS-ResBlocks one at a time
from the tail (the block nearest the output first), with a fine-tuning stage after each
replacement.  The new DS block starts from N(0, 0.001) weights; every other layer (first,
second and last convolutions, the remaining ResBlocks, the DS blocks of earlier stages) keeps
its trained weights.  ``one_shot=True`` is the paper's 'DS-DN-os' ablation: every block is
replaced at once, then the net is fine-tuned for the same total number of steps.

Config (``procedure="evolution"``)::

    procedure_options = {
        "init": "runs/dnresnet-cascade-blind",  # a trained DN-ResNet: .keras file or run dir
                                                 # (its final.keras; 'valid' or 'same' form)
        "finetune_steps": N,   # per replacement (default config.steps); the paper: 10 epochs
        "one_shot": False,
        "block_init": "identity",  # or "distill"
        "distill_steps": 500,
    }

``block_init`` says how a new DS block starts: ``"identity"`` (the recipe's initialisation:
N(0, 0.001) for the paper, near the identity for the fast recipe) or ``"distill"``: first
trained alone, for ``distill_steps`` batches of the training patches, to reproduce the output
of the block it replaces from that block's input (both read off the previous stage's network,
frozen; MSE on the 32 feature maps, Adam at :data:`DISTILL_LEARNING_RATE` with the recipe's
schedule).  A distilled block starts the fine-tuning where the replaced block left the
network, less what a DS block cannot represent; the seconds it took count in the stage's time.

The learning rate is the config's (the paper: the cascade's fixed 1e-4).  Stages live in
``out_dir/stage{k}`` with k the number of DS blocks after the stage (incremental: stage1 ...
stage5; one-shot: stage5 only); each finished stage is exported in the 'same' form as
``out_dir/ds{k}.keras`` and the last as ``out_dir/final.keras``.  Resume skips finished stages
exactly as the cascade does (see :mod:`kerasdenoise.training.cascade`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import keras
import tensorflow as tf

from kerasdenoise.models import dnresnet
from kerasdenoise.training import distribute
from kerasdenoise.training.cascade import Stage, positive_int, run_stages
from kerasdenoise.training.configs import TrainConfig
from kerasdenoise.training.runner import TrainResult, _fit_verbose
from kerasdenoise.training.trainers import (Options, make_optimizer, register_procedure,
                                            uses_options)

BLOCK_INITS = ("identity", "distill")
DISTILL_LEARNING_RATE = 1e-3  # a fresh block, trained alone: the fast recipe's peak rate


@dataclass(frozen=True)
class EvolutionOptions(Options):
    """``procedure_options`` of the procedure ``evolution`` (see the module doc): ``init`` (the
    trained DN-ResNet), ``finetune_steps`` (per replacement; ``None``: ``config.steps``; may
    change when a run is resumed), ``one_shot`` and ``blocks`` (``None``: read from ``init``)."""

    init: Optional[str] = None
    finetune_steps: Optional[int] = None
    one_shot: bool = False
    blocks: Optional[int] = None
    block_init: str = "identity"
    distill_steps: int = 500

    resumable = frozenset({"finetune_steps"})

    def __post_init__(self):
        if self.finetune_steps is not None:
            positive_int("finetune_steps", self.finetune_steps)
        if self.blocks is not None and int(self.blocks) < 1:
            raise ValueError(f"procedure_options.blocks must be >= 1, got {self.blocks}")
        if self.block_init not in BLOCK_INITS:
            raise ValueError(f"procedure_options.block_init must be one of {BLOCK_INITS}, got "
                             f"{self.block_init!r}")
        positive_int("distill_steps", self.distill_steps)


def _block_input(index: int) -> str:
    """The layer whose output feeds ResBlock ``index``."""
    return "conv2" if index == 1 else f"res{index - 1}_add"


class BlockDistiller(keras.Model):
    """Trains the DS blocks ``blocks`` of ``student`` to reproduce ``teacher``'s blocks of the
    same indices: each block's input and target output are ``teacher``'s features (frozen);
    the loss is the mean square error summed over the blocks.  The student's layers are shared,
    so training this model trains them."""

    def __init__(self, teacher: keras.Model, student: keras.Model, blocks, **kwargs):
        super().__init__(**kwargs)
        names = [name for k in blocks for name in (_block_input(k), f"res{k}_add")]
        self.features = keras.Model(teacher.input, [teacher.get_layer(n).output for n in names],
                                    name="teacher_features")
        self.features.trainable = False
        inputs, outputs = [], []
        for k in blocks:
            x = keras.Input(shape=(None, None, dnresnet.RES_FILTERS), name=f"res{k}_input")
            y = student.get_layer(f"res{k}_pointwise")(student.get_layer(f"res{k}_depthwise")(x))
            inputs.append(x)
            outputs.append(keras.layers.Add(name=f"res{k}_distilled")([x, y]))
        self.blocks = keras.Model(inputs, outputs, name="distilled_blocks")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def block_losses(self, degraded):
        features = self.features(degraded, training=False)
        outputs = self.blocks(features[0::2], training=True)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [tf.reduce_mean(tf.square(out - target))
                for out, target in zip(outputs, features[1::2])]

    def call(self, degraded, training=False):
        return self.blocks(self.features(degraded, training=False)[0::2], training=training)

    def train_step(self, data):
        degraded = keras.utils.unpack_x_y_sample_weight(data)[0]
        variables = self.blocks.trainable_variables
        with tf.GradientTape() as tape:
            loss = tf.add_n(self.block_losses(degraded))
            scaled = distribute.scale_for_replicas(loss)
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


def distill_blocks(teacher: keras.Model, student: keras.Model, blocks, config: TrainConfig,
                   stream, steps: int, progress: bool = True) -> dict:
    """Train ``student``'s DS blocks ``blocks`` by :class:`BlockDistiller` for ``steps`` batches
    of ``stream`` (the stage's training patches); returns the block MSE before and after, the
    steps and the seconds."""
    started = time.perf_counter()
    distiller = BlockDistiller(teacher, student, blocks)
    distiller.compile(optimizer=make_optimizer(config.replace(steps=steps),
                                               learning_rate=DISTILL_LEARNING_RATE))
    data = distribute.distribute_stream(stream, config.batch_size)
    first = next(iter(stream.take(1)))[0]
    before = float(tf.add_n(distiller.block_losses(first)))
    if progress:
        print(f"distilling block(s) {list(blocks)} from the blocks they replace: {steps} steps")
    history = distiller.fit(data, epochs=1, steps_per_epoch=steps, verbose=_fit_verbose(progress),
                             shuffle=False)
    after = float(tf.add_n(distiller.block_losses(first)))
    return {"distilled_blocks": [int(k) for k in blocks], "distill_steps": int(steps),
            "block_mse_before": before, "block_mse_after": after,
            "last_epoch_loss": float(history.history["loss"][-1]),
            "seconds": round(time.perf_counter() - started, 2)}


def resolve_init(path) -> Path:
    """The ``.keras`` file named by ``init``: the file itself, or ``<run dir>/final.keras``."""
    if not path:
        raise ValueError("procedure_options.init must name a trained DN-ResNet (.keras file or run dir)")
    path = Path(path)
    if path.is_dir():
        candidate = path / "final.keras"
        if not candidate.exists():
            raise FileNotFoundError(
                f"procedure_options.init: run directory {path} has no final.keras (is its training "
                "finished?)"
            )
        return candidate
    if not path.exists():
        raise FileNotFoundError(f"procedure_options.init: no such model file or run directory: {path}")
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
    """Evolve ``procedure_options.init`` into a DS-DN-ResNet (see the module doc)."""
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
        raise ValueError(f"procedure_options.blocks must be >= 1, got {blocks}")
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
            raise ValueError(f"procedure_options.blocks={blocks} but {init_path} has {found} blocks")
        return model

    channels = config.model_kwargs.get("channels")
    if channels is None:
        channels = dnresnet.describe(initial())["channels"]
    def distill(previous, network, stage, stage_config, train_stream):
        old_ds = dnresnet.describe(previous)["ds_blocks"]
        fresh = range(blocks - stage.ds_blocks + 1, blocks - old_ds + 1)
        return distill_blocks(previous, network, fresh, stage_config, train_stream(0),
                              int(options.distill_steps), progress)

    return run_stages(
        config, out_dir, stages, initial=checked_initial, channels=int(channels),
        resume=resume, progress=progress, datasets=datasets, callbacks=callbacks,
        options=options, prepare=distill if options.block_init == "distill" else None,
    )
