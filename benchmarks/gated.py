#!/usr/bin/env python
"""Paper 4 (gated conv-deconv, Zhao 2016) at a CPU budget: a reduced-budget reproduction.

  export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=3
  python benchmarks/gated.py
  python benchmarks/gated.py --fast    # only the fast-recipe pair (gated-fast-dsc / -nodsc)
  python benchmarks/gated.py --baselines   # only the median filter and CBM3D on the same noise

Resumable: finished runs (``runs/<preset>/final.keras``), cached evaluations and finished
sections of ``benchmarks/results/gated.json`` are reused, an interrupted run is resumed.  Steps:

1. Fig. 6: ``gated-cpu-dsc`` and ``gated-cpu-nodsc`` (same data stream, seed and steps, only the
   gates differ) for ``DENOISER_STEPS`` steps of batch 10 on 64x64 CBSD432 crops, Gaussian
   sigma 25 + 5% salt and pepper; train and validation MSE against iteration.
2. Both evaluated on the whole CBSD68 images (the protocol of ``tools/evaluate.py``: the
   network needs sides divisible by 16, so each image is reflection-padded to that and
   cropped back) with the noisy-input baseline.
3. Fig. 7: noisy crop, a few Conv-1 feature maps, denoised, clean, for each model (drawn
   after step 4, so that the perceptual-loss denoiser has a row too).
4. The small classifier (Conv-1..5 + FC-1024 + softmax) on real labelled data: MNIST test
   digits (``CLASSIFIER_PER_CLASS`` per class, resized to 64x64 gray-as-RGB); then the
   perceptual-loss denoiser ``gated-cpu-perceptual`` (FC-1024 feature distance only) for
   ``PERCEPTUAL_STEPS`` steps: does it converge (its PSNR curve), where the paper's did not?
5. Fig. 10-11: the classifier trained from random init vs Conv-1..5 copied from the trained
   DSC denoiser, same data stream, steps and seed.
6. (``--fast``) the pair of step 1 with the fast recipe (``gated-fast-dsc`` / ``gated-fast-nodsc``:
   residual output from the identity, He init, Adam with warm-up and cosine decay, flips /
   rotations; same data, seed and steps), its curves beside the paper-recipe ones.
7. (``--baselines``) classical denoisers on CBSD68 with the same noise: a 3x3 median filter and
   CBM3D told the Gaussian part's sigma (~12 s an image here).

Budget measured on the shared 2-core machine (1 thread per run, the two denoiser runs side by
side, with other jobs sharing the cores): about 14 min per denoiser run, 2.6 min for the
classifier, 22 min for the perceptual run, ~15 min for the transfer pair; ``minutes`` in the
JSON are the measured ones.

Writes ``benchmarks/results/gated.json`` (every figure with its steps, minutes, data and
command), ``gated_curves.png``, ``gated_visual.png``, ``gated_transfer.png``, and caches the
CBSD68 evaluations in ``gated_evaluations.json``.
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from _bench import RESULTS, ROOT, evaluate_cached, reference, relative, run_budget, save_figure, train_preset

COMMAND = "python benchmarks/gated.py"
OUT_JSON = RESULTS / "gated.json"
EVAL_CACHE = RESULTS / "gated_evaluations.json"
RUNS = ROOT / "runs"

DENOISER_STEPS = 1500
STEPS_PER_EPOCH = 50  # one point of the Fig. 6 curves per 50 steps
# By recipe: (DSC, no connections), each preset with its label; results key of each recipe.
DENOISER_PRESETS = {
    "paper": {"gated-cpu-dsc": "with gated connections (DSC)", "gated-cpu-nodsc": "no connections"},
    "fast": {"gated-fast-dsc": "with gated connections (DSC), fast recipe",
             "gated-fast-nodsc": "no connections, fast recipe"},
}
DENOISER_KEYS = {"paper": "denoisers", "fast": "denoisers_fast"}
TEST_SET = "CBSD68"
VISUAL_CROP = 128  # side of the Fig. 7 crop (divisible by 16)
VISUAL_MAPS = 3  # Conv-1 feature maps shown per model

MNIST_DIR = RUNS / "gated-mnist"
CLASSIFIER_PER_CLASS = 100  # first 100 test digits of each class: 1000 images
CLASSIFIER_STEPS = 300
CLASSIFIER_VAL_SPLIT = 0.2
PERCEPTUAL_STEPS = 1000  # the gated-cpu-perceptual preset's own budget
TRANSFER_STEPS = 300
SEED = 0


def _preset_command(preset, overrides):
    sets = "".join(f" --set {item}" for item in overrides)
    return (f"python tools/train.py --config {preset} --out {relative(RUNS / preset)}{sets} "
            "--threads 1")


def history(run: Path):
    """The run's per-epoch rows of history.csv, with the step count of each row."""
    per_epoch = json.loads((run / "config.json").read_text())["steps_per_epoch"]
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    return [{"step": (int(r.pop("epoch")) + 1) * per_epoch,
             **{k: round(float(v), 6) for k, v in r.items()}} for r in rows]


