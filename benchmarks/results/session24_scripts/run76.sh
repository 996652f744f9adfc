#!/bin/bash
# run.sh from the shipped drug-like prior since 2026-12-08 (lineage 76,000, trained last with geom=5):
# runs/s24/d{1,2}, exports runs/s24/p76_{4k,8k}.ckpt.
/work/main/benchmarks/results/session24_scripts/run.sh /work/main/data/checkpoints/drug_heavy_flow.ckpt p76 d \
  "lineage-76,000 geometry prior"
