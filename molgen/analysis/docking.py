"""Reference ligands scored as a run's dock step scored its molecules, for comparison.

A dock step's box comes from ``ref_ligand`` (or ``box``); those ligands (every record of the file,
e.g. the crystal ligand or a congeneric series) are what generated molecules are compared with.
:func:`dock_reference_ligands` scores them with the step's settings and the receptor the step
prepared (``steps/NAME/receptor.pdbqt``), so both sides of the comparison are computed the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from rdkit import Chem

from molgen.errors import MolgenError

log = logging.getLogger(__name__)


def dock_reference_ligands(run, step: str | None = None, ligands: str | Path | None = None,
                           mode: str | None = None) -> pd.DataFrame:
    """Vina scores of reference ligands with a dock step's receptor, box and settings.

    Args:
        run: a :class:`~molgen.analysis.Run`.
        step: the dock step (default: the last one).
        ligands: an SDF of reference ligands (default: the step's ``ref_ligand``).
        mode: ``score``, ``minimize`` or ``dock`` (default: the step's).

    Returns:
        One row per ligand: ``name``, ``vina_kcal_mol``, ``status``, ``reason``, ``qed``,
        ``n_heavy_atoms`` and ``mol`` (the best pose, an RDKit molecule; None when it failed).

    Raises:
        MolgenError: no dock step, no ligands to score, or the receptor is gone.
    """
    from molgen.docking import Box, dock_ligands, resolve_box
    from molgen.validation.properties import properties

    s = run.step(step, "dock")
    conf = s.settings
    ligands = ligands or conf.get("ref_ligand")
    if not ligands:
        raise MolgenError(f"dock step {s.name!r} has no ref_ligand; pass ligands=SDF")
    pdbqt = s.dir / "receptor.pdbqt"
    receptor = pdbqt if pdbqt.is_file() else Path(conf["receptor"])
    box = conf.get("box")
    box = Box(tuple(box["center"]), tuple(box["size"])) if box else None
    box = resolve_box(box, conf.get("ref_ligand") if box is None else None, [], conf.get("padding", 4.0))
    res = dock_ligands(receptor, ligands, mode or conf.get("mode", "score"), box,
                       exhaustiveness=conf.get("exhaustiveness", 8), num_poses=conf.get("num_poses", 9),
                       seed=conf.get("seed", 1), scoring=conf.get("scoring", "vina"), cpu=1, progress=False)
    rows = []
    for (_, r), poses in zip(res.table.iterrows(), res.poses):
        pose = poses[0] if poses else None
        props = {}
        if pose is not None:
            m = Chem.Mol(pose)
            if Chem.SanitizeMol(m, catchErrors=True) == Chem.SanitizeFlags.SANITIZE_NONE:
                props = properties(m)
        rows.append({"name": r.get("name"), "vina_kcal_mol": r.get("vina_kcal_mol"),
                     "status": r.get("status"), "reason": r.get("reason"), "qed": props.get("qed"),
                     "n_heavy_atoms": r.get("num_heavy_atoms"), "mol": pose})
    log.info("reference ligands of step %s: %d scored", s.name, sum(r["status"] == "ok" for r in rows))
    return pd.DataFrame(rows)