def _noise():
    from kerasdenoise.training import configs

    return configs.get_preset("gated-cpu-dsc").noise


def train_denoisers(results, recipe="paper"):
    overrides = (f"steps={DENOISER_STEPS}", f"steps_per_epoch={STEPS_PER_EPOCH}")
    rows = []
    for preset, label in DENOISER_PRESETS[recipe].items():
        run = train_preset(preset, out=RUNS / preset, overrides=overrides, threads=1)
        config = json.loads((run / "config.json").read_text())
        evaluation = evaluate_cached(EVAL_CACHE, f"{preset}@{DENOISER_STEPS}",
                                     str(run / "final.keras"), TEST_SET, config["noise"], "rgb")
        rows.append({
            "preset": preset, "label": label, "run": relative(run),
            "gates": config["model_kwargs"].get("gates"), "noise": config["noise"],
            "data": f"train {config['train_data']} {config['patch_size']}x{config['patch_size']} "
                    f"random crops, batch {config['batch_size']}; validation "
                    f"{config['val_batches']} batches of {config['val_data']} crops",
            "recipe": config.get("recipe", "paper"),
            "batch_size": config["batch_size"], "optimizer": config["optimizer"],
            "learning_rate": config["learning_rate"], **run_budget(run),
            "command": _preset_command(preset, overrides),
            "cbsd68": {**evaluation, "note": "whole images, reflection-padded to a multiple "
                                             "of 16 and cropped back; noise seed 0"},
            "curve": history(run),
        })
    results[DENOISER_KEYS[recipe]] = rows
    results["noisy_input_psnr_cbsd68"] = rows[0]["cbsd68"]["psnr_input"]


def plot_curves(results):
    """Fig. 6 analogue, one panel per recipe measured (same MSE axis)."""
    import matplotlib.pyplot as plt

    recipes = [recipe for recipe, key in DENOISER_KEYS.items() if key in results]
    fig, axes = plt.subplots(1, len(recipes), figsize=(6 * len(recipes), 4), sharey=True, squeeze=False)
    for ax, recipe in zip(axes[0], recipes):
        rows = results[DENOISER_KEYS[recipe]]
        for row, color in zip(rows, ("tab:blue", "tab:red")):
            steps = [r["step"] for r in row["curve"]]
            ax.plot(steps, [r["loss"] for r in row["curve"]], "-", color=color,
                    label=f"{row['label']}, train")
            ax.plot(steps, [r["val_loss"] for r in row["curve"]], "--", color=color,
                    label=f"{row['label']}, validation")
        ax.set_xlabel(f"iteration (batch of 10); {rows[0]['optimizer']}, {recipe} recipe")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title(f"Fig. 6 analogue, {recipe} recipe: {DENOISER_STEPS} steps, 64x64 CBSD432 crops,\n"
                     f"{rows[0]['noise']} (reduced budget)", fontsize=9)
    axes[0][0].set_ylabel("MSE (images in [0, 1])")
    save_figure(fig, RESULTS / "gated_curves.png", dpi=120)


