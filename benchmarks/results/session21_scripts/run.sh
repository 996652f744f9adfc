#!/bin/bash
# One 4,000-step cycle of configs/pocket_finetune_flow.yaml from the step-57,000 prior with the local-geometry loss
# (loss_weights.geom = 5): the arm to set beside runs/ft57/c1 (same recipe, seed and batches, geom weight 0).
set -e
cd /work/main
source .venv/bin/activate
run=/work/main/runs/geom/g1
if [ -f $run/checkpoints/last.ckpt ]; then
  molgen train --resume $run
else
  molgen train configs/pocket_finetune_flow.yaml out_dir=$run train.init_from=/work/main/data/checkpoints/next/drug_heavy_flow_step57000.ckpt \
    trainer.cpu_threads=1 process.loss_weights.geom=5.0
fi
python runs/ft57/export.py $run runs/geom/geom5_4k.ckpt "pocket fine-tune from the step-57,000 prior with loss_weights.geom=5, cycle 1"
date
