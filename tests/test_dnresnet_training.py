"""Cascade training and incremental evolution drivers (paper 3), on tiny random images."""
import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import interrupt_at

from kerasdenoise.data.pipeline import patch_dataset
from kerasdenoise.degrade import from_spec
from kerasdenoise.models import dnresnet
from kerasdenoise.training import configs
from kerasdenoise.training.cascade import StageLossMonitor
from kerasdenoise.training.evolution import distill_blocks
from kerasdenoise.training.runner import read_state
from kerasdenoise.training.trainers import get_driver


def tiny_stream(batch_size=4, seed=0):
    """A (stream factory, None) pair of 33x33 noisy / 17x17 clean patches of smooth images."""
    rng = np.random.default_rng(seed)
    images = [tf.nn.avg_pool2d(rng.random((1, 48, 52, 1)).astype(np.float32), 5, 1, "SAME")[0].numpy()
              for _ in range(3)]

    def noise(batch, element_seed):
        return batch + 0.1 * tf.random.stateless_normal(tf.shape(batch), element_seed)

    def stream(step):
        return patch_dataset(images, patch_size=33, target_size=17, degradation=noise,
                             batch_size=batch_size, seed=seed, start_step=step)

    return stream, None


def tiny_config(trainer, **procedure_options):
    return configs.TrainConfig(
        name=f"tiny-{trainer}", model="dnresnet", model_kwargs={"channels": 1, "base_padding": "valid"},
        procedure=trainer, procedure_options=procedure_options, loss="mse", train_data="unused",
        val_data=None, color="y", patch_size=33, target_size=17, batch_size=4, steps=2,
        steps_per_epoch=1, learning_rate=1e-4,
    )


def test_stage_loss_monitor_recovers_batch_losses_and_stops():
    monitor = StageLossMonitor(window=2, target=1.5)
    model = SimpleNamespace(stop_training=False)
    monitor.set_model(model)
    batch_losses = [4.0, 3.0, 2.0, 1.0, 1.0]
    running = np.cumsum(batch_losses) / np.arange(1, 6)
    monitor.on_epoch_begin(0)
    for batch, mean in enumerate(running[:3]):
        monitor.on_train_batch_end(batch, {"loss": float(mean)})
    assert monitor.smoothed() == pytest.approx(2.5) and not model.stop_training
    monitor.on_train_batch_end(3, {"loss": float(running[3])})
    assert monitor.smoothed() == pytest.approx(1.5) and model.stop_training
    assert monitor.reached_target


def test_cascade_two_stages_resume_and_export(tmp_path):
    tf.config.experimental.enable_op_determinism()
    cascade = get_driver("cascade")
    config = tiny_config("cascade", final_blocks=1, stage_steps=2, window=1)
    out = tmp_path / "cascade"
    with pytest.raises(KeyboardInterrupt):
        cascade(config, out, datasets=tiny_stream(), callbacks=[interrupt_at(3)], progress=False)
    assert (out / "stage0" / "final.keras").exists()
    assert read_state(out / "stage0")["step"] == 2
    assert read_state(out / "stage1")["step"] == 1 and not (out / "stage1" / "final.keras").exists()
    stage0_mtime = (out / "stage0" / "final.keras").stat().st_mtime_ns
    stage0_history = (out / "stage0" / "history.csv").read_text()

    with pytest.raises(FileExistsError, match="resume"):
        cascade(config, out, datasets=tiny_stream(), progress=False)
    with pytest.raises(ValueError, match="final_blocks"):
        cascade(config.replace(procedure_options={**config.procedure_options, "final_blocks": 2}), out,
                resume=True, datasets=tiny_stream(), progress=False)
    result = cascade(config, out, resume=True, datasets=tiny_stream(), progress=False)

    # Stage 0 was not redone; stage 1 went on from its checkpoint to its budget.
    assert (out / "stage0" / "final.keras").stat().st_mtime_ns == stage0_mtime
    assert (out / "stage0" / "history.csv").read_text() == stage0_history
    assert read_state(out / "stage1")["step"] == 2
    assert result.steps == 4
    stage1 = json.loads((out / "stage1" / "stage.json").read_text())
    assert stage1["blocks"] == 1 and stage1["layers"] == 5 and np.isfinite(stage1["loss"])
    # One whole-image ('same') model per depth, the deepest as final.keras.
    for name, blocks in (("dnresnet3", 0), ("dnresnet5", 1), ("final", 1)):
        model = keras.models.load_model(out / f"{name}.keras", compile=False)
        assert dnresnet.describe(model) == {"blocks": blocks, "ds_blocks": 0, "channels": 1,
                                            "base_padding": "same", "residual": False}
        assert model(np.zeros((1, 21, 25, 1), np.float32)).shape == (1, 21, 25, 1)
    # Stage 1 inherited stage 0's layers: its trained conv1 moved away from stage 0's only by
    # two small Adam steps.
    s0 = keras.models.load_model(out / "stage0" / "final.keras", compile=False)
    s1 = keras.models.load_model(out / "stage1" / "final.keras", compile=False)
    k0, k1 = s0.get_layer("conv1").kernel.numpy(), s1.get_layer("conv1").kernel.numpy()
    assert np.abs(k1 - k0).max() <= 2.5e-4 and np.corrcoef(k0.ravel(), k1.ravel())[0, 1] > 0.9