def plot_visual(results):
    """Fig. 7 analogue: one row per model (DSC, no connections, and the perceptual-loss
    denoiser when trained): noisy, Conv-1 maps, denoised, clean."""
    import matplotlib.pyplot as plt
    import numpy as np

    from kerasdenoise import models
    from kerasdenoise.data.discovery import image_set
    from kerasdenoise.data.pipeline import degrade_for_eval
    from kerasdenoise.metrics import psnr
    from kerasdenoise.runtime import load_keras_model

    clean_full = image_set(TEST_SET).load("rgb")[0]
    top = (clean_full.shape[0] - VISUAL_CROP) // 2
    left = (clean_full.shape[1] - VISUAL_CROP) // 2
    clean = clean_full[top:top + VISUAL_CROP, left:left + VISUAL_CROP]
    noisy = degrade_for_eval(clean, _noise(), seed=SEED, index=0)
    rows = list(results["denoisers"])
    if "perceptual" in results:
        rows.append({**results["perceptual"], "label": "perceptual loss (no gates)"})
    columns = 3 + VISUAL_MAPS
    fig, axes = plt.subplots(len(rows), columns, figsize=(2.2 * columns, 2.4 * len(rows)))
    for axes_row, row in zip(axes, rows):
        net = load_keras_model(ROOT / row["run"] / "final.keras")
        maps = models.layer_activations(net, "conv1", noisy[None])[0]
        strongest = np.argsort(maps.reshape(-1, maps.shape[-1]).var(axis=0))[::-1][:VISUAL_MAPS]
        denoised = np.clip(net.predict(noisy[None], verbose=0)[0], 0, 1)
        panels = [(np.clip(noisy, 0, 1), f"noisy {psnr(clean, noisy):.1f} dB")]
        panels += [(maps[..., c], f"Conv-1 map {c}") for c in strongest]
        panels += [(denoised, f"denoised {psnr(clean, denoised):.1f} dB"), (clean, "clean")]
        for ax, (image, title) in zip(axes_row, panels):
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        axes_row[0].text(-0.08, 0.5, row["label"], transform=axes_row[0].transAxes,
                         rotation=90, va="center", ha="right", fontsize=8)
    fig.suptitle(f"Fig. 7 analogue: {TEST_SET} image 0, central {VISUAL_CROP}x{VISUAL_CROP}; "
                 f"{DENOISER_STEPS} steps (perceptual: {PERCEPTUAL_STEPS})", fontsize=9)
    # Noisy photos compress badly: a low dpi keeps the file small.
    save_figure(fig, RESULTS / "gated_visual.png", dpi=64)


def _mnist_sets():
    from kerasdenoise.data.labelled import labelled_dataset, write_mnist_folder

    if not (MNIST_DIR / "9").is_dir():
        write_mnist_folder(MNIST_DIR, per_class=CLASSIFIER_PER_CLASS)
    return labelled_dataset(MNIST_DIR, image_size=64, batch_size=10, seed=SEED,
                            validation_split=CLASSIFIER_VAL_SPLIT)


MNIST_DATA = (f"MNIST test digits (shared data kernels/t10k-*), first {CLASSIFIER_PER_CLASS} of "
              f"each class, 28x28 gray resized to 64x64 RGB; {1 - CLASSIFIER_VAL_SPLIT:.0%} "
              f"train / {CLASSIFIER_VAL_SPLIT:.0%} validation, batch 10")


