#!/usr/bin/env python
"""Peak memory (RSS) and time of ``tools/denoise.py`` on a large photograph, tiled and untiled.

  python benchmarks/memory.py                         # 4000x3000 gray and RGB, shipped models
  python benchmarks/memory.py --size 1000x800 --out-dir /tmp/memory   # quick check

Writes synthetic images (smooth texture plus Gaussian noise, sigma 25; 8 bit) of ``--size``
to a temporary folder, one gray and one RGB, and a 256x256 gray one for the fixed cost
(Python, TensorFlow, the model).  Each is denoised by ``tools/denoise.py`` in its own process,
with the default tiling (``--tile 512``) and untiled (``--tile 100000``); the peak resident
memory of that process is read from ``os.wait4`` (``ru_maxrss`` of the child itself), its
wall time measured around it.  The tiled and untiled outputs are compared (largest
difference in 8-bit levels).

Writes ``memory.json`` (the commands, machine, every measure, and whether each tiled run
stayed under the 2 GB bound) and ``memory.png`` (bar charts of peak RSS and time) to
``--out-dir`` (default benchmarks/results).  Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _bench import RESULTS, ROOT, save_figure

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BOUND_MB = 2048  # the tiled runs must stay under this peak RSS
UNTILED = 100000  # a --tile larger than any image: one tile


def synthetic_image(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """A smooth random texture plus Gaussian noise (sigma 25 of 255), as uint8 (RGB order)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.random((max(2, height // 16), max(2, width // 16), channels)).astype(np.float32)
    texture = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    texture = texture.reshape(height, width, channels)
    texture = (texture - texture.min()) / (texture.max() - texture.min() + 1e-6)
    noisy = texture + rng.normal(0, 25 / 255, texture.shape).astype(np.float32)
    return np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)


def write_inputs(folder: Path, height: int, width: int) -> dict:
    from kerasdenoise.data.io import write_image

    images = {
        "small_gray": synthetic_image(256, 256, 1, seed=0),
        "gray": synthetic_image(height, width, 1, seed=1),
        "rgb": synthetic_image(height, width, 3, seed=2),
    }
    paths = {}
    for name, pixels in images.items():
        paths[name] = write_image(folder / f"{name}.png", pixels)
    return paths


def measure(command: list, env: dict) -> dict:
    """Run ``command``; its wall time, exit code and peak RSS (MB) from ``os.wait4``."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
        seconds = time.perf_counter() - start
        process.returncode = returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out_text = stdout.read().decode(errors="replace")
        err_text = stderr.read().decode(errors="replace")
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "returncode": returncode,
        "stderr_tail": err_text[-1500:] if returncode else "",
        "stdout_tail": out_text[-300:],
    }


def plot(results: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['image']}\n{'tiled' if r['tile'] != UNTILED else 'untiled'}" for r in results]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    colors = ["tab:blue" if r["tile"] != UNTILED else "tab:orange" for r in results]
    axes[0].bar(labels, [r["peak_rss_mb"] for r in results], color=colors)
    axes[0].axhline(BOUND_MB, color="red", linestyle="--", linewidth=1, label=f"{BOUND_MB} MB bound")
    axes[0].set_ylabel("peak RSS (MB)")
    axes[0].legend()
    axes[1].bar(labels, [r["seconds"] for r in results], color=colors)
    axes[1].set_ylabel("wall time (s)")
    for axis in axes:
        axis.tick_params(axis="x", labelsize=8)
    figure.suptitle("tools/denoise.py: peak memory and time (tiled: --tile 512, untiled: one tile)")
    save_figure(figure, path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the large images")
    parser.add_argument("--model", default="shipped", help="model SPEC for tools/denoise.py")
    parser.add_argument("--tile", type=int, default=512, help="the tiled runs' --tile (default 512)")
    parser.add_argument("--out-dir", default=str(RESULTS))
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    import cv2

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    results = []
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kd_memory_") as scratch:
        scratch = Path(scratch)
        inputs = write_inputs(scratch / "in", height, width)
        for name, path in inputs.items():
            outputs = {}
            for tile in (args.tile, UNTILED):
                out = scratch / f"out_{name}_{tile}"
                options = ["--model", args.model, "--tile", str(tile)]
                command = [sys.executable, str(ROOT / "tools" / "denoise.py"), str(path),
                           *options, "-o", str(out)]
                shown = shlex.join(["python", "tools/denoise.py", f"{name}.png", *options,
                                    "-o", "OUT"])
                print("$", shown, flush=True)
                result = measure(command, env)
                shape = list(cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape)
                result.update({"image": name, "shape": shape, "tile": tile, "command": shown})
                print(f"  {result['seconds']} s, peak {result['peak_rss_mb']} MB, "
                      f"exit {result['returncode']}", flush=True)
                if result["returncode"] == 0:
                    outputs[tile] = cv2.imread(str(out / path.name), cv2.IMREAD_UNCHANGED)
                results.append(result)
            if len(outputs) == 2:
                difference = int(np.abs(outputs[args.tile].astype(np.int32)
                                        - outputs[UNTILED].astype(np.int32)).max())
                for result in results[-2:]:
                    result["max_level_difference_tiled_vs_untiled"] = difference

    tiled = [r for r in results if r["tile"] != UNTILED and r["image"] != "small_gray"]
    report = {
        "what": "peak RSS and wall time of tools/denoise.py, one process per run (os.wait4 ru_maxrss)",
        "command": shlex.join(["python", "benchmarks/memory.py"] + list(sys.argv[1:] if argv is None else argv)),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "model": args.model,
        "large_size": [height, width],
        "bound_mb": BOUND_MB,
        "tiled_under_bound": bool(tiled) and all(r["returncode"] == 0 and r["peak_rss_mb"] < BOUND_MB
                                                 for r in tiled),
        "results": results,
    }
    (out_dir / "memory.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, out_dir / "memory.png")
    print(f"wrote {out_dir / 'memory.json'} and {out_dir / 'memory.png'}")
    print(f"tiled runs under {BOUND_MB} MB: {report['tiled_under_bound']}")
    return 0 if all(r["returncode"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
