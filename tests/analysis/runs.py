"""Small real runs for the analysis and notebook tests, made once per test session.

* :func:`training_run`: a tiny model trained for 6 steps over 3 short epochs, so ``logs/metrics.csv``
  holds train, validation and sampled-quality columns.
* :func:`quick_run`: ``generate -> validate -> report`` with that model, as the quickstart workflow
  (its molecules are poor: nothing is valid, which the analysis must survive).
* :func:`docked_run`: ``generate -> validate -> dock -> report`` into the MCL1 receptor of
  ``data/complexes/fep/mcl1_extra_flips``. The generate step's one chunk is given ligands (the four
  MCL1 FEP poses and one ligand of another system, whose pose lies outside the box), written
  where the engine keeps a finished chunk, because a 6-step model makes nothing Vina can read;
  validation, docking (``score``) and the report are the real steps.

Each builder returns an existing complete run instead of building it again, so the fixtures of
``tests/analysis`` and ``tests/notebooks`` share them within a session.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rdkit import Chem

from tests.conftest import DATA, ROOT, TINY_MODEL

MCL1 = DATA / "complexes" / "fep" / "mcl1_extra_flips"
RECEPTOR = MCL1 / "mcl1_extra_flips_protein.pdb"
REF_LIGANDS = MCL1 / "mcl1_extra_flips_ligands.sdf"
FEP_LIGANDS = DATA / "ligands" / "fep_ligands.sdf"


def _complete(run: Path) -> bool:
    try:
        return json.loads((run / "manifest.json").read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


def training_run(base: Path, qm9_prepared: Path) -> Path:
    """A training run directory (``model.ckpt``, ``logs/metrics.csv`` with val/ and val/sample_ columns)."""
    from molgen.config import load_config
    from molgen.training.train import train

    out = base / "train"
    if (out / "model.ckpt").is_file() and (out / "logs" / "metrics.csv").is_file():
        return out
    cfg = load_config(ROOT / "configs" / "qm9_flow.yaml", [
        f"data.train={qm9_prepared / 'train'}", f"data.val={qm9_prepared / 'val'}", f"out_dir={out}",
        "data.batch_size=16", "data.limit_train=32", "data.limit_val=16", "train.max_steps=6",
        "train.val_num_samples=4", "train.val_sample_steps=3", "optim.warmup_steps=2",
        "trainer.accelerator=cpu", "trainer.devices=1", "trainer.log_every_n_steps=1", *TINY_MODEL,
    ])
    return train(cfg)


def reference_sdf(base: Path, qm9_prepared: Path, n: int = 30) -> Path:
    """3D reference molecules: the first ``n`` training SMILES embedded with ETKDG and MMFF-relaxed."""
    from rdkit.Chem import AllChem

    path = base / "qm9_reference.sdf"
    if path.is_file():
        return path
    lines = (qm9_prepared / "train_smiles.txt").read_text().split()
    tmp = path.with_suffix(".tmp")
    with Chem.SDWriter(str(tmp)) as w:
        for i, smi in enumerate(lines[:n]):
            mol = Chem.AddHs(Chem.MolFromSmiles(smi))
            if AllChem.EmbedMolecule(mol, randomSeed=i) != 0:
                continue
            AllChem.MMFFOptimizeMolecule(mol)
            mol.SetProp("_Name", f"ref_{i}")
            w.write(mol)
    tmp.replace(path)
    return path


def _run(path: Path, doc: dict, prefill=None) -> Path:
    from molgen.pipeline import load_workflow, run_workflow

    run = Path(doc["out_dir"])
    if _complete(run):
        return run
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    wf = load_workflow(path)
    if prefill is not None:
        prefill(wf)
    result = run_workflow(wf, progress=False)
    assert result.ok, result.error
    return run


def quick_run(base: Path, checkpoint: Path, reference: Path) -> Path:
    """``generate (16, two chunks) -> validate (against ``reference``) -> report``."""
    doc = {"name": "quick", "seed": 0, "out_dir": str(base / "quick"), "workers": 0, "threads": 1, "steps": [
        {"name": "generate", "type": "generate", "checkpoint": str(checkpoint), "num": 16, "steps": 3,
         "batch_size": 8, "chunk_size": 8},
        {"name": "validate", "type": "validate", "input": "generate", "vocab": "qm9",
         "reference": str(reference),
         "checks": ["bond_lengths", "bond_angles", "no_radicals", "no_internal_clash"]},
        {"name": "report", "type": "report"},
    ]}
    return _run(base / "quick.yaml", doc)


def given_ligands() -> list[Chem.Mol]:
    """The four MCL1 poses (in the box) and a TYK2 ligand (outside it)."""
    ref = [m for m in Chem.SDMolSupplier(str(REF_LIGANDS), removeHs=False)]
    other = [m for m in Chem.SDMolSupplier(str(FEP_LIGANDS), removeHs=False)]
    return [*ref, other[0]]


def docked_run(base: Path, checkpoint: Path) -> Path:
    """``generate (given ligands) -> validate -> dock (score, MCL1) -> report``."""
    from molgen.pipeline.engine import fingerprints
    from molgen.pipeline.rundir import (
        RunDir,
        format_record,
        write_json_atomic,
        write_table,
        write_text_atomic,
    )

    mols = given_ligands()
    doc = {"name": "pocket", "seed": 0, "out_dir": str(base / "pocket"), "workers": 0, "threads": 1,
           "steps": [
        {"name": "generate", "type": "generate", "checkpoint": str(checkpoint), "num": len(mols),
         "chunk_size": len(mols)},
        {"name": "validate", "type": "validate", "input": "generate", "vocab": "drug",
         "reference": str(FEP_LIGANDS),
         "checks": ["bond_lengths", "bond_angles", "no_internal_clash", "strain_energy"],
         "thresholds": {"n_conformers": 4}},
        {"name": "dock", "type": "dock", "input": "validate", "receptor": str(RECEPTOR),
         "ref_ligand": str(REF_LIGANDS), "mode": "score"},
        {"name": "report", "type": "report"},
    ]}

    def prefill(wf) -> None:
        run = RunDir(wf.out_dir)
        chunk = run.chunk_dir("generate", 0)
        chunk.mkdir(parents=True, exist_ok=True)
        ids = [f"gen_{i:06d}" for i in range(len(mols))]
        write_text_atomic(chunk / "molecules.sdf", "".join(
            format_record(Chem.MolToMolBlock(m), i, {}) for i, m in zip(ids, mols)))
        write_table(pd.DataFrame({"id": ids, "index": range(len(mols)), "chunk": 0,
                                  "n_atoms": [m.GetNumAtoms() for m in mols], "sanitized": True}),
                    chunk / "table")
        write_json_atomic(chunk / "done.json", {
            "chunk": 0, "step": "generate", "type": "generate",
            "fingerprint": fingerprints(wf)["generate"]["chunk"], "n_in": len(mols), "n_out": len(mols),
            "n_sanitized": len(mols), "seed": None, "seconds": 0.0})

    return _run(base / "pocket.yaml", doc, prefill)


def write_quality_json(base: Path, checkpoint: Path) -> Path:
    """``benchmarks/sampling_quality.py`` on the tiny model: 4 molecules at 2 and 4 sampler steps."""
    from benchmarks.sampling_quality import main

    out = base / "quality.json"
    if not out.is_file():
        main(["--checkpoint", str(checkpoint), "--num", "4", "--steps", "2", "4", "--batch-size", "4",
              "--threads", "1", "--out", str(out)])
    return out


# ------------------------------------------------------------------------------ session fixtures
# Imported by the conftest.py of tests/analysis and tests/notebooks; the builders return what an
# earlier fixture of the session already made.
@pytest.fixture(scope="session")
def runs_base(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp() / "analysis_runs"
    base.mkdir(exist_ok=True)
    return base


@pytest.fixture(scope="session")
def training_dir(runs_base, qm9_prepared) -> Path:
    return training_run(runs_base, qm9_prepared)


@pytest.fixture(scope="session")
def quick_dir(runs_base, training_dir, qm9_prepared) -> Path:
    return quick_run(runs_base, training_dir / "model.ckpt", reference_sdf(runs_base, qm9_prepared))


@pytest.fixture(scope="session")
def pocket_dir(runs_base, training_dir) -> Path:
    pytest.importorskip("vina")
    pytest.importorskip("meeko")
    return docked_run(runs_base, training_dir / "model.ckpt")


@pytest.fixture(scope="session")
def quality_json(runs_base, training_dir) -> Path:
    return write_quality_json(runs_base, training_dir / "model.ckpt")
