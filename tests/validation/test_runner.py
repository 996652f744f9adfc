"""validate_molecules / validate_sdf: inputs, bond sources, metrics.json, bad records, references."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from molgen.chem.vocab import DRUG, QM9
from molgen.errors import MolgenError
from molgen.validation import CHECKS, validate_molecules, validate_sdf
from molgen.validation.reference import QM9_DIR_ENV

CHEAP = ("sanitization", "all_atoms_connected", "no_radicals", "bond_lengths", "bond_angles",
         "no_internal_clash", "aromatic_ring_flatness", "double_bond_flatness")
SUMMARY_KEYS = {"atom_stable_edm", "mol_stable_edm", "atom_stable", "mol_stable", "valid", "valid_connected",
                "unique", "novel", "pb_valid"}


def _write_sdf(path, mols) -> None:
    with Chem.SDWriter(str(path)) as w:
        for m in mols:
            w.write(m)


def _strip_bonds(mol: Chem.Mol) -> Chem.Mol:
    rw = Chem.RWMol(mol)
    for b in list(rw.GetBonds()):
        rw.RemoveBond(b.GetBeginAtomIdx(), b.GetEndAtomIdx())
    return rw.GetMol()


def test_metrics_keys_and_values(mols, tmp_path):
    ref = tmp_path / "ref.txt"
    ref.write_text("smiles\nOc1ccccc1\n[C@@H](O)(C)F\nnot_a_smiles\n")
    batch = [mols["phenol"], mols["phenol"], mols["ethanol"], mols["toluene"]]
    res = validate_molecules(batch, reference=ref, progress=False, checks=CHEAP)
    m = res.metrics
    assert SUMMARY_KEYS <= set(m) and {"n_input", "n_failed_to_read", "checks", "distributions"} <= set(m)
    for key in SUMMARY_KEYS:
        assert 0.0 <= m[key] <= 1.0, key
    assert m["n_input"] == 4 and m["n_failed_to_read"] == 0
    assert m["valid"] == 1.0 and m["mol_stable"] == 1.0 and m["atom_stable"] == 1.0
    assert m["unique"] == pytest.approx(3 / 4)  # phenol twice
    assert m["novel"] == pytest.approx(2 / 3)  # phenol is in the reference
    assert m["reference"]["n_unreadable"] == 1 and m["reference"]["n_unique_smiles"] == 2
    assert set(m["checks"]) == set(CHEAP)
    assert m["pb_valid"] == 1.0
    assert m["distributions"]["geometry"].startswith("skipped")  # a SMILES reference has no 3D
    assert 0 <= m["distributions"]["atom_types_tv"] <= 1
    json.dumps(m)  # JSON-safe


def test_distributions_against_an_sdf_reference(mols, tmp_path):
    same = [mols[k] for k in ("paracetamol", "toluene", "heptane", "cyclohexane")]
    _write_sdf(tmp_path / "ref.sdf", same)
    d = validate_molecules(same, reference=tmp_path / "ref.sdf", progress=False, checks=CHEAP).metrics[
        "distributions"]
    assert d["n_atoms_tv"] == 0 and d["atom_types_tv"] == 0 and d["ring_sizes_tv"] == 0 and d["bond_types_tv"] == 0
    # the reference went through an SDF file: coordinates rounded to 1e-4 Å
    assert d["bond_length_w1_mean"] == pytest.approx(0, abs=1e-3) and d["torsion_w1"] == pytest.approx(0, abs=0.05)
    assert "C-C" in d["bond_length_w1"] and "C-C-C" in d["bond_angle_w1"]
    # stretch every bond of the generated set by 5 %: the C-C distance moves by about 0.05 x 1.5 Å
    scaled = []
    for m in same:
        m = Chem.Mol(m)
        conf = m.GetConformer()
        p = conf.GetPositions() * 1.05
        for i, x in enumerate(p):
            conf.SetAtomPosition(i, x.tolist())
        scaled.append(m)
    d = validate_molecules(scaled, reference=tmp_path / "ref.sdf", progress=False, checks=CHEAP).metrics[
        "distributions"]
    assert d["bond_length_w1"]["C-C"] == pytest.approx(0.05 * 1.52, rel=0.1)
    assert d["bond_angle_w1_mean"] == pytest.approx(0, abs=0.01)  # scaling keeps angles


def test_graph_input_matches_molecule_input(mols):
    from molgen.chem.convert import mol_to_graph

    batch = [mols[k] for k in ("pyrrole", "methylpyridinium", "paracetamol")]
    graphs = [mol_to_graph(m, DRUG) for m in batch]
    a = validate_molecules(graphs, vocab=DRUG, progress=False, checks=CHEAP).table
    b = validate_molecules(batch, progress=False, checks=CHEAP).table
    cols = ["n_atoms", "n_stable_atoms_edm", "n_stable_atoms", "mol_stable", "valid", "smiles", *CHEAP]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a["mol_stable"].all() and a["pb_valid"].all()
    # a graph without coordinates and one with a wrong bond order
    g = graphs[2].clone()
    del g.pos
    bad = graphs[0].clone()
    bad.bond_type[bad.bond_type == 1] = 2  # every single bond (including C-H, N-H) made double
    t = validate_molecules([g, bad], vocab=DRUG, progress=False, checks=CHEAP).table
    assert not t.loc[0, "read_ok"] and t.loc[0, "reason"] == "molecule has no conformer"
    assert t.loc[1, "read_ok"] and not t.loc[1, "valid"] and not t.loc[1, "mol_stable"]
    assert t.loc[1, "reason"].startswith("sanitization failed")
    with pytest.raises(ValueError, match="vocab"):
        validate_molecules(graphs, progress=False)


def test_bond_sources(mols):
    bare = _strip_bonds(mols["ethanol"])
    t = {b: validate_molecules([bare], progress=False, checks=CHEAP, bonds=b).table.iloc[0]
         for b in ("predicted", "edm", "rdkit")}
    assert not t["predicted"]["valid_connected"] and not t["predicted"]["mol_stable"]
    for b in ("edm", "rdkit"):
        assert t[b]["valid_connected"] and t[b]["smiles"] == "CCO" and t[b]["mol_stable"], b
    # protocol A ignores the bonds entirely
    assert len({r["n_stable_atoms_edm"] for r in t.values()}) == 1
    # RDKit perception fails on an impossible total charge; the row says why
    odd = Chem.RWMol(bare)
    odd.GetAtomWithIdx(0).SetFormalCharge(1)
    row = validate_molecules([odd.GetMol()], progress=False, checks=CHEAP, bonds="rdkit").table.iloc[0]
    assert not row["valid"] and row["reason"].startswith("RDKit bond perception failed")


def test_workers_give_the_same_table(mols):
    batch = [mols[k] for k in ("phenol", "toluene", "butane", "pyrrole", "heptane")]
    a = validate_molecules(batch, progress=False, checks=CHEAP, workers=0)
    b = validate_molecules(batch, progress=False, checks=CHEAP, workers=2)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.metrics == b.metrics


def _block(mol: Chem.Mol) -> str:
    return Chem.MolToMolBlock(mol)


def test_an_invalid_molecule_is_never_pb_valid(mols):
    """PoseBusters' first test is sanitization: without any check selected, pb_valid is valid, not vacuously True."""
    bad = Chem.RWMol(mols["ethanol"])
    bad.GetAtomWithIdx(0).SetFormalCharge(0)
    bad.GetAtomWithIdx(0).SetAtomicNum(9)  # C -> F with its three hydrogens: a five-valent fluorine
    res = validate_molecules([mols["ethanol"], bad.GetMol()], progress=False, checks=())
    assert res.table["valid"].tolist() == [True, False]
    assert res.table["pb_valid"].tolist() == [True, False] and res.metrics["pb_valid"] == 0.5


