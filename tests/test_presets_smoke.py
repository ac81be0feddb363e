"""Every preset, shrunk to tiny shapes, trains one step through the real entry point.

Each preset keeps its procedure, network family, loss, noise, colour, recipe and options; what
shrinks is the size: 16x16 patches (the crop the target loses to 'valid' convolutions kept),
batch 2, one step, narrow networks where the builder has a width knob, the minimal stage counts
of the staged procedures (cascade: one stage; evolution: one block; two-phase GAN: one step per
phase), a tiny image folder (conftest.write_images) and no validation.  Files the presets point
at (the classifier of the gated perceptual loss, a shipped model, the run that evolution starts
from, init_weights) are replaced by tiny stand-in files made here; the VGG feature losses get
random weights (``weights=None``: the VGG architecture cannot shrink, and no download is
needed).

Presets whose shrunk configs are equal (e.g. a paper-scale preset and its ``-cpu`` sibling,
which differ in budgets only) share one run.  The training steps run eagerly (the same
``train_step`` code without tracing it into a graph, which costs more than the step at these
sizes); each family's graph-mode training is covered by its own tests (test_train, test_idgan,
test_perceptual, test_gated, test_dnresnet_training, test_recipe).
"""
import csv
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import write_images
from kerasdenoise import models
from kerasdenoise.training import configs
from kerasdenoise.training.runner import train

PATCH = 16  # divides by 16: the gated network, the SRGAN discriminator, UNet depth 2

# Per network family: the builder arguments that make it tiny (only keys the preset sets are
# replaced, and the key must be a builder argument).  A new family needs an entry here.
SHRINK = {
    "dncnn": {"depth": 3, "filters": 4},
    "unet": {"base_filters": 2, "depth": 2},
    "resunet": {"base_filters": 2, "depth": 2},
    "idresnet": {"blocks": 1, "filters": 4},
    "dnresnet": {"blocks": 1, "ds_blocks": 1},
    "ds_dnresnet": {"blocks": 1},
    "gated_convdeconv": {},
    "opponent_color": {"filters": 4, "blocks": 1},
}
TINY_DISCRIMINATOR = {"filters": 4, "dense_units": 8}

_RUNS = {}  # canonical tiny config -> the preset whose run passed: equal configs share a run

pytestmark = pytest.mark.filterwarnings(
    "ignore:Even though the `tf.config.experimental_run_functions_eagerly`:UserWarning")


@pytest.fixture(scope="module", autouse=True)
def eager_steps():
    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(before)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    """Tiny files standing in for what presets load: images, a classifier, DN-ResNets."""
    models.load_all()  # the families' custom layers, to load saved models
    root = tmp_path_factory.mktemp("smoke")
    images = write_images(root / "images", n=2)
    keras.utils.set_random_seed(0)
    classifier = models.build("gated_classifier", num_classes=2, channels=3, image_size=PATCH)
    classifier.save(root / "classifier.keras")
    # A gray DS-DN-ResNet in the shipped ('same', residual) form: the opponent model's luma.
    models.build("dnresnet", blocks=1, ds_blocks=1, base_padding="same", residual=True,
                 init="he").save(root / "luma.keras")
    # A one-block DN-ResNet for evolution to start from (the presets' finished cascade run).
    models.build("dnresnet", blocks=1, base_padding="valid").save(root / "dnresnet.keras")
    return {"root": root, "images": images, "classifier": root / "classifier.keras",
            "luma": root / "luma.keras", "dnresnet": root / "dnresnet.keras"}


def _shrink_model_kwargs(model: str, kwargs: dict, files: dict) -> dict:
    assert model in SHRINK, f"no tiny shape for network family {model!r}: add it to SHRINK"
    tiny = dict(kwargs)
    for key, value in SHRINK[model].items():
        if key in tiny:
            tiny[key] = min(tiny[key], value) if isinstance(tiny[key], int) else value
    if "identity_blocks" in tiny:  # blocks inserted at the identity: those that still exist
        tiny["identity_blocks"] = [b for b in tiny["identity_blocks"] if b <= tiny["blocks"]]
    if model == "opponent_color":
        tiny["luma"] = str(files["luma"])
    return tiny


def _shrink_options(config, files: dict) -> dict:
    options = dict(config.procedure_options)
    if config.procedure == "cascade":
        one_shot = options.get("start_blocks", 0) == options.get("final_blocks", 5)
        blocks = 1 if one_shot else 0
        options.update(start_blocks=blocks, final_blocks=blocks)
        options.update({k: 1 for k in ("stage_steps", "base_steps", "final_steps") if k in options})
        options["window"] = 1
    elif config.procedure == "evolution":
        options.update(init=str(files["dnresnet"]), blocks=1, finetune_steps=1)
    elif config.procedure in ("idgan_two_phase", "idgan", "idresnet_mse"):
        options["discriminator_kwargs"] = {**options.get("discriminator_kwargs", {}),
                                           **TINY_DISCRIMINATOR}
        options["content_weights"] = None
    elif config.procedure == "joint_loss":
        options["weights"] = None
    elif config.procedure == "distill":
        options["teacher"] = str(files["luma"])
    return options


