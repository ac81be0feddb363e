"""The training runner and kerasdenoise-train (tools/train.py): presets, one fit step, checkpoints
(exact resume: tests/test_resume.py)."""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from kerasdenoise.training import configs
from kerasdenoise.training.runner import NonFiniteLoss, read_state, train

TRAIN = [sys.executable, str(ROOT / "tools" / "train.py")]


def tiny_config(data_dir, **changes):
    base = configs.get_preset("demo").replace(
        model_kwargs={"depth": 3, "filters": 8, "channels": 1},
        train_data=str(data_dir), val_data=str(data_dir), patch_size=16, batch_size=4,
        steps=4, steps_per_epoch=2, val_batches=1, lr_decay_steps=(),
    )
    return base.replace(**changes)


def run_cli(*args):
    return subprocess.run(TRAIN + list(args), capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_presets_and_overrides():
    assert {"demo", "dncnn-gray-s25"} <= set(configs.preset_names())
    cfg = configs.apply_overrides(configs.get_preset("demo"),
                                  ["batch_size=8", "model_kwargs.depth=5", "noise=gaussian:sigma=15"])
    assert (cfg.batch_size, cfg.model_kwargs["depth"], cfg.noise) == (8, 5, "gaussian:sigma=15")
    assert cfg.model_kwargs["filters"] == 32  # other keys of a dict field are kept
    with pytest.raises(ValueError, match="unknown config field"):
        configs.apply_overrides(cfg, ["batchsize=8"])
    with pytest.raises(ValueError, match="valid presets"):
        configs.get_preset("no-such-preset")


def test_cli_help_list_and_errors():
    assert run_cli("--help").returncode == 0
    listed = run_cli("--list-configs")
    assert listed.returncode == 0 and "dncnn-gray-s25" in listed.stdout
    bad = run_cli("--config", "nope")
    assert bad.returncode == 2 and "valid presets" in bad.stderr
    bad_set = run_cli("--config", "demo", "--set", "colour=rgb")
    assert bad_set.returncode == 2 and "colour" in bad_set.stderr


def test_list_configs_lists_every_preset_without_tensorflow():
    """Presets are plain data: listing them imports neither TensorFlow nor Keras."""
    probe = ("import sys\n"
             "from kerasdenoise.cli.train import main\n"
             "code = main(['--list-configs'])\n"
             "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
             "print('EXIT', code, 'IMPORTED', heavy)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and lines[-1] == "EXIT 0 IMPORTED []", done.stdout[-500:] + done.stderr
    listed = [line.split()[0] for line in lines[:-1]]
    assert listed == configs.preset_names()  # every preset, once, sorted
    described = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in lines[:-1]}
    assert described["demo"] == configs.get_preset("demo").description


def test_cli_demo_one_step(tmp_path, tiny_images):
    out = tmp_path / "run"
    done = run_cli("--config", "demo", "--data-dir", str(tiny_images), "--val-dir", "none",
                   "--out", str(out), "--steps", "1", "--set", "batch_size=2", "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "final.keras").exists() and (out / "checkpoints" / "last.weights.h5").exists()
    assert json.loads((out / "config.json").read_text())["steps"] == 1
    assert read_state(out)["step"] == 1
    model = keras.models.load_model(out / "final.keras")
    assert model.predict(np.zeros((1, 24, 24, 1), np.float32), verbose=0).shape == (1, 24, 24, 1)
    missing = run_cli("--config", "demo", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r2"))
    assert missing.returncode == 2 and "nowhere" in missing.stderr


def test_non_finite_loss_stops_without_checkpoint(tmp_path, tiny_images):
    cfg = tiny_config(tiny_images, steps=2, val_data=None)
    images = tf.fill([4, 16, 16, 1], float("nan"))
    stream = lambda step: tf.data.Dataset.from_tensors((images, images)).repeat()  # noqa: E731
    with pytest.raises(NonFiniteLoss, match="without writing a checkpoint"):
        train(cfg, tmp_path / "nan", datasets=(stream, None), progress=False)
    assert read_state(tmp_path / "nan") is None
    assert not (tmp_path / "nan" / "final.keras").exists()


def test_init_weights_start_the_network_from_a_model_file(tmp_path, tiny_images):
    from kerasdenoise.training.runner import build_network

    cfg = tiny_config(tiny_images)
    source = build_network(cfg)
    for variable in source.weights:
        variable.assign(np.full(variable.shape, 0.25, np.float32))
    source.save(tmp_path / "start.keras")
    started = build_network(cfg.replace(init_weights=str(tmp_path / "start.keras")))
    assert all(np.all(w == 0.25) for w in started.get_weights())
    assert not all(np.all(w == 0.25) for w in build_network(cfg).get_weights())

    with pytest.raises(FileNotFoundError, match="init_weights: no such model file"):
        build_network(cfg.replace(init_weights=str(tmp_path / "missing.keras")))
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="unrelated")])
    other.save(tmp_path / "other.keras")
    with pytest.raises(ValueError, match="shares no layer name"):
        build_network(cfg.replace(init_weights=str(tmp_path / "other.keras")))
    (tmp_path / "corrupt.keras").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="corrupt.keras is not a readable Keras model"):
        build_network(cfg.replace(init_weights=str(tmp_path / "corrupt.keras")))

    out = tmp_path / "run"
    bad = run_cli("--config", "demo", "--data-dir", str(tiny_images), "--out", str(out),
                  "--set", f"init_weights={tmp_path / 'missing.keras'}")
    assert bad.returncode == 2 and "missing.keras" in bad.stderr
    assert not out.exists()  # refused before any run folder exists


