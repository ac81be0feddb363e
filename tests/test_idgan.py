"""IDResNet / IDGAN (paper 2): the networks, the detail-loss GAN step, checkpoints, the two-phase driver."""
import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdenoise import models
from kerasdenoise.models.idresnet import generator_of, to_unit_range
from kerasdenoise.training import configs, gan
from kerasdenoise.training.gan import IDGAN, discriminator_loss, generator_adversarial_loss
from kerasdenoise.training.runner import NonFiniteLoss, read_state, train
from kerasdenoise.training.trainers import make_trainable

SIZE = 32  # crop size of the tiny tests; the discriminator input matches it
TINY_DISCRIMINATOR = {"filters": 8, "dense_units": 16}


def tiny_generator(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return models.build("idresnet", **{"blocks": 2, "filters": 8, "channels": 3, **kwargs})


def tiny_config(data_dir=".", **changes):
    """idgan-cpu-s25 shrunk to a few seconds: 2 blocks x 8 filters, 32x32 crops, no VGG."""
    base = configs.get_preset("idgan-cpu-s25").replace(
        model_kwargs={"blocks": 2, "filters": 8, "channels": 3},
        procedure_options={"content_weight": 0.0, "discriminator_kwargs": TINY_DISCRIMINATOR,
                        "phase_steps": [2, 2]},
        train_data=str(data_dir), val_data=str(data_dir), patch_size=SIZE, batch_size=2,
        steps=4, steps_per_epoch=2, val_batches=1,
    )
    return base.replace(**changes)


def batches(n, seed=0, size=SIZE, batch=2):
    """``n`` fixed (noisy, clean) batches: smooth clean images plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    clean = rng.random((n, batch, size // 4, size // 4, 3)).astype(np.float32)
    clean = np.repeat(np.repeat(clean, 4, axis=2), 4, axis=3)
    noisy = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
    return noisy, clean


def tiny_gan(seed=0, content_loss=None, content_weight=0.0, lr=1e-3):
    generator = tiny_generator(seed)
    discriminator = models.build("srgan_discriminator", input_size=SIZE, **TINY_DISCRIMINATOR)
    model = IDGAN(generator, discriminator, content_loss)
    model.compile(keras.optimizers.Adam(lr), keras.optimizers.Adam(lr),
                  content_weight=content_weight)
    return model


def fit_batches(model, noisy, clean):
    data = tf.data.Dataset.from_tensor_slices((noisy, clean))
    return model.fit(data, epochs=1, steps_per_epoch=len(noisy), verbose=0, shuffle=False).history


# --------------------------------------------------------------------------------------------
# networks


def test_idresnet_structure_and_shapes():
    generator = tiny_generator(blocks=3)
    assert generator.input_shape == (None, None, None, 3)
    for shape in [(1, 20, 28, 3), (2, 33, 17, 3)]:
        assert generator(np.zeros(shape, np.float32)).shape == shape  # fully convolutional
    # conv9x9-8 + PReLU; 3 x [conv3x3, PReLU, conv3x3, add]; conv3x3 + long skip; conv9x9-3
    f, c, b = 8, 3, 3
    expected = (9 * 9 * c * f + f) + f + b * (2 * (3 * 3 * f * f + f) + f) + (3 * 3 * f * f + f) \
        + (9 * 9 * f * c + c)
    assert generator.count_params() == expected
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in generator.layers)
    prelus = [l for l in generator.layers if isinstance(l, keras.layers.PReLU)]
    assert len(prelus) == 1 + b and all(tuple(l.shared_axes) == (1, 2) for l in prelus)
    assert generator.get_layer("skip_add").input[1] is generator.get_layer("prelu_in").output
    assert "idresnet" in models.names() and "srgan_discriminator" in models.names()
    paper = models.build("idresnet")
    assert len([l for l in paper.layers if l.name.endswith("_add")]) == 33  # 32 blocks + skip
    assert paper.get_layer("conv_in").kernel.shape == (9, 9, 3, 64)
    with pytest.raises(ValueError, match="output_activation"):
        models.build("idresnet", output_activation="sigmoid")


def test_output_ranges_and_unit_range_wrapper(tmp_path):
    x = np.random.default_rng(0).normal(0.5, 2.0, (2, 16, 16, 3)).astype(np.float32)
    tanh = tiny_generator(output_activation="tanh")
    y = tanh.predict(x * 50, verbose=0)
    assert y.min() >= -1 and y.max() <= 1
    generator = tiny_generator()
    wrapped = to_unit_range(generator)
    assert generator_of(wrapped) is generator and generator_of(generator) is generator
    np.testing.assert_allclose(wrapped.predict(x, verbose=0),
                               (generator.predict(x, verbose=0) + 1) / 2, atol=1e-6)
    wrapper = models.build("idresnet", blocks=2, filters=8, unit_range=True)
    inner = generator_of(wrapper)
    assert inner is not wrapper and inner.name == "idresnet"
    np.testing.assert_allclose(wrapper.predict(x, verbose=0),
                               (inner.predict(x, verbose=0) + 1) / 2, atol=1e-6)
    # The wrapper is what final.keras holds: it must load without custom objects.
    wrapper.save(tmp_path / "w.keras")
    loaded = keras.models.load_model(tmp_path / "w.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), wrapper.predict(x, verbose=0), atol=1e-6)
    assert generator_of(loaded).output_shape == (None, None, None, 3)


def test_srgan_discriminator_layer_stack():
    disc = models.build("srgan_discriminator", input_size=96, channels=3)
    convs = [l for l in disc.layers if isinstance(l, keras.layers.Conv2D)]
    assert [(l.filters, l.strides[0], l.kernel_size) for l in convs] == [
        (64, 1, (3, 3)), (64, 2, (3, 3)), (128, 1, (3, 3)), (128, 2, (3, 3)),
        (256, 1, (3, 3)), (256, 2, (3, 3)), (512, 1, (3, 3)), (512, 2, (3, 3))]
    # BN after every conv but the first; LeakyReLU(0.2) after every conv and the first Dense
    kinds = [type(l).__name__ for l in disc.layers[1:]]
    assert kinds[:2] == ["Conv2D", "LeakyReLU"]
    assert kinds[2:23] == ["Conv2D", "BatchNormalization", "LeakyReLU"] * 7
    assert kinds[23:] == ["Flatten", "Dense", "LeakyReLU", "Dense"]
    assert all(l.negative_slope == pytest.approx(0.2)
               for l in disc.layers if isinstance(l, keras.layers.LeakyReLU))
    dense = [l for l in disc.layers if isinstance(l, keras.layers.Dense)]
    assert dense[0].kernel.shape == (6 * 6 * 512, 1024)  # 96 / 2^4 = 6
    assert dense[1].units == 1 and dense[1].activation is keras.activations.linear  # logits
    logits = disc.predict(np.full((2, 96, 96, 3), 5.0, np.float32), verbose=0)
    assert logits.shape == (2, 1)
    with pytest.raises(ValueError, match="input_size"):
        models.build("srgan_discriminator", input_size=8)


def test_gan_losses_are_the_stable_log_forms():
    logits = tf.constant([[-3.0], [0.0], [2.5]])
    p = tf.sigmoid(logits)
    np.testing.assert_allclose(generator_adversarial_loss(logits),
                               tf.reduce_mean(-tf.math.log(p)), rtol=1e-5)
    np.testing.assert_allclose(discriminator_loss(logits, -logits),
                               2 * tf.reduce_mean(-tf.math.log(p)), rtol=1e-5)
    # Saturated logits: the naive log(sigmoid) gives inf, the softplus form stays exact.
    huge = tf.constant([[-1e4], [1e4]])
    assert np.isfinite(generator_adversarial_loss(huge)) and np.isfinite(discriminator_loss(huge, huge))
    np.testing.assert_allclose(generator_adversarial_loss(tf.constant([[-1e4]])), 1e4)


# --------------------------------------------------------------------------------------------
# trainers


def test_idresnet_mse_trainer_one_step():
    generator = tiny_generator()
    trainer = make_trainable(tiny_config(procedure="idresnet_mse"), generator)
    assert trainer.denoiser.output_shape == (None, None, None, 3)
    before = [w.copy() for w in generator.get_weights()]
    noisy, clean = batches(1)
    history = fit_batches(trainer, noisy, clean)
    assert set(history) == {"mse", "psnr"}
    # the reported MSE is the MSE in [-1, 1], 4x the MSE of the [0, 1] denoiser output
    assert history["mse"][0] > 0 and np.isfinite(history["psnr"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, generator.get_weights()))
    assert int(trainer.optimizer.iterations) == 1
    assert trainer.optimizer.beta_1 == pytest.approx(0.9)
    scores = trainer.evaluate(noisy[0], clean[0], verbose=0, return_dict=True)
    mse01 = np.mean((np.clip(trainer.denoiser.predict(noisy[0], verbose=0), 0, 1) - clean[0]) ** 2, axis=(1, 2, 3))
    assert scores["psnr"] == pytest.approx(np.mean(10 * np.log10(1 / mse01)), abs=1e-3)
    assert scores["mse"] == pytest.approx(
        4 * np.mean((trainer.denoiser.predict(noisy[0], verbose=0) - clean[0]) ** 2), rel=1e-4)


def test_idgan_one_step_reports_every_metric_and_updates_both():
    model = make_trainable(tiny_config(procedure="idgan"), tiny_generator())
    assert isinstance(model, IDGAN)
    g_before = [w.copy() for w in model.generator.get_weights()]
    d_before = [w.copy() for w in model.discriminator.get_weights()]
    noisy, clean = batches(1)
    history = fit_batches(model, noisy, clean)
    assert set(history) == {"g_loss", "mse", "content", "adversarial", "d_loss", "d_real",
                            "d_fake", "psnr"}
    assert all(np.isfinite(v[0]) for v in history.values())
    assert 0 < history["d_real"][0] < 1 and 0 < history["d_fake"][0] < 1
    expected = 0.001 * history["mse"][0] + 0.001 * history["adversarial"][0]  # content weight 0
    assert history["g_loss"][0] == pytest.approx(expected, rel=1e-5)
    assert int(model.g_optimizer.iterations) == 1 and int(model.d_optimizer.iterations) == 1
    assert any(not np.allclose(a, b) for a, b in zip(g_before, model.generator.get_weights()))
    assert any(not np.allclose(a, b) for a, b in zip(d_before, model.discriminator.get_weights()))
    assert set(model.evaluate(noisy[0], clean[0], verbose=0, return_dict=True)) == {"mse", "psnr"}


def test_idgan_with_vgg_content_term(tmp_path):
    """The content term through PerceptualLoss (random VGG19 weights: no download in tests)."""
    from kerasdenoise.losses.perceptual import PerceptualLoss

    content = PerceptualLoss(layers=("block5_conv4",), network="vgg19", weights=None,
                                        normalize="imagenet")
    model = tiny_gan(content_loss=content, content_weight=0.0061)
    trained = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert trained == model.generator.count_params() + sum(
        int(np.prod(v.shape)) for v in model.discriminator.trainable_variables)  # VGG is frozen
    assert isinstance(model.content_label, str) and model.content_label
    noisy, clean = batches(1)
    history = fit_batches(model, noisy, clean)
    assert history["content"][0] > 0
    expected = 0.001 * history["mse"][0] + 0.0061 * history["content"][0] \
        + 0.001 * history["adversarial"][0]
    assert history["g_loss"][0] == pytest.approx(expected, rel=1e-5)
    # checkpoints hold the two networks and optimizers, not the frozen VGG19 (80 MB)
    model.save_weights(tmp_path / "ckpt.weights.h5")
    assert (tmp_path / "ckpt.weights.h5").stat().st_size < 2_000_000


def test_checkpoint_resume_continues_a_gan_run_exactly(tmp_path):
    tf.config.experimental.enable_op_determinism()
    noisy, clean = batches(3, seed=1)
    straight = tiny_gan(seed=0)
    fit_batches(straight, noisy, clean)  # steps 1-3

    first = tiny_gan(seed=0)
    fit_batches(first, noisy[:2], clean[:2])  # steps 1-2
    first.save_weights(tmp_path / "ckpt.weights.h5")
    resumed = tiny_gan(seed=5)  # a different initialization: everything must come from the file
    resumed.build_optimizer_state()
    resumed.load_weights(tmp_path / "ckpt.weights.h5")
    for opt_a, opt_b in [(first.g_optimizer, resumed.g_optimizer), (first.d_optimizer, resumed.d_optimizer)]:
        assert int(opt_b.iterations) == 2
        for a, b in zip(opt_a.variables, opt_b.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    fit_batches(resumed, noisy[2:], clean[2:])  # step 3

    for net in ("generator", "discriminator"):  # discriminator includes its BN statistics
        for a, b in zip(getattr(straight, net).get_weights(), getattr(resumed, net).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    for a, b in zip(straight.d_optimizer.variables, resumed.d_optimizer.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-9)


def test_non_finite_loss_stops_the_run(tmp_path):
    cfg = tiny_config(procedure="idgan", steps=2, val_data=None)
    images = tf.fill([2, SIZE, SIZE, 3], float("nan"))
    stream = lambda step: tf.data.Dataset.from_tensors((images, images)).repeat()  # noqa: E731
    with pytest.raises(NonFiniteLoss, match="without writing a checkpoint"):
        train(cfg, tmp_path / "nan", network=tiny_generator(), datasets=(stream, None), progress=False)
    assert read_state(tmp_path / "nan") is None and not (tmp_path / "nan" / "final.keras").exists()


# --------------------------------------------------------------------------------------------
# presets and the two-phase driver


def test_presets_and_phase_split():
    names = configs.preset_names()
    assert {"idgan-paper-s25", "idgan-paper-s35", "idgan-paper-s50", "idgan-cpu-s25"} <= set(names)
    paper = configs.get_preset("idgan-paper-s50")
    first, second = gan.phase_configs(paper)
    assert (first.procedure, first.steps, first.lr_decay_steps) == ("idresnet_mse", 400_000, (200_000,))
    assert (second.procedure, second.steps, second.lr_decay_steps) == ("idgan", 200_000, (100_000,))
    # each phase is the preset but for its procedure, budget and schedule
    for phase in (first, second):
        differ = {k for k, v in phase.to_dict().items() if paper.to_dict()[k] != v}
        assert differ == {"name", "description", "procedure", "steps", "lr_decay_steps"}
    # --steps rescales both phases in the paper's 2:1 ratio
    short = gan.phase_configs(paper.replace(steps=300))
    assert [c.steps for c in short] == [200, 100]
    with pytest.raises(ValueError, match="lr_decay_steps"):
        gan.phase_configs(paper.replace(lr_decay_steps=(10,)))
    with pytest.raises(ValueError, match="unknown procedure_options.*'adversarial_weight'"):
        gan.phase_configs(paper.replace(procedure_options={"adverserial_weight": 1}))
    # phase 2 at its own learning rate where the options give one (the fast preset: 1e-4 after 1e-3)
    fast = configs.get_preset("idgan-fast-s25")
    first, second = gan.phase_configs(fast)
    assert (first.learning_rate, second.learning_rate) == (1e-3, 1e-4)
    assert (first.steps, second.steps) == tuple(fast.procedure_options["phase_steps"])
    assert first.recipe == second.recipe == "fast"
    # the discriminator compares whole crops: every preset's crop divides by 16 (its four
    # stride-2 convolutions lose no border)
    for name in names:
        if configs.get_preset(name).procedure == "idgan_two_phase":
            assert configs.get_preset(name).patch_size % 16 == 0, name


def test_two_phase_driver(tmp_path, tiny_images):
    tf.config.experimental.enable_op_determinism()
    cfg = tiny_config(tiny_images)
    out = tmp_path / "run"
    result = train(cfg, out, progress=False)
    assert result.steps == 4 and result.out_dir == out
    phase1, phase2 = out / "phase1_idresnet", out / "phase2_idgan"
    for phase, trainer in [(phase1, "idresnet_mse"), (phase2, "idgan")]:
        assert read_state(phase)["step"] == 2 and (phase / "final.keras").exists()
        saved = json.loads((phase / "config.json").read_text())
        assert saved["procedure"] == trainer and saved["steps"] == 2 and saved["lr_decay_steps"] == [1]
        assert "val_psnr" in (phase / "history.csv").read_text().splitlines()[0]
    assert "d_loss" in (phase2 / "history.csv").read_text().splitlines()[0]
    summary = json.loads((out / "phases.json").read_text())
    assert [p["steps"] for p in summary["phases"]] == [2, 2]
    assert summary["phases"][1]["content_loss"] == "none"

    # phase 2 starts from phase 1: after 2 small Adam steps the generator is still next to it
    start = keras.models.load_model(phase1 / "final.keras")
    end = keras.models.load_model(out / "final.keras")
    diffs = [np.max(np.abs(a - b)) for a, b in zip(start.get_weights(), end.get_weights())]
    assert 0 < max(diffs) < 1e-3
    x = np.random.default_rng(0).random((1, 40, 24, 3)).astype(np.float32)
    assert end.predict(x, verbose=0).shape == x.shape

    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, out, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train(cfg.replace(steps=6), out, resume=True, progress=False)
    again = train(cfg, out, resume=True, progress=False)  # both phases done: nothing to run
    assert again.steps == 4 and read_state(phase2)["step"] == 2

    # A run stopped between the phases continues from phase 1's final.keras, exactly.
    cut = tmp_path / "cut"
    shutil.copytree(out, cut)
    shutil.rmtree(cut / "phase2_idgan")
    (cut / "final.keras").unlink()
    resumed = train(cfg, cut, resume=True, progress=False)
    assert resumed.steps == 4 and read_state(cut / "phase2_idgan")["step"] == 2
    for a, b in zip(result.denoiser.get_weights(), resumed.denoiser.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
