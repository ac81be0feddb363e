"""PSNR / SSIM against scikit-image on 8-bit images; Y variants; the Keras PSNR metric."""
import keras
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from kerasdenoise import metrics


def _pair(shape, seed):
    """An 8-bit-valued smooth-ish image and a noisy version, both float in [0, 1]."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, size=shape).astype(np.float64) / 255
    clean = (clean + np.roll(clean, 1, axis=0) + np.roll(clean, 1, axis=1)) / 3  # some structure
    clean = np.round(clean * 255) / 255
    noisy = np.clip(np.round((clean + rng.normal(0, 0.08, shape)) * 255), 0, 255) / 255
    return clean, noisy


def _skimage_ssim(a, b):
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=1.0, channel_axis=-1,
    )


@pytest.mark.parametrize("shape", [(40, 37, 1), (33, 50, 3), (11, 11, 1)])
def test_psnr_and_ssim_match_skimage(shape):
    clean, noisy = _pair(shape, seed=sum(shape))
    assert metrics.psnr(clean, noisy) == pytest.approx(
        peak_signal_noise_ratio(clean, noisy, data_range=1.0), abs=1e-3
    )
    assert metrics.ssim(clean, noisy) == pytest.approx(_skimage_ssim(clean, noisy), abs=1e-3)


def test_quantization_is_applied_before_measuring():
    clean, _ = _pair((32, 32, 1), seed=1)
    off = clean + 0.4 / 255  # rounds back to the same 8-bit image
    assert metrics.psnr(clean, off) == float("inf")
    assert np.isfinite(metrics.psnr(clean, off, quantize=False))
    # Out-of-range values saturate like im2uint8.
    assert metrics.psnr(clean * 0 + 1, clean * 0 + 1.3) == float("inf")


def test_data_range_and_2d_input():
    clean, noisy = _pair((24, 24, 1), seed=2)
    assert metrics.psnr(clean[..., 0], noisy[..., 0]) == pytest.approx(metrics.psnr(clean, noisy))
    assert metrics.psnr(clean * 255, noisy * 255, data_range=255, quantize=False) == pytest.approx(
        peak_signal_noise_ratio(clean * 255, noisy * 255, data_range=255), abs=1e-3
    )


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(np.zeros((8, 8, 1)), np.zeros((8, 9, 1)))
    with pytest.raises(ValueError, match="SSIM window"):
        metrics.ssim(np.zeros((8, 30, 1)), np.zeros((8, 30, 1)))


def test_y_variants_use_matlab_luma():
    clean, noisy = _pair((30, 30, 3), seed=3)
    y = lambda rgb: np.floor((16 + rgb @ np.array([65.481, 128.553, 24.966])) + 0.5) / 255  # noqa: E731
    expected = peak_signal_noise_ratio(y(clean), y(noisy), data_range=1.0)
    assert metrics.psnr_y(clean, noisy) == pytest.approx(expected, abs=1e-3)
    expected_ssim = structural_similarity(
        y(clean), y(noisy), gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=1.0,
    )
    assert metrics.ssim_y(clean, noisy) == pytest.approx(expected_ssim, abs=1e-3)
    with pytest.raises(ValueError, match="RGB"):
        metrics.psnr_y(clean[..., :1], noisy[..., :1])


def test_keras_psnr_metric_is_mean_of_clipped_per_image_psnr():
    clean, noisy = _pair((4, 16, 16, 1), seed=4)
    pred = noisy + 0.5  # values above 1 are clipped before measuring
    metric = metrics.PSNRMetric()
    metric.update_state(clean[:2].astype(np.float32), pred[:2].astype(np.float32))
    metric.update_state(clean[2:].astype(np.float32), pred[2:].astype(np.float32))
    expected = np.mean(
        [peak_signal_noise_ratio(c, np.clip(p, 0, 1), data_range=1.0) for c, p in zip(clean, pred)]
    )
    assert float(metric.result()) == pytest.approx(expected, abs=1e-3)
    metric.reset_state()
    assert float(metric.result()) == 0.0
    assert metrics.PSNRMetric.from_config(metric.get_config()).data_range == 1.0


def test_detail_ratios_are_one_on_identity_below_one_when_smoothed_above_with_noise():
    rng = np.random.default_rng(5)
    clean = np.round(rng.uniform(0, 1, (24, 24, 3)) * 255) / 255
    smoothed = (clean + np.roll(clean, 1, 0) + np.roll(clean, 1, 1) + np.roll(clean, 1, (0, 1))) / 4
    noisy = np.clip(clean + rng.normal(0, 0.2, clean.shape), 0, 1)
    for measure in (metrics.gradient_magnitude_ratio, metrics.high_frequency_energy_ratio):
        assert measure(clean, clean) == pytest.approx(1.0)
        assert measure(clean, smoothed) < 0.8
    assert metrics.gradient_magnitude_ratio(np.full((24, 24, 1), 0.5), noisy[..., :1]) > 1.0
    with pytest.raises(ValueError, match="shape"):
        metrics.gradient_magnitude_ratio(clean, clean[:10])


def test_feature_distance_is_zero_on_identity_and_grows_with_noise():
    from kerasdenoise.losses.perceptual import PerceptualLoss

    keras.utils.set_random_seed(0)
    features = PerceptualLoss(layers=("block1_conv2", "block2_conv2"), weights=None, normalize=None)
    rng = np.random.default_rng(3)
    clean = rng.uniform(0, 1, (32, 32, 3))
    slightly, very = (np.clip(clean + rng.normal(0, s, clean.shape), 0, 1) for s in (0.05, 0.3))
    assert metrics.feature_distance(clean, clean, features) == pytest.approx(0.0, abs=1e-12)
    assert 0 < metrics.feature_distance(clean, slightly, features) < metrics.feature_distance(clean, very, features)
    gray = clean[..., :1]  # repeated to RGB by the loss
    assert metrics.feature_distance(gray, np.clip(gray + 0.1, 0, 1), features) > 0
    with pytest.raises(ValueError, match="feature_distance.*shape"):
        metrics.feature_distance(clean, clean[:16], features)
