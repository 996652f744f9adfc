#!/bin/bash
# Two 4,000-step geom-loss cycles side by side (1 thread each): g2 = a second cycle from geom5_4k (8,000 steps from the
# step-57,000 prior, geom throughout); s4 = one geom cycle on top of the shipped pocket_flow.ckpt (12,000 steps from the
# step-44,000 prior, the fragment-growing file), 16,000 in all.
cd /work/main
source .venv/bin/activate
one() {  # run init out description
  if [ -f $1/checkpoints/last.ckpt ]; then molgen train --resume $1
  else molgen train configs/pocket_finetune_flow.yaml out_dir=$1 train.init_from=$2 trainer.cpu_threads=1 process.loss_weights.geom=5.0; fi
  python runs/ft57/export.py $1 $3 "$4"
  date
}
one /work/main/runs/geom/g2 /work/main/runs/geom/geom5_4k.ckpt runs/geom/geom5_8k.ckpt "pocket fine-tune from the step-57,000 prior with geom=5, cycle 2" > runs/geom/g2.log 2>&1 &
one /work/main/runs/geom/s4 /work/main/data/checkpoints/pocket_flow.ckpt runs/geom/shipped_geom5_16k.ckpt "the shipped pocket file + one 4,000-step cycle with geom=5" > runs/geom/s4.log 2>&1 &
wait
