#!/bin/bash
# De novo (sweep.py, seeds 0 and 1, 400 ligands each) and fragment growing (fragcheck.py, 400 ligands) of model files,
# one after the other at 1 thread: measure.sh TAG=CKPT ...  -> runs/s22/measure/TAG_{s0,s1}.json, TAG_frag.log
# (MEASURE_DIR=DIR writes to DIR instead; session24_scripts/measure.sh sets runs/s24/measure).
cd /work/main
source .venv/bin/activate
M=${MEASURE_DIR:-runs/s22/measure}
mkdir -p $M
for item in "$@"; do
  tag=${item%%=*}; ck=${item#*=}
  for s in 0 1; do
    SWEEP_SEED=$s PYTHONPATH=. python benchmarks/results/session19_scripts/sweep.py $ck 1 $M/${tag}_s$s.json '{"valence": "final"}'
  done
  N=200 SEEDS=0,1 PYTHONPATH=. python benchmarks/results/session20_scripts/fragcheck.py $ck > $M/${tag}_frag.log 2>&1
  date
done
