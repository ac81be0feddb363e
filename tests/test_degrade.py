"""Tests of kerasdenoise.degrade (degradations, specs) and kerasdenoise.data.mnist (kernels)."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import tensorflow as tf

from kerasdenoise import degrade
from kerasdenoise.data import mnist

SEED = tf.constant([3, 7], tf.int32)
OTHER_SEED = tf.constant([3, 8], tf.int32)


def gray(batch=2, size=64, channels=1, value=0.5):
    return tf.fill([batch, size, size, channels], value)


def textured(batch=2, size=32, channels=3):
    """A deterministic image with edges and smooth parts, in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = 0.5 + 0.4 * np.sin(9 * xx) * np.cos(7 * yy)
    base[size // 4: size // 2, size // 4: 3 * size // 4] = 0.9
    image = np.repeat(base[..., None], channels, axis=-1) * np.linspace(0.8, 1, channels)
    return tf.constant(np.stack([image] * batch), tf.float32)


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((np.asarray(a) - np.asarray(b)) ** 2))


# ------------------------------------------------------------------------------ noise statistics

def test_gaussian_std_matches_sigma_and_is_not_clipped():
    clean = gray(batch=2, size=64, channels=2)
    noisy = degrade.gaussian_noise(clean, SEED, 25)
    residual = np.asarray(noisy - clean)
    assert abs(residual.std() * 255 - 25) < 25 * 0.03
    assert abs(residual.mean()) < 0.005
    strong = np.asarray(degrade.gaussian_noise(clean, SEED, 75))
    assert strong.min() < 0 and strong.max() > 1  # DnCNN protocol: no clipping


def test_poisson_variance_is_mean_over_peak():
    clean = gray(batch=2, size=64, channels=3, value=0.5)
    noisy = np.asarray(degrade.poisson_noise(clean, SEED, 4))
    assert abs(noisy.mean() - 0.5) < 0.01
    assert noisy.var() == pytest.approx(0.5 / 4, rel=0.05)
    # Values are counts / peak.
    np.testing.assert_allclose(noisy * 4, np.round(noisy * 4), atol=1e-5)


def test_poisson_gaussian_variance():
    clean = gray(batch=2, size=64, channels=3, value=0.5)
    noisy = np.asarray(degrade.poisson_gaussian_noise(clean, SEED, sigma=50, peak=20))
    expected = 0.5 / 20 + (50 / 255) ** 2
    assert noisy.var() == pytest.approx(expected, rel=0.05)
    assert abs(noisy.mean() - 0.5) < 0.01


def test_salt_and_pepper_fraction_and_values():
    clean = gray(batch=2, size=64, channels=3, value=0.5)
    noisy = np.asarray(degrade.salt_and_pepper_noise(clean, SEED, 0.2))
    changed = noisy != 0.5
    # One decision per pixel: a pixel is changed in all channels or in none, to the same value.
    assert np.array_equal(changed.any(-1), changed.all(-1))
    assert np.all(noisy[..., :1] == noisy)
    assert np.isin(noisy[changed], [0.0, 1.0]).all()
    assert changed[..., 0].mean() == pytest.approx(0.2, abs=0.02)
    salt = (noisy[..., 0] == 1).sum() / changed[..., 0].sum()
    assert salt == pytest.approx(0.5, abs=0.05)


def test_per_image_parameter_tensor():
    clean = gray(batch=2, size=64)
    noisy = degrade.gaussian_noise(clean, SEED, tf.constant([5.0, 50.0]))
    stds = np.asarray(noisy - clean).std(axis=(1, 2, 3)) * 255
    np.testing.assert_allclose(stds, [5, 50], rtol=0.05)


# ------------------------------------------------------------------------------ randomness

SPECS_FOR_DETERMINISM = [
    "gaussian:sigma=25",
    "poisson-gaussian:sigma=2,peak=20",
    "saltpepper:amount=0.1",
    "blur:kernel=mnist+gaussian:sigma=10..30",
    "gaussian:sigma=10..75|poisson:peak=1..8|jpeg:quality=5..50",
]


