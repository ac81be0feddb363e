"""IDGAN (Chen et al., ICISS 2019): the detail loss, the GAN ``train_step`` and the two-phase procedure.

Phase 1 trains the IDResNet generator alone with the MSE (procedure ``"idresnet_mse"``); phase 2
trains it against the SRGAN discriminator with the detail loss (procedure ``"idgan"``), starting
from phase 1.  The driver ``"idgan_two_phase"`` runs both, each phase in its own run directory.

Scaling (paper section 4.2): noisy input in [0, 1], clean target mapped to [-1, 1], generator
output in [-1, 1], so the MSE is the MSE in [-1, 1].  The discriminator sees [-1, 1] images (the
mapped clean image and the raw generator output).  The VGG content term is computed on [0, 1]
images (the generator output mapped back, ``(G + 1) / 2``), the input convention of
:class:`kerasdenoise.losses.perceptual.PerceptualLoss`, which applies the VGG preprocessing
(``normalize="imagenet"``: RGB in 0-255, as ``keras.applications.vgg19.preprocess_input``).
PSNR is always measured on [0, 1] images, comparable with every other model here.

Detail loss for the generator (paper eq. 4-7)::

    0.001 * MSE + 0.0061 * l_con + 0.001 * l_gen
    l_con = mean squared difference of VGG19 block5_conv4 features (post-ReLU; SRGAN's phi_5,4)
    l_gen = -log D(G(y))                 = softplus(-logit_fake)
    l_dis = -log D(x) - log(1 - D(G(y))) = softplus(-logit_real) + softplus(logit_fake)

The discriminator returns logits (the paper's and the reading guide's final sigmoid is left out)
and the losses use the softplus forms, which are exact and never take the log of a saturated
sigmoid.  ``l_con`` is the mean over *all* feature elements (the reading guide's "MSE of VGG19
block5_conv4 features"; the paper's eq. 7 divides by W*H only, which would make it 512x larger
at the same weight; the guide is followed): 0.0061 is SRGAN's rescaling of the VGG features by
1/12.75 (1/12.75**2 = 0.0061), which SRGAN applies to exactly this mean.
Each batch makes one discriminator update and then one generator update (k = 1) against the
updated discriminator, as in the paper (and SRGAN's implementation); the generator runs forward
once per batch.
"""
from __future__ import annotations

import csv
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from kerasdenoise import models
from kerasdenoise.metrics import PSNRMetric
from kerasdenoise.models.idresnet import generator_of, to_unit_range
from kerasdenoise.training.configs import TrainConfig
from kerasdenoise.training.distribute import scale_for_replicas
from kerasdenoise.training.runner import (
    TrainResult,
    _write_json_atomic,
    check_resume,
    read_state,
    save_model_atomic,
    train,
)
from kerasdenoise.training.trainers import (
    Options,
    Unsaved,
    make_optimizer,
    parse_options,
    register_procedure,
    uses_options,
)

# The paper's weights of the detail loss and its VGG layer (section 4.2, eq. 7).
MSE_WEIGHT = 0.001
CONTENT_WEIGHT = 0.0061
ADVERSARIAL_WEIGHT = 0.001
CONTENT_LAYER = "block5_conv4"
CONTENT_NETWORK = "vgg19"
# Iterations of the two phases in the paper: 4e5 (IDResNet) + 2e5 (IDGAN).
PAPER_PHASE_STEPS = (400_000, 200_000)


@dataclass(frozen=True)
class IDGANOptions(Options):
    """``procedure_options`` of the procedures ``idresnet_mse``, ``idgan`` and ``idgan_two_phase``
    (both phases get the same dict, so each accepts the other's keys).

    ``mse_weight`` / ``content_weight`` / ``adversarial_weight``: the detail loss's weights;
    ``content_layer`` / ``content_network`` / ``content_weights`` / ``content_normalize``: the
    VGG content term (:func:`make_content_loss`); ``discriminator_kwargs``: arguments of
    ``srgan_discriminator`` over the defaults; ``phase_steps``: the ratio in which the two-phase
    driver splits ``config.steps``; ``lr_decay_at``: where in each phase the learning rate is
    multiplied by ``lr_decay_factor`` (0.5: halfway, as the paper); ``phase2_learning_rate``:
    phase 2's (peak) learning rate, by default ``config.learning_rate`` as in phase 1 (a fast
    phase 1 runs at 1e-3, too high for the adversarial phase).
    """

    mse_weight: float = MSE_WEIGHT
    content_weight: float = CONTENT_WEIGHT
    adversarial_weight: float = ADVERSARIAL_WEIGHT
    content_layer: str = CONTENT_LAYER
    content_network: str = CONTENT_NETWORK
    content_weights: object = "imagenet"
    content_normalize: object = "imagenet"
    discriminator_kwargs: dict = field(default_factory=dict)
    phase_steps: tuple = PAPER_PHASE_STEPS
    lr_decay_at: float = 0.5
    phase2_learning_rate: float | None = None


