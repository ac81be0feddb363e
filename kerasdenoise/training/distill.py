"""Knowledge distillation: a small denoiser trained towards a blend of the clean patch and a
trained teacher's output (e.g. DS-DN-ResNet-13 taught by the shipped DN-ResNet-13).

With the MSE, ``(1 - w) * MSE(clean, restored) + w * MSE(teacher(degraded), restored)`` equals,
up to a constant, ``MSE(clean + w * (teacher(degraded) - clean), restored)``: the step trains on
that blended target with the config's pixel loss (for the L1 it is the target form that is
used).  The teacher is frozen and is not part of the checkpoints (it is loaded from its file
again on resume); metrics compare the output with the clean patch.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from kerasdenoise.losses import get_loss
from kerasdenoise.metrics import PSNRMetric
from kerasdenoise.training import trainers
from kerasdenoise.training.distribute import scale_for_replicas
from kerasdenoise.training.trainers import Options, OwnLossTrainer, Unsaved, uses_options


class DistilledDenoiser(OwnLossTrainer):
    """``DistilledDenoiser(denoiser, teacher, weight, pixel_loss)``: ``train_step`` minimizes
    ``pixel_loss(clean + weight * (teacher(degraded) - clean), denoiser(degraded))``.

    Metrics: ``loss`` (against the blended target) and ``psnr`` (against the clean patch);
    validation reports the loss against the clean patch.  ``save_weights`` holds the denoiser
    and the optimizer, not the teacher.
    """

    def __init__(self, denoiser: keras.Model, teacher: keras.Model, weight: float = 0.5,
                 pixel_loss=None, name: str = "distilled_denoiser"):
        super().__init__(denoiser, name=name)
        if not 0.0 <= float(weight) <= 1.0:
            raise ValueError(f"distill: weight must be in [0, 1] (the teacher's share of the "
                             f"target), got {weight!r}")
        teacher.trainable = False
        self._teacher = Unsaved(teacher)
        self._pixel_loss = Unsaved(pixel_loss or get_loss("mse"))
        self.weight = float(weight)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.psnr_tracker = PSNRMetric(name="psnr")
        self.built = True  # a built functional denoiser inside (see JointLossDenoiser)

    @property
    def metrics(self):
        return [self.loss_tracker, self.psnr_tracker]

    def target(self, degraded, clean):
        """The blended target ``clean + weight * (teacher(degraded) - clean)``."""
        clean = tf.cast(clean, tf.float32)
        taught = tf.stop_gradient(tf.cast(self._teacher.fn(degraded, training=False), tf.float32))
        return clean + self.weight * (taught - clean)

    def _report(self, clean, restored, loss):
        self.loss_tracker.update_state(loss)
        self.psnr_tracker.update_state(clean, restored)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        degraded, clean, _ = keras.utils.unpack_x_y_sample_weight(data)
        target = self.target(degraded, clean)
        variables = self.denoiser.trainable_variables
        with tf.GradientTape() as tape:
            restored = self.denoiser(degraded, training=True)
            loss = tf.cast(self._pixel_loss(target, tf.cast(restored, tf.float32)), tf.float32)
            regularization = self.denoiser.losses
            total = loss + tf.add_n(regularization) if regularization else loss
            total = scale_for_replicas(total)  # on the tape: a mean over the global batch
        gradients = tape.gradient(total, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._report(clean, restored, loss)

    def test_step(self, data):
        degraded, clean, _ = keras.utils.unpack_x_y_sample_weight(data)
        restored = self.denoiser(degraded, training=False)
        loss = tf.cast(self._pixel_loss(tf.cast(clean, tf.float32), tf.cast(restored, tf.float32)),
                       tf.float32)
        return self._report(clean, restored, loss)


@dataclass(frozen=True)
class DistillOptions(Options):
    """``procedure_options`` of the procedure ``distill``: ``teacher``, the path of a trained
    Keras denoiser with the network's input channels (required), and ``weight``, the teacher's
    share of the target (0: plain training; 1: the teacher's output alone)."""

    teacher: object = None
    weight: float = 0.5


@trainers.register_procedure("distill")
@uses_options(DistillOptions)
def distill_trainer(config, network, options: DistillOptions):
    """``DistilledDenoiser(network, load(teacher), weight, get_loss(config.loss, ...))``
    compiled with the config's optimizer (per-patch loss weights are refused by the runner, as
    for every procedure that computes its own loss)."""
    from kerasdenoise.runtime import load_keras_model

    if not options.teacher:
        raise ValueError("training procedure 'distill' needs procedure_options teacher=<path of a "
                         "trained .keras denoiser>")
    teacher = load_keras_model(options.teacher)
    have, want = teacher.input_shape[-1], network.input_shape[-1]
    if have != want:
        raise ValueError(f"distill: the teacher {options.teacher} takes {have} channel(s), the "
                         f"network {want}")
    trainable = DistilledDenoiser(network, teacher, weight=options.weight,
                                  pixel_loss=get_loss(config.loss, **config.loss_kwargs))
    trainable.compile(optimizer=trainers.make_optimizer(config))
    return trainable
