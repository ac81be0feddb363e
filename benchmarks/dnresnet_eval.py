#!/usr/bin/env python
"""Evaluate the DN-ResNet CPU-budget runs (benchmarks/dnresnet_train.sh) on BSD68 / LIVE1.

Writes benchmarks/results/dnresnet.json (rows: table, model, training, noise, dataset, psnr,
ssim, steps, minutes, paper), dnresnet_depth.png (PSNR against depth), dnresnet_noise.png
(PSNR against noise level) and dnresnet_minutes.png (PSNR at sigma 25 against training
minutes).  Each (model, noise) evaluation is kept in
benchmarks/results/dnresnet_evaluations.json so a re-run only does what is new.

  python benchmarks/dnresnet_eval.py [--runs runs] [--limit N]

The paper's numbers are on PASCAL VOC 2010 test images (not BSD68) with paper-scale training;
they stand beside ours as the target shape, not as the same measurement.
"""
import argparse
import json
import sys
from pathlib import Path

from _bench import RESULTS, ROOT, cached_evaluation, evaluate_cached, reference, run_budget, save_figure

from kerasdenoise.data.discovery import shared_data_dir

# The paper's numbers (PASCAL VOC 2010, Y channel; benchmarks/reference_numbers.json): Table 1
# (non-blind, by depth) at sigma 25 with the 13-layer one-shot, and the Table 2 / 3 columns.
PAPER = reference("dnresnet")
PAPER_DEPTH_S25 = PAPER["depth_gaussian_sigma25"]["psnr"]
PAPER_NONBLIND = PAPER["psnr"]["DN-ResNet-13 non-blind"]
PAPER_BLIND = PAPER["psnr"]["DN-ResNet-13 blind"]
PAPER_DSDN = PAPER["psnr"]["DS-DN-ResNet-13 blind"]
PAPER_DSDN_OS = PAPER["psnr"]["DS-DN-ResNet-13 blind one-shot"]
# DnCNN-3 on LIVE1 (Y), published; the paper's DN-ResNet has no LIVE1 JPEG table.
REFERENCE_BM3D_S25 = reference("denoising")["BM3D"]["psnr"]["25"]
# DnCNN-3's published JPEG numbers (Y) by test set.
JPEG_DNCNN3 = {dataset: {f"jpeg:quality={q}": psnr for q, psnr in reference("denoising")[name]["psnr"].items()}
               for dataset, name in (("LIVE1", "DnCNN-3"), ("classic5", "DnCNN-3 classic5"))}

BLIND_NOISES = ["gaussian:sigma=15", "gaussian:sigma=25", "gaussian:sigma=50",
                "poisson:peak=2", "poisson:peak=4", "poisson:peak=8"]
# Table 3 rows at fewer levels: each BSD68 pass costs ~40 s of the 2-core CPU budget.
DS_NOISES = ["gaussian:sigma=25", "gaussian:sigma=50", "poisson:peak=4"]
JPEG_QUALITIES = ["jpeg:quality=10", "jpeg:quality=20", "jpeg:quality=30", "jpeg:quality=40"]
JPEG_SETS = ("LIVE1", "classic5")


# The runs of each recipe: the paper recipe's -cpu presets, the fast recipe's -fast presets.
RECIPE_SUFFIX = {"paper": "-cpu", "fast": "-fast"}