def train_classifier_and_perceptual(results):
    from kerasdenoise.training import configs
    from kerasdenoise.training.transfer import train_feature_classifier

    classifier_path = RUNS / "gated-classifier" / "classifier.keras"
    section = results.get("classifier")
    if not (section and section["steps"] == CLASSIFIER_STEPS and classifier_path.exists()):
        _mnist_sets()  # writes the folder
        start = time.time()
        _, curves = train_feature_classifier(MNIST_DIR, classifier_path, steps=CLASSIFIER_STEPS,
                                             image_size=64, batch_size=10, learning_rate=0.01,
                                             validation_split=CLASSIFIER_VAL_SPLIT, seed=SEED)
        results["classifier"] = {
            "what": "gated_classifier (Conv-1..5 + FC-1024 + dropout + softmax), random init, "
                    "SGD momentum 0.9, lr 0.01; the frozen feature extractor of the "
                    "perceptual loss", "data": MNIST_DATA, "path": relative(classifier_path),
            "steps": CLASSIFIER_STEPS, "minutes": round((time.time() - start) / 60, 1),
            "command": COMMAND, "final_val_accuracy": round(curves["val_accuracy"][-1], 4),
            "val_curve": [{"step": s, "loss": round(l, 4), "accuracy": round(a, 4)} for s, l, a
                          in zip(curves["val_step"], curves["val_loss"], curves["val_accuracy"])],
        }
        OUT_JSON.write_text(json.dumps(results, indent=2))

    preset = "gated-cpu-perceptual"
    overrides = (f"steps={PERCEPTUAL_STEPS}", f"steps_per_epoch={STEPS_PER_EPOCH}",
                 f"loss_kwargs.classifier_path={relative(classifier_path)}")
    run = train_preset(preset, out=RUNS / preset, overrides=overrides, threads=1)
    config = configs.get_preset(preset)
    evaluation = evaluate_cached(EVAL_CACHE, f"{preset}@{PERCEPTUAL_STEPS}",
                                 str(run / "final.keras"), TEST_SET, config.noise, "rgb")
    curve = history(run)
    results["perceptual"] = {
        "preset": preset, "run": relative(run),
        "what": "plain 10-layer conv-deconv (no gates) trained on the squared L2 distance of "
                "the frozen MNIST classifier's FC-1024 features only (no MSE term)",
        "data": "train CBSD432 64x64 crops, batch 10; feature extractor trained on " + MNIST_DATA,
        **run_budget(run), "command": _preset_command(preset, overrides),
        "cbsd68": evaluation, "curve": curve,
        "val_psnr_first_last": [curve[0]["val_psnr"], curve[-1]["val_psnr"]],
    }


