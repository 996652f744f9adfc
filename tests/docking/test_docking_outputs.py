"""`molgen dock` on an output folder it cannot write, and on an SDF with unreadable records."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from molgen.docking import read_ligands, run_docking
from molgen.errors import MolgenError
from tests.conftest import run_cli
from tests.docking.test_docking_cli import _pentavalent_carbon_block

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("kind", ["file", "under_a_file"])
def test_output_that_cannot_be_written_is_refused_before_docking(kind, tmp_path, capsys, monkeypatch):
    from molgen.docking import run

    monkeypatch.setattr(run, "dock_ligands", lambda *a, **k: pytest.fail("docked before the output was checked"))
    blocker = tmp_path / "docking_out"
    blocker.write_text("a file where the output folder should go")
    out = blocker if kind == "file" else blocker / "sub"
    with pytest.raises(MolgenError) as exc:
        run_docking(DATA / "1s3v_protein.pdb.gz", DATA / "1s3v_ligand.sdf", out)
    expected = ("output folder is an existing file, not a folder" if kind == "file"
                else f"cannot write the output folder: {blocker} is a file, not a folder")
    assert str(exc.value) == f"{out}: {expected}"
    code = run_cli(["dock", "-r", str(DATA / "1s3v_protein.pdb.gz"), "-l", str(DATA / "1s3v_ligand.sdf"), "--out",
                    str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"error: {out}: {expected}"


def test_unreadable_records_give_one_warning(tmp_path, caplog, capfd):
    good = (DATA / "1s3v_ligand.sdf").read_text().split("$$$$")[0].strip("\n") + "\n"
    path = tmp_path / "ligands.sdf"
    path.write_text(f"{good}$$$$\n{_pentavalent_carbon_block()}$$$$\n{good}$$$$\n")
    with caplog.at_level(logging.WARNING, logger="molgen.docking"):
        mols = read_ligands(path)
    assert [m is None for m in mols] == [False, True, False]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [(f"{path}: 1 of 3 records could not be read by RDKit: record 2 (counting from 1); they are "
                         "rows with status failed")]
    assert "valence" not in capfd.readouterr().err.lower()  # RDKit's own lines stay quiet
