"""Check: bond angles within RDKit distance-geometry bounds (PoseBusters "Bond angles").

An angle i-j-k is judged by the 1-3 distance i...k against its bounds, as PoseBusters does.
"""

from __future__ import annotations

import numpy as np

from molgen.validation.checks.base import CheckContext, register
from molgen.validation.checks.dg_bounds import pair_geometry, relative_deviation


@register("bond_angles", pb=True)
def bond_angles(ctx: CheckContext) -> dict:
    """Every heavy-atom 1-3 distance is within its bounds widened by ``bond_angle_tol`` (25%)."""
    pg = pair_geometry(ctx)
    sel = pg.kind == 2
    dev = np.abs(relative_deviation(pg.dist[sel], pg.lower[sel], pg.upper[sel]))
    n_bad = int((dev > ctx.config.bond_angle_tol).sum())
    return {"bond_angles": n_bad == 0, "bond_angles_n_bad": n_bad,
            "bond_angles_worst_rel": float(dev.max()) if dev.size else 0.0}
