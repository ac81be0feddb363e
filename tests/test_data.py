"""kerasdenoise.data: image I/O, color conversion, discovery and the tf.data patch pipeline."""
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from kerasdenoise.data import color, discovery, io

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- io


def _encode_png(path: Path, pixels: np.ndarray) -> Path:
    """Write raw pixels with OpenCV directly (BGR order), independent of write_image."""
    assert cv2.imwrite(str(path), pixels)
    return path


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_read_gray_png_8_and_16_bit(tmp_path, dtype):
    max_value = np.iinfo(dtype).max
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, max_value + 1, size=(7, 9), dtype=dtype)
    path = _encode_png(tmp_path / "gray.png", pixels)

    gray = io.read_image(path, "gray")
    assert gray.shape == (7, 9, 1) and gray.dtype == np.float32
    np.testing.assert_array_equal(gray[..., 0], pixels.astype(np.float32) / max_value)
    # "y" of a gray image is the gray value itself; "rgb" replicates it.
    np.testing.assert_array_equal(io.read_image(path, "y"), gray)
    rgb = io.read_image(path, "rgb")
    assert rgb.shape == (7, 9, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], gray[..., 0])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_read_color_png_is_rgb_order(tmp_path, dtype):
    max_value = np.iinfo(dtype).max
    rgb_pixels = np.zeros((4, 5, 3), dtype=dtype)
    rgb_pixels[..., 0] = max_value  # pure red
    rgb_pixels[1, 2] = (0, max_value, 0)  # one green pixel
    path = _encode_png(tmp_path / "color.png", rgb_pixels[..., ::-1])  # OpenCV wants BGR

    rgb = io.read_image(path, "rgb")
    np.testing.assert_array_equal(rgb, rgb_pixels.astype(np.float32) / max_value)
    gray = io.read_image(path, "gray")
    np.testing.assert_allclose(gray[0, 0, 0], 0.299, atol=1e-6)
    np.testing.assert_allclose(gray[1, 2, 0], 0.587, atol=1e-6)
    y = io.read_image(path, "y")
    np.testing.assert_allclose(y[0, 0, 0], (16 + 65.481) / 255, atol=1e-6)


def test_read_png_with_alpha_drops_alpha(tmp_path):
    bgra = np.zeros((3, 4, 4), dtype=np.uint8)
    bgra[..., 0] = 200  # blue
    bgra[..., 1] = 100  # green
    bgra[..., 2] = 50  # red
    bgra[..., 3] = np.arange(12, dtype=np.uint8).reshape(3, 4)  # varying alpha
    path = _encode_png(tmp_path / "alpha.png", bgra)

    rgb = io.read_image(path, "rgb")
    assert rgb.shape == (3, 4, 3)
    np.testing.assert_array_equal(rgb[0, 0] * 255, [50, 100, 200])


def test_read_image_errors_name_the_file(tmp_path):
    missing = tmp_path / "nowhere.png"
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        io.read_image(missing)

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png"):
        io.read_image(empty)

    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"this is not a JPEG at all" * 10)
    with pytest.raises(ValueError, match="corrupt.jpg"):
        io.read_image(corrupt)

    with pytest.raises(ValueError, match="color"):
        io.read_image(missing, "cmyk")


