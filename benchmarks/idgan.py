#!/usr/bin/env python
"""IDResNet / IDGAN (Chen et al., ICISS 2019) at the CPU budget: the paper's Table 1 measured
on CBSD68 (RGB, Gaussian sigma 25) beside CDnCNN-B (official weights) and CBM3D, the detail
claim measured, the training curves of both phases and a zoomed comparison like the paper's
Fig. 2.

  export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
  python benchmarks/idgan.py                    # train (resumable) + evaluate + write results
  python benchmarks/idgan.py --baselines-only   # only the rows that need no training (run beside it)
  python benchmarks/idgan.py --phase2-steps N   # phase 2 cut at N steps (see below)
  python benchmarks/idgan.py --preset idgan-fast-s25 --no-baselines   # the fast recipe's run
  python benchmarks/idgan.py --preset idgan-fast-s15 --no-cbm3d       # ... at sigma 15 (-s50: 50), beside CDnCNN-B

Trains the preset ``idgan-cpu-s25`` into ``runs/idgan-cpu-s25`` (through ``tools/train.py``:
an interrupted run is resumed, a finished one reused).  Phase 1 (IDResNet, MSE) is
``phase1_idresnet/final.keras``, phase 2 (IDGAN, detail loss) ``phase2_idgan/final.keras``: one
run gives both.  ``--phase2-steps N``: when the shared machine cannot give phase 2 its preset
budget, stop the training (its checkpoint keeps the step reached) and finish phase 2 at N steps
instead (resumed from the checkpoint up to N); every row then says so.  Every evaluation follows ``tools/evaluate.py`` (fixed noise per image, noisy input not
clipped, output clipped to [0, 1], PSNR / SSIM on 8-bit RGB) and is cached in
``benchmarks/results/idgan_evaluations.json``; the restored images go to
``runs/idgan-cpu-s25-eval/`` for the detail measure and the figure.

CBM3D takes ~30 s per color image on this machine, so it runs on the first ``--cbm3d-images``
CBSD68 images only, and every model is measured on that subset too (like for like).  The
paper's numbers are on Kodak24 after 4e5 + 2e5 steps of a 32 x 64 network trained on DIV2K:
another test set and another budget, beside ours as the target, not the same measurement.

Writes ``benchmarks/results/idgan.json``, ``idgan_curves.png`` and ``idgan_visual.png``
(``idgan_fast.*`` for ``--preset idgan-fast-s25``, the fast recipe; ``idgan_fast_s15.*`` /
``idgan_fast_s50.*`` for the same recipe at sigma 15 / 50: each preset trains at one Gaussian level and
is measured at it).  Besides PSNR / SSIM and the
detail ratios, each row has the VGG-feature distance to the clean image in the run's own content
feature space (``kerasdenoise.metrics.feature_distance``; the offline VGG stand-in, labelled).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from _bench import RESULTS, ROOT, evaluate_cached, published, reference, run_budget, save_figure, train_preset

from kerasdenoise.training.configs import TrainConfig, get_preset
from kerasdenoise.training.gan import PHASE_DIRS, phase_configs, phase_infos, plot_two_phase_curves

# The runs measured, each with the stem of its result files.
PRESETS = {"idgan-cpu-s25": "idgan", "idgan-fast-s25": "idgan_fast",
           "idgan-fast-s15": "idgan_fast_s15", "idgan-fast-s50": "idgan_fast_s50"}
PRESET = "idgan-cpu-s25"
TEST_SET, COLOR = "CBSD68", "rgb"
CACHE = RESULTS / "idgan_evaluations.json"

# Published CBSD68 numbers (the DnCNN paper's Table 3; benchmarks/reference_numbers.json).
PUBLISHED_CBSD68 = {"CBM3D": "CBM3D", "CDnCNN-B (official weights)": "CDnCNN-B"}
# The paper's Table 1: average PSNR on Kodak24 (another test set), full training.
PAPER = reference("idgan")
PAPER_KODAK24 = {int(sigma): row for sigma, row in PAPER["psnr"].items()}
DETAIL_MEASURE = (
    "gradient_ratio: mean Sobel gradient magnitude of the output / of the clean image; "
    "hf_energy_ratio: spectral energy above 0.25 cycles/pixel, output / clean "
    "(kerasdenoise.metrics; per image, then the mean). 1 = as much fine structure as the ground "
    "truth, < 1 smoothed; residual noise and artifacts also raise both, so read them beside PSNR."
)


def models(run: Path, preset: str = PRESET, baselines: tuple = ("CDnCNN-B", "CBM3D")):
    """(label, phase, cache key, model spec, full set too?) of every measured model (of the
    baselines, those named in ``baselines``)."""
    from kerasdenoise.data.discovery import shared_data_dir

    cdncnn = Path(shared_data_dir() or ROOT / "../shared/data") / "reference_models/dncnn/GD_Color_Blind.mat"

    def key(phase):  # the phase's step count in the key: a resumed phase is measured again
        info = run / PHASE_DIRS[phase - 1] / "run_info.json"
        steps = json.loads(info.read_text())["steps"] if info.exists() else 0
        return f"{preset}/phase{phase}@{steps}"

    return [
        ("noisy input", None, "identity", "identity", True),
        ("IDResNet (phase 1, MSE)", 1, key(1), str(run / PHASE_DIRS[0] / "final.keras"), True),
        ("IDGAN (phase 2, detail loss)", 2, key(2), str(run / PHASE_DIRS[1] / "final.keras"), True),
    ] + [row for name, row in (
        ("CDnCNN-B", ("CDnCNN-B (official weights)", None, "cdncnn-b", f"dncnn-official:{cdncnn}", True)),
        ("CBM3D", ("CBM3D", None, "cbm3d", "bm3d", False)),
    ) if name in baselines]


def image_dir(key: str, limit) -> Path:
    return ROOT / "runs" / "idgan-eval" / key.replace("/", "_") / (f"first{limit}" if limit else "all")


def content_features(run: Path):
    """The run's VGG content term (its layer, network, weights and normalization): the feature
    space of the distance in each row."""
    from kerasdenoise.training.gan import make_content_loss

    options = json.loads((run / "config.json").read_text())["procedure_options"]
    return make_content_loss(options.get("content_layer", "block5_conv4"),
                             options.get("content_network", "vgg19"),
                             options.get("content_weights", "imagenet"),
                             options.get("content_normalize", "imagenet"))


def test_subset(limit):
    from kerasdenoise.data.discovery import image_set

    images = image_set(TEST_SET)
    if limit:
        images.items = images.items[:limit]
    return images


def detail_measures(folder: Path, limit, clean_cache: dict, features, noise: str) -> dict:
    """Mean gradient / high-frequency energy ratios and VGG-feature distance (``features``: a
    PerceptualLoss) of the PNGs ``evaluate`` wrote to ``folder``."""
    from kerasdenoise import metrics
    from kerasdenoise.data import io
    from kerasdenoise.evaluation import _slug, load_clean_images

    images = test_subset(limit)
    if limit not in clean_cache:
        clean_cache[limit] = load_clean_images(images, COLOR)
    gradient, energy, distance = [], [], []
    for name, clean in zip(images.names(), clean_cache[limit]):
        restored = io.read_image(folder / _slug(noise) / f"{name}_denoised.png", COLOR)
        gradient.append(metrics.gradient_magnitude_ratio(clean, restored))
        energy.append(metrics.high_frequency_energy_ratio(clean, restored))
        distance.append(metrics.feature_distance(clean, restored, features))
    return {"gradient_ratio": round(float(np.mean(gradient)), 3),
            "hf_energy_ratio": round(float(np.mean(energy)), 3),
            "vgg_feature_distance": round(float(np.mean(distance)), 4)}


def finish_phase2_at(run: Path, steps: int) -> None:
    """Finish the interrupted phase 2 of ``run`` at ``steps`` (resumed from its checkpoint);
    phase 1 must be finished.  The phase's ``final.keras`` / ``run_info.json`` then say ``steps``."""
    from kerasdenoise.models.idresnet import generator_of
    from kerasdenoise.runtime import load_keras_model
    from kerasdenoise.training.runner import train

    phase2 = run / PHASE_DIRS[1]
    config = TrainConfig.from_dict(json.loads((phase2 / "config.json").read_text()))
    # The generator to start from if phase 2 has no checkpoint yet (a checkpoint overrides it).
    phase1 = load_keras_model(run / PHASE_DIRS[0] / "final.keras")
    train(config.replace(steps=steps), phase2, resume=True, network=generator_of(phase1), progress=False)


