"""Export a trained denoiser (.keras) to a SavedModel and TFLite files for mobile use.

  kerasdenoise-export --model runs/demo/final.keras --out exported/demo
  kerasdenoise-export --model runs/demo/final.keras --out exported/demo --formats tflite --quantize none,int8
  kerasdenoise-export --model my.keras --out exported/my --set noise=gaussian:sigma=25 --set color_space=gray

Writes saved_model/ (signature 'denoise'), model_float32.tflite, model_float16.tflite,
model_dynamic.tflite, model_int8.tflite and model.json (what the files expect and what the
network was trained for; taken from the run's config.json when the model sits in a run folder,
else from --set, else "unknown").  Every file takes float32 images in [0, 1], NHWC, of any size:
signature 'denoise', input 'noisy_0to1_nhwc', output 'denoised_0to1_nhwc' (not clipped).
The int8 file has float32 input/output unless --int8-io; it is calibrated on noisy patches cut
from --calibration-dir (default: the embedded skimage-train photographs).
"""
import argparse
import sys

QUANTIZE_CHOICES = "none,fp16,dynamic,int8"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kerasdenoise-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the Keras model file (.keras) to export")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--formats", default="savedmodel,tflite",
                        help="comma-separated: savedmodel, tflite (default both)")
    parser.add_argument("--quantize", default=QUANTIZE_CHOICES,
                        help=f"TFLite variants, comma-separated among {QUANTIZE_CHOICES} (default all; none = float32)")
    parser.add_argument("--calibration-dir", default="skimage-train",
                        help="images for int8 calibration: a folder or a set name (default skimage-train)")
    parser.add_argument("--calibration-patches", type=int, default=64,
                        help="number of calibration patches (default 64)")
    parser.add_argument("--calibration-patch-size", type=int, default=64,
                        help="calibration patch side in pixels (default 64)")
    parser.add_argument("--calibration-noise",
                        help="noise spec added to the calibration patches (default: the training noise from the "
                             "metadata, else gaussian:sigma=25; 'none' for clean patches)")
    parser.add_argument("--float-layers", default="",
                        help="comma-separated Keras layer names kept in float32 in model_int8.tflite "
                             "(e.g. residual_add: additions whose outputs span the image range)")
    parser.add_argument("--int8-io", action="store_true",
                        help="int8 input/output tensors in model_int8.tflite (default float32)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="metadata for model.json, overriding the run config: name, description, model, "
                             "model_kwargs, color_space, training_data, noise")
    parser.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    args = parser.parse_args(argv)

    from kerasdenoise.export import export_model, parse_metadata_overrides

    if args.calibration_patches < 1 or args.calibration_patch_size < 1:
        parser.error("--calibration-patches and --calibration-patch-size must be >= 1")
    try:
        metadata = parse_metadata_overrides(args.set)
    except ValueError as err:
        parser.error(str(err))
    try:
        written = export_model(
            args.model,
            args.out,
            formats=args.formats,
            quantize=args.quantize,
            calibration=args.calibration_dir,
            calibration_patches=args.calibration_patches,
            calibration_patch_size=args.calibration_patch_size,
            calibration_noise=args.calibration_noise,
            metadata=metadata,
            int8_io=args.int8_io,
            overwrite=args.overwrite,
            float_layers=[name for name in args.float_layers.split(",") if name.strip()],
        )
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for key, path in written.items():
        print(f"{key:16s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
