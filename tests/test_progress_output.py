"""Progress output in logs: bars only on a terminal, so a run piped to a file stays short."""
import io
import os
import subprocess
import sys
from pathlib import Path

from conftest import write_images

ROOT = Path(__file__).resolve().parents[1]


def test_evaluate_piped_to_a_file_writes_no_progress_lines(tmp_path):
    n_images, specs = 12, ["gaussian:sigma=15", "gaussian:sigma=25"]
    images = write_images(tmp_path / "imgs", n=n_images, size=(16, 16), channels=1)
    log = tmp_path / "evaluate.log"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(log, "w") as out:  # as `tools/evaluate.py ... > evaluate.log 2>&1`
        result = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "evaluate.py"), "--model", "identity",
             "--test-dir", str(images), "--color", "gray",
             *[arg for spec in specs for arg in ("--noise", spec)]],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=300,
        )
    text = log.read_bytes().decode("utf-8", "replace")  # bytes: read_text turns \r into \n
    assert result.returncode == 0, text
    assert all(spec in text for spec in specs)  # the results table is there
    assert "\r" not in text, text  # no bar redrawn in place
    assert "%|" not in text and "img/s" not in text, text  # no bar at all
    # The table and its notes only: fewer lines than one per image and noise level.
    assert len(text.splitlines()) < n_images * len(specs), text


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_fit_prints_one_line_per_epoch_when_not_a_terminal(monkeypatch):
    from kerasdenoise.training.runner import _fit_verbose

    monkeypatch.setattr(sys, "stdout", _Stream(tty=True))
    assert _fit_verbose(True) == 1  # the live bar
    monkeypatch.setattr(sys, "stdout", _Stream(tty=False))
    assert _fit_verbose(True) == 2  # one line per epoch
    assert _fit_verbose(False) == 0
