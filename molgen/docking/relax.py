"""Relax a ligand in a fixed pocket: RDKit MMFF94 for the ligand, the protein as fixed repulsive points.

What is minimised, in kcal/mol::

    E = E_MMFF(ligand) + Σ_{i ∈ ligand, j ∈ protein} ½ k · max(0, d_min(i) − |x_i − p_j|)²

E_MMFF is the ligand's own MMFF94 energy (RDKit ``MMFFGetMoleculeForceField``, hydrogens explicit:
missing ones are added with coordinates first), with a distance-dependent dielectric ε = 4r (the
usual screening for a ligand minimised without solvent; ``dielectric="constant"``, ε = 1 is RDKit's
default). The protein enters as fixed extra points of the same
force field (``AddExtraPoint(..., fixed=True)``), one per protein heavy atom within ``cutoff`` of the
input ligand, tied to the ligand atoms within ``cutoff`` of them by RDKit's flat-bottom distance
constraint (``MMFFAddDistanceConstraint``: zero between ``d_min`` and a bound far beyond the cutoff,
harmonic below): a repulsion-only wall at ``clash_distance`` for ligand heavy atoms and at
``hydrogen_clash_distance`` for ligand hydrogens. We chose this over MMFF on a combined
ligand + pocket molecule because a pocket cut from a PDB file (no hydrogens, broken chains, metals,
cofactors) often cannot be MMFF-typed, and the protein's attraction is what a docking score measures
(the ``dock`` step with ``mode: minimize`` is Vina's local minimisation); this step only removes
strain and clashes. The protein does not move.

Per ligand (:func:`relax_in_pocket`): the relaxed molecule and a row: ``relax_status`` (``ok`` /
``failed``), ``relax_reason``, ``relax_rmsd_A`` (heavy atoms, in place, relaxed vs input),
``relax_energy_before_kcal_mol`` / ``relax_energy_after_kcal_mol`` (E_MMFF of the ligand alone, input
hydrogens placed by RDKit where they were missing), ``relax_wall_kcal_mol`` (the protein term left
after minimisation), ``relax_min_protein_dist_before_A`` / ``_after_A`` (nearest ligand–protein
heavy-atom distance), ``relax_converged`` and ``relax_seconds``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem

#: Table columns of a relax step (and of :func:`relax_in_pocket`'s row), in order.
RELAX_COLUMNS = ("relax_status", "relax_reason", "relax_method", "relax_rmsd_A", "relax_energy_before_kcal_mol",
                 "relax_energy_after_kcal_mol", "relax_wall_kcal_mol", "relax_min_protein_dist_before_A",
                 "relax_min_protein_dist_after_A", "relax_converged", "relax_seconds")
#: Upper bound of the flat-bottom constraint, Å: beyond any pair the cutoff admits.
_FAR = 1.0e4


@dataclass(frozen=True)
class RelaxSettings:
    """MMFF relaxation in a fixed pocket.

    Attributes:
        clash_distance: wall distance for ligand heavy atoms to protein heavy atoms, Å.
        hydrogen_clash_distance: wall distance for ligand hydrogens, Å.
        cutoff: protein atoms (and pairs) within this of the input ligand enter, Å.
        force_constant: k of the wall, kcal/mol/Å².
        max_iters: minimiser iterations (RDKit's BFGS).
        dielectric: ``distance`` (ε = constant × r) or ``constant``.
        dielectric_constant: the constant.
    """

    clash_distance: float = 3.0
    hydrogen_clash_distance: float = 2.0
    cutoff: float = 6.0
    force_constant: float = 100.0
    max_iters: int = 500
    dielectric: str = "distance"
    dielectric_constant: float = 4.0


def _row(**values) -> dict:
    row = dict.fromkeys(RELAX_COLUMNS)
    row.update(relax_method="mmff", **values)
    return row


def _min_distance(pos: np.ndarray, protein: np.ndarray) -> float:
    if len(pos) == 0 or len(protein) == 0:
        return math.nan
    return float(np.linalg.norm(pos[:, None] - protein[None], axis=-1).min())


def relax_in_pocket(mol: Chem.Mol | None, protein: np.ndarray, settings: RelaxSettings = RelaxSettings()
                    ) -> tuple[Chem.Mol | None, dict]:
    """Minimise one ligand (a sanitised RDKit molecule with a 3D conformer) against fixed protein atoms.

    Args:
        mol: the ligand (not modified), or None (a record that could not be read).
        protein: [P, 3] float, Å — protein heavy-atom coordinates.
        settings: see :class:`RelaxSettings`.

    Returns:
        (relaxed molecule with explicit hydrogens, row) — (None, row with the reason) on failure.
    """
    t0 = time.perf_counter()

    def failed(reason: str) -> tuple[None, dict]:
        return None, _row(relax_status="failed", relax_reason=reason, relax_seconds=round(time.perf_counter() - t0, 3))

    if mol is None:
        return failed("no readable structure in the input step's SDF")
    if mol.GetNumAtoms() == 0:
        return failed("the molecule has no atoms")
    if mol.GetNumConformers() == 0:
        return failed("the molecule has no coordinates")
    try:
        return _relax(mol, protein, settings, t0, failed)
    except Exception as err:  # noqa: BLE001 - RDKit raises RuntimeError on odd inputs: a row, not a crash
        return failed(f"relaxation failed: {type(err).__name__}: {' '.join(str(err).split())[:200]}")


def _relax(mol: Chem.Mol, protein: np.ndarray, settings: RelaxSettings, t0: float, failed
           ) -> tuple[Chem.Mol | None, dict]:
    try:
        work = Chem.AddHs(mol, addCoords=True) if any(a.GetNumImplicitHs() for a in mol.GetAtoms()) else Chem.Mol(mol)
        props = AllChem.MMFFGetMoleculeProperties(work)
    except Exception as err:  # noqa: BLE001 - RDKit raises several types on odd molecules
        return failed(f"RDKit cannot prepare the molecule for MMFF: {' '.join(str(err).split())[:200]}")
    if props is None:
        return failed("MMFF94 has no parameters for this molecule")
    if settings.dielectric == "distance":
        props.SetMMFFDielectricModel(2)  # RDKit: 1 constant, 2 distance-dependent
    props.SetMMFFDielectricConstant(settings.dielectric_constant)
    pos0 = work.GetConformer().GetPositions()
    if not np.isfinite(pos0).all():
        return failed("non-finite coordinates")
    heavy = np.array([a.GetAtomicNum() > 1 for a in work.GetAtoms()])
    protein = np.asarray(protein, dtype=float).reshape(-1, 3)
    ff = AllChem.MMFFGetMoleculeForceField(work, props, ignoreInterfragInteractions=False)
    if ff is None:
        return failed("RDKit could not set up the MMFF94 force field")
    e_before = ff.CalcEnergy()
    d = np.linalg.norm(pos0[:, None] - protein[None], axis=-1) if len(protein) else np.zeros((len(pos0), 0))
    near = np.nonzero((d < settings.cutoff).any(0))[0]
    n = work.GetNumAtoms()
    for j in near:
        x, y, z = (float(v) for v in protein[j])
        ff.AddExtraPoint(x, y, z, True)
    ff.Initialize()
    for k, j in enumerate(near):
        for i in np.nonzero(d[:, j] < settings.cutoff)[0]:
            lo = settings.clash_distance if heavy[i] else settings.hydrogen_clash_distance
            ff.MMFFAddDistanceConstraint(int(i), n + k, False, lo, _FAR, settings.force_constant)
    status = ff.Minimize(maxIts=settings.max_iters)
    e_total = ff.CalcEnergy()
    pos1 = work.GetConformer().GetPositions()
    if not np.isfinite(pos1).all():
        return failed("MMFF minimisation gave non-finite coordinates")
    e_after = AllChem.MMFFGetMoleculeForceField(work, props, ignoreInterfragInteractions=False).CalcEnergy()
    rmsd = float(np.sqrt(((pos1[heavy] - pos0[heavy]) ** 2).sum(-1).mean())) if heavy.any() else math.nan
    return work, _row(
        relax_status="ok", relax_reason="", relax_rmsd_A=round(rmsd, 4),
        relax_energy_before_kcal_mol=round(e_before, 3), relax_energy_after_kcal_mol=round(e_after, 3),
        relax_wall_kcal_mol=round(e_total - e_after, 3),
        relax_min_protein_dist_before_A=round(_min_distance(pos0[heavy], protein), 3),
        relax_min_protein_dist_after_A=round(_min_distance(pos1[heavy], protein), 3),
        relax_converged=status == 0, relax_seconds=round(time.perf_counter() - t0, 3),
    )


def protein_heavy_atoms(path) -> np.ndarray:
    """[P, 3] float, Å: heavy atoms of a receptor PDB except waters (protein, cofactors, ions).

    Raises:
        MolgenError: an unreadable file or one without heavy atoms.
    """
    from molgen.validation.io import load_protein

    atoms = load_protein(path)
    return np.asarray(atoms.pos[atoms.group != "water"], dtype=float)


__all__ = ["RELAX_COLUMNS", "RelaxSettings", "protein_heavy_atoms", "relax_in_pocket"]