@pytest.mark.parametrize("spec", SPECS_FOR_DETERMINISM)
def test_same_seed_same_output_eager_and_in_dataset_map(spec):
    deg = degrade.from_spec(spec)
    clean = textured(batch=4, size=24)
    first = np.asarray(deg(clean, SEED))
    np.testing.assert_array_equal(first, np.asarray(deg(clean, SEED)))
    assert not np.array_equal(first, np.asarray(deg(clean, OTHER_SEED)))
    # Inside Dataset.map (graph mode) with unknown batch / height / width: same values as
    # eagerly, and again on a second pass.
    dataset = tf.data.Dataset.from_generator(
        lambda: iter([clean]), output_signature=tf.TensorSpec([None, None, None, 3], tf.float32))
    dataset = dataset.map(lambda images: deg(images, SEED))
    assert dataset.element_spec.shape.as_list() == [None, None, None, 3]
    for _ in range(2):
        np.testing.assert_allclose(next(iter(dataset)).numpy(), first, atol=1e-6)


def test_images_in_a_batch_get_different_noise():
    clean = gray(batch=3, size=16)
    for deg in (degrade.from_spec("gaussian:sigma=25"), degrade.from_spec("poisson:peak=4"),
                degrade.from_spec("saltpepper:amount=0.3")):
        noisy = np.asarray(deg(clean, SEED))
        assert not np.array_equal(noisy[0], noisy[1])
        assert not np.array_equal(noisy[1], noisy[2])


def test_range_values_stay_in_range_and_vary_per_image():
    clean = gray(batch=16, size=48)
    noisy = degrade.from_spec("gaussian:sigma=10..75")(clean, SEED)
    stds = np.asarray(noisy - clean).std(axis=(1, 2, 3)) * 255
    assert stds.min() > 10 * 0.9 and stds.max() < 75 * 1.05
    assert stds.max() - stds.min() > 20


def test_jpeg_quality_range_varies_per_image():
    clean = textured(batch=8, size=32, channels=1)
    out = degrade.from_spec("jpeg:quality=2..95")(clean, SEED)
    errors = [psnr(c, o) for c, o in zip(np.asarray(clean), np.asarray(out))]
    assert max(errors) - min(errors) > 3


def _is_salt_and_pepper(image):
    return np.isin(image, [0.0, 0.5, 1.0]).all()


def test_alternatives_pick_both_members_over_a_batch():
    deg = degrade.from_spec("gaussian:sigma=50|saltpepper:amount=0.3")
    noisy = np.asarray(deg(gray(batch=16, size=16), SEED))
    kinds = [_is_salt_and_pepper(image) for image in noisy]
    assert 0 < sum(kinds) < 16
    # Single-image path (the pipeline degrades element by element): over seeds, both again.
    single = [_is_salt_and_pepper(np.asarray(deg(gray(batch=1, size=16), [i, 1]))[0])
              for i in range(12)]
    assert 0 < sum(single) < 12


def test_empty_batch_passes_through():
    deg = degrade.from_spec("blur:kernel=mnist+jpeg:quality=20|gaussian:sigma=5")
    out = deg(tf.zeros([0, 8, 8, 1]), SEED)
    assert out.shape == (0, 8, 8, 1)


# ------------------------------------------------------------------------------ blur and JPEG

def test_blur_keeps_shape_and_mean_of_flat_image():
    clean = gray(batch=3, size=20, channels=3, value=0.3)
    for spec in ("blur:kernel=mnist", "blur:kernel=mnist,boundary=circular,size=5,digit=first"):
        out = np.asarray(degrade.from_spec(spec)(clean, SEED))
        assert out.shape == (3, 20, 20, 3)
        np.testing.assert_allclose(out, 0.3, atol=1e-5)


def test_blur_is_a_convolution_with_one_kernel_per_image():
    kernel = np.zeros((3, 3), np.float32)
    kernel[0, 1], kernel[2, 2] = 0.75, 0.25  # asymmetric: tells convolution from correlation
    delta = np.zeros((2, 9, 9, 2), np.float32)
    delta[:, 4, 4, :] = 1.0
    out = np.asarray(degrade.mnist_blur(delta, SEED, kernel[None]))
    for image in range(2):
        for channel in range(2):
            np.testing.assert_allclose(out[image, 3:6, 3:6, channel], kernel, atol=1e-6)
    # With several kernels, images of one batch get different ones.
    stack = np.stack([np.roll(kernel, shift, axis=1) for shift in range(3)])
    outs = np.asarray(degrade.mnist_blur(np.repeat(delta[:1], 12, 0), SEED, stack))
    assert len({outs[i, 3:6, 3:6, 0].tobytes() for i in range(12)}) > 1


