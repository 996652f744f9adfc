"""Check: no radical electrons (PoseBusters "No radicals").

With ``hydrogens="keep"`` every hydrogen must be an explicit atom, so a missing hydrogen shows up
here as a radical.
"""

from __future__ import annotations

from rdkit import Chem

from molgen.validation.checks.base import CheckContext, register


@register("no_radicals", pb=True, needs_valid=False)
def no_radicals(ctx: CheckContext) -> dict:
    """No atom carries radical electrons after sanitization."""
    mol = Chem.Mol(ctx.mol if ctx.mol is not None else ctx.raw)
    if ctx.mol is None:
        Chem.SanitizeMol(mol, catchErrors=True)
    n = sum(a.GetNumRadicalElectrons() for a in mol.GetAtoms())
    return {"no_radicals": n == 0, "n_radical_electrons": n}
