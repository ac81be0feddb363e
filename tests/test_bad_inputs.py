"""Bad input, as a careless or hostile user gives it: every case ends in a clear error naming
the file or the argument, and no file is changed or left half-made.

The CLIs run in-process (``main([...])``); the models are tiny: ``identity``, a 5x5 box
filter saved as .keras, and 1-layer Rescaling models as .keras / .tflite.
"""
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from kerasdenoise import metrics
from kerasdenoise.data.io import read_image, read_image_file, write_image
from kerasdenoise.runtime import load_denoiser

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"


from conftest import load_tool as _load_tool  # noqa: E402


@pytest.fixture(scope="module")
def tools():
    return {name: _load_tool(name) for name in ("denoise", "evaluate", "train")}


def snapshot(folder):
    """Every file below ``folder``: relative path -> (mtime_ns, bytes)."""
    folder = Path(folder)
    return {
        str(path.relative_to(folder)): (path.stat().st_mtime_ns, path.read_bytes())
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def smooth(shape, seed=0):
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 1.5).reshape(shape)
    return (image - image.min()) / (image.max() - image.min() + 1e-6)


def write_png(path, image):
    """Write a float [H, W, C] image in [0, 1] (RGB order) as an 8-bit file with OpenCV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.round(np.asarray(image) * 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        pixels = pixels[..., ::-1]
    cv2.imwrite(str(path), pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels)
    return path


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """box5.keras (1-channel 5x5 mean: reaches 2 px), dim.keras (1-channel, x 0.8: it would
    shift Cb / Cr if it denoised them), color.keras / color.tflite (3-channel identity),
    gray.tflite (1-channel identity)."""
    import keras
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("models")
    inputs = keras.Input((None, None, 1))
    box = keras.layers.Conv2D(1, 5, padding="same", use_bias=False)
    box_model = keras.Model(inputs, box(inputs))
    box.set_weights([np.full((5, 5, 1, 1), 1 / 25, np.float32)])
    box_model.save(folder / "box5.keras")
    inputs = keras.Input((None, None, 1))
    keras.Model(inputs, keras.layers.Rescaling(0.8)(inputs)).save(folder / "dim.keras")
    for channels, name in ((3, "color"), (1, "gray")):
        inputs = keras.Input((None, None, channels))
        model = keras.Model(inputs, keras.layers.Rescaling(1.0)(inputs))
        if channels == 3:
            model.save(folder / "color.keras")
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        (folder / f"{name}.tflite").write_bytes(converter.convert())
    return folder


@pytest.fixture
def inputs(tmp_path):
    """in/gray.png (gray) and in/color.png (RGB), 24x28."""
    write_png(tmp_path / "in" / "gray.png", smooth((24, 28, 1)))
    write_png(tmp_path / "in" / "color.png", smooth((24, 28, 3), seed=1))
    return tmp_path / "in"


def run_denoise(tools, capsys, *args):
    code = tools["denoise"].main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------------------------
# tools/denoise.py: outputs never lost


def test_denoise_refuses_to_write_over_its_input(tools, capsys, inputs):
    before = snapshot(inputs)
    for extra in ([], ["--overwrite"]):
        code, _, err = run_denoise(tools, capsys, inputs / "gray.png", "--model", "identity",
                                   "-o", inputs, *extra)
        assert code == 2 and "which is the input" in err and "gray.png" in err
    assert snapshot(inputs) == before


def test_denoise_keeps_existing_outputs_unless_overwrite(tools, capsys, inputs, tmp_path):
    out = tmp_path / "out"
    assert run_denoise(tools, capsys, inputs, "--model", "identity", "-o", out)[0] == 0
    written = snapshot(out)
    assert sorted(written) == ["color.png", "gray.png"]
    code, _, err = run_denoise(tools, capsys, inputs, "--model", "identity", "-o", out)
    assert code == 2 and "already exist" in err and "--overwrite" in err and "gray.png" in err
    assert snapshot(out) == written
    code, stdout, _ = run_denoise(tools, capsys, inputs, "--model", "identity", "-o", out,
                                  "--overwrite")
    assert code == 0 and "gray.png" in stdout
    assert {k: v[1] for k, v in snapshot(out).items()} == {k: v[1] for k, v in written.items()}


def test_same_names_in_two_folders_are_mirrored(tools, capsys, tmp_path):
    first = write_png(tmp_path / "a" / "x.png", smooth((16, 16, 1), seed=2))
    second = write_png(tmp_path / "b" / "x.png", smooth((16, 16, 1), seed=3))
    before = snapshot(tmp_path)
    out = tmp_path / "out"
    code, _, err = run_denoise(tools, capsys, first, second, "--model", "identity", "-o", out)
    assert code == 0 and "share file names" in err
    assert sorted(snapshot(out)) == ["a/x.png", "b/x.png"]
    assert (out / "a" / "x.png").read_bytes() != (out / "b" / "x.png").read_bytes()
    np.testing.assert_array_equal(read_image(out / "a" / "x.png", "gray"), read_image(first, "gray"))
    np.testing.assert_array_equal(read_image(out / "b" / "x.png", "gray"), read_image(second, "gray"))
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("out")} == before


def test_jpg_and_png_of_one_name_are_refused_before_any_work(tools, capsys, tmp_path):
    folder = tmp_path / "in"
    write_png(folder / "y.png", smooth((16, 16, 1)))
    cv2.imwrite(str(folder / "y.jpg"), np.full((16, 16), 128, np.uint8))
    before = snapshot(tmp_path)
    code, _, err = run_denoise(tools, capsys, folder, "--model", "identity", "-o", tmp_path / "out")
    assert code == 2 and "y.jpg" in err and "y.png" in err and "nothing was written" in err
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_writes_are_atomic(tmp_path, monkeypatch):
    target = write_png(tmp_path / "keep.png", smooth((8, 8, 1)))
    before = snapshot(tmp_path)

    def broken_replace(source, destination):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_image(target, np.zeros((8, 8)))
    assert snapshot(tmp_path) == before  # old file intact, no temporary file left


def test_batch_goes_on_past_unreadable_files(tools, capsys, inputs, tmp_path):
    (inputs / "corrupt.png").write_bytes(b"\x89PNG not really")
    (inputs / "empty.png").write_bytes(b"")
    before = snapshot(inputs)
    out = tmp_path / "out"
    code, stdout, err = run_denoise(tools, capsys, inputs, "--model", "identity", "-o", out)
    assert code == 1 and "2 of 4 images failed" in err
    assert "corrupt.png" in err and "not a readable image" in err
    assert "empty.png" in err and "empty (0 bytes)" in err and "cv2.error" not in err
    assert sorted(snapshot(out)) == ["color.png", "gray.png"]  # the good ones, nothing else
    assert "gray.png" in stdout
    assert snapshot(inputs) == before


def test_out_naming_a_file_is_a_clear_error(tools, capsys, inputs, tmp_path):
    blocker = tmp_path / "out.txt"
    blocker.write_text("not a folder")
    before = snapshot(tmp_path)
    code, _, err = run_denoise(tools, capsys, inputs, "--model", "identity", "-o", blocker)
    assert code == 2 and "out.txt is a file, not a folder" in err
    code, _, err = run_denoise(tools, capsys, inputs, "--model", "identity", "-o", blocker / "sub")
    assert code == 2 and "is a file, not a folder" in err
    assert snapshot(tmp_path) == before


def test_invalid_noise_spec_is_an_error_even_for_networks(tools, capsys, inputs, tmp_path):
    before = snapshot(tmp_path)
    code, _, err = run_denoise(tools, capsys, inputs, "--model", "identity", "--noise",
                               "blurry:strength=9", "-o", tmp_path / "out")
    assert code == 2 and "--noise" in err and "blurry" in err
    assert snapshot(tmp_path) == before


def test_valid_noise_spec_ignored_by_a_network_gives_a_note(tools, capsys, inputs, tmp_path):
    code, _, err = run_denoise(tools, capsys, inputs, "--model", "identity", "--noise",
                               "gaussian:sigma=25", "-o", tmp_path / "out")
    assert code == 0 and "note: --noise gaussian:sigma=25 is not used" in err


def test_bm3d_without_noise_is_refused_before_any_work(tools, capsys, inputs, tmp_path):
    pytest.importorskip("bm3d")
    before = snapshot(tmp_path)
    code, _, err = run_denoise(tools, capsys, inputs, "--model", "bm3d", "-o", tmp_path / "out")
    assert code == 2 and "bm3d needs the noise level" in err and "--noise" in err
    assert snapshot(tmp_path) == before


def test_color_model_on_gray_image_is_worded_for_denoise(tools, capsys, inputs, tmp_path,
                                                         models_dir):
    before = snapshot(inputs)
    out = tmp_path / "out"
    code, _, err = run_denoise(tools, capsys, inputs, "--model", models_dir / "color.keras",
                               "-o", out)
    assert code == 1 and "gray.png is a gray image" in err and "1-channel model" in err
    assert "--color" not in err  # denoise.py has no such flag
    assert sorted(snapshot(out)) == ["color.png"]
    assert snapshot(inputs) == before


def test_color_model_on_gray_images_is_worded_for_evaluate(tools, capsys, inputs, models_dir):
    before = snapshot(inputs)
    code = tools["evaluate"].main(["--model", str(models_dir / "color.keras"), "--test-dir",
                                   str(inputs), "--noise", "gaussian:sigma=25", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--color rgb" in err and "color (3-channel) model" in err
    assert snapshot(inputs) == before


def test_alpha_passes_through_unchanged(tools, capsys, tmp_path):
    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 256, (12, 14, 4), dtype=np.uint8)
    rgba16 = rng.integers(0, 65536, (12, 14, 4), dtype=np.uint16)
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "rgba.png"), rgba)
    cv2.imwrite(str(folder / "rgba16.png"), rgba16)
    before = snapshot(folder)
    out = tmp_path / "out"
    assert run_denoise(tools, capsys, folder, "--model", "identity", "-o", out)[0] == 0
    np.testing.assert_array_equal(cv2.imread(str(out / "rgba.png"), cv2.IMREAD_UNCHANGED), rgba)
    np.testing.assert_array_equal(cv2.imread(str(out / "rgba16.png"), cv2.IMREAD_UNCHANGED), rgba16)
    assert read_image_file(out / "rgba.png").alpha is not None
    assert snapshot(folder) == before


def test_small_overlap_warns_about_seams(tools, capsys, tmp_path, models_dir):
    image = write_png(tmp_path / "in" / "big.png", smooth((40, 44, 1)))
    model = models_dir / "box5.keras"  # reaches 2 px
    code, _, err = run_denoise(tools, capsys, image, "--model", model, "--tile", "16",
                               "--overlap", "1", "-o", tmp_path / "out1")
    assert code == 0 and "warning: the tile overlap (1 px) is smaller than the reach" in err
    assert "about 2 px" in err
    code, _, err = run_denoise(tools, capsys, image, "--model", model, "--tile", "16",
                               "--overlap", "2", "-o", tmp_path / "out2")
    assert code == 0 and "warning" not in err
    # with an overlap covering the reach, tiling changes nothing
    code, _, err = run_denoise(tools, capsys, image, "--model", model, "--tile", "100000",
                               "-o", tmp_path / "whole")
    assert code == 0 and "warning" not in err
    assert (tmp_path / "out2" / "big.png").read_bytes() == (tmp_path / "whole" / "big.png").read_bytes()
    assert (tmp_path / "out1" / "big.png").read_bytes() != (tmp_path / "whole" / "big.png").read_bytes()


@pytest.mark.parametrize("content", [b"garbage", b"", b"PK\x03\x04 truncated zip"])
def test_corrupt_keras_file_cannot_load(tools, capsys, inputs, tmp_path, content):
    model = tmp_path / "broken.keras"
    model.write_bytes(content)
    with pytest.raises(ValueError, match="cannot load Keras model") as caught:
        load_denoiser(str(model))
    assert "File not found" not in str(caught.value) and "broken.keras" in str(caught.value)
    before = snapshot(tmp_path)
    code, _, err = run_denoise(tools, capsys, inputs, "--model", model, "-o", tmp_path / "out")
    assert code == 2 and "cannot load Keras model" in err and "File not found" not in err
    assert snapshot(tmp_path) == before


def test_corrupt_h5_file_cannot_load(tmp_path):
    model = tmp_path / "broken.h5"
    model.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=r"cannot load Keras model .*broken\.h5.*not a valid \.h5"):
        load_denoiser(str(model))


@pytest.mark.parametrize("case, expected", [
    ("missing_input", "input not found"),
    ("not_an_image", "is not an image file"),
    ("empty_folder", "no images in folder"),
    ("missing_model", "model file not found"),
    ("unknown_spec", "unknown model spec"),
    ("bad_tiling", "--tile 8 / --overlap 4"),
])
def test_denoise_argument_errors(tools, capsys, inputs, tmp_path, case, expected):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    args = {
        "missing_input": [tmp_path / "nowhere.png", "--model", "identity"],
        "not_an_image": [tmp_path / "notes.txt", "--model", "identity"],
        "empty_folder": [tmp_path / "empty", "--model", "identity"],
        "missing_model": [inputs, "--model", tmp_path / "gone.keras"],
        "unknown_spec": [inputs, "--model", "magic"],
        "bad_tiling": [inputs, "--model", "identity", "--tile", "8", "--overlap", "4"],
    }[case]
    before = snapshot(tmp_path)
    code, _, err = run_denoise(tools, capsys, *args, "-o", tmp_path / "out")
    assert code == 2 and expected in err
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------
# A gray image stays gray


def test_gray_stored_as_rgb_stays_gray(models_dir):
    from kerasdenoise.data.color import rgb_to_ycbcr, ycbcr_to_rgb

    dim = load_denoiser(str(models_dir / "dim.keras"))
    gray = smooth((20, 22, 1), seed=5)
    as_rgb = np.repeat(gray, 3, axis=-1)
    restored = dim(as_rgb)
    assert restored.shape == (20, 22, 3)
    np.testing.assert_array_equal(restored[..., 0], restored[..., 1])
    np.testing.assert_array_equal(restored[..., 0], restored[..., 2])
    np.testing.assert_allclose(restored[..., :1], dim(gray), atol=1e-6)
    # a real color image still goes through Y, Cb, Cr (each scaled by 0.8 here)
    color = smooth((20, 22, 3), seed=6)
    expected = np.clip(ycbcr_to_rgb(rgb_to_ycbcr(color) * 0.8), 0, 1)
    np.testing.assert_allclose(dim(color), expected, atol=1e-5)


def test_gray_palette_png_stays_gray_through_denoise(tools, capsys, tmp_path, models_dir):
    from PIL import Image

    levels = np.round(smooth((20, 22, 1), seed=7)[..., 0] * 255).astype(np.uint8)
    folder = tmp_path / "in"
    folder.mkdir()
    palette = Image.fromarray(levels, "L").convert("P")
    palette.putpalette([v for level in range(256) for v in (level, level, level)])
    palette.save(folder / "palette.png")
    before = snapshot(folder)
    out = tmp_path / "out"
    code, _, _ = run_denoise(tools, capsys, folder, "--model", models_dir / "dim.keras", "-o", out)
    assert code == 0
    written = cv2.imread(str(out / "palette.png"), cv2.IMREAD_UNCHANGED)
    assert written.ndim == 3
    assert (written[..., 0] == written[..., 1]).all() and (written[..., 0] == written[..., 2]).all()
    assert snapshot(folder) == before


def test_shipped_sends_gray_stored_as_rgb_to_the_gray_model(tmp_path, monkeypatch, models_dir):
    from kerasdenoise.runtime import load as inference

    for folder, name in ((inference.SHIPPED_GRAY, "gray.tflite"), (inference.SHIPPED_COLOR, "color.tflite")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / inference.SHIPPED_FILE).write_bytes((models_dir / name).read_bytes())
    monkeypatch.setattr(inference, "SHIPPED_DIR", str(tmp_path))
    shipped = load_denoiser("shipped")
    calls = []
    for which in ("gray", "color"):
        sub = getattr(shipped, which)
        original = sub._run_tile
        monkeypatch.setattr(sub, "_run_tile",
                            lambda image, o=original, w=which: calls.append(w) or o(image))
    as_rgb = np.repeat(smooth((10, 12, 1)), 3, axis=-1)
    np.testing.assert_allclose(shipped(as_rgb), as_rgb, atol=1e-6)
    assert calls == ["gray"]
    shipped(smooth((10, 12, 3), seed=8))
    assert calls == ["gray", "color"]


# --------------------------------------------------------------------------------------------
# Scales are explicit in the Python API


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_denoiser_reads_integers_by_dtype_and_answers_in_kind(dtype, models_dir):
    maximum = np.iinfo(dtype).max
    image = np.round(smooth((16, 18, 1)) * maximum).astype(dtype)
    identity = load_denoiser("identity")(image)
    assert identity.dtype == dtype
    np.testing.assert_array_equal(identity, image)
    box = load_denoiser(str(models_dir / "box5.keras"))
    as_int = box(image)
    assert as_int.dtype == dtype and as_int.max() > maximum // 4  # not all white, not all black
    expected = np.rint(box(image.astype(np.float32) / maximum) * maximum)
    np.testing.assert_allclose(as_int, expected, atol=1)


def test_denoiser_refuses_floats_on_the_0_255_scale():
    image = smooth((16, 18, 1)) * 255
    with pytest.raises(ValueError, match="0-255 image: divide it by 255"):
        load_denoiser("identity")(image)


def test_denoiser_accepts_unclipped_noisy_inputs():
    """The evaluation protocol feeds unclipped noise: Gaussian sigma 75, Poisson at peak 1."""
    clean = smooth((32, 32, 1))
    rng = np.random.default_rng(9)
    gaussian = clean + rng.normal(0, 75 / 255, clean.shape)
    poisson = rng.poisson(clean * 1.0) / 1.0
    for noisy in (gaussian, poisson):
        assert noisy.max() > 1.5 or noisy.min() < -0.5
        restored = load_denoiser("identity")(noisy)
        assert restored.min() >= 0 and restored.max() <= 1


@pytest.mark.parametrize("backend", ["identity", "keras", "tflite"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_refused_in_every_backend(backend, bad, models_dir):
    image = smooth((16, 16, 1))
    image[3, 4, 0] = bad
    runner = {
        "identity": lambda: load_denoiser("identity"),
        "keras": lambda: load_denoiser(str(models_dir / "box5.keras")),
        "tflite": lambda: load_denoiser(str(models_dir / "gray.tflite")),
    }[backend]()
    with pytest.raises(ValueError, match="NaN and .* inf values; pixels must be finite"):
        runner(image)


@pytest.mark.parametrize("shape", [(0, 0), (0, 5, 3), (4, 0, 1)])
def test_empty_arrays_are_refused(shape, models_dir):
    with pytest.raises(ValueError, match=r"the image is empty \(shape"):
        load_denoiser(str(models_dir / "box5.keras"))(np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match="the image is empty"):
        load_denoiser("identity")(np.zeros(shape, np.float32))


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.int16])
def test_ambiguous_dtypes_are_refused(dtype):
    with pytest.raises(ValueError, match=f"pixel type {np.dtype(dtype).name} is not accepted"):
        load_denoiser("identity")(np.zeros((4, 4), dtype))


def test_run_tflite_reads_uint8_by_dtype(models_dir):
    from kerasdenoise.runtime import run_tflite

    image = np.round(smooth((12, 13, 1)) * 255).astype(np.uint8)
    restored = run_tflite(models_dir / "gray.tflite", image)
    assert restored.dtype == np.uint8
    np.testing.assert_array_equal(restored, image)
    with pytest.raises(ValueError, match="0-255 image"):
        run_tflite(models_dir / "gray.tflite", image.astype(np.float32))


def test_write_image_reads_integers_by_dtype(tmp_path):
    image = np.round(smooth((10, 11, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "u8.png", image)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "u8.png"))[..., ::-1], image)
    deep = np.round(smooth((10, 11, 1)) * 65535).astype(np.uint16)
    write_image(tmp_path / "u16.png", deep, bit_depth=16)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "u16.png"), cv2.IMREAD_UNCHANGED), deep[..., 0])


@pytest.mark.parametrize("case, expected", [
    ("0-255 floats", "0-255 image"),
    ("NaN", "NaN"),
    ("int64", "pixel type int64"),
])
def test_write_image_refuses_wrong_scales(tmp_path, case, expected):
    image = smooth((10, 11, 1))
    image = {"0-255 floats": image * 255,
             "NaN": np.where(image > 0.5, np.nan, image),
             "int64": np.round(image * 255).astype(np.int64)}[case]
    keep = write_png(tmp_path / "keep.png", smooth((10, 11, 1), seed=1))
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=expected):
        write_image(tmp_path / "new.png", image)
    with pytest.raises(ValueError, match=expected):
        write_image(keep, image)
    assert snapshot(tmp_path) == before


def test_psnr_and_ssim_honour_data_range():
    clean = smooth((24, 24, 1))
    noisy = np.clip(clean + np.random.default_rng(10).normal(0, 0.1, clean.shape), 0, 1)
    unit = metrics.psnr(clean, noisy)
    assert 15 < unit < 25
    assert metrics.psnr(clean * 255, noisy * 255, data_range=255) == pytest.approx(unit, abs=1e-4)
    assert metrics.ssim(clean * 255, noisy * 255, data_range=255) == pytest.approx(
        metrics.ssim(clean, noisy), abs=1e-5)
    as_uint8 = [np.floor(x * 255 + 0.5).astype(np.uint8) for x in (clean, noisy)]
    assert metrics.psnr(*as_uint8) == pytest.approx(unit, abs=1e-4)
    assert metrics.psnr(*as_uint8, data_range=255) == pytest.approx(unit, abs=1e-4)


@pytest.mark.parametrize("case, expected", [
    ("0-255 clean with data_range 1", "outside \\[0, 1\\].*0-255 image"),
    ("NaN restored", "restored image: the image holds 1 NaN"),
    ("uint8 with data_range 2", "data_range must be 1.0 or 255"),
])
def test_metrics_refuse_wrong_scales(case, expected):
    clean = smooth((16, 16, 1))
    pairs = {
        "0-255 clean with data_range 1": (clean * 255, clean * 255, {}),
        "NaN restored": (clean, np.where(np.arange(clean.size).reshape(clean.shape) == 7, np.nan, clean), {}),
        "uint8 with data_range 2": ((clean * 255).astype(np.uint8), (clean * 255).astype(np.uint8),
                                    {"data_range": 2.0}),
    }
    a, b, kwargs = pairs[case]
    with pytest.raises(ValueError, match=expected):
        metrics.psnr(a, b, **kwargs)


# --------------------------------------------------------------------------------------------
# Reading image files


def test_read_image_errors_name_the_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (tmp_path / "folder.png").mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"empty\.png: the file is empty \(0 bytes\)"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(ValueError, match=r"bad\.jpg: not a readable image"):
        read_image_file(tmp_path / "bad.jpg")
    with pytest.raises(ValueError, match="it is a directory"):
        read_image(tmp_path / "folder.png")
    with pytest.raises(FileNotFoundError, match="image file not found: .*gone.png"):
        read_image(tmp_path / "gone.png")
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------
# tools/evaluate.py


def test_evaluate_json_naming_a_folder_fails_before_evaluating(tools, capsys, inputs, tmp_path,
                                                               monkeypatch):
    import kerasdenoise.evaluation

    def must_not_run(*args, **kwargs):
        raise AssertionError("the evaluation ran before the --json check")

    monkeypatch.setattr(kerasdenoise.evaluation, "evaluate", must_not_run)
    (tmp_path / "reports").mkdir()
    before = snapshot(tmp_path)
    code = tools["evaluate"].main(["--model", "identity", "--test-dir", str(inputs), "--noise",
                                   "gaussian:sigma=25", "--json", str(tmp_path / "reports"),
                                   "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--json" in err and "is a folder" in err and "report.json" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case, expected", [
    ("bad noise", "blurry"),
    ("missing model", "no_such_model.keras"),
    ("save-images is a file", "--save-images"),
    ("missing test dir", "nowhere"),
])
def test_evaluate_argument_errors(tools, capsys, inputs, tmp_path, case, expected):
    (tmp_path / "taken.txt").write_text("a file")
    args = {"--model": "identity", "--test-dir": str(inputs), "--noise": "gaussian:sigma=25"}
    extra = []
    if case == "bad noise":
        args["--noise"] = "blurry:strength=9"
    elif case == "missing model":
        args["--model"] = str(tmp_path / "no_such_model.keras")
    elif case == "save-images is a file":
        extra = ["--save-images", str(tmp_path / "taken.txt")]
    else:
        args["--test-dir"] = str(tmp_path / "nowhere")
    before = snapshot(tmp_path)
    argv = [item for pair in args.items() for item in pair] + extra + ["--quiet"]
    assert tools["evaluate"].main(argv) == 2
    assert expected in capsys.readouterr().err
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------
# tools/train.py: every check before a run folder exists


@pytest.mark.parametrize("override, expected", [
    ("batch_size=abc", "'batch_size' must be an integer, got 'abc'"),
    ("augment=1", "'augment' must be true or false"),
    ("model_kwargs.dept=3", "model_kwargs ['dept']: not arguments of model 'dncnn'"),
    ("colour=rgb", "colour: unknown config field"),
    ("noise=blurry:strength=9", "blurry"),
    ("model=no_such_net", "unknown model 'no_such_net'"),
])
def test_train_bad_overrides_fail_before_a_run_folder(tools, capsys, tmp_path, tiny_images,
                                                      override, expected):
    out = tmp_path / "run"
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        tools["train"].main(["--config", "demo", "--data-dir", str(tiny_images), "--out", str(out),
                             "--steps", "1", "--quiet", "--set", override])
    assert stopped.value.code == 2
    assert expected in capsys.readouterr().err
    assert not out.exists() and snapshot(tmp_path) == before


def test_train_missing_data_fails_before_a_run_folder(tools, capsys, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        tools["train"].main(["--config", "demo", "--data-dir", str(tmp_path / "no_photos"),
                             "--out", str(out), "--quiet"])
    assert "no_photos" in capsys.readouterr().err and not out.exists()


def test_median_filter_removes_isolated_impulses_and_checks_its_size():
    image = np.full((24, 24, 3), 0.5, np.float32)
    image[5, 5] = 1.0
    image[9, 12, 1] = 0.0
    assert np.abs(load_denoiser("median")(image) - 0.5).max() < 1e-6
    assert load_denoiser("median:5").name == "median:5"
    for bad in ("median:4", "median:three"):
        with pytest.raises(ValueError, match="3, 5"):
            load_denoiser(bad)


def test_bm3d_with_a_fixed_sigma_needs_no_noise_level(tools, capsys, inputs, tmp_path):
    pytest.importorskip("bm3d")
    for bad in ("bm3d:sigma=0", "bm3d:level=25", "bm3d:sigma=x"):
        with pytest.raises(ValueError, match="bm3d:sigma=S"):
            load_denoiser(bad)
    denoiser = load_denoiser("bm3d:sigma=25")
    denoiser.set_noise("gaussian:sigma=25+saltpepper:amount=0.05")  # not one Gaussian: kept at 25
    assert denoiser.sigma == 25 and not denoiser.uses_noise
    code, _, err = run_denoise(tools, capsys, inputs, "--model", "bm3d:sigma=25", "-o", tmp_path / "out")
    assert code == 0, err
