#!/bin/bash
# (Session-22 measure.sh writing to runs/s24.) De novo (sweep.py, seeds 0 and 1, 400 ligands each) and fragment growing (fragcheck.py, 400 ligands) of model files,
# one after the other at 1 thread: measure.sh TAG=CKPT ...  -> runs/s24/measure/TAG_{s0,s1}.json, TAG_frag.log
cd /work/main
source .venv/bin/activate
mkdir -p runs/s24/measure
for item in "$@"; do
  tag=${item%%=*}; ck=${item#*=}
  for s in 0 1; do
    SWEEP_SEED=$s PYTHONPATH=. python benchmarks/results/session19_scripts/sweep.py $ck 1 runs/s24/measure/${tag}_s$s.json '{"valence": "final"}'
  done
  N=200 SEEDS=0,1 PYTHONPATH=. python benchmarks/results/session20_scripts/fragcheck.py $ck > runs/s24/measure/${tag}_frag.log 2>&1
  date
done
