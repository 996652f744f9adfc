"""The benchmark entry runs its suites and gathers their JSON (smoke sizes: the machinery, not the figures)."""

from __future__ import annotations

import json
import subprocess
import sys

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
