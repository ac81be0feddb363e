"""Denoise your own images with a trained or official model.

  kerasdenoise-denoise photo.jpg scans/ -o denoised/          # the shipped blind models
  kerasdenoise-denoise photo.png --model runs/demo/final.keras -o denoised/
  kerasdenoise-denoise img.tif --model dncnn-official:../shared/data/reference_models/dncnn/GD_Color_Blind.mat -o out/
  kerasdenoise-denoise noisy.png --model bm3d --noise gaussian:sigma=25 -o out/

INPUT: image files and/or folders of images (PNG, JPEG, BMP, TIFF; gray or color; 8 or 16 bit;
with or without alpha).  Each output keeps the input's name, bit depth, gray/color and alpha
channel (passed through unchanged); JPEG inputs are written as PNG (re-encoding as JPEG would
add new artifacts).  A 1-channel model on a color image denoises Y, Cb and Cr separately; a
gray image stored as color (equal channels, gray palettes) stays gray.  Large images are
processed in overlapping tiles (--tile, --overlap).

Nothing is lost: no input is ever written over; an existing output is kept unless
--overwrite; inputs that would get the same output name (a/x.png and b/x.png) are written
under OUTDIR in the folders they have below their common folder (OUTDIR/a/x.png,
OUTDIR/b/x.png), and if even that does not keep them apart (y.jpg and y.png, both written as
PNG) nothing is done; every file is written to a temporary file and renamed.  An image that
cannot be read or denoised does not stop a batch: the others are written, then the failures
are listed.  Exit status: 0 all written, 1 some images failed, 2 nothing done (bad arguments).
"""
import argparse
import os
import sys
from pathlib import Path


LISTED = 5  # how many offending paths an error names


def _collect_inputs(inputs):
    """The image files named by ``inputs`` (files and folders), each once, in order."""
    from kerasdenoise.data.discovery import IMAGE_EXTENSIONS, find_images

    files, seen = [], set()
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = find_images(path)
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(
                    f"{path} is not an image file (accepted extensions: {' '.join(IMAGE_EXTENSIONS)})"
                )
            found = [path]
        else:
            raise FileNotFoundError(f"input not found: {path}")
        for file in found:
            key = os.path.normcase(os.path.realpath(file))
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files


def _output_name(path: Path) -> str:
    extension = path.suffix.lower()
    return path.stem + (".png" if extension in (".jpg", ".jpeg") else path.suffix)


def _duplicates(names):
    """Pairs of positions of ``names`` equal up to case (case-insensitive file systems)."""
    first, pairs = {}, []
    for index, name in enumerate(names):
        key = str(name).casefold()
        if key in first:
            pairs.append((first[key], index))
        else:
            first[key] = index
    return pairs


def _plan_outputs(files, out_dir: Path):
    """``(targets, note)``: one output path per input (see the module docstring), or
    ValueError naming inputs whose outputs cannot be kept apart."""
    names = [_output_name(path) for path in files]
    if not _duplicates(names):
        return [out_dir / name for name in names], None
    folders = [os.path.dirname(os.path.abspath(path)) for path in files]
    common = os.path.commonpath(folders)
    relative = [Path(os.path.relpath(folder, common)) / name for folder, name in zip(folders, names)]
    clashes = _duplicates(relative)
    if clashes:
        lines = [f"{files[a]} and {files[b]} would both be written as {out_dir / relative[a]}"
                 for a, b in clashes[:LISTED]]
        raise ValueError(
            "inputs would overwrite each other's output: " + "; ".join(lines)
            + "; denoise them in separate runs with different -o folders (nothing was written)"
        )
    a, b = _duplicates(names)[0]
    note = (f"inputs share file names ({files[a]}, {files[b]}): the outputs keep the folders "
            f"they have below {common} (e.g. {out_dir / relative[a]}, {out_dir / relative[b]})")
    return [out_dir / rel for rel in relative], note


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _check_targets(files, targets, overwrite: bool):
    """ValueError if an output would replace an input, is a folder, or exists (without
    ``overwrite``)."""
    inputs = {os.path.normcase(os.path.realpath(path)): path for path in files}
    for source, target in zip(files, targets):
        key = os.path.normcase(os.path.realpath(target))
        victim = inputs.get(key)
        if victim is None and target.exists():
            victim = next((path for path in files if _same_file(path, target)), None)
        if victim is not None:
            raise ValueError(
                f"the output for {source} would be {target}, which is the input {victim}; "
                f"choose another -o folder (inputs are never overwritten)"
            )
        if target.is_dir():
            raise ValueError(f"the output for {source} would be {target}, which is a folder")
    existing = [target for target in targets if target.exists()]
    if existing and not overwrite:
        shown = ", ".join(str(t) for t in existing[:LISTED])
        more = f" and {len(existing) - LISTED} more" if len(existing) > LISTED else ""
        raise ValueError(
            f"{len(existing)} output file(s) already exist: {shown}{more}; pass --overwrite to "
            f"replace them or choose another -o folder (nothing was written)"
        )


