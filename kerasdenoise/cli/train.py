"""Train a denoiser from a named preset.

  kerasdenoise-train --list-configs
  kerasdenoise-train --config demo --out runs/demo
  kerasdenoise-train --config dncnn-gray-s25 --data-dir ~/my_photos --steps 5000 --set batch_size=32
  kerasdenoise-train --config demo --out runs/demo --resume      # continue an interrupted run
  kerasdenoise-train --config demo --strategy mirrored            # every GPU of this host
  kerasdenoise-train --config demo --strategy mirrored --logical-cpus 2 --devices CPU:0,CPU:1
  TF_CONFIG='{...}' kerasdenoise-train --config demo --strategy multi-worker   # on each host

--strategy runs every training procedure under tf.distribute; --set batch_size stays the global
batch (see docs/DISTRIBUTED.md).
"""
import argparse
import json
import sys
from pathlib import Path


def _check_data_and_noise(config):
    """The noise spec parses and the data sets resolve, before any run folder exists."""
    from kerasdenoise.data.discovery import image_set
    from kerasdenoise.degrade import from_spec

    try:
        from_spec(config.noise)
    except ValueError as err:
        raise ValueError(f"noise {config.noise!r}: {err}") from None
    image_set(config.train_data)
    if config.init_weights and not Path(config.init_weights).is_file():
        raise FileNotFoundError(f"init_weights: no such model file: {config.init_weights}")
    if config.val_data:
        image_set(config.val_data)


def _start_devices(args, config):
    """Threads, logical CPUs and the strategy (which checks its devices, TF_CONFIG and the
    batch), in the order TensorFlow needs: before it initialises its devices."""
    if args.threads or args.logical_cpus or config.strategy != "none":
        import tensorflow as tf

        from kerasdenoise.training import distribute

        if args.threads:
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
            tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        if args.logical_cpus is not None:
            distribute.split_cpu(args.logical_cpus)
        if config.strategy != "none":
            distribute.check_batch(config, distribute.make_strategy(config.strategy, config.devices))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kerasdenoise-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="preset name (see --list-configs)")
    parser.add_argument("--list-configs", action="store_true", help="list the presets and exit")
    parser.add_argument("--data-dir", help="training images: a folder, or a shared set name (CBSD432, Train400)")
    parser.add_argument("--val-dir", help="validation images (folder or set name); 'none' to skip")
    parser.add_argument("--out", help="run directory (default runs/<config>)")
    parser.add_argument("--steps", type=int, help="total training steps (overrides the preset)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set batch_size=32 --set model_kwargs.depth=10")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads for TensorFlow's ops (default: all cores); e.g. 1 to run two jobs side by side")
    from kerasdenoise.training.distribute import STRATEGIES

    parser.add_argument("--strategy", choices=list(STRATEGIES),
                        help="tf.distribute strategy (default: the preset's, 'none'): "
                             + "; ".join(f"{k}: {v}" for k, v in STRATEGIES.items()))
    parser.add_argument("--devices", metavar="D1,D2",
                        help="devices of --strategy mirrored, e.g. GPU:0,GPU:1 (default: every GPU)")
    parser.add_argument("--logical-cpus", type=int, metavar="N",
                        help="split the CPU into N logical devices CPU:0..CPU:N-1 (to try mirrored "
                             "without GPUs)")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")

    from kerasdenoise.training import configs

    if args.list_configs:
        for name in configs.preset_names():
            print(f"{name:32s} {configs.get_preset(name).description}")
        return 0
    if not args.config:
        parser.error("--config is required (or --list-configs)")
    try:
        config = configs.get_preset(args.config)
        overrides = list(args.set)
        if args.data_dir:
            overrides.append(f"train_data={args.data_dir}")
        if args.val_dir:
            overrides.append("val_data=null" if args.val_dir.lower() == "none" else f"val_data={args.val_dir}")
        if args.steps is not None:
            if args.steps < 1:
                raise ValueError("--steps must be >= 1")
            overrides.append(f"steps={args.steps}")
        if args.strategy:
            overrides.append(f"strategy={args.strategy}")
        if args.devices:
            devices = [d.strip() for d in args.devices.split(",") if d.strip()]
            overrides.append("devices=" + json.dumps(devices))
        config = configs.apply_overrides(config, overrides)
        _start_devices(args, config)  # before anything else starts TensorFlow
        from kerasdenoise.training.runner import check_network_arguments

        check_network_arguments(config)
        _check_data_and_noise(config)
    except (ValueError, FileNotFoundError, NotADirectoryError, RuntimeError) as err:
        parser.error(str(err))

    from kerasdenoise.training.runner import train

    out = args.out or f"runs/{config.name}"
    try:
        result = train(config, out, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt as err:
        print(f"\n{err}", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"done: {result.steps} steps in {result.seconds / 60:.1f} min; model: {result.out_dir / 'final.keras'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
