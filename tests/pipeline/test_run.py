"""`molgen run` / `molgen merge` end to end on a tiny model: outputs, resume, SIGKILL, shards, Dask, failures."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli
from tests.pipeline.helpers import assert_same_final, final_molecules, read_sdf, write_workflow


def _mtimes(run: Path, step: str) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (run / "steps" / step / "chunks").glob("[0-9]*/done.json")}


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


@pytest.fixture(scope="module")
def reference_run(tiny_checkpoint, tmp_path_factory) -> Path:
    """The uninterrupted, unsharded, local run that the other runs must reproduce (8 molecules, 4 chunks)."""
    tmp = tmp_path_factory.mktemp("reference")
    wf = write_workflow(tmp / "wf.yaml", tiny_checkpoint, tmp / "run")
    assert run_cli(["run", str(wf)]) == 0
    return tmp / "run"


def test_full_local_run(reference_run):
    run = reference_run
    m = _manifest(run)
    assert m["status"] == "complete" and m["tool_versions"]["torch"] and m["seed"] == 3
    assert [(n, s["status"]) for n, s in m["steps"].items()] == [
        ("generate", "complete"), ("validate", "complete"), ("keep", "complete"), ("report", "complete")]
    gen = m["steps"]["generate"]
    assert gen["chunks"]["total"] == 4 and gen["counts"]["output"] == 8 and len(gen["seeds"]["chunks"]) == 4
    assert m["steps"]["validate"]["metrics"]["n_input"] == 8 and m["steps"]["validate"]["seconds"] >= 0

    val = pd.read_parquet(run / "steps" / "validate" / "table.parquet")
    assert val["id"].tolist() == [f"gen_{i:06d}" for i in range(8)]
    assert {"valid", "smiles", "qed", "bond_lengths", "no_radicals", "pb_valid", "n_atoms", "sanitized"} <= set(val)
    assert len(read_sdf(run / "steps" / "generate" / "molecules.sdf")) == 8

    # the final outputs are the filter's: the rows of the validation table that satisfy the condition
    final = pd.read_csv(run / "final.csv")
    expected = val[(val["n_atoms"] >= 12) | val["valid"]]["id"].tolist()
    assert final["id"].tolist() == expected and (run / "final.parquet").is_file()
    assert [i for i, _ in final_molecules(run)] == [i for i in expected if val.set_index("id").at[i, "read_ok"]]
    assert m["final"]["step"] == "keep"

    report = json.loads((run / "report.json").read_text())
    assert [s["name"] for s in report["steps"]] == ["generate", "validate", "keep", "report"]
    assert report["validation"]["validate"]["summary"]["n_input"] == 8
    assert report["seed"] == 3  # the workflow's, not shadowed by a step's metrics
    assert "<table>" in (run / "report.html").read_text()
    resolved = (run / "workflow.yaml").read_text()
    assert str(Path(m["final"]["sdf"]).parent) == str(run) and "checkpoint: /" in resolved


def test_rerun_skips_and_changed_settings(tiny_checkpoint, tmp_path, capsys):
    wf = write_workflow(tmp_path / "wf.yaml", tiny_checkpoint, tmp_path / "run", num=4)
    run = tmp_path / "run"
    assert run_cli(["run", str(wf)]) == 0
    before = {s: _mtimes(run, s) for s in ("generate", "validate", "keep")}
    final_before = (run / "final.sdf").stat().st_mtime_ns
    capsys.readouterr()

    assert run_cli(["run", str(wf)]) == 0  # everything complete: nothing recomputed
    assert {s: _mtimes(run, s) for s in before} == before
    assert (run / "final.sdf").stat().st_mtime_ns == final_before
    assert capsys.readouterr().out.count("cached") == 4

    # other settings into the same run directory: refused without --resume, nothing touched
    assert run_cli(["run", str(wf), "steps.keep.where=valid"]) == 2
    assert "steps.keep.where: 'n_atoms >= 12 or valid' -> 'valid'" in capsys.readouterr().err
    # with --resume only the changed step (and what follows it) is recomputed
    assert run_cli(["run", str(wf), "steps.keep.where=not valid", "--resume"]) == 0
    after = {s: _mtimes(run, s) for s in before}
    assert after["generate"] == before["generate"] and after["validate"] == before["validate"]
    assert all(after["keep"][k] != before["keep"][k] for k in before["keep"])
    val = pd.read_parquet(run / "steps" / "validate" / "table.parquet")
    assert pd.read_csv(run / "final.csv")["id"].tolist() == val[~val["valid"]]["id"].tolist()
    assert _manifest(run)["steps"]["generate"]["chunks"]["computed"] == 2  # from the first run


def test_sigkill_mid_generate_then_resume(tiny_checkpoint, reference_run, tmp_path):
    """Killed (SIGKILL) while writing chunk 2 of 4 of generate; --resume gives the uninterrupted run."""
    wf = write_workflow(tmp_path / "wf.yaml", tiny_checkpoint, tmp_path / "run")
    run = tmp_path / "run"
    env = {**os.environ, "MOLGEN_TEST_KILL_AFTER_CHUNKS": "2", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "molgen.cli", "run", str(wf)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path, check=False)
    assert proc.returncode == -9, proc.stderr[-3000:]
    names = sorted(p.name for p in (run / "steps" / "generate" / "chunks").iterdir())
    assert [n for n in names if not n.startswith(".")] == ["00000", "00001"]
    assert any(n.startswith(".tmp-00002") for n in names)  # the half-written chunk, never renamed into place
    assert not (run / "final.sdf").exists() and not (run / "steps" / "validate").exists()
    assert _manifest(run)["steps"]["generate"]["status"] == "running"
    kept = _mtimes(run, "generate")

    assert run_cli(["run", str(wf), "--resume"]) == 0
    assert {k: v for k, v in _mtimes(run, "generate").items() if k in kept} == kept  # not recomputed
    assert not [p for p in (run / "steps" / "generate" / "chunks").iterdir() if p.name.startswith(".")]
    assert _manifest(run)["steps"]["generate"]["chunks"]["computed"] == 2
    assert_same_final(reference_run, run)


def test_two_shards_then_merge(tiny_checkpoint, reference_run, tmp_path, capsys, monkeypatch):
    wf = write_workflow(tmp_path / "wf.yaml", tiny_checkpoint, tmp_path / "run")
    run = tmp_path / "run"
    assert run_cli(["run", str(wf), "--shard", "1/2"]) == 0
    shard = json.loads((run / "shards" / "1" / "manifest.json").read_text())
    assert shard["status"] == "shard complete" and shard["steps"]["report"]["status"] == "after merge"
    assert sorted(_mtimes(run, "generate")) == ["00001", "00003"] and not (run / "final.sdf").exists()
    capsys.readouterr()
    assert run_cli(["merge", str(run)]) == 1  # shard 0 has not run
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot merge") and "missing generate: chunks 0, 2 of 4" in err
    assert err.count("\n") == 0

    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")  # the shard comes from SLURM's array variables
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    assert run_cli(["run", str(wf)]) == 0
    assert sorted(_mtimes(run, "generate")) == ["00000", "00001", "00002", "00003"]
    assert run_cli(["merge", str(run)]) == 0
    m = _manifest(run)
    assert m["status"] == "complete" and m["shards"] == {"0": "shard complete", "1": "shard complete"}
    assert (run / "report.html").is_file()
    assert_same_final(reference_run, run)


@pytest.mark.parametrize("start", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_dask_local_cluster_equals_local(tiny_checkpoint, reference_run, tmp_path, start):
    """Chunks as tasks on a LocalCluster of 2 worker processes (1 thread each) on 127.0.0.1.

    ``fork`` workers inherit this process's imports (seconds); ``spawn`` (Dask's default) starts
    fresh interpreters that import torch themselves (a minute on 2 busy cores: slow)."""
    pytest.importorskip("distributed")
    import dask

    if start not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {start} start method here")
    with dask.config.set({"distributed.worker.multiprocessing-method": start}):
        _dask_run(tiny_checkpoint, reference_run, tmp_path)


def _dask_run(tiny_checkpoint, reference_run, tmp_path):
    wf = write_workflow(tmp_path / "wf.yaml", tiny_checkpoint, tmp_path / "run",
                        executor={"name": "local", "n_workers": 2, "threads_per_worker": 1, "host": "127.0.0.1"})
    run = tmp_path / "run"
    assert run_cli(["run", str(wf), "--executor", "dask"]) == 0
    m = _manifest(run)
    assert m["executor"]["name"] == "dask" and m["executor"]["scheduler"].startswith("tcp://127.0.0.1:")
    pids = {json.loads(p.read_text())["pid"] for p in run.glob("steps/*/chunks/*/done.json")}
    assert os.getpid() not in pids  # the chunks ran in the worker processes
    assert_same_final(reference_run, run)


def test_failed_step_exits_nonzero(tiny_checkpoint, tmp_path, capsys):
    broken = tmp_path / "broken.pdb"
    broken.write_text("this is not a PDB file\n")
    wf = write_workflow(tmp_path / "wf.yaml", tiny_checkpoint, tmp_path / "run", num=2, steps=[
        {"name": "dock", "type": "dock", "input": "generate", "receptor": str(broken),
         "box": {"center": [0, 0, 0], "size": [20, 20, 20]}},
        {"name": "report", "type": "report"},
    ])
    assert run_cli(["run", str(wf)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bars: one line
    assert err.startswith("error: step 'dock' failed: ") and "no ATOM/HETATM records" in err, err
    m = _manifest(tmp_path / "run")
    assert m["status"] == "failed"
    assert [s["status"] for s in m["steps"].values()] == ["complete", "failed", "not run"]
    assert m["steps"]["dock"]["error"] and not (tmp_path / "run" / "final.sdf").exists()