@pytest.mark.parametrize("bit_depth", [8, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_write_image_round_trip(tmp_path, bit_depth, channels):
    max_value = 2**bit_depth - 1
    rng = np.random.default_rng(1)
    image = rng.integers(0, max_value + 1, size=(6, 5, channels)).astype(np.float32) / max_value
    image[0, 0] = 1.7  # clipped to 1
    image[0, 1] = -0.3  # clipped to 0
    path = tmp_path / "deep" / "folder" / "out.png"
    assert io.write_image(path, image, bit_depth=bit_depth) == path

    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == (np.uint8 if bit_depth == 8 else np.uint16)
    back = io.read_image(path, "rgb" if channels == 3 else "gray")
    expected = np.clip(image, 0, 1)
    np.testing.assert_allclose(back, expected, atol=0.5 / max_value)


def test_write_image_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="bit_depth"):
        io.write_image(tmp_path / "x.png", np.zeros((2, 2)), bit_depth=12)
    with pytest.raises(ValueError, match="16-bit"):
        io.write_image(tmp_path / "x.jpg", np.zeros((2, 2)), bit_depth=16)
    with pytest.raises(ValueError, match="shape"):
        io.write_image(tmp_path / "x.png", np.zeros((2, 2, 2)))


# ---------------------------------------------------------------- color


def test_ycbcr_matches_matlab_reference_values():
    white_black = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    ycbcr = color.rgb_to_ycbcr(white_black)
    np.testing.assert_allclose(ycbcr[0], [235 / 255, 128 / 255, 128 / 255], atol=1e-12)
    np.testing.assert_allclose(ycbcr[1], [16 / 255, 128 / 255, 128 / 255], atol=1e-12)
    # Pure primaries: MATLAB rgb2ycbcr(uint8([255 0 0])) = [81 90 240], etc.
    primaries = np.eye(3, dtype=np.float64)
    np.testing.assert_allclose(
        np.round(color.rgb_to_ycbcr(primaries) * 255),
        [[81, 90, 240], [145, 54, 34], [41, 240, 110]],
    )
    np.testing.assert_allclose(color.rgb_to_y(white_black)[..., 0], [235 / 255, 16 / 255])


def test_ycbcr_round_trip_and_dtypes():
    rng = np.random.default_rng(2)
    rgb = rng.random((5, 6, 3)).astype(np.float32)
    ycbcr = color.rgb_to_ycbcr(rgb)
    assert ycbcr.dtype == np.float32
    np.testing.assert_allclose(color.ycbcr_to_rgb(ycbcr), rgb, atol=1e-5)
    rgb64 = rgb.astype(np.float64)
    np.testing.assert_allclose(color.ycbcr_to_rgb(color.rgb_to_ycbcr(rgb64)), rgb64, atol=1e-12)
    assert color.rgb_to_y(rgb).shape == (5, 6, 1)
    np.testing.assert_allclose(color.rgb_to_y(rgb), ycbcr[..., :1], atol=1e-6)
    out_of_range = color.ycbcr_to_rgb(np.array([[0.0, 1.0, 1.0]]), clip=True)
    assert out_of_range.min() >= 0 and out_of_range.max() <= 1


def test_convert_color():
    rng = np.random.default_rng(3)
    rgb = rng.random((4, 4, 3)).astype(np.float32)
    gray = color.convert_color(rgb, "gray")
    np.testing.assert_allclose(gray[..., 0], rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-6)
    assert color.convert_color(gray, "rgb").shape == (4, 4, 3)
    np.testing.assert_array_equal(color.convert_color(gray, "y"), gray)
    with pytest.raises(ValueError, match="color"):
        color.convert_color(rgb, "hsv")
    with pytest.raises(ValueError, match="float"):
        color.convert_color(np.zeros((2, 2, 3), np.uint8), "gray")
    with pytest.raises(ValueError, match="channels"):
        color.rgb_to_y(np.zeros((2, 2, 4)))


# ---------------------------------------------------------------- discovery


def test_find_images_extensions_and_order(tmp_path):
    pixels = np.zeros((4, 4), np.uint8)
    for name in ("b.PNG", "a.jpg", "c.Tiff", "d.bmp", "e.JPEG", "f.tif"):
        ok, encoded = cv2.imencode(Path(name).suffix.lower(), pixels)
        (tmp_path / name).write_bytes(encoded.tobytes())
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"")
    (tmp_path / "sub.png").mkdir()  # a folder, even with an image suffix, is skipped

    found = discovery.find_images(tmp_path)
    assert [p.name for p in found] == ["a.jpg", "b.PNG", "c.Tiff", "d.bmp", "e.JPEG", "f.tif"]
    assert all(isinstance(p, Path) for p in found)


def test_find_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_folder"):
        discovery.find_images(tmp_path / "missing_folder")
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="empty_folder.*png"):
        discovery.find_images(empty)


def test_image_set_from_folder(tiny_images):
    images = discovery.image_set(tiny_images)
    assert images.name == tiny_images.name and images.source == str(tiny_images)
    assert images.names() == ["img0", "img1", "img2"]
    loaded = images.load("gray")
    assert len(loaded) == 3 and loaded[0].shape == (48, 56, 1) and loaded[0].dtype == np.float32


