"""Backends: Keras, SavedModel and TFLite (ai-edge-litert) models as numpy runners
``[1, h, w, C] -> [1, h, w, C]`` wrapped in a :class:`~kerasdenoise.runtime.denoisers.NetworkDenoiser`,
and the names that exported files and this module agree on (signature key, input / output
names, file names, metadata keys).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from kerasdenoise.runtime.denoisers import Denoiser, NetworkDenoiser
from kerasdenoise.runtime.tiling import size_multiple

# The contract of exported files (kerasdenoise.export writes them, this module reads them).
SIGNATURE_KEY = "denoise"
INPUT_NAME = "noisy_0to1_nhwc"
OUTPUT_NAME = "denoised_0to1_nhwc"
TFLITE_FILES = {
    "none": "model_float32.tflite",
    "fp16": "model_float16.tflite",
    "dynamic": "model_dynamic.tflite",
    "int8": "model_int8.tflite",
}
SAVEDMODEL_DIR = "saved_model"
METADATA_FILE = "model.json"
# Metadata a caller may give (``--set key=value``); the rest is derived from the model.
METADATA_KEYS = ("name", "description", "model", "model_kwargs", "color_space", "training_data", "noise")


def keras_runner(model, channels: int):
    """A graph-compiled ``[1, h, w, C] -> [1, h, w, C]`` numpy function for a Keras model
    (one trace for every image size)."""
    import tensorflow as tf

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32)],
        reduce_retracing=True,
    )
    def forward(batch):
        return model(batch, training=False)

    return lambda batch: forward(tf.constant(batch, tf.float32)).numpy()


def denoiser_from_keras(
    model, name: Optional[str] = None, tile: int = 512, overlap: int = 32, probe: bool = True
) -> "NetworkDenoiser":
    """Wrap an in-memory Keras image-to-image model as a :class:`Denoiser`.

    A model with a fixed input size runs on tiles of that size; otherwise, with ``probe``, the
    size multiple it needs (down-sampling nets) is found by :func:`~kerasdenoise.runtime.tiling.size_multiple`.
    """
    name = name or model.name
    input_shape = tuple(model.input_shape)
    if len(input_shape) != 4:
        raise ValueError(f"{name}: expected an image model with input [B, H, W, C], got {input_shape}")
    channels = int(input_shape[-1])
    fixed = None
    if input_shape[1] is not None and input_shape[2] is not None:
        fixed = (int(input_shape[1]), int(input_shape[2]))
    if fixed is not None:
        import tensorflow as tf

        run = lambda batch: model(tf.constant(batch, tf.float32), training=False).numpy()  # noqa: E731
        return NetworkDenoiser(name, channels, run, tile, overlap, fixed_hw=fixed)
    run = keras_runner(model, channels)
    multiple = size_multiple(run, channels) if probe else 1
    return NetworkDenoiser(name, channels, run, tile, overlap, multiple=multiple)


def load_keras_model(path):
    """The Keras model in the file ``path`` (.keras, or legacy .h5), uncompiled; every network
    family's custom layers are known.  Errors name the file: missing (FileNotFoundError), not a
    Keras file, empty, corrupt (ValueError)."""
    import keras

    from kerasdenoise import models

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    if os.path.splitext(path)[1].lower() not in (".keras", ".h5"):
        raise ValueError(f"{path} is not a Keras model file (.keras, or legacy .h5)")
    models.load_all()  # every network family, so their custom layers deserialize
    import kerasdenoise.metrics  # noqa: F401  (PSNRMetric)

    problem = _keras_file_problem(path)
    if problem:
        raise ValueError(f"cannot load Keras model {path}: {problem}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named
        raise ValueError(f"cannot load Keras model {path}: {err}") from err


def load_keras_file(path: str, tile: int = 512, overlap: int = 32) -> Denoiser:
    model = load_keras_model(path)
    return denoiser_from_keras(model, os.path.splitext(os.path.basename(path))[0], tile, overlap)


def _keras_file_problem(path: str) -> Optional[str]:
    """Why the existing file ``path`` cannot be a Keras model file, or None if it may be one
    (Keras itself reports a corrupt ``.keras`` file as 'File not found')."""
    import zipfile

    if os.path.getsize(path) == 0:
        return "the file is empty (0 bytes)"
    if path.lower().endswith(".keras"):
        if not zipfile.is_zipfile(path):
            return ("not a valid .keras file (a .keras file is a zip archive; this one is "
                    "corrupt, truncated or something else renamed)")
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError) as err:
            return f"not a valid .keras file (corrupt zip archive: {err})"
        if bad is not None:
            return f"not a valid .keras file (corrupt member {bad!r} in the zip archive)"
        if "config.json" not in names:
            return "not a valid .keras file (the zip archive holds no config.json)"
    elif path.lower().endswith(".h5"):
        import h5py

        if not h5py.is_hdf5(path):
            return "not a valid .h5 file (not HDF5: corrupt, truncated or something else renamed)"
    return None


def load_saved_model(path: str, tile: int = 512, overlap: int = 32) -> Denoiser:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(path)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"cannot load SavedModel {path}: {err}") from err
    signatures = getattr(loaded, "signatures", {}) or {}
    if "serving_default" in signatures:
        function = signatures["serving_default"]
    elif signatures:
        function = next(iter(signatures.values()))
    else:
        raise ValueError(f"SavedModel {path} has no serving signature to call")
    specs = function.structured_input_signature[1]
    if len(specs) != 1:
        raise ValueError(
            f"SavedModel {path}: expected one image input, got inputs {sorted(specs)}"
        )
    input_name, spec = next(iter(specs.items()))
    shape = spec.shape
    if shape.rank != 4 or shape[-1] is None:
        raise ValueError(f"SavedModel {path}: expected an input [B, H, W, C], got {shape}")
    channels = int(shape[-1])

    def run(batch):
        outputs = function(**{input_name: tf.constant(batch, spec.dtype)})
        return next(iter(outputs.values())).numpy()

    name = os.path.basename(os.path.normpath(path))
    if shape[1] is not None and shape[2] is not None:
        return NetworkDenoiser(name, channels, run, tile, overlap, fixed_hw=(int(shape[1]), int(shape[2])))
    return NetworkDenoiser(name, channels, run, tile, overlap, multiple=size_multiple(run, channels))


class TFLiteRunner:
    """A TFLite file (ai-edge-litert) as a numpy function of float32 batches
    ``[B, h, w, C] -> [B, h, w, C]``: the raw network output, not clipped.

    The input tensor is resized to each new shape (same-shape calls reuse the plan); int8 /
    uint8 input and output tensors are quantized / dequantized with their scale and zero point
    (``input_quantization`` / ``output_quantization``: ``(scale, zero_point)``, ``(0.0, 0)``
    for float tensors).  Files with a signature are called through it (``denoise`` if present).
    Images are run through :func:`load_tflite` (a :class:`NetworkDenoiser`).
    """

    def __init__(self, path, num_threads: Optional[int] = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"TFLite model not found: {self.path}")
        threads = int(num_threads) if num_threads else (os.cpu_count() or 1)
        try:
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
        except Exception as err:  # noqa: BLE001 - re-raised naming the file
            raise ValueError(f"cannot load TFLite model {self.path}: {err}") from err
        signatures = self.interpreter.get_signature_list()
        if signatures:
            key = SIGNATURE_KEY if SIGNATURE_KEY in signatures else next(iter(signatures))
            runner = self.interpreter.get_signature_runner(key)
            inputs, outputs = runner.get_input_details(), runner.get_output_details()
            if len(inputs) != 1 or len(outputs) != 1:
                raise ValueError(f"{self.path}: signature {key!r} must have one input and one output")
            self._input, self._output = next(iter(inputs.values())), next(iter(outputs.values()))
        else:
            self._input = self.interpreter.get_input_details()[0]
            self._output = self.interpreter.get_output_details()[0]
        self.shape = tuple(int(v) for v in self._input["shape"])
        if len(self.shape) != 4:
            raise ValueError(f"TFLite model {self.path}: expected an input [B, H, W, C], got {self.shape}")
        self.channels = self.shape[-1]
        self.dynamic = any(int(v) == -1 for v in self._input.get("shape_signature", [])[1:3])
        self.input_dtype = np.dtype(self._input["dtype"]).type
        self.output_dtype = np.dtype(self._output["dtype"]).type
        scale, zero = self._input["quantization"]
        self.input_quantization = (float(scale), int(zero))
        scale, zero = self._output["quantization"]
        self.output_quantization = (float(scale), int(zero))
        self._planned = None

    def __call__(self, batch) -> np.ndarray:
        batch = np.asarray(batch, np.float32)
        if tuple(batch.shape) != self._planned:
            self.interpreter.resize_tensor_input(self._input["index"], list(batch.shape), strict=False)
            self.interpreter.allocate_tensors()
            self._planned = tuple(batch.shape)
        scale, zero = self.input_quantization
        if np.issubdtype(self.input_dtype, np.integer) and scale:
            info = np.iinfo(self.input_dtype)
            batch = np.clip(np.round(batch / scale + zero), info.min, info.max)
        self.interpreter.set_tensor(self._input["index"], batch.astype(self.input_dtype))
        self.interpreter.invoke()
        result = self.interpreter.get_tensor(self._output["index"])
        scale, zero = self.output_quantization
        if np.issubdtype(result.dtype, np.integer) and scale:
            result = (result.astype(np.float32) - zero) * scale
        return np.asarray(result, np.float32)


def load_tflite(path, tile: int = 512, overlap: int = 32,
                num_threads: Optional[int] = None) -> NetworkDenoiser:
    """The TFLite file ``path`` as a :class:`NetworkDenoiser` (tiled, reflection-padded,
    clipped like every backend)."""
    run = TFLiteRunner(path, num_threads)
    name = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    height, width = run.shape[1:3]
    if not run.dynamic and height > 1 and width > 1:
        # Exported with a fixed size: try resizing (works for fully convolutional graphs);
        # if the graph cannot be resized, run it at its own size.
        try:
            probe = (1, height + 8, width + 8, run.channels)
            if run(np.zeros(probe, np.float32)).shape != probe:
                raise ValueError("output size differs")
        except Exception:  # noqa: BLE001
            run._planned = None
            return NetworkDenoiser(name, run.channels, run, tile, overlap, fixed_hw=(height, width))
    return NetworkDenoiser(name, run.channels, run, tile, overlap,
                           multiple=size_multiple(run, run.channels))


def run_tflite(path, image, num_threads: Optional[int] = None):
    """One image through the TFLite file ``path``: ``load_tflite(path)(image)`` (load once with
    :func:`load_tflite` to run many)."""
    return load_tflite(path, num_threads=num_threads)(image)
