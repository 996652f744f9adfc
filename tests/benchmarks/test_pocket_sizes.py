"""benchmarks.pocket_sizes: the two lookups by hand, leave-one-site-out figures by hand, the held-out part on a
two-site split with the shipped pocket model's table, and one-line errors."""

from __future__ import annotations

import json

import pytest

from benchmarks import pocket_sizes
from molgen.sampling import conditioning
from tests.benchmarks.test_pocket import two_site_split
from tests.conftest import ROOT

SITES = [{"name": "a", "pocket_heavy_median": 100.0, "ligand_hist": {"10": 1}},
         {"name": "b", "pocket_heavy_median": 104.0, "ligand_hist": {"30": 3}},
         {"name": "c", "pocket_heavy_median": 131.0, "ligand_hist": {"20": 1}}]


def test_binned_weights_pool_per_complex(monkeypatch):
    monkeypatch.setattr(conditioning, "MIN_SIZE_SAMPLES", 2)
    # a and b share bin 100: per complex, b's three ligands outweigh a's one; 4 >= 2 ligands, stop
    assert pocket_sizes.binned_weights(SITES, 101) == {10: 1, 30: 3}
    # bin 130 holds one ligand: pool the next bin too
    assert pocket_sizes.binned_weights(SITES, 139) == {20: 1, 10: 1, 30: 3}


def test_leave_one_site_out_by_hand():
    res = pocket_sizes.leave_one_site_out(SITES, [1])
    assert res["sites"] == 3
    one = res["lookups"]["nearest_1_sites"]
    # a <- b (30): |30 - 10| = 20; b <- a (10): 20 per ligand; c <- b (27 away, a 31): |30 - 20| = 10
    assert one["mae"] == pytest.approx(50 / 3, abs=1e-3) and one["bias"] == pytest.approx(10 / 3, abs=1e-3)
    binned = res["lookups"]["binned_per_complex"]
    # every lookup pools everything (3 sites hold < 50 ligands): a <- {30 x3, 20} mean 27.5; b <- {10, 20} 15;
    # c <- {10, 30 x3} 25
    assert binned["mae"] == pytest.approx((17.5 + 15 + 5) / 3, abs=1e-3)


def test_held_out_part_and_errors(tmp_path, capsys):
    two_site_split(tmp_path)
    ckpt = ROOT / "data" / "checkpoints" / "pocket_flow.ckpt"
    out = tmp_path / "sizes.json"
    res = pocket_sizes.main(["--stats", str(ckpt), "--split-dir", str(tmp_path), "--nearest", "20", "--out", str(out)])
    assert json.loads(out.read_text()) == res
    rows = res["held_out"]["per_site"]
    assert [(r["site"], r["part"]) for r in rows] == [("thrombin", "fep"), ("1S3V", "crystal")]
    assert rows[1]["reference_heavy_atoms"] == 27  # 1S3V's ligand
    # the shipped table: sizes in the range of its training ligands, the mean over one site is that site
    assert 5 < rows[1]["nearest_20_sites"] < 65 and 5 < rows[1]["binned_per_complex"] < 65
    crystal = res["held_out"]["means"]["crystal"]
    assert crystal["sites"] == 1 and crystal["nearest_20_sites"]["mean"] == rows[1]["nearest_20_sites"]
    assert crystal["nearest_20_sites"]["mae"] == pytest.approx(abs(rows[1]["nearest_20_sites"] - 27), abs=0.01)
    assert res["leave_one_site_out"]["sites"] > 300
    capsys.readouterr()
    for argv, words in ((["--stats", str(tmp_path / "nope.ckpt")], "no such file"),
                        (["--stats", str(ROOT / "data" / "checkpoints" / "qm9_flow.ckpt")], "no pocket_sites")):
        with pytest.raises(SystemExit) as exc:
            pocket_sizes.main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err
