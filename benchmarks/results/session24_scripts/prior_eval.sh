#!/bin/bash
# Drug-like benchmark of the two prior arms (prior_arms.sh) side by side, 1 thread each, 500 molecules at the
# natural sizes, seed 0, the shipped prior's sampler (written into the arm files by export_prior.py).
cd /work/main
source .venv/bin/activate
for a in plain geom5; do
  ( while [ ! -f runs/s24/prior_$a.ckpt ]; do sleep 30; done
    python -m benchmarks.druglike --checkpoint runs/s24/prior_$a.ckpt --num 500 --steps 20 --batch-size 250 --threads 1 \
      --workers 0 --reference-num 100 --reference-3d 10 --out runs/s24/druglike_prior_$a.json > runs/s24/druglike_prior_$a.log 2>&1
    date ) &
done
wait
