"""Ligand RDKit molecule <-> Vina PDBQT, with Meeko.

Going in, Meeko (``MoleculePreparation`` + ``PDBQTWriterLegacy``) types the atoms, merges non-polar
hydrogens, builds the torsion tree and stores the SMILES and atom mapping in PDBQT remarks. Coming
back, ``PDBQTMolecule`` + ``RDKitMolCreate`` rebuild a molecule with the original bond orders,
charges and all hydrogens (non-polar ones placed geometrically), and the coordinates are then copied
onto the input molecule, so a pose keeps the input atom order and SD properties.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Geometry import Point3D


class LigandError(ValueError):
    """This ligand cannot be prepared; the message is the reason written in its row."""


def _has_3d(mol: Chem.Mol) -> bool:
    if mol.GetNumConformers() == 0:
        return False
    conf = mol.GetConformer()
    return conf.Is3D() and bool(np.isfinite(conf.GetPositions()).all())


def with_explicit_hydrogens(mol: Chem.Mol) -> tuple[Chem.Mol, bool]:
    """Return the molecule with every hydrogen explicit (added with 3D coordinates if missing).

    Returns:
        (molecule, whether hydrogens were added).
    """
    if mol.GetNumAtoms() == 0:
        raise LigandError("empty molecule")
    if not _has_3d(mol):
        raise LigandError("no 3D coordinates")
    missing = sum(a.GetTotalNumHs() for a in mol.GetAtoms())  # implicit + explicit-count Hs
    if missing == 0:
        return mol, False
    return Chem.AddHs(mol, addCoords=True), True


def mol_to_pdbqt(mol: Chem.Mol) -> str:
    """Meeko PDBQT string of a molecule with explicit hydrogens and 3D coordinates.

    Raises:
        LigandError: Meeko cannot type or write it (the message says why).
    """
    from meeko import MoleculePreparation, PDBQTWriterLegacy

    if len(Chem.GetMolFrags(mol)) > 1:
        raise LigandError(f"{len(Chem.GetMolFrags(mol))} disconnected fragments (salt or mixture?)")
    try:
        setups = MoleculePreparation().prepare(mol)
    except Exception as err:  # Meeko raises many kinds; the row keeps the reason
        raise LigandError(f"Meeko preparation failed: {' '.join(str(err).split())[:200]}") from err
    if len(setups) != 1:
        raise LigandError(f"Meeko made {len(setups)} setups, expected 1")
    pdbqt, ok, msg = PDBQTWriterLegacy.write_string(setups[0])
    if not ok:
        raise LigandError(f"Meeko could not write PDBQT: {' '.join(str(msg).split())[:200]}")
    return pdbqt


def pdbqt_to_mols(pdbqt: str, template: Chem.Mol | None = None) -> list[Chem.Mol]:
    """Every pose (MODEL) in a Meeko/Vina PDBQT string as an RDKit molecule with bonds and hydrogens.

    Args:
        pdbqt: PDBQT text written by Meeko, or by Vina from a Meeko ligand (needs its SMILES remarks).
        template: the molecule the PDBQT was made from (all hydrogens explicit). When given, each
            pose is returned as a copy of it (same atom order, properties) with the pose coordinates.

    Returns:
        One molecule per pose, in file order.
    """
    from meeko import PDBQTMolecule, RDKitMolCreate

    pmol = PDBQTMolecule(pdbqt, skip_typing=True)
    mols = RDKitMolCreate.from_pdbqt_mol(pmol)
    if not mols or mols[0] is None:
        raise LigandError("Meeko could not rebuild the molecule from the PDBQT (no SMILES remarks?)")
    built = mols[0]
    confs = list(built.GetConformers())
    if template is None:
        return [Chem.Mol(built, confId=conf.GetId()) for conf in confs]
    match = built.GetSubstructMatch(template)
    if len(match) != template.GetNumAtoms() or template.GetNumAtoms() != built.GetNumAtoms():
        raise LigandError("pose does not map back onto the input molecule")
    poses = []
    for conf in confs:
        pose = Chem.Mol(template)
        pose.RemoveAllConformers()
        new = Chem.Conformer(template.GetNumAtoms())
        pos = conf.GetPositions()
        for i, j in enumerate(match):
            new.SetAtomPosition(i, Point3D(*pos[j]))
        new.Set3D(True)
        pose.AddConformer(new, assignId=True)
        poses.append(pose)
    return poses