@dataclass(frozen=True)
class IDGANTwoPhaseOptions(IDGANOptions):
    """:class:`IDGANOptions` of the two-phase driver, whose total ``steps`` a resume may not
    change."""

    fixed_on_resume = {"steps": "in a two-phase run the total fixes where phase 1 ends and "
                                "both learning-rate decays"}


def to_signed(images):
    """[0, 1] -> [-1, 1] (``2x - 1``): how clean targets enter the MSE and the discriminator."""
    return images * 2.0 - 1.0


def to_unit(images):
    """[-1, 1] -> [0, 1] (``(y + 1) / 2``)."""
    return (images + 1.0) * 0.5


def generator_adversarial_loss(fake_logits):
    """``l_gen = -log D(G(y))`` from discriminator logits, as ``mean(softplus(-logit))``."""
    return tf.reduce_mean(tf.math.softplus(-fake_logits))


def discriminator_loss(real_logits, fake_logits):
    """``l_dis = -log D(x) - log(1 - D(G(y)))`` from logits: ``softplus(-real) + softplus(fake)``, batch means."""
    return tf.reduce_mean(tf.math.softplus(-real_logits)) + tf.reduce_mean(
        tf.math.softplus(fake_logits)
    )


class _GeneratorTrainer(keras.Model):
    """Common part of both phases: the [-1, 1] generator, its [0, 1] ``.denoiser``, validation.

    ``test_step`` (validation) reports ``mse`` in [-1, 1] and ``psnr`` on [0, 1] images.
    """

    def __init__(self, generator: keras.Model, name: str):
        super().__init__(name=name)
        self.generator = generator
        # What the runner saves as final.keras and evaluates: [0, 1] in and out.
        self.denoiser = to_unit_range(generator)
        self.mse_tracker = keras.metrics.Mean(name="mse")
        self.psnr_tracker = PSNRMetric(name="psnr")
        # Every part is a built functional model; say so, or save_weights refuses an
        # "unbuilt" model (fit never calls ``call``, the train step uses the parts).
        self.built = True

    def call(self, inputs, training=False):
        return self.denoiser(inputs, training=training)

    def _measure(self, clean, restored, mse):
        self.mse_tracker.update_state(mse)
        self.psnr_tracker.update_state(clean, to_unit(restored))

    def test_step(self, data):
        noisy, clean, _ = keras.utils.unpack_x_y_sample_weight(data)
        restored = self.generator(noisy, training=False)
        self._measure(clean, restored, tf.reduce_mean(tf.square(to_signed(clean) - restored)))
        return {"mse": self.mse_tracker.result(), "psnr": self.psnr_tracker.result()}


