"""Execute every notebook in notebooks/ end to end (their toy budgets) and check their outputs.

Each notebook runs in a fresh kernel of *this* interpreter (the venv's ipykernel), with the
working directory notebooks/ (as Jupyter would) and the repository root on PYTHONPATH, so the
notebooks see the checkout's kerasdenoise, not an installed copy.  A notebook passes when no
cell raised and its outputs contain the texts that show its main steps ran.
"""
import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "python3"

# Texts a notebook's outputs must contain (beyond running without an error), by file name.
# Every notebook's committed-results section prints FAST_AND_CLAIMS whether or not the fast-recipe
# runs and orderings.json are committed yet.
FAST_AND_CLAIMS = ["fast recipe beside the paper recipe", "claims (orderings.json)"]
EXPECTED_OUTPUT = {
    "01_resunet_perceptual.ipynb": ["resunet", "MACs per 32x32 patch", "L_per =", *FAST_AND_CLAIMS],
    "02_idgan.ipynb": ["phase1_idresnet", "phase2_idgan", "content loss features:", "IDGAN", "image/png",
                       "fast recipe at sigma 15 / 25 / 50", *FAST_AND_CLAIMS],
    "03_dnresnet.ipynb": ["149,344", "63,744", "DS-DN-ResNet-13", "dnresnet13.keras", "ds5.keras",
                          "3 % rule ended it", *FAST_AND_CLAIMS],
    "04_gated_convdeconv.ipynb": ["conv1", "deconv5", "gated-cpu-dsc", "classifier: validation accuracy",
                                  *FAST_AND_CLAIMS],
}


def _outputs_text(notebook) -> str:
    """Every output of every code cell as one string (streams, text/plain, text/markdown, and
    the names of the MIME types shown, e.g. ``image/png`` for a plot)."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                parts.append(output["text"])
            for mime, value in output.get("data", {}).items():
                parts.append(mime)
                if mime.startswith("text/"):
                    parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def _errors(notebook) -> list[str]:
    return [
        f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
        for index, cell in enumerate(notebook.cells)
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


@pytest.fixture
def kernel_env(monkeypatch, tmp_path):
    """Make the ``python3`` kernel this interpreter, and put the repo root on its path.

    jupyter_client runs a kernelspec whose argv[0] is ``python`` with ``sys.executable``;
    any other interpreter gets a kernelspec written to a temporary JUPYTER_PATH.
    """
    pytest.importorskip("nbclient", reason="nbclient is not installed (pip install nbclient)")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install ipykernel)")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv0 = KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv[0]
    except NoSuchKernel:
        argv0 = None
    uses_this_python = argv0 in ("python", f"python{sys.version_info[0]}") or (
        argv0 is not None and Path(argv0).resolve() == Path(sys.executable).resolve()
    )
    if not uses_this_python:
        spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (tests)", "language": "python",
        }))
        monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(
            [str(tmp_path / "jupyter"), *filter(None, [os.environ.get("JUPYTER_PATH")])]))
        assert Path(KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv[0]) == Path(sys.executable)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")


def test_notebooks_found():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"
    for path in NOTEBOOKS:
        assert path.name in EXPECTED_OUTPUT, f"add the expected outputs of {path.name} to EXPECTED_OUTPUT"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_env):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError (with the cell and traceback) on an error
    print(f"{path.name}: executed in {time.perf_counter() - start:.1f} s")
    assert not _errors(notebook)
    text = _outputs_text(notebook)
    missing = [expected for expected in EXPECTED_OUTPUT.get(path.name, []) if expected not in text]
    assert not missing, f"{path.name}: outputs lack {missing}"
