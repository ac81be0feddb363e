"""The training loop behind ``tools/train.py``: data, fit, logs, checkpoints, resume.

A run directory holds ``config.json``, ``history.csv``, TensorBoard logs under ``logs/``,
``checkpoints/last.weights.h5`` + ``checkpoints/state.json`` (network *and* optimizer state, the
step reached, seconds spent) and, at the end, ``final.keras`` (the bare denoiser).

Resuming is exact.  The step of record is the trainable's own update counter
(:func:`~kerasdenoise.training.trainers.step_counter`: the optimizer's ``iterations``), saved in
the weights file with the network, so the step, the weights, the optimizer state (Adam moments,
and with the counter the learning-rate schedule) can never disagree; ``state.json`` repeats it
for readers.  The data stream is a pure function of (seed, patch index), so a resumed run
rebuilds the pipeline at that step and sees the data it would have seen.  Every procedure
(single runs, and the staged ones for their top folder and each stage) goes through one
check, :func:`check_resume`: a folder that holds a run is continued only with ``resume=True``
and only with the config it was started with, but for the budget.

A checkpoint is written at the end of every epoch (``steps_per_epoch`` steps), after the
epoch's row of ``history.csv``.  SIGINT (Ctrl-C) and SIGTERM do not raise in the middle of a
step: the handler only asks for a stop, the run stops at the end of the batch in progress
(after it is counted and logged; on an epoch's last batch, after the epoch's validation, row
and checkpoint) and saves a checkpoint there, then raises ``KeyboardInterrupt`` (``tools/train.py``
exits 130).  A second signal while it finishes the batch stops at once, keeping the last
checkpoint.  A signal the process inherited as *ignored* stays ignored (the shell convention
for background jobs, which Python itself follows for SIGINT: ``cmd &`` in a script ignores
Ctrl-C); stop such a run with SIGTERM.

A mid-epoch checkpoint also holds the epoch's running metric sums (the trainable's
``metrics_variables``) and the state of stateful callbacks (``get_resume_state`` /
``set_resume_state``, e.g. the cascade's loss window), so the resumed epoch's ``history.csv``
row is the one an uninterrupted run writes.  ``state.json`` records how many rows of
``history.csv`` belong to the checkpoint; a resume drops rows written after it (a run killed
between a row and its checkpoint).  After SIGKILL a resume therefore loses only the steps since
the last checkpoint and is otherwise identical.  A non-finite loss stops the run *before*
anything broken is written.

``state.json`` fields: ``step``, ``seconds`` (always); ``history_rows``, ``partial_epoch``
(``{"epoch", "steps_per_epoch", "metrics"}``, mid-epoch checkpoints only), ``callbacks``,
``stopped`` (a callback ended the run, e.g. a cascade stage's advance rule) and ``format``
(written since format 2; a checkpoint without them resumes as before).
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from kerasdenoise import models
from kerasdenoise.training.configs import TrainConfig
from kerasdenoise.training.trainers import (
    build_optimizer_state,
    denoiser_of,
    get_driver,
    make_trainable,
    step_counter,
)

CHECKPOINT_WEIGHTS = "checkpoints/last.weights.h5"
CHECKPOINT_STATE = "checkpoints/state.json"
STATE_FORMAT = 2  # 1: {"step", "seconds"} only (a checkpoint of that format still resumes)
# Config fields a resumed run may change: the budget and its bookkeeping, nothing that alters
# what the finished steps meant.
# (the strategy too: a global step trains on the same patches with any number of replicas)
RESUMABLE_CHANGES = {"steps", "steps_per_epoch", "description", "val_batches", "snapshot_every",
                     "strategy", "devices"}
SNAPSHOT_DIR = "snapshots"


class NonFiniteLoss(RuntimeError):
    pass


@dataclass
class TrainResult:
    denoiser: keras.Model
    trainable: keras.Model
    out_dir: Path
    steps: int
    seconds: float


def _write_json_atomic(path: Path, data: dict):
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_state(out_dir) -> dict | None:
    path = Path(out_dir) / CHECKPOINT_STATE
    return json.loads(path.read_text()) if path.exists() else None


def _note(message: str):
    print(f"note: {message}", file=sys.stderr)


def _history_rows(path: Path) -> int:
    """Data rows (lines after the header) of a ``history.csv``; 0 when there is none."""
    if not path.exists():
        return 0
    return max(0, len(path.read_text().splitlines()) - 1)


def _trim_history(path: Path, rows: int):
    """Keep the header and the first ``rows`` rows of ``history.csv`` (rows past a checkpoint
    were written by a run killed before it could checkpoint them; the resume writes them again)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    if len(lines) > rows + 1:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text("".join(lines[:rows + 1]))
        os.replace(tmp, path)


