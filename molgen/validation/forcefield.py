"""Force-field helpers for the energy checks (RDKit MMFF94 and UFF), energies in kcal/mol."""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers as ffh


class ForceFieldError(Exception):
    """No force field has parameters for this molecule."""


def get_force_field(mol: Chem.Mol, kind: str = "auto", conf_id: int = -1):
    """A force field for ``mol``'s conformer.

    Args:
        mol: sanitized molecule with explicit hydrogens.
        kind: ``mmff`` (MMFF94), ``uff``, or ``auto`` (MMFF94 when it has parameters, else UFF).

    Returns:
        ``(force_field, name)`` with name ``MMFF94`` or ``UFF``.

    Raises:
        ForceFieldError: neither force field has parameters for every atom.
    """
    if kind in ("auto", "mmff") and ffh.MMFFHasAllMoleculeParams(mol):
        props = ffh.MMFFGetMoleculeProperties(mol)
        return ffh.MMFFGetMoleculeForceField(mol, props, confId=conf_id), "MMFF94"
    if kind in ("auto", "uff") and ffh.UFFHasAllMoleculeParams(mol):
        return ffh.UFFGetMoleculeForceField(mol, confId=conf_id), "UFF"
    raise ForceFieldError(f"no {'MMFF94 or UFF' if kind == 'auto' else kind.upper()} parameters for every atom")


def relax_only(mol: Chem.Mol, atoms: tuple[int, ...] | list[int], kind: str = "auto", max_iters: int = 500) -> None:
    """Minimize the positions of ``atoms`` in place, every other atom held fixed (e.g. added H)."""
    if not atoms:
        return
    ff, _ = get_force_field(mol, kind)
    moving = set(atoms)
    for i in range(mol.GetNumAtoms()):
        if i not in moving:
            ff.AddFixedPoint(i)
    ff.Minimize(maxIts=max_iters)
    conf = mol.GetConformer()
    pos = ff.Positions()
    for i in moving:
        conf.SetAtomPosition(i, pos[3 * i: 3 * i + 3])
