"""Validation inputs that partly fail: one warning naming the unreadable records, RDKit quiet; the vocabulary
taken from the SDF; the value columns each check adds (used to check a workflow's filter early)."""

from __future__ import annotations

import json
import logging

import pytest

import numpy as np
from rdkit import Chem

from molgen.chem.vocab import DRUG, QM9
from molgen.validation import CHECKS, ValidationConfig
from molgen.validation.io import ProteinAtoms, Record, read_sdf_records, sdf_vocab
from molgen.validation.runner import BASE_COLUMNS, CHECK_COLUMNS, table_columns, validate_record, validate_sdf
from tests.conftest import ROOT, run_cli

CHEAP = ["bond_lengths", "no_radicals"]


def _mixed_sdf(mols, tmp_path):
    good = Chem.MolToMolBlock(mols["ethanol"])
    lines = good.split("\n")
    lines[3] = "garbage line here"  # the counts line
    path = tmp_path / "mixed.sdf"
    path.write_text("$$$$\n".join([good, "\n".join(lines), good, "\n".join(lines)]) + "$$$$\n")
    return path


def test_unreadable_records_give_one_molgen_warning(mols, tmp_path, caplog, capfd):
    path = _mixed_sdf(mols, tmp_path)
    with caplog.at_level(logging.WARNING, logger="molgen.validation"):
        res = validate_sdf(path, tmp_path / "out", vocab=QM9, progress=False, checks=CHEAP)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"{path}: 2 of 4 records could not be read: records 2, 4 (counting from 1; "
                                  "first reason: RDKit could not parse the record: Cannot convert"), warnings[0]
    assert "Cannot convert" not in capfd.readouterr().err  # RDKit's own line does not reach the terminal
    assert res.table["read_ok"].tolist() == [True, False, True, False]
    assert res.table.loc[1, "reason"].startswith("RDKit could not parse the record: Cannot convert 'gar'")


def test_reading_a_good_file_warns_nothing(mols, tmp_path, caplog):
    path = tmp_path / "good.sdf"
    path.write_text(Chem.MolToMolBlock(mols["ethanol"]) + "$$$$\n")
    with caplog.at_level(logging.WARNING):
        assert all(r.mol is not None for r in read_sdf_records(path))
    assert not caplog.records


def test_vocabulary_from_the_sdf_or_the_summary_beside_it(mols, tmp_path):
    block = Chem.MolToMolBlock(mols["ethanol"])
    tagged = tmp_path / "tagged.sdf"
    tagged.write_text(block + ">  <molgen_vocab>\nqm9_heavy\n\n$$$$\n")
    assert sdf_vocab(tagged)[0] is QM9  # a heavy-atom model's molecules are written with hydrogens
    plain = tmp_path / "plain.sdf"
    plain.write_text(block + "$$$$\n")
    assert sdf_vocab(plain) == (DRUG, "the default (drug)")
    (tmp_path / "plain.json").write_text(json.dumps({"checkpoint": str(ROOT / "data" / "checkpoints" /
                                                                        "qm9_flow.ckpt")}))
    vocab, source = sdf_vocab(plain)
    assert vocab is QM9 and "qm9_flow.ckpt" in source


def test_validate_command_uses_the_sdf_vocabulary(mols, tmp_path, capsys):
    sdf = tmp_path / "gen.sdf"
    sel = Chem.RWMol(mols["ethanol"])
    sel.GetAtomWithIdx(2).SetAtomicNum(16)  # O -> S: in the drug vocabulary, not in QM9's
    sdf.write_text(Chem.MolToMolBlock(mols["ethanol"]) + ">  <molgen_vocab>\nqm9\n\n$$$$\n"
                   + Chem.MolToMolBlock(sel.GetMol()) + "$$$$\n")
    assert run_cli(["validate", str(sdf), "--out", str(tmp_path / "out")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["vocab"] == "qm9" and printed["n_failed_to_read"] == 1
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["config"]["vocab"] == "qm9"
    assert run_cli(["validate", str(sdf), "--out", str(tmp_path / "out2"), "--vocab", "drug"]) == 0
    assert json.loads(capsys.readouterr().out)["n_failed_to_read"] == 0


def test_check_columns_are_what_the_checks_return():
    """CHECK_COLUMNS (what a workflow filter may name) lists exactly the value columns of each check."""
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1C=CC1CC1"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    protein = ProteinAtoms("probe", np.array([[30.0, 0, 0]]), np.array(["C"]), np.array(["protein"]))
    base = set(validate_record(Record(0, "probe", mol), ValidationConfig(checks=()), None)[0])
    assert base - set(BASE_COLUMNS) == {"pb_valid"}
    assert set(CHECK_COLUMNS) == set(CHECKS)
    for name in CHECKS:
        row = validate_record(Record(0, "probe", mol), ValidationConfig(checks=(name,), n_conformers=4), protein)[0]
        assert set(row) - base - {name} == set(CHECK_COLUMNS[name]), name
    cols = table_columns(ValidationConfig(checks=("bond_lengths", "no_protein_clash")), with_protein=False)
    assert "bond_lengths_n_bad" in cols and "protein_clash_n" not in cols and cols[-1] == "pb_valid"


@pytest.mark.parametrize("route", ["cpp", "python"])
def test_unreadable_record_reason_survives_rdkit_log_settings(mols, tmp_path, caplog, route):
    """Sampling code disables RDKit's log (RDLogger.DisableLog), and meeko and posebusters send it to Python's
    logging on import (rdBase.LogToPythonLogger): either way the parser's message is the reason, molgen's
    warning is the only one, and the log settings are left as they were found."""
    import sys

    from rdkit import RDLogger, rdBase

    path = _mixed_sdf(mols, tmp_path)
    if route == "python":
        rdBase.LogToPythonLogger()
    RDLogger.DisableLog("rdApp.*")
    try:
        with caplog.at_level(logging.WARNING):
            res = validate_sdf(path, tmp_path / "out", vocab=QM9, progress=False, checks=CHEAP)
        assert "rdApp.warning:disabled" in rdBase.LogStatus()
    finally:
        RDLogger.EnableLog("rdApp.warning")
        RDLogger.EnableLog("rdApp.error")
        if route == "python" and not {"meeko", "posebusters"} & set(sys.modules):
            rdBase.LogToCppStreams()
    assert res.table.loc[1, "reason"].startswith("RDKit could not parse the record: Cannot convert 'gar'")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "2 of 4 records could not be read" in warnings[0], warnings
