"""MMFF relaxation in a fixed pocket (molgen.docking.relax) and the workflow's relax step: a crystal
ligand pushed into its protein comes out clear of it, an empty pocket is plain MMFF, one bad molecule
gets its reason while the batch goes on, the molecules of earlier steps stay the model's."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from rdkit import Chem
from rdkit.Chem import AllChem
from rdkit.Geometry import Point3D

from molgen.docking.relax import RELAX_COLUMNS, RelaxSettings, protein_heavy_atoms, relax_in_pocket
from tests.conftest import ROOT, run_cli

PB = ROOT / "data" / "complexes" / "posebusters" / "1S3V"
PROTEIN = PB / "1s3v_protein_one_lig_removed.pdb"
LIGAND = PB / "1s3v_ligand.sdf"
POCKET_MODEL = ROOT / "data" / "checkpoints" / "pocket_flow.ckpt"


@pytest.fixture(scope="module")
def protein() -> np.ndarray:
    return protein_heavy_atoms(PROTEIN)


@pytest.fixture(scope="module")
def crystal() -> Chem.Mol:
    return Chem.AddHs(Chem.MolFromMolFile(str(LIGAND)), addCoords=True)


def _shifted(mol: Chem.Mol, dx: float) -> Chem.Mol:
    out = Chem.Mol(mol)
    conf = out.GetConformer()
    for i in range(out.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, Point3D(p.x + dx, p.y, p.z))
    return out


def _min_dist(mol: Chem.Mol, protein: np.ndarray) -> float:
    pos = mol.GetConformer().GetPositions()
    heavy = pos[[a.GetAtomicNum() > 1 for a in mol.GetAtoms()]]
    return float(np.linalg.norm(heavy[:, None] - protein[None], axis=-1).min())


def test_a_ligand_pushed_into_the_protein_comes_out_clear(crystal, protein):
    clashing = _shifted(crystal, 2.0)
    before = clashing.GetConformer().GetPositions().copy()
    assert _min_dist(clashing, protein) < 2.0
    relaxed, row = relax_in_pocket(clashing, protein)
    assert list(row) == list(RELAX_COLUMNS)
    assert row["relax_status"] == "ok" and row["relax_converged"] and row["relax_reason"] == ""
    assert _min_dist(relaxed, protein) >= RelaxSettings().clash_distance - 0.05
    assert row["relax_min_protein_dist_before_A"] == pytest.approx(_min_dist(clashing, protein), abs=1e-3)
    assert row["relax_min_protein_dist_after_A"] == pytest.approx(_min_dist(relaxed, protein), abs=1e-3)
    assert row["relax_energy_after_kcal_mol"] < row["relax_energy_before_kcal_mol"]
    assert np.array_equal(clashing.GetConformer().GetPositions(), before)  # the input is not modified
    heavy = [a.GetAtomicNum() > 1 for a in crystal.GetAtoms()]
    moved = relaxed.GetConformer().GetPositions()[heavy] - before[heavy]
    assert row["relax_rmsd_A"] == pytest.approx(float(np.sqrt((moved ** 2).sum(-1).mean())), abs=1e-4)
    assert Chem.MolToSmiles(Chem.RemoveHs(relaxed)) == Chem.MolToSmiles(Chem.RemoveHs(crystal))


def test_without_protein_atoms_nearby_it_is_plain_mmff(crystal):
    far = np.array([[500.0, 500.0, 500.0]])
    relaxed, row = relax_in_pocket(crystal, far, RelaxSettings(max_iters=200))
    ref = Chem.Mol(crystal)
    props = AllChem.MMFFGetMoleculeProperties(ref)
    props.SetMMFFDielectricModel(2)
    props.SetMMFFDielectricConstant(4.0)
    ff = AllChem.MMFFGetMoleculeForceField(ref, props, ignoreInterfragInteractions=False)
    ff.Minimize(maxIts=200)
    assert np.allclose(relaxed.GetConformer().GetPositions(), ref.GetConformer().GetPositions(), atol=1e-6)
    assert row["relax_energy_after_kcal_mol"] == pytest.approx(ff.CalcEnergy(), abs=1e-3)
    assert row["relax_wall_kcal_mol"] == 0.0


def test_molecules_that_cannot_be_relaxed_get_a_reason(protein):
    _, row = relax_in_pocket(None, protein)
    assert row["relax_status"] == "failed" and "no readable structure" in row["relax_reason"]
    _, row = relax_in_pocket(Chem.Mol(), protein)
    assert row["relax_status"] == "failed" and row["relax_reason"] == "the molecule has no atoms"
    flat = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    _, row = relax_in_pocket(flat, protein)
    assert row["relax_status"] == "failed" and row["relax_reason"] == "the molecule has no coordinates"
    boron = Chem.AddHs(Chem.MolFromSmiles("OB(O)c1ccccc1"))
    AllChem.EmbedMolecule(boron, randomSeed=1)
    relaxed, row = relax_in_pocket(boron, protein)
    assert relaxed is None and row["relax_reason"] == "MMFF94 has no parameters for this molecule"


# ---- the workflow step -----------------------------------------------------------------------------------
def _input_chunk(run_root, crystal, protein_pos):
    """A fake 'validate' chunk 0: the crystal ligand pushed into the protein, an unreadable record, and a
    row without a record."""
    from molgen.pipeline.rundir import CHUNK_DONE, MOLECULES, TABLE_STEM, RunDir, format_record, write_table

    run = RunDir(run_root)
    d = run.chunk_dir("validate", 0)
    d.mkdir(parents=True)
    good = format_record(Chem.MolToMolBlock(_shifted(crystal, 2.0)), "gen_000000", {"qed": 0.5})
    bad = "gen_000001\n  junk\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 Xx  0  0\nM  END\n$$$$\n"
    (d / MOLECULES).write_text(good + bad)
    write_table(pd.DataFrame({"id": ["gen_000000", "gen_000001", "gen_000002"], "qed": [0.5, None, None]}),
                d / TABLE_STEM)
    (d / CHUNK_DONE).write_text(json.dumps({"chunk": 0, "files": {}}))
    return run


def test_relax_step_chunk_and_merge(tmp_path, crystal, protein):
    from molgen.pipeline.rundir import MOLECULES, TABLE_STEM, read_table, sdf_records
    from molgen.pipeline.schema import RELAX_COLUMNS as SCHEMA_COLUMNS
    from molgen.pipeline.schema import RelaxStep
    from molgen.pipeline.steps import ChunkTask, execute_chunk, merge_chunks, setup_relax

    assert tuple(SCHEMA_COLUMNS) == tuple(RELAX_COLUMNS)
    run = _input_chunk(tmp_path / "run", crystal, protein)
    step = RelaxStep(name="relax", input="validate", protein=PROTEIN)
    task = ChunkTask(str(run.root), step, 0, "fp", input_step="validate", context=setup_relax(step, run))
    meta = execute_chunk(task)
    assert (meta["n_in"], meta["n_out"], meta["n_ok"]) == (3, 3, 1)
    merged = merge_chunks(step, run, 1)
    table = read_table(run.step_dir("relax") / TABLE_STEM)
    assert list(table["id"]) == ["gen_000000", "gen_000001", "gen_000002"]
    assert list(table["relax_status"]) == ["ok", "failed", "failed"]
    assert table["relax_reason"].iloc[1] == "RDKit cannot read or sanitise the input record"
    assert table["relax_reason"].iloc[2] == "no structure in the input step's SDF"
    assert table["qed"].iloc[0] == 0.5  # the input's columns are carried
    assert set(RELAX_COLUMNS) <= set(table.columns)
    records = sdf_records((run.step_dir("relax") / MOLECULES).read_text())
    assert len(records) == 1 and records[0].startswith("gen_000000\n")
    mol = Chem.MolFromMolBlock(records[0], removeHs=False)
    assert _min_dist(mol, protein) >= RelaxSettings().clash_distance - 0.05
    assert merged["counts"]["relaxed"] == 1 and merged["metrics"]["num_failed"] == 2
    assert merged["metrics"]["failures"] == {"RDKit cannot read or sanitise the input record": 1,
                                             "no structure in the input step's SDF": 1}


def test_relax_step_when_every_molecule_fails_says_so(tmp_path, crystal, protein):
    from molgen.errors import MolgenError
    from molgen.pipeline.rundir import MOLECULES, TABLE_STEM, RunDir, write_table
    from molgen.pipeline.schema import RelaxStep
    from molgen.pipeline.steps import ChunkTask, execute_chunk, merge_chunks, setup_relax

    run = RunDir(tmp_path / "run")
    d = run.chunk_dir("validate", 0)
    d.mkdir(parents=True)
    (d / MOLECULES).write_text("")
    write_table(pd.DataFrame({"id": ["gen_000000"]}), d / TABLE_STEM)
    step = RelaxStep(name="relax", input="validate", protein=PROTEIN)
    execute_chunk(ChunkTask(str(run.root), step, 0, "fp", input_step="validate", context=setup_relax(step, run)))
    with pytest.raises(MolgenError, match="all 1 molecules failed relaxation"):
        merge_chunks(step, run, 1)


def _workflow(tmp_path, **relax) -> object:
    doc = {"name": "t", "seed": 1, "out_dir": str(tmp_path / "run"), "threads": 1, "steps": [
        {"name": "generate", "type": "generate", "mode": "pocket", "checkpoint": str(POCKET_MODEL),
         "protein": str(PROTEIN), "ref_ligand": str(LIGAND), "num": 2, "steps": 2, "batch_size": 2,
         "chunk_size": 2},
        {"name": "relax", "type": "relax", "input": "generate", "protein": str(PROTEIN), **relax},
        {"name": "keep", "type": "filter", "input": "relax", "where": "relax_status == 'ok' and relax_rmsd_A < 5"},
        {"name": "report", "type": "report"},
    ]}
    p = tmp_path / "wf.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def test_relax_step_in_the_schema(tmp_path):
    from molgen.errors import MolgenError
    from molgen.pipeline import load_workflow

    wf = load_workflow(_workflow(tmp_path))
    step = wf.step("relax")
    assert step.type == "relax" and step.method == "mmff" and step.protein == PROTEIN
    with pytest.raises(MolgenError) as err:
        load_workflow(_workflow(tmp_path, method="amber", max_iters=0, clash_distanse=3))
    text = str(err.value)
    assert "steps.relax.method" in text and "steps.relax.max_iters" in text
    assert "steps.relax.clash_distanse: unknown key (did you mean 'clash_distance'?)" in text
    missing = _workflow(tmp_path, protein=str(tmp_path / "nope.pdb"))
    assert run_cli(["run", str(missing)]) == 2


def test_relax_step_runs_in_a_workflow_and_leaves_the_model_molecules(tmp_path, monkeypatch, crystal, protein):
    """generate (its chunk work replaced by a stand-in that writes the crystal ligand pushed into the
    protein, and an unreadable record) -> relax -> filter: the run completes, one molecule is relaxed,
    the other is a row with its reason, and generate's SDF is untouched."""
    from molgen.pipeline import steps as steps_mod
    from molgen.pipeline.rundir import MOLECULES, TABLE_STEM, format_record, write_table, write_text_atomic

    clashing = Chem.MolToMolBlock(_shifted(crystal, 2.0))

    def fake_generate(task, run, out):
        ids = [f"gen_{task.start + i:06d}" for i in range(task.count)]
        text = format_record(clashing, ids[0], {}) + "".join(
            f"{i}\n  junk\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n" for i in ids[1:])
        write_text_atomic(out / MOLECULES, text)
        write_table(pd.DataFrame({"id": ids, "index": range(task.start, task.start + task.count), "chunk": task.k,
                                  "n_atoms": 27, "sanitized": [True] + [False] * (task.count - 1)}), out / TABLE_STEM)
        return {"n_in": task.count, "n_out": task.count, "n_sanitized": 1}

    monkeypatch.setitem(steps_mod._WORK, "generate", fake_generate)
    assert run_cli(["run", str(_workflow(tmp_path))]) == 0
    run = tmp_path / "run"
    gen_sdf = (run / "steps" / "generate" / MOLECULES).read_text()
    assert Chem.MolFromMolBlock(gen_sdf.split("$$$$")[0]).GetConformer().GetPositions() == pytest.approx(
        _shifted(crystal, 2.0).GetConformer().GetPositions()[[a.GetAtomicNum() > 1 for a in crystal.GetAtoms()]])
    relax = pd.read_parquet(run / "steps" / "relax" / "table.parquet")
    assert list(relax["relax_status"]) == ["ok", "failed"]
    assert relax["relax_reason"].iloc[1] == "the molecule has no atoms"  # RDKit reads a 0-atom record
    final = pd.read_csv(run / "final.csv")
    assert list(final["id"]) == ["gen_000000"] and set(RELAX_COLUMNS) <= set(final.columns)
    mol = next(iter(Chem.SDMolSupplier(str(run / "final.sdf"), removeHs=False)))
    assert _min_dist(mol, protein) >= RelaxSettings().clash_distance - 0.05
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["steps"]["relax"]["counts"]["relaxed"] == 1
    assert manifest["steps"]["relax"]["tool_versions"].keys() == {"molgen", "rdkit"}
    assert manifest["steps"]["report"]["status"] == "complete" and (run / "report.html").is_file()
