"""Check: one connected fragment (PoseBusters "All atoms connected")."""

from __future__ import annotations

from rdkit import Chem

from molgen.validation.checks.base import CheckContext, register


@register("all_atoms_connected", pb=True, needs_valid=False)
def all_atoms_connected(ctx: CheckContext) -> dict:
    """The bond graph has a single connected component."""
    n = len(Chem.GetMolFrags(ctx.raw, asMols=False, sanitizeFrags=False))
    return {"all_atoms_connected": n <= 1, "n_fragments": n}
