"""Model SPEC -> a :class:`~kerasdenoise.runtime.denoisers.Denoiser` you call on one image.

A SPEC is one of (see :data:`SPEC_FORMS`)::

    runs/x/final.keras            a Keras model file (.keras, or legacy .h5)
    exported/x/saved_model/       a TensorFlow SavedModel folder (holds saved_model.pb)
    exported/x.tflite             a TFLite flat buffer, run with ai-edge-litert
    dncnn-official:PATH.mat       the official DnCNN MatConvNet weights (see models.dncnn)
    bm3d                          BM3D / CBM3D (the ``bm3d`` package); needs the noise level
    bm3d:sigma=S                  BM3D / CBM3D told sigma S (0-255) whatever the noise spec
    median, median:K              K x K median filter per channel (K 3 or 5; default 3)
    identity                      returns its input (a baseline: the PSNR of the noisy image)
    shipped                       the shipped blind models (exported_models/): the gray one for
                                  gray images, the color one for color images
    shipped:NAME                  one shipped model folder, e.g. shipped:ds_dnresnet13_blind
"""
from __future__ import annotations

import os
from typing import Optional

from kerasdenoise.runtime.backends import (
    denoiser_from_keras, load_keras_file, load_saved_model, load_tflite,
)
from kerasdenoise.runtime.denoisers import (
    BM3DDenoiser, ByChannelsDenoiser, Denoiser, IdentityDenoiser, MedianDenoiser,
)

SPEC_FORMS = (
    "PATH.keras (Keras model file; .h5 also read)",
    "PATH/ (SavedModel folder with saved_model.pb)",
    "PATH.tflite (TFLite model)",
    "dncnn-official:PATH.mat (official DnCNN MatConvNet weights)",
    "bm3d (BM3D / CBM3D; the noise level comes from the noise spec)",
    "bm3d:sigma=S (BM3D / CBM3D told sigma S on the 0-255 scale)",
    "median or median:K (K x K median filter, K 3 or 5)",
    "identity (returns the input)",
    "shipped (the shipped gray / color models, chosen by the image) or shipped:NAME",
)
SHIPPED_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "exported_models")
SHIPPED_GRAY, SHIPPED_COLOR = "ds_dnresnet13_blind", "color_blind"
SHIPPED_FILE = "model_float32.tflite"
RECEPTIVE_PROBE_LIMIT = 64  # pixels: how far NetworkDenoiser.receptive_radius looks
_MODEL_FILE_EXTENSIONS = (".keras", ".h5", ".tflite", ".mat")


def _forms() -> str:
    return "; ".join(SPEC_FORMS)


def _load_shipped(name: Optional[str], tile: int, overlap: int) -> Denoiser:
    def load(folder):
        path = os.path.join(SHIPPED_DIR, folder, SHIPPED_FILE)
        if not os.path.isfile(path):
            available = sorted(d for d in os.listdir(SHIPPED_DIR)
                               if os.path.isfile(os.path.join(SHIPPED_DIR, d, SHIPPED_FILE))) \
                if os.path.isdir(SHIPPED_DIR) else []
            raise FileNotFoundError(
                f"shipped model {folder!r} not found: no {path}; shipped models here: "
                f"{', '.join(available) or 'none'} (make them with benchmarks/ship_models.py)")
        denoiser = load_tflite(path, tile, overlap)
        denoiser.name = f"shipped:{folder}"
        return denoiser

    if name:
        return load(name)
    gray = load(SHIPPED_GRAY)
    color_path = os.path.join(SHIPPED_DIR, SHIPPED_COLOR, SHIPPED_FILE)
    color = load(SHIPPED_COLOR) if os.path.isfile(color_path) else None
    return ByChannelsDenoiser("shipped", gray, color)


def _missing(path: str) -> FileNotFoundError:
    return FileNotFoundError(f"model file not found: {path} (accepted model specs: {_forms()})")


def load_denoiser(spec: str, tile: int = 512, overlap: int = 32) -> Denoiser:
    """Build the :class:`Denoiser` named by ``spec`` (forms in the module docstring).

    ``tile`` / ``overlap``: tiling of network inference (see :func:`tiled_apply`).
    Raises FileNotFoundError (naming the path and the accepted forms) for a missing model file,
    ValueError listing the forms for a spec that is none of them.
    """
    text = os.fspath(spec) if not isinstance(spec, str) else spec
    text = text.strip()
    lowered = text.lower()
    if lowered == "identity":
        return IdentityDenoiser()
    if lowered == "bm3d":
        return BM3DDenoiser()
    if lowered.startswith("bm3d:"):
        key, _, value = lowered[5:].partition("=")
        try:
            sigma = float(value)
        except ValueError:
            sigma = None
        if key.strip() != "sigma" or sigma is None or sigma <= 0:
            raise ValueError(f"model spec {text!r}: write bm3d:sigma=S with S > 0 on the 0-255 scale")
        return BM3DDenoiser(fixed_sigma=sigma)
    if lowered == "median" or lowered.startswith("median:"):
        size = lowered.split(":", 1)[1].strip() if ":" in lowered else "3"
        if not size.isdigit():
            raise ValueError(f"model spec {text!r}: write median or median:K with K one of "
                             f"{', '.join(map(str, MedianDenoiser.SIZES))}")
        return MedianDenoiser(int(size))
    if lowered == "shipped" or lowered.startswith("shipped:"):
        return _load_shipped(text.split(":", 1)[1].strip() if ":" in text else None, tile, overlap)
    if lowered.startswith("dncnn-official:"):
        from kerasdenoise.models.dncnn import load_matconvnet_dncnn

        path = os.path.expanduser(text.split(":", 1)[1])
        if not os.path.isfile(path):
            raise _missing(path)
        model = load_matconvnet_dncnn(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        # DnCNN is fully convolutional with 'same' padding: no size probing needed.
        return denoiser_from_keras(model, f"dncnn-official:{stem}", tile, overlap, probe=False)
    path = os.path.expanduser(text)
    extension = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return load_saved_model(path, tile, overlap)
        raise ValueError(
            f"{path} is a folder but not a SavedModel (no saved_model.pb in it); accepted model "
            f"specs: {_forms()}"
        )
    if extension in (".keras", ".h5", ".tflite", ".mat"):
        if not os.path.isfile(path):
            raise _missing(path)
        if extension == ".tflite":
            return load_tflite(path, tile, overlap)
        if extension == ".mat":
            raise ValueError(
                f"{path}: .mat files are read as official DnCNN weights; write the spec as "
                f"dncnn-official:{path}"
            )
        return load_keras_file(path, tile, overlap)
    if os.sep in text or text.startswith(".") or extension:
        raise _missing(path)
    raise ValueError(f"unknown model spec {spec!r}; accepted forms: {_forms()}")
