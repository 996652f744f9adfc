#!/bin/bash
# The session-22 arm "a third cycle with geom = 5 on the shipped file" again, exported with the shipped sampler
# (session-22's export wrote η = 1, τ = 1 and no refinement passes into it, so its comparison was not like for like).
# Nice'd, 1 thread; starts when the probe queue is done; then measure.sh and the probe on it.
cd /work/main
source .venv/bin/activate
R=/work/main/runs/s24/c3; OUT=/work/main/runs/s24/shipped_c3.ckpt
if [ ! -f $OUT ]; then
  if [ -f $R/checkpoints/last.ckpt ]; then nice molgen train --resume $R
  else nice molgen train configs/pocket_finetune_flow.yaml out_dir=$R train.init_from=/work/main/data/checkpoints/pocket_flow.ckpt \
    trainer.cpu_threads=1; fi
  python benchmarks/results/session24_scripts/export.py $R $OUT "pocket fine-tune: a third cycle (geom=5) on the shipped file"
fi
date
while pgrep -f "session24_scripts/(measure|probe).sh" > /dev/null; do sleep 20; done
benchmarks/results/session24_scripts/measure.sh c3=$OUT
benchmarks/results/session24_scripts/probe.sh c3=$OUT
