"""DnCNN builder, the official-weights importer, and inference (load_denoiser, tiling, color)."""
import os

import numpy as np
import pytest

from kerasdenoise import metrics, models
from kerasdenoise.runtime import Denoiser, denoiser_from_keras, load_denoiser, tiled_apply
from kerasdenoise.models.dncnn import build_dncnn, load_matconvnet_dncnn


def _smooth_image(shape, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 3.0)
    image = image.reshape(shape)
    return (image - image.min()) / (image.max() - image.min())


# ------------------------------------------------------------------------------ builder


def test_build_dncnn_shapes_and_registry():
    net = models.build("dncnn", depth=5, channels=3, filters=8)
    assert "dncnn" in models.names()
    assert net.input_shape == (None, None, None, 3)
    out = net(np.zeros((2, 24, 31, 3), np.float32))
    assert tuple(out.shape) == (2, 24, 31, 3)
    convs = [l for l in net.layers if l.__class__.__name__ == "Conv2D"]
    assert len(convs) == 5
    # No bias in the BN-followed convolutions, biases in the first and last.
    assert [c.use_bias for c in convs] == [True, False, False, False, True]
    assert sum(l.__class__.__name__ == "BatchNormalization" for l in net.layers) == 3
    plain = build_dncnn(depth=4, channels=1, filters=8, batch_norm=False)
    assert all(c.use_bias for c in plain.layers if c.__class__.__name__ == "Conv2D")
    with pytest.raises(ValueError, match="depth"):
        build_dncnn(depth=1)


def test_dncnn_output_is_input_minus_predicted_residual():
    net = build_dncnn(depth=3, channels=1, filters=4)
    x = np.random.default_rng(0).random((1, 16, 16, 1)).astype(np.float32)
    last = net.get_layer("residual")
    kernel, bias = last.get_weights()
    last.set_weights([np.zeros_like(kernel), np.full_like(bias, 0.25)])
    np.testing.assert_allclose(net(x).numpy(), x - 0.25, atol=1e-6)


# ------------------------------------------------------------------------------ importer


def _reference_models(shared_data):
    folder = shared_data / "reference_models" / "dncnn"
    if not folder.is_dir():
        pytest.skip(f"official DnCNN weights not found in {folder}")
    return folder


@pytest.mark.parametrize(
    "file, test_set, channels, sigma, n_convs",
    [
        ("sigma=15.mat", "BSD68", 1, 15, 17),
        ("sigma=25.mat", "BSD68", 1, 25, 17),
        ("sigma=50.mat", "BSD68", 1, 50, 17),
        ("GD_Gray_Blind.mat", "BSD68", 1, 25, 20),
        ("GD_Color_Blind.mat", "CBSD68", 3, 25, 20),
        ("DnCNN3.mat", "BSD68", 1, 25, 20),
    ],
)
def test_official_weights_denoise_a_real_crop(shared_data, file, test_set, channels, sigma, n_convs):
    from kerasdenoise.data.io import read_image

    model = load_matconvnet_dncnn(_reference_models(shared_data) / file)
    assert model.input_shape == (None, None, None, channels)
    assert sum(l.__class__.__name__ == "Conv2D" for l in model.layers) == n_convs
    folder = shared_data / "test" / test_set
    first = sorted(p for p in os.listdir(folder) if p.endswith(".png"))[0]
    clean = read_image(folder / first, "rgb" if channels == 3 else "gray")[100:164, 100:164]
    noisy = clean + np.random.default_rng(0).normal(0, sigma / 255, clean.shape).astype(np.float32)
    restored = np.clip(model(noisy[None]).numpy()[0], 0, 1)
    gain = metrics.psnr(clean, restored) - metrics.psnr(clean, noisy)
    assert gain > 3.0, f"{file}: only {gain:.2f} dB gain"


