"""Gated conv-deconv (paper 4): network shapes and gates, classifier and weight transfer, the
classifier-feature loss and its joint trainer, the labelled-folder loader, presets."""
import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdenoise import models
from kerasdenoise.data.labelled import labelled_dataset, write_synthetic_shapes
from kerasdenoise.losses import get_loss
from kerasdenoise.losses.classifier import ClassifierFeatureLoss
from kerasdenoise.models.gated_convdeconv import GatingFactor, init_classifier_from_denoiser
from kerasdenoise.training import configs
from kerasdenoise.training.joint import JointLossDenoiser
from kerasdenoise.training.runner import train
from kerasdenoise.training.transfer import compare_initializations, train_classifier
from kerasdenoise.training.trainers import make_trainable

TABLE1 = {  # the paper's Table 1 for a 64x64x3 input (Conv-5: 512, the paper's '518' a typo)
    "conv1": (64, 64, 64), "conv2": (32, 32, 64), "conv3": (16, 16, 128), "conv4": (8, 8, 256),
    "conv5": (4, 4, 512), "deconv1": (8, 8, 256), "deconv2": (16, 16, 128),
    "deconv3": (32, 32, 64), "deconv4": (64, 64, 64), "deconv5": (64, 64, 3),
}


def layer_outputs(model, names, x):
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    return dict(zip(names, probe(x)))


@pytest.mark.parametrize("gates", [(0.1, 0.2, 0.3, 0.4), None])
def test_table1_shapes(gates):
    net = models.build("gated_convdeconv", gates=gates, channels=3)
    x = np.random.default_rng(0).random((2, 64, 64, 3)).astype(np.float32)
    outputs = layer_outputs(net, list(TABLE1), x)
    for name, shape in TABLE1.items():
        assert tuple(outputs[name].shape) == (2, *shape), name
    y = net(x).numpy()
    assert y.shape == x.shape and y.min() >= 0.0 and y.max() <= 1.0
    # Any size whose sides divide by 16, not only the paper's 64x64.
    assert net(np.zeros((1, 32, 48, 3), np.float32)).shape == (1, 32, 48, 3)


def test_no_connection_ablation_has_no_gates_or_adds():
    plain = models.build("gated_convdeconv", gates=None)
    gated = models.build("gated_convdeconv")
    kinds = lambda m: [type(layer).__name__ for layer in m.layers]  # noqa: E731
    assert "Add" not in kinds(plain) and "GatingFactor" not in kinds(plain)
    assert kinds(gated).count("Add") == 4 and kinds(gated).count("GatingFactor") == 4
    # Same weights otherwise: the connections add no parameters (fixed gates are 4 scalars).
    assert plain.count_params() == gated.count_params() - 4


def test_gates_are_applied_as_the_paper_writes():
    """Recompute the forward pass from the layers: Conv-i sees d_i * X_{i-1}; the deconv whose
    input has X_i's shape sees X'_{i-1} + (1 - d_i) * X_i."""
    net = models.build("gated_convdeconv", gates=(0.1, 0.2, 0.3, 0.4))
    deconv5 = net.get_layer("deconv5")
    kernel, bias = deconv5.get_weights()
    deconv5.set_weights([kernel, bias + 0.5])  # keep the clipped output inside (0, 1)
    x = tf.constant(np.random.default_rng(1).random((2, 32, 32, 3)), tf.float32)
    L = net.get_layer
    x1 = L("conv1")(0.1 * x)
    x2 = L("conv2")(0.2 * x1)
    x3 = L("conv3")(0.3 * x2)
    x4 = L("conv4")(0.4 * x3)
    x5 = L("conv5")(x4)
    y = L("deconv1")(x5)
    y = L("deconv2")(y + 0.6 * x4)
    y = L("deconv3")(y + 0.7 * x3)
    y = L("deconv4")(y + 0.8 * x2)
    expected = np.clip(L("deconv5")(y + 0.9 * x1).numpy(), 0.0, 1.0)
    got = net(x).numpy()
    assert 0.0 < got.mean() < 1.0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    gate_values = [float(L(f"gate{i}").delta.numpy()) for i in range(1, 5)]
    np.testing.assert_allclose(gate_values, [0.1, 0.2, 0.3, 0.4], rtol=1e-6)
    assert all(not L(f"gate{i}").delta.trainable for i in range(1, 5))
    assert not any("delta" in v.path for v in net.trainable_variables)


def test_learnable_gates_are_trained_and_stay_in_unit_interval():
    net = models.build("gated_convdeconv", learnable_gates=True)
    deltas = [v for v in net.trainable_variables if v.path.endswith("delta")]
    assert len(deltas) == 4
    before = [float(v.numpy()) for v in deltas]
    net.compile(keras.optimizers.SGD(50.0), "mse")  # huge steps: the constraint must hold
    x = np.random.default_rng(2).random((2, 32, 32, 3)).astype(np.float32)
    net.train_on_batch(x, np.clip(x * 0.5 + 0.3, 0, 1))
    after = [float(v.numpy()) for v in deltas]
    assert after != before
    assert all(0.0 <= a <= 1.0 for a in after)


