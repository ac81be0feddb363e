#!/usr/bin/env python
"""Paper 4, Fig. 6 analogue: training MSE against iteration with and without the gated
symmetric connections, from two runs' history.csv files (same data, seed and steps).

  python tools/train.py --config gated-cpu-dsc   --steps 600 --set steps_per_epoch=50 --out runs/gated-cpu-dsc-600
  python tools/train.py --config gated-cpu-nodsc --steps 600 --set steps_per_epoch=50 --out runs/gated-cpu-nodsc-600
  python benchmarks/gated_curves.py runs/gated-cpu-dsc-600 runs/gated-cpu-nodsc-600

Writes benchmarks/results/gated_curves.json and gated_curves.png. A partial result for the gated
conv-deconv issue: the CBSD68 PSNR table and the visual comparison are not made here.
"""
import csv
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def history(run: Path):
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    config = json.loads((run / "config.json").read_text())
    per_epoch = config["steps_per_epoch"]
    return config, [{"step": (int(r["epoch"]) + 1) * per_epoch, "train_mse": float(r["loss"]),
                     "val_mse": float(r["val_loss"]), "val_psnr": float(r["val_psnr"])} for r in rows]


def main(runs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {"command": "python benchmarks/gated_curves.py " + " ".join(runs), "runs": []}
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for run in map(Path, runs):
        config, rows = history(run)
        label = "with gated connections (DSC)" if config["model_kwargs"].get("gates") else "no connections"
        minutes = json.loads((run / "run_info.json").read_text())["minutes"] if (run / "run_info.json").exists() else None
        out["runs"].append({"run": str(run), "label": label, "noise": config["noise"],
                            "steps": config["steps"], "batch_size": config["batch_size"],
                            "minutes": minutes, "curve": rows})
        ax.plot([r["step"] for r in rows], [r["train_mse"] for r in rows], "o-", ms=3, label=f"{label}, train")
        ax.plot([r["step"] for r in rows], [r["val_mse"] for r in rows], "--", label=f"{label}, val")
    ax.set_xlabel("iteration")
    ax.set_ylabel("MSE (images in [0, 1])")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Gated conv-deconv, CPU budget (CBSD432 64x64 crops)", fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / "gated_curves.png", dpi=120)
    (RESULTS / "gated_curves.json").write_text(json.dumps(out, indent=2))
    for r in out["runs"]:
        print(f"{r['label']:32s} final train MSE {r['curve'][-1]['train_mse']:.5f} "
              f"val MSE {r['curve'][-1]['val_mse']:.5f} val PSNR {r['curve'][-1]['val_psnr']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["runs/gated-cpu-dsc-600", "runs/gated-cpu-nodsc-600"])