def rows_to_run(runs: Path, recipe: str = "paper"):
    """(table, label, model file, run dir, noises, dataset, color, paper dict) of ``recipe``'s
    runs."""
    suffix = RECIPE_SUFFIX[recipe]
    cascade = runs / f"dnresnet-cascade-s25{suffix}"
    out = []
    for depth in (3, 5, 7, 9, 11, 13):
        out.append(("1", f"DN-ResNet-{depth} (cascade)", cascade / f"dnresnet{depth}.keras", cascade,
                    ["gaussian:sigma=25"], "BSD68", "gray", {"gaussian:sigma=25": PAPER_DEPTH_S25[str(depth)]}))
    oneshot = runs / f"dnresnet13-oneshot-s25{suffix}"
    out.append(("1", "DN-ResNet-13 (one-shot)", oneshot / "final.keras", oneshot,
                ["gaussian:sigma=25"], "BSD68", "gray", {"gaussian:sigma=25": PAPER_DEPTH_S25["13-oneshot"]}))
    out.append(("2", "DN-ResNet-13 non-blind", cascade / "final.keras", cascade,
                ["gaussian:sigma=25"], "BSD68", "gray", PAPER_NONBLIND))
    # The rest of Table 2's non-blind column: one cascade per level (sigma 15 has no paper number).
    for key, noise in (("s15", "gaussian:sigma=15"), ("s50", "gaussian:sigma=50"), ("p2", "poisson:peak=2"),
                       ("p4", "poisson:peak=4"), ("p8", "poisson:peak=8")):
        run = runs / f"dnresnet-cascade-{key}{suffix}"
        out.append(("2", "DN-ResNet-13 non-blind", run / "final.keras", run, [noise], "BSD68", "gray",
                    PAPER_NONBLIND))
    for name, label, paper in (
        (f"dnresnet-cascade-blind{suffix}", "DN-ResNet-13 blind MSE", PAPER_BLIND),
        (f"dnresnet-cascade-blind-edge-a{suffix}", "DN-ResNet-13 blind edge-a", {}),
        (f"dnresnet-cascade-blind-edge-b{suffix}", "DN-ResNet-13 blind edge-b", {}),
        (f"dsdnresnet-evolve-blind{suffix}", "DS-DN-ResNet-13 blind (evolved)", PAPER_DSDN),
        (f"dsdnresnet-oneshot-blind{suffix}", "DS-DN-ResNet-13 blind (one-shot, DS-DN-os)", PAPER_DSDN_OS),
    ):
        table = "3" if name.startswith("dsdn") else "2"
        noises = DS_NOISES if table == "3" else BLIND_NOISES
        out.append((table, label, runs / name / "final.keras", runs / name, noises, "BSD68", "gray", paper))
    jpeg = runs / f"dnresnet-cascade-jpeg{suffix}"
    for dataset in JPEG_SETS:
        out.append(("jpeg", "DN-ResNet-13 JPEG (q 10..40)", jpeg / "final.keras", jpeg,
                    JPEG_QUALITIES, dataset, "y", JPEG_DNCNN3[dataset]))
    if recipe != "paper":
        return out
    for dataset in JPEG_SETS:
        out.append(("jpeg", "decoded JPEG (no restoration)", "identity", None, JPEG_QUALITIES, dataset, "y", {}))
        out.append(("jpeg", "DnCNN-3 (official weights)", f"dncnn-official:{DNCNN3_WEIGHTS}", None,
                    JPEG_QUALITIES, dataset, "y", JPEG_DNCNN3[dataset]))
    # The blind models at the -cpu-long budget (about an hour on one core), paper recipe.
    long_cascade = runs / "dnresnet-cascade-blind-cpu-long"
    for depth in (3, 5, 7, 9, 11, 13):
        out.append(("1-long", f"DN-ResNet-{depth} (blind cascade, -cpu-long)",
                    long_cascade / f"dnresnet{depth}.keras", long_cascade, ["gaussian:sigma=25"], "BSD68",
                    "gray", {}))
    out.append(("2", "DN-ResNet-13 blind MSE, -cpu-long", long_cascade / "final.keras", long_cascade,
                BLIND_NOISES, "BSD68", "gray", PAPER_BLIND))
    long_ds = runs / "dsdnresnet-evolve-blind-cpu-long"
    out.append(("3", "DS-DN-ResNet-13 blind (evolved), -cpu-long", long_ds / "final.keras", long_ds,
                BLIND_NOISES, "BSD68", "gray", PAPER_DSDN))
    return out


CACHE = RESULTS / "dnresnet_evaluations.json"


DNCNN3_WEIGHTS = Path(shared_data_dir() or ROOT / "../shared/data") / "reference_models/dncnn/DnCNN3.mat"


# Tables whose rows carry the network's weights and MACs (Table 3 compares DS-DN-ResNet with the
# DN-ResNet-13 of Table 2 on them).
COSTED_TABLES = ("2", "3")


def model_cost(model) -> dict:
    """Weights (conv kernels, as the paper counts) and GMACs for a 480x640 image of a saved model."""
    from kerasdenoise import models
    from kerasdenoise.runtime import load_keras_model

    cost = models.stats(load_keras_model(model), (480, 640))
    return {"weights": cost["weights"], "gmacs_480x640": round(cost["macs"] / 1e9, 2)}