def _reconcile_state(out_dir: Path, state: dict, step: int) -> dict:
    """The checkpoint state that belongs to weights whose update counter is ``step``.

    A checkpoint is committed as: weights and state written to temporary files, weights
    renamed into place, state renamed into place.  A run killed between the two renames left
    the new state in ``state.json.tmp``: it is rolled forward.  Any other disagreement (a
    checkpoint written by an older version during a step: its ``state.json`` one step behind
    the optimizer) is resolved for the optimizer's count, the step of record; the epoch
    bookkeeping that belonged to the other step is dropped.
    """
    if int(state["step"]) == step:
        return state
    path = out_dir / CHECKPOINT_STATE
    pending = path.with_suffix(path.suffix + ".tmp")
    if pending.exists():
        try:
            candidate = json.loads(pending.read_text())
        except ValueError:
            candidate = None
        if candidate is not None and int(candidate.get("step", -1)) == step:
            os.replace(pending, path)
            return candidate
    _note(f"{path} says step {state['step']} but the checkpoint's optimizer has made {step} "
          f"updates; resuming at step {step} (the optimizer's count is the step of record)")
    return {"step": step, "seconds": state.get("seconds", 0.0),
            **({"history_rows": state["history_rows"]} if "history_rows" in state else {})}


def _stateful_callbacks(callbacks) -> dict:
    """``{key: callback}`` for the callbacks that save state in checkpoints (those with
    ``get_resume_state()`` and ``set_resume_state(state)``); the key is the class name,
    numbered from the second one of a class on."""
    found = {}
    for callback in callbacks:
        if hasattr(callback, "get_resume_state") and hasattr(callback, "set_resume_state"):
            name = key = type(callback).__name__
            number = 1
            while key in found:
                number += 1
                key = f"{name}{number}"
            found[key] = callback
    return found


