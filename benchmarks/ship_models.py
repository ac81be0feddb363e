#!/usr/bin/env python
"""Ship the blind denoisers: re-save, export (TFLite float32 + int8, and SavedModel for the mobile
DS-DN-ResNet-13), measure every shipped file and write each folder's MODEL_CARD.md.

  python tools/train.py --config dsdnresnet13-blind-fast-4h  # gray DS-DN-ResNet-13 (about 3.3 h here)
  python tools/train.py --config dnresnet13-blind-fast-4h   # gray DN-ResNet-13 (about 2.5 h here)
  python tools/train.py --config color-opponent-blind-fast-4h        # RGB around that gray model (frozen)
  python tools/train.py --config color-opponent-blind-fast-4h-tuned  # then end to end
  python benchmarks/ship_models.py [--only ds_dnresnet13_blind ...]

A model's run is ``runs/<preset>`` when trained here, else the copy kept in ``benchmarks/saved_runs``;
one with neither ``final.keras`` is skipped with a note.  Measured with
the ``tools/evaluate.py`` protocol (seed 0): ``model.keras``, the float32 and the int8 TFLite file at
Gaussian sigma 15 / 25 / 50 on BSD68 (gray models) or CBSD68 (RGB), with the PSNR of the outer
8-pixel frame beside the whole image's; the run's snapshot nearest 90 training minutes at the same
levels (``model.keras`` form).  Baselines: the published BM3D / CBM3D and DnCNN-B / CDnCNN-B numbers
(``benchmarks/reference_numbers.json``) and the official DnCNN weights measured here.  Every
evaluation is cached in ``benchmarks/results/shipped_evaluations.json``; results go to
``benchmarks/results/shipped.json``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from _bench import (
    RESULTS, ROOT, SNAPSHOT_CACHE, cached_evaluation, chained, content_hash, evaluate_cached, finished_run,
    reference, relative, run_budget, total_budget,
)

from kerasdenoise.training.presets.dnresnet import DN_4H_FINAL

EXPORTED = ROOT / "exported_models"
CACHE = RESULTS / "shipped_evaluations.json"
REFERENCE = reference()
SIGMAS = (15, 25, 50)
MARK_MINUTES = 90


@dataclass(frozen=True)
class Shipped:
    folder: str
    preset: str
    title: str
    test_set: str
    color: str  # evaluation color: gray or rgb
    baseline: str  # classical, in reference_numbers.json
    network_baseline: str
    formats: str  # tools/export.py --formats
    calibration: str
    target_note: str
    # finished runs, oldest first, whose final weights started this one in turn (init_weights):
    # their steps and minutes count in the budget; the first one's snapshots hold the 90-minute point
    parents: tuple = ()
    # finished runs whose trained network is a frozen part of this model (the color model's
    # luminance network): their steps and minutes count in the budget too
    components: tuple = ()
    # int8 calibration noise (None: the training noise); chosen by benchmarks/int8_calibration.py
    # (benchmarks/results/int8_calibration_<folder>.json)
    calibration_noise: str | None = None
    # Keras layers kept float32 in the int8 file (selective quantization), chosen the same way
    float_layers: tuple = ()


# the 4-hour gray DN-ResNet-13 is the color model's frozen, then fine-tuned, luminance network
DN_4H = str(Path(DN_4H_FINAL).parent)
COLOR_4H = "benchmarks/saved_runs/color-opponent-blind-fast-4h"
# The color model's int8 file keeps in float32: the fixed color transforms, concatenations and
# residual additions (their outputs span the image range; no compute to speak of), the layers that
# read or write image values (first and last convolutions), and the luminance network's wide conv2
# and residual-branch convolutions, whose outputs' int8 range is ~70 standard deviations wide:
# 46 % of the multiply-adds stay float.  Without conv2, the int8 file lost 0.10 dB at sigma 15 on
# 16 images (0.12 on CBSD68); without the res*_conv2, 0.13.  Measured set by set in
# int8_calibration_color_blind.json.
COLOR_FLOAT_LAYERS = (
    ("to_luminance", "to_chroma", "guide", "residual_add", "restored_opponent", "to_rgb",
     "output", "chroma_correction", "conv1", "chroma_down", "chroma_head")
    + tuple(f"res{i}_add" for i in range(1, 6)) + tuple(f"chroma_res{i}_add" for i in range(1, 9))
    + tuple(f"res{i}_conv2" for i in range(1, 6)) + ("conv2",))
# The gray DS model's int8 file keeps in float32 the layers that read or write image values (the
# first and last convolutions: 9 % of its multiply-adds) and the residual addition; keeping conv2
# too would halve the int8 loss again, but it holds 80 % of the multiply-adds
# (int8_calibration_ds_dnresnet13_blind.json).
DS_FLOAT_LAYERS = ("residual_add", "output", "conv1")
# The gray DN-ResNet-13 keeps its conv2 float too (a third of its multiply-adds): with the DS set it
# lost 0.093 dB at sigma 15 on 16 images (0.102 on BSD68), with conv2 0.079, all int8 0.109
# (int8_calibration_dnresnet13_blind.json).
DN_FLOAT_LAYERS = DS_FLOAT_LAYERS + ("conv2",)
SHIPPED = (
    Shipped("ds_dnresnet13_blind", "dsdnresnet13-blind-fast-4h", "DS-DN-ResNet-13, blind gray (Y) denoiser",
            "BSD68", "gray", "BM3D", "DnCNN-B", "savedmodel,tflite", "Train400",
            "beat BM3D at sigma 15, 25 and 50 with model.keras and the float32 TFLite; int8 within 0.1 dB",
            calibration_noise="gaussian:sigma=0..40", float_layers=DS_FLOAT_LAYERS),
    Shipped("dnresnet13_blind", "dnresnet13-blind-fast-4h", "DN-ResNet-13, blind gray (Y) denoiser",
            "BSD68", "gray", "BM3D", "DnCNN-B", "tflite", "Train400",
            "beat BM3D at sigma 15, 25 and 50, and be at least as good as the DS model",
            calibration_noise="gaussian:sigma=0..40", float_layers=DN_FLOAT_LAYERS),
    Shipped("color_blind", "color-opponent-blind-fast-4h-tuned", "Blind RGB denoiser",
            "CBSD68", "rgb", "CBM3D", "CDnCNN-B", "tflite", "CBSD432",
            "beat CBM3D at sigma 15, 25 and 50 with model.keras and the float32 TFLite; int8 within 0.1 dB",
            parents=(COLOR_4H,), components=(DN_4H,),
            calibration_noise="gaussian:sigma=0..40",
            float_layers=COLOR_FLOAT_LAYERS),
)
FILES = ("model.keras", "model_float32.tflite", "model_int8.tflite")


def noise(sigma) -> str:
    return f"gaussian:sigma={sigma}"


def resave(run: Path, dest: Path):
    """The run's final model without training state: a few hundred KB.  A file already holding
    the same weights is kept as it is (its measurements, cached by content, stay valid)."""
    import numpy as np

    from kerasdenoise.runtime import load_keras_model

    model = load_keras_model(run / "final.keras")
    if dest.exists():
        kept = load_keras_model(dest).get_weights()
        new = model.get_weights()
        if len(kept) == len(new) and all(np.array_equal(a, b) for a, b in zip(kept, new)):
            return
    dest.parent.mkdir(parents=True, exist_ok=True)
    model.save(dest)


def export(item: Shipped, run: Path, out: Path):
    # through the CLI, so the shipped files are what users' tools/export.py makes; the exporter
    # reads the training facts (noise, color, data) for model.json from the run's config.json;
    # the run's path relative to the repository, so model.json names it on every machine
    subprocess.run([sys.executable, str(ROOT / "tools" / "export.py"), "--model", relative(run / "final.keras"),
                    "--out", str(out), "--formats", item.formats, "--quantize", "none,int8",
                    "--calibration-dir", item.calibration, "--overwrite"]
                   + (["--calibration-noise", item.calibration_noise] if item.calibration_noise else [])
                   + (["--float-layers", ",".join(item.float_layers)] if item.float_layers else []),
                   check=True, cwd=ROOT)


def measure(item: Shipped, folder: Path) -> list[dict]:
    rows = []
    for sigma in SIGMAS:
        for file in FILES:
            path = folder / file
            # keyed by content: a re-shipped model under the same name is measured anew
            result = evaluate_cached(CACHE, f"{relative(path)}#{content_hash(path)}", str(path),
                                     item.test_set, noise(sigma), item.color)
            rows.append({"file": file, "sigma": sigma, **result})
            print(f"{item.folder:22s} {file:22s} sigma {sigma:2d}: {result['psnr']:.2f} dB "
                  f"(frame {result['psnr_frame']:.2f})", flush=True)
    return rows


def at_minutes(item: Shipped, runs: list[Path], minutes: float) -> dict | None:
    """The snapshot at or before ``minutes`` of the model's own runs (a chain, each started from the
    one before; minutes and steps count from the first), measured at every sigma whose evaluation is
    cached or whose snapshot file is still there (a kept run may have dropped early files)."""
    run, before = next(((run, before) for run, before in reversed(chained(runs))
                        if before["minutes"] <= minutes), (None, None))
    index_path = run / "snapshots" / "snapshots.json" if run else None
    if index_path is None or not index_path.exists():
        return None
    index = json.loads(index_path.read_text())
    steps = [int(s) for s in index if before["minutes"] + index[s]["minutes"] <= minutes + 0.5]
    if not steps:
        return None
    step = max(steps)
    path = run / "snapshots" / index[str(step)]["file"]
    key = f"{run.name}/snapshots/{path.name}"
    psnr = {}
    for sigma in SIGMAS:
        if path.exists():
            result = evaluate_cached(SNAPSHOT_CACHE, key, str(path), item.test_set, noise(sigma), item.color)
        else:
            result = cached_evaluation(SNAPSHOT_CACHE, key, noise(sigma), item.test_set, item.color)
        if result is not None:
            psnr[str(sigma)] = result["psnr"]
    return {"step": before["steps"] + step, "minutes": round(before["minutes"] + index[str(step)]["minutes"], 1),
            "psnr": psnr, "run": relative(run), "run_step": step}


def budget_of(item: Shipped, run: Path) -> dict:
    """Steps and minutes of ``run``, plus its parents' when it started from them."""
    if not item.parents and not item.components:
        return run_budget(run)
    runs = [ROOT / part for part in item.components + item.parents] + [run]
    return {**total_budget(runs), "parts": [{"run": relative(part), **run_budget(part)} for part in runs]}


