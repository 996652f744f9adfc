"""The workflow schema: every problem in one message with its YAML path, overrides by step name, shards."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from molgen.errors import MolgenError
from molgen.pipeline import load_workflow, parse_shard
from molgen.pipeline.steps import apply_condition
from tests.conftest import ROOT, run_cli
from tests.pipeline.helpers import write_workflow

QUICKSTART = ROOT / "workflows" / "quickstart.yaml"


@pytest.fixture
def ckpt(tmp_path) -> Path:
    """A file standing in for a checkpoint: the schema only checks that it exists."""
    p = tmp_path / "model.ckpt"
    p.write_bytes(b"not read by the schema")
    return p


def test_every_problem_listed_once_with_exit_2(tmp_path, ckpt, capsys):
    doc = {
        "name": "bad", "seed": "zero", "out_dir": str(tmp_path / "run"),
        "executor": {"name": "local", "adress": "tcp://x:1"},
        "steps": [
            {"name": "generate", "type": "generate", "checkpoint": "missing.ckpt", "num": 4, "stesp": 3},
            {"name": "check", "type": "validat", "input": "generate"},
            {"name": "v2", "type": "validate", "input": "genrate", "checks": ["bond_length"]},
            {"name": "keep", "type": "filter", "input": "v2", "where": "qed >"},
            {"name": "d", "type": "dock", "input": "keep", "receptor": str(ckpt), "box": {"center": [0, 0, 0],
                                                                                         "size": [1, 1, "big"]}},
        ],
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert run_cli(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one line
    expected = [
        "seed: Input should be a valid integer",
        "executor.adress: unknown key (did you mean 'address'?)",
        "steps.generate.stesp: unknown key (did you mean 'steps'?)",
        "steps.check.type: unknown step type 'validat' (did you mean 'validate'?)",
        "steps.v2.input: unknown step 'genrate' (did you mean 'generate'?)",
        "steps.v2.checks: unknown check(s) 'bond_length' (did you mean 'bond_lengths'?)",
        "steps.keep.where: not a valid condition",
        "steps.d.box.size.2: Input should be a valid number",
        f"steps.generate.checkpoint: file not found: {tmp_path / 'missing.ckpt'}",  # relative to the file
    ]
    for part in expected:
        assert part in err, f"{part!r} not in {err}"
    assert "invalid workflow (9 problems)" in err
    assert not (tmp_path / "run").exists()  # nothing ran


def test_step_graph_problems(tmp_path, ckpt):
    path = write_workflow(tmp_path / "wf.yaml", ckpt, tmp_path / "run", steps=[
        {"name": "keep", "type": "filter", "input": "later", "where": "valid"},
        {"name": "later", "type": "validate", "input": "generate"},
        {"name": "later", "type": "report"},
        {"name": "dock", "type": "dock", "input": "generate", "receptor": str(ckpt)},
        {"name": "v", "type": "validate", "input": "later"},
    ])
    with pytest.raises(MolgenError) as info:
        load_workflow(path)
    msg = str(info.value)
    assert "steps.keep.input: step 'later' comes after 'keep'" in msg
    assert "steps.later.name: duplicate step name 'later'" in msg
    assert "steps.dock: dock needs 'box' (center, size) or 'ref_ligand'" in msg


def test_condition_keys_per_mode(tmp_path, ckpt):
    """Which keys pocket and fragment modes need and refuse; every problem named with its path."""
    prot = tmp_path / "p.pdb"
    prot.write_text("ATOM\n")

    def problems(**gen) -> str:
        path = write_workflow(tmp_path / "wf.yaml", ckpt, tmp_path / "run")
        overrides = [f"steps.generate.{k}={v}" for k, v in gen.items()]
        with pytest.raises(MolgenError) as info:
            load_workflow(path, overrides)
        return str(info.value)

    msg = problems(mode="pocket")
    assert "steps.generate.protein: mode 'pocket' needs the protein" in msg
    assert "steps.generate: mode 'pocket' needs one of ref_ligand, residues, box" in msg
    assert "mode 'unconditional' takes no protein" in problems(protein=str(prot))
    msg = problems(mode="pocket", protein=str(prot), residues='["A:1"]', box="{center: [0,0,0], size: [9,9,9]}")
    assert "give either residues or box, not both" in msg
    assert "mode 'fragment' needs fragment (SDF of the atoms to keep) or fragment_smarts" in problems(mode="fragment")
    msg = problems(mode="fragment", fragment_smarts="c1ccccc1")
    assert "steps.generate.fragment_smarts: is matched on ref_ligand" in msg
    assert "cannot parse SMARTS 'c1ccc(('" in problems(mode="fragment", fragment_smarts="c1ccc((")
    msg = problems(mode="fragment", fragment=str(tmp_path / "missing.sdf"), residues='["A:1"]')
    assert "steps.generate.fragment: file not found" in msg and "residues defines a pocket: give the protein" in msg
    assert "unknown mode 'pockt' (did you mean 'pocket'?)" in problems(mode="pockt")
    msg = problems(mode="pocket", protein=str(prot), residues='["A:1"]', sizes="reference", num_atoms=12)
    assert "steps.generate.sizes: 'reference' needs a pocket cut around ref_ligand" in msg
    assert "steps.generate.sizes: 'reference' draws sizes around ref_ligand's: give either it or num_atoms" in msg
    assert "steps.generate.sizes" in problems(mode="pocket", protein=str(prot), residues='["A:1"]', sizes="refrence")
    # a complete pocket step passes (the fake checkpoint is not a model: its kind is checked when loaded)
    path = write_workflow(tmp_path / "wf.yaml", ckpt, tmp_path / "run")
    wf = load_workflow(path, ["steps.generate.mode=pocket", f"steps.generate.protein={prot}",
                              "steps.generate.residues=[A:1, A:2]"])
    assert wf.step("generate").residues == ["A:1", "A:2"] and wf.step("generate").protein == prot


def test_model_kind_must_fit_the_mode(tmp_path, tiny_checkpoint):
    """A QM9 model cannot take a protein; a pocket model needs one (checked before anything runs)."""
    pocket_model = ROOT / "data" / "checkpoints" / "pocket_flow.ckpt"
    prot = ROOT / "data" / "complexes" / "posebusters" / "1S3V" / "1s3v_protein_one_lig_removed.pdb"
    path = write_workflow(tmp_path / "wf.yaml", tiny_checkpoint, tmp_path / "run")
    with pytest.raises(MolgenError, match="this model was trained without a pocket"):
        load_workflow(path, ["steps.generate.mode=pocket", f"steps.generate.protein={prot}",
                             "steps.generate.residues=[A:1]"])
    with pytest.raises(MolgenError, match="a pocket model generates in a pocket: give protein"):
        load_workflow(path, [f"steps.generate.checkpoint={pocket_model}"])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["pocket.yaml", "fragment.yaml"])
def test_shipped_conditioned_workflows_pass_every_check(name):
    wf = load_workflow(ROOT / "workflows" / name)  # with the file and model checks
    gen = wf.step("generate")
    assert gen.mode == name.split(".")[0] and gen.protein.is_file() and gen.ref_ligand.is_file()
    assert [s.type for s in wf.steps] == ["generate", "validate", "filter", "dock", "report"]


def test_shipped_druglike_workflow_passes_every_check():
    wf = load_workflow(ROOT / "workflows" / "druglike.yaml")  # with the file and model checks
    gen = wf.step("generate")
    assert gen.mode == "unconditional" and gen.checkpoint.name == "drug_heavy_flow.ckpt"
    assert [s.type for s in wf.steps] == ["generate", "validate", "filter", "report"]


def test_overrides_by_step_name_and_paths(tmp_path, ckpt, monkeypatch):
    monkeypatch.chdir(ROOT)  # the working directory must not matter
    (tmp_path / "sub").mkdir()
    path = write_workflow(tmp_path / "sub" / "wf.yaml", "../model.ckpt", "../runs/x")
    wf = load_workflow(path, ["steps.generate.num=5", "steps.keep.where=valid", "seed=11", "executor.name=dask"])
    gen = wf.step("generate")
    assert gen.num == 5 and wf.step("keep").where == "valid" and wf.seed == 11 and wf.executor.name == "dask"
    assert gen.checkpoint == ckpt.resolve() and wf.out_dir == (tmp_path / "runs" / "x").resolve()
    assert wf.num_chunks("keep") == 3  # 5 molecules in chunks of 2
    with pytest.raises(MolgenError, match="no step named 'generat' \\(did you mean 'generate'\\?\\)"):
        load_workflow(path, ["steps.generat.num=5"])
    wf = load_workflow(path, out_dir=tmp_path / "elsewhere")
    assert wf.out_dir == tmp_path / "elsewhere"


def test_quickstart_passes_the_schema(ckpt):
    wf = load_workflow(QUICKSTART, check_files=False)
    assert [s.type for s in wf.steps] == ["generate", "validate", "report"]
    gen = wf.step("generate")
    assert gen.checkpoint == (ROOT / "data" / "checkpoints" / "qm9_heavy_flow.ckpt").resolve()
    assert wf.out_dir == (ROOT / "runs" / "quickstart").resolve()
    # with the checkpoint present the file checks pass too
    wf = load_workflow(QUICKSTART, [f"steps.generate.checkpoint={ckpt}"])
    assert wf.step("generate").checkpoint == ckpt


def test_hpc_templates_name_shipped_commands():
    hpc = ROOT / "workflows" / "hpc"
    texts = {p.name: p.read_text() for p in hpc.glob("*.sbatch")}
    assert {"array_generate_validate.sbatch", "gpu_generate.sbatch", "train_multinode.sbatch"} <= set(texts)
    assert "--shard" in texts["array_generate_validate.sbatch"] and "molgen merge" in texts["merge.sbatch"]
    train = texts["train_multinode.sbatch"]
    assert "#SBATCH --signal=SIGUSR1@90" in train and "trainer.num_nodes=$SLURM_NNODES" in train
    for name, text in texts.items():
        assert text.startswith("#!/bin/bash"), name


@pytest.mark.parametrize("path", sorted((ROOT / "workflows").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_workflow_passes_the_schema(path):
    wf = load_workflow(path, check_files=False)
    assert wf.steps[0].type == "generate" and wf.out_dir.is_absolute()


def test_slurm_section_makes_a_job_script():
    pytest.importorskip("dask_jobqueue")
    from dask_jobqueue.slurm import SLURMJob

    wf = load_workflow(ROOT / "workflows" / "hpc" / "dask_slurm.yaml", check_files=False)
    kw = wf.executor.slurm.model_dump(exclude={"jobs"}, exclude_none=True)
    script = SLURMJob(scheduler="tcp://127.0.0.1:8786", name="w", **kw).job_script()  # starts nothing
    assert "#SBATCH --cpus-per-task=8" in script and "--nworkers 8" in script and "OMP_NUM_THREADS=1" in script


def test_parse_shard(monkeypatch):
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    monkeypatch.delenv("SLURM_ARRAY_TASK_COUNT", raising=False)
    assert parse_shard(None) is None
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "x", "1/0"):
        with pytest.raises(MolgenError):
            parse_shard(bad)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")  # --array=1-3
    assert parse_shard(None) == (2, 3)


def test_filter_condition():
    t = pd.DataFrame({"id": ["a", "b", "c"], "qed": [0.7, None, 0.2], "pb_valid": [True, True, False]})
    assert apply_condition(t, "qed > 0.5 and pb_valid").tolist() == [True, False, False]
    with pytest.raises(MolgenError, match="unknown column 'qde' \\(did you mean 'qed'\\?\\)"):
        apply_condition(t, "qde > 0.5")
    with pytest.raises(MolgenError, match="not a true/false condition"):
        apply_condition(t, "qed + 1")