class _Stopped(Exception):
    """Raised by :class:`_StopOnSignal` at a batch boundary after SIGINT / SIGTERM."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


class _StopRequest:
    """The SIGINT / SIGTERM handler: the first signal only records a stop request; a second
    one raises ``KeyboardInterrupt`` at once (unless a checkpoint is being written: then it is
    ignored, the save finishes and the first request stops the run)."""

    def __init__(self):
        self.signum = None
        self.saving = 0

    def __call__(self, signum, frame):
        if self.signum is None:
            self.signum = signum
        elif not self.saving:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}")

    def install(self) -> dict:
        """Install the handler for SIGINT and SIGTERM (main thread only; a signal inherited as
        ignored stays ignored); the previous handlers, to restore."""
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(sig)
            if current == signal.SIG_IGN:
                continue
            previous[sig] = current
            signal.signal(sig, self)
        return previous

    @staticmethod
    def restore(previous: dict):
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


class RunCheckpoint(keras.callbacks.Callback):
    """The run's step, its checkpoints (weights + optimizer + state, committed atomically) and
    the refusal of non-finite losses.

    ``step`` is read from the trainable's update counter; it is not counted here.  A
    mid-epoch checkpoint (``save(partial=True)``) is only valid at a batch boundary whose batch
    this callback has seen (:meth:`at_batch_boundary`): then the metric variables hold exactly
    the epoch's sums so far.
    """

    def __init__(self, out_dir: Path, seconds: float, steps_per_epoch: int, total: int,
                 stateful: dict | None = None, stop: _StopRequest | None = None,
                 saved_step: int | None = None, partial_epoch: dict | None = None):
        super().__init__()
        self.out_dir = Path(out_dir)
        self.seconds = seconds
        self.steps_per_epoch = steps_per_epoch
        self.total = total
        self.stateful = stateful or {}
        self.stop = stop
        self.saved_step = saved_step  # the step of the checkpoint on disk (None: none yet)
        self._partial = partial_epoch  # metric sums to restore when the resumed epoch begins
        self._t0 = time.perf_counter()
        self.bad_loss = None
        self._epoch = None
        self._at_boundary = False

    @property
    def step(self) -> int:
        return int(step_counter(self.model).numpy())

    def is_epoch_end(self, step: int) -> bool:
        return step >= self.total or step % self.steps_per_epoch == 0

    def at_batch_boundary(self) -> bool:
        """True between this callback's end of a good batch and the next event of the fit
        loop, in the middle of an epoch: a consistent point for a mid-epoch checkpoint."""
        return (self._at_boundary and self.bad_loss is None
                and not self.is_epoch_end(self.step))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        partial, self._partial = self._partial, None
        if partial is not None and partial.get("epoch") == epoch:
            self._restore_metrics(partial.get("metrics", []))

    def _restore_metrics(self, values):
        variables = self.model.metrics_variables
        shapes_match = len(values) == len(variables) and all(
            np.shape(value) == tuple(variable.shape) for value, variable in zip(values, variables))
        if not shapes_match:
            _note(f"{self.out_dir}: the checkpoint's metric sums do not fit this trainable's "
                  "metrics; the resumed epoch's history row covers only the steps after the resume")
            return
        for variable, value in zip(variables, values):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def on_train_batch_begin(self, batch, logs=None):
        self._at_boundary = False

    def on_train_batch_end(self, batch, logs=None):
        for key, value in (logs or {}).items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                self.bad_loss = (key, value)
                self.model.stop_training = True
                return
        self._at_boundary = True

    def on_test_begin(self, logs=None):
        self._at_boundary = False  # validation resets and reuses the metric variables

    def on_epoch_end(self, epoch, logs=None):
        self._at_boundary = False
        if self.bad_loss is None:
            self.save(stopped=bool(getattr(self.model, "stop_training", False)))

    def elapsed(self):
        return self.seconds + time.perf_counter() - self._t0

    def save(self, partial: bool = False, stopped: bool = False):
        """Commit a checkpoint at the current step.  ``partial``: mid-epoch (only valid when
        :meth:`at_batch_boundary`), with the epoch's metric sums; ``stopped``: a callback
        ended the run here, a resume only finishes it."""
        if self.bad_loss is not None:
            return
        if self.stop is not None:
            self.stop.saving += 1
        try:
            self._save(partial, stopped)
        finally:
            if self.stop is not None:
                self.stop.saving -= 1

    def _save(self, partial, stopped):
        (self.out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        step = self.step
        state = {"format": STATE_FORMAT, "step": step, "seconds": round(self.elapsed(), 2),
                 "history_rows": _history_rows(self.out_dir / "history.csv")}
        if partial:
            state["partial_epoch"] = {
                "epoch": self._epoch, "steps_per_epoch": self.steps_per_epoch,
                "metrics": [np.asarray(v.numpy()).tolist() for v in self.model.metrics_variables],
            }
        if self.stateful:
            state["callbacks"] = {key: callback.get_resume_state()
                                  for key, callback in self.stateful.items()}
        if stopped:
            state["stopped"] = True
        weights = self.out_dir / CHECKPOINT_WEIGHTS
        state_path = self.out_dir / CHECKPOINT_STATE
        tmp_weights = weights.with_name("tmp-" + weights.name)  # save_weights wants .weights.h5
        tmp_state = state_path.with_suffix(state_path.suffix + ".tmp")
        self.model.save_weights(tmp_weights)
        tmp_state.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.replace(tmp_weights, weights)
        os.replace(tmp_state, state_path)  # see _reconcile_state for a kill between the two
        self.saved_step = step


class _StopOnSignal(keras.callbacks.Callback):
    """Turns a stop request (:class:`_StopRequest`) into a stop at the next batch boundary:
    raises :class:`_Stopped` after every other callback has handled the batch (it is the last
    callback), or, on the last batch of an epoch, once the epoch has ended (validation,
    history row, checkpoint)."""

    def __init__(self, request: _StopRequest, checkpoint: RunCheckpoint):
        super().__init__()
        self.request = request
        self.checkpoint = checkpoint

    def on_train_batch_end(self, batch, logs=None):
        # A batch at which a callback ended the run (stop_training) goes on to its epoch end,
        # so that the checkpoint records the end (``stopped``).
        if (self.request.signum is not None and self.checkpoint.at_batch_boundary()
                and not getattr(self.model, "stop_training", False)):
            raise _Stopped(self.request.signum)

    def on_epoch_end(self, epoch, logs=None):
        if self.request.signum is not None and self.checkpoint.bad_loss is None:
            raise _Stopped(self.request.signum)


class Snapshots(keras.callbacks.Callback):
    """Every ``every`` steps, the bare denoiser as ``snapshots/step{N}.keras`` and its training
    minutes in ``snapshots/snapshots.json`` (a curve of quality against training time)."""

    def __init__(self, out_dir: Path, checkpoint: RunCheckpoint, every: int):
        super().__init__()
        if int(every) != every or every < 1:
            raise ValueError(f"snapshot_every must be a positive integer, got {every!r}")
        self.dir = Path(out_dir) / SNAPSHOT_DIR
        self.checkpoint = checkpoint
        self.every = int(every)

    def on_train_batch_end(self, batch, logs=None):
        step = self.checkpoint.step  # the update counter: this batch is counted
        if step % self.every or self.checkpoint.bad_loss is not None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        index_path = self.dir / "snapshots.json"
        index = json.loads(index_path.read_text()) if index_path.exists() else {}
        if str(step) in index:
            return
        path = self.dir / f"step{step}.keras"
        save_inference_model(denoiser_of(self.model), path)
        index[str(step)] = {"file": path.name, "minutes": round(self.checkpoint.elapsed() / 60, 2)}
        _write_json_atomic(index_path, index)


def check_network_arguments(config: TrainConfig):
    """The builder of ``config.model`` (ValueError listing the valid names when unknown), after
    checking that it takes every key of ``config.model_kwargs`` and every argument that
    ``config.recipe`` implies (ValueError naming them)."""
    import inspect

    from kerasdenoise.training.recipe import network_kwargs

    builder = models.get_builder(config.model)
    parameters = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return builder
    valid = sorted(name for name, p in parameters.items()
                   if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    unknown = sorted(set(config.model_kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"model_kwargs {unknown}: not arguments of model {config.model!r}; valid: "
            f"{', '.join(valid)}"
        )
    missing = sorted(set(network_kwargs(config.recipe)) - set(valid))
    if missing:
        raise ValueError(
            f"recipe {config.recipe!r} needs builder arguments {missing}, which model "
            f"{config.model!r} does not take; use recipe 'paper' for it"
        )
    return builder


def build_network(config: TrainConfig) -> keras.Model:
    """``models.build(config.model, ...)`` with the builder arguments of ``config.recipe``
    (residual output, initialisation) under the config's own ``model_kwargs``."""
    from kerasdenoise.training.recipe import network_kwargs

    builder = check_network_arguments(config)
    network = builder(**{**network_kwargs(config.recipe), **config.model_kwargs})
    if config.init_weights:
        init_from_weights(network, config.init_weights)
    return network


