"""Docking-pose scoring with AutoDock Vina (Python bindings, in process) and Meeko preparation.

Flow: receptor PDB -> PDBQT (:mod:`.receptor`, Meeko), ligand RDKit mol <-> PDBQT (:mod:`.ligand`,
Meeko), box from a reference ligand or centre + size (:mod:`.box`), Vina with maps computed once
per receptor (:mod:`.scorer`), batches over a pool of workers and the ``molgen dock`` outputs
(:mod:`.run`). Scores are in kcal/mol, coordinates in Å.

Example::

    from molgen.docking import dock_ligands
    res = dock_ligands("rec.pdb", "ligands.sdf", mode="minimize", ref_ligand="crystal.sdf")
    res.table[["name", "vina_kcal_mol", "status", "reason"]]; res.poses[0][0]  # best pose, RDKit mol
"""

from molgen.docking.box import DEFAULT_PADDING, Box, box_from_coords, box_from_mols, parse_xyz
from molgen.docking.ligand import LigandError, mol_to_pdbqt, pdbqt_to_mols, with_explicit_hydrogens
from molgen.docking.receptor import PreparedReceptor, prepare_receptor
from molgen.docking.run import (
    DockingResult,
    dock_ligands,
    parse_box_options,
    read_ligands,
    resolve_box,
    run_docking,
    write_poses,
)
from molgen.docking.scorer import MODES, DockSettings, LigandResult, VinaScorer

__all__ = [
    "DEFAULT_PADDING", "MODES", "Box", "DockSettings", "DockingResult", "LigandError", "LigandResult",
    "PreparedReceptor", "VinaScorer", "box_from_coords", "box_from_mols", "dock_ligands", "mol_to_pdbqt",
    "parse_box_options", "parse_xyz", "pdbqt_to_mols", "prepare_receptor", "read_ligands", "resolve_box",
    "run_docking", "with_explicit_hydrogens", "write_poses",
]
