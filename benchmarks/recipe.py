#!/usr/bin/env python
"""Paper recipe against fast recipe: BSD68 sigma 25 PSNR of DS-DN-ResNet-13 against training minutes.

  python benchmarks/recipe.py [--minutes 30]      # trains both side by side, evaluates, plots
  python benchmarks/recipe.py --no-train           # only measures the snapshots that exist

Same network (DS-DN-ResNet-13, one channel), same data (Y of Train400 + CBSD432), same blind noise
(Gaussian sigma 0-55), same machine; the two presets differ only in their recipe (see
``kerasdenoise/training/recipe.py``).  The two runs train at the same time, each on one of the
machine's two cores (``--threads 1``), for ``--minutes`` of wall-clock time, so whatever else the
machine does slows both alike; the minutes of the curves are therefore one-core minutes.  The
paper recipe's learning rate is constant, so stopping it is cutting its curve; the fast run's
cosine is planned for ``FAST_STEPS`` (about ``--minutes`` at one core).  Both runs save the
network every few hundred steps with its training minutes (``runs/recipe-*/snapshots/``); each
snapshot is measured with the ``tools/evaluate.py`` protocol (BSD68, gray, seed 0) and cached in
``benchmarks/results/snapshot_evaluations.json``.

A third curve is the shipped gray model's own run (``dsdnresnet13-blind-fast-4h``, kept in
``benchmarks/saved_runs/``): 110,000 fast-recipe steps with one warm-up + cosine over the whole run,
on both cores with no other training beside it, a snapshot every 5,000 steps; it gives the 60- and 90-minute
points and the end of a longer run.  A fourth is that run's warm restart on the minutes left under 4
hours (``dsdnresnet13-blind-fast-4h-restart``, not shipped), a fifth the same preset at batch 8
(``dsdnresnet13-blind-fast-4h-batch8``: 270,000 steps, 1.2 times the pixels; not shipped).  Writes ``benchmarks/results/recipe.json`` and ``recipe.png``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _bench import (RESULTS, ROOT, SAVED_RUNS, SNAPSHOT_CACHE as CACHE, cached_evaluation,
                    evaluate_cached, run_budget, save_figure, train_side_by_side)

PRESETS = {"paper": "dsdnresnet13-blind", "fast": "dsdnresnet13-blind-fast"}
RUNS = {recipe: ROOT / "runs" / f"recipe-{recipe}-1core" for recipe in PRESETS}
FAST_STEPS = 7000  # the fast run's planned length: about 30 minutes on one core
OVERRIDES = {"paper": ["steps=100000", "snapshot_every=500"],  # stopped by the clock
             "fast": [f"steps={FAST_STEPS}", "snapshot_every=1000"]}
SHIPPED_RUN = SAVED_RUNS / "dsdnresnet13-blind-fast-4h"
# the shipped run's last 37 minutes under the 4-hour cap: a warm restart from its final weights (not shipped)
RESTART_RUN = SAVED_RUNS / "dsdnresnet13-blind-fast-4h-restart"
# the same preset at batch 8, one warm-up + cosine over 270,000 steps (not shipped: no better at its end)
BATCH8_RUN = SAVED_RUNS / "dsdnresnet13-blind-fast-4h-batch8"
NOISE, TEST_SET, COLOR = "gaussian:sigma=25", "BSD68", "gray"
MARKS = (15, 30, 60, 90)  # minutes at which each curve is read off
BM3D = RESULTS / "dncnn_reproduction" / "bm3d-s25.json"
LABELS = {"paper": "paper recipe, one core", "fast": "fast recipe, one core",
          "shipped": "fast recipe, the shipped model's run (2 cores, 110,000-step schedule)",
          "restart": "its warm restart (22,000 more steps, more below sigma 15; not shipped)",
          "batch8": "fast recipe at batch 8 (2 cores, 270,000-step schedule; not shipped)"}


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


def chosen(index: dict, most: int = 8) -> list[str]:
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


def shipped_curve() -> list[dict]:
    """The shipped gray model's run: its snapshots (the last one is the final model)."""
    return curve(SHIPPED_RUN)


