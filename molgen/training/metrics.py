"""Cheap sample-quality figures logged during training (the full suite is ``molgen.validation``)."""

from __future__ import annotations

import numpy as np
from rdkit import Chem, RDLogger
from torch_geometric.data import Data

from molgen.chem.convert import data_to_mol
from molgen.chem.vocab import BOND_TYPES, Vocab
from molgen.validation.edm import edm_stability
from molgen.validation.stability import graph_valences


def quick_metrics(graphs: list[Data], vocab: Vocab) -> dict[str, float]:
    """Atom/molecule stability (EDM protocol A and predicted-bond protocol B) and RDKit validity.

    Args:
        graphs: generated molecule graphs.
        vocab: their vocabulary.

    Returns:
        Fractions in [0, 1]: ``atom_stable_edm``, ``mol_stable_edm``, ``atom_stable``,
        ``mol_stable``, ``valid``, ``valid_connected``.
    """
    RDLogger.DisableLog("rdApp.*")
    n_atoms = 0
    sums = dict.fromkeys(("atom_stable_edm", "mol_stable_edm", "atom_stable", "mol_stable", "valid",
                          "valid_connected"), 0.0)
    for g in graphs:
        symbols = [vocab.elements[i] for i in g.atom_type.tolist()]
        charges = [vocab.charges[i] for i in g.charge.tolist()]
        m = g.edge_index.shape[1] // 2
        bonds = [(i, j, BOND_TYPES[b]) for (i, j), b in zip(g.edge_index[:, :m].t().tolist(), g.bond_type[:m].tolist())]
        _, st_a = edm_stability(symbols, g.pos.double().numpy())
        _, st_b = graph_valences(symbols, charges, bonds)
        n_atoms += len(symbols)
        sums["atom_stable_edm"] += float(np.sum(st_a))
        sums["mol_stable_edm"] += float(st_a.all())
        sums["atom_stable"] += float(np.sum(st_b))
        sums["mol_stable"] += float(st_b.all())
        try:
            mol = data_to_mol(g, vocab, sanitize=True)
            sums["valid"] += 1
            sums["valid_connected"] += float(len(Chem.GetMolFrags(mol)) == 1)
        except Exception:  # invalid molecules are data here, not errors
            pass
    n = max(1, len(graphs))
    out = {k: v / n for k, v in sums.items()}
    out["atom_stable_edm"] = sums["atom_stable_edm"] / max(1, n_atoms)
    out["atom_stable"] = sums["atom_stable"] / max(1, n_atoms)
    return out
