"""Loading run directories, training logs and quality results into DataFrames and molecules."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from rdkit import Chem

from molgen.analysis import (
    best_molecules,
    load_quality,
    load_reference_set,
    load_run,
    load_training_log,
    quality_from_runs,
    read_molecules,
)
from molgen.errors import MolgenError


def test_load_quickstart_run(quick_dir):
    run = load_run(quick_dir)
    assert run.status == "complete" and run.name == "quick"
    assert list(run.steps) == ["generate", "validate", "report"]
    assert [s.type for s in run.steps.values()] == ["generate", "validate", "report"]
    # the final table is final.csv's content; step tables are the merged ones
    pd.testing.assert_frame_equal(run.final.reset_index(drop=True), pd.read_csv(quick_dir / "final.csv"),
                                  check_dtype=False)
    assert run.table("generate")["id"].tolist() == [f"gen_{i:06d}" for i in range(16)]
    assert {"valid", "qed", "sa", "n_atoms", "bond_lengths", "pb_valid"} <= set(run.step("validate").table)
    # metrics: the last validate step's metrics.json
    m = run.metrics()
    assert m == json.loads((quick_dir / "steps" / "validate" / "metrics.json").read_text())
    assert m["n_input"] == 16 and {"atom_stable_edm", "mol_stable_edm", "valid", "unique", "checks"} <= set(m)
    assert run.docking() == {}
    # molecules: read lazily, by id, kept
    mols = run.molecules()
    assert set(mols) <= set(run.final["id"]) and len(mols) == len(read_molecules(quick_dir / "final.sdf"))
    assert all(isinstance(m, Chem.Mol) and m.GetNumConformers() == 1 for m in mols.values())
    assert run.molecules() is mols
    # pooled features of the validate step: one per readable molecule
    feats = run.step("validate").features
    assert feats.n_molecules == int(run.step("validate").table["read_ok"].sum())
    assert run.step("generate").features is None
    # the reference named by the validate step, loaded once
    ref = run.reference()
    assert ref is run.reference() and len(ref.table) > 10 and ref.has_geometry
    assert ref.table["qed"].between(0, 1).all() and (ref.table["n_atoms"] >= ref.table["n_heavy_atoms"]).all()


def test_step_lookup_errors(quick_dir, tmp_path):
    run = load_run(quick_dir)
    assert run.step(kind="validate").name == "validate" and run.step().name == "validate"
    with pytest.raises(MolgenError, match="no step 'dock'"):
        run.step("dock")
    with pytest.raises(MolgenError, match="no dock step"):
        run.step(kind="dock")
    with pytest.raises(MolgenError, match="not a run directory"):
        load_run(tmp_path)


def test_best_molecules_ranks_and_filters():
    t = pd.DataFrame({"id": list("abcde"), "valid": [True, True, False, True, True],
                      "qed": [0.2, 0.9, 0.95, None, 0.5], "vina_kcal_mol": [-5.0, -7.0, -9.0, -8.0, None]})
    # by Vina score when there is one, lower is better; invalid molecules left out
    assert best_molecules(t, n=3)["id"].tolist() == ["d", "b", "a"]
    assert best_molecules(t, by="qed", n=2)["id"].tolist() == ["b", "e"]
    assert best_molecules(t, by="qed", n=5, valid_only=False)["id"].tolist() == ["c", "b", "e", "a"]
    assert best_molecules(t.drop(columns=["qed", "vina_kcal_mol"]), n=2)["id"].tolist() == ["a", "b"]


def test_training_log_one_row_per_step(training_dir):
    log = load_training_log(training_dir)
    raw = pd.read_csv(training_dir / "logs" / "metrics.csv")
    assert log["step"].tolist() == sorted(raw["step"].unique())
    assert {"train/loss", "val/loss", "val/sample_valid", "epoch"} <= set(log)
    assert log["train/loss"].notna().all()  # every step has its training loss on its one row
    assert log["val/loss"].notna().sum() == raw["val/loss"].notna().sum() == 3  # three epochs validated
    pd.testing.assert_frame_equal(load_training_log(training_dir / "logs" / "metrics.csv"), log)
    with pytest.raises(MolgenError, match="no training log"):
        load_training_log(training_dir / "checkpoints")


def test_quality_tables(quality_json, quick_dir):
    q = load_quality(quality_json)
    assert q["steps"].tolist() == [2, 4] and {"valid", "mol_stable_edm", "molecules_per_s"} <= set(q)
    assert load_quality(json.loads(quality_json.read_text())).equals(q)
    runs = quality_from_runs([quick_dir])
    assert runs["steps"].tolist() == [3] and runs["num"].tolist() == [16]
    assert runs["valid"].iloc[0] == load_run(quick_dir).metrics()["valid"]
    with pytest.raises(MolgenError, match="no rows"):
        load_quality({"rows": []})


def test_reference_set_from_smiles(tmp_path):
    p = tmp_path / "ref.smi"
    p.write_text("smiles\nCCO\nc1ccccc1 benzene\nnot_a_smiles\nCC(=O)O\n")
    ref = load_reference_set(p, max_molecules=None)
    assert ref.table["smiles"].tolist() == ["CCO", "c1ccccc1", "CC(=O)O"] and ref.n_unreadable == 1
    assert ref.table["n_atoms"].tolist() == [9, 12, 8] and not ref.has_geometry
    sub = load_reference_set(p, max_molecules=2)
    assert len(sub.table) + sub.n_unreadable == 2 and sub.n_total == 4
