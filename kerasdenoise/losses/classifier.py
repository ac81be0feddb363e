"""The perceptual loss of the gated conv-deconv paper (Zhao 2016): a distance between the
FC-1024 features that a small, frozen image classifier gives the restored and the clean image.

The paper trained the classifier of Table 2 (``models.build("gated_classifier")``) on STL-10's
labelled images, cut it after the fully-connected layer, and trained the denoiser to minimise
the L2 distance of the 1024-d features of its output and of the clean image.  It reports that
this did not converge (the classifier itself reached ~25-35% accuracy, and the denoiser gave
"black squares"); the MSE results are what the paper goes on with.  Here the loss exists so the
experiment can be run; the tests only show that it trains, not that it helps.

Registered as ``"classifier-features"`` (``loss_kwargs={"classifier_path": "clf.keras"}``).
The denoiser is trained with it through :class:`kerasdenoise.training.joint.JointLossDenoiser`
(procedure ``"joint_loss"``, ``loss="classifier-features"``, or ``"joint_classifier_loss"``).
"""
from __future__ import annotations

import os

import keras
from keras import ops

from kerasdenoise.losses import register_loss

FEATURE_LAYER = "fc1024"
DISTANCES = ("squared", "euclidean")


def feature_extractor(classifier: keras.Model, layer: str = FEATURE_LAYER) -> keras.Model:
    """A frozen model ``image -> classifier.get_layer(layer).output`` (inference mode: no
    dropout)."""
    try:
        features = classifier.get_layer(layer).output
    except ValueError:
        raise ValueError(
            f"classifier {classifier.name!r} has no layer {layer!r}; its layers: "
            f"{[l.name for l in classifier.layers]}"
        ) from None
    extractor = keras.Model(classifier.inputs, features, name=f"{classifier.name}_{layer}")
    extractor.trainable = False
    return extractor


class ClassifierFeatureLoss(keras.losses.Loss):
    """Distance between frozen classifier features of ``clean`` and ``restored``.

    ``loss(clean, restored)``: both ``[B, H, W, C]`` in [0, 1] with the classifier's input size
    and channels (64x64x3 for the paper).  Per image, with ``f`` = the ``layer`` activations
    (FC-1024 after its ReLU):

    - ``distance="squared"`` (default): ``mean_k (f(restored)_k - f(clean)_k)^2``, the squared
      L2 distance normalised by the feature count, as in Johnson et al.'s feature
      reconstruction loss that the paper cites; its gradient is smooth everywhere;
    - ``distance="euclidean"``: ``||f(restored) - f(clean)||_2`` (with a tiny epsilon inside the
      root so the gradient stays finite when the features coincide).

    The batch mean is returned.  The paper's formula (garbled in the text) says "L2 distance";
    which of the two it meant is not recoverable, hence the option.
    The classifier's weights are never trained by this loss.
    """

    def __init__(self, classifier: keras.Model, layer: str = FEATURE_LAYER,
                 distance: str = "squared", name: str = "classifier_features",
                 classifier_path: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        self.extractor = feature_extractor(classifier, layer)
        self.layer = layer
        self.distance = distance
        self.classifier_path = classifier_path
        self.image_shape = tuple(classifier.inputs[0].shape[1:])
        # What the features are (JointLossDenoiser prints and keeps it as feature_label).
        self.label = f"{layer} features of classifier {classifier_path or classifier.name}"

    def _check(self, images, role):
        shape = tuple(images.shape[1:])
        if len(shape) != 3 or any(
            want is not None and got is not None and want != got
            for want, got in zip(self.image_shape, shape)
        ):
            raise ValueError(
                f"ClassifierFeatureLoss: {role} images have shape {shape} but the classifier "
                f"takes {self.image_shape} (train the denoiser on patches of that size)"
            )

    def call(self, y_true, y_pred):
        self._check(y_true, "clean")
        self._check(y_pred, "restored")
        clean_features = self.extractor(ops.cast(y_true, "float32"), training=False)
        restored_features = self.extractor(ops.cast(y_pred, "float32"), training=False)
        difference = restored_features - ops.stop_gradient(clean_features)
        if self.distance == "squared":
            return ops.mean(ops.square(difference), axis=-1)
        return ops.sqrt(ops.sum(ops.square(difference), axis=-1) + 1e-12)

    def get_config(self):
        return {**super().get_config(), "layer": self.layer, "distance": self.distance,
                "classifier_path": self.classifier_path}


def load_classifier(path) -> keras.Model:
    """A saved classifier (``.keras``), e.g. one from :func:`kerasdenoise.training.transfer.
    train_classifier` saved with ``classifier.save(path)``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"classifier model not found: {path}")
    from kerasdenoise.runtime import load_keras_model

    try:
        return load_keras_model(path)
    except ValueError as err:
        raise ValueError(f"cannot load classifier: {err}") from err


@register_loss("classifier-features")
def classifier_feature_loss(*, classifier_path=None, classifier=None,
                            layer: str = FEATURE_LAYER, distance: str = "squared"):
    """Factory for configs: ``loss="classifier-features"``,
    ``loss_kwargs={"classifier_path": "runs/clf/classifier.keras"}`` (or ``classifier=`` a
    model, from code)."""
    if classifier is None:
        if not classifier_path:
            raise ValueError(
                "loss 'classifier-features' needs loss_kwargs.classifier_path: a saved "
                "'gated_classifier' (.keras), e.g. from kerasdenoise.training.transfer."
                "train_classifier(...) then classifier.save(path)"
            )
        classifier = load_classifier(classifier_path)
    return ClassifierFeatureLoss(classifier, layer=layer, distance=distance,
                                 classifier_path=None if classifier_path is None
                                 else os.fspath(classifier_path))
