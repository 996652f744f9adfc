#!/bin/bash
# Issue 16, twentieth session. Three 4,000-step cosine cycles of configs/pocket_finetune_flow.yaml from the step-57,000 prior (the shipped
# pocket file's recipe, the only change is init_from). Each cycle exported with eta 6, tau 0.5, valence final.
# Run from anywhere: nice benchmarks/results/session20_scripts/chain.sh > runs/ft57/chain.log 2>&1 &
# A cycle with a last.ckpt and no export is resumed; exported cycles are skipped.
set -e
cd "$(dirname "$0")/../../.."
ROOT=$(pwd)
source .venv/bin/activate
init=$ROOT/data/checkpoints/next/drug_heavy_flow_step57000.ckpt
for c in 1 2 3; do
  run=$ROOT/runs/ft57/c$c
  if [ ! -f runs/ft57/ft57_$((c*4))k.ckpt ]; then
    if [ -f $run/checkpoints/last.ckpt ]; then
      molgen train --resume $run
    else
      molgen train configs/pocket_finetune_flow.yaml out_dir=$run train.init_from=$init trainer.cpu_threads=1
    fi
    python benchmarks/results/session20_scripts/export.py $run runs/ft57/ft57_$((c*4))k.ckpt "pocket fine-tune from the step-57,000 prior, cycle $c"
  fi
  init=$ROOT/runs/ft57/ft57_$((c*4))k.ckpt
  date
done
