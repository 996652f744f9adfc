"""Check: the molecule converts to an InChI that reads back (PoseBusters "InChI convertible")."""

from __future__ import annotations

from rdkit import Chem, rdBase

from molgen.validation.checks.base import CheckContext, register


@register("inchi_convertible", pb=True)
def inchi_convertible(ctx: CheckContext) -> dict:
    """An InChI can be written and parsed back by RDKit."""
    with rdBase.BlockLogs():
        try:
            inchi = Chem.MolToInchi(ctx.mol)
        except (ValueError, RuntimeError):
            inchi = ""
        ok = bool(inchi) and Chem.MolFromInchi(inchi) is not None
    return {"inchi_convertible": ok}
