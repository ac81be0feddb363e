"""The training loop behind ``tools/train.py``: data, fit, logs, checkpoints, resume.

A run directory holds ``config.json``, ``history.csv``, TensorBoard logs under ``logs/``,
``checkpoints/last.weights.h5`` + ``checkpoints/state.json`` (network *and* optimizer state, the
step reached, seconds spent) and, at the end, ``final.keras`` (the bare denoiser).

Resuming is exact: the data stream is a pure function of (seed, patch index), so a resumed run
rebuilds the pipeline at the step it reached and sees the data it would have seen; the
optimizer state (Adam moments, step counter and with it the learning-rate schedule) comes back
from the checkpoint.  A checkpoint is written at the end of every epoch
(``steps_per_epoch`` steps) and when the run is interrupted (Ctrl-C, SIGTERM), so no finished
step is lost.  A non-finite loss stops the run *before* anything broken is written.
"""
from __future__ import annotations

import json
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import keras

from kerasdenoise import models
from kerasdenoise._registry import Registry
from kerasdenoise.training.configs import TrainConfig
from kerasdenoise.training.trainers import build_optimizer_state, denoiser_of, make_trainable

CHECKPOINT_WEIGHTS = "checkpoints/last.weights.h5"
CHECKPOINT_STATE = "checkpoints/state.json"
# Config fields a resumed run may change: the budget and its bookkeeping, nothing that alters
# what the finished steps meant.
RESUMABLE_CHANGES = {"steps", "steps_per_epoch", "description", "val_batches", "snapshot_every"}
SNAPSHOT_DIR = "snapshots"


# Multi-stage procedures (cascade training, incremental evolution) are drivers: functions
# ``driver(config, out_dir, resume, progress) -> TrainResult`` that call :func:`train` once per
# stage, each stage in its own sub-directory so that a resume skips the finished stages.
_DRIVERS = Registry("driver", (
    "kerasdenoise.training.cascade",
    "kerasdenoise.training.evolution",
    "kerasdenoise.training.gan",
))


def register_driver(name: str):
    return _DRIVERS.register(name)


def get_driver(name: str):
    """The driver registered as ``name``, or None (a single-phase trainer)."""
    return _DRIVERS.get(name, None)


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


