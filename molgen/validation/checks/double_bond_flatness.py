"""Check: C=C double bonds are planar (PoseBusters "Double bond flatness").

A twisted double bond moves its substituents out of the plane of the C=C and its neighbours.
"""

from __future__ import annotations

from molgen.validation.checks.base import CheckContext, register
from molgen.validation.checks.planes import DOUBLE_BONDS, system_distances


@register("double_bond_flatness", pb=True)
def double_bond_flatness(ctx: CheckContext) -> dict:
    """Every trigonal C=C with its four substituents lies within ``flatness_tol`` (0.25 Å) of a plane."""
    d = system_distances(ctx.mol, DOUBLE_BONDS)
    worst = max(d) if d else 0.0
    return {"double_bond_flatness": worst <= ctx.config.flatness_tol, "double_bond_max_dist": worst,
            "double_bonds_checked": len(d)}
