"""20 ligands in each of the 20 held-out screen sites (benchmarks.pocket_screen's sites, seed 0, site sizes), graphs
pickled for analyse.py and gaps.py.

    PYTHONPATH=. python benchmarks/results/session18_scripts/gen.py CKPT THREADS OUT.pkl ['{"valence": "final"}']
"""
import json
import pickle
import sys
import time
from pathlib import Path

import torch

from benchmarks.pocket import _site_ligands
from benchmarks.pocket_screen import screen_sites
from molgen.sampling.conditioning import generate_conditioned_graphs, load_pocket
from molgen.training import load_model

ckpt, threads, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(threads)
gm = load_model(ckpt, process_options=json.loads(sys.argv[4]) if len(sys.argv) > 4 else None)
result, t0 = {}, time.time()
for name, part, row in screen_sites(Path("runs/data/complexes_all/split")):
    pocket = load_pocket(row["protein"], ref_ligand=_site_ligands([row], 1)[0], vocab=gm.vocab)
    graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 20, 20, pocket=pocket,
                                         batch_size=20, seed=0, self_condition=gm.self_condition)
    result[name] = {"part": part, "row": row, "graphs": graphs}
    print(name, round(time.time() - t0), flush=True)
Path(out).write_bytes(pickle.dumps(result))
