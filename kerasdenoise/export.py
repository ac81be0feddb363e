"""SavedModel and TFLite export of a denoiser, with a JSON sidecar and a parity check.

``export_model(model_or_path, out_dir)`` writes::

    out_dir/saved_model/           TensorFlow SavedModel, signatures 'denoise' (= 'serving_default')
    out_dir/model_float32.tflite   plain float32
    out_dir/model_float16.tflite   float16 weights (computed in float32 or float16 by the runtime)
    out_dir/model_dynamic.tflite   dynamic-range: int8 weights, float32 activations
    out_dir/model_int8.tflite      full-integer int8 kernels, calibrated on real image patches
    out_dir/model.json             what the files expect and what the network was trained for

Every file has one signature, ``denoise``, with input ``noisy_0to1_nhwc`` and output
``denoised_0to1_nhwc``: the names carry the convention (float32 images in [0, 1], layout
``[batch, height, width, channels]``; the output is not clipped).  Height and width are
dynamic (``[None, None, None, C]``): TFLite callers resize the input tensor to each image
(``Interpreter.resize_tensor_input``), as :class:`kerasdenoise.runtime.TFLiteRunner` does.  A network that only
takes sizes divisible by 2^k (down-sampling UNets) gets a symmetric padding to the next
multiple and a crop back built into the exported graph, so every file takes any image size
(at least half that multiple on each side).

Int8 choice: the int8 file keeps **float32 input and output** by default (a Quantize op at
the entry, a Dequantize at the exit, everything between int8), so all four files are called
the same way and inputs outside the calibrated range are not silently wrapped; ``int8_io=True``
makes the input and output tensors int8 too (the runner and ``model.json`` give their scale
and zero point).  Calibration data are real patches cut from images (default: the embedded
``skimage-train`` set) with the noise the network was trained for added, because a denoiser
sees noisy inputs and noise widens the activation ranges.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from kerasdenoise.runtime.backends import (
    INPUT_NAME, METADATA_FILE, METADATA_KEYS, OUTPUT_NAME, SAVEDMODEL_DIR, SIGNATURE_KEY, TFLITE_FILES,
)

FORMATS = ("savedmodel", "tflite")
QUANTIZATIONS = ("none", "fp16", "dynamic", "int8")
_QUANTIZE_ALIASES = {"float32": "none", "fp32": "none", "float16": "fp16", "dynamic-range": "dynamic"}
UNKNOWN = "unknown"
DEFAULT_CALIBRATION = "skimage-train"
DEFAULT_CALIBRATION_NOISE = "gaussian:sigma=25"

# Layers whose output size does not follow the image size: a network holding one cannot take
# images of any size.  (Dense is checked separately: on a 4-D tensor it is a 1x1 convolution.)
_NOT_CONVOLUTIONAL = (
    "Flatten",
    "Reshape",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "RepeatVector",
)


# --------------------------------------------------------------------------------------------
# Checks


def _sublayers(model):
    """Every layer inside ``model`` (nested models and layers included), self excluded."""
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=True))
    return list(getattr(model, "layers", []))


def _layer_input_rank(layer) -> Optional[int]:
    try:
        return len(layer.input.shape)
    except Exception:  # noqa: BLE001 - no single known input (nested / shared layer)
        return None


def _first_size_changing_layer(model, size: int, channels: int):
    """(layer, (h, w) in, (h, w) out) for the first top-level layer whose output size differs
    from the model input's at ``size`` x ``size``, or None (not a functional model, or none)."""
    import keras

    try:
        candidates = [
            layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)
        ]
        candidates = [layer for layer in candidates if not isinstance(layer.output, (list, tuple))]
        probe = keras.Model(model.input, [layer.output for layer in candidates])
        outputs = probe(np.zeros((1, size, size, channels), np.float32), training=False)
    except Exception:  # noqa: BLE001 - best effort: just no layer named
        return None
    for layer, output in zip(candidates, outputs):
        shape = tuple(output.shape)
        if len(shape) == 4 and tuple(shape[1:3]) != (size, size):
            return layer, (size, size), tuple(int(v) for v in shape[1:3])
    return None


