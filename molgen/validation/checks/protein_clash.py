"""Check: no ligand-protein clash by van der Waals overlap (PoseBusters "Minimum distance to
protein", with its organic-cofactor, inorganic-cofactor and water variants).

A ligand heavy atom and a receptor heavy atom clash when their distance is below
``protein_clash_cutoff`` (0.75) times the sum of their van der Waals radii (covalent radii for
inorganic cofactors, i.e. metal ions), radii from RDKit's periodic table.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem

from molgen.validation.checks.base import CheckContext, register

_PT = Chem.GetPeriodicTable()


def _radii(symbols, covalent: bool) -> np.ndarray:
    f = _PT.GetRcovalent if covalent else _PT.GetRvdw
    return np.array([f(str(s)) for s in symbols])


@register("no_protein_clash", pb=True, protein=True, needs_valid=False)
def no_protein_clash(ctx: CheckContext) -> dict:
    """No ligand-receptor heavy-atom pair is closer than 0.75 x the sum of their radii."""
    mol = ctx.mol if ctx.mol is not None else ctx.raw
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    lig = mol.GetConformer().GetPositions()[heavy]
    lig_sym = [mol.GetAtomWithIdx(i).GetSymbol() for i in heavy]
    prot = ctx.protein
    worst, n_clash, worst_group = np.inf, 0, ""
    for group in ("protein", "organic", "inorganic", "water"):
        sel = prot.group == group
        if not sel.any() or len(lig) == 0:
            continue
        covalent = group == "inorganic"
        d = np.linalg.norm(lig[:, None] - prot.pos[sel][None], axis=-1)
        rel = d / (_radii(lig_sym, covalent)[:, None] + _radii(prot.symbols[sel], covalent)[None])
        n_clash += int((rel < ctx.config.protein_clash_cutoff).sum())
        if rel.min() < worst:
            worst, worst_group = float(rel.min()), group
    return {"no_protein_clash": n_clash == 0, "protein_clash_n": n_clash,
            "protein_clash_min_rel_distance": worst if np.isfinite(worst) else float("nan"),
            "protein_clash_group": worst_group}
