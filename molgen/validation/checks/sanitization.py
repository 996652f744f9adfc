"""Check: RDKit sanitization succeeds (PoseBusters "Sanitization")."""

from __future__ import annotations

from molgen.validation.checks.base import CheckContext, register


@register("sanitization", pb=True, needs_valid=False)
def sanitization(ctx: CheckContext) -> dict:
    """RDKit sanitization (valences, kekulization, aromaticity) succeeds on the molecule as built."""
    return {"sanitization": ctx.mol is not None}
