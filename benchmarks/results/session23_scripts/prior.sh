#!/bin/bash
# Continue the drug-like prior from step 57,000 with the recipe of data/checkpoints/README.md ("Next candidate",
# 44,000 -> 57,000): slices 0-3 of MOSES + 4 x the training ligands of the complexes split; nice'd, 1 thread.
cd /work/main
source .venv/bin/activate
set -e
D=/work/main/runs/data
if [ ! -f $D/train_ligands_heavy/summary.json ]; then
  nice molgen data prepare sdf $(tail -n +2 $D/complexes_all/split/train.csv | cut -d, -f2 | sort -u) --vocab drug_heavy \
    --out $D/train_ligands_heavy
fi
for k in 1 2 3; do
  if [ ! -f $D/moses_heavy/slice_00$k/summary.json ]; then
    nice molgen data prepare moses ../shared/data/moses/train.csv.gz --skip ${k}0000 --limit 10000 --vocab drug_heavy \
      --workers 2 --out $D/moses_heavy/slice_00$k
  fi
done
date
L=$D/train_ligands_heavy
R=/work/main/runs/s23/prior
if [ -f $R/checkpoints/last.ckpt ]; then nice molgen train --resume $R
else nice molgen train configs/drug_heavy_flow.yaml out_dir=$R data.train=$D/moses_heavy/slice_000 \
  "data.extra_train=[$L,$L,$L,$L,$D/moses_heavy/slice_001,$D/moses_heavy/slice_002,$D/moses_heavy/slice_003]" \
  train.init_from=/work/main/data/checkpoints/next/drug_heavy_flow_step57000.ckpt trainer.cpu_threads=1
fi
