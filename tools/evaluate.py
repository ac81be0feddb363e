#!/usr/bin/env python
"""Evaluate a denoiser on a test set with the published DnCNN / BM3D protocol.

  python tools/evaluate.py --model dncnn-official:../shared/data/reference_models/dncnn/sigma=25.mat \\
      --test-dir BSD68 --noise gaussian:sigma=25 --color gray --json out.json
  python tools/evaluate.py --model runs/demo/final.keras --test-dir ~/photos --noise gaussian:sigma=15 \\
      --noise gaussian:sigma=25 --color rgb --save-images out_images/
  python tools/evaluate.py --model bm3d --test-dir BSD68 --noise gaussian:sigma=25 --color gray

Model SPEC: a .keras file, a SavedModel folder, a .tflite file, dncnn-official:PATH.mat, bm3d or
identity.  Test set: a folder of images or a set name (BSD68, CBSD68, Set12, LIVE1, classic5,
skimage-test, ...).  Noise levels are on the 0-255 scale.  Noise is drawn from a fixed seed per
image, is not clipped; outputs are clipped to [0, 1]; PSNR / SSIM on 8-bit images.
"""
import argparse
import json
import os
import shlex
import sys

import _bootstrap  # noqa: F401  (repo root on sys.path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model SPEC (see above)")
    parser.add_argument(
        "--test-dir", required=True, help="folder of test images or a set name (e.g. BSD68)"
    )
    parser.add_argument(
        "--noise", action="append", required=True, metavar="SPEC",
        help="degradation spec, e.g. gaussian:sigma=25 or jpeg:quality=10 (repeatable)",
    )
    parser.add_argument("--color", choices=("gray", "rgb", "y"), default="gray",
                        help="evaluate gray, RGB or the Y channel of RGB images (default gray)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--json", help="write the full report (per image too) to this JSON file")
    parser.add_argument("--save-images", metavar="DIR", help="write denoised and noisy images here")
    parser.add_argument("--tile", type=int, default=512, help="tile size for network inference (default 512)")
    parser.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (default 32)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from kerasdenoise.evaluation import evaluate, format_table
    from kerasdenoise.inference import load_denoiser

    try:
        denoiser = load_denoiser(args.model, tile=args.tile, overlap=args.overlap)
        report = evaluate(
            denoiser,
            args.test_dir,
            args.noise,
            color=args.color,
            seed=args.seed,
            save_images=args.save_images,
            progress=not args.quiet,
        )
    except (FileNotFoundError, NotADirectoryError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report["command"] = " ".join(
        shlex.quote(a) for a in ["python", os.path.relpath(os.path.abspath(__file__), _bootstrap.ROOT)] + list(sys.argv[1:] if argv is None else argv)
    )
    print(format_table(report))
    for result in report["results"]:
        for note in result["notes"]:
            print(f"note ({result['noise']}): {note}")
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(folder, exist_ok=True)
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
