"""The cost counter (models.stats): weights and multiply-accumulates of every kind of kernel,
against counts worked out by hand."""
import keras
import pytest
from keras import layers

from kerasdenoise import models


def _model(*stack, shape=(8, 8, 3)):
    inputs = keras.Input(shape=shape)
    x = inputs
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("stack, weights, macs", [
    # 3x3 conv 3 -> 4 'same' on 8x8: 4 x 3 x 3 x 3 weights, one dot product per output value
    ((layers.Conv2D(4, 3, padding="same"),), 108, 8 * 8 * 4 * 27),
    # 'valid' shrinks the output to 6x6: fewer MACs, the same weights
    ((layers.Conv2D(4, 3, padding="valid"),), 108, 6 * 6 * 4 * 27),
    # separable: depthwise 3x3 per channel (27 weights, 9 MACs per output) + pointwise 1x1 3 -> 4
    ((layers.SeparableConv2D(4, 3, padding="same"),), 27 + 12, 8 * 8 * 3 * 9 + 8 * 8 * 4 * 3),
    # transposed 2x2 stride 2, 3 -> 5: every input value meets every kernel tap once
    ((layers.Conv2DTranspose(5, 2, strides=2),), 2 * 2 * 5 * 3, 8 * 8 * 3 * 2 * 2 * 5),
    # dense after flatten: 192 -> 10
    ((layers.Flatten(), layers.Dense(10)), 1920, 1920),
])
def test_weights_and_macs_by_hand(stack, weights, macs):
    counted = models.stats(_model(*stack), input_hw=(8, 8))
    assert (counted["weights"], counted["macs"]) == (weights, macs)
    assert counted["params"] > counted["weights"]  # biases are parameters, not weights


def test_macs_scale_with_the_image_and_weights_do_not():
    model = _model(layers.Conv2D(2, 3, padding="same"), shape=(None, None, 1))
    small, large = models.stats(model, (10, 10)), models.stats(model, (20, 30))
    assert large["macs"] == small["macs"] * 6 and large["weights"] == small["weights"] == 18