def test_onednn_kernels_on_by_default_unless_the_user_says_otherwise():
    probe = "import os, kerasdenoise; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    default = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert default.stdout.strip() == "1"
    chosen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={**env, "TF_ENABLE_ONEDNN_OPTS": "0"})
    assert chosen.stdout.strip() == "0"


# --------------------------------------------------------------------------------------------
# Training procedures: options, the one resume check, the data options


def test_every_procedure_refuses_an_unknown_option_listing_the_valid_ones(tmp_path):
    import dataclasses

    from kerasdenoise.training import trainers

    names = trainers.procedure_names()
    assert {"supervised", "joint_loss", "joint_classifier_loss", "idgan_two_phase", "cascade",
            "evolution"} <= set(names)
    config = configs.get_preset("demo")
    for name in names:
        options_class = trainers.options_class(name)
        defaults = trainers.procedure_options(config.replace(procedure=name, procedure_options={}))
        assert isinstance(defaults, options_class)
        with pytest.raises(dataclasses.FrozenInstanceError):  # fixed once checked
            setattr(defaults, "x", 1)
        valid = options_class.names()
        misspelt = (valid[0][:-1] + "x") if valid else "weight"
        with pytest.raises(ValueError) as caught:
            trainers.procedure_options(config.replace(procedure=name,
                                                      procedure_options={misspelt: 1}))
        message = str(caught.value)
        assert repr(name) in message and repr(misspelt) in message
        assert all(option in message for option in valid)
    with pytest.raises(ValueError, match="valid names: .*cascade.*supervised"):
        trainers.procedure_options(config.replace(procedure="supervized"))
    # train() checks before anything is written
    out = tmp_path / "never"
    with pytest.raises(ValueError, match="did you mean 'lambda_mse'"):
        train(config.replace(procedure="joint_loss", procedure_options={"lamda_mse": 1.0}), out,
              progress=False)
    assert not out.exists()


def test_every_preset_has_valid_procedure_options():
    from kerasdenoise.training.trainers import procedure_options

    for name in configs.preset_names():
        preset = configs.get_preset(name)
        options = procedure_options(preset)
        for key, value in preset.procedure_options.items():
            assert getattr(options, key) == value, (name, key)


def _fake_run(out, config, stages=("",)):
    """A run folder as the procedures leave it: config.json and a checkpoint per stage."""
    for stage in stages:
        checkpoints = out / stage / "checkpoints"
        checkpoints.mkdir(parents=True)
        (checkpoints / "state.json").write_text(json.dumps({"step": 1, "seconds": 0.0}))
    (out / "config.json").write_text(config.to_json())


