#!/usr/bin/env python
"""The `make demo` job: train the `demo` preset on the embedded scikit-image photos, measure it
against the noisy input and BM3D, and write a before/after PNG and a PSNR table.

  python tools/demo.py --out demo_out            # ~3-4 minutes on 2 CPU cores
  python tools/demo.py --out demo_out --no-bm3d  # skip the (slow) classical baseline

Everything lands in --out: the training run (`run/`, resumable), `psnr_table.md` / `.json`,
and `before_after.png`.  The shipped TFLite models in exported_models/ are measured beside them:
the gray ones (DS-DN-ResNet-13, DN-ResNet-13) on the gray photos, and the color one against CBM3D on center crops of the color
photos.  BM3D / CBM3D are given the true sigma; the shipped models are blind.  Where the shared data
holds the official DnCNN-B / CDnCNN-B weights, they are measured too (not drawn in the PNG).  The table ends with the
shipped models' numbers on the reference sets (BSD68 / CBSD68), read from
benchmarks/results/shipped.json (measured by benchmarks/ship_models.py), beside BM3D / CBM3D there.
"""
import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the output

SHIPPED = Path(__file__).resolve().parents[1] / "exported_models"
SHIPPED_GRAY = SHIPPED / "ds_dnresnet13_blind" / "model_float32.tflite"
SHIPPED_GRAY_DN = SHIPPED / "dnresnet13_blind" / "model_float32.tflite"
SHIPPED_COLOR = SHIPPED / "color_blind" / "model_float32.tflite"
NOISE = "gaussian:sigma=25"
COLOR_PHOTOS = ("coffee", "rocket")  # the color photos of skimage-test
COLOR_CROP = 256  # CBM3D is slow: center crops keep the demo short
NOTE = ("BM3D / CBM3D are told the true sigma; the shipped models are blind (one model for sigma 0-55). "
        "The bundled photos are few, large and smooth, where BM3D's non-local matching is strongest; "
        "the models' targets are set on the reference sets below.")
# The official DnCNN-B / CDnCNN-B weights, measured beside the shipped models where the shared data
# holds them: how far a network that beats BM3D on the reference sets is ahead on these photos.
OFFICIAL = {"gray": ("DnCNN-B (official weights)", "GD_Gray_Blind.mat"),
            "rgb": ("CDnCNN-B (official weights)", "GD_Color_Blind.mat")}


def official_dncnn(color: str) -> list[tuple[str, str]]:
    """``[(label, model spec)]`` of the official DnCNN model for ``color``; [] without the shared data."""
    from kerasdenoise.data.discovery import shared_data_dir

    data = shared_data_dir()
    label, name = OFFICIAL[color]
    path = data / "reference_models" / "dncnn" / name if data else None
    return [(label, f"dncnn-official:{path}")] if path and path.is_file() else []


class CenterCrops:
    """An image set of center crops of scikit-image photos (what ``evaluate`` needs of a set)."""

    def __init__(self, names, size):
        from kerasdenoise.data.discovery import image_set

        self.name = f"skimage {'+'.join(names)} ({size}x{size} center crops)"
        self.source = "scikit-image"
        self._set = image_set("skimage-test")
        self._set.items = list(names)
        self.size = size

    def names(self):
        return self._set.names()

    def load(self, color):
        crops = []
        for image in self._set.load(color):
            top, left = (image.shape[0] - self.size) // 2, (image.shape[1] - self.size) // 2
            crops.append(image[top:top + self.size, left:left + self.size])
        return crops


def reference_set_table() -> str:
    """The shipped models on the reference sets, as ``benchmarks/ship_models.py`` measured them
    (float32 TFLite, seed 0), beside the classical baseline there; "" without the results file."""
    root = SHIPPED.parent
    shipped_file = root / "benchmarks" / "results" / "shipped.json"
    if not shipped_file.exists():
        return ""
    shipped = json.loads(shipped_file.read_text())["models"]
    published = json.loads((root / "benchmarks" / "reference_numbers.json").read_text())["denoising"]
    lines = ["Reference sets (BSD68 gray, CBSD68 color; all 68 images), float32 TFLite, measured by "
             "`python benchmarks/ship_models.py` (benchmarks/results/shipped.json):", "",
             "| model | set | sigma 15 | sigma 25 | sigma 50 |", "|---|---|---|---|---|"]
    baselines = {}
    for folder, item in shipped.items():
        rows = {r["sigma"]: r for r in item["rows"] if r["file"] == "model_float32.tflite"}
        baseline = next(key.split("_", 2)[2] for key in item if key.startswith("margin_over_"))
        test_set = rows[15]["dataset"]
        baselines[baseline] = test_set
        lines.append(f"| shipped {folder} | {test_set} | "
                     + " | ".join(f"{rows[s]['psnr']:.2f}" for s in (15, 25, 50)) + " |")
    for name, test_set in baselines.items():
        lines.append(f"| {name} (published) | {test_set} | "
                     + " | ".join(f"{published[name]['psnr'][str(s)]:.2f}" for s in (15, 25, 50)) + " |")
    return "\n".join(lines)