def restart_curve() -> list[dict]:
    """The warm restart's snapshots, its steps and minutes counted from the end of the shipped run."""
    before = run_budget(SHIPPED_RUN)
    return [{**p, "step": p["step"] + before["steps"], "minutes": round(p["minutes"] + before["minutes"], 1)}
            for p in curve(RESTART_RUN)]


def plot(curves: dict, bm3d: float, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    styles = {"paper": dict(color="#c44e52"), "fast": dict(color="#4c72b0"),
              "shipped": dict(color="#4c72b0", linestyle=":", alpha=0.7),
              "restart": dict(color="#55a868", linestyle=":"),
              "batch8": dict(color="#8172b2", linestyle="-.")}
    for name, points in curves.items():
        if points:
            ax.plot([p["minutes"] for p in points], [p["psnr"] for p in points], marker="o",
                    markersize=3, label=LABELS[name], **styles[name])
    ax.axhline(bm3d, color="gray", linestyle="--", label=f"BM3D {bm3d:.2f} dB")
    for mark in MARKS:
        ax.axvline(mark, color="lightgray", linewidth=0.8, zorder=0)
    ax.set_xscale("symlog", linthresh=30, linscale=2)
    ticks = [0, 5, 10, 15, 20, 30, 60, 90, 120, 240]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlim(0, max([p["minutes"] for points in curves.values() for p in points] + [30]) * 1.1)
    ax.set_xlabel("training minutes (linear to 30, then log)")
    ax.set_ylabel(f"PSNR (dB), {TEST_SET} sigma 25")
    ax.set_title("DS-DN-ResNet-13, blind: paper recipe vs fast recipe")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30,
                        help="wall-clock minutes of the side-by-side runs (default 30)")
    parser.add_argument("--no-train", action="store_true", help="only measure the snapshots that exist")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be > 0")
    if not args.no_train:
        train_side_by_side({recipe: (preset, RUNS[recipe], OVERRIDES[recipe]) for recipe, preset in PRESETS.items()},
                           args.minutes)
    # runs/ does not outlive a session: a side-by-side run that is gone keeps the curve measured
    # when it was there
    earlier = json.loads((RESULTS / "recipe.json").read_text())["curves"] if (RESULTS / "recipe.json").exists() else {}
    curves = {recipe: curve(run) or earlier.get(recipe, []) for recipe, run in RUNS.items()}
    curves["shipped"] = shipped_curve()
    curves["restart"] = restart_curve()
    curves["batch8"] = curve(BATCH8_RUN)
    bm3d = json.loads(BM3D.read_text())["results"][0]["psnr"]
    marks = {name: {str(m): read_off(points, m) for m in MARKS} for name, points in curves.items()}
    result = {
        "command": "python benchmarks/recipe.py" + (f" --minutes {args.minutes:g}"
                                                    if args.minutes != 30 else ""),
        "network": "DS-DN-ResNet-13 (1 channel)", "test": f"{TEST_SET} {NOISE}, seed 0, gray",
        "training_data": "Y of Train400 + CBSD432", "presets": PRESETS,
        "overrides": OVERRIDES, "labels": LABELS,
        "conditions": ("paper and fast: trained at the same time, one thread each (one core "
                       "apiece of the 2-core CPU, oneDNN on); shipped, restart and batch8: two-core runs, "
                       "oneDNN on, no other training beside them (snapshot evaluations and a test "
                       "run at times)"),
        "bm3d": bm3d, "curves": curves, "at_minutes": marks,
        "final": {name: points[-1] if points else None for name, points in curves.items()},
    }
    (RESULTS / "recipe.json").write_text(json.dumps(result, indent=2))
    plot(curves, bm3d, RESULTS / "recipe.png")
    for name in curves:
        row = "  ".join(f"{m} min: " + (f"{p['psnr']:.2f}" if p else "-") for m, p in
                        ((m, marks[name][str(m)]) for m in MARKS))
        last = result["final"][name]
        print(f"{name:8s} {row}  end: " + (f"{last['psnr']:.2f} at {last['minutes']:.0f} min"
                                           if last else "-"))
    print(f"wrote {RESULTS / 'recipe.json'} and {RESULTS / 'recipe.png'}")


if __name__ == "__main__":
    main()
