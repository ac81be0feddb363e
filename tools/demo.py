#!/usr/bin/env python
"""The `make demo` job: train the `demo` preset on the embedded scikit-image photos, measure it
against the noisy input and BM3D, and write a before/after PNG and a PSNR table.

  python tools/demo.py --out demo_out            # ~3-4 minutes on 2 CPU cores
  python tools/demo.py --out demo_out --no-bm3d  # skip the (slow) classical baseline

Everything lands in --out: the training run (`run/`, resumable), `psnr_table.md` / `.json`,
and `before_after.png`.  When a shipped TFLite model exists in exported_models/, the demo ends
by denoising a sample image with it.
"""
import argparse
import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

SHIPPED_TFLITE = Path(_bootstrap.ROOT) / "exported_models" / "ds_dnresnet13_blind" / "model_float32.tflite"
NOISE = "gaussian:sigma=25"


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
    from kerasdenoise.inference import load_denoiser
    from kerasdenoise.metrics import psnr

    model_path = train_demo(out, args.steps)
    test_set = image_set("skimage-test")
    candidates = [("noisy input", "identity"), ("demo DnCNN (trained above)", str(model_path))]
    if not args.no_bm3d:
        candidates.append(("BM3D", "bm3d"))
    if SHIPPED_TFLITE.exists():
        candidates.append(("shipped DS-DN-ResNet-13 (TFLite)", str(SHIPPED_TFLITE)))

    reports, lines = [], ["| model | PSNR (dB) | SSIM |", "|---|---|---|"]
    for label, spec in candidates:
        report = evaluate(spec, test_set, [NOISE], color="gray", seed=0, progress=False)
        result = report["results"][0]
        reports.append({"label": label, **report})
        lines.append(f"| {label} | {result['psnr']:.2f} | {result['ssim']:.4f} |")
        print(f"{label:40s} PSNR {result['psnr']:.2f} dB  SSIM {result['ssim']:.4f}")
    header = (f"Gray denoising, {NOISE}, scikit-image test photos "
              f"({', '.join(test_set.names())}), seed 0.\n\n")
    (out / "psnr_table.md").write_text(header + "\n".join(lines) + "\n")
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