def test_skimage_default_sets_load_offline():
    for name in ("skimage-train", "SKIMAGE-test"):
        images = discovery.image_set(name)
        assert images.source == "scikit-image" and len(images) >= 4
        for color_name, channels in (("gray", 1), ("rgb", 3)):
            for image in images.load(color_name):
                assert image.ndim == 3 and image.shape[2] == channels
                assert image.dtype == np.float32
                assert 0.0 <= image.min() < image.max() <= 1.0
                assert min(image.shape[:2]) >= 128
    train = set(discovery.image_set("skimage-train").names())
    test = set(discovery.image_set("skimage-test").names())
    assert not train & test


def test_image_set_unknown_name_lists_valid_names(tmp_path):
    with pytest.raises(ValueError, match="skimage-train.*Set12"):
        discovery.image_set(str(tmp_path / "no_such_thing"))


def test_shared_set_without_data_says_where_it_looked(tmp_path, monkeypatch):
    missing = tmp_path / "no_data_here"
    monkeypatch.setenv("KERASDENOISE_DATA", str(missing))
    assert discovery.shared_data_dir() is None
    with pytest.raises(FileNotFoundError, match="no_data_here.*KERASDENOISE_DATA"):
        discovery.image_set("bsd68")


def test_shared_data_dir_follows_env(tmp_path, monkeypatch):
    from conftest import write_images

    write_images(tmp_path / "test" / "Set12", n=2, channels=1)
    monkeypatch.setenv("KERASDENOISE_DATA", str(tmp_path))
    assert discovery.shared_data_dir() == tmp_path
    images = discovery.image_set("set12")
    assert images.name == "Set12" and images.names() == ["img0", "img1"]


def test_shared_data_dir_default_is_next_to_repo(monkeypatch):
    monkeypatch.delenv("KERASDENOISE_DATA", raising=False)
    default = ROOT.parent / "shared" / "data"
    assert discovery.shared_data_dir() == (default if default.is_dir() else None)


def test_shared_sets_resolve(shared_data, monkeypatch):
    monkeypatch.setenv("KERASDENOISE_DATA", str(shared_data))
    expected_counts = {"Set12": 12, "BSD68": 68, "CBSD68": 68, "LIVE1": 29, "classic5": 5}
    for name, relative in discovery.SHARED_SETS.items():
        if not (shared_data / relative).is_dir():
            continue
        images = discovery.image_set(name)
        assert images.source == str(shared_data / relative)
        if name in expected_counts:
            assert len(images) == expected_counts[name]
    set12 = discovery.image_set("Set12").load("gray")
    assert all(image.shape[2] == 1 and image.dtype == np.float32 for image in set12)


# ---------------------------------------------------------------- pipeline

tf = pytest.importorskip("tensorflow")
from kerasdenoise.data import pipeline  # noqa: E402  (needs TensorFlow)


def add_noise(images, seed):
    """A stand-in degradation: Gaussian noise with a sigma drawn from the seed."""
    sigma = tf.random.stateless_uniform([], seed=seed, minval=0.02, maxval=0.2)
    noise_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    return images + sigma * tf.random.stateless_normal(tf.shape(images), seed=noise_seed)


def ramp_image(height, width, channels=1, offset=0):
    """An image whose pixels are all different (float values, not 8-bit exact), so a patch
    tells where it was cropped."""
    values = (np.arange(height * width, dtype=np.float64) + offset) / (height * width + offset + 1)
    image = values.reshape(height, width, 1).astype(np.float32)
    return np.repeat(image, channels, axis=2)


def first_batches(dataset, count):
    return [tuple(t.numpy() for t in batch) for batch in dataset.take(count)]


def test_element_seed_is_deterministic_and_graph_safe():
    eager = pipeline.element_seed(7, 3).numpy()
    assert eager.dtype == np.int32 and eager.shape == (2,)
    in_graph = tf.function(lambda i: pipeline.element_seed(7, i))(tf.constant(3, tf.int64))
    np.testing.assert_array_equal(eager, in_graph.numpy())
    others = {tuple(pipeline.element_seed(s, i).numpy()) for s in (7, 8) for i in (3, 4)}
    assert len(others) == 4


