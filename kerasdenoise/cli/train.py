"""Train a denoiser from a named preset.

  kerasdenoise-train --list-configs
  kerasdenoise-train --config demo --out runs/demo
  kerasdenoise-train --config dncnn-gray-s25 --data-dir ~/my_photos --steps 5000 --set batch_size=32
  kerasdenoise-train --config demo --out runs/demo --resume      # continue an interrupted run
"""
import argparse
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
        config = configs.apply_overrides(config, overrides)
        from kerasdenoise.training.runner import check_network_arguments

        check_network_arguments(config)
        _check_data_and_noise(config)
    except (ValueError, FileNotFoundError, NotADirectoryError) as err:
        parser.error(str(err))

    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
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