def test_bad_records_become_rows(mols, tmp_path):
    good = _block(mols["ethanol"])
    broken = good.replace("V2000", "V2000").splitlines()
    broken[4] = "    0.0000 garbage line"
    flat = Chem.Mol(mols["butane"])
    conf = flat.GetConformer()
    for i in range(flat.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x, p.y, 0.0))
    conf.Set3D(False)
    selenium = Chem.RWMol(mols["ethanol"])
    selenium.GetAtomWithIdx(2).SetAtomicNum(34)  # O -> Se: not in the QM9 vocabulary
    text = "$$$$\n".join([good, "\n".join(broken) + "\n", "", _block(flat), _block(selenium.GetMol()), good])
    path = tmp_path / "mixed.sdf"
    path.write_text(text + "$$$$\n")
    res = validate_sdf(path, tmp_path / "out", vocab=QM9, progress=False, checks=CHEAP)
    t = res.table
    assert len(t) == 6 and res.metrics["n_failed_to_read"] == 4 and res.metrics["n_input"] == 6
    assert t["read_ok"].tolist() == [True, False, False, False, False, True]
    assert t.loc[1, "reason"].startswith("RDKit could not parse the record")
    assert t.loc[2, "reason"] == "empty record"
    assert "2D" in t.loc[3, "reason"]
    assert t.loc[4, "reason"] == "element Se not in the qm9 vocabulary"
    assert not t.loc[1:4, "pb_valid"].any() and t.loc[[0, 5], "valid"].all()
    assert res.metrics["valid"] == pytest.approx(2 / 6)
    # outputs: table (Parquet), an SDF of the two readable molecules with properties, metrics.json
    table = pd.read_parquet(tmp_path / "out" / "validation.parquet")
    assert {"reason", "pb_valid", *CHEAP} <= set(table.columns) and len(table) == 6
    out = [m for m in Chem.SDMolSupplier(str(tmp_path / "out" / "validated.sdf"), removeHs=False)]
    assert len(out) == 2 and out[0].GetProp("pb_valid") == "True" and out[1].GetProp("index") == "5"
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["n_failed_to_read"] == 4 and saved["outputs"]["table"].endswith("validation.parquet")


