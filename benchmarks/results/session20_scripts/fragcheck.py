"""Fragment growing in 1S3V as workflows/fragment.yaml (trimethoxyphenyl fixed, sizes uniform 22-32, 20 steps):
valid & connected of N ligands per model file (sampled with valence: final), sanitisation only.
Issue 16, twentieth session. usage: N=200 SEEDS=0,1 PYTHONPATH=. python benchmarks/results/session20_scripts/fragcheck.py CKPT..."""
import json
import os
import sys
import time

import torch
from rdkit import Chem, RDLogger

from benchmarks.pocket import graph_mols
from molgen.sampling.conditioning import fragment_from_smarts, generate_conditioned_graphs, load_pocket
from molgen.training import load_model
from molgen.validation.build import build_molecule

RDLogger.DisableLog("rdApp.*")
torch.set_num_threads(1)
D = "data/complexes/posebusters/1S3V/"
prot, lig = D + "1s3v_protein_one_lig_removed.pdb", D + "1s3v_ligand.sdf"
n = int(os.environ.get("N", "100"))
for ck in sys.argv[1:]:
    gm = load_model(ck, process_options={"valence": "final"})
    pocket = load_pocket(prot, ref_ligand=lig, vocab=gm.vocab)
    frag, _ = fragment_from_smarts(lig, "c1cc(OC)c(OC)c(OC)c1", gm.vocab)
    for seed in [int(s) for s in os.environ.get("SEEDS", "0").split(",")]:
        t = time.time()
        graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, n, 20, pocket=pocket,
                                             fragment=frag, batch_size=10, seed=seed, atoms_range=(22, 32))
        vc = sum(1 for m in graph_mols(graphs, gm.vocab)
                 if (b := build_molecule(m, bonds="predicted")).mol is not None and len(Chem.GetMolFrags(b.mol)) == 1)
        print(json.dumps({"checkpoint": ck, "seed": seed, "n": n, "valid_connected": vc, "s": round(time.time() - t)}), flush=True)
