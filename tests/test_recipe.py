"""The training recipes ('paper' / 'fast'): identity at initialisation, schedules, cascade and
evolution stages at identity, residual models exported, snapshots, and reflection padding that
leaves no border frame in any backend."""
import json

import keras
import numpy as np
import tensorflow as tf
import pytest

from kerasdenoise import metrics
from kerasdenoise.data.discovery import image_set
from kerasdenoise.export import export_model
from kerasdenoise.runtime import TFLiteRunner
from kerasdenoise.runtime import denoiser_from_keras, load_denoiser, reflect_pad
from kerasdenoise.models import dnresnet
from kerasdenoise.training import configs, recipe
from kerasdenoise.training.runner import build_network, train
from kerasdenoise.training.trainers import make_optimizer


def fast_dnresnet_config(data_dir, **changes):
    base = configs.get_preset("dsdnresnet13-blind-fast").replace(
        model_kwargs={"blocks": 2, "ds_blocks": 2, "channels": 1, "base_padding": "same"},
        train_data=str(data_dir), val_data=None, patch_size=16, batch_size=2, steps=4,
        steps_per_epoch=2, snapshot_every=0,
    )
    return base.replace(**changes)


@pytest.mark.parametrize("ds_blocks", [0, 5])
def test_fast_dnresnet_is_the_identity_at_init(ds_blocks):
    keras.utils.set_random_seed(0)
    config = configs.get_preset("dnresnet13-blind-fast").replace(
        model_kwargs={"blocks": 5, "ds_blocks": ds_blocks, "channels": 1, "base_padding": "same"})
    model = build_network(config)
    assert model.get_layer("residual_add") is not None
    image = np.random.default_rng(0).random((2, 37, 45, 1)).astype(np.float32)
    assert np.abs(model.predict(image, verbose=0) - image).max() < 1e-3
    # the paper form predicts the clean image directly: far from the identity
    paper = build_network(config.replace(recipe="paper"))
    assert "residual_add" not in [layer.name for layer in paper.layers]
    assert np.abs(paper.predict(image, verbose=0) - image).max() > 0.1


def test_residual_needs_same_padding():
    with pytest.raises(ValueError, match="base_padding='same'"):
        dnresnet.build_dnresnet(blocks=1, residual=True, init="he", base_padding="valid")
    with pytest.raises(ValueError, match="init must be one of"):
        dnresnet.build_dnresnet(blocks=1, init="kaiming")


