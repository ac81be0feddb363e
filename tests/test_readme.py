"""Every example in README.md runs as written, in order, in one scratch folder.

The ```python blocks run with the installed package, the ```bash blocks line by line through the
shell; both must exit 0.  The two `make` commands are the untagged block at the top: `make test`
is this suite and `make demo` is covered by tests/test_demo_cli.py and the demo's own code paths.
"""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

README = ROOT / "README.md"
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)


def readme_blocks():
    return [(kind, code) for kind, code in BLOCK.findall(README.read_text())]


def bash_commands(code: str):
    """The commands of a bash block, comments dropped, backslash continuations joined."""
    joined = code.replace("\\\n", " ")
    for line in joined.splitlines():
        command = line.split("  #", 1)[0].strip()
        if command and not command.startswith("#"):
            yield command


def test_readme_has_examples_of_python_and_every_console_script():
    blocks = readme_blocks()
    assert any(kind == "python" for kind, _ in blocks)
    commands = [c for kind, code in blocks if kind == "bash" for c in bash_commands(code)]
    for script in ("kerasdenoise-train", "kerasdenoise-evaluate", "kerasdenoise-denoise",
                   "kerasdenoise-export"):
        assert any(c.startswith(script) for c in commands), script


def test_readme_examples_run_as_written(tmp_path):
    scripts = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    for kind, code in readme_blocks():
        if kind == "python":
            done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"README python block failed:\n{code}\n{done.stderr[-3000:]}"
            continue
        for command in bash_commands(code):
            done = subprocess.run(shlex.split(command), cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"README command failed: {command}\n{done.stderr[-3000:]}"
    assert (tmp_path / "denoised" / "noisy.png").is_file()
    assert (tmp_path / "exported" / "demo" / "model_int8.tflite").is_file()


@pytest.mark.parametrize("link", sorted(set(re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)\)",
                                                        README.read_text()))))
def test_readme_links_resolve(link):
    assert (ROOT / link).exists(), link
