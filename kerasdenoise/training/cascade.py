"""Cascade training of DN-ResNet (Ren et al. 2018, Sec. 3.1, Fig. 2), registered as driver
``"cascade"``, and the staged-training machinery that incremental evolution shares.

Cascade training starts from the 3-layer CNN (``blocks=0``), trains it, then inserts one
ResBlock just before the last layer per stage (every trained weight inherited, the new block
N(0, 0.001) so the output barely changes) until ``final_blocks``.  A stage moves on when its
smoothed training loss (the mean of the last ``window`` per-batch losses) is ``improvement``
(3 %) below the previous stage's final smoothed loss, or when its step budget is spent.  The
learning rate is the config's (the paper: a fixed 1e-4, no decay; each stage gets a fresh Adam).

Config (``procedure="cascade"``, ``model="dnresnet"``)::

    procedure_options = {
        "final_blocks": 5,      # DN-ResNet-(3 + 2 * final_blocks)
        "start_blocks": 0,      # 0: the paper's cascade; = final_blocks: one-shot training
                                #    of the deep net from N(0, 0.001) (Table 1 '13-layer-os')
        "stage_steps": N,       # budget of a growth stage (default: config.steps)
        "base_steps": N0,       # budget of the first stage (default: stage_steps)
        "final_steps": Nf,      # budget of the last stage (default: stage_steps)
        "improvement": 0.03,    # advance when loss <= (1 - improvement) * previous final loss
        "window": 100,          # batches averaged into the smoothed loss
    }

The first stage has no previous loss and the last has no next stage, so both train for their
full budgets; the 3 % rule only ends the stages in between early.

Layout of ``out_dir``: ``config.json`` (this config), ``stage{k}/`` (a complete
:func:`kerasdenoise.training.runner.train` run of stage k, 'valid' form, with its own
checkpoints and ``stage.json``: blocks, steps, smoothed loss, whether the rule ended it),
``dnresnet{L}.keras`` for every finished depth L = 3, 5, ..., 13 (the Table 1 models) and
``final.keras`` (the deepest), all in the whole-image 'same' form.  A stage is finished when its
``final.keras`` exists; ``resume=True`` skips finished stages and continues the current one from
its checkpoint.

The options are :class:`CascadeOptions` (unknown keys are refused, listing the valid ones); a
resumed run may change the step budgets only (see ``runner.check_resume``).
"""
from __future__ import annotations

import csv
import json
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import keras

from kerasdenoise.models import dnresnet
from kerasdenoise.training.configs import TrainConfig
from kerasdenoise.training.recipe import get_recipe, network_kwargs
from kerasdenoise.training.runner import (
    TrainResult,
    _write_json_atomic,
    check_resume,
    make_datasets,
    read_state,
    save_model_atomic,
    train,
)
from kerasdenoise.training.trainers import Options, register_procedure, uses_options

STAGE_SUMMARY = "stage.json"
PREPARED = "prepared.json"  # what a stage's preparation did (e.g. block distillation)


