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
