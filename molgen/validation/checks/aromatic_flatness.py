"""Check: aromatic rings are flat (PoseBusters "Aromatic ring flatness")."""

from __future__ import annotations

from molgen.validation.checks.base import CheckContext, register
from molgen.validation.checks.planes import AROMATIC_RINGS, system_distances


@register("aromatic_ring_flatness", pb=True)
def aromatic_ring_flatness(ctx: CheckContext) -> dict:
    """Every aromatic 5-/6-ring lies within ``flatness_tol`` (0.25 Å) of its best plane."""
    d = system_distances(ctx.mol, AROMATIC_RINGS)
    worst = max(d) if d else 0.0
    return {"aromatic_ring_flatness": worst <= ctx.config.flatness_tol, "aromatic_ring_max_dist": worst,
            "aromatic_rings_checked": len(d)}
