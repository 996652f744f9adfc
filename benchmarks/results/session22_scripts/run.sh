#!/bin/bash
# Two 4,000-step pocket cycles side by side (1 thread each), issue 16, twenty-second session:
#   w20 = cycle 2 from the committed cycle-1 file (next/pocket_flow_prior57k_geom_4k.ckpt, geom=5) with geom=20:
#         the shipped file's recipe with only the second cycle's geometry weight changed (5 -> 20);
#   c3  = a third cycle with geom=5 on top of the shipped file (12,000 steps from the step-57,000 prior).
# Resumable: a run with checkpoints/last.ckpt is resumed.
cd /work/main
source .venv/bin/activate
one() {  # run init weight out description
  if [ -f $1/checkpoints/last.ckpt ]; then nice molgen train --resume $1
  else nice molgen train configs/pocket_finetune_flow.yaml out_dir=$1 train.init_from=$2 trainer.cpu_threads=1 \
    process.loss_weights.geom=$3; fi
  python benchmarks/results/session22_scripts/export.py $1 $4 "$5"
  date
}
mkdir -p runs/s22
one /work/main/runs/s22/w20 /work/main/data/checkpoints/next/pocket_flow_prior57k_geom_4k.ckpt 20.0 runs/s22/w20_8k.ckpt \
  "pocket fine-tune from the step-57,000 prior: cycle 1 geom=5, cycle 2 geom=20" > runs/s22/w20.log 2>&1 &
one /work/main/runs/s22/c3 /work/main/data/checkpoints/pocket_flow.ckpt 5.0 runs/s22/geom5_12k.ckpt \
  "pocket fine-tune from the step-57,000 prior with geom=5, cycle 3 (on the shipped file)" > runs/s22/c3.log 2>&1 &
wait
