"""Reference ligands scored with a dock step's receptor, box and settings."""

from __future__ import annotations

import pandas as pd
import pytest
from rdkit import Chem

from molgen.analysis import dock_reference_ligands, load_run
from molgen.errors import MolgenError


@pytest.mark.docking
def test_reference_ligands_score_as_the_dock_step_did(pocket_dir, quick_dir):
    run = load_run(pocket_dir)
    ref = dock_reference_ligands(run)
    assert ref["name"].tolist() == ["23", "26", "27", "29"] and (ref["status"] == "ok").all()
    assert list(ref.columns) == ["name", "vina_kcal_mol", "status", "reason", "qed", "n_heavy_atoms", "mol"]
    assert all(isinstance(m, Chem.Mol) for m in ref["mol"]) and ref["qed"].between(0, 1).all()
    # the run's first four "generated" ligands are these same poses, scored in place by the step
    docked = run.step("dock").table["vina_kcal_mol"].iloc[:4].tolist()
    pd.testing.assert_series_equal(ref["vina_kcal_mol"], pd.Series(docked, name="vina_kcal_mol"), atol=1e-3)
    with pytest.raises(MolgenError, match="no dock step"):
        dock_reference_ligands(load_run(quick_dir))