def test_importer_errors(tmp_path):
    import h5py

    with pytest.raises(FileNotFoundError, match="nope.mat"):
        load_matconvnet_dncnn(tmp_path / "nope.mat")
    text = tmp_path / "text.mat"
    text.write_text("not a mat file")
    with pytest.raises(ValueError, match="text.mat"):
        load_matconvnet_dncnn(text)
    other = tmp_path / "other.mat"
    with h5py.File(other, "w") as handle:
        handle["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="other.mat.*net/layers"):
        load_matconvnet_dncnn(other)


# ------------------------------------------------------------------------------ inference


def test_tiled_equals_untiled_for_same_padded_conv_net():
    net = build_dncnn(depth=6, channels=1, filters=8)  # receptive radius 6 < overlap
    image = _smooth_image((150, 97, 1))
    run = lambda tile: net(tile[None]).numpy()[0]  # noqa: E731
    whole = run(image)
    calls = []
    tiled = tiled_apply(lambda t: calls.append(t.shape) or run(t), image, tile=48, overlap=8)
    assert len(calls) > 4 and len(set(calls)) == 1  # many tiles, all of one size
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    with pytest.raises(ValueError, match="overlap"):
        tiled_apply(run, image, tile=16, overlap=8)


def test_tiled_apply_border_equals_padding_the_whole_image():
    from kerasdenoise.runtime import reflect_pad

    rng = np.random.default_rng(3)
    run = lambda t: (t * np.arange(1, t.shape[1] + 1)[None, :, None]).astype(np.float32)  # noqa: E731
    for shape, border in (((150, 97, 2), 7), ((1, 40, 1), 5), ((60, 60, 1), 0)):
        image = rng.random(shape).astype(np.float32)
        height, width = shape[:2]
        padded = tiled_apply(run, reflect_pad(image, border), tile=32, overlap=4)
        expected = padded[border : border + height, border : border + width]
        got = tiled_apply(run, image, tile=32, overlap=4, border=border)
        np.testing.assert_array_equal(got, expected)
    as_uint8 = tiled_apply(lambda t: t, np.zeros((70, 70, 1), np.uint8), tile=32, overlap=4,
                           border=3)
    assert as_uint8.dtype == np.uint8  # the result keeps the dtype fn returns


def test_large_rgb_image_through_a_gray_network_holds_no_full_size_copies():
    """Tiles are the outer loop: YCbCr conversion, clipping and quantization happen per tile,
    so an 8-bit RGB photograph costs its float copy and its result, not one array per step."""
    import tracemalloc

    from kerasdenoise.runtime import NetworkDenoiser

    image = (np.random.default_rng(0).random((1200, 1500, 3)) * 255).astype(np.uint8)
    denoiser = NetworkDenoiser("half", 1, lambda batch: batch * 0.5, tile=256, overlap=16)
    tracemalloc.start()
    try:
        restored = denoiser(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert restored.dtype == np.uint8 and restored.shape == image.shape
    # float32 copy (4x the uint8 image) + result (1x) + tiles; whole-image steps took 40x
    assert peak < 7 * image.nbytes, peak / image.nbytes


def _whole(net, image, border):
    """``net`` on the whole image padded by reflection by ``border`` pixels, cropped back: what a
    tiled denoiser must reproduce."""
    from kerasdenoise.runtime import reflect_pad

    height, width = image.shape[:2]
    out = net(reflect_pad(image, border)[None]).numpy()[0]
    return out[border : border + height, border : border + width]


def test_keras_file_denoiser_tiles_and_handles_color(tmp_path):
    net = build_dncnn(depth=4, channels=1, filters=8)
    path = tmp_path / "tiny.keras"
    net.save(path)
    denoiser = load_denoiser(str(path), tile=40, overlap=8)
    assert (denoiser.name, denoiser.channels) == ("tiny", 1)
    gray = _smooth_image((70, 90, 1))
    expected = np.clip(_whole(net, gray, border=8), 0, 1)
    np.testing.assert_allclose(denoiser(gray), expected, atol=1e-5)
    assert denoiser(gray[..., 0]).shape == (70, 90)
    # An RGB image goes through Y, Cb, Cr separately.
    from kerasdenoise.data.color import rgb_to_ycbcr, ycbcr_to_rgb

    rgb = _smooth_image((40, 44, 3), seed=1)
    ycbcr = rgb_to_ycbcr(rgb)
    planes = [_whole(net, ycbcr[..., i : i + 1], border=8) for i in range(3)]
    expected_rgb = np.clip(ycbcr_to_rgb(np.concatenate(planes, -1)), 0, 1)
    np.testing.assert_allclose(denoiser(rgb), expected_rgb, atol=1e-5)
    assert denoiser.describe_color(3)
    color_net = denoiser_from_keras(build_dncnn(depth=3, channels=3, filters=4), "c", 64, 8)
    with pytest.raises(ValueError, match="3-channel"):
        color_net(gray)


def test_downsampling_model_gets_padded_to_its_multiple():
    import keras

    inputs = keras.Input((None, None, 1))
    down = keras.layers.Conv2D(4, 3, strides=4, padding="same")(inputs)
    up = keras.layers.UpSampling2D(4)(down)
    out = keras.layers.Add()([inputs, keras.layers.Conv2D(1, 1)(up)])
    model = keras.Model(inputs, out)
    denoiser = denoiser_from_keras(model, "down", 512, 32)
    assert denoiser.multiple == 4
    assert denoiser(_smooth_image((30, 37, 1))).shape == (30, 37, 1)


def test_savedmodel_and_tflite_specs(tmp_path):
    import tensorflow as tf

    net = build_dncnn(depth=3, channels=1, filters=4)
    saved = tmp_path / "saved"
    net.export(str(saved), format="tf_saved_model", verbose=False)
    lite = tmp_path / "tiny.tflite"
    lite.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert())
    image = _smooth_image((45, 70, 1))
    expected = np.clip(_whole(net, image, border=8), 0, 1)
    for spec in (str(saved), str(lite)):
        denoiser = load_denoiser(spec, tile=32, overlap=8)
        assert denoiser.channels == 1
        np.testing.assert_allclose(denoiser(image), expected, atol=1e-4, err_msg=spec)


def test_identity_bm3d_and_spec_errors(tmp_path):
    image = _smooth_image((32, 32, 1))
    assert isinstance(load_denoiser("identity"), Denoiser)
    # Out-of-range noisy values are clipped (a mean above 2 would be refused as another scale).
    np.testing.assert_array_equal(load_denoiser("identity")(np.full_like(image, 1.5)),
                                  np.ones_like(image))
    bm3d = load_denoiser("bm3d")
    with pytest.raises(ValueError, match="noise level"):
        bm3d(image)
    with pytest.raises(ValueError, match="Gaussian"):
        bm3d.set_noise("poisson:peak=4")
    bm3d.set_noise("gaussian:sigma=25")
    noisy = image + np.random.default_rng(0).normal(0, 25 / 255, image.shape).astype(np.float32)
    assert metrics.psnr(image, bm3d(noisy)) > metrics.psnr(image, noisy) + 3
    with pytest.raises(FileNotFoundError, match=r"missing\.keras.*accepted"):
        load_denoiser(str(tmp_path / "missing.keras"))
    with pytest.raises(FileNotFoundError, match="nothing.mat"):
        load_denoiser("dncnn-official:" + str(tmp_path / "nothing.mat"))
    with pytest.raises(ValueError, match="accepted forms"):
        load_denoiser("not-a-model")
    with pytest.raises(ValueError, match="not a SavedModel"):
        load_denoiser(str(tmp_path))


def test_shipped_spec_picks_the_gray_or_color_model(tmp_path, monkeypatch):
    import tensorflow as tf

    from kerasdenoise.runtime import load as inference

    def ship(folder, channels, scale):
        import keras

        inputs = keras.Input((None, None, channels))
        model = keras.Model(inputs, keras.layers.Rescaling(scale)(inputs))
        path = tmp_path / "exported" / folder
        path.mkdir(parents=True)
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        (path / inference.SHIPPED_FILE).write_bytes(converter.convert())

    monkeypatch.setattr(inference, "SHIPPED_DIR", str(tmp_path / "exported"))
    ship(inference.SHIPPED_GRAY, 1, 0.5)
    gray, rgb = _smooth_image((20, 24, 1)), _smooth_image((20, 24, 3), seed=2)
    only_gray = load_denoiser("shipped")
    np.testing.assert_allclose(only_gray(gray), gray * 0.5, atol=1e-5)
    assert "Y, Cb, Cr" in " ".join(only_gray.describe_color(3))  # no color model: per channel
    ship(inference.SHIPPED_COLOR, 3, 0.25)
    both = load_denoiser("shipped")
    np.testing.assert_allclose(both(rgb), rgb * 0.25, atol=1e-5)
    np.testing.assert_allclose(both(gray), gray * 0.5, atol=1e-5)
    np.testing.assert_allclose(load_denoiser("shipped:color_blind")(rgb), rgb * 0.25, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="shipped models here: color_blind, ds_dnresnet13_blind"):
        load_denoiser("shipped:nothing_here")