def check_fully_convolutional(model) -> int:
    """Check that ``model`` maps an image ``[B, H, W, C]`` of any size to one of the same shape.

    Returns the size multiple it needs (1 for 'same'-padded nets; 2^k for a net that
    down-samples k times and up-samples back).  Raises ValueError naming the layer for a
    network that is not fully convolutional (Flatten, Reshape, global pooling, a Dense layer
    on flattened features), that has a fixed input size, or whose output size differs from its
    input's (e.g. 'valid' padding).
    """
    name = getattr(model, "name", "model")
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(f"model {name!r} is not built: it has no inputs to export")
    if len(inputs) != 1:
        raise ValueError(f"model {name!r} has {len(inputs)} inputs; a denoiser takes one image")
    for layer in _sublayers(model):
        kind = type(layer).__name__
        if kind in _NOT_CONVOLUTIONAL:
            raise ValueError(
                f"model {name!r} is not fully convolutional: layer {layer.name!r} ({kind}) ties "
                f"the output to one input size, so the model cannot take images of any size"
            )
        if kind in ("Dense", "EinsumDense") and _layer_input_rank(layer) != 4:
            raise ValueError(
                f"model {name!r} is not fully convolutional: layer {layer.name!r} ({kind}) works "
                f"on flattened features, not per pixel of a [B, H, W, C] image"
            )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4:
        raise ValueError(f"model {name!r} input has shape {shape}; expected an image [B, H, W, C]")
    if shape[-1] is None:
        raise ValueError(f"model {name!r} input has an unknown number of channels: {shape}")
    if shape[1] is not None or shape[2] is not None:
        input_name = getattr(getattr(inputs[0], "_keras_history", None), "operation", None)
        input_name = getattr(input_name, "name", "input")
        raise ValueError(
            f"model {name!r} needs a fixed input size: input layer {input_name!r} has shape "
            f"{shape}; rebuild the network with keras.Input(shape=(None, None, {shape[-1]})) "
            f"and load the weights into it"
        )
    channels = int(shape[-1])
    outputs = getattr(model, "outputs", None)
    if outputs is not None and len(outputs) != 1:
        raise ValueError(f"model {name!r} has {len(outputs)} outputs; a denoiser returns one image")
    from kerasdenoise.runtime.backends import keras_runner
    from kerasdenoise.runtime.tiling import size_multiple

    try:
        return size_multiple(keras_runner(model, channels), channels)
    except ValueError:
        pass
    culprit = _first_size_changing_layer(model, 5 * 16, channels)
    where = ""
    if culprit is not None:
        layer, size_in, size_out = culprit
        where = (
            f": layer {layer.name!r} ({type(layer).__name__}) maps {size_in[0]}x{size_in[1]} to "
            f"{size_out[0]}x{size_out[1]}"
        )
    raise ValueError(
        f"model {name!r} does not map an image to one of the same shape [1, H, W, {channels}] "
        f"at any tested size (17 x 2^k){where}; only image-to-image networks export (use "
        f"'same' padding, e.g. build('dnresnet', base_padding='same'))"
    )


# --------------------------------------------------------------------------------------------
# Metadata


def run_config_for(model_path) -> Optional[dict]:
    """The training run's ``config.json`` beside ``model_path`` (or one folder up, for a model
    under ``checkpoints/``), parsed; None if there is none."""
    model_path = Path(model_path)
    for folder in (model_path.parent, model_path.parent.parent):
        config = folder / "config.json"
        if config.is_file():
            try:
                return json.loads(config.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"{config} is not valid JSON: {err}") from None
    return None


def parse_metadata_overrides(items: Iterable[str]) -> dict:
    """``["noise=gaussian:sigma=25", "model_kwargs={\\"blocks\\": 5}"]`` -> dict.

    Keys must be in :data:`METADATA_KEYS`; values are JSON when they parse, else strings.
    """
    result = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        if key not in METADATA_KEYS:
            raise ValueError(f"--set {key}: unknown metadata key; valid keys: {', '.join(METADATA_KEYS)}")
        try:
            result[key] = json.loads(value)
        except json.JSONDecodeError:
            result[key] = value
    return result


def _metadata_from_config(config: dict) -> dict:
    return {
        "name": config.get("name", UNKNOWN),
        "description": config.get("description", UNKNOWN),
        "model": config.get("model", UNKNOWN),
        "model_kwargs": config.get("model_kwargs", UNKNOWN),
        "color_space": config.get("color", UNKNOWN),
        "training_data": config.get("train_data", UNKNOWN),
        "noise": config.get("noise", UNKNOWN),
    }


