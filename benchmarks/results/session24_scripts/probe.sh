#!/bin/bash
# Intramolecular PB-validity and MMFF strain of whole ligands, all 20 held-out screen sites x 20 ligands, seed 0, each
# file with its own sampler (refine_probe.py with '{}'): probe.sh TAG=CKPT ... -> runs/s24/probe_TAG.json
cd /work/main
source .venv/bin/activate
while pgrep -f session24_scripts/measure.sh > /dev/null; do sleep 20; done
for item in "$@"; do
  tag=${item%%=*}; ck=${item#*=}
  SITES=20 SEED=0 PYTHONPATH=. python benchmarks/results/session22_scripts/refine_probe.py $ck runs/s24/probe_$tag.json '{}'
  date
done