def test_unreadable_files_raise_one_line_errors(mols, tmp_path):
    cases = {
        "missing.sdf": None,
        "empty.sdf": "",
        "text.sdf": "this is not\nan SDF file\n",
        "binary.sdf": bytes(range(256)) * 4,
        "all_broken.sdf": "x\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nnonsense\nM  END\n$$$$\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(content)
        with pytest.raises(MolgenError) as err:
            validate_sdf(path, progress=False)
        assert "\n" not in str(err.value) and name in str(err.value)
    gz = tmp_path / "ok.sdf.gz"
    gz.write_bytes(gzip.compress((_block(mols["ethanol"]) + "$$$$\n").encode()))
    assert validate_sdf(gz, progress=False, checks=CHEAP).metrics["valid"] == 1.0


def test_qm9_reference_from_a_prepared_folder(mols, tmp_path, monkeypatch):
    (tmp_path / "train_smiles.txt").write_text("CCO\nCCC\n")
    monkeypatch.setenv(QM9_DIR_ENV, str(tmp_path))
    m = validate_molecules([mols["ethanol"], mols["butane"]], reference="qm9", progress=False, checks=CHEAP).metrics
    assert m["novel"] == pytest.approx(0.5)
    monkeypatch.delenv(QM9_DIR_ENV)
    with pytest.raises(MolgenError, match="MOLGEN_QM9_DIR"):
        validate_molecules([mols["ethanol"]], reference="qm9", progress=False, checks=CHEAP)


def test_unknown_check_name_is_a_user_error(mols):
    with pytest.raises(MolgenError, match="unknown check"):
        validate_molecules([mols["ethanol"]], progress=False, checks=("bond_lengths", "nope"))


def test_full_check_set_on_a_small_batch(mols, distorted):
    """Every registered non-protein check runs; relaxed molecules pass, distorted ones do not."""
    res = validate_molecules([mols["paracetamol"], distorted["strained"]], progress=False, n_conformers=10)
    assert set(res.metrics["checks"]) == {n for n, c in CHECKS.items() if not c.protein}
    assert res.table["pb_valid"].tolist() == [True, False]
    # the molecule that passes has no reason; the one that fails names the checks it fails
    failed = [n for n, c in CHECKS.items() if c.pb and not c.protein and not res.table.loc[1, n]]
    assert pd.isna(res.table.loc[0, "reason"]) and failed
    assert res.table.loc[1, "reason"] == "failed checks: " + ", ".join(failed)
    assert np.isfinite(res.table["energy_ratio"]).all()
