#!/usr/bin/env python
"""Latency of DnCNN-17, DN-ResNet-13 and DS-DN-ResNet-13 on one 512x512 gray image, on this CPU.

  python benchmarks/latency.py                       # full run: 10 timed calls per method
  python benchmarks/latency.py --repeats 3 --warmup 1 --out-dir /tmp/latency   # quick check

For each network: Keras ``model.predict``, a ``tf.function`` call (graph mode, fixed input
shape), TFLite float32 and TFLite int8 (files written by kerasdenoise.export, run with
ai-edge-litert: XNNPACK delegate, ``--threads`` threads).  Reports the median (and min, mean,
90th percentile) wall time per call, the network's multiply-accumulates for a 512x512 image
(``kerasdenoise.models.stats``) and the achieved G MAC/s.

The weights are random (seed 0): latency does not depend on weight values (int8 calibration
only moves scales), so no trained model is needed.  The input is the 512x512 scikit-image
'camera' photograph with Gaussian noise (sigma 25).  The paper's Table 5 (Ren et al., single
Titan X GPU, 512x512 image) is quoted beside the results; it is a GPU, this is a CPU run, so
compare ratios between networks, not absolute times.

Writes ``latency.json`` (command, machine, load average at start and end, software versions,
every timing) and ``latency.png`` (bar chart) to ``--out-dir`` (default benchmarks/results).
Run it on an otherwise idle machine: other processes inflate every number.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _bench import RESULTS, cpu_model, load_average, reference, save_figure

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NETWORKS = {
    # label: (registry name, builder kwargs)
    "DnCNN-17": ("dncnn", {"depth": 17, "channels": 1}),
    "DN-ResNet-13": ("dnresnet", {"blocks": 5, "base_padding": "same"}),
    "DS-DN-ResNet-13": ("ds_dnresnet", {"blocks": 5, "base_padding": "same"}),
}
METHODS = ("keras_predict", "tf_function", "tflite_float32", "tflite_int8")
METHOD_LABELS = {
    "keras_predict": "Keras predict",
    "tf_function": "tf.function",
    "tflite_float32": "TFLite float32 (XNNPACK)",
    "tflite_int8": "TFLite int8 (XNNPACK)",
}
# Ren, El-Khamy, Lee: DN-ResNet paper, Table 5 and Sec. 4.3: "The speed is tested in single
# Titan-X GPU and 512x512 image."  (The Poisson rows of the converted table repeat these
# columns garbled, e.g. 55.44 ms against DN-ResNet; the Gaussian rows and the text agree.)
PAPER_TABLE5 = reference("dnresnet")["latency_table5"]


def noisy_camera(size: int) -> np.ndarray:
    """The scikit-image 'camera' photograph (512x512 gray) cropped/tiled to ``size``, plus
    Gaussian noise sigma 25 (0-255 scale), float32 [1, size, size, 1]."""
    import skimage.data

    camera = skimage.data.camera().astype(np.float32) / 255.0
    reps = -(-size // camera.shape[0])
    image = np.tile(camera, (reps, reps))[:size, :size]
    noisy = image + np.random.default_rng(0).normal(0, 25 / 255, image.shape).astype(np.float32)
    return noisy[None, :, :, None]


def time_calls(call, repeats: int, warmup: int) -> dict:
    """Wall time of ``call()`` ``repeats`` times after ``warmup`` untimed calls, in ms."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
    times_array = np.asarray(times)
    return {
        "median_ms": float(np.median(times_array)),
        "min_ms": float(times_array.min()),
        "mean_ms": float(times_array.mean()),
        "p90_ms": float(np.percentile(times_array, 90)),
        "times_ms": [round(t, 3) for t in times],
    }


def benchmark_network(label, builder, kwargs, image, methods, args, scratch: Path) -> dict:
    import keras
    import tensorflow as tf

    from kerasdenoise import models
    from kerasdenoise.export import export_model
    from kerasdenoise.runtime import TFLiteRunner

    keras.utils.set_random_seed(0)
    model = models.build(builder, **kwargs)
    size = image.shape[1:3]
    stats = models.stats(model, tuple(size))
    entry = {
        "network": label,
        "builder": builder,
        "builder_kwargs": kwargs,
        "params": stats["params"],
        "weights": stats["weights"],
        "gmacs": stats["macs"] / 1e9,
        "methods": {},
    }
    print(f"{label}: {stats['params']} params, {stats['macs'] / 1e9:.2f} G MACs at {size[0]}x{size[1]}", flush=True)

    runners = {}
    if "keras_predict" in methods:
        runners["keras_predict"] = lambda: model.predict(image, verbose=0)
    if "tf_function" in methods:
        forward = tf.function(
            lambda batch: model(batch, training=False),
            input_signature=[tf.TensorSpec(image.shape, tf.float32)],
        )
        tensor = tf.constant(image)
        runners["tf_function"] = lambda: forward(tensor).numpy()
    quantize = [q for q, m in (("none", "tflite_float32"), ("int8", "tflite_int8")) if m in methods]
    if quantize:
        written = export_model(
            model,
            scratch / builder,
            formats="tflite",
            quantize=quantize,
            calibration=args.calibration_dir,
            calibration_patches=args.calibration_patches,
            overwrite=True,
        )
        for quant, method in (("none", "tflite_float32"), ("int8", "tflite_int8")):
            if method in methods:
                runner = TFLiteRunner(written[f"tflite_{'float32' if quant == 'none' else 'int8'}"],
                                        num_threads=args.threads)
                runners[method] = lambda runner=runner: runner(image)

    for method in methods:
        timing = time_calls(runners[method], args.repeats, args.warmup)
        timing["gmac_per_s"] = entry["gmacs"] / (timing["median_ms"] / 1000.0)
        entry["methods"][method] = timing
        print(f"  {METHOD_LABELS[method]:26s} median {timing['median_ms']:9.1f} ms "
              f"(min {timing['min_ms']:.1f})  {timing['gmac_per_s']:.1f} G MAC/s", flush=True)
    return entry