def test_cascade_and_evolution_stages_start_where_the_last_ended():
    keras.utils.set_random_seed(1)
    model = dnresnet.build_dnresnet(blocks=2, base_padding="same", residual=True, init="he")
    rng = np.random.default_rng(1)
    for layer in model.layers:  # a "trained" net: nothing at zero
        if layer.weights:
            layer.set_weights([w + 0.05 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    image = rng.random((1, 24, 24, 1)).astype(np.float32)
    before = model.predict(image, verbose=0)
    grown = dnresnet.rebuild(model, blocks=3, init="he")
    assert np.abs(grown.predict(image, verbose=0) - before).max() < 1e-6
    evolved = dnresnet.rebuild(model, ds_blocks=1, init="he")
    assert dnresnet.describe(evolved)["residual"] and dnresnet.describe(evolved)["ds_blocks"] == 1
    # the replaced block adds almost nothing: the net is near the trained one without block 2
    without = dnresnet.build_dnresnet(blocks=1, base_padding="same", residual=True, init="he")
    dnresnet.copy_weights_by_name(model, without)
    near = without.predict(image, verbose=0)
    assert np.abs(evolved.predict(image, verbose=0) - near).max() < 0.02 * np.abs(near - image).max()
    # ... and it can learn: its closing ReLU layer gets gradients (at zero it never would)
    x = tf.constant(image)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(evolved(x) - 0.5))
    kernel = evolved.get_layer("res2_pointwise").kernel
    assert np.abs(tape.gradient(loss, kernel).numpy()).max() > 0


def test_fast_schedule_warms_up_then_decays_to_the_floor():
    config = configs.get_preset("dsdnresnet13-blind-fast").replace(steps=1000, learning_rate=1e-3)
    schedule = recipe.learning_rate(config)
    fast = recipe.get_recipe("fast")
    warmup = int(round(fast.warmup_fraction * 1000))
    lr = [float(schedule(step)) for step in (0, warmup // 2, warmup, 500, 1000)]
    assert lr[0] == 0.0 and lr[1] == pytest.approx(0.5e-3, rel=1e-3)
    assert lr[2] == pytest.approx(1e-3) and 1e-5 < lr[3] < 1e-3
    assert lr[4] == pytest.approx(fast.final_lr_fraction * 1e-3, rel=1e-3)
    optimizer = make_optimizer(config)
    assert optimizer.global_clipnorm == config.clipnorm == 1.0
    paper = configs.get_preset("dsdnresnet13-blind")
    assert recipe.learning_rate(paper) == paper.learning_rate  # constant, the paper's


def test_unknown_recipe_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid recipes: paper, fast"):
        configs.apply_overrides(configs.get_preset("demo"), ["recipe=quick"])
    with pytest.raises(ValueError, match="does not take"):
        build_network(configs.get_preset("demo").replace(
            model="srgan_discriminator", model_kwargs={}, recipe="fast"))


def test_fast_run_trains_and_snapshots(tmp_path, tiny_images):
    config = fast_dnresnet_config(tiny_images, steps=4, snapshot_every=2)
    result = train(config, tmp_path / "run", progress=False)
    index = json.loads((tmp_path / "run" / "snapshots" / "snapshots.json").read_text())
    assert sorted(index, key=int) == ["2", "4"]
    assert index["2"]["minutes"] <= index["4"]["minutes"]
    snapshot = keras.models.load_model(tmp_path / "run" / "snapshots" / index["4"]["file"])
    image = np.random.default_rng(3).random((1, 20, 20, 1)).astype(np.float32)
    np.testing.assert_allclose(snapshot.predict(image, verbose=0),
                               result.denoiser.predict(image, verbose=0), atol=1e-6)
    # the fast run moved away from the identity
    assert np.abs(result.denoiser.predict(image, verbose=0) - image).max() > 1e-4
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    assert info["steps"] == 4 and info["minutes"] >= 0


def test_residual_model_exports_and_matches_keras(tmp_path):
    keras.utils.set_random_seed(2)
    model = dnresnet.build_dnresnet(blocks=1, ds_blocks=1, base_padding="same", residual=True,
                                    init="he")
    output = model.get_layer("output")
    kernel, bias = output.get_weights()
    output.set_weights([np.random.default_rng(0).normal(0, 0.01, kernel.shape), bias])
    paths = export_model(model, tmp_path / "out", quantize=("none",), formats=("savedmodel", "tflite"))
    image = np.random.default_rng(4).random((29, 35, 1)).astype(np.float32)
    raw = model.predict(image[None], verbose=0)[0]
    assert np.abs(TFLiteRunner(paths["tflite_float32"])(image[None])[0] - raw).max() < 1e-4
    expected = denoiser_from_keras(model)(image)  # reflection-padded, clipped
    for spec in (paths["tflite_float32"], paths["savedmodel"]):
        restored = load_denoiser(str(spec))(image)
        assert np.abs(restored - expected).max() < 1e-4


def _box_filter_model():
    """A 3x3 mean filter with 'same' zero padding: on a constant image its border comes out
    darker unless the input is padded by reflection first."""
    inputs = keras.Input((None, None, 1))
    conv = keras.layers.Conv2D(1, 3, padding="same", use_bias=False)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.full((3, 3, 1, 1), 1 / 9, np.float32)])
    return model


def test_reflection_padding_leaves_no_frame_in_any_backend(tmp_path):
    model = _box_filter_model()
    image = np.full((40, 52, 1), 0.6, np.float32)
    raw = model.predict(image[None], verbose=0)[0]
    assert raw[0, 0, 0] < 0.3  # the network alone darkens the corner (4/9 of 0.6)
    paths = export_model(model, tmp_path / "box", quantize=("none",), formats=("savedmodel", "tflite"))
    denoisers = [denoiser_from_keras(model, "box")] + [
        load_denoiser(str(p)) for p in (paths["savedmodel"], paths["tflite_float32"])]
    for denoiser in denoisers:
        np.testing.assert_allclose(denoiser(image), image, atol=1e-5)
        # tiled, with tiles smaller than the image
        denoiser.tile, denoiser.overlap = 16, 4
        np.testing.assert_allclose(denoiser(image), image, atol=1e-5)


def test_reflect_pad_and_frame_psnr():
    image = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    padded = reflect_pad(image, 2)
    assert padded.shape == (7, 8, 1)
    np.testing.assert_array_equal(padded[2:5, 2:6], image)
    assert padded[0, 2, 0] == image[2, 0, 0]  # reflection about the edge pixel
    assert reflect_pad(np.ones((1, 5, 1), np.float32), 9).shape == (19, 23, 1)
    clean = np.full((32, 32, 1), 0.5, np.float32)
    restored = clean.copy()
    restored[:2] = 0.4  # a dark top frame only
    assert metrics.frame_psnr(clean, restored, 8) < metrics.psnr(clean, restored)
    restored = clean.copy()
    restored[16, 16] = 0.0  # a dark center pixel only
    assert metrics.frame_psnr(clean, restored, 8) == float("inf")


def test_image_sets_join_with_plus(tmp_path):
    from conftest import write_images

    a, b = write_images(tmp_path / "a", n=2), write_images(tmp_path / "b", n=3)
    joined = image_set(f"{a}+{b}")
    assert len(joined) == 5 and len(joined.load("gray")) == 5
    with pytest.raises(ValueError, match="scikit-image"):
        image_set(f"skimage-train+{a}")


def test_config_augment_reaches_the_stream(tiny_images):
    from kerasdenoise.training.runner import make_datasets

    plain = fast_dnresnet_config(tiny_images, augment=False)
    stream, _ = make_datasets(plain)
    flipped, _ = make_datasets(plain.replace(augment=True))
    a = [b[1].numpy() for b in stream(0).take(3)]
    b = [b[1].numpy() for b in flipped(0).take(3)]
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))