def test_jpeg_low_quality_changes_image_high_quality_keeps_it():
    clean = textured(batch=2, size=32, channels=3)
    low = np.asarray(degrade.jpeg_compress(clean, SEED, 10))
    high = np.asarray(degrade.jpeg_compress(clean, SEED, 100))
    assert low.shape == high.shape == (2, 32, 32, 3)
    assert 0 <= low.min() and low.max() <= 1
    assert psnr(clean, low) < 32
    assert psnr(clean, high) > 44  # 4:2:0 chroma subsampling limits color at quality 100
    gray_clean = textured(batch=1, size=32, channels=1)
    assert psnr(gray_clean, degrade.jpeg_compress(gray_clean, SEED, 100)) > 52
    per_image = np.asarray(degrade.jpeg_compress(clean, SEED, tf.constant([10, 100])))
    np.testing.assert_allclose(per_image[0], low[0])
    np.testing.assert_allclose(per_image[1], high[1])


def test_jpeg_matches_opencv_codec():
    cv2 = pytest.importorskip("cv2")
    clean = textured(batch=1, size=32, channels=1)
    ours = np.asarray(degrade.jpeg_compress(clean, SEED, 30))[0, ..., 0]
    pixels = np.round(np.asarray(clean)[0, ..., 0] * 255).astype(np.uint8)
    encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 30])[1]
    reference = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE) / 255.0
    assert np.abs(ours - reference).max() <= 1 / 255 + 1e-6


# ------------------------------------------------------------------------------ specs

@pytest.mark.parametrize("text, canonical", [
    ("gaussian:sigma=25", "gaussian:sigma=25"),
    ("  Gaussian : sigma = 25.0 ", "gaussian:sigma=25"),
    ("poisson-gaussian: peak=10, sigma=1", "poisson-gaussian:sigma=1,peak=10"),
    ("blur:kernel=mnist,size=7,digit=random", "blur:kernel=mnist"),
    ("blur:kernel=mnist + gaussian:sigma=25.5", "blur:kernel=mnist+gaussian:sigma=25.5"),
    ("gaussian:sigma=10..75 | poisson:peak=1..8", "gaussian:sigma=10..75|poisson:peak=1..8"),
    ("gaussian:sigma=20..20", "gaussian:sigma=20"),
    ("saltpepper:amount=0.05+jpeg:quality=10|blur:kernel=mnist,digit=first",
     "saltpepper:amount=0.05+jpeg:quality=10|blur:kernel=mnist,digit=first"),
])
def test_spec_canonical_form(text, canonical):
    deg = degrade.from_spec(text)
    assert deg.spec == canonical
    assert degrade.from_spec(deg.spec).spec == canonical  # round trip
    assert degrade.from_spec(deg) is deg


def test_spec_chains_and_alternatives():
    deg = degrade.from_spec("blur:kernel=mnist+gaussian:sigma=25|jpeg:quality=10")
    assert deg.chains == (("blur:kernel=mnist", "gaussian:sigma=25"), ("jpeg:quality=10",))
    # '+' runs left to right: JPEG after noise leaves 8-bit values, noise after JPEG does not.
    clean = textured(batch=1, size=16, channels=1)
    noise_then_jpeg = np.asarray(
        degrade.from_spec("gaussian:sigma=25+jpeg:quality=90")(clean, SEED))
    jpeg_then_noise = np.asarray(
        degrade.from_spec("jpeg:quality=90+gaussian:sigma=25")(clean, SEED))
    np.testing.assert_allclose(noise_then_jpeg * 255, np.round(noise_then_jpeg * 255), atol=1e-3)
    assert not np.allclose(jpeg_then_noise * 255, np.round(jpeg_then_noise * 255), atol=1e-3)


