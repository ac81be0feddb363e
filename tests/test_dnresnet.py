"""DN-ResNet / DS-DN-ResNet networks (paper 3): sizes, padding forms, growth, evolution, edge loss."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdenoise import models
from kerasdenoise.losses import get_loss, mean_squared_error
from kerasdenoise.losses.edge import edge_aware_mse, edge_map
from kerasdenoise.models import dnresnet


def randomize(model, scale=0.05, seed=0):
    """Give every weight (biases too) a visible random value, so comparisons mean something."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, scale, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    return model


def weights_of(model):
    return {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers if layer.weights}


@pytest.mark.parametrize("blocks", [0, 1, 2, 5])
def test_dnresnet_weight_count_is_the_papers(blocks):
    net = models.build("dnresnet", blocks=blocks, base_padding="same")
    assert models.stats(net, (24, 24))["weights"] == 57_184 + 18_432 * blocks


def test_paper_sizes_and_macs_at_640x480():
    dn13 = models.stats(models.build("dnresnet", blocks=5, base_padding="same"), (480, 640))
    ds13 = models.stats(models.build("ds_dnresnet", blocks=5, base_padding="same"), (480, 640))
    assert dn13["weights"] == 149_344
    assert round(dn13["macs"] / 1e9, 1) == 45.9
    # One depthwise 3x3 + one pointwise 1x1-32 per DS block (the paper reports 63,728).
    assert ds13["weights"] == 63_744
    assert round(ds13["macs"] / 1e9, 1) == 19.6
    assert dn13["params"] > dn13["weights"]  # biases counted in params only


def test_layer_names_init_and_mixed_nets():
    net = models.build("dnresnet", blocks=3, ds_blocks=1)
    names = [layer.name for layer in net.layers]
    for expected in ("conv1", "conv2", "res1_conv1", "res2_conv2", "res3_depthwise",
                     "res3_pointwise", "output"):
        assert expected in names
    assert "res3_conv1" not in names and "res2_depthwise" not in names
    assert dnresnet.describe(net) == {"blocks": 3, "ds_blocks": 1, "channels": 1,
                                      "base_padding": "valid", "residual": False}
    # N(0, 0.001) kernels (std 0.001), zero biases.
    kernel = net.get_layer("conv2").kernel.numpy()
    assert 0.0008 < kernel.std() < 0.0012 and abs(kernel.mean()) < 1e-4
    assert not np.any(net.get_layer("conv2").bias.numpy())
    with pytest.raises(ValueError, match="ds_blocks"):
        models.build("dnresnet", blocks=2, ds_blocks=3)
    with pytest.raises(ValueError, match="base_padding"):
        models.build("dnresnet", base_padding="full")


def test_valid_form_maps_33_to_17_and_same_keeps_size():
    valid = models.build("dnresnet", blocks=1, channels=3)
    assert valid(np.zeros((2, 33, 33, 3), np.float32)).shape == (2, 17, 17, 3)
    same = models.build("ds_dnresnet", blocks=1, base_padding="same")
    assert same(np.zeros((1, 30, 41, 1), np.float32)).shape == (1, 30, 41, 1)


@pytest.mark.parametrize("ds_blocks", [0, 2])
def test_to_same_padding_matches_valid_output_inside(ds_blocks):
    blocks = 2
    valid = randomize(models.build("dnresnet", blocks=blocks, ds_blocks=ds_blocks))
    same = dnresnet.to_same_padding(valid)
    assert [l.padding for l in same.layers if hasattr(l, "padding")] == ["same"] * (3 + 2 * blocks)
    for a, b in zip(valid.get_weights(), same.get_weights()):
        np.testing.assert_array_equal(a, b)
    image = np.random.default_rng(1).random((1, 64, 64, 1)).astype(np.float32)
    out_valid = valid(image).numpy()  # 48x48, pixel (i, j) at input (i + 8, j + 8)
    out_same = same(image).numpy()
    assert out_same.shape == image.shape
    # The valid form's ResBlocks zero-pad its smaller feature map: 2 px per block of border.
    m = 2 * blocks
    np.testing.assert_allclose(out_valid[:, m:-m, m:-m], out_same[:, 8 + m:-8 - m, 8 + m:-8 - m],
                               rtol=1e-5, atol=1e-6)
    assert np.abs(out_valid[:, m:-m, m:-m]).max() > 1e-3  # not trivially zero


def test_inserting_a_block_keeps_weights_and_output():
    grown_from = randomize(models.build("dnresnet", blocks=1), scale=0.05)
    before = weights_of(grown_from)
    keras.utils.set_random_seed(3)
    grown = dnresnet.rebuild(grown_from, blocks=2)
    assert dnresnet.describe(grown)["blocks"] == 2
    after = weights_of(grown)
    assert set(after) - set(before) == {"res2_conv1", "res2_conv2"}
    for name, values in before.items():
        for a, b in zip(values, after[name]):
            np.testing.assert_array_equal(a, b)
    assert abs(np.std(after["res2_conv1"][0]) - 0.001) < 3e-4
    image = np.random.default_rng(2).random((2, 33, 33, 1)).astype(np.float32)
    old, new = grown_from(image).numpy(), grown(image).numpy()
    change = np.abs(new - old).max()
    assert 0 < change < 1e-3 * np.abs(old).max()


