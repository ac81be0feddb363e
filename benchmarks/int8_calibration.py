#!/usr/bin/env python
"""int8 calibration noise of a shipped model: PSNR of the int8 TFLite file minus the float32 one
on the first 16 images of BSD68 (CBSD68 for RGB models), Gaussian sigma 15 / 25 / 50, seed 0,
for each calibration noise mix given (``MIX@N``: N calibration patches, default 64).

  python benchmarks/int8_calibration.py dnresnet13_blind "gaussian:sigma=0..55|gaussian:sigma=0..55|gaussian:sigma=0..25" "gaussian:sigma=0..40"

Prints one line per mix and writes ``benchmarks/results/int8_calibration_<model>.json``.
The converter sets activation ranges from the calibration minima and maxima: high-sigma
patches widen them, which costs low-sigma precision; too narrow a mix clips at high sigma.
"""
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from _bench import RESULTS, ROOT
from kerasdenoise import degrade, export, metrics
from kerasdenoise.data.discovery import image_set
from kerasdenoise.runtime import load_keras_model, run_tflite

name = sys.argv[1]; mixes = sys.argv[2:]
folder = ROOT / "exported_models" / name
model = load_keras_model(folder / "model.keras")
channels = int(model.inputs[0].shape[-1])
tmp = Path(tempfile.mkdtemp())
sm = export.write_saved_model(model, tmp / "sm", multiple=2 if channels == 3 else 1)
color = "rgb" if channels == 3 else "gray"
test = image_set("CBSD68" if channels == 3 else "BSD68").load(color)[:16]
def evaluate(path, sigma):
    deg = degrade.from_spec(f"gaussian:sigma={sigma}")
    vals = []
    for i, img in enumerate(test):
        noisy = np.asarray(deg(tf.constant(img[None]), tf.constant([0, i], tf.int32))[0])
        vals.append(metrics.psnr(img, np.clip(run_tflite(path, noisy), 0, 1)))
    return float(np.mean(vals))
fl = tmp / "f.tflite"; fl.write_bytes(export.convert_tflite(sm, "none"))
base = {s: evaluate(fl, s) for s in (15, 25, 50)}
print("float", {s: round(v, 3) for s, v in base.items()}, flush=True)
rows = []
for mix in mixes:
    count = 64
    if "@" in mix:
        mix, count = mix.split("@"); count = int(count)
    calib, _ = export.cut_calibration_patches("Train400" if channels == 1 else "CBSD432", count=count, patch_size=64,
                                              channels=channels, color_space=color, noise=mix)
    q = tmp / "q.tflite"; q.write_bytes(export.convert_tflite(sm, "int8", calib))
    loss = {s: round(evaluate(q, s) - base[s], 3) for s in (15, 25, 50)}
    rows.append({"calibration_noise": mix, "patches": count, "int8_minus_float32": loss})
    print(mix, count, loss, flush=True)
(RESULTS / f"int8_calibration_{name}.json").write_text(json.dumps({
    "command": "python benchmarks/int8_calibration.py " + " ".join(f'"{a}"' if "|" in a else a for a in sys.argv[1:]),
    "model": f"exported_models/{name}/model.keras", "test": f"first {len(test)} images, seed 0",
    "float32": {str(s): round(v, 3) for s, v in base.items()}, "results": rows}, indent=2))
