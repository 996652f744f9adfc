#!/usr/bin/env bash
# Train the shipped QM9 config on one GPU for a wall budget, export the model, benchmark it; all under $OUT.
#
#   bash benchmarks/gpu/train_and_export.sh --budget-s 480 --data .gpu/qm9_heavy.tar.xz      # on a lent GPU
#   bash benchmarks/gpu/train_and_export.sh --budget-s 60                                     # CPU dry run (CI)
#
# Needs nothing from the network. On the GPU machine (PyTorch, Lightning, torch-geometric and e3nn
# preinstalled, no internet) the packages it lacks travel as wheels in .whl/ (rdkit, pydantic,
# pydantic-core, annotated-types, typing-inspection: see benchmarks/gpu/README.md); they are installed
# into /tmp/site here. The data travel as a prepared cache (a folder or a .tar.xz of one); without
# --data the committed QM9 sample is prepared (the dry run). Everything else is
# benchmarks/gpu/train_and_export.py. Exits within the budget: training gets what the export and the
# evaluation leave.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/runs/gpu_out}
mkdir -p "$OUT"
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
if ! "$PY" -c "import rdkit, pydantic" >/dev/null 2>&1; then
  if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  else
    echo "train_and_export: rdkit/pydantic missing and no wheels in .whl/ (see benchmarks/gpu/README.md)" >&2
    exit 2
  fi
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
exec "$PY" -m benchmarks.gpu.train_and_export --out "$OUT" "$@"