def plot_visual(entries, limit, out_png, noise: str, crop: int = 64, count: int = 2, preset: str = PRESET):
    """Fig. 2 analogue: for the ``count`` most textured subset images, the clean image with the
    crop marked, then zoomed crops of clean, noisy and each model (per-image PSNR in the title)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tensorflow as tf
    from matplotlib.patches import Rectangle

    from kerasdenoise import metrics
    from kerasdenoise.data import io
    from kerasdenoise.evaluation import _slug, load_clean_images
    from kerasdenoise.losses.edge import sobel_magnitude

    images = test_subset(limit)
    names, cleans = images.names(), load_clean_images(images, COLOR)
    # Where the clean image has the most edges: where smoothing (or its absence) shows.
    edges = [sobel_magnitude(c[None], scale=1.0).numpy()[0].mean(-1) for c in cleans]
    chosen = sorted(range(len(cleans)), key=lambda i: -edges[i].mean())[:count]
    fig, axes = plt.subplots(count, len(entries) + 2, figsize=(2.4 * (len(entries) + 2), 2.9 * count))
    for row, index in enumerate(chosen):
        clean, name = cleans[index], names[index]
        # Mean edge strength of every crop position (window [top:top + crop, left:left + crop]).
        window = tf.nn.avg_pool2d(edges[index][None, ..., None], crop, 1, "VALID").numpy()[0, ..., 0]
        top, left = np.unravel_index(np.argmax(window), window.shape)
        ys, xs = slice(top, top + crop), slice(left, left + crop)
        axes[row, 0].imshow(clean)
        axes[row, 0].add_patch(Rectangle((left, top), crop, crop, fill=False, ec="yellow", lw=1.5))
        axes[row, 0].set_title(f"CBSD68 {name}", fontsize=8)
        axes[row, 1].imshow(clean[ys, xs], interpolation="nearest")
        axes[row, 1].set_title("ground truth", fontsize=8)
        for col, (label, folder) in enumerate(entries, start=2):  # identity's "denoised" is the noisy input
            picture = io.read_image(folder / _slug(noise) / f"{name}_denoised.png", COLOR)
            axes[row, col].imshow(picture[ys, xs], interpolation="nearest")
            axes[row, col].set_title(f"{label}\n{metrics.psnr(clean, picture):.2f} dB", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(f"{noise}, zoomed {crop}x{crop} crops; {preset} (reduced budget)", fontsize=9)
    save_figure(fig, out_png, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cbm3d-images", type=int, default=12,
                        help="CBM3D (and the like-for-like rows) on the first N CBSD68 images")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads for training")
    parser.add_argument("--baselines-only", action="store_true",
                        help="only evaluate noisy / CDnCNN-B / CBM3D (needs no training)")
    parser.add_argument("--phase2-steps", type=int, default=None,
                        help="finish phase 2 at N steps instead of the preset's (a stopped run)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=PRESET,
                        help=f"the two-phase run to train and measure (default {PRESET})")
    parser.add_argument("--no-baselines", action="store_true",
                        help="measure only the run (and the noisy input), not CDnCNN-B / CBM3D")
    parser.add_argument("--no-cbm3d", action="store_true",
                        help="of the baselines, measure CDnCNN-B only (CBM3D's published number stands beside)")
    args = parser.parse_args(argv)
    limit = args.cbm3d_images
    preset, stem = args.preset, PRESETS[args.preset]
    noise = get_preset(preset).noise  # one Gaussian level per preset: gaussian:sigma=S
    baselines = () if args.no_baselines else ("CDnCNN-B",) if args.no_cbm3d else ("CDnCNN-B", "CBM3D")
    run = ROOT / "runs" / preset
    measured = models(run, preset, baselines)
    if args.baselines_only:
        for label, phase, key, spec, full in measured:
            if phase is None:
                for lim in ((None, limit) if full else (limit,)):
                    print(label, lim, evaluate_cached(CACHE, key, spec, TEST_SET, noise, COLOR, limit=lim,
                                                      save_images=image_dir(key, lim)), flush=True)
        return

    if args.phase2_steps:
        finish_phase2_at(run, args.phase2_steps)
    else:
        train_preset(preset, out=run, threads=args.threads)
    measured = models(run, preset, baselines)
    features = content_features(run)
    content_label = phase_infos(run)[1]["labels"].get("content_label")
    budgets = [run_budget(run / PHASE_DIRS[0]), run_budget(run / PHASE_DIRS[1])]
    # Phase 2's budget in the run's (top-level) config: --phase2-steps rewrites the phase's own.
    top_config = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    preset_steps = phase_configs(top_config)[1].steps
    cut = (f"; phase 2 CUT at {budgets[1]['steps']} of the preset's {preset_steps} steps (the shared "
           "machine's load)" if budgets[1]["steps"] < preset_steps else "")
    rows, clean_cache, subset_entries = [], {}, []
    for label, phase, key, spec, full in measured:
        for lim in ((None, limit) if full else (limit,)):
            folder = image_dir(key, lim)
            result = evaluate_cached(CACHE, key, spec, TEST_SET, noise, COLOR, limit=lim, save_images=folder)
            row = {"table": f"measured, first {lim} CBSD68 images (like for like with CBM3D)" if lim
                   else "measured, CBSD68 (all 68)",
                   "model": label, "phase": phase, "noise": noise, "dataset": result["dataset"],
                   "images": result["images"], "psnr": result["psnr"], "ssim": result["ssim"],
                   **detail_measures(folder, lim, clean_cache, features, noise), "eval_seconds": result["seconds"]}
            if phase:  # the budget the model has seen: phase 2 starts from phase 1
                row["steps"] = sum(b["steps"] for b in budgets[:phase])
                row["minutes"] = round(sum(b["minutes"] for b in budgets[:phase]), 1)
            if phase == 2:
                row["content_loss"] = content_label
                if cut:
                    row["note"] = cut.lstrip("; ")
            rows.append(row)
            if lim:
                subset_entries.append((label.split(" (")[0], folder))
            print(f"{label:32s} {row['dataset']:12s} PSNR {row['psnr']:6.2f} SSIM {row['ssim']:.4f} "
                  f"grad {row['gradient_ratio']:.3f} HF {row['hf_energy_ratio']:.3f}", flush=True)
    sigma = noise.split("=")[1]
    for label, name in PUBLISHED_CBSD68.items():
        rows.append({"table": "published, CBSD68 (DnCNN paper; not measured here)", "model": label,
                     "noise": noise, "dataset": "CBSD68", "images": 68, "psnr": published(name, sigma)})
    for sigma, paper in PAPER_KODAK24.items():
        for label, value in paper.items():
            rows.append({"table": f"paper Table 1, {PAPER['set']}: ANOTHER TEST SET, full training",
                         "model": label, "noise": f"gaussian:sigma={sigma}", "dataset": PAPER["set"],
                         "images": PAPER["images"], "psnr": value})
    paper = PAPER["training"]
    result = {
        "what": "IDResNet / IDGAN (Chen et al. 2019) Table 1 analogue: reduced-budget reproduction",
        "preset": preset,
        "recipe": top_config.recipe,
        "feature_distance": f"VGG-feature distance (lower = closer): {features.description}",
        "budget": (f"{budgets[0]['steps']} + {budgets[1]['steps']} steps (phase 1 + 2), "
                   f"{budgets[0]['minutes']} + {budgets[1]['minutes']} min of the shared 2-core machine; "
                   f"8 blocks x 32 filters, 48x48 crops, batch 16 (paper: {paper['steps']} "
                   f"steps, {paper['network']}, {paper['crop']}){cut}"),
        "training": f"CBSD432 (paper: {paper['data']})",
        "content_loss": f"VGG19 content loss: {content_label}",
        "protocol": "tools/evaluate.py: CBSD68 RGB, seed 0, noisy input not clipped, output clipped to "
                    "[0, 1], PSNR / SSIM on 8-bit images; IDResNet / IDGAN output [-1, 1] mapped back to [0, 1]",
        "detail_measure": DETAIL_MEASURE,
        "command": " ".join(["python benchmarks/idgan.py", *([f"--preset {preset}"] if preset != PRESET else []),
                             *(["--no-baselines"] if not baselines else ["--no-cbm3d"] if "CBM3D" not in baselines else [])]),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_two_phase_curves(run, RESULTS / f"{stem}_curves.png",
                          f"{preset}: {result['budget']}; content loss: {content_label.split(' (')[0]} (offline stand-in)")
    plot_visual(subset_entries, limit, RESULTS / f"{stem}_visual.png", noise, preset=preset)
    print("wrote", *(RESULTS / f"{stem}{end}" for end in (".json", "_curves.png", "_visual.png")))


if __name__ == "__main__":
    main()
