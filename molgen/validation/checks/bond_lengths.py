"""Check: bond lengths within RDKit distance-geometry bounds (PoseBusters "Bond lengths")."""

from __future__ import annotations

import numpy as np

from molgen.validation.checks.base import CheckContext, register
from molgen.validation.checks.dg_bounds import pair_geometry, relative_deviation


@register("bond_lengths", pb=True)
def bond_lengths(ctx: CheckContext) -> dict:
    """Every heavy-atom bond is within its bounds widened by ``bond_length_tol`` (25%)."""
    pg = pair_geometry(ctx)
    sel = pg.kind == 1
    dev = relative_deviation(pg.dist[sel], pg.lower[sel], pg.upper[sel])
    n_bad = int((np.abs(dev) > ctx.config.bond_length_tol).sum())
    worst = float(dev[np.argmax(np.abs(dev))]) if dev.size else 0.0
    return {"bond_lengths": n_bad == 0, "bond_lengths_n_bad": n_bad, "bond_lengths_worst_rel": worst}