def test_evolution_incremental_and_one_shot(tmp_path):
    keras.utils.set_random_seed(0)
    source = dnresnet.to_same_padding(models_build_trained())
    source.save(tmp_path / "dn.keras")
    evolve = get_driver("evolution")

    config = tiny_config("evolution", init=str(tmp_path / "dn.keras"), finetune_steps=1)
    result = evolve(config, tmp_path / "evo", datasets=tiny_stream(), progress=False)
    assert result.steps == 2
    for k in (1, 2):
        assert (tmp_path / "evo" / f"stage{k}" / "final.keras").exists()
        assert dnresnet.describe(keras.models.load_model(tmp_path / "evo" / f"ds{k}.keras",
                                                         compile=False))["ds_blocks"] == k
    final = keras.models.load_model(tmp_path / "evo" / "final.keras", compile=False)
    assert dnresnet.describe(final) == {"blocks": 2, "ds_blocks": 2, "channels": 1, "base_padding": "same",
                                     "residual": False}
    # Stage 1 replaced block 2 (the tail) only; block 1 is still the standard one, its weights
    # fine-tuned by a single Adam step (lr 1e-4) from the source's.
    stage1 = keras.models.load_model(tmp_path / "evo" / "stage1" / "final.keras", compile=False)
    assert dnresnet.describe(stage1)["ds_blocks"] == 1
    for name in ("conv1", "res1_conv1", "output"):
        diff = np.abs(stage1.get_layer(name).kernel.numpy() - source.get_layer(name).kernel.numpy())
        assert diff.max() <= 1.5e-4

    one_shot = tiny_config("evolution", init=str(tmp_path / "dn.keras"), finetune_steps=1, one_shot=True)
    result = evolve(one_shot, tmp_path / "os", datasets=tiny_stream(), progress=False)
    assert result.steps == 2 and read_state(tmp_path / "os" / "stage2")["step"] == 2
    assert not (tmp_path / "os" / "stage1").exists()

    with pytest.raises(FileNotFoundError, match="nowhere"):
        evolve(tiny_config("evolution", init=str(tmp_path / "nowhere")), tmp_path / "bad",
               datasets=tiny_stream(), progress=False)


def test_evolution_distils_each_new_block_before_fine_tuning(tmp_path):
    keras.utils.set_random_seed(0)
    teacher = models_build_trained()
    student = dnresnet.rebuild(teacher, ds_blocks=2, init="he")
    stream = tiny_stream()[0](0)
    report = distill_blocks(teacher, student, [1, 2], tiny_config("evolution"), stream, steps=40,
                            progress=False)
    assert report["distilled_blocks"] == [1, 2] and report["distill_steps"] == 40
    assert report["block_mse_after"] < 0.8 * report["block_mse_before"]
    for name in ("conv1", "conv2", "output"):  # only the new blocks were trained
        np.testing.assert_array_equal(student.get_layer(name).kernel.numpy(),
                                      teacher.get_layer(name).kernel.numpy())

    teacher.save(tmp_path / "dn.keras")
    config = tiny_config("evolution", init=str(tmp_path / "dn.keras"), finetune_steps=1,
                         block_init="distill", distill_steps=3)
    result = get_driver("evolution")(config, tmp_path / "evo", datasets=tiny_stream(), progress=False)
    for k, block in ((1, 2), (2, 1)):  # stage k replaced block 3 - k, distilled from stage k - 1's
        prepared = json.loads((tmp_path / "evo" / f"stage{k}" / "stage.json").read_text())["prepared"]
        assert prepared["distilled_blocks"] == [block] and prepared["distill_steps"] == 3
    stages = json.loads((tmp_path / "evo" / "stages.json").read_text())
    assert result.seconds == pytest.approx(sum(s["seconds"] for s in stages), abs=0.05)
    assert all(s["seconds"] > s["prepared"]["seconds"] for s in stages)
    with pytest.raises(ValueError, match="block_init.*identity"):
        get_driver("evolution")(tiny_config("evolution", init=str(tmp_path / "dn.keras"),
                                            block_init="distil"), tmp_path / "bad",
                                datasets=tiny_stream(), progress=False)


def models_build_trained():
    """A 2-block DN-ResNet with visible (random) weights, standing in for a trained one."""
    net = dnresnet.build_dnresnet(blocks=2)
    rng = np.random.default_rng(0)
    for layer in net.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in layer.get_weights()])
    return net


def test_presets_cover_the_experiments():
    names = set(configs.preset_names())
    expected = {
        "dnresnet-cascade-s25", "dnresnet13-oneshot-s25", "dnresnet-cascade-blind",
        "dnresnet-cascade-blind-edge-a", "dnresnet-cascade-blind-edge-b",
        "dsdnresnet-evolve-blind", "dsdnresnet-oneshot-blind", "dnresnet-cascade-jpeg",
    }
    for name in expected:
        assert name in names and f"{name}-cpu" in names
    for name in expected:
        for variant in (name, f"{name}-cpu"):
            cfg = configs.get_preset(variant)
            assert cfg.procedure in ("cascade", "evolution")
            # the clean target is what the 'valid' network makes of the noisy patch
            net = dnresnet.build_dnresnet(blocks=0, channels=cfg.model_kwargs["channels"],
                                          base_padding=cfg.model_kwargs["base_padding"])
            out = net(np.zeros((1, cfg.patch_size, cfg.patch_size, 1), np.float32))
            assert out.shape[1:3] == (cfg.target_size, cfg.target_size), variant
            from_spec(cfg.noise)  # every noise spec parses
    # The blind mix: the paper's 16 levels, one '|' member each (picked uniformly).
    blind = configs.get_preset("dnresnet-cascade-blind").noise.split("|")
    assert len(blind) == 16 and "poisson-gaussian:sigma=0.1,peak=1" in blind
    assert "poisson-gaussian:sigma=12,peak=120" in blind and "gaussian:sigma=75" in blind
