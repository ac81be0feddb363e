"""Runs for tests/test_distribute.py, in a fresh process (the CPU must be split into logical
devices before TensorFlow starts, and a multi-worker strategy is made once per process).

  python tests/_distribute_run.py compare ROOT PROCEDURE...    # none vs mirrored on 2 logical CPUs
  python tests/_distribute_run.py train ROOT PROCEDURE STRATEGY OUT [--resume] [--steps N]

``compare`` trains each procedure's tiny config twice in ROOT (without a strategy, then under
``mirrored`` on CPU:0 and CPU:1) and prints one JSON line: procedure -> the largest absolute
difference between the two ``final.keras`` weights.  ``train`` trains one config into OUT (the
multi-worker test runs it in each worker with its TF_CONFIG).
"""
import json
import sys
from pathlib import Path

# Run as a script, this file's folder (tests/) is first on the import path: test_presets_smoke
# (the tiny configs) imports as it does under pytest.

# Per procedure: the preset whose tiny form runs (test_presets_smoke.shrink) and the changes
# that make the check sharp (a clip that is active: every update is the clipped gradient; a stage
# transition; batch 4 for 2 replicas).
PROCEDURES = {
    "plain": ("dsdnresnet13-blind-fast", {"clipnorm": 0.01, "learning_rate": 1.0}),
    "joint": ("resunet-cpu-deblur-resunet-lper-s25.5", {}),
    "gan": ("idgan-cpu-s25", {"steps": 4}),
    "cascade": ("dnresnet-cascade-blind-cpu", {}),
    "evolution": ("dsdnresnet-evolve-blind-cpu", {}),
    "distill": ("dsdnresnet13-blind-fast-distill", {}),
}
STEPS = 3


def tiny_config(procedure: str, root: Path, steps: int = STEPS):
    import keras

    from conftest import write_images
    from kerasdenoise import models
    from kerasdenoise.training import configs
    from test_presets_smoke import shrink

    preset, changes = PROCEDURES[procedure]
    files = {"root": root, "images": root / "images", "dnresnet": root / "dnresnet.keras",
             "luma": root / "teacher.keras"}
    if not files["images"].exists():
        write_images(files["images"], n=2)
    if procedure == "evolution" and not files["dnresnet"].exists():
        keras.utils.set_random_seed(0)
        models.build("dnresnet", blocks=1, base_padding="valid").save(files["dnresnet"])
    if procedure == "distill" and not files["luma"].exists():  # the teacher
        keras.utils.set_random_seed(1)
        models.build("dnresnet", blocks=1, base_padding="same").save(files["luma"])
    config = shrink(configs.get_preset(preset), files)
    # SGD: an update proportional to the gradient, so a wrong loss scale or clip shows (Adam's
    # first steps are nearly sign(gradient), blind to scale and sensitive to round-off)
    config = config.replace(batch_size=4, steps=steps, steps_per_epoch=1, optimizer="sgd",
                            learning_rate=0.01, val_data=str(files["images"]), val_batches=1)
    if procedure == "cascade":  # two stages: the 3-layer net, then one block inserted
        config = config.replace(procedure_options={**config.procedure_options, "final_blocks": 1})
    changes = dict(changes)
    if "steps" in changes:
        changes["steps"] = max(changes["steps"], steps)
    return config.replace(**changes)


def weights(path):
    from kerasdenoise.runtime import load_keras_model

    return [w for w in load_keras_model(path).get_weights()]


def max_difference(a, b) -> float:
    import numpy as np

    first, second = weights(a), weights(b)
    assert len(first) == len(second)
    return max(float(np.max(np.abs(x - y))) for x, y in zip(first, second))


def main(argv):
    from kerasdenoise.training import distribute

    mode, root = argv[0], Path(argv[1])
    root.mkdir(parents=True, exist_ok=True)
    if mode == "compare":
        distribute.split_cpu(2)
        import keras

        from kerasdenoise.training.runner import train

        out = {}
        for procedure in argv[2:]:
            config = tiny_config(procedure, root)
            runs = {}
            for strategy, devices in (("none", ()), ("mirrored", ("CPU:0", "CPU:1"))):
                keras.utils.clear_session()
                folder = root / f"{procedure}-{strategy}"
                train(config.replace(strategy=strategy, devices=devices), folder, progress=False)
                runs[strategy] = folder / "final.keras"
            out[procedure] = max_difference(runs["none"], runs["mirrored"])
        print(json.dumps(out))
        return 0
    if mode == "train":
        procedure, strategy, folder = argv[2], argv[3], Path(argv[4])
        steps = int(argv[argv.index("--steps") + 1]) if "--steps" in argv else STEPS
        from kerasdenoise.training.runner import train

        config = tiny_config(procedure, root, steps).replace(strategy=strategy)
        train(config, folder, resume="--resume" in argv, progress=False)
        return 0
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