def transfer(results):
    from kerasdenoise.runtime import load_keras_model
    from kerasdenoise.training.transfer import compare_initializations

    section = results.get("transfer")
    if section and section["steps"] == TRANSFER_STEPS:
        return
    train_set, val_set = _mnist_sets()
    denoiser_run = ROOT / results["denoisers"][0]["run"]
    denoiser = load_keras_model(denoiser_run / "final.keras")
    start = time.time()
    curves = compare_initializations(denoiser, train_set, TRANSFER_STEPS, seed=SEED,
                                     learning_rate=0.01, validation_data=val_set,
                                     eval_every=TRANSFER_STEPS // 10)
    results["transfer"] = {
        "what": "gated_classifier from random init vs Conv-1..5 copied as they are from "
                f"{relative(denoiser_run)} (the paper's Fig. 10-11); same batches, "
                "FC init and dropout draws (seed 0); SGD momentum 0.9, lr 0.01",
        "data": MNIST_DATA, "steps": TRANSFER_STEPS,
        "minutes": round((time.time() - start) / 60, 1), "command": COMMAND,
        **{init: {"train_step": c["step"], "train_loss": [round(v, 4) for v in c["loss"]],
                  "train_accuracy": c["accuracy"], "val_step": c["val_step"],
                  "val_loss": [round(v, 4) for v in c["val_loss"]],
                  "val_accuracy": [round(v, 4) for v in c["val_accuracy"]]}
           for init, c in curves.items()},
    }


def plot_transfer(results):
    import matplotlib.pyplot as plt
    import numpy as np

    section = results["transfer"]
    window = 10  # running mean over minibatches: each step's own loss is noisy
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for init, color, label in (("random", "tab:gray", "random init"),
                               ("denoiser", "tab:blue", "Conv-1..5 from the DSC denoiser")):
        curve = section[init]
        smooth = np.convolve(curve["train_loss"], np.ones(window) / window, mode="valid")
        ax1.plot(curve["train_step"][window - 1:], smooth, color=color, label=f"{label}, train")
        ax1.plot(curve["val_step"], curve["val_loss"], "o--", ms=3, color=color,
                 label=f"{label}, validation")
        ax2.plot(curve["val_step"], curve["val_accuracy"], "o-", ms=3, color=color, label=label)
    ax1.set_xlabel("iteration (batch of 10)")
    ax1.set_ylabel(f"cross-entropy (train: mean of {window} minibatches)")
    ax2.set_xlabel("iteration (batch of 10)")
    ax2.set_ylabel("validation accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Fig. 10-11 analogue: MNIST digits at 64x64, {section['steps']} steps, seed "
                 f"{SEED} (reduced budget)", fontsize=9)
    save_figure(fig, RESULTS / "gated_transfer.png", dpi=120)


# Classical baselines for the gated models' noise: the median filter (impulses) and CBM3D told the
# Gaussian part's level (it models no impulses).
BASELINES = (("median:3", "3x3 median filter"), ("bm3d:sigma=25", "CBM3D told sigma 25"))


def baselines(results):
    noise = _noise()
    results["baselines"] = [
        {"model": spec, "label": label, "noise": noise,
         "cbsd68": evaluate_cached(EVAL_CACHE, spec, spec, TEST_SET, noise, "rgb", progress=True),
         "command": f"python tools/evaluate.py --model {spec} --test-dir {TEST_SET} --noise '{noise}' "
                    "--color rgb --seed 0"}
        for spec, label in BASELINES]


def pair_summary(rows) -> dict:
    """Final MSEs, CBSD68 PSNRs and the "falls earlier" measure of a (DSC, no connections) pair:
    the first step where each training curve reaches the no-connection run's final training MSE."""
    (dsc, nodsc) = rows
    final = {row["preset"]: row["curve"][-1] for row in rows}
    target = final[nodsc["preset"]]["loss"]
    reach = {row["preset"]: next((r["step"] for r in row["curve"] if r["loss"] <= target), None)
             for row in rows}
    return {
        "final_train_mse": {k: v["loss"] for k, v in final.items()},
        "final_val_mse": {k: v["val_loss"] for k, v in final.items()},
        "cbsd68_psnr": {row["preset"]: row["cbsd68"]["psnr"] for row in rows},
        "first_step_reaching_nodsc_final_train_mse": reach,
        "target_met": final[dsc["preset"]]["loss"] < final[nodsc["preset"]]["loss"]
        and reach[dsc["preset"]] < reach[nodsc["preset"]],
    }


def summarize(results):
    results["summary"] = {**pair_summary(results["denoisers"]),
                          "cbsd68_psnr_noisy_input": results["noisy_input_psnr_cbsd68"]}
    if "denoisers_fast" in results:
        results["summary"]["fast"] = pair_summary(results["denoisers_fast"])
    if "perceptual" in results:
        results["summary"]["perceptual_cbsd68_psnr"] = results["perceptual"]["cbsd68"]["psnr"]
    if "transfer" in results:
        results["summary"]["transfer_final_val_accuracy"] = {
            init: results["transfer"][init]["val_accuracy"][-1] for init in ("random", "denoiser")}
    print(json.dumps(results["summary"], indent=2))


def main(argv=None):
    import argparse

    import matplotlib

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true",
                        help="only the fast-recipe pair (step 6); the other sections stay as they are")
    parser.add_argument("--baselines", action="store_true",
                        help="only the median-filter and CBM3D rows; the other sections stay as they are")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")
    results = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else {}
    if args.baselines:
        baselines(results)
        OUT_JSON.write_text(json.dumps(results, indent=2))
        return
    if args.fast:
        train_denoisers(results, "fast")
        plot_curves(results)
        summarize(results)
        OUT_JSON.write_text(json.dumps(results, indent=2))
        return
    paper = reference("gated")
    results.update({
        "paper": paper["source"],
        "budget": f"reduced-budget reproduction (CPU, 1 thread per run); the paper trains {paper['training']}",
        "command": COMMAND,
    })
    train_denoisers(results)
    plot_curves(results)
    OUT_JSON.write_text(json.dumps(results, indent=2))
    train_classifier_and_perceptual(results)
    plot_visual(results)
    OUT_JSON.write_text(json.dumps(results, indent=2))
    transfer(results)
    plot_transfer(results)
    summarize(results)
    OUT_JSON.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
