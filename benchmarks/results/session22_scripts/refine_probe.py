"""Probe of the sampler's ``refine_time`` (one more network call on the finished graph): the same ligands (same seed,
same sites) sampled with refine off and at each given time, validated without the protein (intramolecular PoseBusters
checks, MMFF strain). Sites: the first SITES of the 20 held-out screen sites; 20 ligands each, 20 steps.

    SITES=6 SEED=0 PYTHONPATH=. python benchmarks/results/session22_scripts/refine_probe.py CKPT OUT.json off 0.95 1.0 '[0.95, 0.95, 0.95]' \
        '{"connect": 2.8, "refine_time": [0.95, 0.95, 0.95]}'
"""
import json
import os
import sys
import time
from pathlib import Path

import torch
from rdkit import RDLogger

from benchmarks.pocket import _site_ligands, graph_mols
from benchmarks.pocket_screen import failed_checks, screen_sites
from molgen.sampling.conditioning import generate_conditioned_graphs, load_pocket
from molgen.training import load_model
from molgen.validation import validate_molecules

RDLogger.DisableLog("rdApp.*")
torch.set_num_threads(int(os.environ.get("THREADS", "1")))
ckpt, out = sys.argv[1], Path(sys.argv[2])
seed, nsites = int(os.environ.get("SEED", "0")), int(os.environ.get("SITES", "6"))
sites = list(screen_sites(Path("runs/data/complexes_all/split")))[:nsites]
rows = []
for setting in sys.argv[3:]:
    value = None if setting == "off" else json.loads(setting)  # a time, a JSON list of times, or process options
    options = value if isinstance(value, dict) else {"refine_time": value}
    gm = load_model(ckpt, process_options={"valence": "final", **options})
    t0, mols = time.time(), []
    for name, part, row in sites:
        pocket = load_pocket(row["protein"], ref_ligand=_site_ligands([row], 1)[0], vocab=gm.vocab)
        graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 20, 20, pocket=pocket,
                                             batch_size=20, seed=seed, self_condition=gm.self_condition)
        mols += graph_mols(graphs, gm.vocab)
    table = validate_molecules(mols, progress=False, embed_timeout_s=10).table
    whole = table[table["valid_connected"].astype(bool)]
    strain = whole["strain_energy_kcal_mol"].astype(float)
    rows.append({"options": options, "ligands": len(table), "valid_connected": len(whole),
                 "pb_valid_intramolecular": int(whole["pb_valid"].astype(bool).sum()),
                 "failures": failed_checks(table), "strain_median_kcal_mol": round(float(strain.median()), 2),
                 "seconds": round(time.time() - t0)})
    print(json.dumps(rows[-1]), flush=True)
out.write_text(json.dumps({"checkpoint": ckpt, "seed": seed, "sites": [s[0] for s in sites], "rows": rows}, indent=1) + "\n")
