"""The training recipes' builder arguments (``residual``, ``init``) on every denoiser family other
than DN-ResNet, and the training procedures that build those denoisers with ``recipe="fast"``.

``residual=True, init="he"`` must give a model that is the identity at initialisation (what the
fast recipe starts from); the defaults must keep building exactly the paper networks.
"""
import keras
import numpy as np
import pytest

from kerasdenoise import models
from kerasdenoise.models.idresnet import generator_of
from kerasdenoise.training import configs, gan
from kerasdenoise.training.runner import build_network
from kerasdenoise.training.trainers import make_trainable

# builder -> (tiny builder kwargs, image side, channels)
FAMILIES = {
    "dncnn": ({"depth": 4, "filters": 8, "channels": 1}, 24, 1),
    "unet": ({"base_filters": 4, "depth": 2, "channels": 3}, 24, 3),
    "resunet": ({"base_filters": 4, "depth": 2, "channels": 3}, 24, 3),
    "idresnet": ({"blocks": 2, "filters": 8, "channels": 3, "unit_range": True}, 24, 3),
    "gated_convdeconv": ({"channels": 3}, 32, 3),  # sides must divide by 16
}


def random_images(side, channels, seed=0):
    # Also outside [0, 1]: the identity must not come from a clip.
    return np.random.default_rng(seed).uniform(-0.5, 1.5, (1, side, side, channels)).astype(np.float32)


def assert_identity(model, side, channels, seed=0):
    x = random_images(side, channels, seed)
    for training in (False, True):  # BN (DnCNN) in both modes
        y = keras.ops.convert_to_numpy(model(x, training=training))
        np.testing.assert_allclose(y, x, atol=1e-6, rtol=0)


def cosine(optimizer):
    return optimizer.get_config()["learning_rate"]["class_name"] == "CosineDecay"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_residual_he_is_identity_at_init(name):
    kwargs, side, channels = FAMILIES[name]
    keras.utils.set_random_seed(0)
    model = models.build(name, residual=True, init="he", **kwargs)
    assert_identity(model, side, channels)


