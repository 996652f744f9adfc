"""Check: saturated six-rings are puckered (PoseBusters "Non-aromatic ring non-flatness")."""

from __future__ import annotations

from molgen.validation.checks.base import CheckContext, register
from molgen.validation.checks.planes import NONFLAT_RINGS, system_distances


@register("non_aromatic_ring_non_flatness", pb=True)
def non_aromatic_ring_non_flatness(ctx: CheckContext) -> dict:
    """Every non-aromatic six-ring has an atom at least ``nonflat_tol`` (0.05 Å) off its best plane."""
    d = system_distances(ctx.mol, NONFLAT_RINGS)
    least = min(d) if d else float("nan")
    return {"non_aromatic_ring_non_flatness": all(x >= ctx.config.nonflat_tol for x in d),
            "non_aromatic_ring_min_dist": least}