@pytest.mark.parametrize("target_size", [None, 5])
def test_patch_dataset_shapes_and_dtypes(target_size):
    images = [np.random.default_rng(0).random((20, 24, 3)).astype(np.float32)] * 2
    dataset = pipeline.patch_dataset(
        images, patch_size=9, degradation=add_noise, batch_size=4, seed=0, target_size=target_size
    )
    target = target_size or 9
    degraded, clean = next(iter(dataset))
    assert degraded.shape == (4, 9, 9, 3) and degraded.dtype == tf.float32
    assert clean.shape == (4, target, target, 3) and clean.dtype == tf.float32
    spec = dataset.element_spec
    assert spec[0].shape == (4, 9, 9, 3) and spec[1].shape == (4, target, target, 3)


def test_patch_dataset_is_repeatable_and_resumable():
    images = [ramp_image(30, 26), ramp_image(17, 40, offset=5)]
    make = lambda **kw: pipeline.patch_dataset(  # noqa: E731
        images, patch_size=8, degradation=add_noise, batch_size=3, **kw
    )
    run_a = first_batches(make(seed=11), 4)
    run_b = first_batches(make(seed=11), 4)
    for (da, ca), (db, cb) in zip(run_a, run_b):
        np.testing.assert_array_equal(da, db)
        np.testing.assert_array_equal(ca, cb)
    other_seed = first_batches(make(seed=12), 1)[0]
    assert not np.array_equal(other_seed[0], run_a[0][0])

    resumed = first_batches(make(seed=11, start_step=3), 1)[0]
    np.testing.assert_array_equal(resumed[0], run_a[3][0])
    np.testing.assert_array_equal(resumed[1], run_a[3][1])


def test_patch_dataset_does_not_depend_on_batch_size():
    images = [ramp_image(30, 26)]
    make = lambda batch: pipeline.patch_dataset(  # noqa: E731
        images, patch_size=8, degradation=add_noise, batch_size=batch, seed=5
    )
    small = first_batches(make(2), 3)
    large = first_batches(make(6), 1)[0]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in small]), large[0])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in small]), large[1])


def test_patches_are_exact_crops_of_the_images():
    rng = np.random.default_rng(4)
    # 8- / 16-bit exact pixels are packed as uint8 / uint16 and must come back bit-exact;
    # other values (even outside [0, 1]) stay float32.
    eight_bit = rng.integers(0, 256, size=(21, 19, 1)).astype(np.float32) / np.float32(255)
    sixteen_bit = rng.integers(0, 65536, size=(21, 19, 1)).astype(np.float32) / np.float32(65535)
    for image in (ramp_image(21, 19), eight_bit, sixteen_bit, ramp_image(21, 19) * 1.5):
        dataset = pipeline.patch_dataset(
            [image], patch_size=6, degradation=None, batch_size=16, seed=3
        )
        _, clean = first_batches(dataset, 1)[0]
        windows = np.lib.stride_tricks.sliding_window_view(image, (6, 6, 1))[..., 0, :, :, :]
        windows = windows.reshape(-1, 6, 6, 1)
        for patch in clean:
            assert np.any(np.all(windows == patch, axis=(1, 2, 3)))
        assert len({patch.tobytes() for patch in clean}) > 1  # crops move


def test_patches_per_image_and_order():
    images = [np.full((10, 10, 1), value, np.float32) for value in (0.25, 0.5, 0.75)]
    in_order = pipeline.patch_dataset(
        images, patch_size=4, degradation=None, batch_size=6, seed=0, patches_per_image=2,
        shuffle=False,
    )
    _, clean = first_batches(in_order, 1)[0]
    np.testing.assert_array_equal(clean[:, 0, 0, 0], [0.25, 0.25, 0.5, 0.5, 0.75, 0.75])

    shuffled = pipeline.patch_dataset(
        images, patch_size=4, degradation=None, batch_size=6, seed=0, patches_per_image=2,
    )
    epochs = [clean[:, 0, 0, 0] for _, clean in first_batches(shuffled, 3)]
    for epoch in epochs:  # each epoch uses every image exactly patches_per_image times
        np.testing.assert_array_equal(np.sort(epoch), [0.25, 0.25, 0.5, 0.5, 0.75, 0.75])
    assert any(not np.array_equal(epoch, epochs[0]) for epoch in epochs[1:])