def measured_network_baseline(name: str) -> dict:
    pattern = REFERENCE["measured_here"][name]
    out = {}
    for sigma in SIGMAS:
        path = ROOT / pattern.format(sigma=sigma)
        if path.exists():
            out[str(sigma)] = json.loads(path.read_text())["results"][0]["psnr"]
    return out


def verdicts(item: Shipped, rows: list[dict]) -> dict:
    baseline = REFERENCE["denoising"][item.baseline]["psnr"]

    def psnr(file, sigma):
        return next(r["psnr"] for r in rows if r["file"] == file and r["sigma"] == sigma)

    beats = {file: {str(s): round(psnr(file, s) - baseline[str(s)], 2) for s in SIGMAS}
             for file in FILES[:2]}
    int8 = {str(s): psnr("model_int8.tflite", s) - psnr("model_float32.tflite", s) for s in SIGMAS}
    # the verdicts read the unrounded differences: -0.102 is not "within 0.1 dB"
    return {
        "margin_over_" + item.baseline: beats,
        "beats_" + item.baseline: all(psnr(file, s) > baseline[str(s)] for file in FILES[:2] for s in SIGMAS),
        "int8_minus_float32": {s: round(v, 2) for s, v in int8.items()},
        "int8_within_0.1dB": all(abs(v) <= 0.1 for v in int8.values()),
    }


