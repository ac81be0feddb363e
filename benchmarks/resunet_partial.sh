#!/usr/bin/env bash
# Partial ResUNet-paper measurement (Table 1, sigma 25.5 only): UNet vs ResUNet at the -cpu budget,
# evaluated on CBSD68 (RGB) with tools/evaluate.py. The full tables (all sigmas, L_per, deblur) are
# not run yet.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
R=benchmarks/results/resunet_partial
mkdir -p $R
for m in unet resunet; do
  p=resunet-cpu-denoise-$m-s25.5
  [ -f runs/$p/final.keras ] || $PY tools/train.py --config $p --out runs/$p --quiet
  $PY tools/evaluate.py --model runs/$p/final.keras --test-dir CBSD68 --color rgb \
      --noise gaussian:sigma=25.5 --json $R/$p.json --quiet
done
