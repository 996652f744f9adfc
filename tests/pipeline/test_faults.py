"""`molgen run` on bad input and faults: damaged chunks, SIGTERM, two runs at once, a filter that keeps
nothing or names an unknown column, a copied run directory, unreadable model and ligand files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from molgen.errors import MolgenError
from molgen.pipeline import load_workflow
from molgen.pipeline.engine import run_lock
from molgen.pipeline.schema import step_columns
from tests.conftest import ROOT, run_cli
from tests.pipeline.helpers import assert_same_final, write_workflow


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


@pytest.fixture(scope="module")
def small_run(tiny_checkpoint, tmp_path_factory) -> Path:
    """A complete run of 4 molecules in 2 chunks (generate -> validate -> filter -> report), not to be changed."""
    tmp = tmp_path_factory.mktemp("faults_reference")
    wf = write_workflow(tmp / "wf.yaml", tiny_checkpoint, tmp / "run", num=4)
    assert run_cli(["run", str(wf)]) == 0
    return tmp / "run"


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def test_done_json_records_each_file(small_run):
    meta = json.loads((small_run / "steps" / "validate" / "chunks" / "00000" / "done.json").read_text())
    assert set(meta["files"]) == {"molecules.sdf", "table.parquet", "features.json"}
    sdf = small_run / "steps" / "validate" / "chunks" / "00000" / "molecules.sdf"
    assert meta["files"]["molecules.sdf"]["size"] == sdf.stat().st_size
    assert len(meta["files"]["molecules.sdf"]["sha256"]) == 64 and meta["input_digest"]


def test_truncated_chunk_is_recomputed(small_run, tmp_path, capsys):
    """A finished chunk's molecules.sdf cut short (done.json intact) is recomputed, not trusted."""
    run = _copy(small_run, tmp_path / "run")
    chunk = run / "steps" / "validate" / "chunks" / "00000"
    sdf = chunk / "molecules.sdf"
    full = sdf.read_text()
    assert full.count("$$$$") >= 1
    sdf.write_text(full[: len(full) // 3])  # the merged outputs and final.sdf stay as they were
    other = _mtime(run / "steps" / "validate" / "chunks" / "00001" / "done.json")
    gen = _mtime(run / "steps" / "generate" / "chunks" / "00000" / "done.json")
    capsys.readouterr()

    assert run_cli(["run", str(run)]) == 0
    assert sdf.read_text() == full  # recomputed, the same molecules
    assert _mtime(run / "steps" / "validate" / "chunks" / "00001" / "done.json") == other  # the good chunk kept
    assert _mtime(run / "steps" / "generate" / "chunks" / "00000" / "done.json") == gen
    m = _manifest(run)
    assert m["status"] == "complete" and m["steps"]["validate"]["chunks"]["computed"] == 1
    assert "0" in m["steps"]["validate"]["chunks"]["damaged"]
    assert any("chunk 0" in w and "recomputed" in w for w in m["warnings"]), m["warnings"]
    assert "recomputed" in capsys.readouterr().out
    assert_same_final(small_run, run)


def test_changed_generate_chunk_recomputes_what_follows(small_run, tmp_path):
    """An input chunk whose files were replaced (other molecules) recomputes the chunks computed from it."""
    run = _copy(small_run, tmp_path / "run")
    gen = run / "steps" / "generate" / "chunks" / "00001"
    meta = json.loads((gen / "done.json").read_text())
    text = (gen / "molecules.sdf").read_text()
    (gen / "molecules.sdf").write_text(text.replace("\n", "\r\n", 1))  # one byte more: damaged
    val = _mtime(run / "steps" / "validate" / "chunks" / "00001" / "done.json")
    assert run_cli(["run", str(run)]) == 0
    assert json.loads((gen / "done.json").read_text())["files"] == meta["files"]  # recomputed identically
    # the validate chunk's input digest still matches the recomputed (identical) generate chunk: kept
    assert _mtime(run / "steps" / "validate" / "chunks" / "00001" / "done.json") == val
    # a done.json naming other input files than the input chunk now has: recomputed
    vmeta_path = run / "steps" / "validate" / "chunks" / "00001" / "done.json"
    vmeta = json.loads(vmeta_path.read_text())
    vmeta["input_digest"] = "0" * 16
    vmeta_path.write_text(json.dumps(vmeta))
    assert run_cli(["run", str(run)]) == 0
    assert json.loads(vmeta_path.read_text())["input_digest"] != "0" * 16
    assert_same_final(small_run, run)


def test_sigterm_marks_the_run_interrupted_then_resumes(tiny_checkpoint, small_run, tmp_path):
    """SIGTERM while writing chunk 1 of 2: one-line message, exit 143, manifest "interrupted"; a rerun
    finishes it and equals the uninterrupted run."""
    wf = write_workflow(tmp_path / "wf.yaml", tiny_checkpoint, tmp_path / "run", num=4)
    run = tmp_path / "run"
    env = {**os.environ, "MOLGEN_TEST_KILL_AFTER_CHUNKS": "1", "MOLGEN_TEST_KILL_SIGNAL": "TERM",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "molgen.cli", "run", str(wf)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path, check=False)
    assert proc.returncode == 143, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: interrupted by SIGTERM during step 'generate' (1 of 2 chunks complete)"), last
    assert f"molgen run {run}" in last and "Traceback" not in proc.stderr
    m = _manifest(run)
    assert m["status"] == "interrupted" and m["steps"]["generate"]["status"] == "interrupted"

    assert run_cli(["run", str(run)]) == 0
    assert _manifest(run)["status"] == "complete"
    assert _manifest(run)["steps"]["generate"]["chunks"]["computed"] == 1
    assert_same_final(small_run, run)


def test_second_run_into_the_same_directory_is_refused(small_run, tmp_path, capsys):
    run = _copy(small_run, tmp_path / "run")
    before = (run / "manifest.json").read_text()
    with run_lock(run):  # another run holds the directory
        assert run_cli(["run", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {run}: another molgen run is writing into this run directory (pid "), err
        assert "\n" not in err and "choose another --out" in err
        assert (run / "manifest.json").read_text() == before  # nothing touched
        with pytest.raises(MolgenError, match="another molgen run or merge"):
            from molgen.pipeline import merge_run

            merge_run(run)
    assert run_cli(["run", str(run)]) == 0  # released: the run goes on (all cached)


def test_filter_that_keeps_nothing_warns(tiny_checkpoint, tmp_path, capsys):
    wf = write_workflow(tmp_path / "wf.yaml", tiny_checkpoint, tmp_path / "run", num=2, steps=[
        {"name": "validate", "type": "validate", "input": "generate", "vocab": "qm9", "checks": ["no_radicals"]},
        {"name": "keep", "type": "filter", "input": "validate", "where": "n_atoms > 1000"},
        {"name": "report", "type": "report"},
    ])
    assert run_cli(["run", str(wf)]) == 0
    out = capsys.readouterr().out
    assert "warning: step 'keep' kept none of its 2 molecules (where: n_atoms > 1000)" in out
    assert "warning: final.sdf is empty: no molecule came through step 'keep'" in out
    m = _manifest(tmp_path / "run")
    assert m["status"] == "complete" and m["final"]["num_molecules"] == 0
    assert m["warnings"] == ["step 'keep' kept none of its 2 molecules (where: n_atoms > 1000)",
                             "final.sdf is empty: no molecule came through step 'keep'"]
    assert (tmp_path / "run" / "final.sdf").read_text() == ""
    report = (tmp_path / "run" / "report.html").read_text()  # and the report says so
    assert "warning: final.sdf is empty: no molecule came through step &#x27;keep&#x27;" in report


def test_filter_on_an_unknown_column_is_refused_before_running(tiny_checkpoint, tmp_path, capsys):
    wf = write_workflow(tmp_path / "wf.yaml", tiny_checkpoint, tmp_path / "run", num=2)
    assert run_cli(["run", str(wf), "steps.keep.where=qeed > 0.5 and pb_valid"]) == 2
    err = capsys.readouterr().err.strip()
    assert "steps.keep.where: unknown column 'qeed' (did you mean 'qed'?) in the table of step 'validate'" in err
    assert not (tmp_path / "run").exists()  # nothing ran
    # a column of a check the step does not run is unknown too; a function call is not a column
    with pytest.raises(MolgenError, match="unknown column 'energy_ratio'"):
        load_workflow(wf, ["steps.keep.where=energy_ratio < 7"])
    load_workflow(wf, ["steps.keep.where=abs(n_atoms) > 3 and bond_lengths_n_bad == 0 and sanitized"])


def test_known_columns_cover_the_tables_a_run_writes(small_run):
    wf = load_workflow(small_run / "workflow.yaml", check_files=False)
    known = step_columns([s.model_dump(mode="json") for s in wf.steps])
    for name in ("generate", "validate", "keep"):
        cols = set(pd.read_parquet(small_run / "steps" / name / "table.parquet").columns)
        assert cols <= known[name], (name, cols - known[name])
    assert set(pd.read_parquet(small_run / "steps" / "generate" / "table.parquet").columns) == known["generate"]


def test_copied_run_reports_its_own_paths(small_run, tmp_path, capsys):
    run = _copy(small_run, tmp_path / "copy" / "elsewhere")
    capsys.readouterr()
    assert run_cli(["run", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"final molecules: {run / 'final.sdf'}" in out
    for name in ("manifest.json", "report.json"):
        text = (run / name).read_text()
        assert str(small_run) not in text, name
    assert _manifest(run)["final"]["sdf"] == str(run / "final.sdf")


def test_unreadable_checkpoint_fails_the_run_naming_the_file(tiny_checkpoint, tmp_path, capsys):
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    wf = write_workflow(tmp_path / "wf.yaml", empty, tmp_path / "run", num=2)
    assert run_cli(["run", str(wf)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: step 'generate' failed: {empty}: not a molgen model file"), err
    assert "Traceback" not in err


def test_binary_reference_ligand_in_a_workflow_names_the_file(tmp_path, capsys):
    from tests.pipeline.test_conditioned import _workflow

    binary = tmp_path / "ligand.sdf"
    binary.write_bytes(bytes(range(256)) * 40)
    wf = _workflow(tmp_path / "wf.yaml", tmp_path / "run", "pocket", ref_ligand=str(binary), num=1)
    assert run_cli(["run", str(wf)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: step 'generate' failed: {binary}: the reference ligand file is binary"), err


def test_dock_columns_are_those_the_dock_step_adds():
    from molgen.docking.scorer import empty_row
    from molgen.pipeline.schema import DOCK_COLUMNS
    from molgen.pipeline.steps import _DOCK_RENAME

    added = {_DOCK_RENAME.get(k, k) for k in empty_row(0, "x", "score")} - {"index", "name"}
    assert added == set(DOCK_COLUMNS)
