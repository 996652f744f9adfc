"""Valid / valid & connected of the pocket model's ligands in the 20 held-out screen sites (20 each, seed 0 or $SWEEP_SEED, site
sizes; sampling and sanitisation only, no PoseBusters) and the mean QED of the valid ones, for several sampler settings, each a JSON dict of process
options on top of the file's. Printed and written as JSON.

    PYTHONPATH=. python benchmarks/results/session19_scripts/sweep.py CKPT THREADS OUT.json '{}' '{"discrete_temperature": 0.3}' ...
"""
import json
import os
import sys
import time
from pathlib import Path

import torch
from rdkit import Chem, RDLogger
from rdkit.Chem import QED

from benchmarks.pocket import _site_ligands, graph_mols
from benchmarks.pocket_screen import screen_sites
from molgen.sampling.conditioning import generate_conditioned_graphs, load_pocket
from molgen.training import load_model
from molgen.validation.build import build_molecule

RDLogger.DisableLog("rdApp.*")
ckpt, threads, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
torch.set_num_threads(threads)
rows, seed = [], int(os.environ.get("SWEEP_SEED", "0"))
for setting in sys.argv[4:]:
    opts = json.loads(setting)
    gm = load_model(ckpt, process_options=opts or None)
    t0, per_part = time.time(), {}
    for name, part, row in screen_sites(Path("runs/data/complexes_all/split")):
        pocket = load_pocket(row["protein"], ref_ligand=_site_ligands([row], 1)[0], vocab=gm.vocab)
        graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 20, 20, pocket=pocket,
                                             batch_size=20, seed=seed, self_condition=gm.self_condition)
        c = per_part.setdefault(part, {"ligands": 0, "valid": 0, "valid_connected": 0, "qed_sum": 0.0})
        for m in graph_mols(graphs, gm.vocab):
            b = build_molecule(m, bonds="predicted")
            c["ligands"] += 1
            c["valid"] += b.mol is not None
            c["valid_connected"] += b.mol is not None and len(Chem.GetMolFrags(b.mol)) == 1
            c["qed_sum"] += QED.qed(b.mol) if b.mol is not None else 0.0
    for c in per_part.values():
        c["qed_valid"] = round(c.pop("qed_sum") / max(c["valid"], 1), 3)
    rows.append({"options": opts, "seconds": round(time.time() - t0), **per_part})
    print(json.dumps(rows[-1]), flush=True)
out.write_text(json.dumps({"checkpoint": ckpt, "threads": threads, "seed": seed, "rows": rows}, indent=1))