def positive_int(key: str, value) -> int:
    """``value`` as an int; ValueError naming ``procedure_options.<key>`` unless it is a positive
    integer."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value \
            or value < 1:
        raise ValueError(f"procedure_options.{key} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class CascadeOptions(Options):
    """``procedure_options`` of the procedure ``cascade`` (see the module doc); the step budgets
    (``None``: ``config.steps``; ``base_steps`` / ``final_steps``: ``stage_steps``) may change
    when a run is resumed."""

    final_blocks: int = 5
    start_blocks: int = 0
    stage_steps: Optional[int] = None
    base_steps: Optional[int] = None
    final_steps: Optional[int] = None
    improvement: float = 0.03
    window: int = 100

    resumable = frozenset({"stage_steps", "base_steps", "final_steps"})

    def __post_init__(self):
        if not 0 <= int(self.start_blocks) <= int(self.final_blocks):
            raise ValueError(
                f"procedure_options: need 0 <= start_blocks <= final_blocks, got "
                f"{self.start_blocks}, {self.final_blocks}"
            )
        for key in ("stage_steps", "base_steps", "final_steps"):
            if getattr(self, key) is not None:
                positive_int(key, getattr(self, key))


class StageLossMonitor(keras.callbacks.Callback):
    """Smoothed training loss of a stage; stops the stage once it reaches ``target``.

    Keras reports ``logs["loss"]`` as the running mean since the start of the epoch, so the
    loss of the epoch's batch k (0-based) is ``(k + 1) * mean_k - k * mean_{k-1}``.  The
    smoothed loss is the mean of the last ``window`` batch losses; the rule is only checked
    once the window is full.  The window and the running mean are saved in the run's
    checkpoints (``get_resume_state`` / ``set_resume_state``), so a stage resumed in the middle
    of an epoch (whose running mean the runner restores too) ends where it would have ended.
    """

    def __init__(self, window: int = 100, target: Optional[float] = None):
        super().__init__()
        if int(window) != window or window < 1:
            raise ValueError(f"window must be a positive integer, got {window!r}")
        self.window = int(window)
        self.target = target
        self.losses = deque(maxlen=self.window)
        self.reached_target = False
        self._running = 0.0
        self._batches = 0  # the batches of the epoch that the running mean covers
        self._epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch != self._epoch:  # a resumed epoch goes on with its saved running mean
            self._epoch = epoch
            self._running = 0.0
            self._batches = 0

    def get_resume_state(self) -> dict:
        return {"losses": list(self.losses), "running": self._running,
                "batches": self._batches, "epoch": self._epoch,
                "reached_target": self.reached_target}

    def set_resume_state(self, state: dict):
        self.losses = deque(state["losses"], maxlen=self.window)
        self._running = float(state["running"])
        self._batches = int(state["batches"])
        self._epoch = state["epoch"]
        self.reached_target = bool(state["reached_target"])

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        mean = float(logs["loss"])
        if not math.isfinite(mean):
            return  # the runner's checkpoint callback stops the run
        seen = self._batches
        batch_loss = (seen + 1) * mean - seen * self._running
        self._running = mean
        self._batches = seen + 1
        self.losses.append(batch_loss)
        if (self.target is not None and len(self.losses) == self.window
                and self.smoothed() <= self.target):
            self.reached_target = True
            self.model.stop_training = True

    def smoothed(self) -> Optional[float]:
        return sum(self.losses) / len(self.losses) if self.losses else None


@dataclass
class Stage:
    """One stage of a staged run: the network it trains and its budget."""

    index: int  # directory stage{index}
    blocks: int
    ds_blocks: int
    steps: int
    early_stop: bool  # end the stage by the improvement rule
    export_name: str  # the 'same'-form model written to out_dir when the stage is finished


def _last_history_loss(stage_dir: Path) -> Optional[float]:
    path = stage_dir / "history.csv"
    if not path.exists():
        return None
    rows = list(csv.DictReader(path.read_text().splitlines()))
    for row in reversed(rows):
        try:
            return float(row["loss"])
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _read_summary(stage_dir: Path) -> dict:
    path = stage_dir / STAGE_SUMMARY
    if path.exists():
        return json.loads(path.read_text())
    # Finished but the summary was not written (killed in between): the last epoch's mean loss.
    state = read_state(stage_dir) or {}
    return {"loss": _last_history_loss(stage_dir), "steps": state.get("step", 0),
            "seconds": state.get("seconds", 0.0)}


def _sorted_dict(mapping: dict) -> dict:
    """``mapping`` with sorted keys, so a stage's config compares equal to its saved
    config.json (written with sorted keys) whatever the comparison does with key order."""
    return {key: mapping[key] for key in sorted(mapping)}


def _load_stage_model(path: Path) -> keras.Model:
    from kerasdenoise.runtime import load_keras_model

    return load_keras_model(path)


def run_stages(
    config: TrainConfig,
    out_dir,
    stages: list[Stage],
    initial: Callable[[], Optional[keras.Model]],
    *,
    channels: int,
    improvement: float = 0.03,
    window: int = 100,
    resume: bool = False,
    progress: bool = True,
    datasets=None,
    callbacks=(),
    options: Optional[Options] = None,
    prepare: Optional[Callable] = None,
) -> TrainResult:
    """Train ``stages`` in order, each in ``out_dir/stage{index}`` with the supervised trainer.

    Stage k's network is the previous stage's trained network rebuilt with the stage's
    ``blocks`` / ``ds_blocks`` (inherited layers keep their weights, new ones get N(0, 0.001)
    with the seed ``config.seed + index``); the first stage starts from ``initial()`` (a
    trained DN-ResNet) or, when that returns None, from a fresh network.  Every stage trains
    in the 'valid' form of ``config.model_kwargs["base_padding"]`` and is exported in the
    'same' form as ``out_dir/<export_name>.keras``; the last also as ``out_dir/final.keras``.
    ``options``: the procedure's options, for the resume check (default: ``config.procedure``'s).
    ``prepare(previous_model, network, stage, stage_config, train_stream) -> dict``: called
    when a stage starts afresh (not on resume: its checkpoint holds the weights), after the
    rebuild; its dict (with ``"seconds"``, counted in the stage's time) goes into the stage's
    summary.
    """
    out_dir = Path(out_dir)
    if not stages:
        raise ValueError("a staged run needs at least one stage")
    if not 0 <= improvement < 1:
        raise ValueError(f"improvement must be in [0, 1), got {improvement!r}")
    check_resume(config, out_dir, resume, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(config.to_json())
    base_padding = config.model_kwargs.get("base_padding", "valid")

    previous_model: Optional[keras.Model] = None
    previous_loss: Optional[float] = None
    total_steps, total_seconds = 0, 0.0
    result = None
    summaries = []
    for position, stage in enumerate(stages):
        stage_dir = out_dir / f"stage{stage.index}"
        export_path = out_dir / f"{stage.export_name}.keras"
        if (stage_dir / "final.keras").exists():
            summary = _read_summary(stage_dir)
            previous_loss = summary.get("loss")
            total_steps += int(summary.get("steps", 0))
            total_seconds += float(summary.get("seconds", 0.0))
            previous_model = _load_stage_model(stage_dir / "final.keras")
            if not export_path.exists():
                save_model_atomic(dnresnet.to_same_padding(previous_model), export_path)
            summaries.append(summary)
            if progress:
                print(f"{stage_dir} is finished; skipping it")
            continue

        keras.utils.set_random_seed(config.seed + stage.index)
        if previous_model is None:
            previous_model = initial()
        if previous_model is None:
            network = dnresnet.build_dnresnet(
                blocks=stage.blocks, ds_blocks=stage.ds_blocks, channels=channels,
                base_padding=base_padding, **network_kwargs(config.recipe),
            )
        else:
            network = dnresnet.rebuild(previous_model, blocks=stage.blocks,
                                       ds_blocks=stage.ds_blocks, base_padding=base_padding,
                                       init=get_recipe(config.recipe).init)
        target = None
        if stage.early_stop and previous_loss is not None:
            target = (1.0 - improvement) * previous_loss
        monitor = StageLossMonitor(window=window, target=target)
        stage_config = config.replace(
            name=f"{config.name}/stage{stage.index}",
            procedure="supervised", procedure_options={},
            model="dnresnet",
            model_kwargs=_sorted_dict({"blocks": stage.blocks, "ds_blocks": stage.ds_blocks,
                                       "channels": channels, "base_padding": base_padding}),
            loss_kwargs=_sorted_dict(config.loss_kwargs),
            steps=int(stage.steps),
        )
        if progress:
            print(f"stage {stage.index}: {3 + 2 * stage.blocks} layers, {stage.ds_blocks} DS "
                  f"block(s), up to {stage.steps} steps"
                  + (f", until the smoothed loss <= {target:.6g}" if target is not None else ""))
        if datasets is None:
            # Every stage trains on the same data (the paper shares the training samples
            # across stages): decode the images once, not once per stage.
            datasets = make_datasets(stage_config)
        prepared = {}
        if prepare is not None and previous_model is not None:
            if read_state(stage_dir) is None:
                prepared = prepare(previous_model, network, stage, stage_config, datasets[0])
                stage_dir.mkdir(parents=True, exist_ok=True)
                _write_json_atomic(stage_dir / PREPARED, prepared)
            elif (stage_dir / PREPARED).exists():  # resumed: what preparing it took
                prepared = json.loads((stage_dir / PREPARED).read_text())
        result = train(stage_config, stage_dir, resume=resume, network=network,
                       callbacks=[monitor, *callbacks], progress=progress, datasets=datasets)
        seconds = result.seconds + float(prepared.get("seconds", 0.0))
        loss = monitor.smoothed()
        if loss is None:
            loss = _last_history_loss(stage_dir)
        summary = {
            "stage": stage.index, "blocks": stage.blocks, "ds_blocks": stage.ds_blocks,
            "layers": 3 + 2 * stage.blocks, "steps": result.steps, "budget": int(stage.steps),
            "seconds": round(seconds, 2), "loss": loss, "target": target,
            "reached_target": monitor.reached_target,
            **({"prepared": prepared} if prepared else {}),
        }
        _write_json_atomic(stage_dir / STAGE_SUMMARY, summary)
        summaries.append(summary)
        previous_loss = loss
        previous_model = result.denoiser
        total_steps += result.steps
        total_seconds += seconds
        save_model_atomic(dnresnet.to_same_padding(previous_model), export_path)

    final = dnresnet.to_same_padding(previous_model)
    save_model_atomic(final, out_dir / "final.keras")
    (out_dir / "stages.json").write_text(json.dumps(summaries, indent=2))
    trainable = result.trainable if result is not None else previous_model
    return TrainResult(final, trainable, out_dir, total_steps, total_seconds)


@register_procedure("cascade")
@uses_options(CascadeOptions)
def cascade_driver(config: TrainConfig, out_dir, resume: bool = False, progress: bool = True,
                   datasets=None, callbacks=(), *, options: CascadeOptions) -> TrainResult:
    """Cascade-train DN-ResNet as configured by ``config.procedure_options`` (see the module doc)."""
    if config.model != "dnresnet":
        raise ValueError(f"the cascade driver trains model 'dnresnet', got {config.model!r}")
    final_blocks, start_blocks = int(options.final_blocks), int(options.start_blocks)
    stage_steps = positive_int("stage_steps", options.stage_steps or config.steps)
    base_steps = positive_int("base_steps", options.base_steps or stage_steps)
    final_steps = positive_int("final_steps", options.final_steps or stage_steps)
    stages = []
    for blocks in range(start_blocks, final_blocks + 1):
        first, last = blocks == start_blocks, blocks == final_blocks
        steps = final_steps if last else base_steps if first else stage_steps
        stages.append(Stage(index=blocks, blocks=blocks, ds_blocks=0, steps=steps,
                            early_stop=not first and not last,
                            export_name=f"dnresnet{3 + 2 * blocks}"))
    return run_stages(
        config, out_dir, stages, initial=lambda: None,
        channels=int(config.model_kwargs.get("channels", 1)),
        improvement=float(options.improvement), window=int(options.window),
        resume=resume, progress=progress, datasets=datasets, callbacks=callbacks,
        options=options,
    )
