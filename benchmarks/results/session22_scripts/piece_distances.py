"""Where the pieces of a disconnected ligand lie: the shipped pocket model's ligands in the first 4 held-out screen sites
(20 each, seed 0, valence: final), heavy atoms only; for every piece but the largest, the shortest distance to the largest
piece (quantiles, Å) and the element+degree of the two closest atoms. Issue 16, twenty-second session (printed only).

    PYTHONPATH=. python benchmarks/results/session22_scripts/piece_distances.py
"""
import collections
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem, RDLogger

from benchmarks.pocket import _site_ligands, graph_mols
from benchmarks.pocket_screen import screen_sites
from molgen.sampling.conditioning import generate_conditioned_graphs, load_pocket
from molgen.training import load_model

RDLogger.DisableLog("rdApp.*")
torch.set_num_threads(1)
for opt in ({"valence": "final"},):
    gm = load_model("data/checkpoints/pocket_flow.ckpt", process_options=opt)
    sites = list(screen_sites(Path("runs/data/complexes_all/split")))[:4]
    stats=[]; n=0; conn=0
    for name, part, row in sites:
        pocket = load_pocket(row["protein"], ref_ligand=_site_ligands([row], 1)[0], vocab=gm.vocab)
        graphs = generate_conditioned_graphs(gm.model, gm.process, gm.vocab, gm.stats, 20, 20, pocket=pocket, batch_size=20, seed=0, self_condition=gm.self_condition)
        for m in graph_mols(graphs, gm.vocab):
            m = Chem.RemoveHs(m, sanitize=False); n+=1
            frags = Chem.GetMolFrags(m, asMols=False, sanitizeFrags=False)
            if len(frags) == 1: conn+=1; continue
            pos = m.GetConformer().GetPositions()
            big = max(frags, key=len)
            for f in frags:
                if f is big: continue
                D = np.linalg.norm(pos[list(f)][:, None] - pos[list(big)][None], axis=-1)
                i, j = np.unravel_index(D.argmin(), D.shape)
                a, b = m.GetAtomWithIdx(f[i]), m.GetAtomWithIdx(big[j])
                stats.append((len(f), round(float(D.min()),2), a.GetSymbol()+str(a.GetDegree()), b.GetSymbol()+str(b.GetDegree())))
    print(opt, n, conn)
    print(" min heavy dist q", np.quantile([s[1] for s in stats], [0.1,0.25,0.5,0.75,0.9]) if stats else None)
    print(" ", collections.Counter((s[2], s[3]) for s in stats).most_common(8))
