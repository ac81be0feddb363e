"""Labelled image folders (``folder/class_name/*.png|jpg``) as tf.data streams of (image, label).

For the classification side of the gated conv-deconv paper (its STL-10 animal classes): the
classifier behind the perceptual loss and the transfer experiment (denoiser conv weights as the
classifier's initialisation).  Any folder with one sub-folder per class works, e.g. STL-10
exported to PNG files or a small synthetic set.  (Not ``keras.utils.image_dataset_from_directory``:
its tf.data shuffle gives every new iterator another order, and the transfer experiment needs
two trainings to see the same batches.)
"""
from __future__ import annotations

from pathlib import Path

# What tf.io.decode_image reads.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
COLOR_MODES = ("rgb", "gray")


def class_folders(folder) -> dict:
    """``{class_name: number of images}`` for every sub-folder of ``folder`` holding images.

    Raises FileNotFoundError when ``folder`` is not a directory, ValueError when fewer than two
    classes have images (a classifier needs at least two).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"labelled image folder not found: {folder}")
    counts = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        n = sum(1 for f in sub.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
        if n:
            counts[sub.name] = n
    if not counts:
        raise ValueError(
            f"{folder} holds no labelled images: expected one sub-folder per class with "
            f"{'/'.join(IMAGE_EXTENSIONS)} files (folder/class_name/image.png)"
        )
    if len(counts) < 2:
        raise ValueError(
            f"{folder} has images of a single class ({next(iter(counts))!r}); a classifier "
            "needs at least two class sub-folders"
        )
    return counts


def labelled_files(folder) -> tuple[list[str], list[int], list[str]]:
    """``(paths, labels, class_names)``: every image of every class sub-folder, sorted by class
    then file name; class ``k`` is the ``k``-th class name in alphabetical order."""
    folder = Path(folder)
    class_names = sorted(class_folders(folder))
    paths, labels = [], []
    for label, name in enumerate(class_names):
        for f in sorted((folder / name).iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                paths.append(str(f))
                labels.append(label)
    return paths, labels, class_names


def labelled_dataset(folder, image_size: int = 64, batch_size: int = 32, seed: int = 0,
                     validation_split: float | None = None, color: str = "rgb",
                     shuffle: bool = True):
    """Batches of ``(images [B, S, S, C] float32 in [0, 1], labels [B] int32)`` from ``folder``.

    Class ``k`` is the ``k``-th class sub-folder in alphabetical order (``dataset.class_names``
    lists them).  Images (PNG, JPEG, BMP, GIF) are center-cropped to a square and resized to
    ``image_size`` (bilinear); ``color`` is ``"rgb"`` (3 channels) or ``"gray"`` (1).

    With ``shuffle`` the files are put in an order drawn once from ``seed``; without, sorted by
    class and name.  Every pass over a dataset (and every ``.repeat()`` epoch) gives the same
    batches, so two trainings on it see identical data (what
    :func:`kerasdenoise.training.transfer.compare_initializations` relies on); a tf.data
    ``shuffle`` would reorder differently for each new iterator.  With ``validation_split`` in
    (0, 1) returns ``(train, validation)``: the last ``round(split * n)`` files of that order (at
    least one) are the validation set; otherwise one dataset.  Datasets are finite (one pass).
    """
    import numpy as np
    import tensorflow as tf

    if color not in COLOR_MODES:
        raise ValueError(f"color must be one of {COLOR_MODES}, got {color!r}")
    if int(image_size) < 1 or int(batch_size) < 1:
        raise ValueError(
            f"image_size and batch_size must be positive, got {image_size}, {batch_size}"
        )
    if validation_split is not None and not 0.0 < float(validation_split) < 1.0:
        raise ValueError(f"validation_split must be in (0, 1) or None, got {validation_split!r}")
    paths, labels, class_names = labelled_files(folder)
    order = np.arange(len(paths))
    if shuffle:
        order = np.random.default_rng(int(seed)).permutation(len(paths))
    paths = [paths[i] for i in order]
    labels = [labels[i] for i in order]
    if validation_split:
        n_val = max(1, int(round(float(validation_split) * len(paths))))
        if n_val >= len(paths):
            raise ValueError(
                f"validation_split={validation_split} leaves no training image of the "
                f"{len(paths)} in {folder}"
            )
        splits = [(paths[:-n_val], labels[:-n_val]), (paths[-n_val:], labels[-n_val:])]
    else:
        splits = [(paths, labels)]

    channels = 3 if color == "rgb" else 1
    size = int(image_size)

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                   expand_animations=False)
        height, width = tf.shape(image)[0], tf.shape(image)[1]
        side = tf.minimum(height, width)
        image = tf.image.crop_to_bounding_box(image, (height - side) // 2, (width - side) // 2,
                                              side, side)
        image = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="bilinear")
        image = tf.clip_by_value(image / 255.0, 0.0, 1.0)
        image.set_shape((size, size, channels))
        return image, tf.cast(label, tf.int32)

    out = []
    for split_paths, split_labels in splits:
        dataset = (
            tf.data.Dataset.from_tensor_slices((split_paths, split_labels))
            .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(int(batch_size))
            .prefetch(tf.data.AUTOTUNE)
        )
        dataset.class_names = class_names
        out.append(dataset)
    return tuple(out) if validation_split else out[0]


SHAPE_CLASSES = ("circle", "square", "triangle", "stripes")


def write_synthetic_shapes(folder, per_class: int = 20, size: int = 64, seed: int = 0,
                           classes=SHAPE_CLASSES):
    """Write a small labelled folder ``folder/<shape>/<i>.png`` of coloured shapes on textured
    backgrounds: a stand-in for STL-10's labelled images when none are at hand (demos, tests).

    Shapes vary in position, size and colour; the background is smoothed noise.  Returns the
    folder.  ``classes`` is any subset of :data:`SHAPE_CLASSES`.
    """
    import cv2
    import numpy as np

    unknown = sorted(set(classes) - set(SHAPE_CLASSES))
    if unknown:
        raise ValueError(f"unknown shape classes {unknown}; valid: {SHAPE_CLASSES}")
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    for name in classes:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(int(per_class)):
            background = rng.random((size, size, 3)).astype(np.float32)
            background = cv2.GaussianBlur(background, (0, 0), size / 16)
            image = np.round(255 * (0.2 + 0.4 * background)).astype(np.uint8)
            color = tuple(int(c) for c in rng.integers(100, 256, 3))
            r = int(rng.integers(size // 6, size // 3))
            cy, cx = (int(v) for v in rng.integers(r, size - r, 2))
            if name == "circle":
                cv2.circle(image, (cx, cy), r, color, -1)
            elif name == "square":
                cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), color, -1)
            elif name == "triangle":
                points = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
                cv2.fillPoly(image, [points], color)
            else:
                period = int(rng.integers(4, 9))
                image[:, (np.arange(size) // (period // 2)) % 2 == 0] = color
            cv2.imwrite(str(folder / name / f"{i:04d}.png"), image[..., ::-1])
    return folder


def write_mnist_folder(folder, per_class: int = 100, images_path=None, labels_path=None):
    """Write MNIST digits as a labelled folder ``folder/<digit>/<index>.png`` (classes ``"0"``
    to ``"9"``, 28x28 grayscale PNGs): real labelled images for :func:`labelled_dataset`
    (which resizes them and, with ``color="rgb"``, repeats the gray channel).

    Takes the first ``per_class`` digits of each class in file order, from the IDX files of
    :func:`kerasdenoise.data.mnist.load_mnist_digits` / ``load_mnist_labels`` (default: the
    shared data's MNIST test set).  Raises FileNotFoundError when the real digits are not found
    (no Hershey stand-in here: its digits carry no labels) and ValueError when the two files
    disagree in length.  Existing files are overwritten.  Returns the folder.
    """
    import cv2
    import numpy as np

    from kerasdenoise.data.mnist import HERSHEY_PREFIX, load_mnist_digits, load_mnist_labels

    if int(per_class) < 1:
        raise ValueError(f"per_class must be positive, got {per_class}")
    digits, source = load_mnist_digits(images_path)
    if source.startswith(HERSHEY_PREFIX):
        raise FileNotFoundError(f"no MNIST digits file: {source}")
    labels = load_mnist_labels(labels_path)
    if len(labels) != len(digits):
        raise ValueError(f"{len(digits)} MNIST digits but {len(labels)} labels ({source})")
    folder = Path(folder)
    for digit in range(10):
        indices = np.flatnonzero(labels == digit)[: int(per_class)]
        (folder / str(digit)).mkdir(parents=True, exist_ok=True)
        for index in indices:
            cv2.imwrite(str(folder / str(digit) / f"{index:05d}.png"), digits[index])
    return folder