def parent_command(item: Shipped) -> str:
    lines = []
    for parent in item.components + item.parents:
        config = json.loads((ROOT / parent / "config.json").read_text())
        lines.append(f"kerasdenoise-train --config {config['name']} --out {parent}   # kept in the repository\n")
    return "".join(lines)


def parts_note(budget: dict) -> str:
    parts = budget.get("parts")
    if not parts:
        return ""
    return " in all: " + ", then ".join(f"`{p['run']}` {p['steps']} steps / {p['minutes']:.0f} min" for p in parts)


def ninety_note(mark) -> str:
    if mark is None:
        return "The 90-minute point: not measured."
    if mark.get("note"):
        return (f"The 90-minute point is the final model: {mark['note']} "
                f"({mark['minutes']} minutes, {mark['step']} steps).")
    counted = (f" (its step {mark['run_step']}; minutes and steps count the runs before it)"
               if mark.get("run_step", mark["step"]) != mark["step"] else "")
    return (f"The 90-minute point is the snapshot of `{mark['run']}` at {mark['minutes']} minutes "
            f"(step {mark['step']}){counted}, mid-schedule: the cosine spans the whole run (\"-\": not measured "
            "at that level).")


def int8_note(item: Shipped) -> str:
    noise = item.calibration_noise or "the training noise"
    kept = (f"; kept in float32 (the int8 error of each set: `benchmarks/results/int8_calibration_{item.folder}.json`;"
            f" the list is in `model.json`): {', '.join(f'`{n}`' for n in item.float_layers)}"
            if item.float_layers else "")
    return f"int8 calibration: 64 patches of {item.calibration} with {noise}{kept}."