def evaluate_row(model, run_dir, noise, dataset, color, limit):
    """The evaluation of (model, noise, set), kept in one JSON file so a re-run only evaluates
    what is new and keeps the rows whose run directory is gone; ``None`` for a model file that
    neither exists nor was evaluated before."""
    model = str(model)
    if model.startswith("dncnn-official:"):  # published weights, no run of ours: always measurable
        return evaluate_cached(CACHE, f"dncnn-official/{Path(model).stem}", model, dataset, noise, color,
                               limit=limit, progress=True)
    key = "identity" if model == "identity" else f"{Path(model).parent.name}/{Path(model).stem}"
    # the key of the same evaluation in the cache's first format (a whole evaluate() report)
    legacy = f"{Path(model).parent.name}_{Path(model).stem}_{dataset}_{color}_{noise}_{limit}"
    legacy = legacy.replace(":", "_").replace("=", "")
    if model != "identity" and not Path(model).exists() and \
            cached_evaluation(CACHE, key, noise, dataset, color, limit, fallback_key=legacy) is None:
        return None
    return evaluate_cached(CACHE, key, model, dataset, noise, color, limit=limit, fallback_key=legacy,
                           progress=True)


def _save(fig, ax, xlabel, ylabel, name, legend_size):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    save_figure(fig, RESULTS / name, dpi=120)


