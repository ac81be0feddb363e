#!/usr/bin/env bash
# Trains the DN-ResNet CPU-budget presets used by benchmarks/results/dnresnet.json, in order of
# importance; each run is resumable (re-running this script continues where it stopped).
# Usage: [THREADS=1] bash benchmarks/dnresnet_train.sh [preset ...]
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(
  dnresnet-cascade-blind-cpu dsdnresnet-evolve-blind-cpu
  dnresnet-cascade-s25-cpu dnresnet13-oneshot-s25-cpu
  dsdnresnet-oneshot-blind-cpu dnresnet-cascade-blind-edge-a-cpu dnresnet-cascade-blind-edge-b-cpu
  dnresnet-cascade-s15-cpu dnresnet-cascade-s50-cpu dnresnet-cascade-p2-cpu dnresnet-cascade-p4-cpu
  dnresnet-cascade-p8-cpu dnresnet-cascade-jpeg-cpu
)
for p in "${presets[@]}"; do
  out=runs/$p
  if [ -f "$out/final.keras" ] && [ -f "$out/stages.json" ]; then echo "== $p: done"; continue; fi
  flag=; [ -d "$out" ] && flag=--resume
  echo "== $p $(date +%T)"
  $PY tools/train.py --config "$p" --out "$out" --quiet ${THREADS:+--threads $THREADS} $flag || exit $?
done