def test_evolution_step_replaces_the_tail_block_only():
    trained = randomize(models.build("dnresnet", blocks=3))
    before = weights_of(trained)
    evolved = dnresnet.rebuild(trained, ds_blocks=1)
    after = weights_of(evolved)
    assert "res3_conv1" not in after and {"res3_depthwise", "res3_pointwise"} <= set(after)
    for name in ("conv1", "conv2", "res1_conv1", "res1_conv2", "res2_conv1", "res2_conv2", "output"):
        for a, b in zip(before[name], after[name]):
            np.testing.assert_array_equal(a, b)
    twice = dnresnet.rebuild(evolved, ds_blocks=2)
    for a, b in zip(after["res3_depthwise"], weights_of(twice)["res3_depthwise"]):
        np.testing.assert_array_equal(a, b)  # an earlier DS block keeps its fine-tuned weights
    assert dnresnet.describe(twice)["ds_blocks"] == 2


def test_saved_model_round_trip(tmp_path):
    net = randomize(models.build("ds_dnresnet", blocks=1, base_padding="same"))
    net.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=False)
    image = np.random.default_rng(0).random((1, 20, 20, 1)).astype(np.float32)
    np.testing.assert_allclose(net(image).numpy(), loaded(image).numpy(), rtol=1e-6)
    assert dnresnet.describe(loaded)["ds_blocks"] == 1


# ----------------------------------------------------------------------------- edge-aware loss

def step_image(size=12, low=0.2, high=0.8):
    image = np.full((1, size, size, 1), low, np.float32)
    image[:, :, size // 2:] = high
    return tf.constant(image)


@pytest.mark.parametrize("mode", ["edge-a", "edge-b"])
def test_edge_loss_on_flat_image_is_mse(mode):
    clean = tf.fill([2, 10, 10, 1], 0.4)
    restored = clean + tf.random.stateless_normal([2, 10, 10, 1], seed=[1, 2]) * 0.1
    expected = float(mean_squared_error(clean, restored))
    assert float(edge_aware_mse(clean, restored, mode)) == pytest.approx(expected, rel=1e-6)
    keras_loss = get_loss(mode)
    assert float(keras_loss(clean, restored)) == pytest.approx(expected, rel=1e-6)


def test_edge_maps_on_a_step():
    clean = step_image(low=0.2, high=0.8)  # a 0.6 * 255 = 153 step: Sobel 4 * 153 = 612 at it
    magnitude = edge_map(clean, "edge-a").numpy()[0, :, :, 0]
    assert magnitude[5, 5] == pytest.approx(612, rel=1e-4) and magnitude[5, 6] == pytest.approx(612, rel=1e-4)
    assert magnitude[5, 0] == 0 and magnitude[5, 11] == 0
    mask = edge_map(clean, "edge-b").numpy()[0, :, :, 0]
    assert set(np.unique(mask)) == {0.0, 1.0} and mask[:, 5:7].all() and not mask[:, :4].any()
    weak = edge_map(step_image(low=0.5, high=0.6), "edge-b").numpy()  # 4 * 25.5 = 102 < 150
    assert not weak.any()


@pytest.mark.parametrize("mode,weight", [("edge-a", 0.025), ("edge-b", 4.0)])
def test_edge_loss_weights_errors_at_edges_more(mode, weight):
    clean = step_image()
    error = np.zeros((1, 12, 12, 1), np.float32)
    at_edge, far = error.copy(), error.copy()
    at_edge[0, 3, 5] = 0.1  # on the step
    far[0, 3, 0] = 0.1  # in the flat part
    loss_edge = float(edge_aware_mse(clean, clean + at_edge, mode))
    loss_far = float(edge_aware_mse(clean, clean + far, mode))
    mse = 0.01 / 144
    assert loss_far == pytest.approx(mse, rel=1e-5)
    m = 612.0 if mode == "edge-a" else 1.0
    assert loss_edge == pytest.approx(mse * (1 + weight * m * m), rel=1e-4)
    # Gradients flow to the restored image only (the map is from the clean image).
    restored = tf.Variable(clean + at_edge)
    with tf.GradientTape() as tape:
        value = get_loss(mode)(clean, restored)
    assert np.abs(tape.gradient(value, restored).numpy()).max() > 0


def test_edge_loss_scale_option_and_errors():
    clean = step_image()
    restored = clean + 0.05
    unit = float(get_loss("edge-a", scale=1.0)(clean, restored))
    full = float(get_loss("edge-a")(clean, restored))
    assert float(mean_squared_error(clean, restored)) < unit < full
    with pytest.raises(ValueError, match="edge-c"):
        edge_aware_mse(clean, restored, "edge-c")
