#!/usr/bin/env python
"""Paper recipe against fast recipe: BSD68 sigma 25 PSNR of DS-DN-ResNet-13 against training minutes.

  python tools/train.py --config dsdnresnet13-blind-fast        # the shipped gray model's run (snapshots)
  python benchmarks/recipe.py [--paper-steps 4000]              # trains the paper-recipe run, evaluates, plots

Same network (DS-DN-ResNet-13, one channel), same data (Y of Train400 + CBSD432), same blind noise
(Gaussian sigma 0-55), same machine; the two presets differ only in their recipe (see
``kerasdenoise/training/recipe.py``).  Both runs save the network every ``snapshot_every`` steps with
its training minutes (``runs/<preset>/snapshots/``); each snapshot is measured with the
``tools/evaluate.py`` protocol (BSD68, gray, seed 0) and cached in
``benchmarks/results/snapshot_evaluations.json``.  Writes ``benchmarks/results/recipe.json`` and
``recipe.png``.  The paper recipe has a constant learning rate, so a shorter run is the longer one's
curve cut; the fast recipe's cosine spans its whole planned run, so its 90-minute point is taken
from the same long run, mid-schedule.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _bench import RESULTS, ROOT, SNAPSHOT_CACHE as CACHE, cached_evaluation, evaluate_cached, save_figure, train_preset

PRESETS = {"paper": "dsdnresnet13-blind", "fast": "dsdnresnet13-blind-fast"}
NOISE, TEST_SET, COLOR = "gaussian:sigma=25", "BSD68", "gray"
MARKS = (15, 30, 60, 90)  # minutes at which each curve is read off
BM3D = RESULTS / "dncnn_reproduction" / "bm3d-s25.json"


def whole_image_model(snapshot: Path, folder: Path) -> str:
    """A snapshot in its whole-image form ('valid' base convolutions become 'same')."""
    from kerasdenoise.models import dnresnet
    from kerasdenoise.runtime import load_keras_model

    model = load_keras_model(snapshot)
    if dnresnet.describe(model)["base_padding"] == "same":
        return str(snapshot)
    path = folder / f"same-{snapshot.parent.parent.name}-{snapshot.name}"
    dnresnet.to_same_padding(model).save(path)
    return str(path)


def curve(run: Path) -> list[dict]:
    """``[{"step", "minutes", "psnr", "ssim", "psnr_frame"}]`` for every snapshot of ``run``."""
    index_path = run / "snapshots" / "snapshots.json"
    if not index_path.exists():
        return []
    index = json.loads(index_path.read_text())
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        for step in chosen(index):
            entry = index[step]
            key = f"{run.name}/snapshots/{entry['file']}"
            snapshot = run / "snapshots" / entry["file"]
            if not snapshot.exists() and cached_evaluation(CACHE, key, NOISE, TEST_SET, COLOR) is None:
                continue  # neither measured nor measurable here
            spec = whole_image_model(snapshot, Path(tmp)) if snapshot.exists() else ""
            result = evaluate_cached(CACHE, key, spec, TEST_SET, NOISE, COLOR)
            points.append({"step": int(step), "minutes": entry["minutes"], "psnr": result["psnr"],
                           "ssim": result["ssim"], "psnr_frame": result.get("psnr_frame")})
            print(f"{run.name:28s} step {step:>6s} {entry['minutes']:7.1f} min  {result['psnr']:.2f} dB",
                  flush=True)
    return points


def chosen(index: dict, most: int = 12) -> list[str]:
    """The snapshots worth measuring (one BSD68 pass costs 1-3 minutes here): the last one at or
    before each of MARKS, the last one, and evenly spaced others up to ``most`` in all."""
    steps = sorted(index, key=int)
    keep = {steps[-1]}
    for mark in MARKS:
        before = [s for s in steps if index[s]["minutes"] <= mark + 0.5]
        if before:
            keep.add(before[-1])
    stride = max(1, len(steps) // max(most - len(keep), 1))
    keep.update(steps[::stride][: max(most - len(keep), 0)])
    return sorted(keep, key=int)


def read_off(points: list[dict], minutes: float):
    """The last point measured at or before ``minutes`` (None if the run had not reached it)."""
    before = [p for p in points if p["minutes"] <= minutes + 0.5]
    if not before or points[-1]["minutes"] < minutes - 0.5:
        return None
    return before[-1]


def plot(curves: dict, bm3d: float, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for recipe, points in curves.items():
        if points:
            ax.plot([p["minutes"] for p in points], [p["psnr"] for p in points], marker="o",
                    markersize=3, label=f"{recipe} recipe ({PRESETS[recipe]})")
    ax.axhline(bm3d, color="gray", linestyle="--", label=f"BM3D {bm3d:.2f} dB")
    for mark in MARKS:
        ax.axvline(mark, color="lightgray", linewidth=0.8, zorder=0)
    ax.set_xlabel("training minutes (2-core CPU)")
    ax.set_ylabel(f"PSNR (dB), {TEST_SET} sigma 25")
    ax.set_title("DS-DN-ResNet-13, blind: paper recipe vs fast recipe")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper-steps", type=int, default=4000,
                        help="steps of the paper-recipe run (about 30 minutes here; default 4000)")
    parser.add_argument("--no-train", action="store_true", help="only measure the snapshots that exist")
    args = parser.parse_args(argv)
    runs = {recipe: ROOT / "runs" / preset for recipe, preset in PRESETS.items()}
    if not args.no_train:
        train_preset(PRESETS["paper"], runs["paper"], overrides=[f"steps={args.paper_steps}"])
    curves = {recipe: curve(run) for recipe, run in runs.items()}
    bm3d = json.loads(BM3D.read_text())["results"][0]["psnr"]
    marks = {recipe: {str(m): read_off(points, m) for m in MARKS} for recipe, points in curves.items()}
    result = {
        "command": "python benchmarks/recipe.py" + (f" --paper-steps {args.paper_steps}"
                                                    if args.paper_steps != 4000 else ""),
        "network": "DS-DN-ResNet-13 (1 channel)", "test": f"{TEST_SET} {NOISE}, seed 0, gray",
        "training_data": "Y of Train400 + CBSD432", "presets": PRESETS, "bm3d": bm3d,
        "curves": curves, "at_minutes": marks,
        "final": {recipe: points[-1] if points else None for recipe, points in curves.items()},
    }
    (RESULTS / "recipe.json").write_text(json.dumps(result, indent=2))
    plot(curves, bm3d, RESULTS / "recipe.png")
    for recipe in PRESETS:
        row = "  ".join(f"{m} min: " + (f"{p['psnr']:.2f}" if p else "-") for m, p in
                        ((m, marks[recipe][str(m)]) for m in MARKS))
        print(f"{recipe:6s} {row}")
    print(f"wrote {RESULTS / 'recipe.json'} and {RESULTS / 'recipe.png'}")


if __name__ == "__main__":
    main()