def _base_metadata(model, model_path: Optional[Path], metadata: Optional[dict]) -> dict:
    """Trained-for facts: run config.json (when ``model_path`` sits in a run folder), then
    ``metadata`` on top; anything still missing is "unknown"."""
    found = {key: UNKNOWN for key in METADATA_KEYS}
    found["name"] = getattr(model, "name", UNKNOWN)
    source = "none (no run config.json found; give facts with --set key=value)"
    if model_path is not None:
        config = run_config_for(model_path)
        if config is not None:
            found.update(_metadata_from_config(config))
            source = "run config.json beside the model"
    if metadata:
        unknown = sorted(set(metadata) - set(METADATA_KEYS))
        if unknown:
            raise ValueError(f"unknown metadata keys {unknown}; valid keys: {', '.join(METADATA_KEYS)}")
        found.update(metadata)
        source += " + given values"
    found["metadata_source"] = source
    return found


# --------------------------------------------------------------------------------------------
# Calibration data


def _calibration_color(color_space: str, channels: int) -> str:
    if color_space in ("gray", "y", "rgb"):
        wanted = 3 if color_space == "rgb" else 1
        if wanted == channels:
            return color_space
    return "rgb" if channels == 3 else "gray"


def _add_noise(patches: np.ndarray, noise: str, seed: int) -> np.ndarray:
    """Degrade ``patches`` [N, h, w, C] with ``noise`` (a kerasdenoise.degrade spec)."""
    import tensorflow as tf

    from kerasdenoise import degrade

    degradation = degrade.from_spec(noise)
    # One call per patch, each with its own seed, as the training pipeline degrades elements.
    return np.stack(
        [
            np.asarray(degradation(tf.constant(patch[None]), tf.constant([seed, i], tf.int32))[0], np.float32)
            for i, patch in enumerate(patches)
        ]
    )


def cut_calibration_patches(
    images,
    count: int = 64,
    patch_size: int = 64,
    channels: int = 1,
    color_space: str = UNKNOWN,
    noise: Optional[str] = None,
    seed: int = 0,
) -> tuple[np.ndarray, dict]:
    """``count`` random ``patch_size`` crops for int8 calibration, with noise added.

    ``images``: an image folder or set name (``skimage-train``, ``Train400``, ...; read in the
    model's color space), or a list of float32 ``[H, W, C]`` arrays.  ``noise``: the noise spec
    the model was trained for (None or "unknown": ``gaussian:sigma=25``; "none": clean patches).  Crops cycle through
    the images so every one contributes.  Returns (patches [count, p, p, C], description).
    """
    if count < 1 or patch_size < 1:
        raise ValueError(f"calibration needs count >= 1 and patch_size >= 1, got {count}, {patch_size}")
    color = _calibration_color(color_space, channels)
    if isinstance(images, (str, os.PathLike)):
        from kerasdenoise.data.discovery import image_set

        source = str(images)
        arrays = image_set(source).load(color)
    else:
        source = "arrays given by the caller"
        arrays = [np.asarray(image, np.float32) for image in images]
        arrays = [a[..., None] if a.ndim == 2 else a for a in arrays]
    if not arrays:
        raise ValueError(f"no calibration images in {source}")
    for array in arrays:
        if array.ndim != 3 or array.shape[2] != channels:
            raise ValueError(
                f"calibration image of shape {array.shape} does not fit a {channels}-channel model"
            )
    size = min(patch_size, *(min(a.shape[:2]) for a in arrays))
    rng = np.random.default_rng(seed)
    patches = np.empty((count, size, size, channels), np.float32)
    for i in range(count):
        image = arrays[i % len(arrays)]
        top = rng.integers(0, image.shape[0] - size + 1)
        left = rng.integers(0, image.shape[1] - size + 1)
        patches[i] = image[top : top + size, left : left + size]
    noise_used = DEFAULT_CALIBRATION_NOISE if noise in (None, "", UNKNOWN) else str(noise)
    if noise_used.lower() != "none":
        patches = _add_noise(patches, noise_used, seed)
    info = {
        "source": source,
        "color": color,
        "patches": int(count),
        "patch_size": int(size),
        "noise": noise_used,
        "seed": int(seed),
    }
    return patches, info


# --------------------------------------------------------------------------------------------
# Export


