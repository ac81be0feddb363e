"""Benchmark: training patches per second delivered by ``kerasdenoise.data.patch_dataset``.

Default workload (DN-ResNet's): 33x33 gray patches with 17x17 clean targets, degraded with
``gaussian:sigma=10..75|poisson:peak=1..8``, batches of 64, cropped from the embedded
scikit-image training photographs.  After a warm-up it times a fixed number of batches (in interleaved rounds, median kept) for each
way of applying the per-element degradation (``map_fn`` over the batch, which ``patch_dataset``
uses by default, see ``pipeline.DEGRADE_MODE``; ``tf.vectorized_map``; per element before
batching), prints a table and writes
``benchmarks/results/pipeline.json`` and ``pipeline.png`` (bars against the rate a DN-ResNet-13
training step on this CPU consumes: about 0.35 s per batch of 64, i.e. ~183 patches/s).

    python benchmarks/pipeline.py                       # embedded default images
    python benchmarks/pipeline.py --train Train400      # shared data set (needs the data)
    python benchmarks/pipeline.py --data-dir /path/to/shared/data --train Train400

``--step PRESET`` measures instead what a training step of that preset costs and where the time
goes, in milliseconds per step after a warm-up, on its own data and workload: the stream alone;
a bare ``train_on_batch`` on one fixed batch (the network's compute); ``fit`` fed by the stream
(compute + input pipeline on the same cores); and ``kerasdenoise.training.runner.train`` itself
(+ callbacks, validation, checkpoints, over two of the preset's epochs).  Writes
``benchmarks/results/pipeline_step.json`` and ``pipeline_step.png``:

    python benchmarks/pipeline.py --step dsdnresnet13-blind-fast --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _bench import RESULTS, ROOT, batch_clock, cpu_model, save_figure

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A DN-ResNet-13 training step (33x33 gray, batch 64) measured on this 2-core CPU machine.
TRAIN_STEP_SECONDS_PER_BATCH = 0.35
MODES = ("map_fn", "vectorized", "per_element")


def uptime_line() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def start_stream(images, names, args, mode):
    """Build the stream for ``mode`` and run its warm-up batches: (iterator, seconds)."""
    from kerasdenoise.data.pipeline import patch_dataset

    start = time.perf_counter()
    dataset = patch_dataset(
        images,
        names=names,
        patch_size=args.patch_size,
        target_size=args.target_size,
        degradation=args.degradation,
        batch_size=args.batch_size,
        seed=args.seed,
        degrade_mode=mode,
    )
    iterator = iter(dataset)
    for _ in range(args.warmup):
        next(iterator)
    return iterator, time.perf_counter() - start


def time_batches(iterator, batches) -> float:
    """Seconds to pull ``batches`` batches (as numpy, as Keras would consume them)."""
    start = time.perf_counter()
    for _ in range(batches):
        degraded, clean = next(iterator)
        _ = degraded.numpy(), clean.numpy()
    return time.perf_counter() - start


def time_modes(images, names, args):
    """Time every mode in ``args.repeats`` interleaved rounds (so a burst of load from other
    jobs hits all modes alike); report the median round."""
    from kerasdenoise.data.pipeline import DEGRADE_MODE

    streams, failures = {}, {}
    for mode in args.modes:
        try:
            streams[mode] = start_stream(images, names, args, mode)
        except Exception as err:  # a strategy that cannot run this degradation is reported
            failures[mode] = f"{type(err).__name__}: ...{str(err).strip().splitlines()[0][-240:]}"
    rounds = {mode: [] for mode in streams}
    for _ in range(args.repeats):
        for mode in streams:
            rounds[mode].append(time_batches(streams[mode][0], args.batches))
    results = []
    for mode in args.modes:
        if mode in failures:
            results.append({
                "mode": mode,
                "used_by_patch_dataset": mode == DEGRADE_MODE,
                "error": failures[mode],
                "patches_per_s": 0.0,
            })
            continue
        seconds = statistics.median(rounds[mode])
        patches = args.batches * args.batch_size
        results.append({
            "mode": mode,
            "used_by_patch_dataset": mode == DEGRADE_MODE,
            "build_and_warmup_s": round(streams[mode][1], 3),
            "round_s": [round(x, 3) for x in rounds[mode]],
            "patches_per_s": round(patches / seconds, 1),
            "s_per_batch_of_64": round(seconds / args.batches * 64 / args.batch_size, 5),
        })
    return results


def time_training_step(preset: str, steps: int, warmup: int) -> dict:
    """Milliseconds per training step of ``preset``, part by part (see the module docstring)."""
    import tempfile

    import keras

    from kerasdenoise.training.configs import get_preset
    from kerasdenoise.training.runner import build_network, make_datasets, train
    from kerasdenoise.training.trainers import make_trainable

    config = get_preset(preset)
    if not 1 <= warmup < config.steps_per_epoch:
        raise SystemExit(f"--warmup must be between 1 and the preset's steps_per_epoch - 1 "
                         f"({config.steps_per_epoch - 1}), got {warmup}")
    if config.procedure != "supervised":
        raise SystemExit(f"--step: preset {preset!r} uses procedure {config.procedure!r}; "
                         "the step is measured for single-run supervised presets")
    train_stream, _ = make_datasets(config)
    times = {}

    iterator = iter(train_stream(0))
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(steps):
        _ = [t.numpy() for t in next(iterator)]
    times["stream"] = (time.perf_counter() - start) / steps

    keras.utils.set_random_seed(config.seed)
    trainable = make_trainable(config, build_network(config))
    degraded, clean, weights = keras.utils.unpack_x_y_sample_weight(next(iterator))
    for _ in range(warmup):
        trainable.train_on_batch(degraded, clean, sample_weight=weights)
    start = time.perf_counter()
    for _ in range(steps):
        trainable.train_on_batch(degraded, clean, sample_weight=weights)
    times["train_on_batch"] = (time.perf_counter() - start) / steps

    stream = train_stream(0)
    trainable.fit(stream, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    trainable.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
    times["fit"] = (time.perf_counter() - start) / steps

    clock = batch_clock()
    # Two epochs after the warm-up: each epoch end (validation, history, checkpoint) counted once.
    total = warmup + 2 * config.steps_per_epoch
    with tempfile.TemporaryDirectory() as out:
        train(config.replace(steps=total, snapshot_every=0), out, callbacks=[clock], progress=False)
    timed = clock.ends[warmup - 1:]
    gaps = sorted(b - a for a, b in zip(timed, timed[1:]))
    times["train"] = (timed[-1] - timed[0]) / (len(timed) - 1)
    median_gap = gaps[len(gaps) // 2]
    # ends[k] is the end of step k + 1; the step after an epoch's last waits for its end
    # (validation, history row, checkpoint)
    epoch_ends = [clock.ends[k * config.steps_per_epoch] - clock.ends[k * config.steps_per_epoch - 1]
                  for k in (1, 2)]
    return {
        "preset": preset,
        "workload": {"network": config.model, "model_kwargs": config.model_kwargs,
                     "patch_size": config.patch_size, "batch_size": config.batch_size,
                     "degradation": config.noise, "train_data": config.train_data,
                     "val_data": config.val_data, "val_batches": config.val_batches,
                     "steps_per_epoch": config.steps_per_epoch},
        "steps": steps, "warmup": warmup, "train_steps_timed": len(timed) - 1,
        "ms_per_step": {key: round(1000 * value, 2) for key, value in times.items()},
        "train_median_step_ms": round(1000 * median_gap, 2),
        "train_epoch_end_ms": [round(1000 * g, 1) for g in epoch_ends],
        "megapixels_per_s": round(config.batch_size * config.patch_size ** 2 / times["train"] / 1e6, 3),
    }


def plot_step(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"stream": "stream alone", "train_on_batch": "train_on_batch\n(fixed batch)",
              "fit": "fit on the stream", "train": "runner.train\n(+ callbacks, validation)"}
    ms = report["ms_per_step"]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    bars = ax.bar([labels[k] for k in ms], list(ms.values()),
                  color=["tab:gray", "tab:blue", "tab:orange", "tab:red"][:len(ms)])
    ax.bar_label(bars, fmt="%.1f")
    ax.set_ylabel("ms per training step")
    w = report["workload"]
    ax.set_title(f"{report['preset']}: batch {w['batch_size']} x {w['patch_size']}x{w['patch_size']}, "
                 f"{report['machine']['nproc']} x {report['machine']['cpu_model']}", fontsize=9)
    save_figure(fig, path, dpi=120)


def plot(results, need_patches_per_s, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    labels = [
        r["mode"] + (" (used)" if r["used_by_patch_dataset"] else "") + ("\n(fails)" if "error" in r else "")
        for r in results
    ]
    rates = [r["patches_per_s"] for r in results]
    bars = ax.bar(labels, rates, color=["tab:blue" if r["used_by_patch_dataset"] else "tab:gray" for r in results])
    ax.bar_label(bars, fmt="%.0f")
    ax.axhline(need_patches_per_s, color="tab:red", linestyle="--",
               label=f"DN-ResNet-13 training step needs ~{need_patches_per_s:.0f} patches/s")
    ax.set_ylabel("patches / s")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8, frameon=False)
    save_figure(fig, path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", default="skimage-train",
                        help="image set name or folder (default: the embedded skimage-train)")
    parser.add_argument("--data-dir", help="shared data folder (sets KERASDENOISE_DATA)")
    parser.add_argument("--color", default="gray", choices=("gray", "rgb", "y"))
    parser.add_argument("--degradation", default="gaussian:sigma=10..75|poisson:peak=1..8")
    parser.add_argument("--patch-size", type=int, default=33)
    parser.add_argument("--target-size", type=int, default=17)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=100, help="timed batches per mode and round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds (median kept)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed batches first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--step", metavar="PRESET",
                        help="time a training step of this supervised preset, part by part (see above)")
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ["KERASDENOISE_DATA"] = args.data_dir

    import tensorflow as tf

    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])
    out = Path(args.out)
    if args.step:
        load_before = uptime_line()
        report = {"command": command, **time_training_step(args.step, args.batches, args.warmup)}
        report["machine"] = {"nproc": os.cpu_count(), "cpu_model": cpu_model(), "tensorflow": tf.__version__,
                             "uptime_before": load_before, "uptime_after": uptime_line()}
        for key, value in report["ms_per_step"].items():
            print(f"{key:<16}{value:>10.2f} ms/step")
        out.mkdir(parents=True, exist_ok=True)
        (out / "pipeline_step.json").write_text(json.dumps(report, indent=2) + "\n")
        plot_step(report, out / "pipeline_step.png")
        print(f"wrote {out / 'pipeline_step.json'} and {out / 'pipeline_step.png'}")
        return report

    from kerasdenoise.data import image_set

    load_before = uptime_line()
    start = time.perf_counter()
    images_set = image_set(args.train)
    images = images_set.load(args.color)
    decode_seconds = time.perf_counter() - start
    results = time_modes(images, images_set.names(), args)
    load_after = uptime_line()

    need = 64 / TRAIN_STEP_SECONDS_PER_BATCH
    report = {
        "command": command,
        "data": {
            "set": images_set.name,
            "source": images_set.source,
            "images": len(images),
            "color": args.color,
            "decode_s": round(decode_seconds, 3),
        },
        "workload": {
            "patch_size": args.patch_size,
            "target_size": args.target_size,
            "batch_size": args.batch_size,
            "degradation": args.degradation,
        },
        "machine": {
            "nproc": os.cpu_count(),
            "cpu_model": cpu_model(),
            "tensorflow": tf.__version__,
            "uptime_before": load_before,
            "uptime_after": load_after,
            "note": "2-core machine shared with other jobs; the load average shows how busy it was",
        },
        "batches": args.batches,
        "repeats": args.repeats,
        "warmup_batches": args.warmup,
        "results": results,
        "training_need": {
            "model": "DN-ResNet-13",
            "s_per_batch_of_64": TRAIN_STEP_SECONDS_PER_BATCH,
            "patches_per_s": round(need, 1),
        },
    }

    print(f"data: {images_set.name} ({len(images)} images, {args.color}), "
          f"{args.patch_size}x{args.patch_size} -> {args.target_size}x{args.target_size}, "
          f"batch {args.batch_size}, {args.degradation}")
    print(f"machine: {os.cpu_count()} x {cpu_model()}; {load_before}")
    print(f"{'mode':<14}{'patches/s':>12}{'s/batch64':>12}{'x need':>9}")
    for r in results:
        if "error" in r:
            print(f"{r['mode']:<14}{'failed':>12}  {r['error'][-110:]}")
            continue
        print(f"{r['mode']:<14}{r['patches_per_s']:>12.0f}{r['s_per_batch_of_64']:>12.4f}"
              f"{r['patches_per_s'] / need:>9.1f}")
    print(f"DN-ResNet-13 training needs ~{need:.0f} patches/s ({TRAIN_STEP_SECONDS_PER_BATCH} s/batch of 64)")

    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, need, out / "pipeline.png",
         f"patch_dataset on {os.cpu_count()} x {cpu_model()}: {images_set.name}, "
         f"{args.patch_size}->{args.target_size} {args.color}, batch {args.batch_size}\n{args.degradation}")
    print(f"wrote {out / 'pipeline.json'} and {out / 'pipeline.png'}")
    return report


if __name__ == "__main__":
    main()