def test_one_resume_check_for_every_procedure(tmp_path):
    from kerasdenoise.training.runner import check_resume

    cascade = configs.get_preset("dnresnet-cascade-s25-cpu")
    out = tmp_path / "cascade"
    check_resume(cascade, out, resume=False)  # nothing there yet
    _fake_run(out, cascade, stages=("stage0", "stage1"))
    with pytest.raises(FileExistsError, match="stage0 at step 1.*--resume"):
        check_resume(cascade, out, resume=False)
    # budgets may change: the config's and the procedure's step budgets
    check_resume(cascade.replace(steps=7, procedure_options={**cascade.procedure_options,
                                                          "stage_steps": 9}), out, resume=True)
    with pytest.raises(ValueError, match=r"\['noise', 'procedure_options.improvement'\]"):
        check_resume(cascade.replace(noise="gaussian:sigma=50", procedure_options={
            **cascade.procedure_options, "improvement": 0.1}), out, resume=True)

    plain = tiny_config(".")
    _fake_run(tmp_path / "plain", plain)
    check_resume(plain.replace(steps=9), tmp_path / "plain", resume=True)
    with pytest.raises(ValueError, match=r"\['procedure', 'procedure_options.weights'\]"):
        check_resume(plain.replace(procedure="joint_loss", procedure_options={"weights": None}),
                     tmp_path / "plain", resume=True)

    # the two-phase run: its total steps fix the phases, so they cannot change
    gan = configs.get_preset("idgan-cpu-s25")
    _fake_run(tmp_path / "gan", gan, stages=("phase1_idresnet",))
    check_resume(gan.replace(val_batches=1), tmp_path / "gan", resume=True)
    with pytest.raises(ValueError, match="steps cannot change: in a two-phase run"):
        check_resume(gan.replace(steps=3000), tmp_path / "gan", resume=True)


def test_patches_per_image_and_augment_reach_the_stream(tiny_images):
    from kerasdenoise.training.runner import make_datasets

    config = tiny_config(tiny_images, val_data=None, batch_size=6)

    def first_batches(cfg, n=2):
        stream, _ = make_datasets(cfg)
        return [batch[1].numpy() for batch in stream(0).take(n)]

    base = first_batches(config)
    for changed in (config.replace(patches_per_image=4), config.replace(augment=True)):
        other = first_batches(changed)
        assert any(not np.array_equal(a, b) for a, b in zip(base, other))
    again = first_batches(config)
    assert all(np.array_equal(a, b) for a, b in zip(base, again))


def test_inverse_noise_rms_weights_favour_the_weaker_noise_and_reach_the_loss(tmp_path, tiny_images):
    from kerasdenoise.losses import patch_weights
    from kerasdenoise.training.runner import make_datasets

    clean = tf.fill([3, 8, 8, 1], 0.5)
    noise = tf.random.stateless_normal([3, 8, 8, 1], seed=[1, 2]) * tf.constant([5.0, 25.0, 50.0])[:, None, None, None] / 255
    weights = patch_weights("inverse_noise_rms", clean + noise, clean).numpy().ravel()
    assert weights[0] > weights[1] > weights[2] and weights.mean() == pytest.approx(1.0, rel=1e-5)
    # a valid-padding network's larger input is compared on its center crop
    padded = tf.pad(clean + noise, [[0, 0], [2, 2], [2, 2], [0, 0]], constant_values=9.0)
    assert np.allclose(patch_weights("inverse_noise_rms", padded, clean).numpy().ravel(), weights, rtol=1e-5)
    assert patch_weights("uniform", clean + noise, clean) is None

    config = tiny_config(tiny_images, val_data=None, noise="gaussian:sigma=0..50", loss_weighting="inverse_noise_rms")
    stream, _ = make_datasets(config)
    degraded, target, batch_weights = next(iter(stream(0)))
    assert batch_weights.shape == (config.batch_size, 1, 1) and np.isfinite(batch_weights.numpy()).all()
    weighted = train(config.replace(steps=2), tmp_path / "weighted", progress=False)
    uniform = train(config.replace(steps=2, loss_weighting="uniform"), tmp_path / "uniform", progress=False)
    assert weighted.steps == 2 and (tmp_path / "weighted" / "final.keras").exists()
    # same seed, same patches: only the weights of the loss differ, and so do the trained weights
    assert any(not np.allclose(a, b) for a, b in zip(weighted.denoiser.get_weights(), uniform.denoiser.get_weights()))


def test_loss_weighting_is_checked(tmp_path, tiny_images):
    with pytest.raises(ValueError, match="unknown loss_weighting 'inverse_noise'.*uniform, inverse_noise_rms"):
        configs.apply_overrides(configs.get_preset("demo"), ["loss_weighting=inverse_noise"])
    gan = configs.get_preset("idgan-fast-s25").replace(loss_weighting="inverse_noise_rms")
    with pytest.raises(ValueError, match="needs procedure 'cascade' or 'supervised'.*'idgan_two_phase'"):
        train(gan, tmp_path / "gan", progress=False)
    assert not (tmp_path / "gan").exists()
    with pytest.raises(ValueError, match="needs a per-pixel loss .mse, l1.; loss 'edge-b'"):
        train(tiny_config(tiny_images, loss="edge-b", loss_weighting="inverse_noise_rms"), tmp_path / "edge",
              progress=False)