def plot(results: dict, path: Path):
    """Grouped bars: median ms per network and method (log scale), the paper's GPU times beside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    networks = [entry["network"] for entry in results["results"]]
    methods = [m for m in METHODS if any(m in e["methods"] for e in results["results"])]
    series = [(METHOD_LABELS[m], [e["methods"].get(m, {}).get("median_ms", np.nan) for e in results["results"]])
              for m in methods]
    paper = results["paper_table5"]["ms"]
    series.append(("paper: Titan X GPU (Table 5)", [paper.get(n, np.nan) for n in networks]))

    fig, ax = plt.subplots(figsize=(9, 4.8))
    width = 0.8 / len(series)
    x = np.arange(len(networks))
    for i, (name, values) in enumerate(series):
        hatch = "//" if name.startswith("paper") else None
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name, hatch=hatch,
                      color="white" if hatch else None, edgecolor="black" if hatch else None)
        for bar, value in zip(bars, values):
            if np.isfinite(value):
                ax.annotate(f"{value:.0f}" if value >= 10 else f"{value:.1f}",
                            (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom", fontsize=7)
    labels = [f"{e['network']}\n{e['gmacs']:.1f} G MACs" for e in results["results"]]
    ax.set_xticks(x, labels)
    ax.set_yscale("log")
    ax.set_ylabel("median ms per 512x512 gray image (log)")
    machine = results["machine"]
    ax.set_title(f"{machine['cpu_model']}, {machine['nproc']} CPUs, TFLite {results['settings']['tflite_threads']} "
                 f"threads; load at start {machine['load_average_at_start']}", fontsize=9)
    ax.legend(fontsize=8)
    ax.text(0.01, -0.2, "random-init weights; paper bars: a GPU, for reference only",
            transform=ax.transAxes, fontsize=7)
    save_figure(fig, path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per method (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    parser.add_argument("--threads", type=int, default=2, help="TFLite threads (default 2)")
    parser.add_argument("--tf-threads", type=int, default=0,
                        help="TensorFlow intra-op threads for Keras / tf.function "
                             "(default 0: TF's choice, all cores)")
    parser.add_argument("--networks", default=",".join(NETWORKS), help=f"comma-separated among {', '.join(NETWORKS)}")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated among {', '.join(METHODS)}")
    parser.add_argument("--calibration-dir", default="skimage-train", help="int8 calibration images (default skimage-train)")
    parser.add_argument("--calibration-patches", type=int, default=16, help="int8 calibration patches (default 16)")
    parser.add_argument("--out-dir", default=str(RESULTS), help="where latency.json/.png go")
    args = parser.parse_args(argv)
    networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for name in networks:
        if name not in NETWORKS:
            parser.error(f"unknown network {name!r}; valid: {', '.join(NETWORKS)}")
    for name in methods:
        if name not in METHODS:
            parser.error(f"unknown method {name!r}; valid: {', '.join(METHODS)}")
    if args.repeats < 1 or args.warmup < 0 or args.size < 8 or args.threads < 1:
        parser.error("need --repeats >= 1, --warmup >= 0, --size >= 8, --threads >= 1")

    load_at_start = load_average()
    if load_at_start and load_at_start[0] > 0.5:
        print(f"warning: load average {load_at_start} at start: other processes will inflate the timings",
              file=sys.stderr)
    import tensorflow as tf

    if args.tf_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.tf_threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    import ai_edge_litert

    image = noisy_camera(args.size)
    results = {
        "command": " ".join(shlex.quote(a) for a in ["python", "benchmarks/latency.py", *sys.argv[1:]])
        if argv is None else "main(" + repr(argv) + ")",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "nproc": os.cpu_count(),
            "cpu_model": cpu_model(),
            "platform": platform.platform(),
            "load_average_at_start": load_at_start,
        },
        "software": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"),
            "numpy": np.__version__,
        },
        "settings": {
            "image": f"{args.size}x{args.size} gray: skimage 'camera' + Gaussian noise sigma 25, batch 1",
            "repeats": args.repeats,
            "warmup": args.warmup,
            "tflite_threads": args.threads,
            "tf_intra_op_threads": args.tf_threads or "default (all cores)",
            "int8": "full-integer int8 kernels, float32 input/output, calibrated on "
                    f"{args.calibration_patches} noisy patches of {args.calibration_dir}",
            "weights": "random initialization (seed 0); latency does not depend on weight values",
            "timing": "wall time per call (time.perf_counter), output copied back to numpy",
        },
        "results": [],
        "paper_table5": PAPER_TABLE5,
    }
    with tempfile.TemporaryDirectory(prefix="kerasdenoise_latency_") as scratch:
        for label in networks:
            builder, kwargs = NETWORKS[label]
            results["results"].append(
                benchmark_network(label, builder, kwargs, image, methods, args, Path(scratch))
            )
    results["machine"]["load_average_at_end"] = load_average()

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latency.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out_dir / "latency.png")
    print(f"wrote {out_dir / 'latency.json'} and {out_dir / 'latency.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
