#!/usr/bin/env python
"""Blind training with uniform patch weights against ``inverse_noise_rms`` (``TrainConfig.loss_weighting``).

  python benchmarks/loss_weighting.py [--steps 6000]    # trains both side by side, evaluates, plots
  python benchmarks/loss_weighting.py --no-train        # only measures the runs that exist

Same network (the preset's, DS-DN-ResNet-13 by default), same data, same blind noise range, same
steps and seed; the two runs differ only in how the patches of a batch are weighted in the MSE
(``kerasdenoise.losses.LOSS_WEIGHTINGS``).  They train at the same time, one thread each (one core
apiece of the 2-core machine), into ``runs/loss-weighting-<weighting>``; an interrupted call
resumes them.  Each final model is measured on BSD68 at sigma 15 / 25 / 50 with the
``tools/evaluate.py`` protocol (seed 0; cached in ``benchmarks/results/loss_weighting_evaluations.json``).
Writes ``benchmarks/results/loss_weighting.json`` and ``loss_weighting.png``.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from _bench import RESULTS, ROOT, evaluate_cached, published, run_budget, save_figure, train_side_by_side

WEIGHTINGS = ("uniform", "inverse_noise_rms")
SIGMAS = (15, 25, 50)
TEST_SET, COLOR = "BSD68", "gray"
CACHE = RESULTS / "loss_weighting_evaluations.json"


def run_dir(weighting: str) -> Path:
    return ROOT / "runs" / f"loss-weighting-{weighting}"


def plot(rows, preset, steps, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    width = 0.38
    for k, weighting in enumerate(WEIGHTINGS):
        values = [next(r["psnr"] - published("BM3D", r["sigma"]) for r in rows
                       if r["weighting"] == weighting and r["sigma"] == sigma) for sigma in SIGMAS]
        bars = ax.bar([i + (k - 0.5) * width for i in range(len(SIGMAS))], values, width, label=weighting)
        ax.bar_label(bars, fmt="%+.2f", fontsize=8)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(SIGMAS)), [f"sigma {s}" for s in SIGMAS])
    ax.set_ylabel("PSNR minus BM3D (published), dB")
    ax.set_title(f"{preset}, {steps} steps each, one core each; BSD68", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="dsdnresnet13-blind-fast", help="a blind supervised preset")
    parser.add_argument("--steps", type=int, default=6000, help="training steps of each run")
    parser.add_argument("--no-train", action="store_true", help="only measure the runs that exist")
    args = parser.parse_args(argv)
    if not args.no_train:
        train_side_by_side({w: (args.preset, run_dir(w), [f"steps={args.steps}", f"loss_weighting={w}"])
                            for w in WEIGHTINGS})
    rows = []
    for weighting in WEIGHTINGS:
        run = run_dir(weighting)
        if not (run / "final.keras").exists():
            raise SystemExit(f"{run}: no final.keras; train first (without --no-train)")
        budget = run_budget(run)
        for sigma in SIGMAS:
            noise = f"gaussian:sigma={sigma}"
            result = evaluate_cached(CACHE, f"{run.name}@{budget['steps']}", str(run.relative_to(ROOT) / "final.keras"),
                                     TEST_SET, noise, COLOR)
            rows.append({"weighting": weighting, "sigma": sigma, "noise": noise, "psnr": result["psnr"],
                         "ssim": result["ssim"], "bm3d_published": published("BM3D", sigma), **budget})
            print(f"{weighting:20s} sigma {sigma:2d}  PSNR {result['psnr']:.3f}  SSIM {result['ssim']:.4f}", flush=True)
    from kerasdenoise.losses import LOSS_WEIGHTINGS

    report = {
        "command": "python " + " ".join(shlex.quote(a) for a in ["benchmarks/loss_weighting.py", *sys.argv[1:]]),
        "preset": args.preset,
        "conditions": "both runs at the same time, one thread each (one core apiece of the 2-core CPU)",
        "weightings": {w: LOSS_WEIGHTINGS[w] for w in WEIGHTINGS},
        "test": f"{TEST_SET}, gray, seed 0 (tools/evaluate.py protocol)",
        "rows": rows,
        "difference": {str(sigma): round(next(r["psnr"] for r in rows if r["weighting"] == WEIGHTINGS[1] and r["sigma"] == sigma)
                                         - next(r["psnr"] for r in rows if r["weighting"] == WEIGHTINGS[0] and r["sigma"] == sigma), 3)
                       for sigma in SIGMAS},
    }
    print("inverse_noise_rms minus uniform (dB):", report["difference"])
    (RESULTS / "loss_weighting.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(rows, args.preset, rows[0]["steps"], RESULTS / "loss_weighting.png")
    print("wrote", RESULTS / "loss_weighting.json", RESULTS / "loss_weighting.png")


if __name__ == "__main__":
    main()
