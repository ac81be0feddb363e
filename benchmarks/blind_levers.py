#!/usr/bin/env python
"""Levers for a blind denoiser's training, each one run changed from the same preset, measured side by side.

  python benchmarks/blind_levers.py [--steps 5000]    # trains every arm at once, evaluates, plots
  python benchmarks/blind_levers.py --no-train        # only measures the runs that exist
  python benchmarks/blind_levers.py --arms reference poisson_mix   # trains and measures these arms only

Every arm is the preset (DS-DN-ResNet-13, fast recipe, blind Gaussian sigma 0-55 by default) with
the same training pixels (:func:`arm_steps`), seed and data, changed only by its overrides
(:data:`ARMS`): the loss and the weighting of the patches in it (``TrainConfig.loss_weighting``,
``kerasdenoise.losses.LOSS_WEIGHTINGS``), the share of low noise levels in the blind mix, a smaller
batch (more updates for the same pixels), and larger
patches for the same pixels per step (fewer of their pixels see the zero padding of the
convolutions: DS-DN-ResNet-13 sees 27x27 pixels, so 21 % of a 48x48 patch's pixels have all their
context inside the patch, 53 % of a 96x96 one's).  The arms not yet trained train at the same time, one
thread each, so whatever else the machine does slows them alike; they land in ``runs/blind-lever-<arm>``
and an interrupted call resumes them.  Each final model is measured on BSD68 at sigma 15 / 25 /
50 with the ``tools/evaluate.py`` protocol (seed 0; cached in
``benchmarks/results/blind_levers_evaluations.json``; an arm whose run is gone reads its cached
numbers), and at one Poisson and one Poisson-Gaussian level (:data:`OTHER_NOISES`).  Writes
``benchmarks/results/blind_levers.json`` and ``blind_levers.png``.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from _bench import (
    RESULTS, ROOT, cached_evaluation, evaluate_cached, published, run_budget, save_figure, train_side_by_side,
)

from kerasdenoise.training.presets.dnresnet import (
    BLIND_GAUSSIAN_SPEC, DN_4H_FINAL, LOW_SIGMA_SPEC, PG_SIGMAS, POISSON_PEAKS, poisson_gaussian_spec, poisson_spec,
)

# half of the patches from the blind Gaussian mix, half from the paper's 12 Poisson and
# Poisson-Gaussian levels ('|' picks its members uniformly)
POISSON_MIX_SPEC = "|".join([BLIND_GAUSSIAN_SPEC] * 4 + [poisson_spec(p) for p in POISSON_PEAKS]
                            + [poisson_gaussian_spec(s) for s in PG_SIGMAS])

# arm: (what it changes, overrides of the preset); the first is the reference.
ARMS = {
    "reference": ("the preset as it is (uniform weights, 48x48 patches, batch 16)", []),
    "inverse_noise_rms": ("patches weighted by inverse_noise_rms in the MSE", ["loss_weighting=inverse_noise_rms"]),
    "patch96": ("96x96 patches, batch 4 (the same pixels per step)", ["patch_size=96", "batch_size=4"]),
    "low_sigma": ("more of the patches below sigma 15 (the blind mix plus a sigma 0-15 part)",
                  [f"noise={LOW_SIGMA_SPEC}"]),
    "poisson_mix": ("half of the patches with the paper's Poisson / Poisson-Gaussian levels instead",
                    [f"noise={POISSON_MIX_SPEC}"]),
    "l1": ("L1 (mean absolute error) loss instead of the MSE", ["loss=l1"]),
    "batch8": ("batch 8: twice the steps for the same pixels", ["batch_size=8"]),
    "batch4": ("batch 4: four times the steps for the same pixels", ["batch_size=4"]),
    "l1_batch8": ("the L1 loss and batch 8 together", ["loss=l1", "batch_size=8"]),
    "distill": ("distilled from the shipped DN-ResNet-13: half of each target its output",
                ["procedure=distill", f"procedure_options.teacher={DN_4H_FINAL}",
                 "procedure_options.weight=0.5"]),
}
SIGMAS = (15, 25, 50)
# measured beside the Gaussian levels where an arm's run is there (what the Poisson mix buys)
OTHER_NOISES = ("poisson:peak=4", "poisson-gaussian:sigma=6,peak=60")
TEST_SET, COLOR = "BSD68", "gray"
CACHE = RESULTS / "blind_levers_evaluations.json"


def arm_steps(arm: str, preset: str, steps: int) -> int:
    """The steps that give ``arm`` the pixels of ``steps`` steps of ``preset``: every arm sees as
    many training pixels, whatever its patch and batch sizes."""
    from kerasdenoise.training import configs

    config = configs.get_preset(preset)
    changed = configs.apply_overrides(config, ARMS[arm][1])
    return round(steps * config.patch_size ** 2 * config.batch_size / (changed.patch_size ** 2 * changed.batch_size))


def run_dir(arm: str) -> Path:
    return ROOT / "runs" / f"blind-lever-{arm}"


def plot(rows, preset, steps, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    width = 0.8 / len(ARMS)
    for k, arm in enumerate(ARMS):
        values = [next(r["psnr"] - r["bm3d_published"] for r in rows if r["arm"] == arm and r["sigma"] == sigma)
                  for sigma in SIGMAS]
        bars = ax.bar([i + (k - (len(ARMS) - 1) / 2) * width for i in range(len(SIGMAS))], values, width, label=arm)
        ax.bar_label(bars, fmt="%+.2f", fontsize=6, rotation=90, padding=2)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(SIGMAS)), [f"sigma {s}" for s in SIGMAS])
    ax.set_ylabel("PSNR minus BM3D (published), dB")
    ax.set_title(f"{preset}, the pixels of {steps} steps of batch 16 per arm, one thread each; BSD68", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    save_figure(fig, path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="dsdnresnet13-blind-fast", help="a blind supervised preset")
    parser.add_argument("--steps", type=int, default=5000, help="training steps of each arm")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS),
                        help="the arms to train (default: all); the others are measured from their runs or cache")
    parser.add_argument("--no-train", action="store_true", help="only measure the runs that exist")
    args = parser.parse_args(argv)
    for arm in ARMS:  # a run of another preset or budget in an arm's folder is not this measurement
        config = run_dir(arm) / "config.json"
        if config.exists():
            saved = json.loads(config.read_text())
            steps = arm_steps(arm, args.preset, args.steps)
            if (saved.get("name"), saved.get("steps")) != (args.preset, steps):
                raise SystemExit(f"{run_dir(arm)} holds {saved.get('name')} at {saved.get('steps')} steps, not "
                                 f"{args.preset} at {steps}: move it away first")
    if not args.no_train:
        train_side_by_side({arm: (args.preset, run_dir(arm),
                                  [f"steps={arm_steps(arm, args.preset, args.steps)}", *ARMS[arm][1]])
                            for arm in args.arms})
    out = RESULTS / "blind_levers.json"
    # an arm whose run is gone keeps the budget its earlier measurement recorded
    earlier = {(r["arm"], r["sigma"]): r for r in json.loads(out.read_text())["rows"]} if out.exists() else {}
    rows, other = [], {}
    for arm in ARMS:
        run = run_dir(arm)
        there = (run / "final.keras").exists()
        key = f"{run.name}@{run_budget(run)['steps'] if there else arm_steps(arm, args.preset, args.steps)}"

        def measured(noise):
            if there:
                return evaluate_cached(CACHE, key, str(run.relative_to(ROOT) / "final.keras"), TEST_SET, noise, COLOR)
            return cached_evaluation(CACHE, key, noise, TEST_SET, COLOR)

        for sigma in SIGMAS:
            noise = f"gaussian:sigma={sigma}"
            result = measured(noise)
            if result is None:
                raise SystemExit(f"{run}: no final.keras and no cached evaluation; train it (--arms {arm})")
            kept = earlier.get((arm, sigma), {"steps": arm_steps(arm, args.preset, args.steps), "minutes": None})
            budget = run_budget(run) if there else {k: kept[k] for k in ("steps", "minutes")}
            rows.append({"arm": arm, "sigma": sigma, "noise": noise, "psnr": result["psnr"], "ssim": result["ssim"],
                         "bm3d_published": published("BM3D", sigma), **budget})
            print(f"{arm:20s} sigma {sigma:2d}  PSNR {result['psnr']:.3f}  SSIM {result['ssim']:.4f}", flush=True)
        for noise in OTHER_NOISES:
            result = measured(noise)
            if result is not None:
                other.setdefault(arm, {})[noise] = result["psnr"]
                print(f"{arm:20s} {noise}  PSNR {result['psnr']:.3f}", flush=True)

    def psnr(arm, sigma):
        return next(r["psnr"] for r in rows if r["arm"] == arm and r["sigma"] == sigma)

    reference = next(iter(ARMS))
    report = {
        "command": "python " + " ".join(shlex.quote(a) for a in ["benchmarks/blind_levers.py", *sys.argv[1:]]),
        "preset": args.preset,
        "conditions": ("one thread per arm on the 2-core CPU; the arms trained by one call run at the same time "
                       "(reference, inverse_noise_rms and patch96 together; low_sigma later, with no other arm; "
                       "reference again with poisson_mix, the first runs being gone; l1 and batch8 together, then batch4 and l1_batch8; distill alone), so "
                       "compare the PSNRs, taken at equal training pixels, not the minutes"),
        "arms": {arm: {"what": what, "overrides": overrides} for arm, (what, overrides) in ARMS.items()},
        "test": f"{TEST_SET}, gray, seed 0 (tools/evaluate.py protocol)",
        "rows": rows,
        "minus_reference": {arm: {str(s): round(psnr(arm, s) - psnr(reference, s), 3) for s in SIGMAS}
                            for arm in ARMS if arm != reference},
        "other_noises": other,
    }
    print("minus the reference arm (dB):", report["minus_reference"])
    out.write_text(json.dumps(report, indent=2) + "\n")
    plot(rows, args.preset, rows[0]["steps"], RESULTS / "blind_levers.png")
    print("wrote", RESULTS / "blind_levers.json", RESULTS / "blind_levers.png")


if __name__ == "__main__":
    main()