def test_target_is_center_of_input_with_identity_degradation():
    images = [ramp_image(40, 36, channels=2)]
    for degradation in (None, lambda images, seed: images):
        dataset = pipeline.patch_dataset(
            images, patch_size=33, target_size=17, degradation=degradation, batch_size=4, seed=9
        )
        degraded, clean = first_batches(dataset, 1)[0]
        np.testing.assert_array_equal(clean, degraded[:, 8:25, 8:25, :])


def test_noisy_input_target_alignment_and_clean_target():
    """With noise the target is still the clean center: noise averages out around it."""
    images = [ramp_image(40, 36)]
    dataset = pipeline.patch_dataset(
        images, patch_size=13, target_size=7, degradation=add_noise, batch_size=32, seed=2
    )
    degraded, clean = first_batches(dataset, 1)[0]
    residual = degraded[:, 3:10, 3:10, :] - clean
    assert 0.01 < residual.std() < 0.25 and abs(residual.mean()) < 0.02


def test_patch_dataset_errors_name_the_image():
    small = np.zeros((20, 5, 1), np.float32)
    with pytest.raises(ValueError, match="tiny_one.*20x5"):
        pipeline.patch_dataset(
            [np.zeros((20, 20, 1), np.float32), small], patch_size=8, degradation=None,
            batch_size=2, seed=0, names=["big", "tiny_one"],
        )
    with pytest.raises(ValueError, match="channels"):
        pipeline.patch_dataset(
            [np.zeros((20, 20, 1), np.float32), np.zeros((20, 20, 3), np.float32)],
            patch_size=8, degradation=None, batch_size=2, seed=0,
        )
    with pytest.raises(ValueError, match="target_size"):
        pipeline.patch_dataset(
            [np.zeros((20, 20, 1), np.float32)], patch_size=8, target_size=9, degradation=None,
            batch_size=2, seed=0,
        )
    with pytest.raises(ValueError, match="degradation"):
        pipeline.patch_dataset(
            [np.zeros((20, 20, 1), np.float32)], patch_size=8, degradation=3, batch_size=2, seed=0
        )


def test_augment_gives_flips_and_rotations_of_crops():
    image = ramp_image(12, 12)
    dataset = pipeline.patch_dataset(
        [image], patch_size=12, degradation=None, batch_size=64, seed=1, augment=True
    )
    _, clean = first_batches(dataset, 1)[0]
    variants = {patch.tobytes() for patch in clean}
    dihedral = set()
    for k in range(4):
        rotated = np.rot90(image, k, axes=(0, 1))
        dihedral |= {rotated.tobytes(), rotated[:, ::-1].copy().tobytes()}
    assert variants <= dihedral and len(variants) == 8


def test_degrade_for_eval_is_deterministic():
    image = np.random.default_rng(5).random((15, 17, 3)).astype(np.float32)
    first = pipeline.degrade_for_eval(image, add_noise, seed=4, index=2)
    again = pipeline.degrade_for_eval(image, add_noise, seed=4, index=2)
    other = pipeline.degrade_for_eval(image, add_noise, seed=4, index=3)
    assert first.shape == image.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    expected = add_noise(tf.constant(image[None]), pipeline.element_seed(4, 2))[0].numpy()
    np.testing.assert_array_equal(first, expected)


@pytest.mark.skipif(
    importlib.util.find_spec("kerasdenoise.degrade") is None,
    reason="kerasdenoise.degrade is not written yet",
)
def test_patch_dataset_with_spec_string():
    images = [np.random.default_rng(6).random((24, 24, 1)).astype(np.float32)]
    spec = "gaussian:sigma=10..75|poisson:peak=1..8"
    dataset = pipeline.patch_dataset(
        images, patch_size=9, target_size=5, degradation=spec, batch_size=4, seed=0
    )
    (degraded, clean), (again, _) = first_batches(dataset, 1)[0], first_batches(dataset, 1)[0]
    assert degraded.shape == (4, 9, 9, 1) and clean.shape == (4, 5, 5, 1)
    assert np.isfinite(degraded).all() and not np.array_equal(degraded[:, 2:7, 2:7], clean)
    np.testing.assert_array_equal(degraded, again)
    evaluated = pipeline.degrade_for_eval(images[0], spec, seed=1, index=0)
    assert evaluated.shape == images[0].shape
