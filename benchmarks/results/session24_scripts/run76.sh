#!/bin/bash
# The shipped pocket file's recipe (two 4,000-step cycles of configs/pocket_finetune_flow.yaml as it stands, geom=5)
# from the shipped drug-like prior since 2026-12-08 (lineage step 76,000, geom) instead of
# the step-57,000 prior; issue 16, twenty-fourth session. Nice'd, 1 thread. Resumable: a run with
# checkpoints/last.ckpt is resumed, an exported cycle is not trained again.
cd /work/main
source .venv/bin/activate
one() {  # run init out note
  if [ -f $3 ]; then echo "have $3"; return; fi
  if [ -f $1/checkpoints/last.ckpt ]; then nice molgen train --resume $1
  else nice molgen train configs/pocket_finetune_flow.yaml out_dir=$1 train.init_from=$2 trainer.cpu_threads=1; fi
  python benchmarks/results/session24_scripts/export.py $1 $3 "$4"
  date
}
P=/work/main/data/checkpoints/drug_heavy_flow.ckpt
one /work/main/runs/s24/d1 $P /work/main/runs/s24/p76_4k.ckpt \
  "pocket fine-tune from the lineage-76,000 geometry prior, cycle 1 (geom=5)"
one /work/main/runs/s24/d2 /work/main/runs/s24/p76_4k.ckpt /work/main/runs/s24/p76_8k.ckpt \
  "pocket fine-tune from the lineage-76,000 geometry prior, cycle 2 (geom=5)"
