#!/usr/bin/env bash
# Ships the blind DN-ResNet-13 and DS-DN-ResNet-13 trained by benchmarks/dnresnet_train.sh into
# exported_models/, exports the DS-DN-ResNet-13 to SavedModel + TFLite (float32, int8), and
# measures the shipped files with tools/evaluate.py (results under benchmarks/results/shipped/).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DN=runs/dnresnet-cascade-blind-cpu
DS=runs/dsdnresnet-evolve-blind-cpu
mkdir -p exported_models/dnresnet13_blind exported_models/ds_dnresnet13_blind benchmarks/results/shipped
# re-saved without training state (optimizer slots): a few hundred KB instead of ~2 MB
$PY -c "import sys, keras; from kerasdenoise import models; models.names()
for src, dst in zip(sys.argv[1::2], sys.argv[2::2]): keras.models.load_model(src, compile=False).save(dst)" \
    $DN/final.keras exported_models/dnresnet13_blind/model.keras \
    $DS/final.keras exported_models/ds_dnresnet13_blind/model.keras
# the exporter reads the training facts (noise, color, data) from the run's config.json
$PY tools/export.py --model $DS/final.keras --out exported_models/ds_dnresnet13_blind \
    --formats savedmodel,tflite --quantize none,int8 --calibration-dir CBSD432 --overwrite
R=benchmarks/results/shipped
M=exported_models/ds_dnresnet13_blind
# The model card's full grid (BSD68 and CBSD68-Y x 8 noises) costs ~15 minutes of the 2-core
# budget; NOISES overrides the short default.
NOISES=${NOISES:-"--noise gaussian:sigma=15 --noise gaussian:sigma=25 --noise gaussian:sigma=50 \
  --noise poisson:peak=4 --noise poisson-gaussian:sigma=1,peak=10"}
$PY tools/evaluate.py --model $M/model_float32.tflite --test-dir BSD68 --color gray $NOISES --json $R/dsdn_tflite_float32_gray.json
$PY tools/evaluate.py --model $M/model_int8.tflite --test-dir BSD68 --color gray --noise gaussian:sigma=25 --json $R/dsdn_tflite_int8_gray.json
