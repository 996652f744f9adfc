#!/bin/bash
# The shipped pocket file's recipe (two 4,000-step cycles of configs/pocket_finetune_flow.yaml as it stands, geom=5)
# from another drug-like prior; issue 16, twenty-fourth session. Nice'd, 1 thread. Resumable: a run with
# checkpoints/last.ckpt is resumed, an exported cycle is not trained again.
#   run.sh [PRIOR TAG RUN_PREFIX "prior words"]
# Default (as run): from data/checkpoints/next/drug_heavy_flow_from57000.ckpt (lineage 72,000), runs/s24/c{1,2},
# exports runs/s24/p72_{4k,8k}.ckpt; run76.sh passes the lineage-76,000 prior.
cd /work/main
source .venv/bin/activate
P=${1:-/work/main/data/checkpoints/next/drug_heavy_flow_from57000.ckpt}
TAG=${2:-p72}; PRE=${3:-c}; WORDS=${4:-lineage-72,000 prior}
one() {  # run init out note
  if [ -f $3 ]; then echo "have $3"; return; fi
  if [ -f $1/checkpoints/last.ckpt ]; then nice molgen train --resume $1
  else nice molgen train configs/pocket_finetune_flow.yaml out_dir=$1 train.init_from=$2 trainer.cpu_threads=1; fi
  python benchmarks/results/session24_scripts/export.py $1 $3 "$4"
  date
}
one /work/main/runs/s24/${PRE}1 $P /work/main/runs/s24/${TAG}_4k.ckpt \
  "pocket fine-tune from the $WORDS, cycle 1 (geom=5)"
one /work/main/runs/s24/${PRE}2 /work/main/runs/s24/${TAG}_4k.ckpt /work/main/runs/s24/${TAG}_8k.ckpt \
  "pocket fine-tune from the $WORDS, cycle 2 (geom=5)"
