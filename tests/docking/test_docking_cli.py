"""``molgen dock`` end to end, in a subprocess: exit codes, files, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from rdkit import Chem

CLI = [sys.executable, "-c", "from molgen.cli import main; main()"]


def _molgen(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], check=False, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def ligands_with_a_broken_record(s3v, tmp_path_factory):
    """The crystal ligand, a record RDKit rejects (pentavalent carbon), the crystal ligand again."""
    good = Chem.MolToMolBlock(s3v.ligands[0])
    path = tmp_path_factory.mktemp("cli_in") / "ligands.sdf"
    blocks = [good.replace("TQD", "first", 1), _pentavalent_carbon_block(), good.replace("TQD", "second", 1)]
    path.write_text("$$$$\n".join(blocks) + "$$$$\n")
    return path


def _pentavalent_carbon_block() -> str:
    """A 2-atom record whose carbon has valence 5 (explicit valence field), which RDKit refuses to sanitise."""
    return (
        "broken\n     RDKit          3D\n\n"
        "  2  1  0  0  0  0  0  0  0  0999 V2000\n"
        "    0.0000    0.0000    0.0000 C   0  0  0  0  0  5  0  0  0  0  0  0\n"
        "    1.5000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n"
        "  1  2  2  0\n"
        "M  END\n"
    )


def test_cli_minimize_end_to_end(s3v, ligands_with_a_broken_record, tmp_path):
    out = tmp_path / "run"
    proc = _molgen("dock", "--receptor", s3v.receptor_pdb, "--ligands", ligands_with_a_broken_record,
                   "--ref-ligand", s3v.ligand_sdf, "--mode", "minimize", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert (summary["num_ligands"], summary["num_ok"], summary["num_failed"]) == (3, 2, 1)
    assert {p.name for p in out.iterdir()} >= {"docking.csv", "poses.sdf", "receptor.pdbqt", "summary.json"}

    table = pd.read_csv(out / "docking.csv")
    assert list(table.columns[:6]) == ["index", "name", "mode", "vina_kcal_mol", "status", "reason"]
    assert list(table["name"]) == ["first", "ligand_1", "second"]  # input order, unreadable record named by index
    assert list(table["status"]) == ["ok", "failed", "ok"]
    assert "could not read" in table.loc[1, "reason"]
    assert (table.loc[[0, 2], "vina_kcal_mol"] <= table.loc[[0, 2], "vina_in_place_kcal_mol"] + 1e-3).all()

    poses = [m for m in Chem.SDMolSupplier(str(out / "poses.sdf"), removeHs=False)]
    assert [p.GetProp("_Name") for p in poses] == ["first", "second"]
    assert [p.GetIntProp("input_index") for p in poses] == [0, 2]
    for p, score in zip(poses, table.loc[[0, 2], "vina_kcal_mol"]):
        assert p.GetDoubleProp("vina_kcal_mol") == pytest.approx(score, abs=1e-3)
        assert p.GetNumAtoms() > s3v.ligands[0].GetNumAtoms()  # hydrogens were added and kept
        assert Chem.MolToSmiles(Chem.RemoveHs(p)) == Chem.MolToSmiles(s3v.ligands[0])
    saved = json.loads((out / "summary.json").read_text())
    assert saved["receptor"]["method"] == "meeko" and saved["box"]["size"][0] > 8


def test_cli_box_center_and_size(s3v, tmp_path):
    center = ",".join(f"{v:.3f}" for v in s3v.box.center)
    size = ",".join(f"{v:.3f}" for v in s3v.box.size)
    proc = _molgen("dock", "--receptor", s3v.receptor.pdbqt, "--ligands", s3v.ligand_sdf, "--mode", "score",
                   "--box-center", center, "--box-size", size, "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = pd.read_csv(tmp_path / "run" / "docking.csv")
    assert table.loc[0, "status"] == "ok" and table.loc[0, "vina_kcal_mol"] < -6


@pytest.mark.parametrize("which", ["receptor", "ligands"])
def test_cli_missing_file_is_one_line_and_exit_2(s3v, tmp_path, which):
    args = {"receptor": s3v.receptor_pdb, "ligands": s3v.ligand_sdf}
    args[which] = tmp_path / "nope.file"
    proc = _molgen("dock", "--receptor", args["receptor"], "--ligands", args["ligands"], "--out", tmp_path / "o")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "nope.file" in lines[0] and "not found" in lines[0]


def test_cli_all_failed_exits_2_but_writes_the_table(s3v, tmp_path):
    far = ",".join(f"{v + 80:.3f}" for v in s3v.box.center)
    proc = _molgen("dock", "--receptor", s3v.receptor.pdbqt, "--ligands", s3v.ligand_sdf, "--mode", "score",
                   "--box-center", far, "--box-size", "10,10,10", "--out", tmp_path / "o")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error:") and "all 1 ligands failed" in lines[-1]
    assert pd.read_csv(tmp_path / "o" / "docking.csv").loc[0, "status"] == "failed"


def test_cli_unparseable_receptor_is_a_user_error(s3v, tmp_path):
    bad = tmp_path / "bad.pdbqt"
    bad.write_text("ATOM      1  C   UNL     1       0.000   0.000   0.000  1.00  0.00    +0.000 Qq\n")
    proc = _molgen("dock", "--receptor", bad, "--ligands", s3v.ligand_sdf, "--out", tmp_path / "o")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error:") and "receptor" in lines[-1]
