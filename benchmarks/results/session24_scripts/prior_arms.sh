#!/bin/bash
# Does the local-geometry loss term help the drug-like prior as it helped the pocket fine-tune? Two arms of 4,000
# steps from the lineage-72,000 prior (data/checkpoints/next/drug_heavy_flow_from57000.ckpt), the prior's recipe
# (session23_scripts/prior.sh data: MOSES slices 0-3 + 4 x the training-split complex ligands, fresh AdamW, 300 warm-up,
# constant lr 1e-3), one with process.loss_weights.geom=5; nice'd, 1 thread each, side by side. Issue 16, session 24.
# Resumable: a run with checkpoints/last.ckpt is resumed; an exported arm is not trained again.
cd /work/main
source .venv/bin/activate
D=/work/main/runs/data
L=$D/train_ligands_heavy
P=/work/main/data/checkpoints/next/drug_heavy_flow_from57000.ckpt
arm() {  # name extra-override...
  R=/work/main/runs/s24/prior_$1; out=/work/main/runs/s24/prior_$1.ckpt; shift
  if [ -f $out ]; then echo "have $out"; return; fi
  if [ -f $R/checkpoints/last.ckpt ]; then nice molgen train --resume $R
  else nice molgen train configs/drug_heavy_flow.yaml out_dir=$R data.train=$D/moses_heavy/slice_000 \
    "data.extra_train=[$L,$L,$L,$L,$D/moses_heavy/slice_001,$D/moses_heavy/slice_002,$D/moses_heavy/slice_003]" \
    train.init_from=$P trainer.cpu_threads=1 train.max_steps=4000 "$@"
  fi
  python benchmarks/results/session23_scripts/export_prior.py $R $out 72000 "prior arm $(basename $R), session 24"
  date
}
arm plain > runs/s24/prior_plain.log 2>&1 &
arm geom5 process.loss_weights.geom=5.0 > runs/s24/prior_geom5.log 2>&1 &
wait
