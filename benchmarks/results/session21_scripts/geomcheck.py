"""Geometry of the pocket model's whole ligands, without the protein: sample 20 ligands in each of the 20 held-out
screen sites (site sizes, 20 steps, seed $SEED, the file's sampler with ``valence: final``), validate them with the
intramolecular PoseBusters checks plus the MMFF strain (``validate_molecules`` without a protein), and report, over the
valid & connected ligands: how many pass all intramolecular checks, how many fail each check, and the median MMFF strain
(kcal/mol: energy as generated minus after local minimisation) and its median per heavy atom. Printed and written as JSON.

    SEED=0 PYTHONPATH=. python benchmarks/results/session21_scripts/geomcheck.py CKPT OUT.json
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
torch.set_num_threads(1)
ckpt, out, seed = sys.argv[1], Path(sys.argv[2]), int(os.environ.get("SEED", "0"))
gm = load_model(ckpt, process_options={"valence": "final"})
t0, mols = time.time(), []
for name, part, row in screen_sites(Path("runs/data/complexes_all/split")):
    pocket = load_pocket(row["protein"], ref_ligand=_site_ligands([row], 1)[0], vocab=gm.vocab)
    graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 20, 20, pocket=pocket,
                                         batch_size=20, seed=seed, self_condition=gm.self_condition)
    mols += graph_mols(graphs, gm.vocab)
sampled = time.time() - t0
table = validate_molecules(mols, progress=False, embed_timeout_s=10).table
whole = table[table["valid_connected"].astype(bool)]
strain = whole["strain_energy_kcal_mol"].astype(float)
heavy = whole["n_heavy_atoms"].astype(float)
result = {"checkpoint": ckpt, "seed": seed, "ligands": len(table), "valid_connected": len(whole),
          "pb_valid_intramolecular": int(whole["pb_valid"].astype(bool).sum()),
          "failures": failed_checks(table),
          "strain_median_kcal_mol": round(float(strain.median()), 2),
          "strain_per_heavy_atom_median": round(float((strain / heavy).median()), 3),
          "sampling_s": round(sampled), "seconds": round(time.time() - t0)}
print(json.dumps(result), flush=True)
out.write_text(json.dumps(result, indent=1) + "\n")