@pytest.mark.parametrize("spec, fragment", [
    ("", "empty"),
    ("gauss:sigma=25", "'gauss'"),
    ("gaussian", "sigma"),
    ("gaussian:sigma=-1", "-1"),
    ("gaussian:sigma=abc", "'abc'"),
    ("gaussian:sigma=nan", "nan"),
    ("gaussian:sigma", "'sigma'"),
    ("gaussian:sigma=1,sigma=2", "twice"),
    ("gaussian:noise=3", "'noise'"),
    ("gaussian:sigma=50..10", "50..10"),
    ("gaussian:sigma=25|", "empty alternative"),
    ("gaussian:sigma=25++poisson:peak=2", "empty step"),
    ("poisson:peak=0", "peak=0"),
    ("poisson-gaussian:sigma=1", "peak"),
    ("saltpepper:amount=1.5", "1.5"),
    ("jpeg:quality=0", "quality=0"),
    ("jpeg:quality=101", "101"),
    ("jpeg:quality=10.5", "10.5"),
    ("blur:kernel=gauss", "'gauss'"),
    ("blur:kernel=mnist,size=3..5", "range"),
    ("blur:kernel=mnist,size=0", "size=0"),
    ("blur:kernel=mnist,digit=last", "'last'"),
])
def test_spec_errors_name_the_bad_part(spec, fragment):
    with pytest.raises(ValueError) as info:
        degrade.from_spec(spec)
    message = str(info.value)
    assert fragment in message
    assert "gaussian" in message or "parameters of" in message or "one of" in message \
        or "a > b" in message or "integer" in message or "twice" in message


def test_image_and_parameter_checks():
    with pytest.raises(ValueError, match="rank 4"):
        degrade.gaussian_noise(tf.zeros([8, 8, 1]), SEED, 25)
    with pytest.raises(ValueError, match="floating point"):
        degrade.gaussian_noise(tf.zeros([1, 8, 8, 1], tf.uint8), SEED, 25)
    with pytest.raises(ValueError, match="sigma"):
        degrade.gaussian_noise(gray(), SEED, -5)
    with pytest.raises(ValueError, match="peak"):
        degrade.poisson_noise(gray(), SEED, 0)
    with pytest.raises(ValueError, match="amount"):
        degrade.salt_and_pepper_noise(gray(), SEED, 2)
    with pytest.raises(ValueError, match="quality"):
        degrade.jpeg_compress(gray(), SEED, 0)
    with pytest.raises(ValueError, match="channels"):
        degrade.jpeg_compress(gray(channels=2), SEED, 50)
    with pytest.raises(ValueError, match="seed"):
        degrade.gaussian_noise(gray(), [1, 2, 3], 25)


# ------------------------------------------------------------------------------ registry of kinds

def _valid_text(param):
    """A valid value for ``param``, found from its declaration alone."""
    if param.choices:
        return param.choices[0]
    low = 0.0 if param.low is None else param.low
    value = low + 1 if param.low_open or param.type == "int" else low
    if param.high is not None:
        value = min(value, param.high)
    return param.format(value)


def _required_spec(kind):
    """The spec giving only the required parameters (the rest take their defaults)."""
    given = [f"{param.name}={_valid_text(param)}" for param in kind.params if param.required]
    return f"{kind.name}:{','.join(given)}" if given else kind.name


KIND_NAMES = list(degrade.KINDS)
NUMERIC = [(kind.name, param.name) for kind in degrade.KINDS.values() for param in kind.params
           if param.type != "choice"]
BOUNDED = [(kind, param) for kind, param in NUMERIC
           if degrade.KINDS[kind].param(param).low is not None]


@pytest.mark.parametrize("name", KIND_NAMES)
def test_every_kind_parses_with_its_defaults_and_runs(name):
    kind = degrade.KINDS[name]
    deg = degrade.from_spec(_required_spec(kind))
    assert deg.spec == _required_spec(kind)
    # Spelling the defaults out gives the same degradation.
    spelled = ",".join(f"{param.name}={param.format(param.default)}" for param in kind.params
                       if not param.required)
    if spelled:
        assert degrade.from_spec(f"{_required_spec(kind)},{spelled}".replace(":,", ":")) == deg
    clean = textured(batch=2, size=16, channels=1)
    out = np.asarray(deg(clean, SEED))
    assert out.shape == clean.shape and np.isfinite(out).all()
    np.testing.assert_array_equal(out, np.asarray(deg(clean, SEED)))


def test_help_lists_every_kind_and_parameter():
    text = degrade.spec_help()
    for kind in degrade.KINDS.values():
        assert kind.usage in text and kind.doc in text
        for param in kind.params:
            assert f"{param.name}=" in text
            assert all(choice in text for choice in param.choices)
            if param.takes_range:
                assert param.rule in text


def test_unknown_kind_lists_every_kind():
    with pytest.raises(ValueError, match="'speckle'") as info:
        degrade.from_spec("speckle:sigma=3")
    assert all(f"{name}:" in str(info.value) for name in KIND_NAMES)


