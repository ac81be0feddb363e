"""Joint pixel + feature loss training: ``lambda_mse * MSE + feature_loss`` (ResUNet paper).

:class:`JointLossDenoiser` wraps a denoising network, a pixel loss (MSE unless told otherwise)
and any feature loss ``feature_loss(clean, restored) -> scalar`` (a
:class:`~kerasdenoise.losses.perceptual.PerceptualLoss`, or a classifier-feature loss such as the
gated conv-deconv paper's) in a ``keras.Model`` whose ``train_step`` minimizes::

    loss = lambda_mse * pixel_loss(clean, restored) + feature_weight * feature_loss(clean, restored)

The ResUNet paper (section 4.2) uses ``lambda_mse = 100`` and VGG16 relu1_2 + relu2_2 + relu3_3
features.  The MSE is the mean over every pixel and channel, as the authors' code computed it
(``torch.mean``); the paper's formula divides the squared norm by ``W * H`` only, which for RGB
would be 3 times larger: the reading guide's ``100 * MSE`` and the code are followed.  The
registered procedure ``"joint_loss"`` builds that from a config's ``procedure_options``, with
``config.loss`` / ``loss_kwargs`` as the pixel loss (``"mse"`` in the presets; see
:func:`joint_loss_trainer`).  ``lambda_mse`` keeps the paper's name whatever the pixel loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from kerasdenoise.losses import get_loss, mean_squared_error
from kerasdenoise.metrics import PSNRMetric
from kerasdenoise.training.distribute import scale_for_replicas
from kerasdenoise.training.trainers import (
    Options,
    OwnLossTrainer,
    Unsaved,
    make_optimizer,
    register_procedure,
    uses_options,
)

#: The ResUNet paper's weight of the MSE term (it tried 1, 10 and 100; 100 was best).
PAPER_LAMBDA_MSE = 100.0


class JointLossDenoiser(OwnLossTrainer):
    """A denoiser trained with ``lambda_mse * pixel_loss + feature_weight * feature_loss``.

    ``JointLossDenoiser(denoiser, feature_loss, lambda_mse=100, feature_weight=1)``;
    ``feature_loss(clean, restored)`` and ``pixel_loss(clean, restored)`` (default: the MSE over
    every pixel and channel) take [0, 1] batches and return a scalar tensor; they are assumed
    frozen (only the denoiser's variables are trained).  ``compile(optimizer)`` (no loss
    argument: the step computes it).

    Metrics (progress bar and ``History``; validation ones prefixed ``val_``): ``loss`` (the
    joint loss), ``mse`` (the pixel term, unweighted; the name is ``pixel_name``),
    ``perceptual`` (the feature term, unweighted; the name is ``feature_name``) and ``psnr``
    (dB, on the output clipped to [0, 1]).

    ``call`` forwards to ``.denoiser``.  ``save_weights`` / ``load_weights`` hold the denoiser
    and the optimizer (Adam moments, step count), not the feature extractor; call
    :meth:`build_optimizer_state` before ``load_weights`` (the runner does).  ``feature_label``
    is the feature loss's ``label`` (what its weights are: an offline stand-in says so).
    """

    def __init__(self, denoiser: keras.Model, feature_loss, lambda_mse: float = PAPER_LAMBDA_MSE,
                 feature_weight: float = 1.0, feature_name: str = "perceptual",
                 pixel_loss=mean_squared_error, pixel_name: str = "mse",
                 name: str = "joint_loss_denoiser"):
        super().__init__(denoiser, name=name)
        if not callable(feature_loss):
            raise ValueError(
                f"feature_loss must be a callable feature_loss(clean, restored), got {feature_loss!r}"
            )
        if not callable(pixel_loss):
            raise ValueError(
                f"pixel_loss must be a callable pixel_loss(clean, restored), got {pixel_loss!r}"
            )
        if pixel_name == feature_name or {pixel_name, feature_name} & {"loss", "psnr"}:
            raise ValueError(
                f"metric names pixel_name={pixel_name!r} and feature_name={feature_name!r} must "
                "differ from each other and from 'loss' and 'psnr'"
            )
        self._feature_loss = Unsaved(feature_loss)
        self._pixel_loss = Unsaved(pixel_loss)
        self.lambda_mse = float(lambda_mse)
        self.feature_weight = float(feature_weight)
        self.feature_label = getattr(feature_loss, "label", None) or type(feature_loss).__name__
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.pixel_tracker = keras.metrics.Mean(name=pixel_name)
        self.feature_tracker = keras.metrics.Mean(name=feature_name)
        self.psnr_tracker = PSNRMetric(name="psnr")
        # The denoiser is a built functional model; fit never calls ``call`` before
        # ``train_step``, and save_weights refuses a model that says it is unbuilt.
        self.built = True

    def get_feature_loss(self):
        """The wrapped ``feature_loss`` callable (a method, not a property: ``save_weights``
        walks properties and would save a Keras loss's extractor)."""
        return self._feature_loss.fn

    @property
    def metrics(self):
        return [self.loss_tracker, self.pixel_tracker, self.feature_tracker, self.psnr_tracker]

    def joint_loss(self, clean, restored):
        """``(loss, pixel, feature)`` for a batch; ``restored`` is the denoiser's output."""
        clean = tf.cast(clean, tf.float32)
        restored = tf.cast(restored, tf.float32)
        pixel = tf.cast(self._pixel_loss(clean, restored), tf.float32)
        feature = tf.cast(self._feature_loss(clean, restored), tf.float32)
        loss = self.lambda_mse * pixel + self.feature_weight * feature
        return loss, pixel, feature

    def _report(self, clean, restored, loss, pixel, feature):
        self.loss_tracker.update_state(loss)
        self.pixel_tracker.update_state(pixel)
        self.feature_tracker.update_state(feature)
        self.psnr_tracker.update_state(clean, restored)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        degraded, clean, _ = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.denoiser.trainable_variables
        with tf.GradientTape() as tape:
            restored = self.denoiser(degraded, training=True)
            loss, pixel, feature = self.joint_loss(clean, restored)
            regularization = self.denoiser.losses
            total = loss + tf.add_n(regularization) if regularization else loss
            total = scale_for_replicas(total)  # on the tape: a mean over the global batch
        gradients = tape.gradient(total, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._report(clean, restored, loss, pixel, feature)

    def test_step(self, data):
        degraded, clean, _ = keras.utils.unpack_x_y_sample_weight(data)
        restored = self.denoiser(degraded, training=False)
        loss, pixel, feature = self.joint_loss(clean, restored)
        return self._report(clean, restored, loss, pixel, feature)


@dataclass(frozen=True)
class JointLossOptions(Options):
    """``procedure_options`` of the procedure ``joint_loss`` and their defaults (the ResUNet
    paper's loss; anything else is refused, so a typo cannot silently fall back to a default)."""

    lambda_mse: float = PAPER_LAMBDA_MSE
    feature_weight: float = 1.0
    layers: tuple = ("block1_conv2", "block2_conv2", "block3_conv3")
    network: str = "vgg16"
    weights: object = "imagenet"
    normalize: object = "imagenet"


@register_procedure("joint_loss")
@uses_options(JointLossOptions)
def joint_loss_trainer(config, network, options: JointLossOptions):
    """``JointLossDenoiser(network, PerceptualLoss(...), pixel_loss=get_loss(config.loss,
    **config.loss_kwargs))`` compiled with the config's optimizer; the pixel metric is named
    ``config.loss``.

    ``config.procedure_options`` (all optional): ``lambda_mse`` (100, the weight of the pixel
    term), ``feature_weight`` (1), and the
    :class:`~kerasdenoise.losses.perceptual.PerceptualLoss` arguments ``layers``
    (VGG16 block1_conv2, block2_conv2, block3_conv3), ``network`` ('vgg16'), ``weights``
    ('imagenet'; 'hed-bsds500' offline, a .h5 path, or None) and ``normalize``
    ('imagenet' or None).  The loss's label is printed and kept as ``feature_label``.
    """
    from kerasdenoise.losses.perceptual import PerceptualLoss

    # Before the VGG: a bad loss_kwargs fails without building (or downloading) it.
    pixel_loss = get_loss(config.loss, **config.loss_kwargs)
    feature_loss = PerceptualLoss(
        layers=options.layers, network=options.network, weights=options.weights,
        normalize=options.normalize,
    )
    print(f"joint_loss: {options.lambda_mse:g} * {config.loss} + "
          f"{options.feature_weight:g} * perceptual [{feature_loss.description}]")
    trainable = JointLossDenoiser(
        network, feature_loss, lambda_mse=options.lambda_mse,
        feature_weight=options.feature_weight, pixel_loss=pixel_loss, pixel_name=config.loss,
    )
    trainable.compile(optimizer=make_optimizer(config))
    return trainable
