"""Check: strain energy after local relaxation (not part of ``pb_valid``).

Strain = force-field energy of the structure as generated minus its energy after a local
minimization from those coordinates (MMFF94, UFF where MMFF has no parameters), kcal/mol; the
molecule passes when the strain is at most ``strain_threshold``. Hydrogens added here are relaxed
before the "as generated" energy is taken, so guessed H positions do not count as strain.
"""

from __future__ import annotations

from rdkit import Chem

from molgen.validation.checks.base import CheckContext, register
from molgen.validation.forcefield import get_force_field, relax_only


@register("strain_energy", pb=False)
def strain_energy(ctx: CheckContext) -> dict:
    """Force-field energy as generated minus after local relaxation <= strain_threshold (kcal/mol)."""
    mol = Chem.Mol(ctx.mol)
    relax_only(mol, ctx.added_h, kind="auto")
    ff, name = get_force_field(mol, "auto")
    before = ff.CalcEnergy()
    ff.Minimize(maxIts=5000)
    after = ff.CalcEnergy()
    strain = before - after
    return {"strain_energy": strain <= ctx.config.strain_threshold, "strain_energy_kcal_mol": strain,
            "strain_forcefield": name}
