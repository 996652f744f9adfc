"""Valid ligands in pieces in a gen.py pickle: each smaller piece, its size and its distance to the largest.

    PYTHONPATH=. python benchmarks/results/session18_scripts/gaps.py OUT.pkl
"""
import pickle
import sys
from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger

from benchmarks.pocket import graph_mols
from molgen.chem.vocab import get_vocab
from molgen.validation.build import build_molecule

RDLogger.DisableLog("rdApp.*")
d = pickle.loads(Path(sys.argv[1]).read_bytes())
gaps, split = [], 0
for s in d.values():
    for m in graph_mols(s["graphs"], get_vocab("drug_heavy")):
        b = build_molecule(m)
        if b.mol is None:
            continue
        h = Chem.RemoveHs(b.mol)
        frags = Chem.GetMolFrags(h)
        if len(frags) == 1:
            continue
        split += 1
        x = h.GetConformer().GetPositions()
        big = max(frags, key=len)
        for f in frags:
            if f is not big:
                gaps.append((len(f), np.linalg.norm(x[list(f)][:, None] - x[list(big)][None], axis=-1).min()))
g = np.array(gaps)
print("valid but in pieces:", split, "pieces:", len(g), "single atoms:", int((g[:, 0] == 1).sum()))
print("distance to the largest piece, percentiles 10/25/50/75/90:", np.percentile(g[:, 1], [10, 25, 50, 75, 90]).round(2),
      "share < 2 A:", round(float((g[:, 1] < 2.0).mean()), 3))
