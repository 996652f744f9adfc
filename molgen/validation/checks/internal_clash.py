"""Check: no internal steric clash (PoseBusters "Internal steric clash").

Non-covalent heavy-atom pairs (neither bonded nor the ends of an angle) must not come closer than
their distance-geometry lower bound shrunk by ``clash_tol`` (30%).
"""

from __future__ import annotations

from molgen.validation.checks.base import CheckContext, register
from molgen.validation.checks.dg_bounds import pair_geometry


@register("no_internal_clash", pb=True)
def no_internal_clash(ctx: CheckContext) -> dict:
    """No non-covalent heavy-atom pair is closer than (1 - clash_tol) x its lower bound."""
    pg = pair_geometry(ctx)
    sel = pg.kind == 0
    ratio = pg.dist[sel] / pg.lower[sel]
    n = int((ratio < 1.0 - ctx.config.clash_tol).sum())
    return {"no_internal_clash": n == 0, "internal_clash_n": n,
            "internal_clash_min_ratio": float(ratio.min()) if ratio.size else float("nan")}