def _normalize_choices(values, allowed, aliases=None, what="value"):
    if isinstance(values, str):
        values = [v for v in values.split(",")]
    chosen = []
    for value in values:
        value = str(value).strip().lower()
        value = (aliases or {}).get(value, value)
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(allowed)}")
        if value not in chosen:
            chosen.append(value)
    if not chosen:
        raise ValueError(f"no {what} given; valid: {', '.join(allowed)}")
    return chosen


def _serving_function(model, channels: int, multiple: int):
    """The function every file runs: pad to ``multiple`` (if > 1), model, crop back."""
    import tensorflow as tf

    def denoise(noisy_0to1_nhwc):
        batch = noisy_0to1_nhwc
        if multiple > 1:
            height, width = tf.shape(batch)[1], tf.shape(batch)[2]
            pad_h = (multiple - height % multiple) % multiple
            pad_w = (multiple - width % multiple) % multiple
            padded = tf.pad(batch, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="SYMMETRIC")
            # Dynamic paddings lose the static channel count that TFLite's Conv2D needs; a
            # reshape to [b, h, w, channels] restores it in the saved graph (tf.ensure_shape
            # is no TFLite op, set_shape is not saved).
            padded_shape = tf.shape(padded)
            padded = tf.reshape(padded, [padded_shape[0], padded_shape[1], padded_shape[2], channels])
            restored = model(padded, training=False)[:, :height, :width, :]
        else:
            restored = model(batch, training=False)
        return {OUTPUT_NAME: tf.identity(restored, name=OUTPUT_NAME)}

    spec = tf.TensorSpec([None, None, None, channels], tf.float32, name=INPUT_NAME)
    return denoise, spec


def write_saved_model(model, path, multiple: int = 1) -> Path:
    """SavedModel at ``path`` with signature ``denoise`` (also ``serving_default``):
    ``noisy_0to1_nhwc`` float32 ``[None, None, None, C]`` -> ``{denoised_0to1_nhwc}``."""
    import keras

    channels = int(model.inputs[0].shape[-1])
    function, spec = _serving_function(model, channels, multiple)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=SIGNATURE_KEY, fn=function, input_signature=[spec])
    archive.write_out(str(path), verbose=False)
    return Path(path)


def float_layer_nodes(saved_model_dir, layers, output_layer: Optional[str] = None) -> list[str]:
    """The TFLite tensor names of the ops of the Keras layers named ``layers`` (at any depth:
    ``residual_add`` names that layer of the model and of every nested model); ValueError for a
    name that matches no op.  ``output_layer``: the model's last layer, whose op's output tensor
    is named after the signature rather than the layer."""
    import re

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=convert_tflite(saved_model_dir, "none"))
    names = [d["name"] for d in interpreter.get_tensor_details()]
    outputs = {d["name"] for d in interpreter.get_output_details()}

    def matches(layer, name):  # the converter names an op's output <model>/<layer>_<n>/<op>
        return bool(re.search(rf"/{re.escape(layer)}(_\d+)?/", "/" + name)) or (
            layer == output_layer and name in outputs)

    unknown = [layer for layer in layers if not any(matches(layer, n) for n in names)]
    if unknown:
        raise ValueError(f"float_layers {unknown}: no such layer in the model's ops")
    return [n for n in names if any(matches(layer, n) for layer in layers)]


