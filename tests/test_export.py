"""SavedModel / TFLite export: parity with Keras, any image size, quantized variants,
model.json, clear errors for networks that cannot export, and tools/export.py."""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from conftest import ROOT
from kerasdenoise import models
from kerasdenoise.export import check_fully_convolutional, export_model
from kerasdenoise.runtime import TFLiteRunner
from kerasdenoise.runtime.backends import INPUT_NAME, OUTPUT_NAME, SIGNATURE_KEY


def raw_tflite(path, image):
    """The exported network's own output for one ``[H, W, C]`` image (no padding, no clip)."""
    return TFLiteRunner(path)(image[None])[0]

EXPORT = [sys.executable, str(ROOT / "tools" / "export.py")]
ODD_SHAPE = (97, 131, 1)


def tiny_denoiser(seed=0):
    """DnCNN depth 3, 8 filters, with its residual branch scaled down so that, like a trained
    denoiser, it returns roughly its input (random init predicts a large, meaningless residual
    whose range int8 calibration on a few patches cannot cover)."""
    keras.utils.set_random_seed(seed)
    model = models.build("dncnn", depth=3, filters=8, channels=1)
    kernel, bias = model.get_layer("residual").get_weights()
    model.get_layer("residual").set_weights([kernel * 0.05, bias])
    return model


