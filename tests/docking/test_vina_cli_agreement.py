"""Our in-process Vina numbers equal the AutoDock Vina program's on the same PDBQT files and box.

Needs the ``vina`` executable (Debian/Ubuntu: ``apt-get install -y autodock-vina``); skipped otherwise.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from molgen.docking import DockSettings, VinaScorer, mol_to_pdbqt, pdbqt_to_mols, with_explicit_hydrogens

pytestmark = [
    pytest.mark.docking,
    pytest.mark.skipif(shutil.which("vina") is None,
                       reason="AutoDock Vina CLI not on PATH (apt-get install -y autodock-vina)"),
]

_ENERGY = re.compile(r"Estimated Free Energy of Binding\s*:\s*(-?\d+\.\d+)")


def _vina_cli(receptor, ligand, box, *extra: str) -> float:
    cmd = ["vina", "--receptor", str(receptor), "--ligand", str(ligand), "--cpu", "1", "--seed", "1"]
    for axis, c, s in zip("xyz", box.center, box.size):
        cmd += [f"--center_{axis}", repr(c), f"--size_{axis}", repr(s)]
    proc = subprocess.run(cmd + list(extra), check=True, timeout=300, capture_output=True, text=True)
    found = _ENERGY.findall(proc.stdout)
    assert found, proc.stdout[-2000:]
    return float(found[-1])  # after local search, the last report is the optimised pose


@pytest.mark.parametrize("case", ["s3v", pytest.param("prolif", marks=pytest.mark.slow)])
def test_score_and_local_optimisation_agree_with_vina_program(case, request, tmp_path):
    cplx = request.getfixturevalue(case)
    mol, _ = with_explicit_hydrogens(cplx.ligands[0])
    ligand = tmp_path / "ligand.pdbqt"
    ligand.write_text(mol_to_pdbqt(mol))

    scorer = VinaScorer(cplx.receptor.pdbqt, cplx.box, DockSettings(mode="score"))
    try:
        ours_score = scorer.run(mol).row["vina_kcal_mol"]
        res = scorer.run(mol, mode="minimize")
    finally:
        scorer.close()
    cli_score = _vina_cli(cplx.receptor.pdbqt, ligand, cplx.box, "--score_only")
    out = tmp_path / "local.pdbqt"
    cli_local = _vina_cli(cplx.receptor.pdbqt, ligand, cplx.box, "--local_only", "--out", str(out))

    assert ours_score == pytest.approx(cli_score, abs=0.01)
    assert res.row["vina_kcal_mol"] == pytest.approx(cli_local, abs=0.01)
    assert res.row["vina_kcal_mol"] <= ours_score + 1e-3
    # the same optimised pose, atom for atom
    (cli_pose,) = pdbqt_to_mols(out.read_text(), mol)
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    ours_xyz = res.poses[0].GetConformer().GetPositions()[heavy]
    cli_xyz = cli_pose.GetConformer().GetPositions()[heavy]
    assert np.abs(ours_xyz - cli_xyz).max() < 0.01
