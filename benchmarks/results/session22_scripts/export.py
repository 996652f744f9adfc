"""Export a pocket fine-tuning run to a model file with a note (replaces runs/ft57/export.py, which was never
committed and was lost with the machine): python export.py RUN_DIR OUT.ckpt "note"."""
import sys
from pathlib import Path

from molgen.training.checkpoint import export_checkpoint, read_model_file

run, out, note = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
# model.ckpt is what train() writes at the end (its meta names init_from); last.ckpt for a stopped run
ckpt = run / "model.ckpt" if (run / "model.ckpt").is_file() else run / "checkpoints" / "last.ckpt"
meta = read_model_file(ckpt)[4]
path = export_checkpoint(ckpt, out, meta={"note": note, "exported_step": meta.get("exported_step", meta.get("global_step"))})
print("exported", path, "step", meta.get("global_step"))