def _out_dir_problem(out: str):
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        return f"-o {out} is a file, not a folder; -o names the folder the outputs go to"
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"-o {out}: {ancestor} is a file, not a folder"
    return None


def _mismatch_message(err, path) -> str:
    if (err.model_channels, err.image_channels) == (3, 1):
        return (f"{path} is a gray image and {err.name} is a color (3-channel) model; denoise "
                f"gray images with a 1-channel model (--model shipped picks the gray one for "
                f"gray images)")
    return f"{path}: {err}"


def main(argv=None) -> int:
    from kerasdenoise.degrade import spec_help

    parser = argparse.ArgumentParser(
        prog="kerasdenoise-denoise", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument("--model", default="shipped",
                        help="model SPEC: .keras, SavedModel folder, .tflite, dncnn-official:PATH.mat, bm3d, "
                             "identity, shipped:NAME, or shipped (default: the shipped blind models, "
                             "the color one for color images)")
    parser.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace outputs that already exist (inputs are never replaced)")
    parser.add_argument("--noise", metavar="SPEC",
                        help="noise in the images, for models that need it (bm3d: its sigma); "
                             + spec_help().replace("%", "%%"))
    parser.add_argument("--tile", type=int, default=512, help="tile size in pixels (default 512)")
    parser.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (default 32)")
    args = parser.parse_args(argv)

    def refuse(message):
        print(f"error: {message}", file=sys.stderr)
        return 2

    problem = _out_dir_problem(args.out)
    if problem:
        return refuse(problem)
    if args.tile < 1 or args.overlap < 0 or args.tile <= 2 * args.overlap:
        return refuse(f"--tile {args.tile} / --overlap {args.overlap}: need overlap >= 0 and "
                      f"tile > 2 x overlap")

    from tqdm.auto import tqdm

    from kerasdenoise.data.io import read_image_file, write_image
    from kerasdenoise.degrade import from_spec
    from kerasdenoise.runtime import ChannelMismatchError, load_denoiser

    if args.noise is not None:
        try:
            from_spec(args.noise)
        except ValueError as err:
            return refuse(f"--noise {args.noise!r}: {err}")
    out_dir = Path(args.out).expanduser()
    try:
        files = _collect_inputs(args.inputs)
        targets, layout_note = _plan_outputs(files, out_dir)
        denoiser = load_denoiser(args.model, tile=args.tile, overlap=args.overlap)
        if args.noise is not None:
            denoiser.set_noise(args.noise)
        _check_targets(files, targets, args.overwrite)
    except (FileNotFoundError, NotADirectoryError, ValueError, ImportError, OSError) as err:
        return refuse(err)
    if denoiser.uses_noise and args.noise is None:
        return refuse(f"{denoiser.name} needs the noise level: pass --noise gaussian:sigma=S "
                      f"(0-255 scale)")
    if args.noise is not None and not denoiser.uses_noise:
        print(f"note: --noise {args.noise} is not used: {denoiser.name} does not take a noise "
              f"level (a network is blind or trained for its own levels)", file=sys.stderr)
    if layout_note:
        print(f"note: {layout_note}", file=sys.stderr)

    written, failures, warned = [], [], set()
    for path, target in tqdm(list(zip(files, targets)), desc=denoiser.name, unit="img",
                             disable=True if len(files) < 2 else None):  # None: off when piped
        try:
            stored = read_image_file(path)
            for warning in denoiser.tiling_warnings(stored.image.shape):
                if warning not in warned:
                    warned.add(warning)
                    print(f"warning: {warning}", file=sys.stderr)
            restored = denoiser(stored.image)
            written.append(write_image(target, restored, bit_depth=stored.bit_depth,
                                       alpha=stored.alpha))
        except ChannelMismatchError as err:
            failures.append(_mismatch_message(err, path))
        except (FileNotFoundError, ValueError, OSError) as err:
            message = str(err)
            failures.append(message if str(path) in message else f"{path}: {message}")
    for target in written:
        print(target)
    if failures:
        print(f"error: {len(failures)} of {len(files)} images failed (the others were written):",
              file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
