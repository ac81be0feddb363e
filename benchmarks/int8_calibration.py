#!/usr/bin/env python
"""int8 calibration noise of a shipped model: PSNR of the int8 TFLite file minus the float32 one
on the first 16 images of BSD68 (CBSD68 for RGB models), Gaussian sigma 15 / 25 / 50, with the
evaluation protocol of ``tools/evaluate.py`` (seed 0), for each calibration noise mix given
(``MIX@N``: N calibration patches, default 64) and each set of layers kept in float32
(``--float-layers a,b``, repeatable; without it, none).

  python benchmarks/int8_calibration.py dnresnet13_blind "gaussian:sigma=0..55|gaussian:sigma=0..55|gaussian:sigma=0..25" "gaussian:sigma=0..40"
  python benchmarks/int8_calibration.py color_blind gaussian:sigma=0..40 --float-layers "" --float-layers residual_add

Prints one line per mix and layer set and adds them to ``benchmarks/results/int8_calibration_<model>.json``
(a row measured again replaces the old one; each run's command is listed there; evaluations are
cached by file content in ``int8_calibration_evaluations.json``).
The converter sets activation ranges from the calibration minima and maxima: high-sigma
patches widen them, which costs low-sigma precision; too narrow a mix clips at high sigma.
"""
import argparse
import json
import tempfile
from pathlib import Path

from _bench import RESULTS, ROOT, content_hash, evaluate_cached
from kerasdenoise import export
from kerasdenoise.runtime import load_keras_model

SIGMAS = (15, 25, 50)
IMAGES = 16
CACHE = RESULTS / "int8_calibration_evaluations.json"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="folder name under exported_models/")
    parser.add_argument("mixes", nargs="+", help="calibration noise specs, each optionally @N")
    parser.add_argument("--float-layers", action="append",
                        help="comma-separated Keras layers kept float32 (repeatable; '' for none)")
    args = parser.parse_args(argv)
    layer_sets = [tuple(n for n in text.split(",") if n) for text in (args.float_layers or [""])]
    model = load_keras_model(ROOT / "exported_models" / args.model / "model.keras")
    channels = int(model.inputs[0].shape[-1])
    color = "rgb" if channels == 3 else "gray"
    test_set = "CBSD68" if channels == 3 else "BSD68"
    tmp = Path(tempfile.mkdtemp())
    saved = export.write_saved_model(model, tmp / "sm", multiple=2 if channels == 3 else 1)

    def measure(path):
        key = f"{args.model}/{path.name}#{content_hash(path)}"
        return {s: evaluate_cached(CACHE, key, str(path), test_set, f"gaussian:sigma={s}", color,
                                   limit=IMAGES)["psnr"] for s in SIGMAS}

    float_file = tmp / "float32.tflite"
    float_file.write_bytes(export.convert_tflite(saved, "none"))
    base = measure(float_file)
    print("float32", {s: round(v, 3) for s, v in base.items()}, flush=True)
    rows = []
    for mix in args.mixes:
        mix, _, count = mix.partition("@")
        count = int(count or 64)
        patches, _ = export.cut_calibration_patches(
            "CBSD432" if channels == 3 else "Train400", count=count, patch_size=64,
            channels=channels, color_space=color, noise=mix)
        for layers in layer_sets:
            int8_file = tmp / f"int8_{len(rows)}.tflite"
            int8_file.write_bytes(export.convert_tflite(saved, "int8", patches, float_layers=layers,
                                                        output_layer=model.layers[-1].name))
            loss = {str(s): round(v - base[s], 3) for s, v in measure(int8_file).items()}
            rows.append({"calibration_noise": mix, "patches": count, "float_layers": list(layers),
                         "int8_minus_float32": loss})
            print(mix, count, list(layers), loss, flush=True)
    quoted = " ".join(f'"{a}"' if ("|" in a or not a) else a for a in [
        args.model, *args.mixes, *[f"--float-layers={t}" for t in (args.float_layers or [])]])
    out = RESULTS / f"int8_calibration_{args.model}.json"
    float32 = {str(s): round(v, 3) for s, v in base.items()}
    previous = json.loads(out.read_text()) if out.exists() else {}
    if previous.get("float32") != float32:  # another model under that name: start over
        previous = {}
    commands = previous.get("commands", [])
    key = lambda row: (row["calibration_noise"], row["patches"], tuple(row["float_layers"]))  # noqa: E731
    kept = [r for r in previous.get("results", []) if key(r) not in {key(n) for n in rows}]
    command = f"python benchmarks/int8_calibration.py {quoted}"
    out.write_text(json.dumps({
        "commands": [c for c in commands if c != command] + [command],
        "model": f"exported_models/{args.model}/model.keras",
        "test": f"{test_set}, first {IMAGES} images, tools/evaluate.py protocol, seed 0",
        "float32": float32, "results": kept + rows}, indent=2))


if __name__ == "__main__":
    main()
