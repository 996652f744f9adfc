"""Check: internal energy against a conformer ensemble (PoseBusters "Internal energy").

The UFF energy of the pose (hydrogens that were added here are relaxed first, heavy atoms fixed)
divided by the mean UFF energy of an ETKDGv3 ensemble of the same molecule (``n_conformers``
conformers, random coordinates, seed ``seed``, each UFF-optimized), as in PoseBusters'
``energy_ratio`` module. The pose passes when the ratio is at most ``energy_ratio_threshold`` (7).

Screening (``energy_screen_conformers``, default 8): the ensemble is the expensive part of the whole
validation (about 97 % of its CPU time on drug-like ligands), and the minimized ensemble energies of
one molecule are tight (standard deviation 1-4 kcal/mol around means of 45-320 kcal/mol on the FEP
ligands), so a small ensemble is drawn first. When the ratio stays on one side of the threshold for
every ensemble mean within ``4 standard errors + 5 % + 0.5 kcal/mol`` of the small ensemble's mean,
that is the verdict and the small ensemble's ratio is reported; otherwise the full ensemble is
computed exactly as without screening. ``energy_ensemble_conformers`` in the output says which.
``energy_screen_conformers: 0`` always computes the full ensemble.

Ensemble energies are cached per molecule (isomeric SMILES with hydrogens) within a process.
"""

from __future__ import annotations

import math

from rdkit import Chem
from rdkit.Chem import rdDistGeom
from rdkit.Chem.rdForceFieldHelpers import UFFOptimizeMoleculeConfs

from molgen.validation.checks.base import CheckContext, register
from molgen.validation.forcefield import get_force_field, relax_only

_CACHE: dict[tuple[str, int, int, int], list[float]] = {}
#: Relative and absolute (kcal/mol) slack added to 4 standard errors of the screening ensemble's mean.
SCREEN_REL_MARGIN = 0.05
SCREEN_ABS_MARGIN = 0.5


def _ensemble_energies(mol: Chem.Mol, n_conformers: int, seed: int, timeout_s: int = 0) -> list[float]:
    mol = Chem.Mol(mol)
    mol.RemoveAllConformers()
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = seed
    params.useRandomCoords = True
    params.numThreads = 1
    params.timeout = int(timeout_s)
    # past the time limit RDKit returns [-1] and keeps no conformer
    cids = [c for c in rdDistGeom.EmbedMultipleConfs(mol, n_conformers, params) if c >= 0]
    if not cids:
        limit = f" within {timeout_s} s" if timeout_s else ""
        raise RuntimeError(f"ETKDG could not embed a conformer ensemble{limit}")
    return [e for _, e in UFFOptimizeMoleculeConfs(mol, numThreads=1)]


def ensemble_energies(mol: Chem.Mol, n_conformers: int, seed: int, timeout_s: int = 0) -> list[float]:
    """UFF energies (kcal/mol) of an optimized ETKDGv3 ensemble of ``mol`` (explicit H, 3D).

    Stereocentres and double-bond geometry are taken from the 3D pose, so the ensemble is of the
    same stereoisomer. ``timeout_s``: ETKDG's time limit for the whole ensemble (0: none); past it
    no conformer is kept and RuntimeError is raised.
    """
    mol = Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(mol, replaceExistingTags=True)
    key = (Chem.MolToSmiles(mol), n_conformers, seed, timeout_s)
    if key not in _CACHE:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        _CACHE[key] = _ensemble_energies(mol, n_conformers, seed, timeout_s)
    return _CACHE[key]


def ensemble_mean_energy(mol: Chem.Mol, n_conformers: int, seed: int, timeout_s: int = 0) -> float:
    """Mean UFF energy (kcal/mol) of the optimized ETKDGv3 ensemble (:func:`ensemble_energies`)."""
    energies = ensemble_energies(mol, n_conformers, seed, timeout_s)
    return sum(energies) / len(energies)


def screen_verdict(pose: float, energies: list[float], threshold: float) -> bool | None:
    """The verdict (ratio <= threshold) if every plausible full-ensemble mean gives the same one,
    else None. Plausible: within 4 standard errors + 5 % + 0.5 kcal/mol of the small ensemble's mean."""
    n = len(energies)
    if n < 3:
        return None
    mean = sum(energies) / n
    sd = math.sqrt(sum((e - mean) ** 2 for e in energies) / (n - 1))
    margin = 4 * sd / math.sqrt(n) + SCREEN_REL_MARGIN * abs(mean) + SCREEN_ABS_MARGIN
    lo, hi = mean - margin, mean + margin
    if lo <= 0:  # a mean near or below zero: the ratio is unstable, decide on the full ensemble
        return None
    ratios = (pose / lo, pose / hi)
    if max(ratios) <= threshold:
        return True
    if min(ratios) > threshold:
        return False
    return None


@register("internal_energy", pb=True)
def internal_energy(ctx: CheckContext) -> dict:
    """UFF energy of the pose / mean UFF energy of an ETKDG ensemble <= energy_ratio_threshold (7)."""
    cfg = ctx.config
    mol = Chem.Mol(ctx.mol)
    relax_only(mol, ctx.added_h, kind="uff")
    ff, _ = get_force_field(mol, "uff")
    pose = ff.CalcEnergy()
    energies = None
    if 0 < cfg.energy_screen_conformers < cfg.n_conformers:
        small = ensemble_energies(mol, cfg.energy_screen_conformers, cfg.seed, cfg.embed_timeout_s)
        if screen_verdict(pose, small, cfg.energy_ratio_threshold) is not None:
            energies = small
    if energies is None:
        energies = ensemble_energies(mol, cfg.n_conformers, cfg.seed, cfg.embed_timeout_s)
    mean = sum(energies) / len(energies)
    ratio = pose / (mean if mean != 0 else 1e-10)
    return {"internal_energy": ratio <= cfg.energy_ratio_threshold, "energy_ratio": ratio,
            "pose_energy_uff": pose, "ensemble_energy_uff": mean, "energy_ensemble_conformers": len(energies)}
