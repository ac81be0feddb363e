"""Classifier training and the transfer experiment of the gated conv-deconv paper (Zhao 2016).

The paper trains a small classifier (``models.build("gated_classifier")``: the denoiser's five
conv layers + FC-1024 + softmax) on STL-10's labelled images twice: from a truncated-normal
initialisation (its Fig. 4) and with the conv layers initialised from the trained DSC denoiser
(Fig. 10-11, cross-entropy and accuracy per iteration), and reports a faster fall of the loss and
a higher early accuracy with the denoiser's weights (both plateau near 35% accuracy).

:func:`train_classifier` records per-step curves (each step's own minibatch loss and accuracy,
not Keras' running epoch means) and, optionally, validation curves;
:func:`compare_initializations` runs both initialisations on the same data stream from the same
seed, so the conv initialisation is the only difference.

The module also registers the procedure ``"joint_classifier_loss"`` (the paper's perceptual-loss
denoiser: :class:`kerasdenoise.training.joint.JointLossDenoiser` with the classifier-feature
loss of :mod:`kerasdenoise.losses.classifier`).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras

from kerasdenoise import models
from kerasdenoise.models.gated_convdeconv import init_classifier_from_denoiser
from kerasdenoise.training.trainers import Options, make_optimizer, register_procedure, uses_options

OPTIMIZERS = ("sgd", "adam")


def make_classifier_optimizer(optimizer: str = "sgd", learning_rate: float = 0.01,
                              momentum: float = 0.9):
    """SGD with momentum (the paper: 'Stochastic Gradient Descent with minibatching'; the
    project's SGD uses momentum 0.9, see ``trainers.make_optimizer``) or Adam."""
    if optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=momentum)
    if optimizer == "adam":
        return keras.optimizers.Adam(learning_rate)
    raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")


