"""Export a pocket fine-tuning run with the shipped pocket file's sampler (η = 6, τ = 0.5, valence-constrained bonds,
three refinement passes at t = 0.95): python export.py RUN_DIR OUT.ckpt "note". Twenty-fourth session.

session22_scripts/export.py wrote the training config's sampler (η = 1, τ = 1, no refinement passes) into its files, so
the session-22 arms were sampled with other settings than the shipped file they were compared with."""
import sys
from pathlib import Path

from molgen.training.checkpoint import export_checkpoint, read_model_file

SAMPLER = {"discrete_stochasticity": 6.0, "discrete_temperature": 0.5, "valence": "final",
           "refine_time": 0.95, "refine_passes": 3}
run, out, note = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
ckpt = run / "model.ckpt" if (run / "model.ckpt").is_file() else run / "checkpoints" / "last.ckpt"
meta = read_model_file(ckpt)[4]
path = export_checkpoint(ckpt, out, process_options=SAMPLER,
                         meta={"note": note, "exported_step": meta.get("exported_step", meta.get("global_step"))})
print("exported", path, "step", meta.get("global_step"))
