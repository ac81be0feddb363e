"""What the benchmarks share: paths, the papers' published numbers, training a preset (resumable),
evaluating a model with the protocol of ``tools/evaluate.py`` behind a JSON cache (a re-run only
does what is new), the machine's description, and writing a figure.

  from _bench import ROOT, RESULTS, reference, train_preset, evaluate_cached

Run a benchmark as ``python benchmarks/<name>.py`` from anywhere: Python puts the script's folder
on ``sys.path``, so ``_bench`` imports, and ``kerasdenoise`` is the installed package.  Everything
runs through the same library code as the CLIs (``tools/train.py``, ``tools/evaluate.py``); set
``TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1`` to run two benchmarks side by side on the
2-core machine.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# The papers' published numbers: the one file they are written in.
REFERENCE_FILE = ROOT / "benchmarks" / "reference_numbers.json"
# evaluations of training snapshots (runs/<preset>/snapshots/*.keras): recipe curve, 90-minute points
SNAPSHOT_CACHE = RESULTS / "snapshot_evaluations.json"


@functools.lru_cache(maxsize=None)
def _read_reference(path: str) -> str:
    return Path(path).read_text()


def reference(section: str | None = None, path=REFERENCE_FILE) -> dict:
    """``benchmarks/reference_numbers.json`` (a fresh copy), or one of its sections
    (``"denoising"``, ``"dnresnet"``, ``"resunet"``, ``"idgan"``, ``"gated"``, ...)."""
    data = json.loads(_read_reference(str(path)))
    return data[section] if section else data


def published(name: str, level) -> float:
    """The published PSNR of ``name`` (a key of the ``denoising`` section: ``"BM3D"``,
    ``"CDnCNN-B"``, ``"DnCNN-3"``, ...) at ``level`` (Gaussian sigma, or JPEG quality)."""
    return reference("denoising")[name]["psnr"][str(level)]


def relative(path) -> str:
    """``path`` relative to the repository root when it is inside it (portable result files)."""
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def batch_clock():
    """A Keras callback whose ``ends`` gets ``time.perf_counter()`` at the end of every training batch."""
    import time

    import keras

    class BatchClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    return BatchClock()


def train_command(preset: str, out: Path, overrides=(), threads=None) -> list:
    """The ``tools/train.py`` command that trains ``preset`` into ``out`` (resumed when ``out``
    exists)."""
    command = [sys.executable, str(ROOT / "tools" / "train.py"), "--config", preset, "--out", str(out), "--quiet"]
    for item in overrides:
        command += ["--set", item]
    if threads:
        command += ["--threads", str(threads)]
    if out.exists():
        command.append("--resume")
    print("$", shlex.join(command[1:]), flush=True)
    return command


def train_preset(preset: str, out=None, overrides=(), threads=None) -> Path:
    """Run ``tools/train.py --config preset`` into ``out`` (default ``runs/<preset>``) unless it
    has finished; an interrupted run is resumed.  Returns the run directory."""
    out = Path(out or ROOT / "runs" / preset)
    if (out / "final.keras").exists():
        return out
    subprocess.run(train_command(preset, out, overrides, threads), check=True, cwd=ROOT)
    return out


def train_side_by_side(runs: dict, minutes: float | None = None) -> None:
    """Train ``{name: (preset, out, overrides)}`` at the same time, one thread each, so whatever
    else the machine does slows all alike.  With ``minutes``, runs still going after that much
    wall-clock time are stopped (SIGTERM: a checkpoint at the batch boundary).  A run that has
    finished is left alone; an interrupted one is resumed.  A run that fails (rather than being
    stopped here) is an error naming it."""
    import signal
    import time

    processes = {}
    for name, (preset, out, overrides) in runs.items():
        out = Path(out)
        if not (out / "final.keras").exists():
            processes[name] = subprocess.Popen(train_command(preset, out, overrides, threads=1), cwd=ROOT)
    deadline = None if minutes is None else time.time() + minutes * 60
    while any(p.poll() is None for p in processes.values()) and (deadline is None or time.time() < deadline):
        time.sleep(5)
    stopped = set()
    for name, process in processes.items():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            stopped.add(name)
    for name, process in processes.items():
        if process.wait() != 0 and name not in stopped:
            raise SystemExit(f"training {name} ({runs[name][0]}) failed with exit code {process.returncode}")


def run_budget(run_dir) -> dict:
    """``{"steps", "minutes"}`` of a finished run: its run_info.json, or the sum over stages
    (their stages.json, which counts a stage's preparation such as block distillation)."""
    run_dir = Path(run_dir)
    if (run_dir / "stages.json").exists() and not (run_dir / "run_info.json").exists():
        stages = json.loads((run_dir / "stages.json").read_text())
        return {"steps": sum(int(s.get("steps", 0)) for s in stages),
                "minutes": round(sum(float(s.get("seconds", 0.0)) for s in stages) / 60, 1)}
    infos = [run_dir / "run_info.json"] if (run_dir / "run_info.json").exists() else \
        sorted(run_dir.glob("*/run_info.json"))
    steps = minutes = 0
    for path in infos:
        info = json.loads(path.read_text())
        steps += int(info.get("steps", 0))
        minutes += float(info.get("minutes", 0.0))
    return {"steps": steps, "minutes": round(minutes, 1)}


SAVED_RUNS = ROOT / "benchmarks" / "saved_runs"


def finished_run(preset: str) -> Path:
    """The folder of ``preset``'s finished run: ``runs/<preset>`` when trained here, else the copy
    kept in ``benchmarks/saved_runs`` (``runs/<preset>`` when neither has ``final.keras``)."""
    for base in (ROOT / "runs", SAVED_RUNS):
        if (base / preset / "final.keras").exists():
            return base / preset
    return ROOT / "runs" / preset


def total_budget(runs) -> dict:
    """``{"steps", "minutes"}`` summed over ``runs``."""
    budgets = [run_budget(run) for run in runs]
    return {"steps": sum(b["steps"] for b in budgets), "minutes": round(sum(b["minutes"] for b in budgets), 1)}


def chained(runs) -> list[tuple[Path, dict]]:
    """Each run of a chain (each started from the final weights of the one before) with
    ``{"steps", "minutes"}`` of the runs before it: where its own steps and minutes start."""
    out, steps, minutes = [], 0, 0.0
    for run in runs:
        out.append((Path(run), {"steps": steps, "minutes": round(minutes, 1)}))
        budget = run_budget(run)
        steps, minutes = steps + budget["steps"], minutes + budget["minutes"]
    return out


def summarize(report: dict) -> dict:
    """The cache entry of one ``kerasdenoise.evaluation.evaluate`` report (its first noise)."""
    result = report["results"][0]
    entry = {
        "model": report["model"], "noise": result["noise"], "dataset": report["dataset"],
        "color": report["color"], "images": result["n_images"],
        "psnr": round(float(result["psnr"]), 3), "ssim": round(float(result["ssim"]), 4),
        "psnr_input": round(float(result["psnr_input"]), 3),
        "seconds": round(float(result.get("seconds", 0)), 1),
    }
    if "psnr_frame" in result:
        entry["psnr_frame"] = round(float(result["psnr_frame"]), 3)
    return entry


def _read_cache(cache: Path) -> dict:
    return json.loads(cache.read_text()) if cache.exists() else {}


def cache_key(key: str, noise: str, test_dir: str, color: str, limit=None) -> str:
    """The key of one evaluation in a cache file: ``key|noise|test_dir[:limit]|color``."""
    subset = f"{test_dir}[:{limit}]" if limit else test_dir
    return f"{key}|{noise}|{subset}|{color}"


def cached_evaluation(cache, key: str, noise: str, test_dir: str, color: str, limit=None,
                      fallback_key: str | None = None) -> dict | None:
    """The cached entry of an evaluation (see :func:`evaluate_cached`), or ``None``."""
    entries = _read_cache(Path(cache))
    entry = entries.get(cache_key(key, noise, test_dir, color, limit))
    if entry is None and fallback_key is not None:
        entry = entries.get(fallback_key)
    if entry is not None and "results" in entry:  # a whole evaluate() report (older caches)
        entry = summarize(entry)
    return entry


def evaluate_cached(cache, key: str, model_spec: str, test_dir: str, noise: str,
                    color: str, limit=None, tile: int = 512, save_images=None,
                    fallback_key: str | None = None, progress: bool = False) -> dict:
    """Mean PSNR / SSIM of ``model_spec`` on ``test_dir`` for one noise spec (protocol of
    ``tools/evaluate.py``), cached in the JSON file ``cache`` under :func:`cache_key`.

    Returns ``{"model", "noise", "dataset", "color", "images", "psnr", "ssim", "psnr_input",
    "seconds", "psnr_frame"}``.  ``limit`` keeps the first N images (a labelled subset, for slow
    baselines such as CBM3D).  ``save_images``: a folder for the restored / noisy 8-bit PNGs
    (``evaluate``'s layout), for measures beyond PSNR / SSIM; a cached entry whose folder is
    missing is measured again.  ``fallback_key``: the key an older cache file stored the same
    evaluation under (read, never written).
    """
    cache = Path(cache)
    entry = cached_evaluation(cache, key, noise, test_dir, color, limit, fallback_key)
    if entry is not None and not (save_images and not Path(save_images).is_dir()):
        return entry

    from kerasdenoise.data.discovery import image_set
    from kerasdenoise.evaluation import evaluate
    from kerasdenoise.runtime import load_denoiser

    images = image_set(test_dir)
    if limit:
        images.items = images.items[:limit]
    # Result files name models relative to the repository root; load them from any working directory.
    rooted = ROOT / model_spec
    spec = str(rooted) if not Path(model_spec).is_absolute() and rooted.exists() else model_spec
    report = evaluate(load_denoiser(spec, tile=tile), images, [noise], color=color,
                      progress=progress, save_images=save_images)
    entry = {**summarize(report), "model": model_spec,
             "dataset": f"{test_dir}[:{limit}]" if limit else test_dir}
    cache.parent.mkdir(parents=True, exist_ok=True)
    # Read again before writing: another benchmark process may have added entries meanwhile.
    entries = {**_read_cache(cache), cache_key(key, noise, test_dir, color, limit): entry}
    cache.write_text(json.dumps(entries, indent=2, sort_keys=True))
    return entry


def content_hash(path) -> str:
    """A short hash of a file's bytes: the cache key of a model file that may be re-made under
    the same name."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def save_figure(fig, path, dpi: int = 120) -> None:
    """Lay out, write and close a matplotlib figure (the benchmarks' PNGs)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for the machine section of result files."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average():
    """The 1, 5 and 15 minute load averages, rounded (``None`` where unavailable)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None