def evaluate_classifier(classifier: keras.Model, dataset, max_batches: int | None = None) -> dict:
    """``{"loss", "accuracy"}``: mean cross-entropy and accuracy over ``dataset`` (one pass, or
    its first ``max_batches`` batches), computed in inference mode (no dropout)."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="sum")
    total_loss, correct, count = 0.0, 0, 0
    if max_batches is not None:
        dataset = dataset.take(int(max_batches))
    for images, labels in dataset:
        probabilities = classifier(images, training=False)
        total_loss += float(loss_fn(labels, probabilities))
        predicted = keras.ops.argmax(probabilities, axis=-1)
        correct += int(keras.ops.sum(keras.ops.cast(
            keras.ops.equal(predicted, keras.ops.cast(labels, predicted.dtype)), "int32")))
        count += int(labels.shape[0])
    if count == 0:
        raise ValueError("evaluate_classifier: the dataset is empty")
    return {"loss": total_loss / count, "accuracy": correct / count}


def train_classifier(classifier: keras.Model, dataset, steps: int, learning_rate: float = 0.01,
                     optimizer: str = "sgd", momentum: float = 0.9, validation_data=None,
                     eval_every: int | None = None, val_batches: int | None = None,
                     progress: bool = False) -> dict:
    """Train ``classifier`` (softmax outputs) for ``steps`` minibatches of ``dataset``.

    ``dataset`` yields ``(images, int labels)`` (e.g. :func:`kerasdenoise.data.labelled.
    labelled_dataset`); it is repeated as needed.  The classifier is compiled with sparse
    cross-entropy and the optimizer given here.  Returns the curves as lists::

        {"step": [1..steps], "loss": [...], "accuracy": [...],        # each step's minibatch
         "val_step": [...], "val_loss": [...], "val_accuracy": [...]}  # every eval_every steps

    Validation (``validation_data``, at most ``val_batches`` batches) runs before the first step
    (``val_step`` 0), every ``eval_every`` steps (default: ``max(1, steps // 10)``) and at the end.
    """
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    classifier.compile(
        optimizer=make_classifier_optimizer(optimizer, learning_rate, momentum),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    eval_every = max(1, steps // 10) if eval_every is None else int(eval_every)
    history = {"step": [], "loss": [], "accuracy": [], "val_step": [], "val_loss": [],
               "val_accuracy": []}

    def validate(step):
        if validation_data is None:
            return
        result = evaluate_classifier(classifier, validation_data, val_batches)
        history["val_step"].append(step)
        history["val_loss"].append(result["loss"])
        history["val_accuracy"].append(result["accuracy"])

    validate(0)
    iterator = iter(dataset.repeat())
    for step in range(1, steps + 1):
        images, labels = next(iterator)
        logs = classifier.train_on_batch(images, labels, return_dict=True)  # resets metrics
        history["step"].append(step)
        history["loss"].append(float(logs["loss"]))
        history["accuracy"].append(float(logs["accuracy"]))
        if step % eval_every == 0 or step == steps:
            if not history["val_step"] or history["val_step"][-1] != step:
                validate(step)
        if progress and (step % eval_every == 0 or step == steps):
            line = f"step {step}/{steps}: loss {history['loss'][-1]:.4f}"
            if history["val_accuracy"]:
                line += f", val accuracy {history['val_accuracy'][-1]:.3f}"
            print(line, flush=True)
    return history


def _dataset_geometry(dataset):
    images_spec = dataset.element_spec[0]
    height, width, channels = images_spec.shape[1:]
    if height is None or width is None or height != width:
        raise ValueError(
            f"the labelled dataset must give square images of a fixed size, got {images_spec.shape}"
        )
    return int(height), int(channels)


def compare_initializations(denoiser: keras.Model, dataset, steps: int, num_classes=None,
                            seed: int = 0, fold_gates: bool = False, **train_kwargs) -> dict:
    """Train the paper's classifier twice on the same stream: random init vs the denoiser's
    conv weights (the paper's Fig. 4 vs Fig. 10-11).

    Both classifiers are built after ``keras.utils.set_random_seed(seed)``, so they start from
    the same FC / softmax weights (and draw the same dropout masks); in the second, Conv-1..5
    are then replaced by the denoiser's (:func:`init_classifier_from_denoiser`: copied as they
    are, as in the paper, or with ``fold_gates=True`` the gates folded into the kernels).
    ``num_classes`` defaults to ``len(dataset.class_names)``; image size and channels come from
    the dataset.  ``train_kwargs`` go to :func:`train_classifier` (``learning_rate``,
    ``validation_data``, ``eval_every``, ...).  Returns ``{"random": history, "denoiser":
    history}`` (see :func:`train_classifier`).
    """
    if num_classes is None:
        names = getattr(dataset, "class_names", None)
        if names is None:
            raise ValueError("num_classes is needed when the dataset has no class_names")
        num_classes = len(names)
    image_size, channels = _dataset_geometry(dataset)
    histories = {}
    for init in ("random", "denoiser"):
        keras.utils.set_random_seed(seed)
        classifier = models.build("gated_classifier", num_classes=num_classes,
                                  channels=channels, image_size=image_size)
        if init == "denoiser":
            init_classifier_from_denoiser(classifier, denoiser, fold_gates=fold_gates)
        keras.utils.set_random_seed(seed + 1)  # same dropout draws in both runs
        histories[init] = train_classifier(classifier, dataset, steps, **train_kwargs)
    return histories


# --------------------------------------------------------------------------------------------
# The perceptual-loss denoiser: JointLossDenoiser with the classifier-feature loss


@dataclass(frozen=True)
class JointClassifierLossOptions(Options):
    """``procedure_options`` of the procedure ``joint_classifier_loss``: the weights of the MSE
    (0: the paper trains its perceptual variant on the feature distance alone) and of the
    feature distance."""

    lambda_mse: float = 0.0
    feature_weight: float = 1.0


@register_procedure("joint_classifier_loss")
@uses_options(JointClassifierLossOptions)
def joint_classifier_loss_trainer(config, network, options: JointClassifierLossOptions):
    """``JointLossDenoiser(network, get_loss(config.loss, **config.loss_kwargs))``.

    The procedure ``"joint_loss"`` always builds a VGG :class:`PerceptualLoss`; this one takes the
    feature loss from the config's ``loss`` / ``loss_kwargs``, meant for ``loss=
    "classifier-features"`` (:class:`kerasdenoise.losses.classifier.ClassifierFeatureLoss`,
    ``loss_kwargs={"classifier_path": ...}``).  ``procedure_options``: ``lambda_mse`` (default 0:
    the paper trains its perceptual variant on the feature distance alone) and
    ``feature_weight`` (1).  Metrics: ``loss``, ``mse``, ``features`` (the unweighted feature
    distance) and ``psnr``.  The paper reports that this variant did not converge.
    """
    from kerasdenoise.losses import get_loss
    from kerasdenoise.training.joint import JointLossDenoiser

    feature_loss = get_loss(config.loss, **config.loss_kwargs)
    trainable = JointLossDenoiser(
        network, feature_loss, lambda_mse=options.lambda_mse,
        feature_weight=options.feature_weight, feature_name="features",
    )
    trainable.compile(optimizer=make_optimizer(config))
    return trainable


def train_feature_classifier(folder, out_path, steps: int = 1000, image_size: int = 64,
                             batch_size: int = 10, learning_rate: float = 0.01,
                             validation_split: float | None = 0.1, seed: int = 0,
                             progress: bool = False):
    """Train the perceptual-loss classifier on a labelled folder and save it to ``out_path``.

    ``folder`` = ``class_name/*.png|jpg`` (STL-10's labelled classes in the paper); RGB images
    resized to ``image_size``.  Returns ``(classifier, history)``; the saved ``.keras`` file is
    what ``loss_kwargs.classifier_path`` of the ``gated-*perceptual`` presets points to.
    """
    from pathlib import Path

    from kerasdenoise.data.labelled import labelled_dataset

    split = labelled_dataset(folder, image_size=image_size, batch_size=batch_size, seed=seed,
                             validation_split=validation_split)
    train, val = split if validation_split else (split, None)
    keras.utils.set_random_seed(seed)
    classifier = models.build("gated_classifier", num_classes=len(train.class_names),
                              channels=3, image_size=image_size)
    history = train_classifier(classifier, train, steps, learning_rate=learning_rate,
                               validation_data=val, progress=progress)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    classifier.save(out_path)
    return classifier, history