def card(item: Shipped, run: Path, rows, stats, budget, mark, verdict) -> str:
    ref = REFERENCE["denoising"]
    classical, network = ref[item.baseline]["psnr"], ref[item.network_baseline]["psnr"]
    measured = measured_network_baseline(item.network_baseline)
    config = json.loads((run / "config.json").read_text())

    def cell(file, sigma):
        row = next(r for r in rows if r["file"] == file and r["sigma"] == sigma)
        return f"{row['psnr']:.2f} / {row['ssim']:.3f}"

    lines = [f"| sigma | input | model.keras | float32 TFLite | int8 TFLite | {item.baseline} (published) | "
             f"{item.network_baseline} (published; official weights here) | 90-min snapshot |",
             "|---|---|---|---|---|---|---|---|"]
    for sigma in SIGMAS:
        first = next(r for r in rows if r["sigma"] == sigma)
        snap = f"{mark['psnr'][str(sigma)]:.2f}" if mark and str(sigma) in mark["psnr"] else "-"
        lines.append(f"| {sigma} | {first['psnr_input']:.2f} | {cell('model.keras', sigma)} | "
                     f"{cell('model_float32.tflite', sigma)} | {cell('model_int8.tflite', sigma)} | "
                     f"{classical[str(sigma)]:.2f} | {network[str(sigma)]:.2f}; "
                     f"{measured.get(str(sigma), float('nan')):.2f} | {snap} |")
    frame = next(r for r in rows if r["file"] == "model_float32.tflite" and r["sigma"] == 25)
    margins = verdict["margin_over_" + item.baseline]
    return f"""# Model card: {item.title}

**What it is.** `{config['model']}` {json.dumps(config['model_kwargs'], sort_keys=True)}: {stats['weights']:,}
weights, {stats['macs'] / 1e9:.1f} G multiply-accumulates at 640x480. Input and output: float32 in [0, 1],
NHWC, any height and width, {'one channel (gray, or Y of YCbCr)' if item.color == 'gray' else 'RGB'};
the model returns input + predicted correction; clip the output. `model.json` holds the same facts for programs.

**Files.** {', '.join(f'`{f}`' for f in FILES)}, {'`saved_model/`, ' if 'savedmodel' in item.formats else ''}`model.json`.

**How it was made** (from the repository root, with `../shared/data`):
```bash
{parent_command(item)}kerasdenoise-train --config {item.preset}     # resumable: add --resume after an interruption
python benchmarks/ship_models.py --only {item.folder}
```
- Data: {config['train_data']} ({config['color']}), {config['patch_size']}x{config['patch_size']} patches
  with the 8 flips / rotations, batch {config['batch_size']}.
- Noise: `{config['noise']}` (blind; sigma on 0-255, one range member per patch).
- Recipe `{config['recipe']}`: {config['description']}
- Budget: {budget['steps']} steps, {budget['minutes']:.0f} minutes of the 2-core CPU{parts_note(budget)}.

**How good it is** (`tools/evaluate.py` protocol: {item.test_set}, {item.color}, seed 0, noise not clipped,
output clipped, 8-bit PSNR dB / SSIM; `benchmarks/results/shipped.json`):

{chr(10).join(lines)}

- Target: {item.target_note}. Margin over {item.baseline} (dB): model.keras {margins['model.keras']},
  float32 TFLite {margins['model_float32.tflite']}: **{'met' if verdict['beats_' + item.baseline] else 'missed'}**.
  int8 minus float32: {verdict['int8_minus_float32']}: **{'met' if verdict['int8_within_0.1dB'] else 'missed'}**.
  {int8_note(item)}
- Border: at sigma 25 the outer 8-pixel frame scores {frame['psnr_frame']:.2f} dB against {frame['psnr']:.2f} dB
  for the whole image (inference pads by reflection).
- {ninety_note(mark)}
"""


