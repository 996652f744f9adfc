"""Valid / valid & connected counts of a gen.py pickle with the model's bonds and with bonds perceived from the
coordinates, and the sanitisation errors (atom numbers blanked).

    PYTHONPATH=. python benchmarks/results/session18_scripts/analyse.py OUT.pkl
"""
import collections
import pickle
import re
import sys
from pathlib import Path

from rdkit import Chem, RDLogger

from benchmarks.pocket import graph_mols
from molgen.chem.vocab import get_vocab
from molgen.validation.build import build_molecule

RDLogger.DisableLog("rdApp.*")
d = pickle.loads(Path(sys.argv[1]).read_bytes())
counts, errors = collections.Counter(), collections.Counter()
for s in d.values():
    for m in graph_mols(s["graphs"], get_vocab("drug_heavy")):
        counts["ligands"] += 1
        for source in ("predicted", "rdkit"):
            b = build_molecule(m, bonds=source)
            if b.mol is None:
                if source == "predicted":
                    errors[re.sub(r"\d+", "#", b.error)[:90]] += 1
                continue
            counts[source, "valid"] += 1
            counts[source, "valid & connected"] += len(Chem.GetMolFrags(b.mol)) == 1
print(dict(counts))
for e, c in errors.most_common(10):
    print(c, e)