def test_opponent_color_starts_at_identity_exports_and_needs_its_luma(tmp_path):
    from kerasdenoise import models

    keras.utils.set_random_seed(5)
    luma = dnresnet.build_dnresnet(blocks=1, ds_blocks=1, base_padding="same", residual=True,
                                   init="he")
    luma_path = tmp_path / "luma.keras"
    luma.save(luma_path)
    config = configs.get_preset("color-opponent-blind-fast").replace(
        model_kwargs={"luma": str(luma_path), "filters": 4, "blocks": 1})
    model = build_network(config)
    assert not model.get_layer("luma").trainable
    image = np.random.default_rng(5).random((1, 24, 30, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(image, verbose=0), image, atol=1e-5)
    # a trained-looking chroma correction, then the exported TFLite file agrees with Keras,
    # odd sizes included (the runtime pads to the even size the network needs)
    head = model.get_layer("chroma_correction")
    kernel, bias = head.get_weights()
    head.set_weights([np.random.default_rng(1).normal(0, 0.05, kernel.shape), bias])
    paths = export_model(model, tmp_path / "color", quantize=("none",), formats=("tflite",))
    odd = np.random.default_rng(6).random((27, 33, 3)).astype(np.float32)
    expected = denoiser_from_keras(model)(odd)
    np.testing.assert_allclose(load_denoiser(str(paths["tflite_float32"]))(odd), expected, atol=1e-4)
    with pytest.raises(FileNotFoundError, match="luma model not found"):
        models.build("opponent_color", luma=str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="luma must take"):
        models.build("opponent_color", luma=model)
