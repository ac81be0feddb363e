#!/usr/bin/env python
"""Denoise your own images with a trained or official model.

  python tools/denoise.py photo.jpg scans/ -o denoised/          # the shipped blind models
  python tools/denoise.py photo.png --model runs/demo/final.keras -o denoised/
  python tools/denoise.py img.tif --model dncnn-official:../shared/data/reference_models/dncnn/GD_Color_Blind.mat -o out/
  python tools/denoise.py noisy.png --model bm3d --noise gaussian:sigma=25 -o out/

INPUT: image files and/or folders of images (PNG, JPEG, BMP, TIFF; gray or color; 8 or 16 bit).
Each output keeps the input's name, bit depth and gray/color; JPEG inputs are written as PNG
(re-encoding as JPEG would add new artifacts).  A 1-channel model on a color image denoises
Y, Cb and Cr separately.  Large images are processed in overlapping tiles (--tile).
"""
import argparse
import os
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (repo root on sys.path)


def _file_format(path: Path):
    """(is_color, bit_depth) of an image file, read from its decoded pixels."""
    import cv2
    import numpy as np

    pixels = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ValueError(f"cannot read image {path}: not a readable image")
    is_color = pixels.ndim == 3 and pixels.shape[2] >= 3
    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    return is_color, bit_depth


def _collect_inputs(inputs):
    from kerasdenoise.data.discovery import IMAGE_EXTENSIONS, find_images

    files = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            files.extend(find_images(path))
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(
                    f"{path} is not an image file (accepted extensions: {' '.join(IMAGE_EXTENSIONS)})"
                )
            files.append(path)
        else:
            raise FileNotFoundError(f"input not found: {path}")
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument("--model", default="shipped",
                        help="model SPEC: .keras, SavedModel folder, .tflite, dncnn-official:PATH.mat, bm3d, "
                             "identity, shipped:NAME, or shipped (default: the shipped blind models, "
                             "the color one for color images)")
    parser.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    parser.add_argument("--noise", metavar="SPEC",
                        help="noise in the images, for models that need it (bm3d): gaussian:sigma=S")
    parser.add_argument("--tile", type=int, default=512, help="tile size in pixels (default 512)")
    parser.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (default 32)")
    args = parser.parse_args(argv)

    from tqdm.auto import tqdm

    from kerasdenoise.data.io import read_image, write_image
    from kerasdenoise.inference import load_denoiser

    try:
        files = _collect_inputs(args.inputs)
        denoiser = load_denoiser(args.model, tile=args.tile, overlap=args.overlap)
        if args.noise:
            denoiser.set_noise(args.noise)
        out_dir = Path(args.out)
        written = []
        for path in tqdm(files, desc=denoiser.name, unit="img", disable=len(files) < 2):
            is_color, bit_depth = _file_format(path)
            image = read_image(path, "rgb" if is_color else "gray")
            restored = denoiser(image)
            extension = path.suffix.lower()
            if extension in (".jpg", ".jpeg"):
                extension = ".png"
            if bit_depth == 16 and extension not in (".png", ".tif", ".tiff"):
                extension = ".png"
            target = out_dir / (path.stem + extension)
            written.append(write_image(target, restored, bit_depth=bit_depth))
    except (FileNotFoundError, NotADirectoryError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for target in written:
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
