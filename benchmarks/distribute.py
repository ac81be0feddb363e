#!/usr/bin/env python
"""Training throughput under tf.distribute on this machine: one device, two logical devices
(``mirrored``) and two local worker processes (``multi-worker``).

  python benchmarks/distribute.py [--steps 30] [--warmup 5]

Each setup trains the same preset (``dsdnresnet13-blind-fast``: DS-DN-ResNet-13, global batch 16
of 48x48 patches, on the bundled skimage images) through ``kerasdenoise.training.runner.train``
in fresh processes, and times the steps after ``--warmup`` (graph tracing, first allocations).
Writes ``benchmarks/results/distribute.json`` and ``distribute.png``.  On a 2-core CPU the two
replicas share the same two cores, so the figure shows the strategies' overhead, not a speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import RESULTS, batch_clock, cpu_model, save_figure

PRESET = "dsdnresnet13-blind-fast"
SETUPS = {
    "one device": [],
    "mirrored, 2 logical CPUs": ["--logical-cpus", "2"],
    "multi-worker, 2 local processes": None,  # two processes with TF_CONFIG
}


def _timed_run(out: Path, steps: int, warmup: int, strategy: str, logical_cpus: int | None):
    """(In a worker process) train and return seconds per step after ``warmup`` steps."""
    from kerasdenoise.training import configs, distribute

    if logical_cpus:
        distribute.split_cpu(logical_cpus)
    config = configs.get_preset(PRESET).replace(
        train_data="skimage-train", val_data=None, steps=warmup + steps, steps_per_epoch=warmup + steps,
        snapshot_every=0, strategy=strategy,
        devices=tuple(f"CPU:{i}" for i in range(logical_cpus)) if logical_cpus else ())

    from kerasdenoise.training.runner import train

    clock = batch_clock()
    train(config, out, callbacks=[clock], progress=False)
    span = clock.ends[-1] - clock.ends[warmup - 1]
    return span / steps, config.batch_size


def worker_main(args):
    seconds, batch = _timed_run(Path(args.out), args.steps, args.warmup, args.strategy,
                                args.logical_cpus)
    print(json.dumps({"seconds_per_step": seconds, "batch": batch}))


def _run(extra, env=None):
    command = [sys.executable, __file__, "--worker", *extra]
    result = subprocess.run(command, capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(name, flags, steps, warmup, folder: Path):
    common = ["--steps", str(steps), "--warmup", str(warmup)]
    if flags is not None:
        strategy = "mirrored" if flags else "none"
        return _run([*common, "--strategy", strategy, "--out", str(folder / "run"), *flags])
    from kerasdenoise.training.distribute import local_tf_configs

    processes = []
    for index, tf_config in enumerate(local_tf_configs(2)):
        env = {**os.environ, "TF_CONFIG": tf_config}
        processes.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", *common, "--strategy", "multi-worker",
             "--out", str(folder / f"run{index}")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate() for p in processes]
    for process, (_, err) in zip(processes, outputs):
        if process.returncode:
            raise RuntimeError(f"{name}: a worker failed:\n{err[-3000:]}")
    return json.loads(outputs[0][0].strip().splitlines()[-1])


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    names = [r["setup"] for r in rows]
    values = [r["examples_per_second"] for r in rows]
    ax.barh(names, values, color=["#4c72b0", "#dd8452", "#55a868"][:len(rows)])
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:.0f}", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("patches (48x48) per second, training")
    ax.set_title(f"{PRESET}, global batch 16, 2-core CPU")
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per setup (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed first steps (default 5)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="none", help=argparse.SUPPRESS)
    parser.add_argument("--logical-cpus", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be >= 1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, flags) in enumerate(SETUPS.items()):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            result = measure(name, flags, args.steps, args.warmup, folder)
            rows.append({"setup": name, "seconds_per_step": round(result["seconds_per_step"], 4),
                         "steps_per_second": round(1 / result["seconds_per_step"], 3),
                         "examples_per_second": round(result["batch"] / result["seconds_per_step"], 1)})
            print(f"{name:34s} {rows[-1]['steps_per_second']:6.2f} steps/s "
                  f"{rows[-1]['examples_per_second']:7.1f} patches/s", flush=True)
    base = rows[0]["examples_per_second"]
    for row in rows:
        row["relative_to_one_device"] = round(row["examples_per_second"] / base, 3)
    result = {
        "command": "python benchmarks/distribute.py"
                   + (f" --steps {args.steps}" if args.steps != 30 else "")
                   + (f" --warmup {args.warmup}" if args.warmup != 5 else ""),
        "preset": PRESET, "global_batch": 16, "timed_steps": args.steps, "warmup_steps": args.warmup,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "reading": ("Two CPU cores do not scale: the replicas share them, so each setup's rate "
                    "shows the cost of the strategy (per-step all-reduce, split batches, for "
                    "workers the gRPC collectives), not what several GPUs or hosts would gain."),
        "setups": rows,
    }
    (RESULTS / "distribute.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, RESULTS / "distribute.png")
    print(f"wrote {RESULTS / 'distribute.json'} and {RESULTS / 'distribute.png'}")


if __name__ == "__main__":
    main()
