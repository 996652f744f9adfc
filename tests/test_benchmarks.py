"""The benchmark entry runs its suites and gathers their JSON (smoke sizes: the machinery, not the figures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_benchmark_entry_gathers_suites(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "sampling", "--quick", "--threads", "1",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["suites"]["sampling"]["exit_code"] == 0 and res["machine"]["cpu_count"] >= 1
    rows = res["sampling"]["throughput"]
    # every (process, denoiser) pair at every step count, with positive throughput
    assert {(r["process"], r["denoiser"], r["steps"]) for r in rows} == {
        (p, d, s) for p in ("flow", "diffusion") for d in ("egnn", "e3nn") for s in (2, 5)}
    assert all(r["molecules_per_s"] > 0 and r["num"] == 20 for r in rows)
    atoms = res["sampling"]["scaling"]["atoms"]
    assert [r["n_atoms"] for r in atoms] == [10, 50] and [r["directed_edges"] for r in atoms] == [90, 2450]
    assert [r["batch"] for r in res["sampling"]["scaling"]["batch"]] == [1, 10]
    assert (tmp_path / "results.sampling.png").stat().st_size > 10_000
    table = (tmp_path / "results.md").read_text()
    assert "| sampling flow+egnn, 5 steps, batch 20 |" in table and "python -m benchmarks.sampling" in table
    # an unknown suite is refused
    bad = subprocess.run([sys.executable, "-m", "benchmarks", "sampler", "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "unknown suite(s) sampler" in bad.stderr


def test_pocket_vina_distribution_quartiles():
    """The pocket benchmark's Vina summaries: numpy's (linear) percentiles, failures counted apart."""
    import math

    import numpy as np

    from benchmarks.pocket import _dist, _median_size

    xs = [-7.1, -5.0, math.nan, -9.3, -6.2, -8.8, -4.4]
    d = _dist(xs)
    ok = np.array([x for x in xs if math.isfinite(x)])
    assert d["n"] == 6 and d["failed"] == 1 and d["best"] == -9.3
    for key, q in (("p25", 25), ("median", 50), ("p75", 75)):
        assert d[key] == round(float(np.percentile(ok, q)), 3)
    assert len(d["values"]) == 7 and _dist([math.nan]) == {"n": 0, "failed": 1}

    class Model:
        stats = {"num_atoms": {"hist": {"10": 3, "20": 1, "30": 3}}}

    assert _median_size(Model()) == 20


def test_pocket_site_means_skip_missing_figures():
    """A site whose ligands are all invalid has no QED: the mean is over the sites that have one."""
    from benchmarks.pocket import site_means

    rows = [{"protein": "a", "valid": 0.0, "qed": None, "generated": 20, "vina": {}},
            {"protein": "b", "valid": 0.5, "qed": 0.4, "generated": 20, "vina": {}},
            {"protein": "c", "valid": 0.25, "qed": 0.6, "generated": 20, "vina": {}}]
    assert site_means(rows) == {"valid": 0.25, "qed": 0.5}


def test_pocket_options_reach_the_model(tmp_path, monkeypatch):
    """``--option`` (repeatable) is parsed as YAML scalars and handed to the benchmark as process options."""
    import benchmarks.pocket as pocket

    seen = {}
    monkeypatch.setattr(pocket, "run_benchmark", lambda *a, **kw: seen.update(opts=a[-1]) or {})
    pocket.main(["--split-dir", str(tmp_path), "--out", str(tmp_path / "r.json"),
                 "--option", "discrete_stochasticity=1.5", "--option", "sampler=euler"])
    assert seen["opts"] == {"discrete_stochasticity": 1.5, "sampler": "euler"}
    pocket.main(["--split-dir", str(tmp_path), "--out", str(tmp_path / "r.json")])
    assert seen["opts"] == {}


def _heavy_sample(tmp_path):
    from molgen.data.qm9 import prepare_qm9

    out = tmp_path / "qm9_heavy"
    prepare_qm9(out, source=ROOT / "data" / "qm9" / "qm9_sample.csv", workers=0, vocab="qm9_heavy")
    return out


def test_learning_benchmark_trains_to_a_cpu_budget_and_evaluates_the_file(tmp_path):
    """Two configs, 0.06 CPU-minutes each, two evaluation points: every row is sampled, written and
    validated from the file (all asked molecules written), at a CPU time past its mark."""
    data = _heavy_sample(tmp_path)
    out = tmp_path / "learning.json"
    sets = [f"data.train={data / 'train'}", "model.hidden=16", "model.num_layers=2", "data.batch_size=16"]
    cmd = [sys.executable, "-m", "benchmarks.learning", "--configs", str(ROOT / "configs" / "qm9_heavy_flow.yaml"),
           str(ROOT / "configs" / "learning" / "heavy_shipped.yaml"), "--budget-cpu-min", "0.06", "--evals", "2",
           "--num", "12", "--batch-size", "12", "--jobs", "2", "--work", str(tmp_path / "work"),
           "--reference", str(data / "train_smiles.txt"), "--out", str(out), *(f"--set={s}" for s in sets)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert [c["name"] for c in res["configs"]] == ["qm9_heavy_flow", "heavy_shipped"]
    for c in res["configs"]:
        assert abs(c["budget_cpu_s"] - 3.6) < 1e-9 and len(c["rows"]) == 2
        marks = [1.8 - 1e-9, 3.6 - 1e-9]
        for row, mark in zip(c["rows"], marks):
            assert row["cpu_s"] >= mark and row["step"] > 0 and row["written"] == 12 == row["num"]
            assert row["vocab"] == "qm9_heavy" and row["mol_stable_edm"] is None
            assert 0 <= row["valid_connected"] <= row["valid"] <= 1
        assert c["rows"][1]["step"] > c["rows"][0]["step"]
        prof = c["profile"]
        assert set(prof["seconds"]) == {"collate", "noise", "self_cond", "forward", "loss", "backward", "optimizer_ema"}
        assert abs(sum(prof["share"].values()) - 1) < 0.01
        run = Path(c["run_dir"])  # a normal, resumable run
        assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "config.yaml").is_file()
    assert "| qm9_heavy_flow |" in out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_gpu_script_cpu_dry_run(tmp_path):
    """``benchmarks/gpu/train_and_export.sh --budget-s 60`` on CPU: the shipped config trains on the committed
    sample for what the budget leaves, and the exported model and its JSON come back under $OUT."""
    import os

    from molgen.training import load_model

    out = tmp_path / "out"
    proc = subprocess.run(["bash", "benchmarks/gpu/train_and_export.sh", "--budget-s", "60"], cwd=ROOT,
                          env={**os.environ, "OUT": str(out)}, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "gpu_train.json").read_text())
    assert res["cuda"] is False and res["steps"] > 0 and res["budget_s"] == 60
    assert res["config"].endswith("configs/qm9_heavy_flow.yaml")
    assert res["quality"]["written"] == res["quality"]["num"] == 50
    gm = load_model(out / "model.ckpt")  # weights_only=True
    assert gm.vocab.name == "qm9_heavy"
    assert (out / "metrics.csv").is_file()


def test_sampler_settings_compares_settings_on_written_files(tmp_path):
    from benchmarks.sampler_settings import main, parse_setting

    assert parse_setting("as_trained") == {}
    assert parse_setting("discrete_temperature=0.5,discrete_stochasticity=1") == {
        "discrete_temperature": 0.5, "discrete_stochasticity": 1}
    out = tmp_path / "s.json"
    res = main(["--checkpoint", "data/checkpoints/qm9_heavy_flow.ckpt", "--settings", "as_trained",
                "discrete_temperature=0.5,discrete_stochasticity=1", "--steps", "3", "--num", "6", "--batch-size", "6",
                "--threads", "1", "--out", str(out)])
    assert [r["setting"] for r in res["rows"]] == ["as_trained", "discrete_temperature=0.5,discrete_stochasticity=1"]
    assert all(r["written"] == 6 and r["steps"] == 3 and 0 <= r["valid"] <= 1 for r in res["rows"])
    assert res["rows"][1]["options"] == {"discrete_temperature": 0.5, "discrete_stochasticity": 1}
    assert json.loads(out.read_text())["trained"]["global_step"] > 0
    assert "| discrete_temperature=0.5,discrete_stochasticity=1 | 3 |" in out.with_suffix(".md").read_text()
    from molgen.training.checkpoint import load_model

    gm = load_model("data/checkpoints/qm9_heavy_flow.ckpt", process_options=res["rows"][1]["options"])
    assert all(c.temperature == 0.5 and c.stochasticity == 1 for c in gm.process.cat.values())
