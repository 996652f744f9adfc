"""SDF reader: the committed ligands, hydrogens added, broken records, unknown elements, the CLI."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from molgen.chem.vocab import DRUG, QM9
from molgen.data.cache import MoleculeCache
from molgen.data.sdf import find_sdf_files, load_sdf, prepare_sdf, read_sdf
from molgen.errors import MolgenError


def test_reads_all_ligands_with_elements_and_coordinates(ligands_sdf: Path) -> None:
    ref = list(Chem.SDMolSupplier(str(ligands_sdf), removeHs=False))
    items = list(read_sdf(ligands_sdf, DRUG))
    assert len(items) == len(ref) == 40
    for (rid, g), mol in zip(items, ref):
        assert not isinstance(g, str), (rid, g)
        assert [DRUG.elements[t] for t in g.atom_type.tolist()] == [a.GetSymbol() for a in mol.GetAtoms()]
        assert [DRUG.charges[c] for c in g.charge.tolist()] == [a.GetFormalCharge() for a in mol.GetAtoms()]
        np.testing.assert_array_equal(g.pos.numpy(), mol.GetConformer().GetPositions().astype(np.float32))
        assert g.name == mol.GetProp("_Name")
        assert g.edge_index.shape[1] == 2 * mol.GetNumBonds()
    assert items[0][0] == "fep_ligands.sdf:0" and items[39][0] == "fep_ligands.sdf:39"


def test_missing_hydrogens_are_added_with_coordinates(complexes_dir: Path) -> None:
    path = complexes_dir / "posebusters/1S3V/1s3v_ligand.sdf"
    heavy = Chem.MolFromMolFile(str(path))
    assert all(a.GetAtomicNum() > 1 for a in heavy.GetAtoms())  # the file has no H
    (g,) = load_sdf(path, DRUG)
    assert g.num_nodes == Chem.AddHs(heavy).GetNumAtoms() == 56
    n = heavy.GetNumAtoms()
    np.testing.assert_array_equal(g.pos[:n].numpy(), heavy.GetConformer().GetPositions().astype(np.float32))
    h = DRUG.elements.index("H")
    ij = g.edge_index[:, g.edge_index[0] < g.edge_index[1]]
    with_h = (g.atom_type[ij[0]] == h) | (g.atom_type[ij[1]] == h)
    lengths = (g.pos[ij[0, with_h]] - g.pos[ij[1, with_h]]).norm(dim=1)
    assert int(with_h.sum()) == 56 - n and bool(((lengths > 0.9) & (lengths < 1.2)).all())


def test_broken_records_are_skipped_with_reasons(broken_sdf: Path, tmp_path: Path) -> None:
    items = list(read_sdf(broken_sdf, DRUG))
    assert [isinstance(g, str) for _, g in items] == [False, True, True, False]
    assert items[1][1] == "RDKit sanitisation failed: AtomValenceException"
    assert items[2][1] == "SDF record could not be parsed: Atom line too short"
    summary = prepare_sdf([broken_sdf], tmp_path / "out", DRUG, None)
    assert summary["kept"] == 2 and summary["skipped"] == 2
    assert summary["skip_reasons"] == {
        "RDKit sanitisation failed: AtomValenceException": 1,
        "SDF record could not be parsed: Atom line too short": 1,
    }
    assert summary["skip_examples"]["RDKit sanitisation failed: AtomValenceException"] == "broken.sdf:1"
    cache = MoleculeCache(tmp_path / "out")
    assert [g.name for g in cache] == ["jmc_23", "ejm_47"]
    assert json.loads((tmp_path / "out/summary.json").read_text())["kept"] == 2
    assert (tmp_path / "out/stats.json").is_file()


def test_unknown_element_is_named(selenophene_sdf: Path, ligands_sdf: Path) -> None:
    assert [g for _, g in read_sdf(selenophene_sdf, QM9)] == ["element Se not in the qm9 vocabulary"]
    assert [g for _, g in read_sdf(selenophene_sdf, DRUG)] == ["element Se not in the drug vocabulary"]
    reasons = [g for _, g in read_sdf(ligands_sdf, QM9) if isinstance(g, str)]
    assert reasons[0] == "element Cl not in the qm9 vocabulary"  # record 0 (jmc_23) has Cl after C, N, O
    assert len(reasons) == 28  # 12 of the 40 ligands have only H, C, N, O, F


def test_2d_record_is_skipped(tmp_path: Path) -> None:
    mol = Chem.MolFromSmiles("c1ccccc1O")
    AllChem.Compute2DCoords(mol)
    path = tmp_path / "flat.sdf"
    with Chem.SDWriter(str(path)) as w:
        w.write(mol)
    assert [g for _, g in read_sdf(path, DRUG)] == ["conformer is 2D, not 3D"]


def test_prepare_folder_with_limit_and_gzip(ligands_sdf: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in" / "nested"
    folder.mkdir(parents=True)
    with gzip.open(folder / "ligands.sdf.gz", "wt") as fh:
        fh.write(ligands_sdf.read_text())
    assert find_sdf_files([tmp_path / "in"]) == [folder / "ligands.sdf.gz"]
    plain = [g for _, g in read_sdf(ligands_sdf, DRUG)]
    zipped = [g for _, g in read_sdf(folder / "ligands.sdf.gz", DRUG)]
    assert all(
        torch.equal(a.pos, b.pos) and torch.equal(a.bond_type, b.bond_type) for a, b in zip(plain, zipped)
    )
    summary = prepare_sdf([tmp_path / "in"], tmp_path / "out", DRUG, limit=5)
    assert summary["kept"] == 5 and len(MoleculeCache(tmp_path / "out")) == 5


def test_missing_and_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(MolgenError, match="SDF file not found") as err:
        list(read_sdf(tmp_path / "nope.sdf", DRUG))
    assert str(tmp_path / "nope.sdf") in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MolgenError, match="no .*sdf.* file in this folder"):
        find_sdf_files([tmp_path])
    (tmp_path / "bad.sdf.gz").write_text("not gzip")
    with pytest.raises(MolgenError, match="cannot read SDF file"):
        list(read_sdf(tmp_path / "bad.sdf.gz", DRUG))
    (tmp_path / "empty.sdf").write_text("")
    with pytest.raises(MolgenError, match="no usable molecule"):
        load_sdf(tmp_path / "empty.sdf", DRUG)
    with pytest.raises(MolgenError, match="no usable molecule"):
        prepare_sdf([tmp_path / "empty.sdf"], tmp_path / "out", DRUG, None)


def test_cli_prepare_sdf(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from molgen.cli import main

    monkeypatch.chdir(repo_root)
    main(["data", "prepare", "sdf", "data/ligands", "--out", str(tmp_path / "x")])
    summary = json.loads((tmp_path / "x/summary.json").read_text())
    assert summary["kept"] == 40 and summary["skipped"] == 0


def test_cli_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sdf"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "molgen.cli",
            "data",
            "prepare",
            "sdf",
            str(missing),
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: {missing}: SDF file not found"]
    assert "Traceback" not in proc.stderr + proc.stdout
