"""The evaluation protocol of the published DnCNN / BM3D tables, behind ``tools/evaluate.py``.

For every noise spec and every image of the set:

1. the clean image in [0, 1] as an 8-bit image: gray files as they are, ``"rgb"`` the RGB
   image, ``"y"`` the Y channel of MATLAB ``rgb2ycbcr`` rounded to 8 bit (MATLAB returns uint8
   Y for uint8 images, and the published JPEG-deblocking and Y-channel numbers start from it);
2. the degradation (``kerasdenoise.degrade.from_spec``) drawn with a fixed seed per
   ``(seed, image index)`` (``data.pipeline.degrade_for_eval``), so any subset or order of
   images gets the same noise; Gaussian noise is *not* clipped, and JPEG compression is applied
   to the 8-bit image in the asked color space (the Y channel for ``"y"``, as the DnCNN-3
   demo's ``imwrite`` of the Y channel);
3. the denoiser's output clipped to [0, 1];
4. PSNR / SSIM (``kerasdenoise.metrics``) after quantizing both images to 8 bit, like
   MATLAB's ``im2uint8`` before ``Cal_PSNRSSIM``.

Noise realizations differ from MATLAB's ``randn``, so per-set means can differ from the
published ones by a few hundredths of a dB.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from kerasdenoise import metrics

COLORS = ("gray", "rgb", "y")
FRAME_WIDTH = 8  # pixels of the border frame measured apart (``psnr_frame``)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_") or "noise"


def _as_list(notes) -> list[str]:
    if not notes:
        return []
    if isinstance(notes, str):
        return [notes]
    return [str(n) for n in notes]


def load_clean_images(image_set, color: str) -> list[np.ndarray]:
    """The set's images as 8-bit-valued float32 ``[H, W, C]`` arrays in ``color`` (step 1)."""
    return [
        metrics.quantize_8bit(image).astype(np.float32) for image in image_set.load(color)
    ]


def evaluate(
    denoiser,
    image_set,
    noise_specs: Sequence[str],
    color: str = "gray",
    seed: int = 0,
    save_images: Optional[str] = None,
    progress: bool = True,
) -> dict:
    """Measure ``denoiser`` on ``image_set`` for each of ``noise_specs`` (protocol above).

    ``denoiser``: a :class:`kerasdenoise.runtime.Denoiser` or a model SPEC string;
    ``image_set``: an ``ImageSet`` or a set name / folder for ``data.discovery.image_set``;
    ``color``: ``"gray"``, ``"rgb"`` or ``"y"``; ``save_images``: a folder to write the
    restored and degraded images to (``<folder>/<noise>/<name>_denoised.png`` / ``_noisy.png``);
    ``progress``: a bar on stderr, shown only when stderr is a terminal (logs stay clean).

    Returns ``{"model", "dataset", "color", "seed", "results": [{"noise", "psnr", "ssim",
    "psnr_input", "psnr_frame", "n_images", "seconds", "per_image": [{"name", "psnr", "ssim",
    "psnr_input", "psnr_frame"}], "notes"}]}``; ``psnr`` / ``ssim`` are means over the images,
    ``psnr_input`` the mean PSNR of the degraded input, ``psnr_frame`` that of the outer
    :data:`FRAME_WIDTH`-pixel frame of the output, ``seconds`` the time spent in the denoiser.
    """
    from tqdm.auto import tqdm

    from kerasdenoise.data import discovery, io
    from kerasdenoise.data.pipeline import degrade_for_eval
    from kerasdenoise.degrade import from_spec
    from kerasdenoise.runtime import load_denoiser

    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, got {color!r}")
    if isinstance(noise_specs, str):
        noise_specs = [noise_specs]
    if not noise_specs:
        raise ValueError("give at least one noise spec (e.g. 'gaussian:sigma=25')")
    # Parse every spec before the (slow) runs, so a typo in the last one fails at once.
    degradations = [from_spec(spec) for spec in noise_specs]
    if isinstance(denoiser, str):
        denoiser = load_denoiser(denoiser)
    if isinstance(image_set, (str, Path)):
        image_set = discovery.image_set(image_set)
    names = image_set.names()
    clean_images = load_clean_images(image_set, color)
    if not clean_images:
        raise ValueError(f"image set {image_set.name!r} holds no images")

    report = {
        "model": denoiser.name,
        "dataset": image_set.name,
        "dataset_source": str(getattr(image_set, "source", "")),
        "color": color,
        "seed": int(seed),
        "results": [],
    }
    for spec, degradation in zip(noise_specs, degradations):
        denoiser.set_noise(spec)
        notes = _as_list(getattr(degradation, "notes", None))
        notes += _as_list(getattr(denoiser, "notes", None))
        notes += denoiser.describe_color(clean_images[0].shape[-1])
        tiling_warnings = getattr(denoiser, "tiling_warnings", None)
        for shape in {image.shape for image in clean_images} if tiling_warnings else ():
            notes += [w for w in tiling_warnings(shape) if w not in notes]
        per_image = []
        seconds = 0.0
        out_dir = Path(save_images) / _slug(spec) if save_images else None
        bar = tqdm(
            total=len(clean_images),
            desc=f"{denoiser.name} {spec}",
            disable=None if progress else True,  # None: off when stderr is not a terminal
            unit="img",
            leave=False,
        )
        for index, (name, clean) in enumerate(zip(names, clean_images)):
            noisy = degrade_for_eval(clean, degradation, seed, index)
            start = time.perf_counter()
            restored = denoiser(noisy)
            seconds += time.perf_counter() - start
            entry = {
                "name": name,
                "psnr": metrics.psnr(clean, restored),
                "ssim": metrics.ssim(clean, restored),
                "psnr_input": metrics.psnr(clean, noisy),
                "psnr_frame": metrics.frame_psnr(clean, restored, FRAME_WIDTH),
            }
            per_image.append(entry)
            if out_dir is not None:
                io.write_image(out_dir / f"{name}_denoised.png", restored)
                io.write_image(out_dir / f"{name}_noisy.png", noisy)
            bar.update(1)
            bar.set_postfix(psnr=f"{np.mean([e['psnr'] for e in per_image]):.2f}")
        bar.close()
        report["results"].append(
            {
                "noise": spec,
                "psnr": float(np.mean([e["psnr"] for e in per_image])),
                "ssim": float(np.mean([e["ssim"] for e in per_image])),
                "psnr_input": float(np.mean([e["psnr_input"] for e in per_image])),
                "psnr_frame": float(np.mean([e["psnr_frame"] for e in per_image])),
                "n_images": len(per_image),
                "seconds": round(seconds, 3),
                "per_image": per_image,
                "notes": notes,
            }
        )
    return report


def format_table(report: dict) -> str:
    """A plain-text table of a report's per-noise means."""
    header = f"{'noise':32s} {'PSNR':>8s} {'SSIM':>7s} {'input':>8s} {'n':>4s} {'s/img':>7s}"
    lines = [
        f"model {report['model']} on {report['dataset']} ({report['color']}, seed {report['seed']})",
        header,
        "-" * len(header),
    ]
    for result in report["results"]:
        per = result["seconds"] / max(result["n_images"], 1)
        lines.append(
            f"{result['noise']:32s} {result['psnr']:8.2f} {result['ssim']:7.4f} "
            f"{result['psnr_input']:8.2f} {result['n_images']:4d} {per:7.2f}"
        )
    return "\n".join(lines)
