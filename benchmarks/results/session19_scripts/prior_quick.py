"""Quick prior check of a drug-like model file: valid and valid & connected (sanitisation and fragments only) at
the natural sizes and at fixed heavy-atom counts, with the file's sampler (valence-constrained bonds) and with
`valence: off`. Printed and written as JSON.

    PYTHONPATH=. python benchmarks/results/session19_scripts/prior_quick.py CKPT OUT.json [NUM] [SEED]
"""
import json
import sys
import time
from pathlib import Path

import torch

from molgen.sampling.conditioning import generate_conditioned_graphs
from molgen.training import load_model
from molgen.validation import validate_molecules

ckpt, out = Path(sys.argv[1]), Path(sys.argv[2])
num = int(sys.argv[3]) if len(sys.argv) > 3 else 100
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 11
torch.set_num_threads(1)
res = {"checkpoint": str(ckpt), "num": num, "seed": seed}
for name, opts in (("file", None), ("valence_off", {"valence": "off"})):
    gm = load_model(ckpt, process_options=opts)
    res["step"] = gm.meta.get("global_step")
    for size in (None, 24, 28, 32):
        t0 = time.perf_counter()
        g = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, num, 20, batch_size=num,
                                        seed=seed, num_atoms=size, self_condition=gm.self_condition)
        t = validate_molecules(g, vocab=gm.vocab, checks=(), progress=False).table
        res[f"{name}/{size or 'natural'}"] = {"valid": round(float(t["valid"].mean()), 3),
                                              "vc": round(float(t["valid_connected"].mean()), 3),
                                              "s": round(time.perf_counter() - t0, 1)}
        print(name, size, res[f"{name}/{size or 'natural'}"], flush=True)
out.write_text(json.dumps(res, indent=1))