@pytest.mark.parametrize("name", KIND_NAMES)
def test_misspelt_parameter_lists_the_kinds_parameters(name):
    kind = degrade.KINDS[name]
    misspelt = kind.params[0].name + "x"
    with pytest.raises(ValueError, match=f"'{misspelt}'") as info:
        degrade.from_spec(f"{_required_spec(kind)},{misspelt}=1".replace(":,", ":"))
    assert all(param.name in str(info.value) for param in kind.params)


@pytest.mark.parametrize("name, param_name", BOUNDED)
def test_out_of_range_names_the_parameter_and_its_range(name, param_name):
    kind, param = degrade.KINDS[name], degrade.KINDS[name].param(param_name)
    below = param.format(param.low - 1)
    others = [f"{other.name}={_valid_text(other)}" for other in kind.params
              if other.required and other is not param]
    spec = f"{name}:" + ",".join(others + [f"{param_name}={below}"])
    with pytest.raises(ValueError, match="out of range") as info:
        degrade.from_spec(spec)
    assert f"{param_name}={below}" in str(info.value) and param.rule in str(info.value)


@pytest.mark.parametrize("name, param_name", [
    (name, param_name) for name, param_name in BOUNDED if degrade.KINDS[name].prepare is None])
def test_functions_and_specs_share_the_parameter_rules(name, param_name):
    """A number a spec refuses, the TF function refuses too, with the same rule."""
    kind, param = degrade.KINDS[name], degrade.KINDS[name].param(param_name)
    arguments = {other.name: float(_valid_text(other)) for other in kind.params}
    arguments[param_name] = param.low - 1
    with pytest.raises(ValueError, match=param_name) as info:
        kind.tf_fn(gray(channels=1), SEED, **arguments)
    assert param.rule in str(info.value)


def test_a_new_kind_is_one_table_entry(monkeypatch, capsys):
    def brighten(images, seed, by):
        return images + by

    kind = degrade.DegradationKind("brighten", "add a constant",
                                   (degrade.Param("by", low=0, high=1),), brighten)
    monkeypatch.setattr(degrade, "KINDS", {**degrade.KINDS, "brighten": kind})
    assert "brighten:by=BY" in degrade.spec_help()
    from kerasdenoise.cli import denoise as denoise_cli, evaluate as evaluate_cli

    for cli in (evaluate_cli, denoise_cli):  # the CLIs' --noise help is derived from the table
        with pytest.raises(SystemExit):
            cli.main(["--help"])
        assert "brighten:by=BY" in " ".join(capsys.readouterr().out.split()), cli.__name__
    out = degrade.from_spec("brighten:by=0.25+gaussian:sigma=0")(gray(value=0.5), SEED)
    np.testing.assert_allclose(np.asarray(out), 0.75)
    with pytest.raises(ValueError, match="brighten:by=2"):
        degrade.from_spec("brighten:by=2")


def test_kind_declarations_are_checked():
    with pytest.raises(TypeError):  # the function has no parameter named like the declaration
        degrade.DegradationKind("bad", "", (degrade.Param("level"),), degrade.gaussian_noise)
    with pytest.raises(ValueError, match="default"):
        degrade.Param("size", "int", low=1, default=0)
    with pytest.raises(ValueError, match="choice"):
        degrade.Param("mode", "choice")


# ------------------------------------------------------------------------------ gaussian_sigma

@pytest.mark.parametrize("spec, sigma", [
    ("gaussian:sigma=25", 25.0),
    ("  Gaussian : sigma = 15.5 ", 15.5),
    ("gaussian:sigma=20..20", 20.0),
    ("gaussian:sigma=0", 0.0),
])
def test_gaussian_sigma_of_a_plain_gaussian_spec(spec, sigma):
    assert degrade.gaussian_sigma(spec) == sigma
    assert degrade.gaussian_sigma(degrade.from_spec(spec)) == sigma


