"""Pocket and fragment generate steps in `molgen run`, on the shipped pocket model: protein frame,
fixed atoms exactly in place, SIGKILL + resume and shards equal to an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from rdkit import Chem

from tests.conftest import ROOT, run_cli
from tests.pipeline.helpers import assert_same_final, read_sdf

POCKET_MODEL = ROOT / "data" / "checkpoints" / "pocket_flow.ckpt"
PB = ROOT / "data" / "complexes" / "posebusters" / "1S3V"
PROTEIN = PB / "1s3v_protein_one_lig_removed.pdb"
LIGAND = PB / "1s3v_ligand.sdf"
SMARTS = "c1cc(OC)c(OC)c(OC)c1"


def _workflow(path: Path, out: Path, mode: str, **gen) -> Path:
    """generate (4 ligands of 20-30 atoms, 3 sampler steps, chunks of 1) -> validate (two cheap checks,
    with the protein) -> report."""
    g = {"name": "generate", "type": "generate", "mode": mode, "checkpoint": str(POCKET_MODEL),
         "protein": str(PROTEIN), "ref_ligand": str(LIGAND), "num": 4, "steps": 3, "batch_size": 1,
         "chunk_size": 1, "atoms_range": [20, 30], **gen}
    doc = {"name": "t", "seed": 5, "out_dir": str(out), "threads": 1, "steps": [
        g,
        {"name": "validate", "type": "validate", "input": "generate", "vocab": "drug", "protein": str(PROTEIN),
         "checks": ["bond_lengths", "protein_max_distance"]},
        {"name": "report", "type": "report"}]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def fragment_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("fragment")
    wf = _workflow(tmp / "wf.yaml", tmp / "run", "fragment", fragment_smarts=SMARTS, atoms_range=[30, 36])
    assert run_cli(["run", str(wf)]) == 0
    return tmp / "run"


def test_pocket_step_writes_ligands_in_the_protein_frame(tmp_path):
    wf = _workflow(tmp_path / "wf.yaml", tmp_path / "run", "pocket")
    assert run_cli(["run", str(wf)]) == 0
    run = tmp_path / "run"
    cond = json.loads((run / "steps" / "generate" / "condition.json").read_text())
    assert cond["mode"] == "pocket" and cond["pocket"]["mode"] == "ref_ligand" and cond["fragment"] is None
    ref = Chem.MolFromMolFile(str(LIGAND)).GetConformer().GetPositions().mean(0)
    for mol in read_sdf(run / "steps" / "generate" / "molecules.sdf"):
        # atoms_range counts the model's atoms: heavy atoms (RDKit adds hydrogens to the sanitisable ones)
        assert 20 <= sum(a.GetAtomicNum() > 1 for a in mol.GetAtoms()) <= 30
        pos = mol.GetConformer().GetPositions()
        # sampled around the pocket centre in the protein's coordinates (it is ~30 Å from the origin)
        assert np.linalg.norm(pos.mean(0) - np.array(cond["pocket"]["center"])) < 6.0
        assert np.linalg.norm(pos.mean(0) - ref) < 8.0
    table = json.loads((run / "manifest.json").read_text())["steps"]["validate"]
    assert table["counts"]["output"] == 4
    # residues instead of the reference ligand: the same centre of the same residues' atoms
    wf = _workflow(tmp_path / "wf2.yaml", tmp_path / "run2", "pocket", ref_ligand=None,
                   residues=[f"A:{r}" for r in (5, 6, 7, 27, 31, 94)])
    assert run_cli(["run", str(wf)]) == 0
    cond2 = json.loads((tmp_path / "run2" / "steps" / "generate" / "condition.json").read_text())
    assert cond2["pocket"]["mode"] == "residues" and cond2["pocket"]["residues"] == 6


def test_fragment_step_keeps_the_matched_atoms_exactly(fragment_run):
    ref = Chem.MolFromMolFile(str(LIGAND), removeHs=False)
    cond = json.loads((fragment_run / "steps" / "generate" / "condition.json").read_text())
    atoms = cond["fragment"]["reference_atoms"]
    # the shipped model is a heavy-atom model: the match is 6 ring C, 3 O, 3 methyl C, no hydrogens
    assert cond["fragment"]["atoms"] == len(atoms) == 12
    # output atom i is reference atom atoms[i], where the crystal has it
    heavy = list(enumerate(atoms))
    assert all(a < ref.GetNumAtoms() for a in atoms)
    want = ref.GetConformer().GetPositions()[[a for _, a in heavy]]
    mols = read_sdf(fragment_run / "steps" / "generate" / "molecules.sdf")
    assert len(mols) == 4
    for m in mols:
        got = m.GetConformer().GetPositions()[[i for i, _ in heavy]]
        assert np.abs(got - want).max() < 1e-4  # SDF precision: 4 decimals
        assert [m.GetAtomWithIdx(i).GetSymbol() for i, _ in heavy] == \
               [ref.GetAtomWithIdx(a).GetSymbol() for _, a in heavy]


def test_fragment_run_killed_then_resumed_equals_uninterrupted(fragment_run, tmp_path):
    wf = _workflow(tmp_path / "wf.yaml", tmp_path / "run", "fragment", fragment_smarts=SMARTS, atoms_range=[30, 36])
    env = {**os.environ, "MOLGEN_TEST_KILL_AFTER_CHUNKS": "2", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "molgen.cli", "run", str(wf)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path, check=False)
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert run_cli(["run", str(wf), "--resume"]) == 0
    assert_same_final(fragment_run, tmp_path / "run")
    # and as two shards, merged
    wf = _workflow(tmp_path / "wf2.yaml", tmp_path / "run2", "fragment", fragment_smarts=SMARTS, atoms_range=[30, 36])
    assert run_cli(["run", str(wf), "--shard", "0/2"]) == 0
    assert run_cli(["run", str(wf), "--shard", "1/2"]) == 0
    assert run_cli(["merge", str(tmp_path / "run2")]) == 0
    assert_same_final(fragment_run, tmp_path / "run2")
