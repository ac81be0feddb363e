"""Shared steps of the reproduction benchmarks: train a preset (resumable), evaluate a model
with the protocol of ``tools/evaluate.py``, and keep every evaluation in a JSON cache so that a
re-run only does what is new.

  from _bench import ROOT, RESULTS, train_preset, evaluate_cached

Everything runs through the same library code as the CLIs (``tools/train.py``,
``tools/evaluate.py``); set ``TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1`` to run two
benchmarks side by side on the 2-core machine.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# evaluations of training snapshots (runs/<preset>/snapshots/*.keras): recipe curve, 90-minute points
SNAPSHOT_CACHE = RESULTS / "snapshot_evaluations.json"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def train_preset(preset: str, out=None, overrides=(), threads=None) -> Path:
    """Run ``tools/train.py --config preset`` into ``out`` (default ``runs/<preset>``) unless it
    has finished; an interrupted run is resumed.  Returns the run directory."""
    out = Path(out or ROOT / "runs" / preset)
    if (out / "final.keras").exists():
        return out
    command = [sys.executable, str(ROOT / "tools" / "train.py"), "--config", preset,
               "--out", str(out), "--quiet"]
    for item in overrides:
        command += ["--set", item]
    if threads:
        command += ["--threads", str(threads)]
    if out.exists():
        command.append("--resume")
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)
    return out


def run_budget(run_dir) -> dict:
    """``{"steps", "minutes"}`` of a finished run: its run_info.json, or the sum over stages."""
    run_dir = Path(run_dir)
    infos = [run_dir / "run_info.json"] if (run_dir / "run_info.json").exists() else \
        sorted(run_dir.glob("*/run_info.json"))
    steps = minutes = 0
    for path in infos:
        info = json.loads(path.read_text())
        steps += int(info.get("steps", 0))
        minutes += float(info.get("minutes", 0.0))
    return {"steps": steps, "minutes": round(minutes, 1)}


def evaluate_cached(cache: Path, key: str, model_spec: str, test_dir: str, noise: str,
                    color: str, limit=None, tile: int = 512, save_images=None) -> dict:
    """Mean PSNR / SSIM of ``model_spec`` on ``test_dir`` for one noise spec (protocol of
    ``tools/evaluate.py``), cached in the JSON file ``cache`` under ``key|noise|test_dir|color``.

    ``limit`` keeps the first N images (a labelled subset, for slow baselines such as CBM3D).
    ``save_images``: a folder for the restored / noisy 8-bit PNGs (``evaluate``'s layout), for
    measures beyond PSNR / SSIM; a cached entry whose folder is missing is measured again.
    """
    from kerasdenoise.data.discovery import image_set
    from kerasdenoise.evaluation import evaluate
    from kerasdenoise.inference import load_denoiser

    cache = Path(cache)
    entries = json.loads(cache.read_text()) if cache.exists() else {}
    subset = f"{test_dir}[:{limit}]" if limit else test_dir
    cache_key = f"{key}|{noise}|{subset}|{color}"
    if cache_key not in entries or (save_images and not Path(save_images).is_dir()):
        images = image_set(test_dir)
        if limit:
            images.items = images.items[:limit]
        report = evaluate(load_denoiser(model_spec, tile=tile), images, [noise], color=color,
                          progress=False, save_images=save_images)
        result = report["results"][0]
        entries[cache_key] = {
            "model": model_spec, "noise": noise, "dataset": subset, "color": color,
            "images": len(images), "psnr": round(float(result["psnr"]), 3),
            "ssim": round(float(result["ssim"]), 4),
            "psnr_input": round(float(result["psnr_input"]), 3), "seconds": round(float(result.get("seconds", 0)), 1),
            "psnr_frame": round(float(result["psnr_frame"]), 3),
        }
        cache.parent.mkdir(parents=True, exist_ok=True)
        # Read again before writing: another benchmark process may have added entries meanwhile.
        entries = {**(json.loads(cache.read_text()) if cache.exists() else {}),
                   cache_key: entries[cache_key]}
        cache.write_text(json.dumps(entries, indent=2, sort_keys=True))
    return entries[cache_key]


def save_figure(fig, path, dpi: int = 120) -> None:
    """Lay out, write and close a matplotlib figure (the benchmarks' PNGs)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