@pytest.mark.parametrize("spec, fragment", [
    ("poisson:peak=4", "Gaussian"),
    ("poisson-gaussian:sigma=5,peak=50", "Gaussian"),
    ("blur:kernel=mnist+gaussian:sigma=25", "Gaussian"),
    ("gaussian:sigma=15|gaussian:sigma=25", "Gaussian"),
    ("gaussian:sigma=10..75", "10..75"),
    ("gaussian:sigma=-1", "out of range"),
    ("awgn:sigma=25", "'awgn'"),
    ("gaussian:level=25", "'level'"),
])
def test_gaussian_sigma_refuses_anything_else_naming_who_and_the_spec(spec, fragment):
    with pytest.raises(ValueError, match="bm3d") as info:
        degrade.gaussian_sigma(spec, who="bm3d")
    assert fragment in str(info.value) and repr(spec) in str(info.value)


# ------------------------------------------------------------------------------ MNIST kernels

def _write_idx(path, digits, compress):
    header = np.array([0x00000803, *digits.shape], dtype=">u4").tobytes()
    data = header + digits.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_file(tmp_path, compress):
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    digits[2] = 0  # a blank digit: skipped by blur_kernels
    path = tmp_path / ("digits-idx3-ubyte.gz" if compress else "digits-idx3-ubyte")
    _write_idx(path, digits, compress)
    loaded, source = mnist.load_mnist_digits(path)
    np.testing.assert_array_equal(loaded, digits)
    assert str(path) in source and "hershey" not in source
    kernels, kernel_source = mnist.blur_kernels(5, path)
    assert kernels.shape == (2, 5, 5) and kernels.dtype == np.float32
    np.testing.assert_allclose(kernels.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    assert (kernels >= 0).all() and "5x5" in kernel_source


def test_read_npz_and_bad_files(tmp_path):
    digits = np.random.default_rng(1).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=digits[:2], x_test=digits)
    loaded, source = mnist.load_mnist_digits(npz)
    np.testing.assert_array_equal(loaded, digits)
    assert "x_test" in source
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x01" + bytes(20))
    with pytest.raises(ValueError, match="bad-idx3-ubyte"):
        mnist.load_mnist_digits(bad)
    truncated = tmp_path / "short-idx3-ubyte"
    _write_idx(truncated, digits, compress=False)
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(ValueError, match="short-idx3-ubyte"):
        mnist.load_mnist_digits(truncated)
    not_npz = tmp_path / "broken.npz"
    not_npz.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="broken.npz"):
        mnist.load_mnist_digits(not_npz)
    with pytest.raises(ValueError, match="size"):
        mnist.blur_kernels(0, npz)


def test_hershey_fallback_when_no_file(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "t10k-images-idx3-ubyte.gz"
    digits, source = mnist.load_mnist_digits(missing)
    assert source.startswith("hershey-standin (no MNIST file found;")
    assert digits.dtype == np.uint8 and digits.shape[1:] == (28, 28)
    assert len({d.tobytes() for d in digits}) >= 30  # a few dozen distinct stand-ins
    kernels, _ = mnist.blur_kernels(7, missing)
    np.testing.assert_allclose(kernels.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    # Through a spec: the environment variable points nowhere, the notes say so.
    monkeypatch.setenv("KERASDENOISE_MNIST", str(missing))
    deg = degrade.from_spec("blur:kernel=mnist+gaussian:sigma=5")
    assert any("hershey-standin" in note for note in deg.notes)
    assert deg(gray(batch=2, size=16), SEED).shape == (2, 16, 16, 1)
    # Without KERASDENOISE_MNIST the digits are looked for in the shared data folder.
    monkeypatch.delenv("KERASDENOISE_MNIST")
    monkeypatch.setenv("KERASDENOISE_DATA", str(tmp_path / "data"))
    assert mnist.default_mnist_path() == tmp_path / "data" / "kernels" / mnist.MNIST_FILE_NAME


def test_real_mnist_file_when_shared_data_exists():
    path = mnist.default_mnist_path()
    if not path.is_file():
        pytest.skip(f"no MNIST file at {path} (shared data absent; set KERASDENOISE_DATA)")
    digits, source = mnist.load_mnist_digits()
    assert digits.shape == (10000, 28, 28) and digits.dtype == np.uint8
    assert source.startswith("mnist idx")
    kernels, _ = mnist.blur_kernels()
    assert kernels.shape[1:] == (mnist.DEFAULT_KERNEL_SIZE, mnist.DEFAULT_KERNEL_SIZE) == (7, 7)
    assert len(kernels) > 9900
    np.testing.assert_allclose(kernels.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    notes = degrade.from_spec("blur:kernel=mnist").notes
    assert any(str(path) in note and "hershey" not in note for note in notes)
