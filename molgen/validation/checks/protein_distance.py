"""Check: the ligand is near the protein (PoseBusters "Protein-ligand maximum distance")."""

from __future__ import annotations

import numpy as np

from molgen.validation.checks.base import CheckContext, register


def ligand_heavy_positions(ctx: CheckContext) -> np.ndarray:
    """[L, 3] float, Å: heavy-atom coordinates of the molecule (built or sanitized)."""
    mol = ctx.mol if ctx.mol is not None else ctx.raw
    pos = mol.GetConformer().GetPositions()
    return pos[[a.GetAtomicNum() > 1 for a in mol.GetAtoms()]]


@register("protein_max_distance", pb=True, protein=True, needs_valid=False)
def protein_max_distance(ctx: CheckContext) -> dict:
    """The nearest ligand-protein heavy-atom distance is at most protein_max_distance (5 Å)."""
    lig = ligand_heavy_positions(ctx)
    prot = ctx.protein.pos[ctx.protein.group == "protein"]
    if len(lig) == 0 or len(prot) == 0:
        return {"protein_max_distance": False, "protein_min_distance": float("nan")}
    d = float(np.min(np.linalg.norm(lig[:, None] - prot[None], axis=-1)))
    return {"protein_max_distance": d <= ctx.config.protein_max_distance, "protein_min_distance": d}
