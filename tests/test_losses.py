"""The loss registry: every loss builds and gives a finite scalar; loss_kwargs are checked."""
import numpy as np
import pytest

from kerasdenoise import models
from kerasdenoise.losses import get_loss, loss_names


def batch(seed, size=32):
    return np.random.default_rng(seed).random((2, size, size, 3)).astype(np.float32)


def arguments_without_downloads(name):
    """The defaults, except where they fetch something: perceptual's ImageNet VGG (random
    weights instead) and classifier-features' saved classifier (a fresh one instead)."""
    if name == "perceptual":
        return {"weights": None, "layers": ["block1_conv2"]}
    if name == "classifier-features":
        return {"classifier": models.build("gated_classifier", num_classes=2, image_size=32)}
    return {}


@pytest.mark.parametrize("name", loss_names())
def test_every_loss_builds_and_gives_a_finite_scalar(name):
    loss = get_loss(name, **arguments_without_downloads(name))
    clean, restored = batch(0), batch(1)
    value = np.asarray(loss(clean, restored))
    assert value.shape == () and np.isfinite(value) and value > 0
    assert float(loss(clean, clean)) == pytest.approx(0.0, abs=1e-6)


def test_misspelt_keyword_names_loss_keyword_and_valid_ones():
    with pytest.raises(ValueError) as err:
        get_loss("edge-a", wieght=0.1)
    message = str(err.value)
    assert "'edge-a'" in message and "wieght" in message
    assert "scale, weight" in message
    with pytest.raises(ValueError, match=r"'mse'.*\['weight'\].*none"):
        get_loss("mse", weight=2.0)


def test_keywords_reach_the_loss():
    clean, restored = batch(2), batch(3)
    default = float(get_loss("edge-b")(clean, restored))
    assert float(get_loss("edge-b", threshold=1e9)(clean, restored)) == pytest.approx(
        float(get_loss("mse")(clean, restored)), rel=1e-5)  # no edge above the threshold
    assert float(get_loss("edge-b", weight=0.0)(clean, restored)) < default
