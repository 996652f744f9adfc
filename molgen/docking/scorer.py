"""One receptor, one box, one set of Vina maps; any number of ligands scored, minimised or docked.

The maps are computed once for every Vina atom type (no ligand set yet), so each ligand only pays
for its own setup: ``set_ligand_from_string`` (Vina precomputes its ligand-ligand pair tables, a
cost that grows with the square of the ligand's atom count, ~0.01-1 s) and then the calculation
(``score`` takes milliseconds, ``optimize`` tens of milliseconds, ``dock`` seconds to minutes).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdMolAlign

from molgen.docking.box import Box
from molgen.docking.ligand import LigandError, mol_to_pdbqt, pdbqt_to_mols, with_explicit_hydrogens
from molgen.errors import MolgenError

MODES = ("score", "minimize", "dock")


@dataclass
class DockSettings:
    """How Vina is run.

    Attributes:
        mode: ``score`` (in place, pose unchanged), ``minimize`` (local BFGS) or ``dock`` (global search).
        exhaustiveness: Monte Carlo runs in ``dock`` mode.
        num_poses: poses kept per ligand in ``dock`` mode.
        energy_range: poses worse than the best by more than this are dropped, kcal/mol.
        seed: Vina random seed (0 lets Vina pick one; any other value is reproducible).
        cpu: threads for one Vina search (0 = all cores).
        scoring: ``vina`` or ``vinardo``.
        spacing: map grid spacing, Å.
    """

    mode: str = "score"
    exhaustiveness: int = 8
    num_poses: int = 9
    energy_range: float = 3.0
    seed: int = 1
    cpu: int = 1
    scoring: str = "vina"
    spacing: float = 0.375

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise MolgenError(f"docking mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.scoring not in ("vina", "vinardo"):
            raise MolgenError(f"scoring must be vina or vinardo, got {self.scoring!r}")
        if self.exhaustiveness < 1 or self.num_poses < 1:
            raise MolgenError("exhaustiveness and num_poses must be >= 1")
        if self.energy_range <= 0 or self.spacing <= 0:
            raise MolgenError("energy_range and spacing must be > 0")


@dataclass
class LigandResult:
    """The outcome for one ligand: a table row and its poses (best first; empty when failed)."""

    row: dict
    poses: list[Chem.Mol] = field(default_factory=list)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    text = text.replace("Vina runtime error: ", "")
    return text[:300] if isinstance(err, LigandError) else f"{type(err).__name__}: {text[:300]}"


def _torsdof(pdbqt: str) -> int | None:
    for line in pdbqt.splitlines():
        if line.startswith("TORSDOF"):
            return int(line.split()[1])
    return None


def _score_terms(e: np.ndarray) -> dict:
    """Vina ``score()``/``optimize()`` output -> row fields.

    ``e``: [total, lig_inter, flex_inter, other_inter, flex_intra, lig_intra, torsions, unbound], kcal/mol.
    """
    return {"vina_kcal_mol": float(e[0]), "inter_kcal_mol": float(e[1]), "intra_kcal_mol": float(e[5]),
            "torsion_kcal_mol": float(e[6])}


def _heavy_rmsd(pose: Chem.Mol, ref: Chem.Mol) -> float:
    """Symmetry-aware heavy-atom RMSD without superposition, Å."""
    try:
        return float(rdMolAlign.CalcRMS(Chem.RemoveHs(pose), Chem.RemoveHs(ref), maxMatches=10000))
    except Exception:  # noqa: BLE001 - RMSD is an extra; a failure must not fail the ligand
        return math.nan


def empty_row(index: int, name: str, mode: str) -> dict:
    """A row with every column present; numbers NaN, status failed until filled."""
    return {
        "index": index, "name": name, "mode": mode, "vina_kcal_mol": math.nan, "status": "failed",
        "reason": "", "vina_in_place_kcal_mol": math.nan, "inter_kcal_mol": math.nan,
        "intra_kcal_mol": math.nan, "torsion_kcal_mol": math.nan, "rmsd_to_input_A": math.nan,
        "num_poses": 0, "num_heavy_atoms": 0, "num_torsions": None, "h_added": False, "seconds": math.nan,
    }


class VinaScorer:
    """Vina with a receptor and its maps loaded, reused for every ligand.

    Args:
        receptor_pdbqt: rigid receptor PDBQT path.
        box: search box; maps cover it.
        settings: how to run Vina.
    """

    def __init__(self, receptor_pdbqt: str | Path, box: Box, settings: DockSettings) -> None:
        from vina import Vina

        self.box = box
        self.settings = settings
        t0 = time.perf_counter()
        self.vina = Vina(sf_name=settings.scoring, cpu=settings.cpu, seed=settings.seed, verbosity=0)
        self.vina.set_receptor(rigid_pdbqt_filename=str(receptor_pdbqt))
        self.vina.compute_vina_maps(center=list(box.center), box_size=list(box.size), spacing=settings.spacing)
        self.map_seconds = time.perf_counter() - t0
        self._tmp = tempfile.TemporaryDirectory(prefix="molgen_vina_")

    def close(self) -> None:
        """Remove the scratch folder."""
        self._tmp.cleanup()

    def _written_pose(self) -> str:
        path = os.path.join(self._tmp.name, "pose.pdbqt")
        self.vina.write_pose(path, overwrite=True)  # the bindings only write an optimised pose to a file
        with open(path) as fh:
            return fh.read()

    def run(self, mol: Chem.Mol | None, index: int = 0, name: str | None = None,
            mode: str | None = None) -> LigandResult:
        """Score, minimise or dock one ligand; never raises for a bad ligand.

        Args:
            mol: ligand with 3D coordinates (hydrogens are added if missing); None = unreadable record.
            index: position in the input, kept in the row.
            name: row name (default: the molecule's ``_Name`` or ``ligand_{index}``).
            mode: overrides ``settings.mode``.

        Returns:
            The row (``status`` ``ok`` or ``failed`` with ``reason``) and the poses, best first.
        """
        mode = mode or self.settings.mode
        if name is None:
            name = mol.GetProp("_Name") if mol is not None and mol.HasProp("_Name") else ""
            name = name or f"ligand_{index}"
        row = empty_row(index, name, mode)
        t0 = time.perf_counter()
        try:
            if mol is None:
                raise LigandError("RDKit could not read this record")
            result = self._run(mol, mode, row)
        except Exception as err:  # noqa: BLE001 - one molecule's failure becomes its row
            row["reason"] = _one_line(err)
            result = LigandResult(row)
        row["seconds"] = round(time.perf_counter() - t0, 4)
        return result

    def _run(self, mol: Chem.Mol, mode: str, row: dict) -> LigandResult:
        s, v = self.settings, self.vina
        mol_h, row["h_added"] = with_explicit_hydrogens(mol)
        row["num_heavy_atoms"] = mol_h.GetNumHeavyAtoms()
        pdbqt = mol_to_pdbqt(mol_h)
        row["num_torsions"] = _torsdof(pdbqt)
        v.set_ligand_from_string(pdbqt)
        heavy = [a.GetIdx() for a in mol_h.GetAtoms() if a.GetAtomicNum() > 1]
        if self.box.contains(mol_h.GetConformer().GetPositions()[heavy]):
            try:
                terms = _score_terms(v.score())
                row["vina_in_place_kcal_mol"] = terms["vina_kcal_mol"]
            except RuntimeError:  # a polar H outside the box: Vina refuses; docking does not need it
                if mode != "dock":
                    raise
        elif mode != "dock":
            raise LigandError("ligand is outside the docking box; enlarge the box or centre it on the ligand")

        if mode == "score":
            poses, scores = [Chem.Mol(mol_h)], [terms["vina_kcal_mol"]]
        elif mode == "minimize":
            terms = _score_terms(v.optimize())
            poses, scores = pdbqt_to_mols(self._written_pose(), mol_h), [terms["vina_kcal_mol"]]
        else:
            v.dock(exhaustiveness=s.exhaustiveness, n_poses=s.num_poses)
            energies = v.energies(n_poses=s.num_poses, energy_range=s.energy_range)
            if len(energies) == 0:
                raise LigandError("Vina found no pose inside the box")
            poses = pdbqt_to_mols(v.poses(n_poses=s.num_poses, energy_range=s.energy_range), mol_h)
            # energies rows: [total, inter, intra, torsions, intra of the best pose]
            best = energies[0]
            terms = {"vina_kcal_mol": float(best[0]), "inter_kcal_mol": float(best[1]),
                     "intra_kcal_mol": float(best[2]), "torsion_kcal_mol": float(best[3])}
            scores = [float(e[0]) for e in energies]
        row.update(terms, num_poses=len(poses), status="ok")
        if mode != "score":
            row["rmsd_to_input_A"] = round(_heavy_rmsd(poses[0], mol_h), 3)
        for rank, (pose, score) in enumerate(zip(poses, scores, strict=True), start=1):
            pose.SetDoubleProp("vina_kcal_mol", score)
            pose.SetIntProp("pose_rank", rank)
        return LigandResult(row, poses)
