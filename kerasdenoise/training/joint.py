"""Joint pixel + feature loss training: ``lambda_mse * MSE + feature_loss`` (ResUNet paper).

:class:`JointLossDenoiser` wraps a denoising network and any feature loss
``feature_loss(clean, restored) -> scalar`` (a :class:`~kerasdenoise.losses.perceptual.PerceptualLoss`,
or a classifier-feature loss such as the gated conv-deconv paper's) in a ``keras.Model`` whose
``train_step`` minimizes::

    loss = lambda_mse * mean((restored - clean)**2) + feature_weight * feature_loss(clean, restored)

The ResUNet paper (section 4.2) uses ``lambda_mse = 100`` and VGG16 relu1_2 + relu2_2 + relu3_3
features.  The MSE is the mean over every pixel and channel, as the authors' code computed it
(``torch.mean``); the paper's formula divides the squared norm by ``W * H`` only, which for RGB
would be 3 times larger: the reading guide's ``100 * MSE`` and the code are followed.  The
registered trainer ``"joint_loss"`` builds that from a config's ``trainer_kwargs`` (see
:func:`joint_loss_trainer`).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from kerasdenoise.metrics import PSNRMetric
from kerasdenoise.training.trainers import make_optimizer, register_trainer

#: The ResUNet paper's weight of the MSE term (it tried 1, 10 and 100; 100 was best).
PAPER_LAMBDA_MSE = 100.0


class _Unsaved:
    """Holds the feature loss out of Keras' sight.

    Keras tracks layers assigned to a model and ``save_weights`` walks every attribute that is
    a Keras object (a ``keras.losses.Loss`` included, and with it the VGG it holds): the frozen
    extractor would add its weights to every checkpoint and have to match at load time.  It is
    rebuilt from the config instead, so checkpoints hold the denoiser and the optimizer only.
    """

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)


class JointLossDenoiser(keras.Model):
    """A denoiser trained with ``lambda_mse * MSE + feature_weight * feature_loss``.

    ``JointLossDenoiser(denoiser, feature_loss, lambda_mse=100, feature_weight=1)``;
    ``feature_loss(clean, restored)`` takes [0, 1] batches and returns a scalar tensor; it is
    assumed frozen (only the denoiser's variables are trained).  ``compile(optimizer)`` (no loss
    argument: the step computes it).

    Metrics (progress bar and ``History``; validation ones prefixed ``val_``): ``loss`` (the
    joint loss), ``mse``, ``perceptual`` (the feature term, unweighted; the name is
    ``feature_name``) and ``psnr`` (dB, on the output clipped to [0, 1]).

    ``call`` forwards to ``.denoiser``.  ``save_weights`` / ``load_weights`` hold the denoiser
    and the optimizer (Adam moments, step count), not the feature extractor; call
    :meth:`build_optimizer_state` before ``load_weights`` (the runner does).  ``feature_label``
    is the feature loss's ``label`` (what its weights are: an offline stand-in says so).
    """

    def __init__(self, denoiser: keras.Model, feature_loss, lambda_mse: float = PAPER_LAMBDA_MSE,
                 feature_weight: float = 1.0, feature_name: str = "perceptual",
                 name: str = "joint_loss_denoiser"):
        super().__init__(name=name)
        if not callable(feature_loss):
            raise ValueError(
                f"feature_loss must be a callable feature_loss(clean, restored), got {feature_loss!r}"
            )
        if feature_name in ("loss", "mse", "psnr"):
            raise ValueError(f"feature_name {feature_name!r} clashes with another metric name")
        self.denoiser = denoiser
        self._feature_loss = _Unsaved(feature_loss)
        self.lambda_mse = float(lambda_mse)
        self.feature_weight = float(feature_weight)
        self.feature_label = getattr(feature_loss, "label", None) or type(feature_loss).__name__
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mse_tracker = keras.metrics.Mean(name="mse")
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
        return [self.loss_tracker, self.mse_tracker, self.feature_tracker, self.psnr_tracker]

    def call(self, inputs, training=False):
        return self.denoiser(inputs, training=training)

    def compile(self, optimizer="adam", **kwargs):
        if "loss" in kwargs:
            raise ValueError("JointLossDenoiser computes its own loss; compile(optimizer) only")
        super().compile(optimizer=optimizer, **kwargs)
        self.build_optimizer_state()

    def build_optimizer_state(self):
        """Create the optimizer's variables for the denoiser (before ``load_weights``)."""
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.denoiser.trainable_variables)

    def joint_loss(self, clean, restored):
        """``(loss, mse, feature)`` for a batch; ``restored`` is the denoiser's output."""
        clean = tf.cast(clean, tf.float32)
        restored = tf.cast(restored, tf.float32)
        mse = tf.reduce_mean(tf.square(restored - clean))
        feature = tf.cast(self._feature_loss(clean, restored), tf.float32)
        loss = self.lambda_mse * mse + self.feature_weight * feature
        return loss, mse, feature

    def _report(self, clean, restored, loss, mse, feature):
        self.loss_tracker.update_state(loss)
        self.mse_tracker.update_state(mse)
        self.feature_tracker.update_state(feature)
        self.psnr_tracker.update_state(clean, restored)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        degraded, clean, _ = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.denoiser.trainable_variables
        with tf.GradientTape() as tape:
            restored = self.denoiser(degraded, training=True)
            loss, mse, feature = self.joint_loss(clean, restored)
            regularization = self.denoiser.losses
            total = loss + tf.add_n(regularization) if regularization else loss
        gradients = tape.gradient(total, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._report(clean, restored, loss, mse, feature)

    def test_step(self, data):
        degraded, clean, _ = keras.utils.unpack_x_y_sample_weight(data)
        restored = self.denoiser(degraded, training=False)
        loss, mse, feature = self.joint_loss(clean, restored)
        return self._report(clean, restored, loss, mse, feature)


# trainer_kwargs of "joint_loss" and their defaults (the ResUNet paper's loss; anything else is
# refused, so a typo cannot silently fall back to a default).
TRAINER_KWARGS = {
    "lambda_mse": PAPER_LAMBDA_MSE,
    "feature_weight": 1.0,
    "layers": ("block1_conv2", "block2_conv2", "block3_conv3"),
    "network": "vgg16",
    "weights": "imagenet",
    "normalize": "imagenet",
}


@register_trainer("joint_loss")
def joint_loss_trainer(config, network):
    """``JointLossDenoiser(network, PerceptualLoss(...))`` compiled with the config's optimizer.

    ``config.trainer_kwargs`` (all optional): ``lambda_mse`` (100), ``feature_weight`` (1),
    and the :class:`~kerasdenoise.losses.perceptual.PerceptualLoss` arguments ``layers``
    (VGG16 block1_conv2, block2_conv2, block3_conv3), ``network`` ('vgg16'), ``weights``
    ('imagenet'; 'hed-bsds500' offline, a .h5 path, or None) and ``normalize``
    ('imagenet' or None).  The loss's label is printed and kept as ``feature_label``.
    """
    from kerasdenoise.losses.perceptual import PerceptualLoss

    unknown = sorted(set(config.trainer_kwargs) - set(TRAINER_KWARGS))
    if unknown:
        raise ValueError(
            f"trainer 'joint_loss': unknown trainer_kwargs {unknown}; valid: {sorted(TRAINER_KWARGS)}"
        )
    options = {**TRAINER_KWARGS, **config.trainer_kwargs}
    feature_loss = PerceptualLoss(
        layers=options["layers"], network=options["network"], weights=options["weights"],
        normalize=options["normalize"],
    )
    print(f"joint_loss: {options['lambda_mse']:g} * MSE + {options['feature_weight']:g} * "
          f"perceptual [{feature_loss.description}]")
    trainable = JointLossDenoiser(
        network, feature_loss, lambda_mse=options["lambda_mse"],
        feature_weight=options["feature_weight"],
    )
    trainable.compile(optimizer=make_optimizer(config))
    return trainable
