"""Shared fixtures: tiny image folders, the shared reference data (skips when absent)."""
import os
import signal
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
# A test process started as a background job of a script inherits SIGINT ignored, and the
# training runner then keeps it ignored; the interrupt tests need Ctrl-C semantics.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def shared_data_path():
    env = os.environ.get("KERASDENOISE_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def shared_data():
    path = shared_data_path()
    if path is None:
        pytest.skip("reference data not found (set KERASDENOISE_DATA or put it at ../shared/data)")
    return path


def write_images(folder: Path, n=3, size=(48, 56), channels=3, seed=0):
    """Smooth random test images (blurred noise, so denoisers have structure to learn)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = rng.random((size[0], size[1], channels)).astype(np.float32)
        img = cv2.GaussianBlur(img, (0, 0), 2.0).reshape(size[0], size[1], channels)  # blur drops a lone channel axis
        img = (img - img.min()) / (img.max() - img.min() + 1e-6)
        img = np.round(img * 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"img{i}.png"), img if channels == 3 else img[..., 0])
    return folder


@pytest.fixture
def tiny_images(tmp_path):
    return write_images(tmp_path / "images")


def interrupt_at(batches):
    """A Keras callback that presses Ctrl-C (raises SIGINT in this process) after ``batches``
    training batches, counted across every ``fit`` call it is passed to (stages, phases).

    Inside the training runner that is a stop at the end of that batch, with a checkpoint
    there (see :mod:`kerasdenoise.training.runner`); elsewhere, Python's KeyboardInterrupt.
    Interrupts in the middle of a step, and SIGTERM / SIGKILL: tests/test_resume.py."""
    import keras

    class InterruptAt(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.left = batches

        def on_train_batch_end(self, batch, logs=None):
            self.left -= 1
            if self.left == 0:
                signal.raise_signal(signal.SIGINT)

    return InterruptAt()


def load_tool(name):
    """The CLI module ``kerasdenoise.cli.<name>`` (``kerasdenoise-<name>``), to call its main()
    in-process (fast)."""
    import importlib

    return importlib.import_module(f"kerasdenoise.cli.{name}")