def init_from_weights(network: keras.Model, path) -> list[str]:
    """Copy into ``network`` the weights of every same-named layer of the model in ``path``;
    the names of the copied layers.  An error names the file when it cannot be read or shares
    no layer with ``network``."""
    from kerasdenoise.models.dnresnet import copy_weights_by_name

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"init_weights: no such model file: {path}")
    from kerasdenoise.runtime import load_keras_model

    try:
        source = load_keras_model(path)
    except ValueError as err:  # a corrupt or foreign file: say which one
        raise ValueError(f"init_weights: {path} is not a readable Keras model ({err})") from None
    copied = copy_weights_by_name(source, network)
    if not copied:
        raise ValueError(f"init_weights: {path} shares no layer name with the "
                         f"{network.name!r} network")
    return copied


def _canonical(value) -> str:
    """JSON text independent of dict key order (config.json is written with sorted keys)."""
    return json.dumps(value, sort_keys=True)


def _checkpoints(out_dir: Path) -> list:
    """The checkpoints of the run in ``out_dir``: its own and its stages' / phases'
    (``checkpoints/state.json`` files at any depth)."""
    if not out_dir.is_dir():
        return []
    return sorted(out_dir.glob(f"**/{CHECKPOINT_STATE}"))


def check_resume(config: TrainConfig, out_dir, resume: bool, options=None) -> None:
    """The one resume check of every training procedure, before anything is written.

    ``out_dir`` holds a run (a checkpoint of its own or of one of its stages or phases):
    without ``resume`` that is a FileExistsError.  With ``resume``, the config must equal the
    run's ``config.json`` except in :data:`RESUMABLE_CHANGES` (the budget and its
    bookkeeping) and in the options the procedure lists as ``resumable`` (step budgets of
    stages); a procedure's ``fixed_on_resume`` fields may not change either (the two-phase
    run's total ``steps``).  Otherwise a ValueError names what differs.  ``options``: the
    procedure's options (dataclass or instance; default: those of ``config.procedure``).
    """
    from kerasdenoise.training.trainers import options_class

    out_dir = Path(out_dir)
    held = _checkpoints(out_dir)
    if held and not resume:
        steps = ", ".join(
            f"{path.parent.parent.relative_to(out_dir).as_posix() or '.'} at step "
            f"{json.loads(path.read_text()).get('step', '?')}" for path in held[:4])
        raise FileExistsError(
            f"{out_dir} already holds a run ({steps}); pass --resume to continue it or choose "
            "another --out."
        )
    config_path = out_dir / "config.json"
    if not (resume and held and config_path.exists()):
        return
    from kerasdenoise.training.configs import upgrade_legacy_fields

    saved = upgrade_legacy_fields(json.loads(config_path.read_text()))
    if options is None:
        options = options_class(config.procedure)
    fixed = dict(options.fixed_on_resume)
    may_change = RESUMABLE_CHANGES - set(fixed)
    current = config.to_dict()
    changed = [k for k in sorted(current)
               if k not in may_change and k != "procedure_options"
               and _canonical(saved.get(k)) != _canonical(current[k])]
    saved_kwargs, kwargs = saved.get("procedure_options") or {}, current["procedure_options"]
    changed += [f"procedure_options.{k}" for k in sorted(set(saved_kwargs) | set(kwargs))
                if k not in options.resumable
                and (k in saved_kwargs, _canonical(saved_kwargs.get(k)))
                != (k in kwargs, _canonical(kwargs.get(k)))]
    if changed:
        allowed = sorted(may_change) + [f"procedure_options.{k}" for k in sorted(options.resumable)]
        why = "".join(f" ({key} cannot change: {reason})" for key, reason in fixed.items()
                      if key in changed)
        raise ValueError(
            f"--resume: the config of {out_dir} differs in {changed}; only {allowed} may change "
            f"when resuming{why}. Use another --out for a different experiment."
        )