def smooth_images(n=3, shape=(70, 90, 1), seed=0):
    """Blurred random images in [0, 1]: calibration / test inputs with image-like structure."""
    import cv2

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        image = cv2.GaussianBlur(rng.random(shape[:2]).astype(np.float32), (0, 0), 3.0)
        image = (image - image.min()) / (image.max() - image.min())
        images.append(image[..., None])
    return images


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One tiny model exported in every format; calibration on the embedded skimage-train set
    with the default noise (the model.json has no noise: gaussian sigma 25)."""
    model = tiny_denoiser()
    out = tmp_path_factory.mktemp("exported")
    paths = export_model(model, out, calibration_patches=32, calibration_patch_size=32)
    return model, out, paths


def keras_output(model, image):
    return model.predict(image[None], verbose=0)[0]


def test_writes_every_format(exported):
    _, out, paths = exported
    expected = {"savedmodel", "tflite_float32", "tflite_float16", "tflite_dynamic", "tflite_int8", "metadata"}
    assert set(paths) == expected
    for name in ("model_float32.tflite", "model_float16.tflite", "model_dynamic.tflite", "model_int8.tflite"):
        assert (out / name).stat().st_size > 0
    assert (out / "saved_model" / "saved_model.pb").is_file()


def test_savedmodel_matches_keras_on_odd_size(exported):
    model, _, paths = exported
    image = np.random.default_rng(1).random(ODD_SHAPE).astype(np.float32)
    loaded = tf.saved_model.load(str(paths["savedmodel"]))
    assert set(loaded.signatures) == {SIGNATURE_KEY, "serving_default"}  # generic loaders use the latter
    signature = loaded.signatures[SIGNATURE_KEY]
    spec = signature.structured_input_signature[1][INPUT_NAME]
    assert spec.shape.as_list() == [None, None, None, 1] and spec.dtype == tf.float32
    restored = signature(**{INPUT_NAME: tf.constant(image[None])})[OUTPUT_NAME].numpy()[0]
    assert np.abs(restored - keras_output(model, image)).max() < 1e-4


def test_tflite_float32_matches_keras_and_takes_any_size(exported):
    model, _, paths = exported
    interpreter = Interpreter(model_path=str(paths["tflite_float32"]))
    assert interpreter.get_signature_list() == {
        SIGNATURE_KEY: {"inputs": [INPUT_NAME], "outputs": [OUTPUT_NAME]}
    }
    detail = interpreter.get_input_details()[0]
    assert list(detail["shape_signature"]) == [-1, -1, -1, 1]
    runner = TFLiteRunner(paths["tflite_float32"], num_threads=2)
    rng = np.random.default_rng(2)
    for shape in (ODD_SHAPE, (5, 8, 1), (64, 33, 1), ODD_SHAPE):  # resize back and forth
        image = rng.random(shape).astype(np.float32)
        restored = runner(image[None])[0]
        assert restored.shape == shape
        assert np.abs(restored - keras_output(model, image)).max() < 1e-4
    batch = rng.random((2, 20, 24, 1)).astype(np.float32)
    assert np.abs(runner(batch) - model.predict(batch, verbose=0)).max() < 1e-4


def test_quantized_files_run_and_stay_close(exported):
    model, _, paths = exported
    clean = smooth_images(1, ODD_SHAPE, seed=3)[0]
    noisy = clean + np.random.default_rng(3).normal(0, 25 / 255, clean.shape).astype(np.float32)
    reference = keras_output(model, noisy)
    errors = {}
    for key in ("tflite_float16", "tflite_dynamic", "tflite_int8"):
        restored = raw_tflite(paths[key], noisy)
        assert restored.shape == ODD_SHAPE and np.isfinite(restored).all()
        errors[key] = np.abs(restored - reference)
    assert errors["tflite_float16"].max() < 5e-3
    assert errors["tflite_dynamic"].max() < 0.05
    # int8: a few quantization steps (~0.006) of the calibrated range, on average about one.
    assert errors["tflite_int8"].max() < 0.1 and errors["tflite_int8"].mean() < 0.02
    interpreter = Interpreter(model_path=str(paths["tflite_int8"]))
    kinds = {np.dtype(d["dtype"]) for d in interpreter.get_tensor_details()}
    assert np.dtype(np.int8) in kinds  # really quantized inside
    assert interpreter.get_input_details()[0]["dtype"] == np.float32  # float I/O by default


def test_model_json_unknown_without_run_config(exported):
    _, out, _ = exported
    meta = json.loads((out / "model.json").read_text())
    assert meta["input"]["name"] == INPUT_NAME and meta["input"]["range"] == [0.0, 1.0]
    assert meta["input"]["layout"] == "NHWC" and meta["input"]["channels"] == 1
    assert meta["noise"] == "unknown" and meta["training_data"] == "unknown"
    assert meta["color_space"] == "unknown"
    assert meta["files"]["tflite_int8"] == "model_int8.tflite"
    assert meta["int8"]["io"] == "float32"
    calibration = meta["int8"]["calibration"]
    assert calibration["source"] == "skimage-train" and calibration["noise"] == "gaussian:sigma=25"
    assert calibration["patches"] == 32 and calibration["patch_size"] == 32
    import kerasdenoise

    assert meta["kerasdenoise_version"] == kerasdenoise.__version__


def test_model_json_from_run_config_and_overrides(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    model = tiny_denoiser()
    model.save(run / "final.keras")
    config = {"name": "tiny-run", "model": "dncnn", "model_kwargs": {"depth": 3, "filters": 8},
              "color": "y", "train_data": "Train400", "noise": "gaussian:sigma=15"}
    (run / "config.json").write_text(json.dumps(config))
    paths = export_model(run / "final.keras", tmp_path / "out", formats="tflite", quantize="none",
                         metadata={"description": "test export"})
    assert set(paths) == {"tflite_float32", "metadata"}
    meta = json.loads(paths["metadata"].read_text())
    assert (meta["name"], meta["color_space"], meta["training_data"], meta["noise"]) == (
        "tiny-run", "y", "Train400", "gaussian:sigma=15")
    assert meta["model_kwargs"] == {"depth": 3, "filters": 8}
    assert meta["description"] == "test export" and meta["int8"] is None
    assert "config.json" in meta["metadata_source"]
    with pytest.raises(FileExistsError, match="model_float32.tflite"):
        export_model(run / "final.keras", tmp_path / "out", formats="tflite", quantize="none")
    with pytest.raises(ValueError, match="unknown metadata keys"):
        export_model(model, tmp_path / "other", formats="tflite", quantize="none", metadata={"colour": "y"})


def test_int8_io_runner_quantizes(tmp_path):
    model = tiny_denoiser()
    calibration = smooth_images(3, (48, 48, 1), seed=4)
    paths = export_model(model, tmp_path, formats="tflite", quantize="int8", calibration=calibration,
                         calibration_patches=6, calibration_patch_size=32, int8_io=True)
    runner = TFLiteRunner(paths["tflite_int8"])
    assert runner.input_dtype is np.int8 and runner.output_dtype is np.int8
    assert runner.input_quantization[0] > 0
    meta = json.loads(paths["metadata"].read_text())
    assert meta["int8"]["io"] == "int8"
    assert meta["int8"]["io_quantization"]["input"]["scale"] == pytest.approx(runner.input_quantization[0])
    clean = smooth_images(1, (40, 52, 1), seed=5)[0]
    noisy = clean + np.random.default_rng(5).normal(0, 25 / 255, clean.shape).astype(np.float32)
    restored = runner(noisy[None])[0]
    assert restored.dtype == np.float32 and restored.shape == noisy.shape
    assert np.abs(restored - keras_output(model, noisy)).mean() < 0.03


def test_downsampling_net_is_padded_inside(tmp_path):
    """A net that halves and doubles the size needs even sizes; the export pads inside."""
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    x = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same")(x)
    model = keras.Model(inputs, keras.layers.Add()([inputs, x]))
    assert check_fully_convolutional(model) == 2
    paths = export_model(model, tmp_path, formats="savedmodel,tflite", quantize="none,int8",
                         calibration=smooth_images(2, (40, 40, 1)), calibration_patches=4,
                         calibration_patch_size=32, calibration_noise="none")
    image = np.random.default_rng(6).random(ODD_SHAPE).astype(np.float32)
    padded = np.pad(image, ((0, 1), (0, 1), (0, 0)), mode="symmetric")
    expected = keras_output(model, padded)[:97, :131]
    assert np.abs(raw_tflite(paths["tflite_float32"], image) - expected).max() < 1e-4
    assert raw_tflite(paths["tflite_int8"], image).shape == ODD_SHAPE
    assert json.loads(paths["metadata"].read_text())["input"]["size_multiple_padded_inside"] == 2


@pytest.mark.parametrize(
    "name, kwargs",
    [("ds_dnresnet", {"blocks": 1, "base_padding": "same"}),
     ("resunet", {"base_filters": 4, "depth": 2, "res_blocks": 1, "channels": 1})],
)
def test_registry_networks_export(tmp_path, name, kwargs):
    """Registry denoisers export as they are (the ResUNet pads to its multiple itself)."""
    model = models.build(name, **kwargs)
    paths = export_model(model, tmp_path, formats="tflite", quantize="none")
    image = np.random.default_rng(7).random(ODD_SHAPE).astype(np.float32)
    assert np.abs(raw_tflite(paths["tflite_float32"], image) - keras_output(model, image)).max() < 1e-4


def _conv_then(*layers_after, input_shape=(None, None, 1)):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    for layer in layers_after:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: _conv_then(keras.layers.GlobalAveragePooling2D(name="gap"), keras.layers.Dense(1, name="fc")),
         "'gap' \\(GlobalAveragePooling2D\\)"),
        (lambda: _conv_then(keras.layers.Flatten(name="flat"), keras.layers.Dense(16 * 16, name="fc"),
                            keras.layers.Reshape((16, 16, 1), name="unflat"), input_shape=(16, 16, 1)),
         "'flat' \\(Flatten\\)"),
        (lambda: _conv_then(keras.layers.Conv2D(1, 3, padding="same"), input_shape=(32, 32, 1)),
         "fixed input size.*shape \\(None, 32, 32, 1\\)"),
        (lambda: _conv_then(keras.layers.Conv2D(1, 3, padding="valid", name="valid_conv")),
         "'valid_conv' \\(Conv2D\\) maps 80x80 to 78x78"),
    ],
    ids=["global-pooling", "flatten-dense", "fixed-size", "valid-padding"],
)
def test_non_convolutional_models_are_refused(tmp_path, build, message):
    with pytest.raises(ValueError, match=message):
        export_model(build(), tmp_path, formats="tflite", quantize="none")
    assert not (tmp_path / "model_float32.tflite").exists()


def test_per_pixel_dense_is_accepted():
    """Dense on a [B, H, W, C] tensor is a 1x1 convolution: fully convolutional."""
    model = _conv_then(keras.layers.Dense(1, name="per_pixel"))
    assert check_fully_convolutional(model) == 1


def run_cli(*args):
    return subprocess.run(EXPORT + [str(a) for a in args], capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_cli_help_and_errors(tmp_path):
    assert run_cli("--help").returncode == 0
    missing = run_cli("--model", tmp_path / "nope.keras", "--out", tmp_path / "out")
    assert missing.returncode == 2 and "not found" in missing.stderr and "nope.keras" in missing.stderr
    (tmp_path / "model.txt").write_text("not a model")
    wrong = run_cli("--model", tmp_path / "model.txt", "--out", tmp_path / "out")
    assert wrong.returncode == 2 and "not a Keras model file" in wrong.stderr
    bad_set = run_cli("--model", tmp_path / "x.keras", "--out", tmp_path / "out", "--set", "colour=y")
    assert bad_set.returncode == 2 and "colour" in bad_set.stderr


def test_cli_exports_with_set_metadata(tmp_path, tiny_images):
    tiny_denoiser().save(tmp_path / "tiny.keras")
    bad = run_cli("--model", tmp_path / "tiny.keras", "--out", tmp_path / "out", "--quantize", "int4")
    assert bad.returncode == 2 and "int4" in bad.stderr and "valid" in bad.stderr
    done = run_cli("--model", tmp_path / "tiny.keras", "--out", tmp_path / "out", "--formats", "tflite",
                   "--quantize", "none,int8", "--calibration-dir", tiny_images,
                   "--calibration-patches", "4", "--calibration-patch-size", "24",
                   "--set", "noise=gaussian:sigma=50", "--set", "color_space=gray")
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "model.json", "model_float32.tflite", "model_int8.tflite"]
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert meta["noise"] == "gaussian:sigma=50" and meta["color_space"] == "gray"
    assert meta["int8"]["calibration"]["noise"] == "gaussian:sigma=50"
    assert meta["int8"]["calibration"]["source"] == str(tiny_images)
    again = run_cli("--model", tmp_path / "tiny.keras", "--out", tmp_path / "out", "--formats", "tflite",
                    "--quantize", "none")
    assert again.returncode == 2 and "already holds" in again.stderr


def test_export_checks_parity_through_the_runtime(tmp_path, monkeypatch):
    import kerasdenoise.runtime as runtime

    model = tiny_denoiser()
    paths = export_model(model, tmp_path / "ok", formats="savedmodel,tflite", quantize="none,fp16")
    parity = json.loads(paths["metadata"].read_text())["parity_max_abs_difference"]
    assert set(parity) == {"savedmodel", "tflite_float32", "tflite_float16"}
    assert parity["savedmodel"] < 1e-4 and parity["tflite_float32"] < 1e-4

    real = runtime.load_denoiser

    def off_by_a_level(spec, *args, **kwargs):
        denoiser = real(spec, *args, **kwargs)
        return lambda image: denoiser(image) + 0.01

    monkeypatch.setattr(runtime, "load_denoiser", off_by_a_level)
    with pytest.raises(RuntimeError, match="saved_model: its output differs from the Keras model"):
        export_model(model, tmp_path / "bad", formats="savedmodel", quantize="none")


def test_int8_float_layers_stay_float32(tmp_path):
    keras.utils.set_random_seed(0)
    model = models.build("dnresnet", blocks=1, base_padding="same", residual=True, init="he")
    kernel, bias = model.get_layer("output").get_weights()  # a trained net's small correction
    model.get_layer("output").set_weights([np.full_like(kernel, 1e-3), bias])
    calibration = smooth_images(3, (48, 48, 1), seed=4)
    common = dict(formats="tflite", quantize="int8", calibration=calibration, calibration_patches=6,
                  calibration_patch_size=32)
    def add_outputs(path):
        """The output dtypes of the file's ADD ops (res1_add, residual_add) and of its CONV_2Ds."""
        interpreter = Interpreter(model_path=str(path))
        dtypes = {d["index"]: d["dtype"] for d in interpreter.get_tensor_details()}
        ops = interpreter._get_ops_details()
        return ([dtypes[op["outputs"][0]] for op in ops if op["op_name"] == "ADD"],
                {dtypes[op["outputs"][0]] for op in ops if op["op_name"] == "CONV_2D"})

    paths = export_model(model, tmp_path / "selective", float_layers=["residual_add"], **common)
    adds, convs = add_outputs(paths["tflite_int8"])
    assert sorted(map(str, adds)) == ["<class 'numpy.float32'>", "<class 'numpy.int8'>"]
    assert convs == {np.int8}  # the rest is quantized
    assert json.loads(paths["metadata"].read_text())["int8"]["float_layers"] == ["residual_add"]
    plain = export_model(model, tmp_path / "plain", **common)
    adds, convs = add_outputs(plain["tflite_int8"])
    assert adds == [np.int8, np.int8] and convs == {np.int8}
    with pytest.raises(ValueError, match="resiudal_add"):
        export_model(model, tmp_path / "typo", float_layers=["resiudal_add"], **common)