def _signature(model):
    out = []
    for layer in model.layers:
        config = layer.get_config()
        config.pop("name", None)
        out.append((layer.name, type(layer).__name__, repr(sorted(config.items()))))
        if isinstance(layer, keras.Model):
            out.extend(_signature(layer))
    return out


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_default_build_is_the_paper_build(name):
    kwargs, _, _ = FAMILIES[name]
    keras.utils.set_random_seed(0)
    default = models.build(name, **kwargs)
    keras.utils.set_random_seed(0)
    paper = models.build(name, init="paper", **kwargs)
    assert len(default.layers) == len(paper.layers)
    assert [layer.name for layer in default.layers] == [layer.name for layer in paper.layers]
    assert _signature(default) == _signature(paper)  # same layers, same initialisers
    for a, b in zip(default.get_weights(), paper.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert "residual_add" not in [layer.name for layer in default.layers]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_bad_recipe_arguments_are_refused(name):
    kwargs, _, _ = FAMILIES[name]
    with pytest.raises(ValueError, match=r"init must be one of \('paper', 'he'\).*'kaiming'"):
        models.build(name, init="kaiming", **kwargs)
    with pytest.raises(ValueError, match="residual must be True or False"):
        models.build(name, residual="yes", **kwargs)


def test_family_specific_refusals():
    with pytest.raises(ValueError, match="residual=False is not supported"):
        models.build("dncnn", residual=False)
    with pytest.raises(ValueError, match="squash"):
        models.build("idresnet", residual=True, output_activation="tanh")
    with pytest.raises(ValueError, match="squash"):
        models.build("gated_convdeconv", residual=True, output_activation="sigmoid")
    with pytest.raises(ValueError, match="kernel_initializer"):
        models.build("idresnet", init="he", kernel_initializer="glorot_uniform")
    with pytest.raises(ValueError, match="kernel_initializer"):
        models.build("gated_convdeconv", init="he", kernel_initializer="glorot_uniform")


def test_idresnet_residual_form():
    """The generator predicts a correction to the input mapped to [-1, 1]; He-initialised blocks
    start as the identity (32 He-normal branches without normalisation would blow the trunk up);
    the saved model keeps the addition."""
    keras.utils.set_random_seed(0)
    generator = models.build("idresnet", blocks=2, filters=8, channels=3, residual=True,
                             init="he")
    x = random_images(24, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(generator(x)), 2 * x - 1, atol=1e-6)
    assert generator.get_layer("residual_add").input[0] is generator.get_layer("input_signed").output
    assert not generator.get_layer("block1_conv2").get_weights()[0].any()
    assert generator.get_layer("conv_in").get_weights()[0].any()
    assert type(generator.get_layer("conv_in").kernel_initializer).__name__ == "HeNormal"
    # "he" without residual: the blocks start as the identity, the output layer does not start at 0.
    plain = models.build("idresnet", blocks=2, filters=8, channels=3, init="he")
    assert "residual_add" not in [layer.name for layer in plain.layers]
    assert plain.get_layer("conv_out").get_weights()[0].any()


def test_gated_residual_output_activation():
    keras.utils.set_random_seed(0)
    linear = models.build("gated_convdeconv", residual=True, init="he")
    assert linear.layers[-1].name == "residual_add"
    clipped = models.build("gated_convdeconv", residual=True, init="he", output_activation="clip")
    assert clipped.layers[-1].name == "restored" and clipped.get_layer("residual_add")
    x = np.random.default_rng(0).random((1, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clipped(x)), x)  # [0, 1] passes


def test_residual_model_saves_with_the_addition(tmp_path):
    keras.utils.set_random_seed(0)
    kwargs, side, channels = FAMILIES["idresnet"]
    model = models.build("idresnet", residual=True, init="he", **kwargs)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert "residual_add" in [layer.name for layer in generator_of(loaded).layers]
    assert_identity(loaded, side, channels)


# --------------------------------------------------------------------------------------------
# Procedures: a recipe="fast" config builds (runner.build_network) an identity denoiser and its
# trainer optimises it with the recipe's cosine schedule.


def test_supervised_fast_dncnn():
    config = configs.TrainConfig(name="t", model="dncnn", recipe="fast",
                                 model_kwargs={"depth": 4, "filters": 8, "channels": 1})
    keras.utils.set_random_seed(0)
    trainable = make_trainable(config, build_network(config))
    assert_identity(trainable, 24, 1)
    assert cosine(trainable.optimizer)


def test_joint_loss_fast_resunet():
    config = configs.get_preset("resunet-cpu-denoise-resunet-lper-s25.5").replace(
        model_kwargs={"base_filters": 4, "channels": 3, "depth": 2},
        procedure_options={"normalize": None, "weights": None}, recipe="fast",
    )
    keras.utils.set_random_seed(0)
    network = build_network(config)
    trainable = make_trainable(config, network)
    assert trainable.denoiser is network
    assert_identity(trainable.denoiser, 24, 3)
    assert cosine(trainable.optimizer)


def test_joint_classifier_loss_fast_gated(tmp_path):
    keras.utils.set_random_seed(0)
    classifier = models.build("gated_classifier", num_classes=3, image_size=32)
    classifier.save(tmp_path / "clf.keras")
    config = configs.get_preset("gated-cpu-perceptual").replace(
        loss_kwargs={"classifier_path": str(tmp_path / "clf.keras")}, recipe="fast",
    )
    network = build_network(config)
    trainable = make_trainable(config, network)
    assert trainable.denoiser is network
    assert_identity(trainable.denoiser, 32, 3)
    assert cosine(trainable.optimizer)


def test_idgan_two_phase_fast():
    """Phase 1 builds the generator through the runner (the driver's ``train`` does), phase 2
    gets phase 1's generator: both trainers' [0, 1] denoisers start as the identity, both phases
    (and the discriminator's optimizer) use the cosine schedule; the discriminator is no
    denoiser and keeps its own initialisation."""
    config = configs.get_preset("idgan-cpu-s25").replace(
        model_kwargs={"blocks": 2, "filters": 8, "channels": 3},
        procedure_options={"content_weight": 0.0, "discriminator_kwargs": {"filters": 8,
                                                                        "dense_units": 16},
                        "phase_steps": [2, 2]},
        patch_size=32, steps=4, recipe="fast",
    )
    first, second = gan.phase_configs(config)
    assert first.recipe == second.recipe == "fast"
    keras.utils.set_random_seed(0)
    phase1 = make_trainable(first, build_network(first))
    assert isinstance(phase1, gan.IDResNetTrainer)
    assert_identity(phase1.denoiser, 32, 3)
    assert cosine(phase1.optimizer)
    phase2 = make_trainable(second, generator_of(phase1.denoiser))
    assert isinstance(phase2, gan.IDGAN) and phase2.generator is phase1.generator
    assert_identity(phase2.denoiser, 32, 3)
    assert cosine(phase2.g_optimizer) and cosine(phase2.d_optimizer)