class RunCheckpoint(keras.callbacks.Callback):
    """Counts steps, refuses non-finite losses, and saves weights + optimizer + state atomically."""

    def __init__(self, out_dir: Path, step: int, seconds: float):
        super().__init__()
        self.out_dir = Path(out_dir)
        self.step = step
        self.seconds = seconds
        self._t0 = time.perf_counter()
        self.bad_loss = None

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
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        if self.bad_loss is None:
            self.save()

    def elapsed(self):
        return self.seconds + time.perf_counter() - self._t0

    def save(self):
        if self.bad_loss is not None:
            return
        (self.out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        weights = self.out_dir / CHECKPOINT_WEIGHTS
        tmp = weights.with_name("tmp-" + weights.name)  # save_weights wants the .weights.h5 suffix
        self.model.save_weights(tmp)
        os.replace(tmp, weights)
        _write_json_atomic(self.out_dir / CHECKPOINT_STATE,
                           {"step": self.step, "seconds": round(self.elapsed(), 2)})


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
        step = self.checkpoint.step  # RunCheckpoint runs first and has counted this batch
        if step % self.every or self.checkpoint.bad_loss is not None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        index_path = self.dir / "snapshots.json"
        index = json.loads(index_path.read_text()) if index_path.exists() else {}
        if str(step) in index:
            return
        path = self.dir / f"step{step}.keras"
        tmp = path.with_name("tmp-" + path.name)
        save_inference_model(denoiser_of(self.model), tmp)
        os.replace(tmp, path)
        index[str(step)] = {"file": path.name, "minutes": round(self.checkpoint.elapsed() / 60, 2)}
        _write_json_atomic(index_path, index)


def build_network(config: TrainConfig) -> keras.Model:
    """``models.build(config.model, ...)`` with the builder arguments of ``config.recipe``
    (residual output, initialisation) under the config's own ``model_kwargs``."""
    import inspect

    from kerasdenoise.training.recipe import network_kwargs

    implied = network_kwargs(config.recipe)
    builder = models.get_builder(config.model)
    accepted = inspect.signature(builder).parameters
    missing = sorted(k for k in implied if k not in accepted)
    if missing:
        raise ValueError(
            f"recipe {config.recipe!r} needs builder arguments {missing}, which model "
            f"{config.model!r} does not take; use recipe 'paper' for it"
        )
    return builder(**{**implied, **config.model_kwargs})


def _check_resumable(saved: dict, config: TrainConfig, out_dir: Path):
    current = config.to_dict()
    changed = sorted(k for k in current
                     if k not in RESUMABLE_CHANGES
                     and json.dumps(saved.get(k), sort_keys=True) != json.dumps(current[k], sort_keys=True))
    if changed:
        raise ValueError(
            f"--resume: the config of {out_dir} differs in {changed}; only {sorted(RESUMABLE_CHANGES)} "
            "may change when resuming. Use another --out for a different experiment."
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


def _load_images(name, color):
    from kerasdenoise.data.discovery import image_set

    images_set = image_set(name)
    return images_set.load(color), images_set.names()


def make_datasets(config: TrainConfig):
    """``(stream_factory(step) -> tf.data.Dataset, validation dataset or None)`` for ``config``;
    the factory starts the deterministic patch stream at training step ``step``."""
    from kerasdenoise.data.pipeline import patch_dataset

    train_images, train_names = _load_images(config.train_data, config.color)

    def train_stream(step):
        return patch_dataset(
            train_images, patch_size=config.patch_size, degradation=config.noise,
            batch_size=config.batch_size, seed=config.seed, target_size=config.target_size,
            start_step=step, names=train_names, augment=config.augment,
            patches_per_image=config.patches_per_image,
        )

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
    out_dir = Path(out_dir)
    driver = get_driver(config.trainer) if network is None else None
    if driver is not None:
        return driver(config, out_dir, resume=resume, progress=progress, datasets=datasets,
                      callbacks=callbacks)
    state = read_state(out_dir)
    if state is not None and not resume:
        raise FileExistsError(
            f"{out_dir} already holds a run (step {state['step']}); pass --resume to continue it "
            "or choose another --out."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "config.json"
    if resume and state is not None and config_path.exists():
        _check_resumable(json.loads(config_path.read_text()), config, out_dir)
    if state is None and (out_dir / "history.csv").exists():
        (out_dir / "history.csv").unlink()  # a run that never reached a checkpoint starts over
    config_path.write_text(config.to_json())

    keras.utils.set_random_seed(config.seed)
    if network is None:
        network = build_network(config)
    trainable = make_trainable(config, network)
    step = 0
    seconds = 0.0
    if state is not None:
        build_optimizer_state(trainable)
        trainable.load_weights(out_dir / CHECKPOINT_WEIGHTS)
        step, seconds = int(state["step"]), float(state.get("seconds", 0.0))
        if progress:
            print(f"Resuming {out_dir} at step {step}/{config.steps}")

    train_stream, val = datasets if datasets is not None else make_datasets(config)
    checkpoint = RunCheckpoint(out_dir, step, seconds)
    checkpoint.set_model(trainable)  # so a resumed run that is already finished can still save
    all_callbacks = [
        checkpoint,
        *([Snapshots(out_dir, checkpoint, config.snapshot_every)] if config.snapshot_every else []),
        keras.callbacks.CSVLogger(str(out_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(log_dir=str(out_dir / "logs"), write_graph=False),
        *callbacks,
    ]
    per_epoch = max(1, min(config.steps_per_epoch, config.steps))

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm) if _main_thread() else None
    try:
        for first_epoch, end_epoch, n_steps in _segments(step, config.steps, per_epoch):
            trainable.fit(
                train_stream(checkpoint.step), initial_epoch=first_epoch, epochs=end_epoch,
                steps_per_epoch=n_steps, validation_data=val, callbacks=all_callbacks,
                verbose=1 if progress else 0, shuffle=False,  # the stream is already shuffled
            )
            if checkpoint.bad_loss is not None:
                key, value = checkpoint.bad_loss
                raise NonFiniteLoss(
                    f"{key} became {value} at step {checkpoint.step + 1} of {out_dir}; stopped "
                    f"without writing a checkpoint. The last good checkpoint is at step "
                    f"{(read_state(out_dir) or {'step': 0})['step']}: lower learning_rate or set "
                    "clipnorm, then --resume."
                )
            if trainable.stop_training:
                break  # an extra callback (e.g. a cascade stage's advance rule) ended the run
    except KeyboardInterrupt:
        checkpoint.save()
        raise KeyboardInterrupt(
            f"interrupted at step {checkpoint.step}; checkpoint saved in {out_dir}. "
            "Continue with --resume."
        ) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

    checkpoint.save()
    denoiser = denoiser_of(trainable)
    save_inference_model(denoiser, out_dir / "final.keras")
    _write_json_atomic(out_dir / "run_info.json", {
        "steps": checkpoint.step, "minutes": round(checkpoint.elapsed() / 60, 2),
        # e.g. which (offline stand-in) feature extractor a perceptual / content loss used
        "labels": {k: getattr(trainable, k) for k in ("feature_label", "content_label")
                   if getattr(trainable, k, None)},
    })
    return TrainResult(denoiser, trainable, out_dir, checkpoint.step, checkpoint.elapsed())


def save_inference_model(network: keras.Model, path):
    """Save ``network`` without its training configuration.

    A compiled model's ``.keras`` file records its loss and metrics, and loading it then needs
    those classes; the file a user deploys should only need the network, so an uncompiled copy
    (same architecture, same weights) is written.
    """
    copy = network
    if getattr(network, "compiled", False):
        try:
            # from_config, not clone_model: clone_model re-compiles the copy
            copy = type(network).from_config(network.get_config())
            copy.set_weights(network.get_weights())
        except Exception:  # a subclassed network that cannot be cloned: save it as it is
            copy = network
    copy.save(path)


def _main_thread():
    import threading

    return threading.current_thread() is threading.main_thread()