def train_demo(out: Path, steps=None):
    from kerasdenoise.training import configs
    from kerasdenoise.training.runner import read_state, train

    config = configs.get_preset("demo")
    if steps:
        config = config.replace(steps=steps)
    run = out / "run"
    state = read_state(run)
    if state and state["step"] >= config.steps and (run / "final.keras").exists():
        print(f"demo model already trained ({run / 'final.keras'})")
        return run / "final.keras"
    result = train(config, run, resume=state is not None)
    return result.out_dir / "final.keras"


def before_after_png(path: Path, rows, title):
    """rows: list of (label, image [H,W,1] in [0,1], psnr or None)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3.6))
    for ax, (label, image, psnr) in zip(axes, rows):
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
        ax.set_title(label if psnr is None else f"{label}\n{psnr:.2f} dB", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9))  # leave room for the suptitle above the panel titles
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_out", help="output folder")
    parser.add_argument("--steps", type=int, help="training steps (default: the demo preset's)")
    parser.add_argument("--no-bm3d", action="store_true", help="skip the BM3D baseline")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from kerasdenoise.data.discovery import image_set
    from kerasdenoise.data.pipeline import degrade_for_eval
    from kerasdenoise.evaluation import evaluate, load_clean_images
    from kerasdenoise.runtime import load_denoiser
    from kerasdenoise.metrics import psnr

    model_path = train_demo(out, args.steps)
    test_set = image_set("skimage-test")
    candidates = [("noisy input", "identity"), ("demo DnCNN (trained above)", str(model_path))]
    if not args.no_bm3d:
        candidates.append(("BM3D", "bm3d"))
    if SHIPPED_GRAY.exists():
        candidates.append(("shipped DS-DN-ResNet-13 (TFLite)", str(SHIPPED_GRAY)))
    if SHIPPED_GRAY_DN.exists():
        candidates.append(("shipped DN-ResNet-13 (TFLite)", str(SHIPPED_GRAY_DN)))
    tables = [(f"Gray denoising, {NOISE}, scikit-image test photos ({', '.join(test_set.names())}), "
               "seed 0.", test_set, "gray", candidates + official_dncnn("gray"))]
    if SHIPPED_COLOR.exists():
        color_set = CenterCrops(COLOR_PHOTOS, COLOR_CROP)
        color_candidates = [("noisy input", "identity")]
        if not args.no_bm3d:
            color_candidates.append(("CBM3D", "bm3d"))
        if SHIPPED_GRAY.exists():
            color_candidates.append(("shipped gray model on Y, Cb, Cr (TFLite)", str(SHIPPED_GRAY)))
        color_candidates.append(("shipped color model (TFLite)", str(SHIPPED_COLOR)))
        color_candidates += official_dncnn("rgb")
        tables.append((f"Color denoising, {NOISE}, {color_set.name}, seed 0.", color_set, "rgb",
                       color_candidates))

    reports, text, margins = [], [], []
    for title, images, color, models in tables:
        measured = {}
        lines = [title, "", "| model | PSNR (dB) | SSIM | border frame PSNR (dB) |", "|---|---|---|---|"]
        for label, spec in models:
            report = evaluate(spec, images, [NOISE], color=color, seed=0, progress=False)
            result = report["results"][0]
            reports.append({"label": label, **report})
            lines.append(f"| {label} | {result['psnr']:.2f} | {result['ssim']:.4f} | "
                         f"{result['psnr_frame']:.2f} |")
            print(f"{color:4s} {label:42s} PSNR {result['psnr']:.2f} dB  SSIM {result['ssim']:.4f}")
            measured[label] = result["psnr"]
        text.append("\n".join(lines))
        baseline = next((b for b in ("BM3D", "CBM3D") if b in measured), None)
        margins += [f"{label}: {psnr - measured[baseline]:+.2f} dB against {baseline} on these photos"
                    for label, psnr in measured.items()
                    if baseline and (label.startswith("shipped") or "official" in label)]
    if margins:
        text.append("\n".join(f"- {m}" for m in margins))
        print("\n" + "\n".join(margins))
    text.append(NOTE)
    print("\n" + NOTE)
    reference = reference_set_table()
    if reference:
        text.append(reference)
        print("\n" + reference)
    (out / "psnr_table.md").write_text("\n\n".join(text) + "\n")
    (out / "psnr_table.json").write_text(json.dumps(reports, indent=2))

    # Before / after on the cameraman.
    clean = load_clean_images(test_set, "gray")[0]
    noisy = degrade_for_eval(clean, NOISE, seed=0, index=0)
    rows = [("clean", clean, None), ("noisy", noisy.clip(0, 1), psnr(clean, noisy.clip(0, 1)))]
    for label, spec in candidates[1:]:
        denoiser = load_denoiser(spec)
        denoiser.set_noise(NOISE)
        restored = denoiser(noisy)
        rows.append((label, restored, psnr(clean, restored)))
    before_after_png(out / "before_after.png", rows, f"{test_set.names()[0]}, {NOISE}")
    print(f"wrote {out / 'psnr_table.md'} and {out / 'before_after.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
