"""Export RUN/checkpoints/last.ckpt to OUT with η=6, τ=0.5 and the cache's pocket_sites table; usage: RUN OUT NOTE."""
import json, sys
from pathlib import Path
import torch
from molgen.training.checkpoint import export_checkpoint

run, out, note = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
cache = json.loads(Path("runs/data/complexes_all/train/stats.json").read_text())
lk = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
step = int(lk["global_step"])
export_checkpoint(run / "checkpoints" / "last.ckpt", out,
                  {"exported_step": step, "note": note, "init_from": json.loads((run / "init_from.json").read_text())},
                  process_options={"discrete_stochasticity": 6.0, "discrete_temperature": 0.5, "valence": "final"})
ck = torch.load(out, weights_only=True)
stats = ck["stats"]
print("stats keys", sorted(stats), "cache keys", sorted(cache))
if "pocket_sites" not in stats:
    stats["pocket_sites"] = cache["pocket_sites"]
diff = [k for k in cache if k in stats and json.dumps(stats[k], sort_keys=True) != json.dumps(cache[k], sort_keys=True)]
print("keys differing from the cache:", diff)
assert stats["pocket_sites"] == cache["pocket_sites"]
torch.save(ck, out)
print("exported step", step, "->", out)
