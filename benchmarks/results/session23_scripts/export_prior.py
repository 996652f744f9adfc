"""Export the continued drug-like prior run (runs/s23/prior, from the step-57,000 file) with the shipped prior's
sampler settings: python export_prior.py RUN OUT.ckpt START_STEP "note". Twenty-third session."""
import sys
from pathlib import Path

from molgen.training.checkpoint import export_checkpoint, read_model_file

run, out, start, note = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
ckpt = run / "model.ckpt" if (run / "model.ckpt").is_file() else run / "checkpoints" / "last.ckpt"
step = read_model_file(ckpt)[4].get("global_step")
sampler = {"discrete_stochasticity": 6.0, "discrete_temperature": 0.5, "valence": "final"}
path = export_checkpoint(ckpt, out, process_options=sampler,
                         meta={"note": note, "exported_step": step, "lineage_step": start + step})
print("exported", path, "run step", step, "lineage step", start + step)