def ship(item: Shipped) -> dict | None:
    from kerasdenoise import models
    from kerasdenoise.runtime import load_keras_model

    run = finished_run(item.preset)
    if not (run / "final.keras").exists():
        print(f"skipping {item.folder}: {run / 'final.keras'} does not exist (train: "
              f"python tools/train.py --config {item.preset})")
        return None
    folder = EXPORTED / item.folder
    resave(run, folder / "model.keras")
    export(item, run, folder)
    rows = measure(item, folder)
    stats = models.stats(load_keras_model(folder / "model.keras"))
    budget = budget_of(item, run)
    own_runs = [ROOT / parent for parent in item.parents] + [run]
    own = total_budget(own_runs)
    mark = at_minutes(item, own_runs, MARK_MINUTES) if own["minutes"] > MARK_MINUTES else {
        # the model's own runs (not its frozen components') ended before the mark: its 90-minute
        # point is its final model
        "step": own["steps"], "minutes": own["minutes"], "run": relative(run),
        "psnr": {str(r["sigma"]): r["psnr"] for r in rows if r["file"] == "model.keras"},
        "note": "the model's own runs ended before 90 minutes (frozen components not counted)"}
    verdict = verdicts(item, rows)
    (folder / "MODEL_CARD.md").write_text(card(item, run, rows, stats, budget, mark, verdict))
    return {"folder": item.folder, "preset": item.preset, "run": relative(run), "budget": budget,
            "weights": stats["weights"], "macs_640x480": stats["macs"], "rows": rows,
            "at_90_minutes": mark, **verdict}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=[s.folder for s in SHIPPED], help="ship only these")
    args = parser.parse_args(argv)
    path = RESULTS / "shipped.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    shipped = {k: v for k, v in previous.get("models", {}).items()}
    for item in SHIPPED:
        if args.only and item.folder not in args.only:
            continue
        result = ship(item)
        if result is not None:
            shipped[item.folder] = result
    path.write_text(json.dumps({"command": "python benchmarks/ship_models.py",
                                "protocol": "tools/evaluate.py, seed 0", "models": shipped}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