class IDResNetTrainer(_GeneratorTrainer):
    """Phase 1: the IDResNet generator trained with the MSE in [-1, 1] alone (weight 1).

    Metrics: ``mse`` (the loss) and ``psnr`` (on [0, 1]).  ``compile(optimizer)``.
    """

    def __init__(self, generator: keras.Model, name: str = "idresnet_mse"):
        super().__init__(generator, name)

    @property
    def metrics(self):
        return [self.mse_tracker, self.psnr_tracker]

    def build_optimizer_state(self):
        if not self.optimizer.built:
            self.optimizer.build(self.generator.trainable_variables)

    def compile(self, optimizer, **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        self.build_optimizer_state()

    def train_step(self, data):
        noisy, clean, _ = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            restored = self.generator(noisy, training=True)
            mse = tf.reduce_mean(tf.square(to_signed(clean) - restored))
            scaled = scale_for_replicas(mse)  # on the tape: a mean over the global batch
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        self._measure(clean, restored, mse)
        return {"mse": self.mse_tracker.result(), "psnr": self.psnr_tracker.result()}


class IDGAN(_GeneratorTrainer):
    """Phase 2: the generator trained with the detail loss against the SRGAN discriminator.

    ``IDGAN(generator, discriminator, content_loss)``: ``generator`` maps [0, 1] noisy images to
    [-1, 1]; ``discriminator`` maps [-1, 1] images of the training crop size to logits
    ``[B, 1]``; ``content_loss(clean, restored)`` takes [0, 1] images and returns the scalar
    ``l_con`` (e.g. a :class:`~kerasdenoise.losses.perceptual.PerceptualLoss` on VGG19
    ``block5_conv4``), or ``None`` when ``content_weight`` is 0.  Its ``.label`` (what the
    features really are: an offline stand-in says so) is kept as ``content_label``.

    ``compile(g_optimizer, d_optimizer, mse_weight, content_weight, adversarial_weight)``.
    Each ``train_step``: one discriminator update, then one generator update.  Metrics:
    ``g_loss`` (the detail loss), ``mse`` (in [-1, 1]), ``content``, ``adversarial`` (l_gen),
    ``d_loss``, ``d_real`` / ``d_fake`` (the discriminator's mean probability, sigmoid of the
    logit, on the clean / denoised batch before its update), ``psnr`` (on [0, 1]).
    ``.denoiser`` is the [0, 1] generator wrapper.  Checkpoints (``save_weights``) hold both
    networks (with the discriminator's BN statistics) and both optimizers; call
    :meth:`build_optimizer_state` (``compile`` does) before ``load_weights``.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, content_loss=None,
                 name: str = "idgan"):
        super().__init__(generator, name)
        self.discriminator = discriminator
        self._content_loss = Unsaved(content_loss) if content_loss is not None else None
        self.content_label = "none"
        if content_loss is not None:
            self.content_label = getattr(content_loss, "label", None) or type(content_loss).__name__
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.content_tracker = keras.metrics.Mean(name="content")
        self.adversarial_tracker = keras.metrics.Mean(name="adversarial")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")

    @property
    def metrics(self):
        return [self.g_loss_tracker, self.mse_tracker, self.content_tracker,
                self.adversarial_tracker, self.d_loss_tracker, self.d_real_tracker,
                self.d_fake_tracker, self.psnr_tracker]

    def compile(self, g_optimizer, d_optimizer, mse_weight: float = MSE_WEIGHT,
                content_weight: float = CONTENT_WEIGHT,
                adversarial_weight: float = ADVERSARIAL_WEIGHT, **kwargs):
        if content_weight and self._content_loss is None:
            raise ValueError(
                f"IDGAN.compile: content_weight={content_weight} needs a content_loss; build "
                "IDGAN with one or pass content_weight=0"
            )
        if g_optimizer is d_optimizer:
            raise ValueError("IDGAN.compile: the generator and the discriminator need two "
                             "optimizer instances (each keeps its own moments)")
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.mse_weight = float(mse_weight)
        self.content_weight = float(content_weight)
        self.adversarial_weight = float(adversarial_weight)
        # ``optimizer`` is the generator's (what callbacks read the learning rate from); it is
        # built on the generator's variables here, so Keras does not build it on all of them.
        self.build_optimizer_state()
        super().compile(optimizer=g_optimizer, **kwargs)

    def step_counter(self):
        """The training steps made (the runner's step of record): the generator optimizer's
        ``iterations``; one generator update per batch, as one discriminator update."""
        return self.g_optimizer.iterations

    def build_optimizer_state(self):
        """Create both optimizers' variables, so a checkpoint's optimizer state can load into them."""
        if not self.g_optimizer.built:
            self.g_optimizer.build(self.generator.trainable_variables)
        if not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator.trainable_variables)

    def train_step(self, data):
        noisy, clean, _ = keras.utils.unpack_x_y_sample_weight(data)
        target = to_signed(clean)
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as g_tape:
            restored = self.generator(noisy, training=True)
            # Discriminator update (not recorded on the generator's tape).
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    real_logits = self.discriminator(target, training=True)
                    fake_logits = self.discriminator(restored, training=True)
                    d_loss = discriminator_loss(real_logits, fake_logits)
                    d_scaled = scale_for_replicas(d_loss)
                d_gradients = d_tape.gradient(d_scaled, d_vars)
                self.d_optimizer.apply_gradients(zip(d_gradients, d_vars))
            # Generator update against the updated discriminator.
            mse = tf.reduce_mean(tf.square(target - restored))
            adversarial = generator_adversarial_loss(self.discriminator(restored, training=True))
            if self.content_weight:
                content = tf.cast(self._content_loss(clean, to_unit(restored)), tf.float32)
            else:
                content = tf.zeros(())
            g_loss = (self.mse_weight * mse + self.content_weight * content
                      + self.adversarial_weight * adversarial)
            g_scaled = scale_for_replicas(g_loss)
        g_gradients = g_tape.gradient(g_scaled, g_vars)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_vars))

        self._measure(clean, restored, mse)
        self.g_loss_tracker.update_state(g_loss)
        self.content_tracker.update_state(content)
        self.adversarial_tracker.update_state(adversarial)
        self.d_loss_tracker.update_state(d_loss)
        self.d_real_tracker.update_state(tf.reduce_mean(tf.sigmoid(real_logits)))
        self.d_fake_tracker.update_state(tf.reduce_mean(tf.sigmoid(fake_logits)))
        return {m.name: m.result() for m in self.metrics}


# --------------------------------------------------------------------------------------------
# Trainers and the two-phase driver


def make_content_loss(layer: str = CONTENT_LAYER, network: str = CONTENT_NETWORK,
                      weights="imagenet", normalize="imagenet"):
    """The VGG content term ``l_con``: a :class:`PerceptualLoss` on one layer.

    ``weights``: ``"imagenet"`` (the paper; needs the Keras weights file, downloaded or cached),
    a path, ``"hed-bsds500"`` (the offline stand-in; see ``PerceptualLoss.label``) or ``None``
    (random, for tests).
    """
    from kerasdenoise.losses.perceptual import PerceptualLoss

    return PerceptualLoss(layers=(layer,), network=network, weights=weights, normalize=normalize)


@register_procedure("idresnet_mse")
@uses_options(IDGANOptions)
def idresnet_mse_trainer(config: TrainConfig, network: keras.Model,
                         options: IDGANOptions) -> IDResNetTrainer:
    """Phase 1: ``network`` (an IDResNet, or its [0, 1] wrapper) with the MSE in [-1, 1], Adam
    (of the options, only their keys are checked: the MSE has weight 1 here)."""
    trainer = IDResNetTrainer(generator_of(network))
    trainer.compile(make_optimizer(config))
    return trainer


@register_procedure("idgan")
@uses_options(IDGANOptions)
def idgan_trainer(config: TrainConfig, network: keras.Model, options: IDGANOptions) -> IDGAN:
    """Phase 2: ``network`` (the generator, or its [0, 1] wrapper) in an :class:`IDGAN`.

    The discriminator is ``srgan_discriminator`` on the training crop (``patch_size``) with the
    generator's channels, updated by ``options.discriminator_kwargs``; both networks get Adam
    with the config's learning rate and schedule.
    """
    generator = generator_of(network)
    if config.target_size not in (None, config.patch_size):
        raise ValueError(
            f"config {config.name!r}: the IDGAN discriminator compares the generator output with "
            f"the clean crop, so target_size ({config.target_size}) must be None or patch_size "
            f"({config.patch_size})"
        )
    discriminator = models.build("srgan_discriminator", **{
        "input_size": config.patch_size, "channels": int(generator.output_shape[-1]),
        **options.discriminator_kwargs,
    })
    content_loss = None
    if options.content_weight:
        content_loss = make_content_loss(options.content_layer, options.content_network,
                                         options.content_weights, options.content_normalize)
    gan = IDGAN(generator, discriminator, content_loss)
    gan.compile(make_optimizer(config), make_optimizer(config),
                mse_weight=options.mse_weight, content_weight=options.content_weight,
                adversarial_weight=options.adversarial_weight)
    return gan


PHASE_DIRS = ("phase1_idresnet", "phase2_idgan")


def phase_configs(config: TrainConfig,
                  options: IDGANOptions | None = None) -> tuple[TrainConfig, TrainConfig]:
    """The two runs of ``idgan_two_phase``: (phase 1 "idresnet_mse", phase 2 "idgan").

    ``config.steps`` is the total; it is split in the ratio of ``options.phase_steps``
    (the paper's 4e5 + 2e5 by default; exactly those numbers when ``steps`` is their sum).  Each
    phase decays its learning rate by ``lr_decay_factor`` once, ``lr_decay_at`` (0.5: halfway,
    as the paper) into the phase; so the top-level ``lr_decay_steps`` must stay empty.
    """
    if options is None:
        options = parse_options(IDGANTwoPhaseOptions, config.procedure, config.procedure_options)
    if config.lr_decay_steps:
        raise ValueError(
            f"config {config.name!r}: the idgan_two_phase driver decays the learning rate "
            f"lr_decay_at={options.lr_decay_at} into each phase; leave lr_decay_steps empty "
            f"(got {list(config.lr_decay_steps)})"
        )
    phase_steps = [int(s) for s in options.phase_steps]
    if len(phase_steps) != 2 or min(phase_steps) < 1:
        raise ValueError(f"procedure_options phase_steps must be two positive step counts, got {phase_steps}")
    if config.steps < 2:
        raise ValueError(f"config {config.name!r}: two phases need steps >= 2, got {config.steps}")
    first = round(config.steps * phase_steps[0] / sum(phase_steps))
    first = min(max(first, 1), config.steps - 1)
    fraction = float(options.lr_decay_at)

    def phase(procedure, steps, number, what):
        decay_step = int(steps * fraction)
        lr = config.learning_rate
        if number == 2 and options.phase2_learning_rate is not None:
            lr = float(options.phase2_learning_rate)
        phase_config = config.replace(
            name=f"{config.name}/{PHASE_DIRS[number - 1]}", procedure=procedure, steps=steps,
            learning_rate=lr,
            lr_decay_steps=(decay_step,) if 0 < decay_step < steps else (),
            description=f"Phase {number} of {config.name}: {what}. {config.description}".strip(),
        )
        # Exactly what config.json will hold (sorted dict keys, fresh dicts shared with nothing),
        # so that a resumed phase compares equal to its saved config.
        return TrainConfig.from_dict(json.loads(phase_config.to_json()))

    return (
        phase("idresnet_mse", first, 1, "IDResNet with the MSE in [-1, 1]"),
        phase("idgan", config.steps - first, 2, "IDGAN with the detail loss, from phase 1"),
    )


def _run_phase(config: TrainConfig, phase_dir: Path, resume: bool, progress: bool,
               network: keras.Model | None = None, datasets=None, callbacks=()) -> TrainResult:
    """``train`` one phase; a phase that a resumed run had already finished is only reloaded
    (its ``final.keras``; ``trainable`` is then that denoiser too), after checking that its
    config is unchanged."""
    state = read_state(phase_dir)
    final = phase_dir / "final.keras"
    if resume and state is not None and int(state["step"]) >= config.steps and final.exists():
        check_resume(config, phase_dir, resume)
        from kerasdenoise.runtime import load_keras_model

        denoiser = load_keras_model(final)
        return TrainResult(denoiser, denoiser, phase_dir, int(state["step"]),
                           float(state.get("seconds", 0.0)))
    return train(config, phase_dir, resume=resume, network=network, progress=progress,
                 datasets=datasets, callbacks=callbacks)


@register_procedure("idgan_two_phase")
@uses_options(IDGANTwoPhaseOptions)
def idgan_two_phase(config: TrainConfig, out_dir, resume: bool = False,
                    progress: bool = True, datasets=None, callbacks=(), *,
                    options: IDGANTwoPhaseOptions) -> TrainResult:
    """Phase 1 (IDResNet, MSE) into ``out_dir/phase1_idresnet``, then phase 2 (IDGAN) into
    ``out_dir/phase2_idgan`` starting from phase 1's generator; see :func:`phase_configs`.

    ``out_dir`` gets the top-level ``config.json``, ``phases.json`` (steps, seconds, the content
    feature label) and ``final.keras`` (phase 2's [0, 1] denoiser).  ``resume`` continues
    whichever phase was interrupted (a finished phase 1 is only reloaded).
    """
    out_dir = Path(out_dir)
    first_config, second_config = phase_configs(config, options)
    check_resume(config, out_dir, resume, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(config.to_json())

    if progress:
        print(f"IDGAN phase 1: {first_config.steps} steps of IDResNet (MSE) -> {out_dir / PHASE_DIRS[0]}")
    first = _run_phase(first_config, out_dir / PHASE_DIRS[0], resume, progress,
                       datasets=datasets, callbacks=callbacks)
    if progress:
        print(f"IDGAN phase 2: {second_config.steps} steps of IDGAN -> {out_dir / PHASE_DIRS[1]}")
    second = _run_phase(second_config, out_dir / PHASE_DIRS[1], resume, progress,
                        network=generator_of(first.denoiser), datasets=datasets, callbacks=callbacks)
    save_model_atomic(second.denoiser, out_dir / "final.keras")
    summary_path = out_dir / "phases.json"
    content_label = getattr(second.trainable, "content_label", None)
    if content_label is None and summary_path.exists():  # phase 2 was finished before: keep its label
        content_label = json.loads(summary_path.read_text())["phases"][1].get("content_loss")
    summary = {
        "phases": [
            {"dir": PHASE_DIRS[0], "procedure": first_config.procedure, "steps": first.steps,
             "seconds": round(first.seconds, 2)},
            {"dir": PHASE_DIRS[1], "procedure": second_config.procedure, "steps": second.steps,
             "seconds": round(second.seconds, 2), "content_loss": content_label},
        ],
    }
    _write_json_atomic(summary_path, summary)
    return TrainResult(second.denoiser, second.trainable, out_dir, first.steps + second.steps,
                       first.seconds + second.seconds)


# --------------------------------------------------------------------------------------------
# Curves of a two-phase run


def phase_infos(run: Path) -> list[dict]:
    """``run_info.json`` of both phases, with ``dir`` added."""
    return [{"dir": d, **json.loads((run / d / "run_info.json").read_text())} for d in PHASE_DIRS]


def read_history(phase_dir: Path, steps_per_epoch: int, offset: int, steps: int):
    """history.csv rows with ``step`` (counted over both phases) added."""
    with open(phase_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["step"] = offset + min((int(row["epoch"]) + 1) * steps_per_epoch, steps)
    return rows


def plot_two_phase_curves(run: Path, out_png=None, title: str = ""):
    """Training curves of an ``idgan_two_phase`` run: MSE ([-1, 1]) of both phases, validation
    PSNR, and phase 2's loss terms (content, adversarial, D loss, detail loss).  Returns the figure."""
    import matplotlib

    if out_png:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = json.loads((run / "config.json").read_text())
    phases = [{**info, "procedure": json.loads((run / info["dir"] / "config.json").read_text())["procedure"]}
              for info in phase_infos(run)]
    offset, history = 0, []
    for phase in phases:
        history.append(read_history(run / phase["dir"], config["steps_per_epoch"], offset, phase["steps"]))
        offset += phase["steps"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for rows, phase, color in zip(history, phases, ("tab:blue", "tab:red")):
        steps = [r["step"] for r in rows]
        axes[0].plot(steps, [float(r["mse"]) for r in rows], "o-", color=color, label=f"{phase['procedure']} train")
        axes[0].plot(steps, [float(r["val_mse"]) for r in rows], "s--", color=color, label=f"{phase['procedure']} val")
        axes[1].plot(steps, [float(r["val_psnr"]) for r in rows], "o-", color=color, label=phase["procedure"])
    for ax in axes[:2]:
        ax.axvline(phases[0]["steps"], color="gray", lw=0.8)
        ax.set_xlabel("step (both phases)")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("MSE ([-1, 1] scale)")
    axes[1].set_ylabel("validation PSNR (dB, [0, 1] images)")
    for key in ("content", "adversarial", "d_loss", "g_loss"):
        axes[2].plot([r["step"] for r in history[1]], [float(r[key]) for r in history[1]], "o-", label=key)
    axes[2].set_yscale("log")
    axes[2].set_xlabel("step (both phases)")
    axes[2].set_title("phase 2 (IDGAN): loss terms before weighting", fontsize=9)
    axes[2].legend(fontsize=8)
    fig.suptitle(textwrap.fill(title or run.name, 150), fontsize=9)
    fig.tight_layout()
    if out_png:
        fig.savefig(out_png, dpi=110)
        plt.close(fig)
    return fig