def _segments(start: int, total: int, per_epoch: int):
    """``(first_epoch, end_epoch, steps_per_epoch)`` for the ``fit`` calls from ``start`` to
    ``total``: a partial first epoch (a run resumed mid-epoch), the whole epochs in one call
    (so the progress bar counts them as one run), a partial last epoch."""
    out, step = [], start
    if step % per_epoch and step < total:
        epoch = step // per_epoch
        end = min((epoch + 1) * per_epoch, total)
        out.append((epoch, epoch + 1, end - step))
        step = end
    whole = (total - step) // per_epoch
    if whole:
        out.append((step // per_epoch, step // per_epoch + whole, per_epoch))
        step += whole * per_epoch
    if step < total:
        out.append((step // per_epoch, step // per_epoch + 1, total - step))
    return out


# The procedures whose loss is the compiled Keras loss (cascade: every stage is 'supervised'),
# so a stream's per-patch weights reach it.
WEIGHTED_PROCEDURES = frozenset({"supervised", "cascade"})


def _check_loss_weighting(config: TrainConfig) -> None:
    """A weighting other than 'uniform' needs a procedure and a loss that take the weights."""
    from kerasdenoise.losses import WEIGHTABLE_LOSSES, check_loss_weighting

    if check_loss_weighting(config.loss_weighting) == "uniform":
        return
    if config.procedure not in WEIGHTED_PROCEDURES:
        raise ValueError(
            f"loss_weighting {config.loss_weighting!r} needs procedure "
            f"{' or '.join(repr(p) for p in sorted(WEIGHTED_PROCEDURES))} (Keras' compiled loss, which takes "
            f"per-patch weights); procedure {config.procedure!r} computes its own loss: use 'uniform'")
    if config.loss not in WEIGHTABLE_LOSSES:
        raise ValueError(f"loss_weighting {config.loss_weighting!r} needs a per-pixel loss "
                         f"({', '.join(WEIGHTABLE_LOSSES)}); loss {config.loss!r} is one number per batch")


def _load_images(name, color):
    from kerasdenoise.data.discovery import image_set

    images_set = image_set(name)
    return images_set.load(color), images_set.names()


def make_datasets(config: TrainConfig):
    """``(stream_factory(step) -> tf.data.Dataset, validation dataset or None)`` for ``config``;
    the factory starts the deterministic patch stream at training step ``step``."""
    import tensorflow as tf

    from kerasdenoise.data.pipeline import patch_dataset
    from kerasdenoise.losses import patch_weights

    weighting = config.loss_weighting  # checked by train() and TrainConfig.from_dict
    train_images, train_names = _load_images(config.train_data, config.color)

    def train_stream(step):
        stream = patch_dataset(
            train_images, patch_size=config.patch_size, degradation=config.noise,
            batch_size=config.batch_size, seed=config.seed, target_size=config.target_size,
            start_step=step, names=train_names, augment=config.augment,
            patches_per_image=config.patches_per_image,
        )
        if weighting == "uniform":
            return stream
        # (degraded, clean, per-patch weights): Keras' compiled loss and metrics take the weights
        return stream.map(lambda degraded, clean: (degraded, clean, patch_weights(weighting, degraded, clean)),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)

    val = None
    if config.val_data and config.val_batches > 0:
        val_images, val_names = _load_images(config.val_data, config.color)
        # A fixed set of validation patches (its own seed), computed once and cached.
        val = patch_dataset(
            val_images, patch_size=config.patch_size, degradation=config.noise,
            batch_size=config.batch_size, seed=config.seed + 7919, target_size=config.target_size,
            names=val_names,
        ).take(config.val_batches).cache()
    return train_stream, val


def train(config: TrainConfig, out_dir, resume: bool = False, network: keras.Model | None = None,
          callbacks=(), progress: bool = True, datasets=None) -> TrainResult:
    """Train ``config`` into ``out_dir`` (or continue it with ``resume=True``).

    ``network`` starts from a given model instead of ``models.build(config.model, ...)``
    (cascade stages, evolution steps); ``datasets`` overrides :func:`make_datasets` with a
    ``(stream_factory(step), val)`` pair.
    """
    from kerasdenoise.training import distribute
    from kerasdenoise.training.trainers import procedure_options

    out_dir = Path(out_dir)
    procedure_options(config)  # an unknown procedure or option fails before anything is written
    _check_loss_weighting(config)
    if config.strategy != "none" and not _in_strategy_scope():
        # the whole procedure (every stage, both GAN phases) runs in the scope
        return distribute.run_under_strategy(
            config, out_dir, resume, lambda folder: train(
                config, folder, resume=resume, network=network, callbacks=callbacks,
                progress=progress, datasets=datasets))
    driver = get_driver(config.procedure) if network is None else None
    if driver is not None:
        return driver(config, out_dir, resume=resume, progress=progress, datasets=datasets,
                      callbacks=callbacks)
    check_resume(config, out_dir, resume)
    state = read_state(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "config.json"
    if state is None and (out_dir / "history.csv").exists():
        (out_dir / "history.csv").unlink()  # a run that never reached a checkpoint starts over
    config_path.write_text(config.to_json())

    keras.utils.set_random_seed(config.seed)
    if network is None:
        network = build_network(config)
    network = distribute.in_scope(network)
    trainable = make_trainable(config, network)
    per_epoch = max(1, min(config.steps_per_epoch, config.steps))
    stateful = _stateful_callbacks(callbacks)
    seconds, partial, stopped_before = 0.0, None, False
    if state is not None:
        build_optimizer_state(trainable)
        trainable.load_weights(out_dir / CHECKPOINT_WEIGHTS)
        state = _reconcile_state(out_dir, state, int(step_counter(trainable).numpy()))
        seconds = float(state.get("seconds", 0.0))
        stopped_before = bool(state.get("stopped", False))
        if "history_rows" in state:
            _trim_history(out_dir / "history.csv", int(state["history_rows"]))
        partial = state.get("partial_epoch")
        exact = True
        if partial is not None and (partial.get("steps_per_epoch") != per_epoch
                                    or partial.get("epoch") != int(state["step"]) // per_epoch):
            _note(f"{out_dir}: steps_per_epoch changed since the checkpoint; the interrupted "
                  "epoch's history row covers only the steps after the resume")
            partial, exact = None, False
        saved_callbacks = state.get("callbacks", {})
        for key, callback in stateful.items():
            if exact and key in saved_callbacks:
                callback.set_resume_state(saved_callbacks[key])
        if progress:
            print(f"Resuming {out_dir} at step {int(state['step'])}/{config.steps}")

    train_stream, val = datasets if datasets is not None else make_datasets(config)
    if partial is not None:
        _build_metrics(trainable, train_stream(int(state["step"])))
    request = _StopRequest()
    checkpoint = RunCheckpoint(out_dir, seconds, per_epoch, config.steps, stateful=stateful,
                               stop=request, partial_epoch=partial,
                               saved_step=None if state is None else int(state["step"]))
    checkpoint.set_model(trainable)  # so a resumed run that is already finished can still save
    distribute.prepare_for_fit(trainable)
    csv_logger = keras.callbacks.CSVLogger(str(out_dir / "history.csv"), append=True)
    tensorboard = keras.callbacks.TensorBoard(log_dir=str(out_dir / "logs"), write_graph=False)
    all_callbacks = [
        # An epoch's history row is written before its checkpoint, which records the row count.
        csv_logger,
        tensorboard,
        checkpoint,
        *([Snapshots(out_dir, checkpoint, config.snapshot_every)] if config.snapshot_every else []),
        *callbacks,
        _StopOnSignal(request, checkpoint),  # last: every other callback has seen the batch
    ]

    previous = request.install() if _main_thread() else {}
    try:
        segments = [] if stopped_before else _segments(checkpoint.step, config.steps, per_epoch)
        for first_epoch, end_epoch, n_steps in segments:
            trainable.fit(
                distribute.distribute_stream(train_stream(checkpoint.step), config.batch_size),
                initial_epoch=first_epoch, epochs=end_epoch, steps_per_epoch=n_steps,
                validation_data=distribute.validation_for_strategy(val), callbacks=all_callbacks,
                verbose=_fit_verbose(progress), shuffle=False,  # the stream is already shuffled
            )
            if checkpoint.bad_loss is not None:
                key, value = checkpoint.bad_loss
                raise NonFiniteLoss(
                    f"{key} became {value} at step {checkpoint.step} of {out_dir}; stopped "
                    f"without writing a checkpoint. The last good checkpoint is at step "
                    f"{(read_state(out_dir) or {'step': 0})['step']}: lower learning_rate or set "
                    "clipnorm, then --resume."
                )
            if trainable.stop_training:
                break  # an extra callback (e.g. a cascade stage's advance rule) ended the run
        if request.signum is not None:  # a signal after the last batch: still a stop
            raise _Stopped(request.signum)
    except _Stopped as stop:
        _close(csv_logger, tensorboard)
        if checkpoint.saved_step != checkpoint.step:
            checkpoint.save(partial=True)
        raise KeyboardInterrupt(
            f"stopped by {signal.Signals(stop.signum).name} at step {checkpoint.step}; "
            f"checkpoint saved in {out_dir}. Continue with --resume."
        ) from None
    except KeyboardInterrupt:
        _close(csv_logger, tensorboard)
        step = checkpoint.step
        if checkpoint.saved_step != step and checkpoint.at_batch_boundary():
            checkpoint.save(partial=True)
        if checkpoint.saved_step == step:
            message = f"interrupted at step {step}; checkpoint saved in {out_dir}."
        elif checkpoint.saved_step is None:
            message = f"interrupted at step {step}, before the first checkpoint of {out_dir}."
        else:
            message = (f"interrupted during step {step}; the checkpoint of step "
                       f"{checkpoint.saved_step} in {out_dir} is kept.")
        raise KeyboardInterrupt(f"{message} Continue with --resume.") from None
    finally:
        _StopRequest.restore(previous)

    if checkpoint.saved_step != checkpoint.step:
        checkpoint.save(stopped=bool(getattr(trainable, "stop_training", False)))
    denoiser = denoiser_of(trainable)
    save_inference_model(denoiser, out_dir / "final.keras")
    _write_json_atomic(out_dir / "run_info.json", {
        "steps": checkpoint.step, "minutes": round(checkpoint.elapsed() / 60, 2),
        # e.g. which (offline stand-in) feature extractor a perceptual / content loss used
        "labels": {k: getattr(trainable, k) for k in ("feature_label", "content_label")
                   if getattr(trainable, k, None)},
    })
    return TrainResult(denoiser, trainable, out_dir, checkpoint.step, checkpoint.elapsed())


def _build_metrics(trainable: keras.Model, stream):
    """Create the variables of ``trainable``'s compiled metrics, which Keras otherwise creates
    in the first training step, so that a run resumed mid-epoch can put the epoch's metric sums
    back before that step: the metrics of one batch of ``stream``, computed in inference mode
    (nothing the training depends on changes; the sums are overwritten by the restore)."""
    try:
        x, y, _ = keras.utils.unpack_x_y_sample_weight(next(iter(stream.take(1))))
        trainable.compute_metrics(x, y, trainable(x, training=False))
    except Exception as err:  # noqa: BLE001 - the restore then reports that it cannot fit
        _note(f"could not build the metrics of {trainable.name} before resuming: {err}")


def _close(*callbacks):
    """End the callbacks that hold files open (history.csv, TensorBoard writers) after ``fit``
    was left by an exception, which skips ``on_train_end``."""
    for callback in callbacks:
        try:
            callback.on_train_end()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


def save_inference_model(network: keras.Model, path):
    """Save ``network`` without its training configuration.

    A compiled model's ``.keras`` file records its loss and metrics, and loading it then needs
    those classes; the file a user deploys should only need the network, so an uncompiled copy
    (same architecture, same weights) is written.  The file is written under a temporary name
    and renamed, so a killed run never leaves a truncated model (the staged drivers take an
    existing ``final.keras`` as a finished stage).
    """
    copy = network
    if getattr(network, "compiled", False):
        try:
            # from_config, not clone_model: clone_model re-compiles the copy
            copy = type(network).from_config(network.get_config())
            copy.set_weights(network.get_weights())
        except Exception:  # a subclassed network that cannot be cloned: save it as it is
            copy = network
    save_model_atomic(copy, path)


def save_model_atomic(model: keras.Model, path):
    """``model.save(path)`` through a temporary file in the same folder, then a rename."""
    path = Path(path)
    tmp = path.with_name("tmp-" + path.name)  # keeps the .keras suffix that save() wants
    model.save(tmp)
    os.replace(tmp, path)


def _fit_verbose(progress: bool) -> int:
    """Keras ``fit`` verbosity: the live bar on a terminal or in a notebook, one line per epoch
    in a log or pipe (Keras redraws its bar there on every update), nothing without ``progress``."""
    if not progress:
        return 0
    isatty = getattr(sys.stdout, "isatty", None)
    notebook = type(sys.stdout).__module__.startswith("ipykernel")
    return 1 if notebook or (isatty is not None and isatty()) else 2


def _in_strategy_scope() -> bool:
    import tensorflow as tf

    return tf.distribute.has_strategy()


def _main_thread():
    import threading

    return threading.current_thread() is threading.main_thread()