def convert_tflite(saved_model_dir, quantize: str, representative=None, int8_io: bool = False,
                   float_layers=(), output_layer: Optional[str] = None) -> bytes:
    """TFLite flat buffer of the ``denoise`` signature of ``saved_model_dir``.

    ``quantize``: none (float32), fp16 (float16 weights), dynamic (int8 weights, float
    activations), int8 (int8 weights and activations; needs ``representative``, an array
    ``[N, h, w, C]`` of calibration inputs).  ``float_layers`` (int8 only): Keras layer names
    whose ops stay float32 (selective quantization through the converter's quantization
    debugger), e.g. the residual additions whose outputs span the whole image range;
    ``output_layer``: the name of the model's last layer (see :func:`float_layer_nodes`).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SIGNATURE_KEY])
    if quantize == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("int8 quantization needs calibration patches")

        def dataset():
            for patch in representative:
                yield {INPUT_NAME: patch[None].astype(np.float32)}

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        if float_layers:
            options = tf.lite.experimental.QuantizationDebugOptions(
                denylisted_nodes=float_layer_nodes(saved_model_dir, float_layers, output_layer),
                fully_quantize=True)
            try:
                return tf.lite.experimental.QuantizationDebugger(
                    converter=converter, debug_dataset=dataset,
                    debug_options=options).get_nondebug_quantized_model()
            except Exception as err:  # noqa: BLE001 - as below
                raise RuntimeError(f"TFLite conversion (int8, float layers {list(float_layers)}) of "
                                   f"{saved_model_dir} failed: {err}") from err
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif quantize != "none":
        raise ValueError(f"unknown quantization {quantize!r}; valid: {', '.join(QUANTIZATIONS)}")
    elif float_layers:
        raise ValueError("float_layers: only for int8 quantization")
    try:
        return converter.convert()
    except Exception as err:  # noqa: BLE001 - converter errors are long; say which file failed
        raise RuntimeError(f"TFLite conversion ({quantize}) of {saved_model_dir} failed: {err}") from err


def export_model(
    model_or_path,
    out_dir,
    formats=FORMATS,
    quantize=QUANTIZATIONS,
    calibration=DEFAULT_CALIBRATION,
    calibration_patches: int = 64,
    calibration_patch_size: int = 64,
    calibration_noise: Optional[str] = None,
    metadata: Optional[dict] = None,
    int8_io: bool = False,
    overwrite: bool = False,
    float_layers=(),
) -> dict:
    """Export a denoiser to ``out_dir`` (layout in the module docstring); returns written paths.

    ``model_or_path``: a Keras model, or a ``.keras`` file (its run's ``config.json`` beside it,
    if any, supplies the metadata).  ``formats``: "savedmodel" and/or "tflite" (list or
    comma-separated).  ``quantize``: TFLite variants among none (float32), fp16, dynamic, int8.
    ``calibration``: int8 calibration images, a folder / set name or a list of ``[H, W, C]``
    arrays; ``calibration_patches`` crops of ``calibration_patch_size`` pixels are cut from them
    and degraded with ``calibration_noise`` (default: the model's training noise from the
    metadata, else ``gaussian:sigma=25``; "none" for clean patches).  ``metadata``: facts for ``model.json``
    (keys in :data:`METADATA_KEYS`) overriding the run config.  ``int8_io``: int8 (not float32)
    input and output tensors in the int8 file.  ``float_layers``: Keras layer names kept in
    float32 in the int8 file (see :func:`convert_tflite`).  Existing files are only replaced with
    ``overwrite=True``.

    Returns ``{"savedmodel": dir, "tflite_float32": path, "tflite_float16": ...,
    "tflite_dynamic": ..., "tflite_int8": ..., "metadata": model.json}`` (only what was written).
    """
    import kerasdenoise

    formats = _normalize_choices(formats, FORMATS, what="format")
    quantize = _normalize_choices(quantize, QUANTIZATIONS, _QUANTIZE_ALIASES, what="quantization")
    out_dir = Path(out_dir).expanduser()
    targets = [SAVEDMODEL_DIR] if "savedmodel" in formats else []
    if "tflite" in formats:
        targets += [TFLITE_FILES[q] for q in quantize]
    targets.append(METADATA_FILE)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir} exists and is not a folder")
    existing = [name for name in targets if (out_dir / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds {', '.join(existing)}; choose another folder or overwrite"
        )

    model_path = None
    if isinstance(model_or_path, (str, os.PathLike)):
        model_path = Path(model_or_path).expanduser()
        from kerasdenoise.runtime.backends import load_keras_model

        model = load_keras_model(model_path)
    else:
        model = model_or_path
    multiple = check_fully_convolutional(model)
    channels = int(model.inputs[0].shape[-1])
    facts = _base_metadata(model, model_path, metadata)
    out_dir.mkdir(parents=True, exist_ok=True)

    written = {}
    files = {}
    calibration_info = None
    quantization_params = None
    with tempfile.TemporaryDirectory(prefix="kerasdenoise_export_") as scratch:
        if "savedmodel" in formats:
            saved_model = out_dir / SAVEDMODEL_DIR
            if saved_model.exists():
                shutil.rmtree(saved_model)
        else:
            saved_model = Path(scratch) / SAVEDMODEL_DIR
        write_saved_model(model, saved_model, multiple)
        if "savedmodel" in formats:
            written["savedmodel"] = saved_model
            files["savedmodel"] = SAVEDMODEL_DIR
        if "tflite" in formats:
            for variant in quantize:
                representative = None
                if variant == "int8":
                    representative, calibration_info = cut_calibration_patches(
                        calibration,
                        count=calibration_patches,
                        patch_size=calibration_patch_size,
                        channels=channels,
                        color_space=str(facts.get("color_space", UNKNOWN)),
                        noise=calibration_noise or str(facts.get("noise", UNKNOWN)),
                    )
                flat = convert_tflite(saved_model, variant, representative, int8_io=int8_io,
                                      float_layers=tuple(float_layers) if variant == "int8" else (),
                                      output_layer=model.layers[-1].name)
                path = out_dir / TFLITE_FILES[variant]
                path.write_bytes(flat)
                key = "tflite_" + Path(TFLITE_FILES[variant]).stem.split("_", 1)[1]
                written[key] = path
                files[key] = path.name
                if variant == "int8":
                    quantization_params = _io_quantization(path)

    parity = check_parity(model, written)

    import tensorflow as tf

    description = {
        **facts,
        "input": {
            "signature": SIGNATURE_KEY,
            "name": INPUT_NAME,
            "dtype": "float32",
            "range": [0.0, 1.0],
            "layout": "NHWC",
            "shape": [None, None, None, channels],
            "channels": channels,
            "size_multiple_padded_inside": multiple,
        },
        "output": {
            "name": OUTPUT_NAME,
            "dtype": "float32",
            "range": [0.0, 1.0],
            "note": "same shape as the input; not clipped: clip to [0, 1] before display or measuring",
        },
        "formats": formats,
        "quantizations": quantize if "tflite" in formats else [],
        "files": files,
        "int8": None
        if calibration_info is None
        else {
            "io": "int8" if int8_io else "float32",
            "io_quantization": quantization_params,
            "calibration": calibration_info,
            "float_layers": list(float_layers),
        },
        "parity_max_abs_difference": parity,
        "source_model": str(model_path) if model_path is not None else None,
        "kerasdenoise_version": kerasdenoise.__version__,
        "tensorflow_version": tf.__version__,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    metadata_path = out_dir / METADATA_FILE
    metadata_path.write_text(json.dumps(description, indent=2) + "\n")
    written["metadata"] = metadata_path
    return written


# Files whose output must match the Keras model's to float32 round-off; quantized ones are
# measured and recorded only.
PARITY_TOLERANCE = 1e-3
_EXACT_FILES = ("savedmodel", "tflite_float32")


def check_parity(model, written: dict, seed: int = 0) -> dict:
    """Largest absolute difference between ``model`` and each exported file in ``written``,
    every one run through :mod:`kerasdenoise.runtime` (what users call) on the same noisy
    image of an odd size; RuntimeError naming the file when a float32 file differs by more than
    :data:`PARITY_TOLERANCE`."""
    from kerasdenoise.runtime import denoiser_from_keras, load_denoiser

    channels = int(model.inputs[0].shape[-1])
    rng = np.random.default_rng(seed)
    base = np.linspace(0.2, 0.8, 45 * 67 * channels, dtype=np.float32).reshape(45, 67, channels)
    image = np.clip(base + rng.normal(0, 0.1, base.shape).astype(np.float32), 0, 1)
    expected = denoiser_from_keras(model)(image)
    parity = {}
    for key, path in written.items():
        if key == "metadata":
            continue
        difference = float(np.abs(load_denoiser(str(path))(image) - expected).max())
        parity[key] = difference
        if key in _EXACT_FILES and difference > PARITY_TOLERANCE:
            raise RuntimeError(
                f"{path}: its output differs from the Keras model's by {difference:.2e} (more "
                f"than {PARITY_TOLERANCE:g}); the conversion is wrong"
            )
    return parity


def _io_quantization(path) -> dict:
    """Scale and zero point of the input and output tensors of a TFLite file (0, 0 = float)."""
    from kerasdenoise.runtime.backends import TFLiteRunner

    runner = TFLiteRunner(path, num_threads=1)
    (in_scale, in_zero), (out_scale, out_zero) = runner.input_quantization, runner.output_quantization
    return {
        "input": {"dtype": runner.input_dtype.__name__, "scale": in_scale, "zero_point": in_zero},
        "output": {"dtype": runner.output_dtype.__name__, "scale": out_scale, "zero_point": out_zero},
    }
