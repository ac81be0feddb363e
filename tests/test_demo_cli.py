"""tools/demo.py: its help, and its errors on bad arguments (the full demo is `make demo`)."""
import subprocess
import sys

from conftest import ROOT

DEMO = [sys.executable, str(ROOT / "tools" / "demo.py")]


def test_demo_help_and_bad_arguments():
    done = subprocess.run(DEMO + ["--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and "before_after.png" in done.stdout
    bad = subprocess.run(DEMO + ["--steps", "many"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "--steps" in bad.stderr
