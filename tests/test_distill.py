"""The ``distill`` procedure: the target is ``clean + weight * (teacher(degraded) - clean)``, the
teacher stays frozen and out of the checkpoints, and bad options fail naming what is wrong."""
import numpy as np
import pytest

import keras

from kerasdenoise import models
from kerasdenoise.training import configs
from kerasdenoise.training.distill import DistilledDenoiser
from kerasdenoise.training.trainers import make_trainable


def _net(seed, channels=1):
    keras.utils.set_random_seed(seed)
    return models.build("dnresnet", blocks=1, ds_blocks=1, base_padding="same", residual=True,
                        init="he", channels=channels)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.uniform(0, 1, (2, 12, 12, 1)).astype("float32")
    return clean + rng.normal(0, 0.1, clean.shape).astype("float32"), clean


def test_the_loss_is_the_mse_to_the_blend_of_clean_and_teacher():
    denoiser, teacher = _net(1), _net(2)
    trainable = DistilledDenoiser(denoiser, teacher, weight=0.3)
    trainable.compile(optimizer=keras.optimizers.SGD(0.0))  # no update: the loss of these weights
    degraded, clean = _batch()
    logs = trainable.train_on_batch(degraded, clean, return_dict=True)
    target = clean + 0.3 * (np.asarray(teacher(degraded)) - clean)
    expected = np.mean((np.asarray(denoiser(degraded)) - target) ** 2)
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    plain = np.mean((np.asarray(denoiser(degraded)) - clean) ** 2)
    assert abs(expected - plain) > 1e-6  # the teacher does change the loss


def test_training_moves_the_student_towards_the_teacher_and_leaves_the_teacher_alone():
    denoiser = _net(1)
    keras.utils.set_random_seed(2)  # a teacher far from the student: direct output, near 0
    teacher = models.build("dnresnet", blocks=1, base_padding="same")
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    trainable = DistilledDenoiser(denoiser, teacher, weight=1.0)
    trainable.compile(optimizer=keras.optimizers.Adam(1e-2))
    degraded, clean = _batch()
    gap = lambda: np.mean((np.asarray(denoiser(degraded)) - np.asarray(teacher(degraded))) ** 2)  # noqa: E731
    before = gap()
    for _ in range(40):
        trainable.train_on_batch(degraded, clean)
    assert gap() < 0.5 * before
    assert all(np.array_equal(a, b) for a, b in zip(teacher_weights, teacher.get_weights()))
    # checkpoints hold the student and its optimizer, not the teacher
    assert len(trainable.trainable_weights) == len(denoiser.trainable_weights)


def test_bad_options_fail_naming_the_problem(tmp_path):
    config = configs.get_preset("dsdnresnet13-blind-fast-distill")
    network = _net(1)
    with pytest.raises(ValueError, match="teacher="):
        make_trainable(config.replace(procedure_options={}), network)
    missing = tmp_path / "nowhere.keras"
    with pytest.raises(FileNotFoundError, match="nowhere.keras"):
        make_trainable(config.replace(procedure_options={"teacher": str(missing)}), network)
    rgb_teacher = tmp_path / "rgb.keras"
    _net(3, channels=3).save(rgb_teacher)
    with pytest.raises(ValueError, match="3 channel"):
        make_trainable(config.replace(procedure_options={"teacher": str(rgb_teacher)}), network)
    with pytest.raises(ValueError, match=r"weight must be in \[0, 1\]"):
        DistilledDenoiser(network, _net(2), weight=1.5)