def test_size_and_argument_errors(tmp_path):
    net = models.build("gated_convdeconv")
    with pytest.raises(ValueError, match="60x64"):
        net(np.zeros((1, 60, 64, 3), np.float32))
    with pytest.raises(ValueError, match="divisible by 16"):
        models.build("gated_convdeconv", input_size=60)
    with pytest.raises(ValueError, match="4 gating factors"):
        models.build("gated_convdeconv", gates=(0.1, 0.2))
    with pytest.raises(ValueError, match="learnable_gates"):
        models.build("gated_convdeconv", gates=None, learnable_gates=True)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        models.build("gated_convdeconv", gates=(0.1, 0.2, 0.3, 1.4))
    # Save / load keeps the custom layers and the gates.
    net.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras")
    x = np.random.default_rng(3).random((1, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), net(x).numpy(), atol=1e-6)
    assert isinstance(loaded.get_layer("gate3"), GatingFactor)


@pytest.mark.parametrize("gates", [None, (0.1, 0.2, 0.3, 0.4)])
def test_classifier_shapes_and_transfer(gates):
    classifier = models.build("gated_classifier", num_classes=10, channels=3, image_size=64)
    x = np.random.default_rng(4).random((2, 64, 64, 3)).astype(np.float32)
    probabilities = classifier(x).numpy()
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        assert tuple(classifier.get_layer(name).output.shape[1:]) == TABLE1[name]
    assert tuple(classifier.get_layer("fc1024").output.shape) == (None, 1024)

    denoiser = models.build("gated_convdeconv", gates=gates)
    init_classifier_from_denoiser(classifier, denoiser)  # the paper's transfer: plain copies
    for i in range(1, 6):
        for c, d in zip(classifier.get_layer(f"conv{i}").get_weights(),
                        denoiser.get_layer(f"conv{i}").get_weights()):
            np.testing.assert_array_equal(c, d)
    init_classifier_from_denoiser(classifier, denoiser, fold_gates=True)
    factors = gates or (1.0, 1.0, 1.0, 1.0)
    for i, factor in enumerate((*factors, 1.0), start=1):
        d_kernel, d_bias = denoiser.get_layer(f"conv{i}").get_weights()
        c_kernel, c_bias = classifier.get_layer(f"conv{i}").get_weights()
        np.testing.assert_allclose(c_kernel, factor * d_kernel, rtol=1e-6)
        np.testing.assert_array_equal(c_bias, d_bias)
    # With the gates folded in, the classifier's conv stack computes the denoiser's features.
    from_denoiser = layer_outputs(denoiser, ["conv5"], x)["conv5"].numpy()
    from_classifier = layer_outputs(classifier, ["conv5"], x)["conv5"].numpy()
    np.testing.assert_allclose(from_classifier, from_denoiser, rtol=1e-4, atol=1e-5)

    gray = models.build("gated_classifier", channels=1)
    with pytest.raises(ValueError, match="conv1"):
        init_classifier_from_denoiser(gray, denoiser)


def small_classifier(num_classes=3, size=32):
    keras.utils.set_random_seed(0)
    return models.build("gated_classifier", num_classes=num_classes, image_size=size)


def test_classifier_feature_loss(tmp_path):
    classifier = small_classifier()
    loss = ClassifierFeatureLoss(classifier)
    rng = np.random.default_rng(5)
    clean = tf.constant(rng.random((2, 32, 32, 3)), tf.float32)
    assert float(loss(clean, clean)) == 0.0
    other = tf.constant(rng.random((2, 32, 32, 3)), tf.float32)
    assert float(loss(clean, other)) > 0.0
    euclid = ClassifierFeatureLoss(classifier, distance="euclidean")
    with tf.GradientTape() as tape:
        tape.watch(clean)
        value = euclid(clean, clean)
    assert float(value) < 1e-5 and np.isfinite(tape.gradient(value, clean).numpy()).all()
    with pytest.raises(ValueError, match="classifier takes"):
        loss(tf.zeros((1, 16, 16, 3)), tf.zeros((1, 16, 16, 3)))

    # Reachable by name with a saved classifier, as configs use it.
    path = tmp_path / "clf.keras"
    classifier.save(path)
    by_name = get_loss("classifier-features", classifier_path=str(path))
    np.testing.assert_allclose(float(by_name(clean, other)), float(loss(clean, other)), rtol=1e-5)
    with pytest.raises(ValueError, match="classifier_path"):
        get_loss("classifier-features")
    with pytest.raises(FileNotFoundError, match="nowhere.keras"):
        get_loss("classifier-features", classifier_path=str(tmp_path / "nowhere.keras"))