def shrink(config, files: dict):
    """``config`` at tiny shapes (see the module doc); every other field as the preset has it."""
    margin = 0 if config.target_size is None else config.patch_size - config.target_size
    loss_kwargs = dict(config.loss_kwargs)
    if "classifier_path" in loss_kwargs:
        loss_kwargs["classifier_path"] = str(files["classifier"])
    tiny = config.replace(
        model_kwargs=_shrink_model_kwargs(config.model, config.model_kwargs, files),
        procedure_options=_shrink_options(config, files),
        loss_kwargs=loss_kwargs,
        train_data=str(files["images"]), val_data=None,
        patch_size=PATCH + margin, target_size=None if config.target_size is None else PATCH,
        batch_size=2, steps=2 if config.procedure == "idgan_two_phase" else 1, steps_per_epoch=1,
        snapshot_every=0,
    )
    if config.init_weights:  # a tiny model of the same network stands in for the file
        from kerasdenoise.training.runner import build_network

        path = files["root"] / f"init-{config.name}.keras"
        build_network(tiny.replace(init_weights=None)).save(path)
        tiny = tiny.replace(init_weights=str(path))
    return tiny


def _canonical(config) -> str:
    data = config.to_dict()
    data.pop("name"), data.pop("description")
    if config.init_weights:
        data.pop("init_weights")  # a stand-in file per preset, all alike
    return json.dumps(data, sort_keys=True)


def _histories(out_dir):
    for path in sorted(out_dir.glob("**/history.csv")):
        rows = list(csv.DictReader(path.read_text().splitlines()))
        assert rows, f"{path} has no rows"
        yield path, rows[-1]


def train_and_check(config, out):
    """Train ``config`` into ``out`` and check what it left: a config, finite losses, a
    final.keras that loads and restores an image."""
    keras.utils.clear_session()
    result = train(config, out, progress=False)
    assert result.steps >= 1
    saved = json.loads((out / "config.json").read_text())
    assert (saved["procedure"], saved["model"], saved["noise"], saved["recipe"]) == (
        config.procedure, config.model, config.noise, config.recipe)
    # Every (stage's / phase's) last history row: a loss and only finite numbers.
    rows = list(_histories(out))
    assert rows, f"{out}: no history.csv"
    for path, row in rows:
        assert {"loss", "mse", "g_loss"} & set(row), (path, row)
        for column, value in row.items():
            if column != "epoch" and value != "NA":  # NA: no validation in these runs
                assert math.isfinite(float(value)), (path, column, value)
    # The saved denoiser loads and restores an image: same channels, finite; the same size, or
    # smaller by the crop of 'valid' convolutions.
    denoiser = keras.models.load_model(out / "final.keras", compile=False)
    channels = int(denoiser.inputs[0].shape[-1])
    side = 32
    image = np.random.default_rng(0).random((1, side, side, channels)).astype(np.float32)
    restored = keras.ops.convert_to_numpy(denoiser(image))
    margin = config.patch_size - (config.target_size or config.patch_size)
    assert restored.shape[-1] == channels and np.all(np.isfinite(restored))
    assert restored.shape[1:3] in ((side, side), (side - margin, side - margin)), restored.shape
    return denoiser


@pytest.mark.parametrize("name", configs.preset_names())
def test_preset_trains_one_step_at_tiny_shapes(name, stand_ins, tmp_path):
    config = shrink(configs.get_preset(name), stand_ins)
    key = _canonical(config)
    if key not in _RUNS:  # else a preset with the same tiny config has passed these checks
        train_and_check(config, tmp_path / "run")
        _RUNS[key] = name


STAGED_PHASES = {"idresnet_mse", "idgan"}  # the phases of idgan_two_phase, run through it


def _procedures():
    from kerasdenoise.training.trainers import procedure_names

    return [name for name in procedure_names() if name not in STAGED_PHASES]


@pytest.mark.parametrize("procedure", _procedures())
def test_fast_recipe_composes_with_every_procedure(procedure, stand_ins, tmp_path):
    """recipe='fast' (residual networks at identity, He init, warm-up + cosine) through each
    procedure, on the first preset that uses it."""
    preset = next((configs.get_preset(name) for name in configs.preset_names()
                   if configs.get_preset(name).procedure == procedure), None)
    assert preset is not None, f"no preset uses the procedure {procedure!r}"
    config = shrink(preset, stand_ins).replace(recipe="fast")
    if config.model_kwargs.get("base_padding") == "valid":  # residual output needs 'same'
        config = config.replace(model_kwargs={**config.model_kwargs, "base_padding": "same"},
                                patch_size=PATCH, target_size=None)
    final = train_and_check(config, tmp_path / "run")
    if procedure == "cascade":  # the stages' networks were built by the recipe
        from kerasdenoise.models import dnresnet

        assert dnresnet.describe(final)["residual"]