def plots(rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def layers(row):
        return int(row["model"].split("-")[2].split()[0])

    depth = [r for r in rows if r["table"] == "1" and "cascade" in r["model"]]
    if depth:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for recipe, style in (("paper", "o-"), ("fast", "D-")):
            part = [r for r in depth if r.get("recipe", "paper") == recipe]
            if part:
                ax.plot([layers(r) for r in part], [r["psnr"] for r in part], style,
                        label=f"ours, {recipe} recipe, CPU budget (BSD68)")
        paper_points = sorted({(layers(r), r["paper"]) for r in depth})
        ax.plot(*zip(*paper_points), "s--", label="paper (PASCAL VOC, full training)")
        long_depth = [r for r in rows if r["table"] == "1-long"]
        if long_depth:
            ax.plot([int(r["model"].split("-")[2].split()[0]) for r in long_depth],
                    [r["psnr"] for r in long_depth], "^-", label="ours, blind cascade, -cpu-long budget")
        for r in [r for r in rows if r["table"] == "1" and "one-shot" in r["model"]]:
            ax.plot([13], [r["psnr"]], "x", ms=10, label=f"ours, 13 one-shot, {r.get('recipe', 'paper')} recipe")
        _save(fig, ax, "layers", "PSNR (dB), Gaussian sigma 25", "dnresnet_depth.png", legend_size=7)
    blind = [r for r in rows if r["table"] in ("2", "3") and r["noise"].startswith("gaussian")]
    if blind:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for model, recipe in dict.fromkeys((r["model"], r.get("recipe", "paper")) for r in blind):
            pts = sorted((float(r["noise"].split("=")[1]), r["psnr"]) for r in blind
                         if r["model"] == model and r.get("recipe", "paper") == recipe)
            ax.plot(*zip(*pts), "o-" if recipe == "paper" else "D-", label=f"{model} ({recipe})", ms=4)
        noisy = {float(r["noise"].split("=")[1]): r["psnr_input"] for r in blind}
        pts = sorted(noisy.items())
        ax.plot(*zip(*pts), "k:", label="noisy input")
        # references in the same protocol: official DnCNN-B weights and BM3D (dncnn_reproduction.sh)
        refs = RESULTS / "dncnn_reproduction"
        dncnn = [(s, json.loads((refs / f"dncnn-b{s}.json").read_text())["results"][0]["psnr"])
                 for s in (15, 25, 50) if (refs / f"dncnn-b{s}.json").exists()]
        if dncnn:
            ax.plot(*zip(*dncnn), "k^-", ms=4, label="DnCNN-B, official weights")
        if (refs / "bm3d-s25.json").exists():
            ax.plot([25], [json.loads((refs / "bm3d-s25.json").read_text())["results"][0]["psnr"]], "k*",
                    ms=9, label="BM3D")
        _save(fig, ax, "Gaussian sigma (0-255)", "PSNR (dB), BSD68", "dnresnet_noise.png", legend_size=6)
    # What each trained model cost: BSD68 sigma 25 against its training minutes, by recipe.
    # (a cascade's shallower nets are on the way to its 13-layer one: only that one's minutes count)
    timed = [r for r in rows if r["noise"] == "gaussian:sigma=25" and r.get("minutes") and r["table"] != "jpeg"
             and not ("cascade" in r["model"] and "-13 " not in r["model"])]
    timed = list({(r.get("recipe"), r["minutes"], r["psnr"]): r for r in reversed(timed)}.values())  # a run in two tables once
    if timed:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for recipe, marker in (("paper", "o"), ("fast", "D")):
            part = [r for r in timed if r.get("recipe", "paper") == recipe]
            if part:
                ax.plot([r["minutes"] for r in part], [r["psnr"] for r in part], marker, linestyle="none",
                        label=f"{recipe} recipe", ms=5)
                for r in part:
                    ax.annotate(r["model"].replace("DN-ResNet", "DN").replace(" blind", "b"),
                                (r["minutes"], r["psnr"]), fontsize=5, xytext=(3, 2), textcoords="offset points")
        bm3d = REFERENCE_BM3D_S25
        ax.axhline(bm3d, color="k", linestyle=":", label=f"BM3D {bm3d} (published, BSD68)")
        _save(fig, ax, "training minutes of the run (this 2-core CPU)",
              "PSNR (dB), BSD68 sigma 25", "dnresnet_minutes.png", legend_size=7)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(ROOT / "runs"))
    parser.add_argument("--limit", type=int, default=0, help="first N images only (0 = all)")
    args = parser.parse_args(argv)
    rows = []
    # runs/ is not committed: budgets of runs evaluated earlier come from the previous result file
    previous = json.loads((RESULTS / "dnresnet.json").read_text())["rows"] if (RESULTS / "dnresnet.json").exists() else []
    old_budget = {(r["training"], r["noise"]): (r["steps"], r["minutes"]) for r in previous}
    old_cost = {(r["training"], r["model"]): {k: r[k] for k in ("weights", "gmacs_480x640") if k in r}
                for r in previous}
    costs = {}
    planned = [(recipe, row) for recipe in RECIPE_SUFFIX for row in rows_to_run(Path(args.runs), recipe)]
    for recipe, (table, label, model, run_dir, noises, dataset, color, paper) in planned:
        have_model = model == "identity" or Path(model).exists()
        for noise in noises:
            result = evaluate_row(model, run_dir, noise, dataset, color, args.limit)
            if result is None:
                print(f"skip {label} {noise}: {model} not trained yet")
                continue
            if run_dir is None:
                steps = minutes = None
            elif have_model:
                budget = run_budget(run_dir)
                steps, minutes = budget["steps"], budget["minutes"]
            else:
                steps, minutes = old_budget.get((run_dir.name, noise), (None, None))
            rows.append({"table": table, "model": label, "recipe": recipe if run_dir else "-",
                         "training": str(run_dir.name) if run_dir else "-",
                         "noise": noise, "dataset": result["dataset"], "color": color,
                         "psnr": result["psnr"], "ssim": result["ssim"],
                         "psnr_input": result["psnr_input"], "n_images": result["images"],
                         "steps": steps, "minutes": minutes, "paper": paper.get(noise)})
            if table in COSTED_TABLES and run_dir is not None:
                if have_model and model not in costs:
                    costs[model] = model_cost(model)
                rows[-1].update(costs.get(model) or old_cost.get((run_dir.name, label), {}))
            print(f"{label:45s} {noise:22s} {result['psnr']:.2f} dB / {result['ssim']:.4f}")
    out = {"command": "python " + " ".join(["benchmarks/dnresnet_eval.py", *(argv or sys.argv[1:])]),
           "protocol": "tools/evaluate.py protocol: fixed seed 0, noise not clipped, output clipped, "
                       "8-bit PSNR/SSIM; BSD68 gray (= Y), LIVE1 Y for JPEG",
           "budget": "CPU-budget presets trained on CBSD432 (Y) on the 2-core CPU: paper recipe (-cpu) and "
                     "fast recipe (-fast); see steps/minutes",
           "paper_note": "paper numbers: PASCAL VOC 2010 test set, paper-scale training (DnCNN-3 for JPEG rows)",
           "rows": rows}
    (RESULTS / "dnresnet.json").write_text(json.dumps(out, indent=2))
    plots(rows)
    print(f"wrote {RESULTS / 'dnresnet.json'}")


if __name__ == "__main__":
    main()
