"""Evaluate a denoiser on a test set with the published DnCNN / BM3D protocol.

  kerasdenoise-evaluate --model dncnn-official:../shared/data/reference_models/dncnn/sigma=25.mat \\
      --test-dir BSD68 --noise gaussian:sigma=25 --color gray --json out.json
  kerasdenoise-evaluate --model runs/demo/final.keras --test-dir ~/photos --noise gaussian:sigma=15 \\
      --noise gaussian:sigma=25 --color rgb --save-images out_images/
  kerasdenoise-evaluate --model bm3d --test-dir BSD68 --noise gaussian:sigma=25 --color gray

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


def _existing_ancestor(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def _output_problem(args):
    """What is wrong with --json / --save-images, found before the (slow) evaluation."""
    if args.json:
        if os.path.isdir(args.json):
            return (f"--json {args.json} is a folder; give the report's file name, e.g. "
                    f"{os.path.join(args.json, 'report.json')}")
        ancestor = _existing_ancestor(os.path.dirname(os.path.abspath(args.json)))
        if not os.path.isdir(ancestor):
            return f"--json {args.json}: {ancestor} is a file, not a folder"
        if not os.access(ancestor, os.W_OK):
            return f"--json {args.json}: cannot write in {ancestor}"
    if args.save_images:
        ancestor = _existing_ancestor(args.save_images)
        if not os.path.isdir(ancestor):
            return f"--save-images {args.save_images}: {ancestor} is a file, not a folder"
    if args.tile < 1 or args.overlap < 0 or args.tile <= 2 * args.overlap:
        return (f"--tile {args.tile} / --overlap {args.overlap}: need overlap >= 0 and tile > "
                f"2 x overlap")
    return None


def main(argv=None) -> int:
    from kerasdenoise.degrade import spec_help

    parser = argparse.ArgumentParser(
        prog="kerasdenoise-evaluate", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="model SPEC (see above)")
    parser.add_argument(
        "--test-dir", required=True, help="folder of test images or a set name (e.g. BSD68)"
    )
    parser.add_argument(
        "--noise", action="append", required=True, metavar="SPEC",
        help="degradation spec, e.g. gaussian:sigma=25 or jpeg:quality=10 (repeatable); "
             + spec_help().replace("%", "%%"),
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

    problem = _output_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    from kerasdenoise.evaluation import evaluate, format_table
    from kerasdenoise.runtime import ChannelMismatchError, load_denoiser

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
    except ChannelMismatchError as err:
        if (err.model_channels, err.image_channels) == (3, 1):
            print(f"error: {err.name} is a color (3-channel) model but --color {args.color} reads "
                  f"the images as 1-channel: pass --color rgb", file=sys.stderr)
        else:
            print(f"error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, NotADirectoryError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report["command"] = shlex.join(["kerasdenoise-evaluate", *(sys.argv[1:] if argv is None else argv)])
    print(format_table(report))
    for result in report["results"]:
        for note in result["notes"]:
            print(f"note ({result['noise']}): {note}")
    if args.json:
        from kerasdenoise.data.io import write_bytes_atomic

        folder = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(folder, exist_ok=True)
        write_bytes_atomic(args.json, json.dumps(report, indent=2).encode())
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
