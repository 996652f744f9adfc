#!/bin/bash
# Session 22's measure.sh (sweep.py seeds 0 and 1, fragcheck.py 400 ligands, 1 thread) writing to runs/s24/measure:
# measure.sh TAG=CKPT ...  -> runs/s24/measure/TAG_{s0,s1}.json, TAG_frag.log
# (not exec: probe.sh and c3.sh wait while a process named session24_scripts/measure.sh runs)
MEASURE_DIR=runs/s24/measure /work/main/benchmarks/results/session22_scripts/measure.sh "$@"
