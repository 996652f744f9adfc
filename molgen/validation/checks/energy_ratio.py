"""Check: internal energy against a conformer ensemble (PoseBusters "Internal energy").

The UFF energy of the pose (hydrogens that were added here are relaxed first, heavy atoms fixed)
divided by the mean UFF energy of an ETKDGv3 ensemble of the same molecule (``n_conformers``
conformers, random coordinates, seed ``seed``, each UFF-optimized), as in PoseBusters'
``energy_ratio`` module. The pose passes when the ratio is at most ``energy_ratio_threshold`` (7).
Ensemble energies are cached per molecule (isomeric SMILES with hydrogens) within a process.
"""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import rdDistGeom
from rdkit.Chem.rdForceFieldHelpers import UFFOptimizeMoleculeConfs

from molgen.validation.checks.base import CheckContext, register
from molgen.validation.forcefield import get_force_field, relax_only

_CACHE: dict[tuple[str, int, int], float] = {}


def _ensemble_energy(mol: Chem.Mol, n_conformers: int, seed: int) -> float:
    mol = Chem.Mol(mol)
    mol.RemoveAllConformers()
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = seed
    params.useRandomCoords = True
    params.numThreads = 1
    cids = rdDistGeom.EmbedMultipleConfs(mol, n_conformers, params)
    if len(cids) == 0:
        raise RuntimeError("ETKDG could not embed a conformer ensemble")
    energies = [e for _, e in UFFOptimizeMoleculeConfs(mol, numThreads=1)]
    return sum(energies) / len(energies)


def ensemble_mean_energy(mol: Chem.Mol, n_conformers: int, seed: int) -> float:
    """Mean UFF energy (kcal/mol) of an optimized ETKDGv3 ensemble of ``mol`` (explicit H, 3D).

    Stereocentres and double-bond geometry are taken from the 3D pose, so the ensemble is of the
    same stereoisomer.
    """
    mol = Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(mol, replaceExistingTags=True)
    key = (Chem.MolToSmiles(mol), n_conformers, seed)
    if key not in _CACHE:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        _CACHE[key] = _ensemble_energy(mol, n_conformers, seed)
    return _CACHE[key]


@register("internal_energy", pb=True)
def internal_energy(ctx: CheckContext) -> dict:
    """UFF energy of the pose / mean UFF energy of an ETKDG ensemble <= energy_ratio_threshold (7)."""
    mol = Chem.Mol(ctx.mol)
    relax_only(mol, ctx.added_h, kind="uff")
    ff, _ = get_force_field(mol, "uff")
    pose = ff.CalcEnergy()
    mean = ensemble_mean_energy(mol, ctx.config.n_conformers, ctx.config.seed)
    ratio = pose / (mean if mean != 0 else 1e-10)
    return {"internal_energy": ratio <= ctx.config.energy_ratio_threshold, "energy_ratio": ratio,
            "pose_energy_uff": pose, "ensemble_energy_uff": mean}