def noisy_pairs(n=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.random((n, size, size, 3)).astype(np.float32)
    clean = np.stack([cv2.GaussianBlur(c, (0, 0), 2.0) for c in clean])
    noisy = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
    return noisy, clean


def test_joint_trainer_with_classifier_features_fits(tmp_path):
    classifier = small_classifier()
    path = tmp_path / "clf.keras"
    classifier.save(path)
    config = configs.get_preset("gated-cpu-perceptual").replace(
        loss_kwargs={"classifier_path": str(path)}, procedure_options={"lambda_mse": 1.0},
        batch_size=2, steps=2, steps_per_epoch=2, val_data=None,
    )
    keras.utils.set_random_seed(0)
    network = models.build(config.model, **config.model_kwargs)
    trainable = make_trainable(config, network)
    assert isinstance(trainable, JointLossDenoiser)
    noisy, clean = noisy_pairs(2)
    before = [w.copy() for w in network.get_weights()]
    history = trainable.fit(noisy, clean, batch_size=2, epochs=2, verbose=0).history
    assert {"loss", "mse", "features", "psnr"} <= set(history)
    assert all(np.isfinite(history["loss"]))
    assert any(not np.array_equal(a, b) for a, b in zip(before, network.get_weights()))
    # The classifier is not trained by the feature loss.
    for a, b in zip(classifier.get_weights(), keras.models.load_model(path).get_weights()):
        np.testing.assert_array_equal(a, b)

    # Through the runner, as tools/train.py runs a preset (synthetic stream, no data files).
    stream = lambda step: tf.data.Dataset.from_tensors(noisy_pairs(2)).repeat()  # noqa: E731
    result = train(config, tmp_path / "run", datasets=(stream, None), progress=False)
    assert result.steps == 2 and (tmp_path / "run" / "final.keras").exists()


def write_shapes(folder, classes=("circle", "square", "stripes"), per_class=6, size=(40, 48)):
    """A labelled folder of simple shapes: one sub-folder per class."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = np.full((*size, 3), 30, np.uint8)
            color = tuple(int(c) for c in rng.integers(120, 255, 3))
            cy = size[0] // 2 + int(rng.integers(-4, 5))
            cx = size[1] // 2 + int(rng.integers(-4, 5))
            if name == "circle":
                cv2.circle(image, (cx, cy), 12, color, -1)
            elif name == "square":
                cv2.rectangle(image, (cx - 11, cy - 11), (cx + 11, cy + 11), color, -1)
            else:
                image[::6] = color
            ext = "png" if i % 2 else "jpg"
            cv2.imwrite(str(folder / name / f"{i}.{ext}"), image)
    return folder


def test_labelled_folder_loader(tmp_path):
    folder = write_shapes(tmp_path / "shapes")
    dataset = labelled_dataset(folder, image_size=32, batch_size=4, seed=1)
    assert dataset.class_names == ["circle", "square", "stripes"]
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    images, labels = np.concatenate(images), np.concatenate(labels)
    assert images.shape == (18, 32, 32, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.4
    assert sorted(np.bincount(labels)) == [6, 6, 6]
    again = np.concatenate([y.numpy() for _, y in labelled_dataset(folder, 32, 4, seed=1)])
    np.testing.assert_array_equal(again, labels)  # the order depends only on the seed
    second_pass = np.concatenate([y.numpy() for _, y in dataset])
    np.testing.assert_array_equal(second_pass, labels)  # and is the same on every pass

    train_set, val_set = labelled_dataset(folder, image_size=32, batch_size=4,
                                          validation_split=0.25)
    n_train = sum(int(y.shape[0]) for _, y in train_set)
    n_val = sum(int(y.shape[0]) for _, y in val_set)
    assert n_train + n_val == 18 and n_val > 0
    gray = labelled_dataset(folder, image_size=16, batch_size=4, color="gray")
    assert next(iter(gray))[0].shape[1:] == (16, 16, 1)

    shapes = write_synthetic_shapes(tmp_path / "synthetic", per_class=2, size=32)
    x, y = next(iter(labelled_dataset(shapes, image_size=32, batch_size=8)))
    assert x.shape == (8, 32, 32, 3) and sorted(np.bincount(y.numpy())) == [2, 2, 2, 2]

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no labelled images"):
        labelled_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="single class"):
        labelled_dataset(write_shapes(tmp_path / "one", classes=("circle",)))
    with pytest.raises(FileNotFoundError, match="missing"):
        labelled_dataset(tmp_path / "missing")


def test_classifier_training_and_init_comparison(tmp_path):
    folder = write_shapes(tmp_path / "shapes", per_class=8)
    train_set, val_set = labelled_dataset(folder, image_size=32, batch_size=6, seed=0,
                                          validation_split=0.25)
    classifier = small_classifier()
    history = train_classifier(classifier, train_set, steps=30, optimizer="adam",
                               learning_rate=1e-3, validation_data=val_set, eval_every=10)
    assert history["step"] == list(range(1, 31)) and len(history["loss"]) == 30
    assert history["val_step"] == [0, 10, 20, 30]
    # Three easy shape classes: training must learn something.
    assert np.mean(history["loss"][-5:]) < np.mean(history["loss"][:5])
    assert max(history["val_accuracy"][1:]) > 0.5

    denoiser = models.build("gated_convdeconv")
    curves = compare_initializations(denoiser, train_set, steps=3, seed=0, learning_rate=1e-3)
    assert set(curves) == {"random", "denoiser"}
    assert all(len(c["loss"]) == 3 and np.isfinite(c["loss"]).all() for c in curves.values())
    assert curves["random"]["loss"][0] != curves["denoiser"]["loss"][0]  # only conv init differs


def test_presets():
    names = set(configs.preset_names())
    assert {"gated-cpu-dsc", "gated-cpu-nodsc", "gated-dsc", "gated-nodsc",
            "gated-perceptual", "gated-cpu-perceptual"} <= names
    dsc, nodsc = configs.get_preset("gated-cpu-dsc"), configs.get_preset("gated-cpu-nodsc")
    # the pair is the ablation: the same run but for the connections
    differ = {k for k, v in dsc.to_dict().items() if nodsc.to_dict()[k] != v}
    assert differ == {"name", "description", "model_kwargs"}
    kinds = lambda c: [type(layer).__name__ for layer in  # noqa: E731
                       models.build(c.model, **c.model_kwargs).layers]
    assert kinds(dsc).count("GatingFactor") == 4 and "GatingFactor" not in kinds(nodsc)
    from kerasdenoise.degrade import from_spec

    noisy = from_spec(dsc.noise)(tf.fill([1, 16, 16, 3], 0.5), tf.constant([1, 2], tf.int32))
    assert np.any(noisy.numpy() == 0.0) or np.any(noisy.numpy() == 1.0)  # salt and pepper


def _write_idx(path, array, magic):
    """An uncompressed IDX unsigned-byte file: magic, the dimensions, then the bytes."""
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(array, np.uint8).tobytes())


def test_mnist_idx_files_become_a_labelled_folder(tmp_path):
    from kerasdenoise.data.labelled import write_mnist_folder
    from kerasdenoise.data.mnist import load_mnist_labels

    labels = np.array([3, 1, 3, 0, 3, 1], np.uint8)
    digits = (np.arange(6, dtype=np.uint8)[:, None, None] * 40 + np.zeros((1, 28, 28), np.uint8))
    _write_idx(tmp_path / "digits-idx3-ubyte", digits, 0x803)
    _write_idx(tmp_path / "labels-idx1-ubyte", labels, 0x801)
    np.testing.assert_array_equal(load_mnist_labels(tmp_path / "labels-idx1-ubyte"), labels)

    folder = write_mnist_folder(tmp_path / "mnist", per_class=2,
                                images_path=tmp_path / "digits-idx3-ubyte",
                                labels_path=tmp_path / "labels-idx1-ubyte")
    # First two of each class in file order; classes without digits get no images.
    assert sorted(p.name for p in (folder / "3").iterdir()) == ["00000.png", "00002.png"]
    assert cv2.imread(str(folder / "3" / "00002.png"), cv2.IMREAD_UNCHANGED).max() == 80
    dataset = labelled_dataset(folder, image_size=16, batch_size=8, shuffle=False)
    assert dataset.class_names == ["0", "1", "3"]
    images, got_labels = next(iter(dataset))
    assert images.shape == (5, 16, 16, 3) and got_labels.numpy().tolist() == [0, 1, 1, 2, 2]

    with pytest.raises(ValueError, match="labels"):
        _write_idx(tmp_path / "short-idx1-ubyte", labels[:4], 0x801)
        write_mnist_folder(tmp_path / "x", images_path=tmp_path / "digits-idx3-ubyte",
                           labels_path=tmp_path / "short-idx1-ubyte")
    with pytest.raises(FileNotFoundError):
        load_mnist_labels(tmp_path / "missing-idx1-ubyte")


def test_layer_activations_are_the_first_layer_feature_maps():
    net = models.build("gated_convdeconv", gates=None, channels=3)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    maps = models.layer_activations(net, "conv1", x)
    assert isinstance(maps, np.ndarray) and maps.shape == (2, 32, 32, 64)
    np.testing.assert_allclose(maps, net.get_layer("conv1")(x).numpy(), rtol=1e-5, atol=1e-6)
