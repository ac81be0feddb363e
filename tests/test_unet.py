"""UNet / ResUNet (ResUNet paper): registry, shapes, skip structure, odd sizes, presets."""
import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdenoise import models
from kerasdenoise.models.unet import minimum_side

TINY = {"base_filters": 4, "depth": 2}


def count(model, layer_type):
    return sum(isinstance(layer, layer_type) for layer in model.layers)


@pytest.mark.parametrize("name", ["unet", "resunet"])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_fully_convolutional(name, channels):
    model = models.build(name, channels=channels, **TINY)
    assert model.input_shape == (None, None, None, channels)
    for hw in [(16, 16), (32, 24)]:
        x = np.random.default_rng(0).random((2, *hw, channels)).astype(np.float32)
        assert model(x).shape == (2, *hw, channels)


def test_skip_structure_concat_vs_add():
    depth = 3
    unet = models.build("unet", base_filters=4, depth=depth)
    resunet = models.build("resunet", base_filters=4, depth=depth)
    # UNet: one concatenation per level, one Add (the global residual), no Res-blocks.
    assert count(unet, keras.layers.Concatenate) == depth
    assert count(unet, keras.layers.Add) == 1
    # ResUNet: no concatenation; Adds = 2 Res-blocks per down block and in the bottleneck,
    # one additive skip per level, the global residual.
    assert count(resunet, keras.layers.Concatenate) == 0
    assert count(resunet, keras.layers.Add) == 2 * depth + 2 + depth + 1
    skip_adds = [l for l in resunet.layers if l.name.endswith("_skip_add")]
    assert len(skip_adds) == depth
    # Each skip adds the down block's output (same width as the transposed conv's).
    for level, layer in enumerate(sorted(skip_adds, key=lambda l: l.name), start=1):
        widths = {tuple(t.shape)[-1] for t in layer.input}
        assert widths == {4 * 2 ** (level - 1)}
    # Widths double per level: 4, 8, 16 and an 32-wide bottleneck.
    assert resunet.get_layer("bottleneck_res2_conv2").filters == 4 * 2**depth
    assert unet.get_layer("down1_conv1").filters == 4


def test_residual_option_and_projection():
    plain = models.build("resunet", residual=False, **TINY)
    assert count(plain, keras.layers.Add) == 2 * 2 + 2 + 2  # no global residual
    with_res = models.build("resunet", **TINY)
    assert with_res.get_layer("restored").input[0] is with_res.input
    # The first Res-block of each level changes width: 1x1 projection shortcut.
    assert with_res.get_layer("down1_res1_projection").kernel_size == (1, 1)
    assert with_res.get_layer("down2_res1_projection").kernel.shape == (1, 1, 4, 8)
    with pytest.raises(ValueError):
        with_res.get_layer("down1_res2_projection")  # same width: identity shortcut
    # The zero-initialized last conv of each Res-block: an untrained block is its shortcut.
    assert not np.any(with_res.get_layer("down1_res2_conv2").kernel.numpy())


def test_odd_sizes_are_reflect_padded_and_cropped():
    model = models.build("unet", residual=False, **TINY)
    rng = np.random.default_rng(1)
    x = rng.random((1, 13, 18, 3)).astype(np.float32)
    y = model(x).numpy()
    assert y.shape == x.shape
    # Same as running the net on the reflect-padded image (13 -> 16: 1 + 2 rows; 18 -> 20:
    # 1 + 1 columns) and cropping: the padding is inside the model.
    padded = np.pad(x, ((0, 0), (1, 2), (1, 1), (0, 0)), mode="reflect")
    y_padded = model(padded).numpy()
    np.testing.assert_allclose(y, y_padded[:, 1:14, 1:19, :], atol=1e-5)


def test_too_small_input_is_a_clear_error():
    model = models.build("resunet", base_filters=2, depth=4, channels=1)
    assert minimum_side(16) == 6
    assert model(np.zeros((1, 6, 40, 1), np.float32)).shape == (1, 6, 40, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 6 pixels"):
        model(np.zeros((1, 5, 40, 1), np.float32))


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        models.build("unet", depth=0)
    with pytest.raises(ValueError, match="res_blocks"):
        models.build("resunet", res_blocks=0)


def test_trains_and_saves(tmp_path):
    model = models.build("resunet", **TINY)
    model.compile(keras.optimizers.Adam(1e-3), loss="mse")
    rng = np.random.default_rng(2)
    clean = rng.random((4, 16, 16, 3)).astype(np.float32)
    noisy = clean + 0.1 * rng.standard_normal(clean.shape).astype(np.float32)
    before = float(model.evaluate(noisy, clean, verbose=0))
    model.fit(noisy, clean, batch_size=4, epochs=3, verbose=0)
    assert float(model.evaluate(noisy, clean, verbose=0)) < before
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    x = noisy[:1, :15, :14]
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)


def test_presets_are_systematic():
    from kerasdenoise.training import configs

    names = [n for n in configs.preset_names() if n.startswith("resunet-")]
    for scale in ("paper", "cpu"):
        for task in ("denoise", "deblur"):
            for model in ("unet", "resunet"):
                for sigma in ("2.55", "5.1", "12.75", "25.5"):
                    assert f"resunet-{scale}-{task}-{model}-s{sigma}" in names
            assert f"resunet-{scale}-{task}-resunet-lper-s25.5" in names
    paper = configs.get_preset("resunet-paper-deblur-resunet-s12.75")
    assert (paper.model_kwargs["base_filters"], paper.batch_size, paper.patch_size) == (64, 64, 32)
    assert paper.learning_rate == 5e-4 and paper.color == "rgb" and "12.75" in paper.noise
    assert paper.noise.startswith("blur:kernel=mnist") and "digit=first" in paper.noise
    if importlib.util.find_spec("kerasdenoise.degrade") is not None:  # written by another module
        from kerasdenoise.degrade import from_spec

        for name in names:
            from_spec(configs.get_preset(name).noise)  # every spec parses
    assert configs.get_preset("resunet-paper-denoise-unet-s2.55").learning_rate == 1e-3
    lper = configs.get_preset("resunet-cpu-denoise-resunet-lper-s25.5")
    assert lper.procedure == "joint_loss" and lper.procedure_options["weights"] == "hed-bsds500"
    assert lper.procedure_options["lambda_mse"] == 100.0 and lper.procedure_options["normalize"] is None
    assert configs.get_preset("resunet-paper-denoise-resunet-lper-s25.5").procedure_options[
        "weights"] == "imagenet"
